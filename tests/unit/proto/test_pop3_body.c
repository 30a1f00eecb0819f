/* SPDX-License-Identifier: MIT */
/*
 * test_pop3_body.c - unit tests for proto/pop3_body.c. Every input is encoded
 * one-shot, at every 2-part split, byte by byte and (short inputs) at every
 * 3-part split; all must give the same wire bytes and octet count.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "pop3_body.h"

/* Output limit for the tests: far above any test message. */
#define TEST_BODY_OUT_MAX_OCTETS	(4 * 1024 * 1024)
/* Inputs up to this length are also tried at every 3-part split. */
#define TEST_BODY_SPLIT3_MAX_OCTETS	48
/* Size of the generated message in the random test. */
#define TEST_BODY_RANDOM_OCTETS		(64 * 1024)

#define TEST_STR(s)	(s), (sizeof(s) - 1)

struct test_body_case {
	const char	*name;
	const char	*in;
	size_t		 in_len;
	bool		 is_top;
	uint32_t	 top_lines;
	const char	*want;
	size_t		 want_len;
	uint64_t	 want_octets;
	bool		 want_complete;
};

#define RETR_CASE(name, in, want, octets) \
	{ name, TEST_STR(in), false, 0, TEST_STR(want), octets, false }
#define TOP_CASE(name, in, k, want, octets, complete) \
	{ name, TEST_STR(in), true, k, TEST_STR(want), octets, complete }

/* The TOP test message: a stuffed header line and stuffed body line. */
#define TEST_TOP_MSG \
	"Subject: x\r\n.From: y\r\n\r\nline1\r\n.line2\r\nline3\r\n"
#define TEST_TOP_HDR	"Subject: x\r\n..From: y\r\n\r\n"

