/* SPDX-License-Identifier: MIT */
/*
 * pop3_line.c - splits client input into POP3 command lines. Pure: no I/O,
 * no allocation; the caller owns the input buffer and drops what we consume.
 */
#include "pop3_line.h"

#include <assert.h>
#include <string.h>

void
pop3_line_init(struct pop3_line_reader *r, size_t max_octets)
{
	/* A limit below 1 could never deliver a line, not even a bare LF. */
	assert(max_octets > 0);
	r->max_octets = max_octets;
	r->discarding = false;
}

void
pop3_line_set_max(struct pop3_line_reader *r, size_t max_octets)
{
	/*
	 * Only the limit changes: whether the line being skipped is too long
	 * was decided under the old limit, and raising the limit now must
	 * not let its tail through as a line of its own.
	 */
	assert(max_octets > 0);
	r->max_octets = max_octets;
}

/*
 * Skips the rest of an overlong line. The whole line gets one TOO_LONG when
 * its LF arrives, so its tail is never run as a command (conformance 2.9).
 */
static size_t
pop3_line_discard(struct pop3_line_reader *r, const char *data, size_t len,
    enum pop3_line_kind *kind_out)
{
	const char	*lf;

	lf = memchr(data, '\n', len);
	if (lf == NULL) {
		*kind_out = POP3_LINE_NONE;
		return len;
	}
	r->discarding = false;
	*kind_out = POP3_LINE_TOO_LONG;
	return (size_t)(lf - data) + 1;
}

size_t
pop3_line_next(struct pop3_line_reader *r, char *data, size_t len,
    enum pop3_line_kind *kind_out, char **line_out, size_t *len_out)
{
	const char	*lf;
	size_t		 window, line_len, consumed;

	*line_out = NULL;
	*len_out = 0;
	if (len == 0) {
		/* data may be NULL (an empty buffer never allocated). */
		*kind_out = POP3_LINE_NONE;
		return 0;
	}
	if (r->discarding)
		return pop3_line_discard(r, data, len, kind_out);

	/*
	 * RFC 2449 sec. 4: the limit counts the terminator, so a complete line
	 * has its LF within the first max_octets octets.
	 */
	window = len < r->max_octets ? len : r->max_octets;
	lf = memchr(data, '\n', window);
	if (lf == NULL) {
		if (len < r->max_octets) {
			*kind_out = POP3_LINE_NONE;
			return 0;
		}
		/* max_octets octets and no LF: too long whatever follows. */
		r->discarding = true;
		return pop3_line_discard(r, data + r->max_octets,
		    len - r->max_octets, kind_out) + r->max_octets;
	}

	consumed = (size_t)(lf - data) + 1;
	line_len = consumed - 1;
	/* Only a CR right before the LF is part of the terminator. */
	if (line_len > 0 && data[line_len - 1] == '\r')
		line_len--;
	/* A NUL would cut the line short for C string code: refuse it whole. */
	if (memchr(data, '\0', line_len) != NULL) {
		*kind_out = POP3_LINE_BAD;
		return consumed;
	}
	*kind_out = POP3_LINE_OK;
	*line_out = data;
	*len_out = line_len;
	return consumed;
}
