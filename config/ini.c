/* SPDX-License-Identifier: MIT */
/*
 * ini.c - the INI syntax of popgate.conf, line by line. It keeps the
 * syntax popgate.conf(5) documents (that of inih with its defaults), but
 * a line may be CONFIG_INI_MAX_LINE octets long: Debian's libinih reads
 * at most 199 octets at a time and hands the rest of a longer line to its
 * parser as lines of their own, so a long trusted_networks was cut short
 * without a word.
 */
#include "config_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A section header's name, inside the brackets. */
#define INI_MAX_SECTION		256
/* A key; longer ones are no key popgate knows. */
#define INI_MAX_KEY		128

struct ini_state {
	FILE			*fp;
	const char		*path;
	struct config_errors	*errs;
	unsigned int		 line;
	char			 section[INI_MAX_SECTION];
	char			 key[INI_MAX_KEY];	/* for continuations */
};

static bool
ini_is_space(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' ||
	    ch == '\v' || ch == '\f';
}

static void
ini_error(struct ini_state *st, const char *msg)
{
	config_errors_add(st->errs, "%s:%u: %s", st->path, st->line, msg);
}

/*
 * The next line into buf (size octets), without its LF. Returns 1, 0 at
 * the end of the file, or -1 for a line that did not fit or holds a NUL
 * (the rest of it is read and dropped: the next call starts on the next
 * line); *nul tells the two apart.
 */
static int
ini_read_line(FILE *fp, char *buf, size_t size, bool *nul)
{
	size_t	n = 0;
	bool	over = false;
	int	ch;

	*nul = false;
	while ((ch = getc(fp)) != EOF && ch != '\n') {
		if (ch == '\0')
			*nul = true;
		if (n + 1 < size)
			buf[n++] = (char)ch;
		else
			over = true;
	}
	buf[n] = '\0';
	if (ch == EOF && n == 0 && !over && !*nul)
		return 0;
	return over || *nul ? -1 : 1;
}

static char *
ini_rstrip(char *s)
{
	char	*end = s + strlen(s);

	while (end > s && ini_is_space((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static char *
ini_lskip(char *s)
{
	while (*s != '\0' && ini_is_space((unsigned char)*s))
		s++;
	return s;
}

/* The first of chars in s (none: any), or of a ';' after white space,
 * which starts a comment; the terminating NUL if neither comes. */
static char *
ini_find(char *s, const char *chars)
{
	bool	was_space = false;

	while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
	    !(was_space && *s == ';')) {
		was_space = ini_is_space((unsigned char)*s);
		s++;
	}
	return s;
}

static void
ini_section(struct ini_state *st, char *start)
{
	char	*end = ini_find(start + 1, "]");

	if (*end != ']') {
		ini_error(st, "section header without ']'");
		return;
	}
	*end = '\0';
	if (strlen(start + 1) >= sizeof(st->section)) {
		ini_error(st, "section name too long");
		return;
	}
	snprintf(st->section, sizeof(st->section), "%s", start + 1);
	st->key[0] = '\0';
}

static void
ini_value(struct ini_state *st, const char *key, char *value,
    config_ini_cb cb, void *arg)
{
	char	err[CONFIG_MAX_ERROR_TEXT - 64];

	*ini_find(value, NULL) = '\0';
	value = ini_rstrip(ini_lskip(value));
	if (cb(arg, st->section, key, value, st->line, err, sizeof(err)) != 0)
		ini_error(st, err);
}

/* One line that fitted, without NUL octets. */
static void
ini_line(struct ini_state *st, char *line, config_ini_cb cb, void *arg)
{
	char	*start, *end;

	if (st->line == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
		line += 3;	/* a UTF-8 byte order mark */
	start = ini_lskip(ini_rstrip(line));
	if (*start == '\0' || *start == ';' || *start == '#')
		return;
	if (start > line && st->key[0] != '\0') {
		/* Indented: another value of the previous key. */
		ini_value(st, st->key, start, cb, arg);
		return;
	}
	if (*start == '[') {
		ini_section(st, start);
		return;
	}
	end = ini_find(start, "=:");
	if (*end != '=' && *end != ':') {
		ini_error(st, "syntax error (want [section] or key = value)");
		return;
	}
	*end = '\0';
	ini_rstrip(start);
	if (strlen(start) >= sizeof(st->key)) {
		ini_error(st, "key too long");
		return;
	}
	snprintf(st->key, sizeof(st->key), "%s", start);
	ini_value(st, st->key, end + 1, cb, arg);
}

int
config_ini_parse(FILE *fp, const char *path, config_ini_cb cb, void *arg,
    struct config_errors *errs)
{
	struct ini_state	 st;
	char			*buf;
	bool			 nul;
	int			 r;

	/* One octet more than the longest line, to tell it from longer;
	 * zeroed, so no octet after a short line's NUL is undefined. */
	if ((buf = calloc(1, CONFIG_INI_MAX_LINE + 2)) == NULL) {
		config_errors_add(errs, "%s: out of memory", path);
		return -ENOMEM;
	}
	memset(&st, 0, sizeof(st));
	st.fp = fp;
	st.path = path;
	st.errs = errs;
	while ((r = ini_read_line(fp, buf, CONFIG_INI_MAX_LINE + 2,
	    &nul)) != 0) {
		st.line++;
		if (r < 0 && nul)
			ini_error(&st, "NUL octet in line");
		else if (r < 0 || strlen(ini_rstrip(buf)) > CONFIG_INI_MAX_LINE)
			config_errors_add(errs, "%s:%u: line longer than %d "
			    "octets", path, st.line, CONFIG_INI_MAX_LINE);
		else
			ini_line(&st, buf, cb, arg);
	}
	free(buf);
	if (ferror(fp)) {
		config_errors_add(errs, "%s: read error", path);
		return -EIO;
	}
	return 0;
}
