/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pop3_body.c - libFuzzer target for proto/pop3_body.c. Byte 0 picks
 * RETR or TOP and its line count, byte 1 the number of split bytes that
 * follow; the rest is the message. Oracles: chunked == one-shot == byte by
 * byte; an output of exactly the wire size suffices, a smaller one fails;
 * the wire format is valid; unstuffing gives the expected data.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pop3_body.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Split bytes at most (each is one chunk length, used in a cycle). */
#define FUZZ_BODY_MAX_SPLIT_BYTES	8
/* Line count byte value that stands for "more lines than any message". */
#define FUZZ_BODY_TOP_HUGE		127

struct fuzz_body_out {
	struct buf	wire;
	uint64_t	octets;
	bool		is_complete;
};

#define FUZZ_BODY_CHECK(cond)	do { if (!(cond)) abort(); } while (0)

/*
 * Encodes msg in chunks of the given lengths (cycled; none = one-shot) into
 * an output of at most max octets. Returns 0 or the feed/finish error.
 */
static int
fuzz_body_encode(const char *msg, size_t len, bool is_top, uint32_t k,
    const uint8_t *splits, size_t nsplits, size_t max,
    struct fuzz_body_out *o)
{
	struct pop3_body	e;
	size_t			off = 0, n, i = 0;
	int			error;

	buf_init(&o->wire, max);
	pop3_body_init(&e, is_top, k);
	while (off < len) {
		n = nsplits == 0 ? len - off :
		    (size_t)splits[i++ % nsplits] + 1;
		if (n > len - off)
			n = len - off;
		if ((error = pop3_body_feed(&e, msg + off, n, &o->wire)) != 0)
			return error;
		off += n;
	}
	o->is_complete = pop3_body_complete(&e);
	error = pop3_body_finish(&e, &o->wire);
	o->octets = pop3_body_octets(&e);
	return error;
}

static bool
fuzz_body_same(const struct fuzz_body_out *a, const struct fuzz_body_out *b)
{
	return a->wire.len == b->wire.len && a->octets == b->octets &&
	    a->is_complete == b->is_complete &&
	    memcmp(a->wire.data, b->wire.data, a->wire.len) == 0;
}

/* What the data must be before stuffing: CRLF-normalised, cut for TOP. */
static size_t
fuzz_body_expected(const char *msg, size_t len, bool is_top, uint32_t k,
    char *dst)
{
	size_t	i, n = 0, line = 0;
	bool	in_body = false;

	for (i = 0; i < len; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			dst[n++] = '\r';
		dst[n++] = msg[i];
		if (msg[i] != '\n' || !is_top)
			continue;
		if (in_body) {
			if (--k == 0)
				return n;
		} else if (n - line == 2) {
			in_body = true;
			if (k == 0)
				return n;
		}
		line = n;
	}
	if (len > 0 && msg[len - 1] != '\n') {
		dst[n++] = '\r';
		dst[n++] = '\n';
	}
	return n;
}

/*
 * Checks the wire format and undoes the stuffing into dst. Returns the data
 * length without the terminator.
 */
static size_t
fuzz_body_unstuff(const char *p, size_t len, char *dst)
{
	size_t	i, n = 0;
	bool	at_start = true;

	/* The terminator, after a CRLF unless the data is empty. */
	FUZZ_BODY_CHECK(len >= 3 && memcmp(p + len - 3, ".\r\n", 3) == 0);
	FUZZ_BODY_CHECK(len == 3 || (len >= 5 && p[len - 5] == '\r' &&
	    p[len - 4] == '\n'));
	for (i = 0; i + 3 < len; i++) {
		if (at_start && p[i] == '.') {
			/* A stuffed line: never ".\r\n" (an early end). */
			i++;
			FUZZ_BODY_CHECK(i + 3 < len && !(p[i] == '\r' &&
			    p[i + 1] == '\n'));
		}
		/* Every LF on the wire ends a CRLF. */
		if (p[i] == '\n')
			FUZZ_BODY_CHECK(i > 0 && p[i - 1] == '\r');
		dst[n++] = p[i];
		at_start = p[i] == '\n';
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_body_out	 one, chunked, bytewise;
	const uint8_t		*splits;
	const char		*msg;
	size_t			 nsplits, len, want_len, got_len, small_max;
	char			*want, *got;
	uint8_t			 one_octet = 0;
	bool			 is_top;
	uint32_t		 k;

	if (size < 2)
		return 0;
	is_top = (data[0] & 1) != 0;
	k = data[0] >> 1;
	if (k == FUZZ_BODY_TOP_HUGE)
		k = UINT32_MAX;
	nsplits = data[1] % (FUZZ_BODY_MAX_SPLIT_BYTES + 1);
	if (size - 2 < nsplits)
		return 0;
	splits = data + 2;
	msg = (const char *)data + 2 + nsplits;
	len = size - 2 - nsplits;

	/* The documented worst case is always enough. */
	FUZZ_BODY_CHECK(fuzz_body_encode(msg, len, is_top, k, NULL, 0,
	    POP3_BODY_MAX_EXPANSION * len + POP3_BODY_FINISH_MAX_OCTETS,
	    &one) == 0);
	/* Exactly the wire size is enough, chunked or not; one less is not. */
	FUZZ_BODY_CHECK(fuzz_body_encode(msg, len, is_top, k, splits, nsplits,
	    one.wire.len, &chunked) == 0);
	FUZZ_BODY_CHECK(fuzz_body_encode(msg, len, is_top, k, &one_octet, 1,
	    one.wire.len, &bytewise) == 0);
	FUZZ_BODY_CHECK(fuzz_body_same(&one, &chunked));
	FUZZ_BODY_CHECK(fuzz_body_same(&one, &bytewise));
	buf_deinit(&chunked.wire);
	FUZZ_BODY_CHECK(fuzz_body_encode(msg, len, is_top, k, splits, nsplits,
	    one.wire.len - 1, &chunked) == -ENOBUFS);
	FUZZ_BODY_CHECK(chunked.wire.len < one.wire.len);
	/* Any smaller limit fails too, and never writes past it. */
	small_max = nsplits > 0 ? one.wire.len * splits[0] / 256 :
	    one.wire.len / 2;
	buf_deinit(&bytewise.wire);
	FUZZ_BODY_CHECK(fuzz_body_encode(msg, len, is_top, k, &one_octet, 1,
	    small_max, &bytewise) == -ENOBUFS);
	FUZZ_BODY_CHECK(bytewise.wire.len <= small_max);

	want = malloc(2 * len + 2);
	got = malloc(one.wire.len);
	FUZZ_BODY_CHECK(want != NULL && got != NULL);
	want_len = fuzz_body_expected(msg, len, is_top, k, want);
	got_len = fuzz_body_unstuff(one.wire.data, one.wire.len, got);
	FUZZ_BODY_CHECK(got_len == want_len);
	FUZZ_BODY_CHECK(memcmp(got, want, want_len) == 0);
	FUZZ_BODY_CHECK(one.octets == got_len);
	FUZZ_BODY_CHECK(!one.is_complete || is_top);

	free(want);
	free(got);
	buf_deinit(&one.wire);
	buf_deinit(&chunked.wire);
	buf_deinit(&bytewise.wire);
	return 0;
}