static const struct test_body_case test_body_cases[] = {
	RETR_CASE("dot line", ".\r\n", "..\r\n.\r\n", 3),
	RETR_CASE("dot without newline", ".", "..\r\n.\r\n", 3),
	RETR_CASE("two dots", "..\r\n", "...\r\n.\r\n", 4),
	RETR_CASE("dot foo", ".foo\r\n", "..foo\r\n.\r\n", 6),
	RETR_CASE("space dot", " .\r\n", " .\r\n.\r\n", 4),
	RETR_CASE("CRLF.CRLF inside", "a\r\n.\r\nb\r\n",
	    "a\r\n..\r\nb\r\n.\r\n", 9),
	RETR_CASE("CRLF.CRLF at start", "\r\n.\r\n", "\r\n..\r\n.\r\n", 5),
	RETR_CASE("bare LF with dot lines", "a\n.\n..x\nb",
	    "a\r\n..\r\n...x\r\nb\r\n.\r\n", 14),
	RETR_CASE("LF.LF lookalike", "a\n.\nb\n", "a\r\n..\r\nb\r\n.\r\n", 9),
	RETR_CASE("no final newline", "abc", "abc\r\n.\r\n", 5),
	RETR_CASE("final line is a dot", "x\r\n.", "x\r\n..\r\n.\r\n", 6),
	RETR_CASE("empty message", "", ".\r\n", 0),
	RETR_CASE("CRLF then partial", "a\r\nb", "a\r\nb\r\n.\r\n", 6),
	RETR_CASE("bare CR inside", "a\rb\r\n", "a\rb\r\n.\r\n", 5),
	RETR_CASE("bare CR at end", "a\r", "a\r\r\n.\r\n", 4),
	RETR_CASE("CR then dot is no line start", "\r.\r\n",
	    "\r.\r\n.\r\n", 4),
	RETR_CASE("CR CR LF", "\r\r\n", "\r\r\n.\r\n", 3),
	RETR_CASE("only LF", "\n", "\r\n.\r\n", 2),
	RETR_CASE("two LF", "\n\n", "\r\n\r\n.\r\n", 4),
	RETR_CASE("dot LF", ".\n", "..\r\n.\r\n", 3),
	RETR_CASE("NUL octets pass", "a\0b\n\0", "a\0b\r\n\0\r\n.\r\n", 8),
	RETR_CASE("mixed endings and dots", ".a\r\n.b\n\r.c\r\n..\n",
	    "..a\r\n..b\r\n\r.c\r\n...\r\n.\r\n", 17),
	RETR_CASE("RETR of the TOP message", TEST_TOP_MSG,
	    TEST_TOP_HDR "line1\r\n..line2\r\nline3\r\n.\r\n", 46),

	TOP_CASE("TOP 0", TEST_TOP_MSG, 0, TEST_TOP_HDR ".\r\n", 24, true),
	TOP_CASE("TOP 1", TEST_TOP_MSG, 1, TEST_TOP_HDR "line1\r\n.\r\n", 31,
	    true),
	TOP_CASE("TOP 2", TEST_TOP_MSG, 2,
	    TEST_TOP_HDR "line1\r\n..line2\r\n.\r\n", 39, true),
	TOP_CASE("TOP 3 (all lines)", TEST_TOP_MSG, 3,
	    TEST_TOP_HDR "line1\r\n..line2\r\nline3\r\n.\r\n", 46, true),
	TOP_CASE("TOP 4 (more than the body)", TEST_TOP_MSG, 4,
	    TEST_TOP_HDR "line1\r\n..line2\r\nline3\r\n.\r\n", 46, false),
	TOP_CASE("TOP huge", TEST_TOP_MSG, UINT32_MAX,
	    TEST_TOP_HDR "line1\r\n..line2\r\nline3\r\n.\r\n", 46, false),
	TOP_CASE("TOP header-only, no final newline", "A: b\r\nC: d", 0,
	    "A: b\r\nC: d\r\n.\r\n", 12, false),
	TOP_CASE("TOP header-only", "A: b\r\n", 5, "A: b\r\n.\r\n", 6, false),
	TOP_CASE("TOP empty body", "A: b\r\n\r\n", 3, "A: b\r\n\r\n.\r\n", 8,
	    false),
	TOP_CASE("TOP 0 empty body", "A: b\r\n\r\n", 0, "A: b\r\n\r\n.\r\n", 8,
	    true),
	TOP_CASE("TOP bare LF header end", "A: b\n\nbody1\nbody2\n", 1,
	    "A: b\r\n\r\nbody1\r\n.\r\n", 15, true),
	TOP_CASE("TOP CR CR LF is not empty", "A\r\n\r\r\nB\r\n\r\nbody\r\n", 0,
	    "A\r\n\r\r\nB\r\n\r\n.\r\n", 11, true),
	TOP_CASE("TOP CR x is not empty", "A\r\n\rx\r\n\r\nb\r\n", 0,
	    "A\r\n\rx\r\n\r\n.\r\n", 9, true),
	TOP_CASE("TOP empty header", "\r\nbody1\r\nbody2\r\n", 1,
	    "\r\nbody1\r\n.\r\n", 9, true),
	TOP_CASE("TOP empty message", "", 2, ".\r\n", 0, false),
	TOP_CASE("TOP body without final newline", "H\r\n\r\nb1\r\nb2", 5,
	    "H\r\n\r\nb1\r\nb2\r\n.\r\n", 13, false),
	TOP_CASE("TOP 2 of body without final newline", "H\r\n\r\nb1\r\nb2", 2,
	    "H\r\n\r\nb1\r\nb2\r\n.\r\n", 13, false),
	TOP_CASE("TOP 1 of body without final newline", "H\r\n\r\nb1\r\nb2", 1,
	    "H\r\n\r\nb1\r\n.\r\n", 9, true),
	TOP_CASE("TOP dot lines after bare LF", "H\n\n.\n..\nx\n", 2,
	    "H\r\n\r\n..\r\n...\r\n.\r\n", 12, true),
	TOP_CASE("TOP dot header line", ".\r\n\r\n.\r\n", 1,
	    "..\r\n\r\n..\r\n.\r\n", 8, true),
};

struct test_body_result {
	struct buf	out;
	uint64_t	octets;
	bool		is_complete;
};

