/* SPDX-License-Identifier: MIT */
/*
 * test_buf.c - unit tests for proto/buf.c: limits, growth, formatting,
 * reserve/commit, consume and wipe.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

/* Longer than buf.c's formatting scratch, to take the second path. */
#define TEST_BUF_LONG_OCTETS	2000

static void
test_buf_init_is_empty_and_lazy(void **state)
{
	struct buf	b;

	(void)state;
	buf_init(&b, 100);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 100);
	buf_deinit(&b);
	buf_deinit(&b);		/* twice is harmless */
}

static void
test_buf_append_up_to_max(void **state)
{
	struct buf	b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_append(&b, "hello", 5), 0);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_int_equal(buf_append(&b, NULL, 0), 0);
	assert_int_equal(buf_append(&b, "world", 5), 0);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "helloworld", 10);
	/* Past max fails and leaves the contents alone. */
	assert_int_equal(buf_append(&b, "!", 1), -ENOBUFS);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "helloworld", 10);
	assert_true(b.cap >= b.len);
	buf_deinit(&b);
}

static void
test_buf_append_too_big_at_once(void **state)
{
	struct buf	b;

	(void)state;
	buf_init(&b, 4);
	assert_int_equal(buf_append(&b, "abcde", 5), -ENOBUFS);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append(&b, "abcd", 4), 0);
	assert_true(b.cap <= 4);	/* growth respects max */
	buf_deinit(&b);
}

static void
test_buf_grows_and_keeps_data(void **state)
{
	struct buf	b;
	size_t		i;
	char		c;

	(void)state;
	buf_init(&b, 1 << 20);
	for (i = 0; i < 100000; i++) {
		c = (char)('a' + i % 26);
		assert_int_equal(buf_append(&b, &c, 1), 0);
	}
	assert_int_equal(b.len, 100000);
	for (i = 0; i < 100000; i++)
		assert_int_equal(b.data[i], 'a' + i % 26);
	buf_deinit(&b);
}

static void
test_buf_append_str(void **state)
{
	struct buf	b;

	(void)state;
	buf_init(&b, 6);
	assert_int_equal(buf_append_str(&b, "+OK"), 0);
	assert_int_equal(buf_append_str(&b, ""), 0);
	assert_int_equal(buf_append_str(&b, "\r\n"), 0);
	assert_int_equal(buf_append_str(&b, "xx"), -ENOBUFS);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "+OK\r\n", 5);
	buf_deinit(&b);
}

static void
test_buf_appendf_short_and_long(void **state)
{
	struct buf	b;
	char		long_text[TEST_BUF_LONG_OCTETS + 1];

	(void)state;
	memset(long_text, 'x', TEST_BUF_LONG_OCTETS);
	long_text[TEST_BUF_LONG_OCTETS] = '\0';
	buf_init(&b, 4096);
	assert_int_equal(buf_appendf(&b, "+OK %u %llu\r\n", 3u,
	    (unsigned long long)1234), 0);
	assert_int_equal(b.len, 12);
	assert_memory_equal(b.data, "+OK 3 1234\r\n", 12);
	assert_int_equal(buf_appendf(&b, "%s|", long_text), 0);
	assert_int_equal(b.len, 12 + TEST_BUF_LONG_OCTETS + 1);
	assert_memory_equal(b.data + 12, long_text, TEST_BUF_LONG_OCTETS);
	assert_int_equal(b.data[b.len - 1], '|');
	assert_int_equal(buf_appendf(&b, "%s", ""), 0);
	buf_deinit(&b);
}

static void
test_buf_appendf_limits(void **state)
{
	struct buf	b;
	char		long_text[TEST_BUF_LONG_OCTETS + 1];

	(void)state;
	memset(long_text, 'y', TEST_BUF_LONG_OCTETS);
	long_text[TEST_BUF_LONG_OCTETS] = '\0';

	/* Exactly max: the NUL vsnprintf writes must not count. */
	buf_init(&b, 5);
	assert_int_equal(buf_appendf(&b, "%d", 12345), 0);
	assert_int_equal(b.len, 5);
	assert_int_equal(buf_appendf(&b, "%d", 1), -ENOBUFS);
	assert_int_equal(b.len, 5);
	buf_deinit(&b);

	buf_init(&b, TEST_BUF_LONG_OCTETS);
	assert_int_equal(buf_appendf(&b, "%s", long_text), 0);
	assert_int_equal(b.len, TEST_BUF_LONG_OCTETS);
	buf_reset(&b);
	assert_int_equal(buf_appendf(&b, "a%s", long_text), -ENOBUFS);
	assert_int_equal(b.len, 0);
	buf_deinit(&b);
}

