/* SPDX-License-Identifier: MIT */
/*
 * accounts_line.c - one line of the device accounts file, written the way
 * accounts_parse() reads it back ("account add" uses it).
 */
#include "accounts.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* A field of the line: printable ASCII without blanks. */
static bool
accounts_line_field_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int
accounts_line_start(char *line, size_t size, const char *name,
    const char *hash)
{
	size_t	nlen = strlen(name), hlen = strlen(hash);

	/* A leading '#' would make the whole line a comment. */
	if (nlen == 0 || nlen >= sizeof(((struct account *)0)->name) ||
	    name[0] == '#' || strchr(name, ':') != NULL ||
	    !accounts_line_field_ok(name) || hlen == 0 ||
	    !accounts_line_field_ok(hash))
		return -EINVAL;
	if (nlen + 1 + hlen >= size)
		return -E2BIG;
	memcpy(line, name, nlen);
	line[nlen] = ' ';
	memcpy(line + nlen + 1, hash, hlen + 1);
	return (int)(nlen + 1 + hlen);
}

int
accounts_line_add(char *line, size_t size, size_t len, const char *key,
    size_t klen, const char *value)
{
	static const char	hex[] = "0123456789ABCDEF";
	size_t			i, n = len;

	if (klen == 0)
		return -EINVAL;
	for (i = 0; i < klen; i++)
		if (key[i] < 'a' || key[i] > 'z')
			return -EINVAL;
	/* The parser refuses these even escaped. */
	if (strpbrk(value, "\r\n") != NULL)
		return -EINVAL;
	if (n + 1 + klen + 1 >= size)
		return -E2BIG;
	line[n++] = ' ';
	memcpy(line + n, key, klen);
	n += klen;
	line[n++] = '=';
	for (; *value != '\0'; value++) {
		unsigned char	ch = (unsigned char)*value;

		if (n + 4 > size) {
			line[len] = '\0';
			return -E2BIG;
		}
		if (ch <= ' ' || ch >= 0x7f || ch == '%' || ch == '#') {
			line[n++] = '%';
			line[n++] = hex[ch >> 4];
			line[n++] = hex[ch & 0xf];
		} else
			line[n++] = (char)ch;
	}
	line[n] = '\0';
	return (int)n;
}