static void
test_body_result_init(struct test_body_result *r)
{
	buf_init(&r->out, TEST_BODY_OUT_MAX_OCTETS);
	r->octets = 0;
	r->is_complete = false;
}

/* Encodes in, cut at cuts[0..ncuts) (ascending, may repeat), and finishes. */
static void
test_body_encode(const char *in, size_t in_len, bool is_top, uint32_t k,
    const size_t *cuts, size_t ncuts, struct test_body_result *r)
{
	struct pop3_body	e;
	size_t			from = 0, to, i;

	pop3_body_init(&e, is_top, k);
	buf_reset(&r->out);
	for (i = 0; i <= ncuts; i++) {
		to = i < ncuts ? cuts[i] : in_len;
		assert_int_equal(pop3_body_feed(&e, in + from, to - from,
		    &r->out), 0);
		from = to;
	}
	r->is_complete = pop3_body_complete(&e);
	assert_int_equal(pop3_body_finish(&e, &r->out), 0);
	r->octets = pop3_body_octets(&e);
}

/*
 * Checks the wire format of out and returns the length of the data once
 * unstuffed, without the terminator (RFC 1939 sec. 3).
 */
static size_t
test_body_check_wire(const char *p, size_t len)
{
	size_t	i, line = 0, dots = 0;

	assert_true(len >= 3);
	assert_memory_equal(p + len - 3, ".\r\n", 3);
	assert_true(len == 3 || (len >= 5 && p[len - 5] == '\r' &&
	    p[len - 4] == '\n'));
	for (i = 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		assert_true(i > 0 && p[i - 1] == '\r');	/* no bare LF */
		if (i + 1 == len)
			break;
		/* Only the terminator line is a lone ".". */
		if (p[line] == '.') {
			assert_true(i - line > 2);
			dots++;
		}
		line = i + 1;
	}
	return len - 3 - dots;
}

static bool
test_body_same(const struct test_body_result *a,
    const struct test_body_result *b)
{
	return a->out.len == b->out.len && a->octets == b->octets &&
	    a->is_complete == b->is_complete &&
	    memcmp(a->out.data, b->out.data, a->out.len) == 0;
}

static void
test_body_expect_same(const struct test_body_case *c,
    const struct test_body_result *ref, const struct test_body_result *r,
    const char *how, size_t at1, size_t at2)
{
	if (test_body_same(ref, r))
		return;
	print_error("case \"%s\": %s split (%zu, %zu) differs from one-shot\n",
	    c->name, how, at1, at2);
	fail();
}

static void
test_body_run_splits(const struct test_body_case *c,
    const struct test_body_result *ref, struct test_body_result *r)
{
	size_t	cuts[TEST_BODY_SPLIT3_MAX_OCTETS + 1];
	size_t	i, j;

	for (i = 0; i <= c->in_len; i++) {
		cuts[0] = i;
		test_body_encode(c->in, c->in_len, c->is_top, c->top_lines,
		    cuts, 1, r);
		test_body_expect_same(c, ref, r, "2-part", i, 0);
	}
	if (c->in_len <= TEST_BODY_SPLIT3_MAX_OCTETS) {
		for (i = 0; i <= c->in_len; i++)
			for (j = i; j <= c->in_len; j++) {
				cuts[0] = i;
				cuts[1] = j;
				test_body_encode(c->in, c->in_len, c->is_top,
				    c->top_lines, cuts, 2, r);
				test_body_expect_same(c, ref, r, "3-part", i,
				    j);
			}
		for (i = 1; i < c->in_len; i++)
			cuts[i - 1] = i;
		test_body_encode(c->in, c->in_len, c->is_top, c->top_lines,
		    cuts, c->in_len > 0 ? c->in_len - 1 : 0, r);
		test_body_expect_same(c, ref, r, "byte-by-byte", 0, 0);
	}
}

