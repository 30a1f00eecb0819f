/* SPDX-License-Identifier: MIT */
/*
 * test_pop3_line.c - unit tests for proto/pop3_line.c: terminators, the
 * 255-octet limit, overlong and NUL-bearing lines, and limits changed
 * between lines, at every split point.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pop3_line.h"

/* Caller input buffer: at least the line limit, as the contract requires. */
#define TEST_INBUF_OCTETS	1024
/* Room for the event transcript of one input. */
#define TEST_EVENTS_OCTETS	8192

/* Limits for the tests that change them between lines. */
#define TEST_SHORT_OCTETS	16
#define TEST_LONG_OCTETS	600

/*
 * The simulated caller: bytes arrive in chunks, are appended to a buffer,
 * and every consumed prefix is dropped, as the gateway does. With a
 * limit_fn it sets the limit before every line, as the gateway does with
 * pop3_session_line_limit().
 */
struct test_reader {
	struct pop3_line_reader	r;
	char			inbuf[TEST_INBUF_OCTETS];
	size_t			inlen;
	char			events[TEST_EVENTS_OCTETS];
	size_t			events_len;
	size_t			(*limit_fn)(const struct test_reader *);
	bool			want_long;	/* the last line was "AUTH" */
};

static void
test_event(struct test_reader *t, const char *s, size_t len)
{
	assert_true(t->events_len + len < sizeof(t->events));
	memcpy(t->events + t->events_len, s, len);
	t->events_len += len;
	t->events[t->events_len] = '\0';
}

static void
test_reader_init(struct test_reader *t, size_t max_octets)
{
	memset(t, 0, sizeof(*t));
	pop3_line_init(&t->r, max_octets);
}

/* Feeds one chunk and records "OK<line>|", "LONG|", "BAD|" events. */
static void
test_feed(struct test_reader *t, const char *data, size_t len)
{
	enum pop3_line_kind	 kind;
	char			*line;
	size_t			 line_len, used, take;

	while (len > 0) {
		take = sizeof(t->inbuf) - t->inlen;
		if (take > len)
			take = len;
		memcpy(t->inbuf + t->inlen, data, take);
		t->inlen += take;
		data += take;
		len -= take;
		for (;;) {
			if (t->limit_fn != NULL)
				pop3_line_set_max(&t->r, t->limit_fn(t));
			used = pop3_line_next(&t->r, t->inbuf, t->inlen, &kind,
			    &line, &line_len);
			assert_true(used <= t->inlen);
			if (kind != POP3_LINE_NONE)
				t->want_long = kind == POP3_LINE_OK &&
				    line_len == 4 &&
				    memcmp(line, "AUTH", 4) == 0;
			if (kind == POP3_LINE_OK) {
				assert_ptr_equal(line, t->inbuf);
				assert_true(line_len < used);
				test_event(t, "OK", 2);
				test_event(t, line, line_len);
				test_event(t, "|", 1);
			} else if (kind == POP3_LINE_TOO_LONG) {
				test_event(t, "LONG|", 5);
			} else if (kind == POP3_LINE_BAD) {
				test_event(t, "BAD|", 4);
			} else {
				assert_null(line);
			}
			memmove(t->inbuf, t->inbuf + used, t->inlen - used);
			t->inlen -= used;
			if (used == 0)
				break;
		}
		/* Never stuck: a full buffer always makes progress. */
		assert_true(t->inlen < t->r.max_octets);
	}
}

/*
 * Whole, every two-part split, and byte by byte must all give expected;
 * limit_fn (or NULL) picks the limit before each line.
 */
static void
test_splits_limit(const char *input, size_t len, size_t max_octets,
    size_t (*limit_fn)(const struct test_reader *), const char *expected)
{
	struct test_reader	*t;
	size_t			 split, i;

	t = malloc(sizeof(*t));
	assert_non_null(t);
	test_reader_init(t, max_octets);
	t->limit_fn = limit_fn;
	test_feed(t, input, len);
	assert_string_equal(t->events, expected);

	for (split = 0; split <= len; split++) {
		test_reader_init(t, max_octets);
		t->limit_fn = limit_fn;
		test_feed(t, input, split);
		test_feed(t, input + split, len - split);
		if (strcmp(t->events, expected) != 0)
			fail_msg("split at %zu: got \"%s\"", split, t->events);
	}

	test_reader_init(t, max_octets);
	t->limit_fn = limit_fn;
	for (i = 0; i < len; i++)
		test_feed(t, input + i, 1);
	assert_string_equal(t->events, expected);
	free(t);
}

static void
test_splits(const char *input, size_t len, size_t max_octets,
    const char *expected)
{
	test_splits_limit(input, len, max_octets, NULL, expected);
}

