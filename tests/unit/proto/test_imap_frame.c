/* SPDX-License-Identifier: MIT */
/*
 * test_imap_frame.c - unit tests for proto/imap_frame.c. Every input is
 * framed one-shot, at every 2-part split and byte by byte; the events and
 * the bytes read for each must be the same.
 */
#include <assert.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "imap_frame.h"

/* Transcript limit: far above any test input's transcript. */
#define TEST_FRAME_TRACE_MAX_OCTETS	(1024 * 1024)
/* The parser side reads in small pieces, as libetpan's 8 KiB buffer would
 * for big responses; small here so reads span several calls. */
#define TEST_FRAME_READ_OCTETS		7
/* Random multi-part splits tried on the realistic transcript. */
#define TEST_FRAME_RANDOM_SPLITS	300

#define TEST_STR(s)	(s), (sizeof(s) - 1)

#define TEST_GREETING \
	"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN] ready.\r\n"

/* A message body with dot lines, a "{5}" line and a fake tagged line. */
#define TEST_BODY \
	"Subject: t\r\n\r\n.\r\n..x\r\n{5}\r\nA1 OK no\r\n"
static_assert(sizeof(TEST_BODY) - 1 == 37, "TEST_BODY is announced as {37}");

#define TEST_LOGIN_OK	"1 OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in\r\n"
#define TEST_SELECT \
	"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n" \
	"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Flags permitted.\r\n" \
	"* 3 EXISTS\r\n* 0 RECENT\r\n" \
	"* OK [UIDVALIDITY 1700000000] UIDs valid\r\n" \
	"* OK [UIDNEXT 4] Predicted next UID\r\n" \
	"2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"
#define TEST_SIZES \
	"* 1 FETCH (UID 1 RFC822.SIZE 120)\r\n" \
	"* 2 FETCH (UID 2 RFC822.SIZE 37)\r\n" \
	"* 3 FETCH (UID 3 RFC822.SIZE 0)\r\n" \
	"3 OK Fetch completed.\r\n"
#define TEST_FETCH \
	"* 2 FETCH (UID 2 BODY[]<0> {37}\r\n" TEST_BODY ")\r\n" \
	"4 OK Fetch completed.\r\n"
#define TEST_FETCH_EMPTY \
	"* 3 FETCH (UID 3 BODY[] {0}\r\n)\r\n5 OK Fetch completed.\r\n"
#define TEST_STORE \
	"* 2 FETCH (UID 2 FLAGS (\\Deleted))\r\n6 OK Store completed.\r\n"
#define TEST_EXPUNGE	"* 2 EXPUNGE\r\n7 OK Expunge completed.\r\n"
#define TEST_LOGOUT	"* BYE Logging out\r\n8 OK Logout completed.\r\n"

/* A whole session as Dovecot would send it, AUTHENTICATE '+' included. */
#define TEST_TRANSCRIPT \
	TEST_GREETING "+ \r\n" TEST_LOGIN_OK TEST_SELECT TEST_SIZES \
	TEST_FETCH TEST_FETCH_EMPTY TEST_STORE TEST_EXPUNGE TEST_LOGOUT

struct test_frame_opts {
	size_t	max_line;
	size_t	max_group;
	bool	compact_each_read;
};

static const struct test_frame_opts test_frame_defaults = {
	IMAP_FRAME_MAX_LINE_OCTETS, IMAP_FRAME_MAX_GROUP_OCTETS, false
};

/* Reads every ready byte in small pieces and adds them to the trace. */
static void
test_frame_read_all(struct imap_frame *f, struct buf *trace,
    const struct test_frame_opts *o)
{
	char	piece[TEST_FRAME_READ_OCTETS];
	size_t	n;

	assert_int_equal(buf_appendf(trace, " %zu\n",
	    imap_frame_ready_unread(f)), 0);
	while ((n = imap_frame_read(f, piece, sizeof(piece))) > 0) {
		assert_int_equal(buf_append(trace, piece, n), 0);
		if (o->compact_each_read)
			imap_frame_compact(f);
	}
	assert_int_equal(imap_frame_ready_unread(f), 0);
	assert_int_equal(buf_append_str(trace, "\n"), 0);
}

