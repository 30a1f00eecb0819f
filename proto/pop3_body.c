/* SPDX-License-Identifier: MIT */
/*
 * pop3_body.c - streaming encoder for POP3 message data: bare LF repair,
 * dot-stuffing, TOP line limit and the terminator. Pure: no I/O.
 */
#include "pop3_body.h"

#include <errno.h>
#include <string.h>

/* RFC 1939 sec. 3: the termination octet, and the data's line ending. */
#define POP3_BODY_DOT		'.'
#define POP3_BODY_CRLF		"\r\n"
#define POP3_BODY_TERMINATOR	".\r\n"

/*
 * Input octets encoded per buf_reserve(): large enough to make the call
 * cost nothing per line, small enough that reserving the worst case
 * (POP3_BODY_MAX_EXPANSION times this) over-allocates the output by little.
 */
#define POP3_BODY_SLICE_OCTETS	(32 * 1024)

void
pop3_body_init(struct pop3_body *e, bool is_top, uint32_t top_lines)
{
	memset(e, 0, sizeof(*e));
	e->is_top = is_top;
	e->lines_left = is_top ? top_lines : 0;
	e->at_line_start = true;
	e->line_empty = true;
}

bool
pop3_body_complete(const struct pop3_body *e)
{
	return e->complete;
}

uint64_t
pop3_body_octets(const struct pop3_body *e)
{
	return e->octets;
}

uint64_t
pop3_body_final_octets(const struct pop3_body *e)
{
	return e->octets + (e->at_line_start ? 0 : sizeof(POP3_BODY_CRLF) - 1);
}

/*
 * TOP bookkeeping once a line has ended. The first empty line ends the
 * header (RFC 5322 sec. 2.1) and is sent but not counted; then each line
 * counts until lines_left reaches 0.
 */
static void
pop3_body_top_line_end(struct pop3_body *e, bool is_empty)
{
	if (!e->in_body) {
		if (!is_empty)
			return;
		e->in_body = true;
		if (e->lines_left == 0)
			e->complete = true;
		return;
	}
	if (--e->lines_left == 0)
		e->complete = true;
}

/*
 * Header-end detection across chunks: line_empty means the line so far is
 * "" or "\r" (last_was_cr tells which), so a following LF makes it empty.
 * A run of run_len octets without LF was just added to the line.
 */
static void
pop3_body_track_partial(struct pop3_body *e, const char *run, size_t run_len)
{
	e->line_empty = e->line_empty && !e->last_was_cr && run_len == 1 &&
	    run[0] == '\r';
}

/* The line ended with an LF after run_len more octets: was it empty? */
static bool
pop3_body_line_was_empty(const struct pop3_body *e, const char *run,
    size_t run_len)
{
	if (!e->line_empty)
		return false;
	if (run_len == 0)
		return true;
	return !e->last_was_cr && run_len == 1 && run[0] == '\r';
}

/*
 * RETR fast path: whole lines that already end in CRLF and whose successors
 * do not start with '.' pass unchanged, so a run of them is one copy rather
 * than one per line. Returns the run length; it always ends after an LF.
 */