#define SPLITS(input, expected) \
	test_splits((input), sizeof(input) - 1, POP3_MAX_COMMAND_OCTETS, \
	    (expected))

static void
test_line_terminators(void **state)
{
	(void)state;
	SPLITS("STAT\r\n", "OKSTAT|");
	SPLITS("STAT\n", "OKSTAT|");
	SPLITS("STAT\r\nLIST 1\nUIDL\r\n", "OKSTAT|OKLIST 1|OKUIDL|");
	SPLITS("\r\n\n", "OK|OK|");
	/* No LF yet: nothing. */
	SPLITS("STAT\r", "");
	SPLITS("STAT", "");
	SPLITS("", "");
}

static void
test_line_cr_only_before_lf_is_stripped(void **state)
{
	(void)state;
	SPLITS("A\rB\r\n", "OKA\rB|");
	SPLITS("A\r\r\n", "OKA\r|");
	SPLITS("\r\r\n", "OK\r|");
}

static void
test_line_nul_is_bad(void **state)
{
	(void)state;
	SPLITS("USER al\0ice\r\nNOOP\r\n", "BAD|OKNOOP|");
	SPLITS("\0\n", "BAD|");
	SPLITS("X\0\r\n", "BAD|");
}

/* Builds fill octets of 'A' between prefix and suffix. */
static size_t
test_build(char *dst, const char *prefix, size_t fill, const char *suffix)
{
	size_t	len;

	len = strlen(prefix);
	memcpy(dst, prefix, len);
	memset(dst + len, 'A', fill);
	len += fill;
	memcpy(dst + len, suffix, strlen(suffix));
	return len + strlen(suffix);
}

static void
test_line_limit_is_255_with_terminator(void **state)
{
	char	in[600], expected[600];
	size_t	len;

	(void)state;
	/* 253 + CRLF = 255: accepted (RFC 2449 sec. 4). */
	len = test_build(in, "", 253, "\r\n");
	expected[test_build(expected, "OK", 253, "|")] = '\0';
	test_splits(in, len, POP3_MAX_COMMAND_OCTETS, expected);

	/* 254 + LF = 255: accepted. */
	len = test_build(in, "", 254, "\n");
	expected[test_build(expected, "OK", 254, "|")] = '\0';
	test_splits(in, len, POP3_MAX_COMMAND_OCTETS, expected);

	/* 254 + CRLF = 256: too long. */
	len = test_build(in, "", 254, "\r\nNOOP\r\n");
	test_splits(in, len, POP3_MAX_COMMAND_OCTETS, "LONG|OKNOOP|");

	/* 255 + LF = 256: too long. */
	len = test_build(in, "", 255, "\nNOOP\r\n");
	test_splits(in, len, POP3_MAX_COMMAND_OCTETS, "LONG|OKNOOP|");
}

static void
test_line_overlong_reported_once(void **state)
{
	char	*in;
	size_t	 len;

	(void)state;
	in = malloc(4096);
	assert_non_null(in);
	/* Conformance 2.9: the tail ("DELE 1") never runs. */
	len = test_build(in, "NOOP ", 1000, "DELE 1\r\nRSET\r\n");
	test_splits(in, len, POP3_MAX_COMMAND_OCTETS, "LONG|OKRSET|");

	/* A NUL inside an overlong line: still one TOO_LONG. */
	len = test_build(in, "X", 300, "\r\nSTAT\n");
	in[1] = '\0';
	test_splits(in, len, POP3_MAX_COMMAND_OCTETS, "LONG|OKSTAT|");

	/* Two overlong lines in a row, then a good one. */
	len = test_build(in, "", 256, "\n");
	len += test_build(in + len, "", 3000, "\r\n");
	len += test_build(in + len, "QUIT", 0, "\r\n");
	test_splits(in, len, POP3_MAX_COMMAND_OCTETS, "LONG|LONG|OKQUIT|");
	free(in);
}