/* Runs the framer until NONE; returns true after an ERROR. */
static bool
test_frame_drain(struct imap_frame *f, struct buf *trace,
    const struct test_frame_opts *o)
{
	struct imap_frame_ev	ev;

	for (;;) {
		imap_frame_next(f, &ev);
		switch (ev.type) {
		case IMAP_FRAME_NONE:
			imap_frame_compact(f);
			return false;
		case IMAP_FRAME_GREETING:
			assert_int_equal(buf_append_str(trace, "GREETING"), 0);
			test_frame_read_all(f, trace, o);
			break;
		case IMAP_FRAME_TAGGED:
			assert_int_equal(buf_appendf(trace, "TAGGED %.*s",
			    (int)ev.text_len, ev.text), 0);
			test_frame_read_all(f, trace, o);
			break;
		case IMAP_FRAME_CONTINUATION:
			assert_int_equal(buf_appendf(trace,
			    "CONTINUATION %.*s\n", (int)ev.text_len, ev.text),
			    0);
			break;
		case IMAP_FRAME_ERROR:
			assert_int_equal(buf_appendf(trace, "ERROR %.*s\n",
			    (int)ev.text_len, ev.text), 0);
			return true;
		}
	}
}

/*
 * Frames in, appended in pieces cut at cuts[0..ncuts) (ascending), and
 * writes the transcript of events and bytes read to trace.
 */
static void
test_frame_run(const char *in, size_t len, const size_t *cuts, size_t ncuts,
    const struct test_frame_opts *o, struct buf *trace)
{
	struct imap_frame	f;
	size_t			from = 0, to, i;
	int			error;

	imap_frame_init(&f, o->max_line, o->max_group);
	buf_reset(trace);
	for (i = 0; i <= ncuts; i++) {
		to = i < ncuts ? cuts[i] : len;
		error = imap_frame_append(&f, in + from, to - from);
		if (error != 0) {
			assert_int_equal(buf_appendf(trace, "APPEND %d\n",
			    error), 0);
			goto out;
		}
		from = to;
		assert_true(f.rd <= f.ready && f.ready <= f.len);
		assert_true(f.len - f.rd <= o->max_group + o->max_line);
		/* After an error, what is buffered depends on the split. */
		if (test_frame_drain(&f, trace, o))
			goto out;
	}
	assert_int_equal(buf_appendf(trace, "PENDING %zu\n",
	    imap_frame_pending(&f)), 0);
out:
	imap_frame_deinit(&f);
}

static void
test_frame_expect_trace(const struct buf *want, const struct buf *got,
    const char *how, size_t at)
{
	if (want->len == got->len &&
	    memcmp(want->data, got->data, want->len) == 0)
		return;
	print_error("%s split at %zu: got\n%.*s\nwanted\n%.*s\n", how, at,
	    (int)got->len, got->data, (int)want->len, want->data);
	fail();
}

