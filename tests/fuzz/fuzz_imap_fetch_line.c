/* SPDX-License-Identifier: MIT */
/*
 * fuzz_imap_fetch_line.c - libFuzzer target for proto/imap_fetch_line.c.
 * Oracle: an accepted text's last line is rebuilt from the parsed UID and
 * origin (and the literal's octet count read back) and must equal it, but
 * for leading zeros, so nothing but the one strict form can pass.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "imap_fetch_line.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Drops leading zeros of every number in s (RFC 3501 numbers may have
 * them), so the text compares with one printed from the values. */
static void
fuzz_unpad(char *s)
{
	char	*w = s;
	bool	 in_number = false;

	for (; *s != '\0'; s++) {
		if (*s == '0' && !in_number && s[1] >= '0' && s[1] <= '9')
			continue;
		in_number = *s >= '0' && *s <= '9';
		*w++ = *s;
	}
	*w = '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*text = (const char *)data;
	char		 line[128], want[128];
	uint32_t	 uid, origin;
	unsigned long	 seq, octets;
	size_t		 start, len;
	char		*brace;

	if (!imap_fetch_line_uid(text, size, &uid, &origin))
		return 0;
	for (start = size - 2; start > 0 && text[start - 1] != '\n'; start--)
		continue;
	/* The strict form is short: a longer accepted line is a bug. */
	len = size - start;
	FUZZ_CHECK(len < sizeof(line));
	memcpy(line, text + start, len);
	line[len] = '\0';
	FUZZ_CHECK(strncmp(line, "* ", 2) == 0 && uid > 0);
	seq = strtoul(line + 2, NULL, 10);
	brace = strrchr(line, '{');
	FUZZ_CHECK(brace != NULL);
	octets = strtoul(brace + 1, NULL, 10);
	if (strchr(line, '<') != NULL)
		snprintf(want, sizeof(want), "* %lu FETCH (UID %u BODY[]<%u> "
		    "{%lu}\r\n", seq, uid, origin, octets);
	else
		snprintf(want, sizeof(want), "* %lu FETCH (UID %u BODY[] "
		    "{%lu}\r\n", seq, uid, octets);
	fuzz_unpad(line);
	FUZZ_CHECK(strcmp(line, want) == 0);
	return 0;
}
