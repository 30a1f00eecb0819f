/* SPDX-License-Identifier: MIT */
/*
 * test_authfail.c - gateway/limits/authfail.c: the failed-login delay grows per
 * client address, is capped, is forgotten after a quiet period or a
 * successful login, and one address never slows another.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "authfail.h"

/* One table for the whole run, as the gateway has one per instance. */
static struct authfail	*af;

static struct sockaddr_storage
addr4(const char *text, unsigned int port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
addr6(const char *text)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
	return ss;
}

#define SA(x)	((const struct sockaddr *)&(x))

static void
test_grows_and_caps(void **state)
{
	struct sockaddr_storage	a = addr4("192.0.2.1", 1000);
	struct sockaddr_storage	same = addr4("192.0.2.1", 2000);
	uint64_t		now = 1000000;

	(void)state;
	assert_int_equal(authfail_record(af, SA(a), now, 1000, 5000), 1000);
	/* Another port of the same address is the same client. */
	assert_int_equal(authfail_record(af, SA(same), now + 1, 1000, 5000), 2000);
	assert_int_equal(authfail_record(af, SA(a), now + 2, 1000, 5000), 4000);
	assert_int_equal(authfail_record(af, SA(a), now + 3, 1000, 5000), 5000);
	assert_int_equal(authfail_record(af, SA(a), now + 4, 1000, 5000), 5000);
	/* Many more failures: still capped, no overflow. */
	for (int i = 0; i < 200; i++)
		assert_int_equal(authfail_record(af, SA(a), now + 5 + i, 1000,
		    5000), 5000);
}

static void
test_addresses_are_separate(void **state)
{
	struct sockaddr_storage	a = addr4("192.0.2.10", 1);
	struct sockaddr_storage	b = addr4("192.0.2.11", 1);
	struct sockaddr_storage	v6 = addr6("2001:db8::10");
	uint64_t		now = 2000000;

	(void)state;
	assert_int_equal(authfail_record(af, SA(a), now, 100, 10000), 100);
	assert_int_equal(authfail_record(af, SA(a), now, 100, 10000), 200);
	assert_int_equal(authfail_record(af, SA(b), now, 100, 10000), 100);
	assert_int_equal(authfail_record(af, SA(v6), now, 100, 10000), 100);
	assert_int_equal(authfail_record(af, SA(v6), now, 100, 10000), 200);
	assert_int_equal(authfail_record(af, SA(a), now, 100, 10000), 400);
}

static void
test_forgotten(void **state)
{
	struct sockaddr_storage	a = addr4("192.0.2.20", 1);
	uint64_t		now = 3000000;

	(void)state;
	assert_int_equal(authfail_record(af, SA(a), now, 100, 10000), 100);
	assert_int_equal(authfail_record(af, SA(a), now, 100, 10000), 200);
	/* A quiet period longer than the window starts over. */
	now += AUTHFAIL_FORGET_MS + 1;
	assert_int_equal(authfail_record(af, SA(a), now, 100, 10000), 100);
	assert_int_equal(authfail_record(af, SA(a), now, 100, 10000), 200);
	/* So does a successful login. */
	authfail_clear(af, SA(a));
	assert_int_equal(authfail_record(af, SA(a), now, 100, 10000), 100);
}

static void
test_table_is_bounded(void **state)
{
	struct sockaddr_storage	a;
	struct sockaddr_storage	hot = addr4("198.51.100.1", 1);
	char			text[32];
	uint64_t		now = 4000000;
	unsigned int		i, d;

	(void)state;
	authfail_record(af, SA(hot), now, 100, 100000);
	/* Far more addresses than slots: each gets the base delay, nothing
	 * grows without bound, and old entries make room. */
	for (i = 0; i < 3 * AUTHFAIL_SLOTS; i++) {
		snprintf(text, sizeof(text), "10.%u.%u.%u", (i >> 16) & 0xff,
		    (i >> 8) & 0xff, i & 0xff);
		a = addr4(text, 1);
		d = authfail_record(af, SA(a), now + 1 + i, 100, 100000);
		assert_int_equal(d, 100);
	}
	/* The delay is zero when disabled. */
	assert_int_equal(authfail_record(af, SA(hot), now, 0, 100000), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_and_caps),
		cmocka_unit_test(test_addresses_are_separate),
		cmocka_unit_test(test_forgotten),
		cmocka_unit_test(test_table_is_bounded),
	};
	int	r;

	af = authfail_new();
	if (af == NULL)
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	authfail_free(af);
	return r;
}
