/* SPDX-License-Identifier: MIT */
/*
 * pop3_line.h - splits client input into command lines. Pure.
 * RFC 2449 sec. 4: commands are at most 255 octets including CRLF (the
 * caller may raise the limit for SASL responses, RFC 5034 sec. 4). A longer
 * line is consumed up to its LF and reported once as TOO_LONG, so its tail is
 * never run as a command. A bare LF ends a line too; a CR right before the LF
 * is stripped. A NUL inside a line is reported as BAD (never cut short).
 */
#ifndef POPGATE_POP3_LINE_H
#define POPGATE_POP3_LINE_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 2449 sec. 4: 255 octets including CRLF. */
#define POP3_MAX_COMMAND_OCTETS	255

enum pop3_line_kind {
	POP3_LINE_NONE,		/* no complete line yet */
	POP3_LINE_OK,		/* *line_out / *len_out: the line, no CR LF */
	POP3_LINE_TOO_LONG,	/* an overlong line was consumed: answer one -ERR */
	POP3_LINE_BAD,		/* a line with a NUL octet was consumed */
};

struct pop3_line_reader {
	size_t	max_octets;	/* line limit including CRLF */
	bool	discarding;	/* inside an overlong line, looking for its LF */
};

void	pop3_line_init(struct pop3_line_reader *r, size_t max_octets);
/*
 * Changes the limit for the lines that follow (POP3 AUTH responses need a
 * longer one than commands). Safe between any two pop3_line_next() calls:
 * the reader keeps no octets of its own, and a line it is already
 * discarding stays too long. The caller's input buffer must hold at least
 * max_octets octets, as for pop3_line_init().
 */
void	pop3_line_set_max(struct pop3_line_reader *r, size_t max_octets);
/*
 * Looks at [data, data + len). Returns the number of octets consumed, which
 * the caller drops from its buffer, and sets *kind_out. For POP3_LINE_OK the
 * line is data[0 .. *len_out) and the terminator is consumed too; the caller
 * may modify those octets (they are consumed). A line is too long when its
 * octets through the LF (CR included) exceed max_octets. When len reaches
 * max_octets without a LF, everything is consumed and the reader discards
 * until the next LF (kind NONE now, TOO_LONG when that LF arrives). So the
 * caller's input buffer must hold at least max_octets octets; call again
 * while the return value is non-zero.
 */
size_t	pop3_line_next(struct pop3_line_reader *r, char *data, size_t len,
	    enum pop3_line_kind *kind_out, char **line_out, size_t *len_out);

#endif