/* One-shot must give want; every 2-part split and byte by byte the same. */
static void
test_frame_check_splits(const char *in, size_t len,
    const struct test_frame_opts *o, const struct buf *want)
{
	struct buf	got;
	size_t		cuts[1], i;
	size_t		*bytes;

	buf_init(&got, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_run(in, len, NULL, 0, o, &got);
	test_frame_expect_trace(want, &got, "one-shot", 0);
	for (i = 0; i <= len; i++) {
		cuts[0] = i;
		test_frame_run(in, len, cuts, 1, o, &got);
		test_frame_expect_trace(want, &got, "2-part", i);
	}
	bytes = test_malloc((len + 1) * sizeof(*bytes));
	for (i = 0; i < len; i++)
		bytes[i] = i + 1;
	test_frame_run(in, len, bytes, len, o, &got);
	test_frame_expect_trace(want, &got, "byte-by-byte", 0);
	test_free(bytes);
	buf_deinit(&got);
}

static void
test_frame_want(struct buf *want, const char *event, const char *bytes)
{
	assert_int_equal(buf_appendf(want, "%s %zu\n%s\n", event,
	    strlen(bytes), bytes), 0);
}

static void
test_frame_want_line(struct buf *want, const char *line)
{
	assert_int_equal(buf_appendf(want, "%s\n", line), 0);
}

static void
test_frame_check(const char *in, size_t len, const struct test_frame_opts *o,
    const struct buf *want)
{
	struct test_frame_opts	compacting = *o;

	test_frame_check_splits(in, len, o, want);
	compacting.compact_each_read = true;
	test_frame_check_splits(in, len, &compacting, want);
}

static void
test_frame_greeting(void **state)
{
	struct buf	want;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_want(&want, "GREETING", TEST_GREETING);
	test_frame_want_line(&want, "PENDING 0");
	test_frame_check(TEST_STR(TEST_GREETING), &test_frame_defaults,
	    &want);

	/* A greeting without its LF is not ready. */
	buf_reset(&want);
	test_frame_want_line(&want, "PENDING 10");
	test_frame_check(TEST_STR("* OK ready"), &test_frame_defaults, &want);

	/* A BYE greeting is a greeting too; the parser decides. */
	buf_reset(&want);
	test_frame_want(&want, "GREETING", "* BYE go away\r\n");
	test_frame_want_line(&want, "PENDING 0");
	test_frame_check(TEST_STR("* BYE go away\r\n"), &test_frame_defaults,
	    &want);
	buf_deinit(&want);
}

static void
test_frame_pipelined_groups(void **state)
{
	static const char	 in[] =
	    "* OK hi\r\n* 1 EXISTS\r\nA1 OK done\r\nA2 OK x\r\n* 2 EXISTS\r\n";
	struct imap_frame	 f;
	struct imap_frame_ev	 ev;
	struct buf		 want;
	char			 out[64];

	(void)state;
	imap_frame_init(&f, 1024, 4096);
	assert_int_equal(imap_frame_append(&f, in, sizeof(in) - 1), 0);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_GREETING);
	assert_int_equal(imap_frame_ready_unread(&f), 9);
	assert_int_equal(imap_frame_read(&f, out, sizeof(out)), 9);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_TAGGED);
	assert_int_equal(ev.text_len, 2);
	assert_memory_equal(ev.text, "A1", 2);
	assert_int_equal(f.ready, 9 + 12 + 12);
	assert_int_equal(imap_frame_read(&f, out, sizeof(out)), 24);
	assert_memory_equal(out, "* 1 EXISTS\r\nA1 OK done\r\n", 24);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_TAGGED);
	assert_memory_equal(ev.text, "A2", 2);
	assert_int_equal(imap_frame_ready_unread(&f), 9);
	assert_int_equal(imap_frame_read(&f, out, 4), 4);
	assert_int_equal(imap_frame_read(&f, out + 4, sizeof(out)), 5);
	assert_memory_equal(out, "A2 OK x\r\n", 9);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_NONE);
	assert_int_equal(imap_frame_pending(&f), 12);
	assert_int_equal(imap_frame_read(&f, out, sizeof(out)), 0);
	imap_frame_deinit(&f);

	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want(&want, "TAGGED A1", "* 1 EXISTS\r\nA1 OK done\r\n");
	test_frame_want(&want, "TAGGED A2", "A2 OK x\r\n");
	test_frame_want_line(&want, "PENDING 12");
	test_frame_check(in, sizeof(in) - 1, &test_frame_defaults, &want);
	buf_deinit(&want);
}

static void
test_frame_literals(void **state)
{
	static const char	in[] = "* OK hi\r\n"
	    "* 1 FETCH (UID 7 BODY[] {14}\r\nab\r\n{3}\r\nxyz\r\n)\r\n"
	    "* 2 FETCH (BODY[HEADER] {5}\r\nab\r\n\r BODY[TEXT] {3}\r\nxyz)\r\n"
	    "* 3 FETCH (BODY[] {14}\r\n\r\nA1 OK fake\r\n)\r\n"
	    "* 4 FETCH (BINARY[] ~{2}\r\n\0\n BODY[1] {4+}\r\n}\r\n{)\r\n"
	    "A1 OK done\r\n";
	struct buf		want;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	/* The NUL in the literal8 ends %s: compare by length instead. */
	assert_int_equal(buf_appendf(&want, "TAGGED A1 %zu\n",
	    sizeof(in) - 1 - 9), 0);
	assert_int_equal(buf_append(&want, in + 9, sizeof(in) - 1 - 9), 0);
	test_frame_want_line(&want, "");
	test_frame_want_line(&want, "PENDING 0");
	test_frame_check(in, sizeof(in) - 1, &test_frame_defaults, &want);
	buf_deinit(&want);
}

static void
test_frame_empty_literal(void **state)
{
	static const char	in[] = "* OK hi\r\n"
	    "* 1 FETCH (BODY[] {0}\r\n)\r\nA1 OK x\r\n"
	    "* 2 FETCH (BODY[] {0}\r\n";
	struct buf		want;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want(&want, "TAGGED A1",
	    "* 1 FETCH (BODY[] {0}\r\n)\r\nA1 OK x\r\n");
	test_frame_want_line(&want, "PENDING 23");
	test_frame_check(in, sizeof(in) - 1, &test_frame_defaults, &want);
	buf_deinit(&want);
}

static void
test_frame_not_literals(void **state)
{
	static const char	in[] = "* OK hi\r\n"
	    "* OK {abc}\r\n* OK {}\r\n* OK 5}\r\n* OK {5} x\r\n* OK {5+x}\r\n"
	    "* OK {+}\r\nA1 OK {5\r\n";
	struct buf		want;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want(&want, "TAGGED A1", in + 9);
	test_frame_want_line(&want, "PENDING 0");
	test_frame_check(in, sizeof(in) - 1, &test_frame_defaults, &want);
	buf_deinit(&want);
}

