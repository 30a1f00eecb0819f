/* SPDX-License-Identifier: MIT */
/*
 * imap_fetch_line.c - see imap_fetch_line.h.
 */
#include "imap_fetch_line.h"

#include <string.h>

struct scan {
	const char	*p;
	const char	*end;
};

static bool
scan_lit(struct scan *s, const char *lit)
{
	size_t	n = strlen(lit);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return false;
	s->p += n;
	return true;
}

/* RFC 3501 number: 1 to 10 digits, at most 2^32 - 1. */
static bool
scan_number(struct scan *s, uint32_t *v)
{
	uint64_t	n = 0;
	int		digits = 0;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && digits < 11) {
		n = n * 10 + (uint64_t)(*s->p - '0');
		s->p++;
		digits++;
	}
	if (digits == 0 || digits > 10 || n > UINT32_MAX)
		return false;
	*v = (uint32_t)n;
	return true;
}

bool
imap_fetch_line_uid(const char *text, size_t end, uint32_t *uid,
    uint32_t *origin)
{
	struct scan	s;
	size_t		start;
	uint32_t	seq, octets;

	if (end < 2 || text[end - 2] != '\r' || text[end - 1] != '\n')
		return false;
	for (start = end - 2; start > 0 && text[start - 1] != '\n'; start--)
		continue;
	s.p = text + start;
	s.end = text + end;
	*origin = 0;
	if (!scan_lit(&s, "* ") || !scan_number(&s, &seq) ||
	    !scan_lit(&s, " FETCH (UID ") || !scan_number(&s, uid) ||
	    !scan_lit(&s, " BODY[]"))
		return false;
	if (scan_lit(&s, "<") && (!scan_number(&s, origin) ||
	    !scan_lit(&s, ">")))
		return false;
	return scan_lit(&s, " {") && scan_number(&s, &octets) &&
	    scan_lit(&s, "}\r\n") && s.p == s.end && seq > 0 && *uid > 0;
}
