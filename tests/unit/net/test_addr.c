/* SPDX-License-Identifier: MIT */
/*
 * test_addr.c - unit tests for net/addr.c: the 16-octet key (an IPv4
 * client and its IPv4-mapped form share one), the network match and the
 * printed form.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"

static struct sockaddr_storage
test_v4(const char *text, unsigned int port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
test_v6(const char *text, unsigned int port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
	return ss;
}

static void
test_key_maps_ipv4(void **state)
{
	struct sockaddr_storage	a = test_v4("192.0.2.7", 110);
	struct sockaddr_storage	b = test_v6("::ffff:192.0.2.7", 995);
	struct sockaddr_storage	c = test_v6("2001:db8::7", 110);
	struct sockaddr_storage	u;
	uint8_t			ka[16], kb[16], kc[16];

	(void)state;
	assert_true(addr_key((struct sockaddr *)&a, ka));
	assert_true(addr_key((struct sockaddr *)&b, kb));
	assert_true(addr_key((struct sockaddr *)&c, kc));
	assert_memory_equal(ka, kb, 16);	/* the port is left out too */
	assert_memory_not_equal(ka, kc, 16);
	assert_int_equal(addr_key_hash(ka, 97), addr_key_hash(kb, 97));
	assert_true(addr_key_hash(kc, 97) < 97);
	memset(&u, 0, sizeof(u));
	u.ss_family = AF_UNIX;
	assert_false(addr_key((struct sockaddr *)&u, ka));
}

static void
test_format(void **state)
{
	struct sockaddr_storage	a = test_v4("192.0.2.7", 110);
	struct sockaddr_storage	b = test_v6("::ffff:192.0.2.7", 995);
	struct sockaddr_storage	c = test_v6("2001:db8:0:0:0:0:0:7", 65535);
	struct sockaddr_storage	u;
	char			text[ADDR_TEXT_MAX];
	char			small[8];

	(void)state;
	addr_format((struct sockaddr *)&a, text, sizeof(text));
	assert_string_equal(text, "192.0.2.7:110");
	addr_format((struct sockaddr *)&b, text, sizeof(text));
	assert_string_equal(text, "[::ffff:192.0.2.7]:995");
	addr_format((struct sockaddr *)&c, text, sizeof(text));
	assert_string_equal(text, "[2001:db8::7]:65535");
	addr_format((struct sockaddr *)&a, small, sizeof(small));
	assert_string_equal(small, "192.0.2");
	memset(&u, 0, sizeof(u));
	u.ss_family = AF_UNIX;
	addr_format((struct sockaddr *)&u, text, sizeof(text));
	assert_string_equal(text, "unknown");
	/* A long text fits. */
	c = test_v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	addr_format((struct sockaddr *)&c, text, sizeof(text));
	assert_string_equal(text,
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

/* peer in text/prefix; the network's host bits are left as written. */
static bool
test_in(const struct sockaddr_storage *peer, const char *net,
    unsigned int prefix)
{
	struct sockaddr_storage	n;

	n = strchr(net, ':') != NULL ? test_v6(net, 0) : test_v4(net, 0);
	return addr_in_network((const struct sockaddr *)peer,
	    (const struct sockaddr *)&n, prefix);
}

static void
test_network(void **state)
{
	struct sockaddr_storage	a = test_v4("127.0.0.2", 110);
	struct sockaddr_storage	b = test_v6("2001:db8:7fff::1", 110);
	struct sockaddr_storage	m = test_v6("::ffff:127.0.0.2", 110);
	struct sockaddr_storage	u;

	(void)state;
	assert_true(test_in(&a, "127.0.0.0", 8));
	assert_true(test_in(&a, "127.255.255.255", 8));	/* host bits */
	assert_false(test_in(&a, "128.0.0.0", 8));
	assert_false(test_in(&a, "127.0.0.1", 32));
	assert_true(test_in(&a, "127.0.0.2", 32));
	assert_true(test_in(&a, "0.0.0.0", 0));
	assert_true(test_in(&a, "127.0.0.3", 31));
	assert_false(test_in(&a, "127.0.0.4", 30));
	assert_true(test_in(&b, "2001:db8::", 33));
	assert_false(test_in(&b, "2001:db8:8000::", 33));
	assert_true(test_in(&b, "2001:db8:7fff::1", 128));
	assert_true(test_in(&b, "::", 0));
	/* A dual-stack listener's IPv4 client, ::ffff:a.b.c.d: in the IPv4
	 * networks and in the ::ffff: ones; an IPv4 client only in IPv4. */
	assert_true(test_in(&m, "127.0.0.0", 8));
	assert_false(test_in(&m, "128.0.0.0", 8));
	assert_true(test_in(&m, "::ffff:127.0.0.0", 104));
	assert_true(test_in(&m, "::", 0));
	assert_false(test_in(&a, "::ffff:127.0.0.0", 104));
	assert_false(test_in(&a, "::", 0));
	assert_false(test_in(&b, "0.0.0.0", 0));
	/* A prefix longer than the address; a family with no address. */
	assert_false(test_in(&a, "127.0.0.2", 33));
	assert_false(test_in(&b, "2001:db8:7fff::1", 129));
	memset(&u, 0, sizeof(u));
	u.ss_family = AF_UNIX;
	assert_false(test_in(&u, "0.0.0.0", 0));
	assert_false(addr_in_network((struct sockaddr *)&a,
	    (struct sockaddr *)&u, 0));
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_key_maps_ipv4),
		cmocka_unit_test(test_network),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