static void
test_buf_reserve_commit(void **state)
{
	struct buf	 b;
	char		*p;

	(void)state;
	buf_init(&b, 8);
	p = buf_reserve(&b, 0);
	assert_non_null(p);
	p = buf_reserve(&b, 5);
	assert_non_null(p);
	memcpy(p, "abc", 3);
	buf_commit(&b, 3);
	assert_int_equal(b.len, 3);
	p = buf_reserve(&b, 5);
	assert_non_null(p);
	assert_ptr_equal(p, b.data + 3);
	memcpy(p, "defgh", 5);
	buf_commit(&b, 5);
	assert_memory_equal(b.data, "abcdefgh", 8);
	assert_null(buf_reserve(&b, 1));
	assert_non_null(buf_reserve(&b, 0));
	buf_deinit(&b);
}

static void
test_buf_consume(void **state)
{
	struct buf	b;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(buf_append_str(&b, "USER a\r\nPASS b\r\n"), 0);
	buf_consume(&b, 0);
	assert_int_equal(b.len, 16);
	buf_consume(&b, 8);
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.data, "PASS b\r\n", 8);
	buf_consume(&b, 8);
	assert_int_equal(b.len, 0);
	/* Room freed by consume is usable up to max again. */
	assert_int_equal(buf_append_str(&b,
	    "0123456789012345678901234567890123456789012345678901234567890123"),
	    0);
	assert_int_equal(b.len, 64);
	buf_deinit(&b);
}

static void
test_buf_reset_keeps_storage(void **state)
{
	struct buf	 b;
	char		*before;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(buf_append_str(&b, "data"), 0);
	before = b.data;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.data, before);
	assert_int_equal(buf_append_str(&b, "more"), 0);
	assert_memory_equal(b.data, "more", 4);
	buf_deinit(&b);
}

static void
test_buf_wipe_zeroes_storage(void **state)
{
	struct buf	b;
	size_t		i;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(buf_append_str(&b, "PASS secret\r\n"), 0);
	buf_consume(&b, 5);	/* leaves a stale copy behind len */
	buf_wipe(&b);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
	for (i = 0; i < b.cap; i++)
		assert_int_equal(b.data[i], 0);
	assert_int_equal(buf_append_str(&b, "ok"), 0);
	buf_deinit(&b);

	buf_init(&b, 64);
	buf_wipe(&b);		/* never allocated */
	assert_int_equal(b.len, 0);
	buf_deinit(&b);
}

static void
test_buf_usable_after_deinit(void **state)
{
	struct buf	b;

	(void)state;
	buf_init(&b, 16);
	assert_int_equal(buf_append_str(&b, "first"), 0);
	buf_deinit(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 16);
	assert_int_equal(buf_append_str(&b, "second"), 0);
	assert_memory_equal(b.data, "second", 6);
	buf_deinit(&b);
}

static void
test_buf_zero_max(void **state)
{
	struct buf	b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "x", 1), -ENOBUFS);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_int_equal(buf_appendf(&b, "%s", ""), 0);
	assert_int_equal(buf_appendf(&b, "%d", 1), -ENOBUFS);
	assert_null(buf_reserve(&b, 1));
	assert_non_null(buf_reserve(&b, 0));	/* a valid pointer, no room */
	assert_int_equal(b.len, 0);
	buf_deinit(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_init_is_empty_and_lazy),
		cmocka_unit_test(test_buf_append_up_to_max),
		cmocka_unit_test(test_buf_append_too_big_at_once),
		cmocka_unit_test(test_buf_grows_and_keeps_data),
		cmocka_unit_test(test_buf_append_str),
		cmocka_unit_test(test_buf_appendf_short_and_long),
		cmocka_unit_test(test_buf_appendf_limits),
		cmocka_unit_test(test_buf_reserve_commit),
		cmocka_unit_test(test_buf_consume),
		cmocka_unit_test(test_buf_reset_keeps_storage),
		cmocka_unit_test(test_buf_wipe_zeroes_storage),
		cmocka_unit_test(test_buf_usable_after_deinit),
		cmocka_unit_test(test_buf_zero_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
