/* SPDX-License-Identifier: MIT */
/*
 * imap_frame.c - incremental IMAP response framer: lines, {N} literals, '+'
 * continuations and tagged completion, under size limits. Pure: no I/O.
 */
#include "imap_frame.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * First allocation, in octets: one TLS record of plaintext (16 KiB), so a
 * login exchange allocates once. Never more than the limits allow.
 */
#define IMAP_FRAME_MIN_ALLOC_OCTETS	(16 * 1024)

/* Static texts for IMAP_FRAME_ERROR (borrowed by the caller forever). */
static const char imap_frame_err_line[] = "IMAP line too long";
static const char imap_frame_err_literal[] = "IMAP literal too large";
static const char imap_frame_err_group[] = "IMAP response group too large";
static const char imap_frame_err_failed[] = "IMAP framer failed earlier";
static const char imap_frame_err_permflags[] =
    "IMAP PERMANENTFLAGS list malformed";

void
imap_frame_init(struct imap_frame *f, size_t max_line, size_t max_group)
{
	/* A limit of 0 would fail every response: that is a caller bug. */
	assert(max_line > 0 && max_group > 0);
	assert(max_group <= SIZE_MAX - max_line);
	memset(f, 0, sizeof(*f));
	f->max_line = max_line;
	f->max_group = max_group;
}

void
imap_frame_deinit(struct imap_frame *f)
{
	free(f->data);
	f->data = NULL;
	f->cap = 0;
	imap_frame_reset(f);
}

void
imap_frame_reset(struct imap_frame *f)
{
	/* greeting_seen and failed survive: STARTTLS has no second greeting. */
	f->len = 0;
	f->rd = 0;
	f->ready = 0;
	f->group_start = 0;
	f->line_start = 0;
	f->phys_start = 0;
	f->scan = 0;
	f->literal_left = 0;
}

void
imap_frame_compact(struct imap_frame *f)
{
	size_t	n = f->rd;

	if (n == 0)
		return;
	memmove(f->data, f->data + n, f->len - n);
	f->len -= n;
	f->rd = 0;
	f->ready -= n;
	f->group_start -= n;
	f->line_start -= n;
	f->phys_start -= n;
	f->scan -= n;
}

/* Storage for at least want octets (want <= max_group + max_line). */
static int
imap_frame_grow(struct imap_frame *f, size_t want)
{
	size_t	 limit = f->max_group + f->max_line;
	size_t	 new_cap;
	char	*p;

	new_cap = f->cap < IMAP_FRAME_MIN_ALLOC_OCTETS ?
	    IMAP_FRAME_MIN_ALLOC_OCTETS : f->cap;
	while (new_cap < want && new_cap <= limit / 2)
		new_cap *= 2;
	if (new_cap > limit)
		new_cap = limit;
	if (new_cap < want)
		new_cap = want;
	if ((p = realloc(f->data, new_cap)) == NULL)
		return -ENOMEM;
	f->data = p;
	f->cap = new_cap;
	return 0;
}

int
imap_frame_append(struct imap_frame *f, const char *p, size_t len)
{
	size_t	 limit = f->max_group + f->max_line, room = 0;
	char	*dst;

	if (len == 0)
		return 0;
	/* Unread data is bounded: one group plus the line that follows it. */
	if (len > limit || f->len - f->rd > limit - len)
		return -ENOBUFS;
	/* All or nothing: the same room the socket path reserves. */
	dst = imap_frame_reserve(f, len, &room);
	if (dst == NULL || room < len)
		return -ENOMEM;
	memcpy(dst, p, len);
	imap_frame_commit(f, len);
	return 0;
}

char *
imap_frame_reserve(struct imap_frame *f, size_t n, size_t *room_out)
{
	size_t	limit = f->max_group + f->max_line, unread = f->len - f->rd;

	if (unread >= limit || n == 0)
		return NULL;
	if (n > limit - unread)
		n = limit - unread;
	if (n > f->cap - f->len) {
		imap_frame_compact(f);
		if (n > f->cap - f->len && imap_frame_grow(f, f->len + n) != 0 &&
		    f->cap == f->len)
			return NULL;
		if (n > f->cap - f->len)
			n = f->cap - f->len;
	}
	*room_out = n;
	return f->data + f->len;
}