static void
test_frame_bare_lf(void **state)
{
	static const char	in[] = "* OK hi\n* 1 FETCH (BODY[] {3}\nab\n)\n"
	    "A1 OK x\n+ go\n";
	struct buf		want;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_want(&want, "GREETING", "* OK hi\n");
	test_frame_want(&want, "TAGGED A1",
	    "* 1 FETCH (BODY[] {3}\nab\n)\nA1 OK x\n");
	test_frame_want_line(&want, "CONTINUATION go");
	test_frame_want_line(&want, "PENDING 0");
	test_frame_check(in, sizeof(in) - 1, &test_frame_defaults, &want);
	buf_deinit(&want);
}

static void
test_frame_continuations(void **state)
{
	static const char	in[] = "* OK hi\r\n"
	    "+ go ahead\r\n+ \r\n+\r\n+\n+ \n+dGVzdA==\r\n"
	    "* 1 EXISTS\r\n+ mid group\r\nA1 OK done\r\n"
	    "+ {5}\r\nab\r\nc tail\r\n2 OK x\r\n";
	struct buf		want;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want_line(&want, "CONTINUATION go ahead");
	test_frame_want_line(&want, "CONTINUATION ");
	test_frame_want_line(&want, "CONTINUATION ");
	test_frame_want_line(&want, "CONTINUATION ");
	test_frame_want_line(&want, "CONTINUATION ");
	test_frame_want_line(&want, "CONTINUATION dGVzdA==");
	/* The '+' line is cut out of the group around it. */
	test_frame_want_line(&want, "CONTINUATION mid group");
	test_frame_want(&want, "TAGGED A1", "* 1 EXISTS\r\nA1 OK done\r\n");
	/* Known ambiguity: "{5}" in the text is taken for a literal. */
	test_frame_want_line(&want, "CONTINUATION {5}\r\nab\r\nc tail");
	test_frame_want(&want, "TAGGED 2", "2 OK x\r\n");
	test_frame_want_line(&want, "PENDING 0");
	test_frame_check(in, sizeof(in) - 1, &test_frame_defaults, &want);
	buf_deinit(&want);
}

static void
test_frame_continuation_text_stays_valid(void **state)
{
	static const char	 in[] = "* OK hi\r\n* 1 EXISTS\r\n"
	    "+ Y2hhbGxlbmdl\r\n* 2 EXISTS\r\nA1 OK x\r\n";
	struct imap_frame	 f;
	struct imap_frame_ev	 ev;
	char			 out[64];

	(void)state;
	imap_frame_init(&f, 1024, 4096);
	assert_int_equal(imap_frame_append(&f, in, sizeof(in) - 1), 0);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_GREETING);
	assert_int_equal(imap_frame_read(&f, out, sizeof(out)), 9);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_CONTINUATION);
	assert_int_equal(ev.text_len, 12);
	assert_memory_equal(ev.text, "Y2hhbGxlbmdl", 12);
	/* The cut moved the tail; only unread and pending data remain. */
	assert_int_equal(imap_frame_ready_unread(&f), 0);
	assert_int_equal(imap_frame_pending(&f), 12 + 12 + 9);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_TAGGED);
	assert_int_equal(imap_frame_read(&f, out, sizeof(out)), 33);
	assert_memory_equal(out, "* 1 EXISTS\r\n* 2 EXISTS\r\nA1 OK x\r\n",
	    33);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_NONE);
	assert_int_equal(imap_frame_pending(&f), 0);
	imap_frame_deinit(&f);
}

static void
test_frame_transcript_all_splits(void **state)
{
	struct buf	want;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_want(&want, "GREETING", TEST_GREETING);
	test_frame_want_line(&want, "CONTINUATION ");
	test_frame_want(&want, "TAGGED 1", TEST_LOGIN_OK);
	test_frame_want(&want, "TAGGED 2", TEST_SELECT);
	test_frame_want(&want, "TAGGED 3", TEST_SIZES);
	test_frame_want(&want, "TAGGED 4", TEST_FETCH);
	test_frame_want(&want, "TAGGED 5", TEST_FETCH_EMPTY);
	test_frame_want(&want, "TAGGED 6", TEST_STORE);
	test_frame_want(&want, "TAGGED 7", TEST_EXPUNGE);
	test_frame_want(&want, "TAGGED 8", TEST_LOGOUT);
	test_frame_want_line(&want, "PENDING 0");
	test_frame_check(TEST_STR(TEST_TRANSCRIPT), &test_frame_defaults,
	    &want);
	buf_deinit(&want);
}

