/* SPDX-License-Identifier: MIT */
/*
 * fuzz_imap_wire.h - the wire oracle of fuzz_imap_client.c: the UID sets
 * of the commands the client sends, and the SEARCH numbers of the server's
 * response groups (split at tagged lines, literals skipped, as the
 * client's framer splits them), so that a bare EXPUNGE can be judged
 * against the UID SEARCH DELETED answer the client acted on.
 */
#ifndef POPGATE_FUZZ_IMAP_WIRE_H
#define POPGATE_FUZZ_IMAP_WIRE_H

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_check.h"

#define FZ_SEARCH_MAX		64
#define FZ_GROUPS		16	/* response groups remembered */

/* The SEARCH numbers of one response group, named by its tag. */
struct fz_group {
	uint32_t	tag;
	uint32_t	num[FZ_SEARCH_MAX];
	unsigned int	n;
	bool		odd;	/* a SEARCH line not understood: no verdict */
};

struct fz_wire {
	char		sline[256];	/* the server's line being scanned */
	size_t		slen;
	bool		slong;
	uint64_t	sliteral;	/* literal octets still to skip */
	struct fz_group	group;		/* being accumulated */
	struct fz_group	done[FZ_GROUPS];	/* by tag, a ring */
	uint32_t	search_tag;	/* last UID SEARCH DELETED sent */
};

static bool
fz_in(const uint32_t *set, unsigned int n, uint32_t uid)
{
	unsigned int	i;

	for (i = 0; i < n; i++)
		if (set[i] == uid)
			return true;
	return false;
}

/* True if every UID of the IMAP set at s (up to a space or the end) is
 * in set[0..n). '*' or a range wider than the set can never be. */
static bool
fz_set_within(const char *s, const uint32_t *set, unsigned int n)
{
	unsigned long	lo, hi, u;
	char		*end;

	for (;;) {
		if (!isdigit((unsigned char)*s))
			return false;
		lo = hi = strtoul(s, &end, 10);
		if (*end == ':') {
			if (!isdigit((unsigned char)end[1]))
				return false;
			hi = strtoul(end + 1, &end, 10);
		}
		if (lo > hi) {
			u = lo;
			lo = hi;
			hi = u;
		}
		if (hi - lo >= n)
			return false;
		for (u = lo; u <= hi; u++)
			if (!fz_in(set, n, (uint32_t)u))
				return false;
		if (*end != ',')
			return *end == '\0' || *end == ' ';
		s = end + 1;
	}
}

/* True if the answer to UID SEARCH DELETED (tag) named only UIDs of set.
 * The answer may have been written before the command was read (the
 * fuzzer can guess a tag), so it is looked up by tag, not by time. */
static bool
fz_search_ours(const struct fz_wire *w, uint32_t tag, const uint32_t *set,
    unsigned int n)
{
	const struct fz_group	*g = &w->done[tag % FZ_GROUPS];
	unsigned int		 i;

	if (tag == 0 || g->tag != tag)
		return false;
	if (g->odd)
		return true;
	for (i = 0; i < g->n; i++)
		if (!fz_in(set, n, g->num[i]))
			return false;
	return true;
}

/* The "never delete anything else" oracle, on one command line: \Deleted
 * and UID EXPUNGE within set, \Seen within seen. */
static void
fz_wire_command(struct fz_wire *w, const char *cmd, uint32_t tag,
    const uint32_t *set, unsigned int n, const uint32_t *seen,
    unsigned int nseen)
{
	FUZZ_CHECK(strncasecmp(cmd, "CLOSE", 5) != 0);
	FUZZ_CHECK(strncasecmp(cmd, "STORE ", 6) != 0);
	FUZZ_CHECK(strncasecmp(cmd, "COPY ", 5) != 0);
	FUZZ_CHECK(strncasecmp(cmd, "MOVE ", 5) != 0);
	FUZZ_CHECK(strncasecmp(cmd, "UID COPY ", 9) != 0);
	FUZZ_CHECK(strncasecmp(cmd, "UID MOVE ", 9) != 0);
	if (strncasecmp(cmd, "UID STORE ", 10) == 0) {
		if (strcasestr(cmd, "\\Deleted") != NULL)
			FUZZ_CHECK(fz_set_within(cmd + 10, set, n));
		if (strcasestr(cmd, "\\Seen") != NULL)
			FUZZ_CHECK(fz_set_within(cmd + 10, seen, nseen));
	} else if (strncasecmp(cmd, "UID EXPUNGE ", 12) == 0) {
		FUZZ_CHECK(fz_set_within(cmd + 12, set, n));
	} else if (strcasecmp(cmd, "EXPUNGE") == 0) {
		/* Only after the server listed nothing but ours \Deleted. */
		FUZZ_CHECK(fz_search_ours(w, w->search_tag, set, n));
		w->search_tag = 0;
	} else if (strcasecmp(cmd, "UID SEARCH DELETED") == 0) {
		w->search_tag = tag;
	}
}

/* ---- what the server says: groups and their SEARCH numbers ---- */

/* A "* SEARCH n n n" line of the group being accumulated. */
static void
fz_scan_search(struct fz_wire *w, const char *line)
{
	const char	*p = line + 8;
	char		*end;
	unsigned long	 u;

	while (*p == ' ') {
		p++;
		if (!isdigit((unsigned char)*p)) {
			w->group.odd = true;
			return;
		}
		u = strtoul(p, &end, 10);
		if (w->group.n < FZ_SEARCH_MAX)
			w->group.num[w->group.n++] = (uint32_t)u;
		else
			w->group.odd = true;
		p = end;
	}
	if (*p != '\0')
		w->group.odd = true;
}

/* A whole line (CRLF dropped) the server wrote; groups end at tagged
 * lines, as the client's framer has them. The first group of a tag is
 * the one the client takes. */
static void
fz_scan_line(struct fz_wire *w, const char *line, size_t len)
{
	struct fz_group	*g;
	size_t		 digits = strspn(line, "0123456789");
	uint32_t	 tag;

	if (len > 0 && line[0] == '+')
		return;
	if (len > 0 && line[0] == '*') {
		if (strncasecmp(line, "* SEARCH", 8) == 0)
			fz_scan_search(w, line);
		return;
	}
	tag = (uint32_t)strtoul(line, NULL, 10);
	if (digits > 0 && digits < 10 && line[digits] == ' ' && tag != 0) {
		g = &w->done[tag % FZ_GROUPS];
		if (g->tag != tag) {
			*g = w->group;
			g->tag = tag;
		}
	}
	memset(&w->group, 0, sizeof(w->group));
}

/* Follows the server's bytes line by line, skipping literal octets. */
static void
fz_wire_scan(struct fz_wire *w, const char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (w->sliteral > 0) {
			w->sliteral--;
			continue;
		}
		if (p[i] != '\n') {
			if (w->slen < sizeof(w->sline) - 1)
				w->sline[w->slen++] = p[i];
			else
				w->slong = true;
			continue;
		}
		if (w->slen > 0 && w->sline[w->slen - 1] == '\r')
			w->slen--;
		w->sline[w->slen] = '\0';
		if (w->slen > 2 && w->sline[w->slen - 1] == '}') {
			char	*b = strrchr(w->sline, '{');

			if (b != NULL)
				w->sliteral = strtoull(b + 1, NULL, 10);
		}
		if (w->slong)
			w->group.odd = true;	/* a long line: no verdict */
		else
			fz_scan_line(w, w->sline, w->slen);
		w->slen = 0;
		w->slong = false;
	}
}

#endif