void
imap_frame_commit(struct imap_frame *f, size_t n)
{
	assert(n <= f->cap - f->len);
	f->len += n;
	if (f->len > f->peak)
		f->peak = f->len;
}

size_t
imap_frame_read(struct imap_frame *f, void *dst, size_t n)
{
	size_t	avail = f->ready - f->rd;

	if (n > avail)
		n = avail;
	if (n == 0)
		return 0;
	memcpy(dst, f->data + f->rd, n);
	f->rd += n;
	return n;
}

size_t
imap_frame_ready_unread(const struct imap_frame *f)
{
	return f->ready - f->rd;
}

size_t
imap_frame_pending(const struct imap_frame *f)
{
	return f->len - f->ready;
}

static void
imap_frame_fail(struct imap_frame *f, struct imap_frame_ev *ev,
    const char *text, size_t text_len)
{
	f->failed = true;
	ev->type = IMAP_FRAME_ERROR;
	ev->text = text;
	ev->text_len = text_len;
}

/*
 * RFC 3501 sec. 4.3, RFC 7888 (LITERAL+), RFC 3516 (literal8): a physical
 * line [line, line + len) ending in "{N}", "{N+}" or "~{N}" before its CRLF
 * (or bare LF) announces N octets. Sizes that overflow read as UINT64_MAX.
 * Known ambiguity (doc/libetpan.md sec. 4): resp-text ending in "{N}" is
 * taken for a literal too; libetpan then fails to parse it.
 */
static bool
imap_frame_literal_size(const char *line, size_t len, uint64_t *size_out)
{
	size_t		end = len - 1;	/* the LF */
	size_t		digits_end, i;
	uint64_t	size, digit;

	if (end > 0 && line[end - 1] == '\r')
		end--;
	if (end == 0 || line[end - 1] != '}')
		return false;
	end--;
	if (end > 0 && line[end - 1] == '+')
		end--;
	digits_end = end;
	while (end > 0 && line[end - 1] >= '0' && line[end - 1] <= '9')
		end--;
	if (end == digits_end || end == 0 || line[end - 1] != '{')
		return false;
	size = 0;
	for (i = end; i < digits_end; i++) {
		digit = (uint64_t)(line[i] - '0');
		if (size > (UINT64_MAX - digit) / 10) {
			size = UINT64_MAX;
			break;
		}
		size = size * 10 + digit;
	}
	*size_out = size;
	return true;
}

/* Reverses p[0, n): one step of an in-place rotation. */
static void
imap_frame_reverse(char *p, size_t n)
{
	char	c;
	size_t	i, j;

	if (n < 2)
		return;
	for (i = 0, j = n - 1; i < j; i++, j--) {
		c = p[i];
		p[i] = p[j];
		p[j] = c;
	}
}

/*
 * Cuts the '+' line [start, end) out of the buffered data. The line is
 * rotated behind the remaining data rather than overwritten, so that its
 * text stays readable in the storage just past len until the next call
 * (the tail is usually empty: the server waits for our answer).
 */
static void
imap_frame_cut(struct imap_frame *f, size_t start, size_t end)
{
	if (end < f->len) {
		imap_frame_reverse(f->data + start, end - start);
		imap_frame_reverse(f->data + end, f->len - end);
		imap_frame_reverse(f->data + start, f->len - start);
	}
	f->len -= end - start;
}

/* Reports the continuation line [line_start, eol) and cuts it out. */
static void
imap_frame_continuation(struct imap_frame *f, size_t eol,
    struct imap_frame_ev *ev)
{
	size_t	start = f->line_start;
	size_t	text = start + 1;	/* after '+' */
	size_t	text_end = eol - 1;	/* the LF */