/* Tiny deterministic generator (xorshift32): the test must be repeatable. */
static uint32_t
test_frame_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void
test_frame_transcript_random_splits(void **state)
{
	static const char	in[] = TEST_TRANSCRIPT;
	struct buf		want, got;
	size_t			cuts[16], i, round;
	uint32_t		seed = 0x9e3779b9;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	buf_init(&got, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_run(in, sizeof(in) - 1, NULL, 0, &test_frame_defaults,
	    &want);
	for (round = 0; round < TEST_FRAME_RANDOM_SPLITS; round++) {
		cuts[0] = test_frame_rand(&seed) % 64;
		for (i = 1; i < 16; i++)
			cuts[i] = cuts[i - 1] + test_frame_rand(&seed) % 96;
		for (i = 0; i < 16; i++)
			if (cuts[i] > sizeof(in) - 1)
				cuts[i] = sizeof(in) - 1;
		test_frame_run(in, sizeof(in) - 1, cuts, 16,
		    &test_frame_defaults, &got);
		test_frame_expect_trace(&want, &got, "random", round);
	}
	buf_deinit(&want);
	buf_deinit(&got);
}

static void
test_frame_line_limit(void **state)
{
	/* 32 octets with CRLF: the limit exactly; then one more. */
	static const char		 ok[] = "* OK hi\r\n"
	    "A1 OK 456789012345678901234567\r\n";
	static const char		 bad[] = "* OK hi\r\n"
	    "A1 OK 4567890123456789012345678\r\n";
	static const char		 partial[] = "* OK hi\r\n"
	    "A1 OK 45678901234567890123456789";
	static const struct test_frame_opts	o = { 32, 4096, false };
	struct buf			 want;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want(&want, "TAGGED A1", ok + 9);
	test_frame_want_line(&want, "PENDING 0");
	test_frame_check(ok, sizeof(ok) - 1, &o, &want);

	buf_reset(&want);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want_line(&want, "ERROR IMAP line too long");
	test_frame_check(bad, sizeof(bad) - 1, &o, &want);

	/* 32 octets and no LF yet: no LF can make that line fit. */
	buf_reset(&want);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want_line(&want, "ERROR IMAP line too long");
	test_frame_check(partial, sizeof(partial) - 1, &o, &want);

	/* 31 octets without LF may still end in time. */
	buf_reset(&want);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want_line(&want, "PENDING 31");
	test_frame_check(partial, sizeof(partial) - 2, &o, &want);

	/* Literal octets do not count toward the line. */
	buf_reset(&want);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want(&want, "TAGGED A1", "* 1 FETCH (BODY[] {40}\r\n"
	    "0123456789012345678901234567890123456789)\r\nA1 OK x\r\n");
	test_frame_want_line(&want, "PENDING 0");
	test_frame_check(TEST_STR("* OK hi\r\n* 1 FETCH (BODY[] {40}\r\n"
	    "0123456789012345678901234567890123456789)\r\nA1 OK x\r\n"), &o,
	    &want);
	buf_deinit(&want);
}

/*
 * A PERMANENTFLAGS list libetpan 1.9.4 would crash on never reaches it;
 * every list a real server sends does, and so does the same text inside a
 * literal (message data).
 */
static void
test_frame_permanentflags(void **state)
{
	static const char * const	 good[] = {
		"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] ok\r\n",
		"* OK [PERMANENTFLAGS ()] read-only\r\n",
		"* OK [permanentflags ($Forwarded NonJunk)] x\r\n",
		"* OK [PERMANENTFLAGS (\\Seen\r\n",	/* parses, fails: no crash */
		"* OK [PERMANENTFLAGSX (\r\n",	/* another code */
		"* OK [UIDNEXT 4] PERMANENTFLAGS (\r\n",	/* text, not a code */
		"* OK [PERMANENTFLAGS\r\n",
	};
	static const char * const	 bad[] = {
		"* OK [PERMANENTFLAGS (\r\n",
		"* OK [PERMANENTFLAGS (\n",
		"* OK [ \tpermanentflags\t( \\Seen)] x\r\n",
		"* OK [PERMANENTFLAGS (\\\r\n",
		"* OK [PERMANENTFLAGS (*)] x\r\n",
		"* OK [PERMANENTFLAGS (]\r\n",
		"* OK [ALERT] [PERMANENTFLAGS ({3}\r\n",
	};
	static const char		 literal[] =
	    "* 1 FETCH (BODY[] {23}\r\n[PERMANENTFLAGS (\r\nbody)\r\n"
	    "A1 OK x\r\n";
	struct buf			 want;
	char				 in[256];
	int				 n;
	size_t				 i;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		buf_reset(&want);
		n = snprintf(in, sizeof(in), "* OK hi\r\n%sA1 OK x\r\n",
		    good[i]);
		assert_true(n > 0 && (size_t)n < sizeof(in));
		test_frame_want(&want, "GREETING", "* OK hi\r\n");
		test_frame_want(&want, "TAGGED A1", in + 9);
		test_frame_want_line(&want, "PENDING 0");
		test_frame_check(in, (size_t)n, &test_frame_defaults, &want);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&want);
		n = snprintf(in, sizeof(in), "* OK hi\r\n%sA1 OK x\r\n",
		    bad[i]);
		assert_true(n > 0 && (size_t)n < sizeof(in));
		test_frame_want(&want, "GREETING", "* OK hi\r\n");
		test_frame_want_line(&want,
		    "ERROR IMAP PERMANENTFLAGS list malformed");
		test_frame_check(in, (size_t)n, &test_frame_defaults, &want);
	}
	/* In the greeting too. */
	buf_reset(&want);
	test_frame_want_line(&want, "ERROR IMAP PERMANENTFLAGS list malformed");
	test_frame_check(TEST_STR("* OK [PERMANENTFLAGS (\r\n"),
	    &test_frame_defaults, &want);
	/* Inside a literal it is data. */
	buf_reset(&want);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want(&want, "TAGGED A1", literal);
	test_frame_want_line(&want, "PENDING 0");
	n = snprintf(in, sizeof(in), "* OK hi\r\n%s", literal);
	assert_true(n > 0 && (size_t)n < sizeof(in));
	test_frame_check(in, (size_t)n, &test_frame_defaults, &want);
	buf_deinit(&want);
}