static void
test_body_check_case(const struct test_body_case *c)
{
	struct test_body_result	ref, r;

	test_body_result_init(&ref);
	test_body_result_init(&r);
	test_body_encode(c->in, c->in_len, c->is_top, c->top_lines, NULL, 0,
	    &ref);
	if (ref.out.len != c->want_len ||
	    memcmp(ref.out.data, c->want, c->want_len) != 0 ||
	    ref.octets != c->want_octets || ref.is_complete != c->want_complete)
		print_error("case \"%s\": wrong one-shot output\n", c->name);
	assert_int_equal(ref.out.len, c->want_len);
	assert_memory_equal(ref.out.data, c->want, c->want_len);
	assert_int_equal(ref.octets, c->want_octets);
	assert_int_equal(ref.is_complete, c->want_complete);
	assert_int_equal(test_body_check_wire(ref.out.data, ref.out.len),
	    ref.octets);
	test_body_run_splits(c, &ref, &r);
	buf_deinit(&ref.out);
	buf_deinit(&r.out);
}

/*
 * With an output limit below the wire size, feed or finish fails with
 * -ENOBUFS; at or above it, the output is exact.
 */
static void
test_body_check_small_outputs(const struct test_body_case *c)
{
	struct pop3_body	e;
	struct buf		out;
	size_t			max;
	int			error;

	for (max = 0; max <= c->want_len + 2; max++) {
		buf_init(&out, max);
		pop3_body_init(&e, c->is_top, c->top_lines);
		error = pop3_body_feed(&e, c->in, c->in_len, &out);
		if (error == 0)
			error = pop3_body_finish(&e, &out);
		assert_true(out.len <= max);
		if (max < c->want_len) {
			assert_int_equal(error, -ENOBUFS);
		} else {
			assert_int_equal(error, 0);
			assert_int_equal(out.len, c->want_len);
			assert_memory_equal(out.data, c->want, c->want_len);
			assert_int_equal(pop3_body_octets(&e), c->want_octets);
		}
		buf_deinit(&out);
	}
}

static void
test_body_table(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(test_body_cases) / sizeof(test_body_cases[0]);
	    i++) {
		test_body_check_case(&test_body_cases[i]);
		test_body_check_small_outputs(&test_body_cases[i]);
	}
}

static void
test_body_cr_at_chunk_end_is_one_crlf(void **state)
{
	struct pop3_body	e;
	struct buf		out;

	(void)state;
	buf_init(&out, 64);
	pop3_body_init(&e, false, 0);
	assert_int_equal(pop3_body_feed(&e, "a\r", 2, &out), 0);
	assert_int_equal(pop3_body_feed(&e, "\n.b\r", 4, &out), 0);
	assert_int_equal(pop3_body_feed(&e, "", 0, &out), 0);
	assert_int_equal(pop3_body_feed(&e, "\n", 1, &out), 0);
	assert_int_equal(pop3_body_finish(&e, &out), 0);
	assert_int_equal(out.len, 11);
	assert_memory_equal(out.data, "a\r\n..b\r\n.\r\n", 11);
	assert_int_equal(pop3_body_octets(&e), 7);
	buf_deinit(&out);
}

static void
test_body_feed_after_complete_is_ignored(void **state)
{
	struct pop3_body	e;
	struct buf		out;

	(void)state;
	buf_init(&out, 64);
	pop3_body_init(&e, true, 0);
	assert_false(pop3_body_complete(&e));
	assert_int_equal(pop3_body_feed(&e, "H: v\r\n\r\nbody\r\n", 14, &out),
	    0);
	assert_true(pop3_body_complete(&e));
	assert_int_equal(out.len, 8);
	assert_int_equal(pop3_body_feed(&e, "more\r\n.\r\n", 9, &out), 0);
	assert_int_equal(out.len, 8);
	assert_int_equal(pop3_body_octets(&e), 8);
	assert_int_equal(pop3_body_finish(&e, &out), 0);
	assert_int_equal(out.len, 11);
	assert_memory_equal(out.data, "H: v\r\n\r\n.\r\n", 11);
	buf_deinit(&out);
}

