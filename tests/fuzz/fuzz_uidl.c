/* SPDX-License-Identifier: MIT */
/*
 * fuzz_uidl.c - libFuzzer target for UIDL templates (proto/pop3_uidl.c).
 * The input is 8 octets of uid and uidvalidity, then the template text.
 * Oracles: compile answers 0, or -EINVAL with a message and an empty
 * template; a compiled template formats to 1..70 octets of 0x21..0x7E,
 * equal to what a plain reading of the syntax here gives; two different
 * uids never give the same id (ids must stay unique in a mailbox).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_util.h"
#include "pop3_uidl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The id of a template compile() accepted, read straight from its text:
 * "{{" and "}}" are braces, "{NAME}" or "{NAME:FMT}" a field, where FMT is
 * x, d, 0Wx or 0Wd; anything else is itself.
 */
static void
fuzz_expect(const char *text, uint32_t uid, uint32_t uidvalidity,
    char *out, size_t size)
{
	const char	*close, *colon;
	size_t		 n = 0, name_len;
	uint32_t	 v;
	int		 width = 0;
	char		 conv = 'd';

	for (; *text != '\0'; text++) {
		FUZZ_CHECK(n + 11 < size);
		if ((*text == '{' || *text == '}') && text[1] == *text) {
			out[n++] = *text++;
			continue;
		}
		if (*text != '{') {
			out[n++] = *text;
			continue;
		}
		close = strchr(text, '}');
		FUZZ_CHECK(close != NULL);
		colon = memchr(text, ':', (size_t)(close - text));
		name_len = (size_t)((colon != NULL ? colon : close) - text - 1);
		v = name_len == 3 ? uid : uidvalidity;
		width = 0;
		conv = 'd';
		if (colon != NULL) {
			conv = close[-1];
			if (close - colon > 2)
				width = atoi(colon + 2);
		}
		n += (size_t)snprintf(out + n, size - n, conv == 'x' ?
		    "%0*" PRIx32 : "%0*" PRIu32, width, v);
		text = close;
	}
	out[n] = '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_uidl_template	 t;
	const char			*error = NULL;
	char				*text, id[POP3_UIDL_MAX_OCTETS + 1];
	char				 id2[POP3_UIDL_MAX_OCTETS + 1], want[256];
	uint32_t			 uid, uidv;
	size_t				 n, i;

	if (size < 8 || size > 4096)
		return 0;
	memcpy(&uid, data, 4);
	memcpy(&uidv, data + 4, 4);
	if ((text = malloc(size - 8 + 1)) == NULL)
		return 0;
	memcpy(text, data + 8, size - 8);
	text[size - 8] = '\0';

	if (pop3_uidl_compile(&t, text, &error) != 0) {
		FUZZ_CHECK(error != NULL && *error != '\0');
		FUZZ_CHECK(fuzz_zero(&t, sizeof(t)));
		free(text);
		return 0;
	}
	FUZZ_CHECK(t.nparts >= 1 && t.nparts <= POP3_UIDL_MAX_PARTS);
	n = pop3_uidl_format(&t, uid, uidv, id);
	FUZZ_CHECK(n >= 1 && n <= POP3_UIDL_MAX_OCTETS && n == strlen(id));
	for (i = 0; i < n; i++)
		FUZZ_CHECK(id[i] >= 0x21 && id[i] <= 0x7e);
	fuzz_expect(text, uid, uidv, want, sizeof(want));
	FUZZ_CHECK(strcmp(id, want) == 0);
	/* Extreme values fit too: compile() bounds the longest id. */
	n = pop3_uidl_format(&t, UINT32_MAX, UINT32_MAX, id2);
	FUZZ_CHECK(n >= 1 && n <= POP3_UIDL_MAX_OCTETS);
	pop3_uidl_format(&t, uid ^ 1, uidv, id2);
	FUZZ_CHECK(strcmp(id, id2) != 0);
	free(text);
	return 0;
}