/* A literal size libetpan would allocate mid-line is bounded too. */
static void
test_frame_inline_literal(void **state)
{
	static const struct test_frame_opts	o = { 1024, 4096, false };
	struct buf				want;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want(&want, "TAGGED A1",
	    "* 1 FETCH (X {4096}y)\r\nA1 OK {1+} x\r\n");
	test_frame_want_line(&want, "PENDING 0");
	test_frame_check(TEST_STR("* OK hi\r\n* 1 FETCH (X {4096}y)\r\n"
	    "A1 OK {1+} x\r\n"), &o, &want);
	buf_reset(&want);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want_line(&want, "ERROR IMAP literal too large");
	test_frame_check(TEST_STR("* OK hi\r\n* 1 FETCH (X {4097}y)\r\n"
	    "A1 OK x\r\n"), &o, &want);
	buf_reset(&want);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want_line(&want, "ERROR IMAP literal too large");
	test_frame_check(TEST_STR("* OK hi\r\n* 1 FETCH (BODY[] "
	    "{166666666666666666666662}\x82y)\r\nA1 OK x\r\n"), &o, &want);
	buf_deinit(&want);
}

static void
test_frame_literal_limit(void **state)
{
	static const struct test_frame_opts	o = { 1024, 4096, false };
	struct buf				want;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want_line(&want, "ERROR IMAP literal too large");
	test_frame_check(TEST_STR("* OK hi\r\n"
	    "* 1 FETCH (BODY[] {99999999999}\r\nabc"), &o, &want);

	/* More digits than uint64_t holds. */
	buf_reset(&want);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want_line(&want, "ERROR IMAP literal too large");
	test_frame_check(TEST_STR("* OK hi\r\n"
	    "* 1 X {999999999999999999999999999}\r\n"), &o, &want);

	/* A literal of exactly max_group fits alone, but not in a group. */
	buf_reset(&want);
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want_line(&want, "ERROR IMAP response group too large");
	test_frame_check(TEST_STR("* OK hi\r\n* {4096}\r\n"), &o, &want);
	buf_deinit(&want);
}

static void
test_frame_group_limit(void **state)
{
	static const struct test_frame_opts	o = { 64, 44, false };
	struct buf				want;
	struct imap_frame			f;
	struct imap_frame_ev			ev;

	(void)state;
	buf_init(&want, TEST_FRAME_TRACE_MAX_OCTETS);
	/* 3 * 12 + 7 = 43 octets fit in 44; 3 * 12 + 9 = 45 do not. */
	test_frame_want(&want, "GREETING", "* OK hi\r\n");
	test_frame_want(&want, "TAGGED A1", "* 1 EXISTS\r\n* 2 EXISTS\r\n"
	    "* 3 EXISTS\r\nA1 OK\r\n");
	test_frame_want_line(&want, "ERROR IMAP response group too large");
	test_frame_check(TEST_STR("* OK hi\r\n"
	    "* 1 EXISTS\r\n* 2 EXISTS\r\n* 3 EXISTS\r\nA1 OK\r\n"
	    "* 1 EXISTS\r\n* 2 EXISTS\r\n* 3 EXISTS\r\nA2 OK x\r\n"), &o,
	    &want);

	/* Failed stays failed. */
	imap_frame_init(&f, 64, 20);
	assert_int_equal(imap_frame_append(&f,
	    TEST_STR("* OK\r\n* 1 X\r\n* 2 X\r\n* 3 X\r\n* 4 X\r\n* 5 X\r\n")),
	    0);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_GREETING);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_ERROR);
	assert_true(f.failed);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_ERROR);
	assert_non_null(ev.text);
	assert_int_equal(ev.text_len, strlen(ev.text));
	imap_frame_deinit(&f);
	buf_deinit(&want);
}

