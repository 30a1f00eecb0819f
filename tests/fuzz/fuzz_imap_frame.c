/* SPDX-License-Identifier: MIT */
/*
 * fuzz_imap_frame.c - libFuzzer target for proto/imap_frame.c. Byte 0 picks
 * the limits, byte 1 the group limit, byte 2 the chunking; the rest is what
 * the IMAP server sends. Oracles: chunked framing gives the same events and
 * bytes as whole-input framing; the limits hold; no byte is lost.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_frame.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Limits when byte 0 asks for large ones: above any fuzz input. */
#define FUZZ_FRAME_BIG_LINE_OCTETS	1024
#define FUZZ_FRAME_BIG_GROUP_OCTETS	(64 * 1024)
/* Small limits: line 8..71 octets, so fuzz inputs reach them. */
#define FUZZ_FRAME_SMALL_LINE_MIN	8
#define FUZZ_FRAME_SMALL_LINE_SPAN	64
/* The parser reads ready bytes in pieces of this size. */
#define FUZZ_FRAME_READ_OCTETS		13
/* Transcript limit: events and bytes are at most a few times the input. */
#define FUZZ_FRAME_TRACE_MAX_OCTETS	(16 * 1024 * 1024)

#define FUZZ_FRAME_CHECK(cond)	do { if (!(cond)) abort(); } while (0)

struct fuzz_frame_run {
	struct imap_frame	f;
	struct buf		trace;
	size_t			read_octets;	/* handed to the parser */
	size_t			cut_octets;	/* '+' lines cut out */
	size_t			appended;
	bool			failed;
};

/* Reads all ready bytes into the trace; they end a line. */
static void
fuzz_frame_read_all(struct fuzz_frame_run *r)
{
	char	piece[FUZZ_FRAME_READ_OCTETS];
	size_t	n, total = 0;
	char	last = '\0';

	FUZZ_FRAME_CHECK(buf_appendf(&r->trace, " %zu\n",
	    imap_frame_ready_unread(&r->f)) == 0);
	while ((n = imap_frame_read(&r->f, piece, sizeof(piece))) > 0) {
		FUZZ_FRAME_CHECK(buf_append(&r->trace, piece, n) == 0);
		last = piece[n - 1];
		total += n;
	}
	FUZZ_FRAME_CHECK(total > 0 && last == '\n');
	r->read_octets += total;
}

static void
fuzz_frame_drain(struct fuzz_frame_run *r)
{
	struct imap_frame_ev	ev;
	size_t			len_before;

	for (;;) {
		len_before = r->f.len;
		imap_frame_next(&r->f, &ev);
		switch (ev.type) {
		case IMAP_FRAME_NONE:
			imap_frame_compact(&r->f);
			return;
		case IMAP_FRAME_GREETING:
			FUZZ_FRAME_CHECK(buf_append_str(&r->trace, "G") == 0);
			fuzz_frame_read_all(r);
			break;
		case IMAP_FRAME_TAGGED:
			FUZZ_FRAME_CHECK(buf_appendf(&r->trace, "T %zu ",
			    ev.text_len) == 0);
			FUZZ_FRAME_CHECK(buf_append(&r->trace, ev.text,
			    ev.text_len) == 0);
			fuzz_frame_read_all(r);
			break;
		case IMAP_FRAME_CONTINUATION:
			FUZZ_FRAME_CHECK(len_before > r->f.len);
			r->cut_octets += len_before - r->f.len;
			FUZZ_FRAME_CHECK(buf_appendf(&r->trace, "C %zu ",
			    ev.text_len) == 0);
			FUZZ_FRAME_CHECK(buf_append(&r->trace, ev.text,
			    ev.text_len) == 0);
			break;
		case IMAP_FRAME_ERROR:
			FUZZ_FRAME_CHECK(ev.text != NULL && ev.text_len > 0);
			FUZZ_FRAME_CHECK(buf_appendf(&r->trace, "E %.*s\n",
			    (int)ev.text_len, ev.text) == 0);
			/* A failed framer stays failed. */
			imap_frame_next(&r->f, &ev);
			FUZZ_FRAME_CHECK(ev.type == IMAP_FRAME_ERROR);
			r->failed = true;
			return;
		}
	}
}

