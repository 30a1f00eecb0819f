/* SPDX-License-Identifier: MIT */
/*
 * test_pop3_uidl.c - unit tests for proto/pop3_uidl.c: the server presets of
 * doc/imap-mapping.md sec. 7.1, worst-case lengths, and rejected templates.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pop3_uidl.h"

/* doc/imap-mapping.md sec. 7.1 worked example. */
#define TEST_UID		5
#define TEST_UIDVALIDITY	1234567890u

static void
test_format(const char *text, uint32_t uid, uint32_t uidvalidity,
    const char *expected)
{
	struct pop3_uidl_template	 t;
	const char			*error = NULL;
	char				 out[POP3_UIDL_MAX_OCTETS + 1];
	size_t				 len, i;

	if (pop3_uidl_compile(&t, text, &error) != 0)
		fail_msg("\"%s\" rejected: %s", text, error);
	memset(out, 'Z', sizeof(out));
	len = pop3_uidl_format(&t, uid, uidvalidity, out);
	assert_string_equal(out, expected);
	assert_int_equal(len, strlen(expected));
	/* RFC 1939 sec. 7: 1..70 octets of 0x21..0x7E. */
	assert_true(len >= 1 && len <= POP3_UIDL_MAX_OCTETS);
	for (i = 0; i < len; i++)
		assert_true(out[i] >= 0x21 && out[i] <= 0x7e);
}

static void
test_reject(const char *text)
{
	struct pop3_uidl_template	 t;
	const char			*error = NULL;

	if (pop3_uidl_compile(&t, text, &error) != -EINVAL)
		fail_msg("\"%s\" accepted", text != NULL ? text : "(null)");
	assert_non_null(error);
	assert_int_equal(t.nparts, 0);
}

static void
test_uidl_presets(void **state)
{
	(void)state;
	/* Dovecot default: lowercase hex, uid first. */
	test_format(POP3_UIDL_DEFAULT_TEMPLATE, TEST_UID, TEST_UIDVALIDITY,
	    "00000005499602d2");
	/* Cyrus. */
	test_format("{uidvalidity}.{uid}", TEST_UID, TEST_UIDVALIDITY,
	    "1234567890.5");
	/* Courier. */
	test_format("{uidvalidity}-{uid}", TEST_UID, TEST_UIDVALIDITY,
	    "1234567890-5");
	/* UW ipop3d. */
	test_format("{uidvalidity:08x}{uid:08x}", TEST_UID, TEST_UIDVALIDITY,
	    "499602d200000005");
	/* Cyrus uidonly. */
	test_format("{uid}", TEST_UID, TEST_UIDVALIDITY, "5");
}

static void
test_uidl_formats(void **state)
{
	(void)state;
	test_format("{uid:x}", 0xabcdef, 1, "abcdef");
	test_format("{uid:d}", 42, 1, "42");
	test_format("{uid:010d}", 42, 1, "0000000042");
	test_format("{uid:01x}", 0, 1, "0");
	test_format("{uid:010x}", UINT32_MAX, 1, "00ffffffff");
	test_format("{uid}", UINT32_MAX, 1, "4294967295");
	test_format("{uid:08x}", UINT32_MAX, 1, "ffffffff");
	/* Hex is always lowercase (doc/imap-mapping.md sec. 7.1). */
	test_format("{uidvalidity:x}{uid}", 1, 0xDEADBEEF, "deadbeef1");
}

static void
test_uidl_literals(void **state)
{
	(void)state;
	test_format("GmailId{uid:x}", 255, 1, "GmailIdff");
	test_format("a{{b}}c{uid}", 1, 1, "a{b}c1");
	test_format("{{{uid}}}", 7, 1, "{7}");
	test_format("pre-{uid}-{uidvalidity}-post", 3, 4, "pre-3-4-post");
}

static void
test_uidl_worst_case_length(void **state)
{
	char	text[128];

	(void)state;
	/* 50 literal + 10 + 10 = 70: accepted and formatted at 70. */
	memset(text, 'L', 50);
	strcpy(text + 50, "{uid}{uidvalidity}");
	test_format(text, UINT32_MAX, UINT32_MAX,
	    "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL"
	    "42949672954294967295");
	/* One more literal octet: 71 in the worst case, rejected even
	 * though small uids would fit. */
	memset(text, 'L', 51);
	strcpy(text + 51, "{uid}{uidvalidity}");
	test_reject(text);
	/* Hex fields count 8, padded fields their width. */
	memset(text, 'L', 62);
	strcpy(text + 62, "{uid:x}");
	test_format(text, UINT32_MAX, 1,
	    "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL"
	    "ffffffff");
	memset(text, 'L', 61);
	strcpy(text + 61, "{uid:010x}");
	test_reject(text);
	/* A 70-octet literal alone would be fine but lacks {uid}; 71 is
	 * too long in any case. */
	memset(text, 'L', 71);
	strcpy(text + 71, "{uid}");
	test_reject(text);
}

static void
test_uidl_rejects(void **state)
{
	(void)state;
	test_reject(NULL);
	test_reject("");
	test_reject("{uidvalidity}");		/* no {uid}: not unique */
	test_reject("abc");
	test_reject("{uid");			/* unclosed */
	test_reject("{uid}}");			/* lone '}' */
	test_reject("}{uid}");
	test_reject("{UID}");			/* names are exact */
	test_reject("{msgid}");
	test_reject("{uid:}");
	test_reject("{uid:X}");			/* uppercase hex */
	test_reject("{uid:8x}");		/* space padding */
	test_reject("{uid:0x}");		/* no width */
	test_reject("{uid:00x}");
	test_reject("{uid:011d}");		/* width past 10 */
	test_reject("{uid:08}");
	test_reject("{uid:08s}");
	test_reject("{uid:+d}");
	test_reject("{uid} x");			/* not 0x21..0x7E */
	test_reject("{uid}\t");
	test_reject("{uid}\xc3\xa9");		/* 8-bit */
	test_reject("{uid:0:8x}");
	test_reject("{}");
}

static void
test_uidl_many_parts(void **state)
{
	struct pop3_uidl_template	 t;
	const char			*error = NULL;
	char				 text[256];
	char				 out[POP3_UIDL_MAX_OCTETS + 1];
	size_t				 i;

	(void)state;
	/* 15 parts (7 fields of at most 8 octets, 8 literals): 64 octets. */
	text[0] = '\0';
	for (i = 0; i < 7; i++)
		strcat(text, "a{uid:01x}");
	strcat(text, "a");
	assert_int_equal(pop3_uidl_compile(&t, text, &error), 0);
	assert_int_equal(t.nparts, 15);
	assert_int_equal(pop3_uidl_format(&t, 1, 1, out), 15);
	assert_string_equal(out, "a1a1a1a1a1a1a1a");
	/* 18 parts: more than POP3_UIDL_MAX_PARTS. */
	text[0] = '\0';
	for (i = 0; i < 9; i++)
		strcat(text, "a{uid:01x}");
	test_reject(text);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_uidl_presets),
		cmocka_unit_test(test_uidl_formats),
		cmocka_unit_test(test_uidl_literals),
		cmocka_unit_test(test_uidl_worst_case_length),
		cmocka_unit_test(test_uidl_rejects),
		cmocka_unit_test(test_uidl_many_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