static void
test_frame_append_limit(void **state)
{
	struct imap_frame	f;
	char			junk[64];

	(void)state;
	memset(junk, 'x', sizeof(junk));
	imap_frame_init(&f, 16, 32);
	assert_int_equal(imap_frame_append(&f, junk, 49), -ENOBUFS);
	assert_int_equal(f.len, 0);
	assert_int_equal(imap_frame_append(&f, junk, 40), 0);
	assert_int_equal(imap_frame_append(&f, junk, 9), -ENOBUFS);
	assert_int_equal(imap_frame_append(&f, junk, 8), 0);
	assert_int_equal(imap_frame_append(&f, junk, 0), 0);
	assert_int_equal(f.len, 48);
	assert_int_equal(f.peak, 48);
	assert_true(f.cap <= 48);	/* storage respects the limit too */
	imap_frame_deinit(&f);
}

static void
test_frame_compact(void **state)
{
	struct imap_frame	f;
	struct imap_frame_ev	ev;
	char			out[64];

	(void)state;
	imap_frame_init(&f, 1024, 4096);
	assert_int_equal(imap_frame_append(&f,
	    TEST_STR("* OK hello\r\n* 1 FETCH (BODY[] {10}\r\nabc")), 0);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_GREETING);
	/* Read part of the greeting, compact, read the rest. */
	assert_int_equal(imap_frame_read(&f, out, 5), 5);
	imap_frame_compact(&f);
	assert_int_equal(f.rd, 0);
	assert_int_equal(imap_frame_ready_unread(&f), 7);
	assert_int_equal(imap_frame_read(&f, out + 5, sizeof(out)), 7);
	assert_memory_equal(out, "* OK hello\r\n", 12);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_NONE);	/* inside the literal */
	imap_frame_compact(&f);
	assert_int_equal(f.len, 27);
	assert_int_equal(f.ready, 0);
	assert_int_equal(f.scan, 27);
	assert_int_equal(f.literal_left, 7);
	assert_int_equal(imap_frame_append(&f,
	    TEST_STR("defghij)\r\nA1 OK\r\n")), 0);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_TAGGED);
	assert_int_equal(imap_frame_read(&f, out, sizeof(out)), 44);
	assert_memory_equal(out,
	    "* 1 FETCH (BODY[] {10}\r\nabcdefghij)\r\nA1 OK\r\n", 44);
	imap_frame_compact(&f);
	assert_int_equal(f.len, 0);
	assert_int_equal(f.ready, 0);
	assert_int_equal(f.group_start, 0);
	assert_int_equal(f.line_start, 0);
	assert_int_equal(f.phys_start, 0);
	imap_frame_compact(&f);		/* nothing to drop: harmless */
	imap_frame_deinit(&f);
}

static void
test_frame_reset(void **state)
{
	struct imap_frame	f;
	struct imap_frame_ev	ev;
	char			out[64];

	(void)state;
	imap_frame_init(&f, 1024, 4096);
	assert_int_equal(imap_frame_append(&f,
	    TEST_STR("* OK hi\r\n1 OK Begin TLS\r\n* injected\r\n")), 0);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_GREETING);
	assert_int_equal(imap_frame_read(&f, out, sizeof(out)), 9);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_TAGGED);
	assert_int_equal(imap_frame_read(&f, out, sizeof(out)), 16);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_NONE);
	/* STARTTLS: plaintext after the tagged OK is an injection. */
	assert_int_equal(imap_frame_pending(&f), 12);
	imap_frame_reset(&f);
	assert_int_equal(imap_frame_pending(&f), 0);
	assert_int_equal(imap_frame_ready_unread(&f), 0);
	/* No second greeting after TLS starts. */
	assert_int_equal(imap_frame_append(&f, TEST_STR("2 OK caps\r\n")), 0);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_TAGGED);
	assert_memory_equal(ev.text, "2", 1);
	assert_int_equal(imap_frame_read(&f, out, sizeof(out)), 11);
	imap_frame_deinit(&f);
}