	/* RFC 3501 sec. 7.5: "+" SP text CRLF; tolerate a missing SP. */
	if (text < text_end && f->data[text] == ' ')
		text++;
	if (text_end > text && f->data[text_end - 1] == '\r')
		text_end--;
	imap_frame_cut(f, start, eol);
	/* The line now sits at [len, len + eol - start). */
	ev->type = IMAP_FRAME_CONTINUATION;
	ev->text = f->data + f->len + (text - start);
	ev->text_len = text_end - text;
	f->scan = start;
	f->phys_start = start;
}

/* Marks [rd, eol) ready and starts a new group after it. */
static void
imap_frame_close_group(struct imap_frame *f, size_t eol)
{
	f->ready = eol;
	f->group_start = eol;
	f->line_start = eol;
	f->phys_start = eol;
}

/*
 * A logical line [line_start, eol) is complete: classify it by its first
 * octet (RFC 3501 sec. 2.2.2). Returns true if it produced an event.
 */
static bool
imap_frame_classify(struct imap_frame *f, size_t eol,
    struct imap_frame_ev *ev)
{
	const char	*line = f->data + f->line_start;
	size_t		 tag_len;

	if (!f->greeting_seen) {
		f->greeting_seen = true;
		imap_frame_close_group(f, eol);
		ev->type = IMAP_FRAME_GREETING;
		return true;
	}
	switch (line[0]) {
	case '+':
		imap_frame_continuation(f, eol, ev);
		return true;
	case '*':
		f->line_start = eol;
		f->phys_start = eol;
		return false;
	default:
		break;
	}
	/* The tag ends at the first SP; the first physical line bounds it. */
	for (tag_len = 0; line[tag_len] != ' ' && line[tag_len] != '\r' &&
	    line[tag_len] != '\n'; tag_len++)
		;
	imap_frame_close_group(f, eol);
	ev->type = IMAP_FRAME_TAGGED;
	ev->text = line;
	ev->text_len = tag_len;
	return true;
}

/*
 * Skips buffered literal octets. Returns false if the literal continues past
 * the buffered data.
 */
static bool
imap_frame_skip_literal(struct imap_frame *f)
{
	size_t	avail = f->len - f->scan;

	if (f->literal_left > avail) {
		f->literal_left -= avail;
		f->scan = f->len;
		return false;
	}
	f->scan += (size_t)f->literal_left;
	f->literal_left = 0;
	/* The logical line goes on with a new physical line. */
	f->phys_start = f->scan;
	return true;
}

/* RFC 3501 ATOM-CHAR as libetpan reads it (8-bit octets pass). */
static bool
imap_frame_atom_char(unsigned char c)
{
	if (c <= 0x1f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case ' ': case '%': case '*':
	case '"': case '\\': case ']':
		return false;
	default:
		return true;
	}
}

/*
 * libetpan 1.9.4 (Debian's) dereferences NULL when a PERMANENTFLAGS code
 * opens its list, the first flag fails to parse and no ")" follows, as in
 * "* OK [PERMANENTFLAGS (\r\n" (fixed upstream after 1.9.4). Such a line
 * never reaches the parser: after '[', blanks, "PERMANENTFLAGS", blanks and
 * '(' (every spelling libetpan accepts), the next octet must be ')' or
 * start a flag it is sure to parse: "\*", "\" atom or atom. Real servers
 * send exactly that; anything else is refused as malformed.
 */
static bool
imap_frame_permflags_ok(const char *line, size_t len)
{
	static const char	 word[] = "PERMANENTFLAGS";
	const size_t		 wlen = sizeof(word) - 1;
	const char		*p = line, *end = line + len;
	size_t			 i;

	while ((p = memchr(p, '[', (size_t)(end - p))) != NULL) {
		p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(end - p) < wlen)
			return true;
		for (i = 0; i < wlen; i++)
			if ((p[i] & ~0x20) != word[i])
				break;
		if (i < wlen)
			continue;
		p += wlen;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || *p != '(')
			continue;
		p++;
		if (p < end && *p == ')')
			continue;
		if (p < end && *p == '\\')
			p++;
		if (p == end || !(imap_frame_atom_char((unsigned char)*p) ||
		    (*p == '*' && p[-1] == '\\')))
			return false;
	}
	return true;
}

