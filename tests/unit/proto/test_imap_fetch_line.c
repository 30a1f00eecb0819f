/* SPDX-License-Identifier: MIT */
/*
 * test_imap_fetch_line.c - unit tests for proto/imap_fetch_line.c: the
 * strict form that lets a body literal pass as it is parsed, and the
 * spellings that must take the slow path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "imap_fetch_line.h"

static bool
line_uid(const char *text, uint32_t *uid, uint32_t *origin)
{
	return imap_fetch_line_uid(text, strlen(text), uid, origin);
}

static void
test_accepted(void **state)
{
	uint32_t	uid = 0, origin = 7;

	(void)state;
	/* What Dovecot sends for a whole and a partial fetch. */
	assert_true(line_uid("* 1 FETCH (UID 1 BODY[] {299923}\r\n", &uid,
	    &origin));
	assert_int_equal(uid, 1);
	assert_int_equal(origin, 0);
	assert_true(line_uid("* 17 FETCH (UID 4294967295 BODY[]<262144> "
	    "{262144}\r\n", &uid, &origin));
	assert_int_equal(uid, 4294967295u);
	assert_int_equal(origin, 262144);
	/* Only the last line counts: earlier responses of the group. */
	assert_true(line_uid("* 3 EXISTS\r\n* 2 FETCH (UID 9 FLAGS (\\Seen))\r\n"
	    "* 1 FETCH (UID 8 BODY[]<0> {5}\r\n", &uid, &origin));
	assert_int_equal(uid, 8);
}

static void
test_refused(void **state)
{
	static const char *const lines[] = {
		"* 1 FETCH (BODY[] {5}\r\n",			/* no UID yet */
		"* 1 FETCH (FLAGS () UID 1 BODY[] {5}\r\n",	/* not first */
		"* 1 FETCH (UID 1 BODY[TEXT] {5}\r\n",		/* a section */
		"* 1 FETCH (UID 1 BODY[]<0 {5}\r\n",
		"* 1 FETCH (UID 1 RFC822 {5}\r\n",
		"* 1 FETCH (UID 0 BODY[] {5}\r\n",
		"* 0 FETCH (UID 1 BODY[] {5}\r\n",
		"* 1 FETCH (UID 4294967296 BODY[] {5}\r\n",	/* > 2^32-1 */
		"* 1 FETCH (UID 00000000001 BODY[] {5}\r\n",	/* 11 digits */
		"* 1 FETCH (UID  1 BODY[] {5}\r\n",
		"* 1 FETCH (UID 1 BODY[] {5}\n",
		"* 1 FETCH (UID 1 BODY[] {5+}\r\n",
		"* 1 FETCH (UID 1 BODY[] {}\r\n",
		"x* 1 FETCH (UID 1 BODY[] {5}\r\n",
		"{0}\r\n UID 1 BODY[] {5}\r\n",		/* a continuation */
		"* 1 FETCH (UID 1 BODY[] {5}\r\nX",
		"\r\n",
		"",
	};
	uint32_t	uid, origin;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (line_uid(lines[i], &uid, &origin))
			fail_msg("accepted: %s", lines[i]);
}

static void
test_end_inside_text(void **state)
{
	const char	*t = "* 1 FETCH (UID 5 BODY[] {3}\r\nabc)\r\n";
	uint32_t	 uid, origin;

	(void)state;
	/* end points just past the opening line: the literal follows. */
	assert_true(imap_fetch_line_uid(t, strlen("* 1 FETCH (UID 5 BODY[] "
	    "{3}\r\n"), &uid, &origin));
	assert_int_equal(uid, 5);
	assert_false(imap_fetch_line_uid(t, strlen(t), &uid, &origin));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_end_inside_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