/* A 90 KiB literal: storage grows past its first allocation, bytes intact. */
static void
test_frame_big_literal(void **state)
{
	static char		body[90 * 1024];
	static char		out[sizeof(body) + 64];
	struct imap_frame	f;
	struct imap_frame_ev	ev;
	char			line[64];
	size_t			i, n, off, total;

	(void)state;
	for (i = 0; i < sizeof(body); i++)
		body[i] = "ab\r\n.{5}"[i % 9];
	imap_frame_init(&f, 1024, 100 * 1024);
	assert_int_equal(imap_frame_append(&f, TEST_STR("* OK hi\r\n")), 0);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_GREETING);
	assert_int_equal(imap_frame_read(&f, out, sizeof(out)), 9);
	n = (size_t)snprintf(line, sizeof(line), "* 1 FETCH (BODY[] {%zu}\r\n",
	    sizeof(body));
	assert_int_equal(imap_frame_append(&f, line, n), 0);
	/* One append of most of the literal, then the rest in pieces. */
	assert_int_equal(imap_frame_append(&f, body, 80 * 1024), 0);
	for (off = 80 * 1024; off < sizeof(body); off += 1000) {
		imap_frame_next(&f, &ev);
		assert_int_equal(ev.type, IMAP_FRAME_NONE);
		assert_int_equal(imap_frame_append(&f, body + off,
		    sizeof(body) - off < 1000 ? sizeof(body) - off : 1000), 0);
	}
	assert_int_equal(imap_frame_append(&f, TEST_STR(")\r\nA1 OK\r\n")), 0);
	imap_frame_next(&f, &ev);
	assert_int_equal(ev.type, IMAP_FRAME_TAGGED);
	total = imap_frame_read(&f, out, sizeof(out));
	assert_int_equal(total, n + sizeof(body) + 10);
	assert_memory_equal(out, line, n);
	assert_memory_equal(out + n, body, sizeof(body));
	assert_memory_equal(out + n + sizeof(body), ")\r\nA1 OK\r\n", 10);
	assert_true(f.cap <= 1024 + 100 * 1024);
	imap_frame_deinit(&f);
}

/*
 * A caller that reads but never compacts: append compacts by itself, so
 * memory stays within the limit however much passes through.
 */
static void
test_frame_append_compacts_when_full(void **state)
{
	static const char	resp[] = "* 1 EXISTS\r\nA1 OK done\r\n";
	struct imap_frame	f;
	struct imap_frame_ev	ev;
	char			out[64];
	size_t			i, groups = 0;

	(void)state;
	imap_frame_init(&f, 64, 256);
	assert_int_equal(imap_frame_append(&f, TEST_STR("* OK hi\r\n")), 0);
	for (i = 0; i < 1000; i++) {
		for (;;) {
			imap_frame_next(&f, &ev);
			if (ev.type == IMAP_FRAME_NONE)
				break;
			assert_true(ev.type == IMAP_FRAME_GREETING ||
			    ev.type == IMAP_FRAME_TAGGED);
			while (imap_frame_read(&f, out, sizeof(out)) > 0)
				;
			groups++;
		}
		assert_int_equal(imap_frame_append(&f, resp, sizeof(resp) - 1),
		    0);
		assert_true(f.cap <= 64 + 256);
	}
	assert_int_equal(groups, 1000);	/* greeting + 999 groups so far */
	assert_true(f.peak <= 64 + 256);
	imap_frame_deinit(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_greeting),
		cmocka_unit_test(test_frame_pipelined_groups),
		cmocka_unit_test(test_frame_literals),
		cmocka_unit_test(test_frame_empty_literal),
		cmocka_unit_test(test_frame_not_literals),
		cmocka_unit_test(test_frame_bare_lf),
		cmocka_unit_test(test_frame_continuations),
		cmocka_unit_test(test_frame_continuation_text_stays_valid),
		cmocka_unit_test(test_frame_transcript_all_splits),
		cmocka_unit_test(test_frame_transcript_random_splits),
		cmocka_unit_test(test_frame_line_limit),
		cmocka_unit_test(test_frame_literal_limit),
		cmocka_unit_test(test_frame_permanentflags),
		cmocka_unit_test(test_frame_inline_literal),
		cmocka_unit_test(test_frame_group_limit),
		cmocka_unit_test(test_frame_append_limit),
		cmocka_unit_test(test_frame_compact),
		cmocka_unit_test(test_frame_reset),
		cmocka_unit_test(test_frame_big_literal),
		cmocka_unit_test(test_frame_append_compacts_when_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
