/* SPDX-License-Identifier: MIT */
/*
 * pop3_body.h - streaming encoder for POP3 multi-line message data
 * (RFC 1939 sec. 3, 5 RETR, 7 TOP). Pure: no I/O, no allocation.
 *
 * Input is the raw message as the IMAP server returns it (BODY[]), in chunks
 * split at any byte. Output is what goes on the wire after the +OK line:
 *   - a bare LF becomes CRLF (a CR not followed by LF is passed as it is);
 *   - every line that starts with '.' gets one more '.' in front of it,
 *     including the first line and lines that began after a converted LF;
 *   - pop3_body_finish() adds CRLF when the data did not end with LF, then
 *     the terminator ".\r\n". An empty message (no octet fed) has no line
 *     to finish: it is just ".\r\n" and its octets() is 0.
 * For TOP n k the encoder passes the header, the empty line that ends it, and
 * then k body lines; after that it ignores further input (complete() is true).
 * A message without an empty line is all header: TOP passes all of it.
 * octets() is the number of data octets sent, CRLF conversion and the final
 * CRLF included, stuffing dots and the terminator excluded: it is what LIST
 * must report for the message (RFC 1939 sec. 11).
 */
#ifndef POPGATE_POP3_BODY_H
#define POPGATE_POP3_BODY_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

/*
 * Worst-case output, for flow control: feed() appends at most
 * POP3_BODY_MAX_EXPANSION octets per input octet ("." -> "..", LF -> CRLF),
 * finish() at most POP3_BODY_FINISH_MAX_OCTETS ("\r\n.\r\n").
 */
#define POP3_BODY_MAX_EXPANSION		2
#define POP3_BODY_FINISH_MAX_OCTETS	5

struct pop3_body {
	uint64_t	octets;		/* data octets out, without stuffing */
	uint32_t	lines_left;	/* TOP: body lines still to send */
	bool		is_top;
	bool		at_line_start;	/* next byte starts a new line */
	bool		last_was_cr;	/* previous input byte was CR */
	bool		in_body;	/* the empty line after the header passed */
	bool		line_empty;	/* line so far is "" or "\r" */
	bool		complete;	/* TOP limit reached; input is ignored */
	bool		any_input;	/* at least one octet was fed */
};

/* Starts a message. For RETR pass is_top = false (top_lines is ignored). */
void	pop3_body_init(struct pop3_body *e, bool is_top, uint32_t top_lines);
/* Encodes len bytes, appending to out. Returns 0, or a negative errno from
 * buf_append() (then the encoder state is undefined and the session ends). */
int	pop3_body_feed(struct pop3_body *e, const char *data, size_t len,
	    struct buf *out);
/* True once TOP has sent its last line: no more input is needed. */
bool	pop3_body_complete(const struct pop3_body *e);
/* Appends the missing final CRLF (if any; none for an empty message) and
 * ".\r\n" in one buf_append(). Returns 0 or -errno. */
int	pop3_body_finish(struct pop3_body *e, struct buf *out);
/* Data octets sent so far (see above). */
uint64_t pop3_body_octets(const struct pop3_body *e);
/* What pop3_body_octets() will be after pop3_body_finish(): the final CRLF
 * it adds included. RETR compares it with the size LIST announced. */
uint64_t pop3_body_final_octets(const struct pop3_body *e);

#endif
