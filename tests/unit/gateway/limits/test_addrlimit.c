/* SPDX-License-Identifier: MIT */
/*
 * test_addrlimit.c - gateway/limits/addrlimit.c: sessions per address, the
 * connection rate per address as a token bucket, addresses independent of
 * each other, and a full table admitting rather than refusing.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "addrlimit.h"

/* One table for the whole run, as the gateway has one per instance. */
static struct addrlimit	*al;

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
	} else {
		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	}
	return ss;
}

#define SA(x)	((const struct sockaddr *)&(x))

static void
test_sessions_per_address(void **state)
{
	struct sockaddr_storage	a = addr("192.0.2.1"), b = addr("192.0.2.2");
	uint64_t		now = 1000;

	(void)state;
	assert_int_equal(addrlimit_acquire(al, SA(a), now, 2, 0), ADDRLIMIT_OK);
	assert_int_equal(addrlimit_acquire(al, SA(a), now, 2, 0), ADDRLIMIT_OK);
	assert_int_equal(addrlimit_acquire(al, SA(a), now, 2, 0),
	    ADDRLIMIT_TOO_MANY);
	assert_int_equal(addrlimit_active(al, SA(a)), 2);
	/* Another address is not affected. */
	assert_int_equal(addrlimit_acquire(al, SA(b), now, 2, 0), ADDRLIMIT_OK);
	addrlimit_release(al, SA(a));
	assert_int_equal(addrlimit_active(al, SA(a)), 1);
	assert_int_equal(addrlimit_acquire(al, SA(a), now, 2, 0), ADDRLIMIT_OK);
	addrlimit_release(al, SA(a));
	addrlimit_release(al, SA(a));
	addrlimit_release(al, SA(b));
	/* A release too many does not go below zero. */
	addrlimit_release(al, SA(a));
	assert_int_equal(addrlimit_active(al, SA(a)), 0);
	/* No limit: any number. */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(addrlimit_acquire(al, SA(b), now, 0, 0),
		    ADDRLIMIT_OK);
	assert_int_equal(addrlimit_active(al, SA(b)), 1000);
	for (int i = 0; i < 1000; i++)
		addrlimit_release(al, SA(b));
}

static void
test_rate_per_address(void **state)
{
	struct sockaddr_storage	a = addr("2001:db8::1"), b = addr("2001:db8::2");
	uint64_t		now = 100000;
	int			i;

	(void)state;
	/* A burst of the rate is allowed at once, then one more is not. */
	for (i = 0; i < 5; i++) {
		assert_int_equal(addrlimit_acquire(al, SA(a), now, 0, 5),
		    ADDRLIMIT_OK);
		addrlimit_release(al, SA(a));
	}
	assert_int_equal(addrlimit_acquire(al, SA(a), now, 0, 5),
	    ADDRLIMIT_TOO_FAST);
	/* The flooding address does not slow another one. */
	assert_int_equal(addrlimit_acquire(al, SA(b), now, 0, 5), ADDRLIMIT_OK);
	addrlimit_release(al, SA(b));
	/* 200 ms later one token (5/s) is back, and only one. */
	now += 200;
	assert_int_equal(addrlimit_acquire(al, SA(a), now, 0, 5), ADDRLIMIT_OK);
	addrlimit_release(al, SA(a));
	assert_int_equal(addrlimit_acquire(al, SA(a), now, 0, 5),
	    ADDRLIMIT_TOO_FAST);
	/* A steady 10 per second against 5 per second: every other one. */
	for (i = 0; i < 10; i++) {
		now += 100;
		assert_int_equal(addrlimit_acquire(al, SA(a), now, 0, 5),
		    i % 2 == 0 ? ADDRLIMIT_TOO_FAST : ADDRLIMIT_OK);
		if (i % 2 == 1)
			addrlimit_release(al, SA(a));
	}
	/* After a quiet second the whole burst is back. */
	now += 1000;
	for (i = 0; i < 5; i++) {
		assert_int_equal(addrlimit_acquire(al, SA(a), now, 0, 5),
		    ADDRLIMIT_OK);
		addrlimit_release(al, SA(a));
	}
}

static void
test_full_table_admits(void **state)
{
	struct sockaddr_storage	a;
	char			text[32];
	uint64_t		now = 200000;
	unsigned int		i, untracked = 0, ok = 0;

	(void)state;
	/* More addresses holding a session than slots: each is admitted,
	 * some untracked; none refused. */
	for (i = 0; i < ADDRLIMIT_SLOTS + 2000; i++) {
		snprintf(text, sizeof(text), "10.%u.%u.%u", (i >> 16) & 0xff,
		    (i >> 8) & 0xff, i & 0xff);
		a = addr(text);
		switch (addrlimit_acquire(al, SA(a), now, 1, 10)) {
		case ADDRLIMIT_OK:
			ok++;
			break;
		case ADDRLIMIT_UNTRACKED:
			untracked++;
			break;
		default:
			fail_msg("address %s refused", text);
		}
	}
	assert_true(untracked >= 2000);
	assert_true(ok > ADDRLIMIT_SLOTS / 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sessions_per_address),
		cmocka_unit_test(test_rate_per_address),
		cmocka_unit_test(test_full_table_admits),
	};
	int	r;

	al = addrlimit_new();
	if (al == NULL)
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	addrlimit_free(al);
	return r;
}