static void
test_line_exactly_max_without_lf_discards(void **state)
{
	struct test_reader	*t;
	enum pop3_line_kind	 kind;
	char			 data[POP3_MAX_COMMAND_OCTETS];
	char			*line;
	size_t			 len_out;

	(void)state;
	t = malloc(sizeof(*t));
	assert_non_null(t);
	test_reader_init(t, POP3_MAX_COMMAND_OCTETS);
	memset(data, 'A', sizeof(data));
	/* 255 octets without LF cannot be a valid line: all consumed. */
	assert_int_equal(pop3_line_next(&t->r, data, sizeof(data), &kind,
	    &line, &len_out), sizeof(data));
	assert_int_equal(kind, POP3_LINE_NONE);
	assert_true(t->r.discarding);
	/* 254 octets without LF: wait for more. */
	test_reader_init(t, POP3_MAX_COMMAND_OCTETS);
	assert_int_equal(pop3_line_next(&t->r, data, sizeof(data) - 1, &kind,
	    &line, &len_out), 0);
	assert_int_equal(kind, POP3_LINE_NONE);
	assert_false(t->r.discarding);
	/* In discard mode the LF ends it with one TOO_LONG. */
	test_reader_init(t, POP3_MAX_COMMAND_OCTETS);
	test_feed(t, data, sizeof(data));
	test_feed(t, "\nNOOP\n", 6);
	assert_string_equal(t->events, "LONG|OKNOOP|");
	free(t);
}

static void
test_line_small_limit(void **state)
{
	(void)state;
	/* Limit 4: "ab\r\n" fits, "abc\r\n" does not; "abc\n" fits. */
	test_splits("ab\r\nabc\r\nabc\nx\n", 15, 4, "OKab|LONG|OKabc|OKx|");
	test_splits("\n\n", 2, 1, "OK|OK|");
	test_splits("a\n\n", 3, 1, "LONG|OK|");
}

static void
test_line_pipelined_session(void **state)
{
	(void)state;
	/* Conformance 14.1: one write, nine commands, in order. */
	SPLITS("STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 0\r\nDELE 1\r\n"
	    "NOOP\r\nRSET\r\nSTAT\r\n",
	    "OKSTAT|OKLIST|OKUIDL|OKRETR 1|OKTOP 2 0|OKDELE 1|OKNOOP|OKRSET|"
	    "OKSTAT|");
	SPLITS("USER u\r\nPASS a b  c\r\nSTAT\r\n",
	    "OKUSER u|OKPASS a b  c|OKSTAT|");
}

static void
test_line_caller_may_modify_line(void **state)
{
	struct pop3_line_reader	 r;
	enum pop3_line_kind	 kind;
	char			 data[] = "PASS secret\r\nNOOP\r\n";
	char			*line;
	size_t			 len_out, used;

	(void)state;
	pop3_line_init(&r, POP3_MAX_COMMAND_OCTETS);
	used = pop3_line_next(&r, data, sizeof(data) - 1, &kind, &line,
	    &len_out);
	assert_int_equal(used, 13);
	assert_int_equal(kind, POP3_LINE_OK);
	assert_int_equal(len_out, 11);
	/* The terminator octets are consumed too: writable, e.g. for a NUL. */
	line[len_out] = '\0';
	assert_string_equal(line, "PASS secret");
	memset(line, 0, used);
	used = pop3_line_next(&r, data + used, sizeof(data) - 1 - used, &kind,
	    &line, &len_out);
	assert_int_equal(used, 6);
	assert_int_equal(len_out, 4);
	assert_memory_equal(line, "NOOP", 4);
}

/* The long limit for the one line after "AUTH", as for a SASL response. */
static size_t
test_auth_limit(const struct test_reader *t)
{
	return t->want_long ? TEST_LONG_OCTETS : TEST_SHORT_OCTETS;
}

static size_t
test_short_limit(const struct test_reader *t)
{
	(void)t;
	return TEST_SHORT_OCTETS;
}

static void
test_line_set_max_between_lines(void **state)
{
	char	*in, *expected;
	size_t	 len, n;

	(void)state;
	in = malloc(2048);
	expected = malloc(2048);
	assert_non_null(in);
	assert_non_null(expected);
	/* Raised for one line: a 500-octet response passes, and the
	 * limit is back for the lines after it. */
	len = test_build(in, "AUTH\r\n", 500, "\r\nNOOP\r\n");
	len += test_build(in + len, "", 20, "\r\nSTAT\r\n");
	n = test_build(expected, "OKAUTH|OK", 500, "|OKNOOP|LONG|OKSTAT|");
	expected[n] = '\0';
	test_splits_limit(in, len, TEST_SHORT_OCTETS, test_auth_limit,
	    expected);
	/* The same bytes with the short limit throughout. */
	test_splits_limit(in, len, TEST_SHORT_OCTETS, test_short_limit,
	    "OKAUTH|LONG|OKNOOP|LONG|OKSTAT|");
	/* A response over the raised limit is one TOO_LONG; its tail is not
	 * read as a line under either limit. */
	len = test_build(in, "AUTH\r\n", 700, "\r\nNOOP\r\n");
	test_splits_limit(in, len, TEST_SHORT_OCTETS, test_auth_limit,
	    "OKAUTH|LONG|OKNOOP|");
	/* Exactly the raised limit with CRLF, and one octet more. */
	len = test_build(in, "AUTH\n", TEST_LONG_OCTETS - 2, "\r\nX\n");
	n = test_build(expected, "OKAUTH|OK", TEST_LONG_OCTETS - 2,
	    "|OKX|");
	expected[n] = '\0';
	test_splits_limit(in, len, TEST_SHORT_OCTETS, test_auth_limit,
	    expected);
	len = test_build(in, "AUTH\n", TEST_LONG_OCTETS - 1, "\r\nX\n");
	test_splits_limit(in, len, TEST_SHORT_OCTETS, test_auth_limit,
	    "OKAUTH|LONG|OKX|");
	free(in);
	free(expected);
}