/* Checks the framer's invariants after each step. */
static void
fuzz_frame_check_limits(const struct fuzz_frame_run *r)
{
	const struct imap_frame	*f = &r->f;
	size_t			 limit = f->max_group + f->max_line;

	FUZZ_FRAME_CHECK(f->rd <= f->ready && f->ready <= f->len);
	FUZZ_FRAME_CHECK(f->ready == f->group_start);
	FUZZ_FRAME_CHECK(f->group_start <= f->line_start);
	FUZZ_FRAME_CHECK(f->line_start <= f->phys_start);
	FUZZ_FRAME_CHECK(f->phys_start <= f->scan && f->scan <= f->len);
	FUZZ_FRAME_CHECK(f->len <= f->cap || f->cap == 0);
	FUZZ_FRAME_CHECK(f->cap <= limit && f->peak <= limit);
	FUZZ_FRAME_CHECK(f->len - f->rd <= limit);
	/* Nothing lost: parser bytes + cut lines + buffered = appended. */
	FUZZ_FRAME_CHECK(r->read_octets + r->cut_octets + (f->len - f->rd) ==
	    r->appended);
}

/* Tiny generator for chunk lengths: the run must be repeatable. */
static uint32_t
fuzz_frame_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/*
 * Frames in, appended in chunks of 1..max_chunk octets (0: all at once),
 * never more than the framer accepts.
 */
static void
fuzz_frame_run(struct fuzz_frame_run *r, const char *in, size_t len,
    size_t max_line, size_t max_group, uint32_t max_chunk)
{
	size_t		off = 0, n, room;
	uint32_t	seed = max_chunk | 1;

	memset(r, 0, sizeof(*r));
	imap_frame_init(&r->f, max_line, max_group);
	buf_init(&r->trace, FUZZ_FRAME_TRACE_MAX_OCTETS);
	while (off < len && !r->failed) {
		n = max_chunk == 0 ? len - off :
		    1 + fuzz_frame_rand(&seed) % max_chunk;
		if (n > len - off)
			n = len - off;
		/* Drained and compacted, the framer always takes one more. */
		room = max_line + max_group - (r->f.len - r->f.rd);
		FUZZ_FRAME_CHECK(room > 0);
		if (n > room)
			n = room;
		FUZZ_FRAME_CHECK(imap_frame_append(&r->f, in + off, n) == 0);
		off += n;
		r->appended += n;
		fuzz_frame_check_limits(r);
		fuzz_frame_drain(r);
		if (!r->failed)
			fuzz_frame_check_limits(r);
	}
	if (!r->failed)
		FUZZ_FRAME_CHECK(buf_appendf(&r->trace, "P %zu\n",
		    imap_frame_pending(&r->f)) == 0);
}

static void
fuzz_frame_free(struct fuzz_frame_run *r)
{
	imap_frame_deinit(&r->f);
	buf_deinit(&r->trace);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_frame_run	 whole, chunked, bytewise;
	const char		*in;
	size_t			 len, max_line, max_group;

	if (size < 3)
		return 0;
	if (data[0] & 1) {
		max_line = FUZZ_FRAME_SMALL_LINE_MIN +
		    (size_t)(data[0] >> 1) % FUZZ_FRAME_SMALL_LINE_SPAN;
		max_group = 1 + (size_t)data[1] * 2;
	} else {
		max_line = FUZZ_FRAME_BIG_LINE_OCTETS;
		max_group = FUZZ_FRAME_BIG_GROUP_OCTETS;
	}
	in = (const char *)data + 3;
	len = size - 3;

	fuzz_frame_run(&whole, in, len, max_line, max_group, 0);
	fuzz_frame_run(&chunked, in, len, max_line, max_group,
	    (uint32_t)data[2] + 1);
	fuzz_frame_run(&bytewise, in, len, max_line, max_group, 1);
	FUZZ_FRAME_CHECK(whole.trace.len == chunked.trace.len &&
	    memcmp(whole.trace.data, chunked.trace.data, whole.trace.len) == 0);
	FUZZ_FRAME_CHECK(whole.trace.len == bytewise.trace.len &&
	    memcmp(whole.trace.data, bytewise.trace.data,
	    whole.trace.len) == 0);
	fuzz_frame_free(&whole);
	fuzz_frame_free(&chunked);
	fuzz_frame_free(&bytewise);
	return 0;
}