static size_t
pop3_body_clean_run(const char *p, const char *end)
{
	const char	*q = p, *nl;

	while (q < end && (nl = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		/* A bare LF (or a CR left in the previous chunk) needs the
		 * careful path. */
		if (nl == q || nl[-1] != '\r')
			break;
		q = nl + 1;
		if (q < end && *q == POP3_BODY_DOT)
			break;
	}
	return (size_t)(q - p);
}

/*
 * Encodes up to len input octets into w, which has room for
 * POP3_BODY_MAX_EXPANSION * len octets. Stops early when TOP is complete.
 * Returns the input octets used and sets *written_out.
 */
static size_t
pop3_body_encode(struct pop3_body *e, const char *p, size_t len, char *w,
    size_t *written_out)
{
	const char	*start = p, *end = p + len, *nl;
	char		*w_start = w;
	size_t		 run_len, stuffed = 0;

	while (p < end && !e->complete) {
		/* RFC 1939 sec. 3: a line starting with '.' gets one more. */
		if (e->at_line_start && *p == POP3_BODY_DOT) {
			*w++ = POP3_BODY_DOT;
			stuffed++;
		}
		if (!e->is_top) {
			run_len = pop3_body_clean_run(p, end);
			if (run_len > 0) {
				memcpy(w, p, run_len);
				w += run_len;
				p += run_len;
				e->at_line_start = true;
				e->last_was_cr = false;
				e->line_empty = true;
				continue;
			}
		}
		/* Empty lines skip the library calls (LF-only input). */
		nl = *p == '\n' ? p : memchr(p, '\n', (size_t)(end - p));
		run_len = (size_t)((nl != NULL ? nl : end) - p);
		if (run_len > 0) {
			memcpy(w, p, run_len);
			w += run_len;
		}
		if (nl == NULL) {
			if (e->is_top && !e->in_body)
				pop3_body_track_partial(e, p, run_len);
			e->at_line_start = false;
			e->last_was_cr = p[run_len - 1] == '\r';
			p = end;
			break;
		}
		/* RFC 1939 sec. 3: lines end in CRLF. A CR at the end of the
		 * previous chunk pairs with this LF. */
		if (run_len > 0 ? p[run_len - 1] != '\r' : !e->last_was_cr)
			*w++ = '\r';
		*w++ = '\n';
		if (e->is_top)
			pop3_body_top_line_end(e, pop3_body_line_was_empty(e, p,
			    run_len));
		e->at_line_start = true;
		e->last_was_cr = false;
		e->line_empty = true;
		p = nl + 1;
	}
	*written_out = (size_t)(w - w_start);
	e->octets += *written_out - stuffed;
	return (size_t)(p - start);
}

int
pop3_body_feed(struct pop3_body *e, const char *data, size_t len,
    struct buf *out)
{
	char	 scratch[POP3_BODY_MAX_EXPANSION];
	char	*w;
	size_t	 slice, used, written;
	int	 error;

	if (len > 0)
		e->any_input = true;
	while (len > 0 && !e->complete) {
		slice = (out->max - out->len) / POP3_BODY_MAX_EXPANSION;
		if (slice > POP3_BODY_SLICE_OCTETS)
			slice = POP3_BODY_SLICE_OCTETS;
		if (slice > len)
			slice = len;
		if (slice == 0) {
			/* Almost full: one octet at a time, exact room only,
			 * so the error is buf_append()'s. */
			used = pop3_body_encode(e, data, 1, scratch, &written);
			if ((error = buf_append(out, scratch, written)) != 0)
				return error;
		} else {
			/* slice fits under max: NULL can only be memory. */
			w = buf_reserve(out, slice * POP3_BODY_MAX_EXPANSION);
			if (w == NULL)
				return -ENOMEM;
			used = pop3_body_encode(e, data, slice, w, &written);
			buf_commit(out, written);
		}
		data += used;
		len -= used;
	}
	return 0;
}

int
pop3_body_finish(struct pop3_body *e, struct buf *out)
{
	int	error;

	/*
	 * RFC 1939 sec. 3 / RFC 2449 sec. 3: every data line ends in CRLF, so
	 * a last line without LF gets one, and it counts as data (LIST must
	 * match). An empty message has no line at all: just the terminator.
	 * One append for both, so a full buffer leaves nothing half written.
	 */
	if (!e->at_line_start) {
		error = buf_append(out, POP3_BODY_CRLF POP3_BODY_TERMINATOR,
		    sizeof(POP3_BODY_CRLF POP3_BODY_TERMINATOR) - 1);
		if (error != 0)
			return error;
		e->octets += sizeof(POP3_BODY_CRLF) - 1;
		e->at_line_start = true;
		e->last_was_cr = false;
		return 0;
	}
	return buf_append(out, POP3_BODY_TERMINATOR,
	    sizeof(POP3_BODY_TERMINATOR) - 1);
}