static void
test_line_set_max_any_time(void **state)
{
	struct pop3_line_reader	 r;
	enum pop3_line_kind	 kind;
	char			 data[64], *line;
	size_t			 len_out, used;

	(void)state;
	/* Lowered under buffered octets: they now make a long line. */
	pop3_line_init(&r, TEST_LONG_OCTETS);
	memset(data, 'A', 40);
	assert_int_equal(pop3_line_next(&r, data, 40, &kind, &line,
	    &len_out), 0);
	assert_int_equal(kind, POP3_LINE_NONE);
	pop3_line_set_max(&r, TEST_SHORT_OCTETS);
	assert_int_equal(r.max_octets, TEST_SHORT_OCTETS);
	used = pop3_line_next(&r, data, 40, &kind, &line, &len_out);
	assert_int_equal(used, 40);
	assert_int_equal(kind, POP3_LINE_NONE);
	assert_true(r.discarding);
	/* Raised while discarding: the line stays too long, and its tail
	 * is not let through. */
	pop3_line_set_max(&r, TEST_LONG_OCTETS);
	assert_true(r.discarding);
	memcpy(data, "tail\nNOOP\n", 10);
	used = pop3_line_next(&r, data, 10, &kind, &line, &len_out);
	assert_int_equal(used, 5);
	assert_int_equal(kind, POP3_LINE_TOO_LONG);
	used = pop3_line_next(&r, data + 5, 5, &kind, &line, &len_out);
	assert_int_equal(used, 5);
	assert_int_equal(kind, POP3_LINE_OK);
	assert_memory_equal(line, "NOOP", 4);
	/* Raised over a partial line: it may now complete. */
	pop3_line_init(&r, TEST_SHORT_OCTETS);
	memset(data, 'B', 15);
	assert_int_equal(pop3_line_next(&r, data, 15, &kind, &line,
	    &len_out), 0);
	pop3_line_set_max(&r, TEST_LONG_OCTETS);
	memcpy(data + 15, "BB\r\n", 4);
	used = pop3_line_next(&r, data, 19, &kind, &line, &len_out);
	assert_int_equal(used, 19);
	assert_int_equal(kind, POP3_LINE_OK);
	assert_int_equal(len_out, 17);
	/* The same value again changes nothing. */
	pop3_line_set_max(&r, TEST_LONG_OCTETS);
	assert_int_equal(r.max_octets, TEST_LONG_OCTETS);
	assert_false(r.discarding);
}

/* An empty buffer may have no storage yet: NULL with length 0 is valid
 * input (a TLS read that completed only the handshake gives exactly that),
 * also while an overlong line is being discarded. */
static void
test_line_empty_null_buffer(void **state)
{
	struct pop3_line_reader	 r;
	enum pop3_line_kind	 kind;
	char			*line;
	size_t			 len;

	(void)state;
	pop3_line_init(&r, 8);
	assert_int_equal(pop3_line_next(&r, NULL, 0, &kind, &line, &len), 0);
	assert_int_equal(kind, POP3_LINE_NONE);
	r.discarding = true;
	assert_int_equal(pop3_line_next(&r, NULL, 0, &kind, &line, &len), 0);
	assert_int_equal(kind, POP3_LINE_NONE);
	assert_true(r.discarding);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_line_terminators),
		cmocka_unit_test(test_line_cr_only_before_lf_is_stripped),
		cmocka_unit_test(test_line_nul_is_bad),
		cmocka_unit_test(test_line_limit_is_255_with_terminator),
		cmocka_unit_test(test_line_overlong_reported_once),
		cmocka_unit_test(test_line_exactly_max_without_lf_discards),
		cmocka_unit_test(test_line_small_limit),
		cmocka_unit_test(test_line_pipelined_session),
		cmocka_unit_test(test_line_caller_may_modify_line),
		cmocka_unit_test(test_line_set_max_between_lines),
		cmocka_unit_test(test_line_set_max_any_time),
		cmocka_unit_test(test_line_empty_null_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