/*
 * "{N}" anywhere in the line, not only at its end: libetpan reads a
 * literal wherever a string may stand and allocates N octets before it
 * looks for the CRLF that must follow, so a number past the group limit
 * (up to 4 GiB after its overflow) is refused here.
 */
static bool
imap_frame_inline_literals_ok(const char *line, size_t len, uint64_t max)
{
	const char	*p = line, *end = line + len;
	uint64_t	 size;

	while ((p = memchr(p, '{', (size_t)(end - p))) != NULL) {
		p++;
		size = 0;
		while (p < end && *p >= '0' && *p <= '9') {
			if (size <= max)
				size = size * 10 + (uint64_t)(*p - '0');
			p++;
		}
		if (p < end && *p == '+')
			p++;
		if (p < end && *p == '}' && size > max)
			return false;
	}
	return true;
}

/*
 * Checks the physical line [phys_start, eol) against the limits and starts
 * the literal it announces, if any. Returns the error text or NULL, and sets
 * *is_literal.
 */
static const char *
imap_frame_line_end(struct imap_frame *f, size_t eol, bool *is_literal)
{
	uint64_t	size;

	*is_literal = false;
	if (eol - f->phys_start > f->max_line)
		return imap_frame_err_line;
	if (eol - f->group_start > f->max_group)
		return imap_frame_err_group;
	if (!imap_frame_permflags_ok(f->data + f->phys_start,
	    eol - f->phys_start))
		return imap_frame_err_permflags;
	if (!imap_frame_inline_literals_ok(f->data + f->phys_start,
	    eol - f->phys_start, f->max_group))
		return imap_frame_err_literal;
	/* Its size is within max_group: the inline check covered it. */
	if (!imap_frame_literal_size(f->data + f->phys_start,
	    eol - f->phys_start, &size))
		return NULL;
	/* Fail at the announcement, not after buffering the literal. */
	if (size > f->max_group - (eol - f->group_start))
		return imap_frame_err_group;
	*is_literal = true;
	f->literal_left = size;
	f->phys_start = eol;
	return NULL;
}

void
imap_frame_next(struct imap_frame *f, struct imap_frame_ev *ev)
{
	const char	*nl, *error;
	size_t		 eol;
	bool		 is_literal;

	ev->type = IMAP_FRAME_NONE;
	ev->text = NULL;
	ev->text_len = 0;
	if (f->failed) {
		imap_frame_fail(f, ev, imap_frame_err_failed,
		    sizeof(imap_frame_err_failed) - 1);
		return;
	}
	for (;;) {
		if (f->literal_left > 0 && !imap_frame_skip_literal(f))
			return;
		/* Bytes before scan were examined already: never again. */
		nl = f->scan < f->len ?
		    memchr(f->data + f->scan, '\n', f->len - f->scan) : NULL;
		if (nl == NULL) {
			f->scan = f->len;
			/*
			 * max_line counts the LF, so a partial line of
			 * max_line octets can only end too long: fail now.
			 * This also keeps unread data below the append limit.
			 */
			if (f->len - f->phys_start >= f->max_line)
				imap_frame_fail(f, ev, imap_frame_err_line,
				    sizeof(imap_frame_err_line) - 1);
			return;
		}
		eol = (size_t)(nl - f->data) + 1;
		f->scan = eol;
		error = imap_frame_line_end(f, eol, &is_literal);
		if (error != NULL) {
			imap_frame_fail(f, ev, error, strlen(error));
			return;
		}
		if (!is_literal && imap_frame_classify(f, eol, ev))
			return;
	}
}
