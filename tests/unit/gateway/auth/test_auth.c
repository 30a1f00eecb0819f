/* SPDX-License-Identifier: MIT */
/*
 * test_auth.c - gateway/auth/: new hashes, crypt(3) checks with their
 * dummy path for locked accounts, APOP digests (RFC 1939 sec. 7), and
 * the methods libxcrypt has.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "accounts.h"
#include "auth.h"

/* sha512crypt of "hello" (libxcrypt, this machine); bcrypt of "correct
 * horse". */
#define H_SHA512	"$6$pj7MRaimoNKNyImY$1B01T0qhavP79LO9PDYHDrZN0en1ZY3RD" \
			"gQeCT.E6lo6IwmFbaAfekvFWPgXSEg70b/T7C4TUx7xkh0UEOd3T0"
#define H_BCRYPT	"$2b$04$8ZOcQucixjZF6sPNmZmps." \
			"ZOT2wuOjSzA3GSOkCUiRjIzEJZGpTxO"

/* The accounts of text, which must parse. */
static int
parse(const char *text, struct accounts **out, struct config_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
	return accounts_parse(text, strlen(text), "t.accounts", out, errs);
}

static void
test_check_secret(void **state)
{
	struct accounts		*a;
	struct config_errors	 errs;
	const struct account	*y, *b, *s6;
	char			 hash[128], text[512];
	const char		 secret[] = "pa ss\x01w\xc3\xb6rd";

	(void)state;
	assert_int_equal(auth_hash_new(secret, sizeof(secret) - 1, hash,
	    sizeof(hash)), 0);
	assert_int_equal(strncmp(hash, "$y$j9T$", 7), 0);
	assert_true(accounts_hash_is_strong(hash));
	assert_int_equal(auth_hash_new(secret, sizeof(secret) - 1, text,
	    20), -ERANGE);
	assert_int_equal(auth_hash_new("", 0, text, sizeof(text)),
	    -EINVAL);
	assert_int_equal(auth_hash_new("a\0b", 3, text, sizeof(text)),
	    -EINVAL);

	snprintf(text, sizeof(text), "y %s user=u token=t\n"
	    "b " H_BCRYPT " user=u token=t\n"
	    "s6 " H_SHA512 " user=u token=t\n", hash);
	assert_int_equal(parse(text, &a, &errs), 0);
	y = accounts_find(a, "y");
	b = accounts_find(a, "b");
	s6 = accounts_find(a, "s6");
	assert_true(auth_check_secret(y, secret, sizeof(secret) - 1));
	assert_false(auth_check_secret(y, secret, sizeof(secret) - 2));
	assert_false(auth_check_secret(y, "pa ss", 5));
	assert_false(auth_check_secret(y, "", 0));
	assert_true(auth_check_secret(b, "correct horse", 13));
	assert_false(auth_check_secret(b, "correct horsE", 13));
	/* The length counts: a NUL inside never matches. */
	assert_false(auth_check_secret(b, "correct horse\0x", 15));
	assert_true(auth_check_secret(s6, "hello", 5));
	assert_false(auth_check_secret(s6, "hello!", 6));
	auth_check_dummy("hello", 5);
	accounts_free(a);
}

static void
test_locked(void **state)
{
	struct accounts		*a;
	struct config_errors	 errs;
	const struct account	*l, *s, *n;

	(void)state;
	assert_int_equal(parse(
	    "locked ! user=u token=t apop=tanstaaf\n"
	    "star * user=u token=t\n"
	    "none - user=u token=t apop=tanstaaf\n", &a, &errs), 0);
	l = accounts_find(a, "locked");
	s = accounts_find(a, "star");
	n = accounts_find(a, "none");
	assert_false(auth_check_secret(l, "!", 1));
	assert_false(auth_check_secret(l, "", 0));
	assert_false(auth_check_secret(s, "*", 1));
	assert_false(auth_check_secret(n, "", 0));
	/* Locked for passwords, APOP still works. */
	assert_true(auth_check_apop(l, "<1896.697170952@dbc.mtview.ca.us>",
	    "c4c9334bac560ecc979e58001b3e22fb"));
	assert_true(auth_check_apop(n, "<1896.697170952@dbc.mtview.ca.us>",
	    "c4c9334bac560ecc979e58001b3e22fb"));
	assert_false(auth_check_apop(s, "<1896.697170952@dbc.mtview.ca.us>",
	    "c4c9334bac560ecc979e58001b3e22fb"));
	accounts_free(a);
}

static void
test_apop(void **state)
{
	struct accounts		*a;
	struct config_errors	 errs;
	const struct account	*p, *q;
	const char		*ts = "<1896.697170952@dbc.mtview.ca.us>";

	(void)state;
	assert_int_equal(parse(
	    "p " H_BCRYPT " user=u token=t apop=tan%73taaf\n"
	    "q " H_BCRYPT " user=u token=t\n", &a, &errs), 0);
	p = accounts_find(a, "p");
	q = accounts_find(a, "q");
	/* RFC 1939 sec. 7's example. */
	assert_true(auth_check_apop(p, ts,
	    "c4c9334bac560ecc979e58001b3e22fb"));
	assert_true(auth_check_apop(p, ts,
	    "C4C9334BAC560ECC979E58001B3E22FB"));
	assert_false(auth_check_apop(p, ts,
	    "c4c9334bac560ecc979e58001b3e22f"));
	assert_false(auth_check_apop(p, ts,
	    "c4c9334bac560ecc979e58001b3e22fbb"));
	assert_false(auth_check_apop(p, ts,
	    "c4c9334bac560ecc979e58001b3e22fc"));
	assert_false(auth_check_apop(p, ts,
	    "c4c9334bac560ecc979e58001b3e22gb"));
	assert_false(auth_check_apop(p, ts, ""));
	assert_false(auth_check_apop(p, "<1896.697170953@dbc.mtview.ca.us>",
	    "c4c9334bac560ecc979e58001b3e22fb"));
	/* No APOP secret: never. */
	assert_false(auth_check_apop(q, ts,
	    "c4c9334bac560ecc979e58001b3e22fb"));
	accounts_free(a);
}

/* The methods this libxcrypt has; every account of a file checked. */
static void
test_hash_known(void **state)
{
	struct accounts		*a;
	struct config_errors	 errs;

	(void)state;
	assert_true(auth_hash_known(H_BCRYPT));
	assert_true(auth_hash_known(H_SHA512));
	assert_false(auth_hash_known("$zz$nothing$here"));
	assert_int_equal(parse("b " H_BCRYPT " user=u token=t\n"
	    "l ! user=u token=t\n", &a, &errs), 0);
	auth_check_hashes(a, "t.accounts", &errs);
	assert_int_equal(errs.count, 0);
	accounts_free(a);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_check_secret),
		cmocka_unit_test(test_locked),
		cmocka_unit_test(test_apop),
		cmocka_unit_test(test_hash_known),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