static void
test_body_full_output_fails(void **state)
{
	struct pop3_body	e;
	struct buf		out;

	(void)state;
	buf_init(&out, 4);
	pop3_body_init(&e, false, 0);
	assert_int_equal(pop3_body_feed(&e, "hello\r\n", 7, &out), -ENOBUFS);
	buf_deinit(&out);

	/* Exactly enough room, then nothing left for the terminator. */
	buf_init(&out, 6);
	pop3_body_init(&e, false, 0);
	assert_int_equal(pop3_body_feed(&e, ".abc", 4, &out), 0);
	assert_int_equal(out.len, 5);
	assert_int_equal(pop3_body_finish(&e, &out), -ENOBUFS);
	assert_int_equal(out.len, 5);	/* CRLF and ".\r\n" go together */
	buf_deinit(&out);

	buf_init(&out, 2);
	pop3_body_init(&e, false, 0);
	assert_int_equal(pop3_body_feed(&e, "\n", 1, &out), 0);
	assert_int_equal(pop3_body_finish(&e, &out), -ENOBUFS);
	buf_deinit(&out);
}

/* Tiny deterministic generator (xorshift32): the test must be repeatable. */
static uint32_t
test_body_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* The wire data RETR must produce, before stuffing: CRLF-normalised. */
static size_t
test_body_normalise(const char *in, size_t len, char *dst)
{
	size_t	i, n = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			dst[n++] = '\r';
		dst[n++] = in[i];
	}
	if (len > 0 && in[len - 1] != '\n') {
		dst[n++] = '\r';
		dst[n++] = '\n';
	}
	return n;
}

/* Undoes the stuffing and drops the terminator. */
static size_t
test_body_unstuff(const char *p, size_t len, char *dst)
{
	size_t	i, n = 0;
	bool	at_start = true;

	for (i = 0; i + 3 < len; i++) {
		if (at_start && p[i] == '.')
			i++;
		dst[n++] = p[i];
		at_start = p[i] == '\n';
	}
	return n;
}

static void
test_body_random_messages(void **state)
{
	static const char	 alphabet[] = ".\r\n a";
	struct test_body_result	 ref, r;
	uint32_t		 seed = 0x2545f491;
	size_t			 cuts[64], i, n, round;
	char			*in, *want, *got;

	(void)state;
	in = malloc(TEST_BODY_RANDOM_OCTETS);
	want = malloc(2 * TEST_BODY_RANDOM_OCTETS + 2);
	got = malloc(2 * TEST_BODY_RANDOM_OCTETS + 2);
	assert_non_null(in);
	assert_non_null(want);
	assert_non_null(got);
	test_body_result_init(&ref);
	test_body_result_init(&r);
	for (round = 0; round < 20; round++) {
		for (i = 0; i < TEST_BODY_RANDOM_OCTETS; i++)
			in[i] = alphabet[test_body_rand(&seed) % 5];
		test_body_encode(in, TEST_BODY_RANDOM_OCTETS, false, 0, NULL,
		    0, &ref);
		n = test_body_normalise(in, TEST_BODY_RANDOM_OCTETS, want);
		assert_int_equal(ref.octets, n);
		assert_int_equal(test_body_check_wire(ref.out.data,
		    ref.out.len), n);
		assert_int_equal(test_body_unstuff(ref.out.data, ref.out.len,
		    got), n);
		assert_memory_equal(got, want, n);

		cuts[0] = 0;
		for (i = 1; i < 64; i++)
			cuts[i] = cuts[i - 1] + test_body_rand(&seed) %
			    (TEST_BODY_RANDOM_OCTETS / 64);
		test_body_encode(in, TEST_BODY_RANDOM_OCTETS, false, 0, cuts,
		    64, &r);
		assert_true(test_body_same(&ref, &r));
	}
	buf_deinit(&ref.out);
	buf_deinit(&r.out);
	free(in);
	free(want);
	free(got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_table),
		cmocka_unit_test(test_body_cr_at_chunk_end_is_one_crlf),
		cmocka_unit_test(test_body_feed_after_complete_is_ignored),
		cmocka_unit_test(test_body_full_output_fails),
		cmocka_unit_test(test_body_random_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
