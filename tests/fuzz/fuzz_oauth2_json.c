/* SPDX-License-Identifier: MIT */
/*
 * fuzz_oauth2_json.c - libFuzzer target for gateway/oauth2/oauth2_json.c.
 * Byte 0 picks what the rest goes to: the token answer parser, the device
 * answer parser, the form encoder, or the log escaper (byte 1 then sizes
 * the output buffer). Oracles: no crash, no leak; a parsed answer holds
 * only bounded, NUL-free, printable values (tokens as oauth2_token_ok()
 * wants them), and lengths that match; a refused answer leaves nothing
 * behind; an encoding uses only unreserved octets and %XX and decodes to
 * the input, and a cut one is a prefix that never ends in half an
 * escape; an escaped text is printable, never longer than its buffer,
 * and decodes to the input when it was not cut.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "oauth2_json.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)	do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_oauth2_json: %s:%d: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* Large: kept off the stack. */
static struct oauth2_token_response	fuzz_tok;
static struct oauth2_device_response	fuzz_dev;
static struct oauth2_error_response	fuzz_err;

static bool
fuzz_printable(const char *s, bool space)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < (space ? 0x20 : 0x21) ||
		    (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static void
fuzz_check_error(void)
{
	FUZZ_CHECK(fuzz_err.error[0] != '\0');
	FUZZ_CHECK(strlen(fuzz_err.error) <= OAUTH2_MAX_ERROR);
	FUZZ_CHECK(fuzz_printable(fuzz_err.error, false));
	FUZZ_CHECK(strlen(fuzz_err.description) <= OAUTH2_MAX_DESCRIPTION);
}

static void
fuzz_token(const char *p, size_t n)
{
	enum oauth2_json_result	r;
	char			why[128];

	r = oauth2_json_token(p, n, &fuzz_tok, &fuzz_err, why, sizeof(why));
	switch (r) {
	case OAUTH2_JSON_TOKEN:
		FUZZ_CHECK(fuzz_tok.access_token_len ==
		    strlen(fuzz_tok.access_token));
		FUZZ_CHECK(oauth2_token_ok(fuzz_tok.access_token,
		    fuzz_tok.access_token_len));
		FUZZ_CHECK(fuzz_tok.refresh_token_len ==
		    strlen(fuzz_tok.refresh_token));
		FUZZ_CHECK(fuzz_tok.refresh_token_len == 0 ||
		    oauth2_token_ok(fuzz_tok.refresh_token,
		    fuzz_tok.refresh_token_len));
		FUZZ_CHECK(fuzz_tok.expires_in >= 1 &&
		    fuzz_tok.expires_in <= OAUTH2_MAX_EXPIRES_IN);
		FUZZ_CHECK(strlen(fuzz_tok.scope) <= OAUTH2_MAX_SCOPE);
		FUZZ_CHECK(fuzz_printable(fuzz_tok.scope, true));
		/* A parse is a function of its input. */
		FUZZ_CHECK(oauth2_json_token(p, n, &fuzz_tok, &fuzz_err, why,
		    sizeof(why)) == OAUTH2_JSON_TOKEN);
		break;
	case OAUTH2_JSON_ERROR:
		fuzz_check_error();
		FUZZ_CHECK(fuzz_zero(&fuzz_tok, sizeof(fuzz_tok)));
		break;
	case OAUTH2_JSON_INVALID:
		FUZZ_CHECK(why[0] != '\0');
		FUZZ_CHECK(fuzz_zero(&fuzz_tok, sizeof(fuzz_tok)));
		break;
	}
}

static void
fuzz_device(const char *p, size_t n)
{
	enum oauth2_json_result	r;
	char			why[128];

	r = oauth2_json_device(p, n, &fuzz_dev, &fuzz_err, why, sizeof(why));
	switch (r) {
	case OAUTH2_JSON_TOKEN:
		FUZZ_CHECK(oauth2_token_ok(fuzz_dev.device_code,
		    strlen(fuzz_dev.device_code)));
		FUZZ_CHECK(fuzz_dev.user_code[0] != '\0');
		FUZZ_CHECK(fuzz_printable(fuzz_dev.user_code, true));
		FUZZ_CHECK(strlen(fuzz_dev.user_code) <= OAUTH2_MAX_USER_CODE);
		FUZZ_CHECK(fuzz_dev.verification_uri[0] != '\0');
		FUZZ_CHECK(fuzz_printable(fuzz_dev.verification_uri, false));
		FUZZ_CHECK(fuzz_printable(fuzz_dev.verification_uri_complete,
		    false));
		FUZZ_CHECK(fuzz_dev.expires_in >= 1 &&
		    fuzz_dev.expires_in <= OAUTH2_MAX_EXPIRES_IN);
		FUZZ_CHECK(fuzz_dev.interval >= 1 &&
		    fuzz_dev.interval <= OAUTH2_MAX_INTERVAL);
		break;
	case OAUTH2_JSON_ERROR:
		fuzz_check_error();
		FUZZ_CHECK(fuzz_zero(&fuzz_dev, sizeof(fuzz_dev)));
		break;
	case OAUTH2_JSON_INVALID:
		FUZZ_CHECK(why[0] != '\0');
		FUZZ_CHECK(fuzz_zero(&fuzz_dev, sizeof(fuzz_dev)));
		break;
	}
}

static int
fuzz_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
fuzz_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/* Decodes a form value; checks it is canonical on the way. */
static size_t
fuzz_form_decode(const char *s, size_t n, char *out)
{
	size_t	i, o = 0;
	int	hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			FUZZ_CHECK(fuzz_unreserved((unsigned char)s[i]));
			out[o++] = s[i];
			continue;
		}
		FUZZ_CHECK(i + 2 < n);
		hi = fuzz_hex(s[i + 1]);
		lo = fuzz_hex(s[i + 2]);
		FUZZ_CHECK(hi >= 0 && lo >= 0);
		/* Nothing unreserved is escaped. */
		FUZZ_CHECK(!fuzz_unreserved((unsigned char)(hi * 16 + lo)));
		out[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	return o;
}

static void
fuzz_form(const char *p, size_t n, size_t cut)
{
	char	*full, *part, *back;
	size_t	 need, got, len;

	need = oauth2_form_encode(NULL, 0, p, n);
	FUZZ_CHECK(need >= n && need <= 3 * n);
	full = malloc(need + 1);
	back = malloc(n + 1);
	part = malloc(cut + 1);
	FUZZ_CHECK(full != NULL && back != NULL && part != NULL);
	FUZZ_CHECK(oauth2_form_encode(full, need + 1, p, n) == need);
	FUZZ_CHECK(strlen(full) == need);
	got = fuzz_form_decode(full, need, back);
	FUZZ_CHECK(got == n && memcmp(back, p, n) == 0);
	/* A cut encoding is a whole-escape prefix of the full one. */
	if (cut > 0) {
		FUZZ_CHECK(oauth2_form_encode(part, cut, p, n) == need);
		len = strlen(part);
		FUZZ_CHECK(len < cut && len <= need);
		FUZZ_CHECK(memcmp(part, full, len) == 0);
		/* It stopped at the first escape or octet that did not
		 * fit. */
		if (len < need)
			FUZZ_CHECK(len + (full[len] == '%' ? 3 : 1) > cut - 1);
		(void)fuzz_form_decode(part, len, back);
	}
	free(full);
	free(back);
	free(part);
}

static void
fuzz_escape(const char *p, size_t n, size_t dstlen)
{
	char	*out, *back;
	size_t	 i, o = 0, len;
	bool	 cut;

	out = malloc(dstlen);
	back = malloc(n + 4);	/* the input, or a prefix and "..." */
	FUZZ_CHECK(out != NULL && back != NULL);
	oauth2_escape(out, dstlen, p, n);
	len = strlen(out);
	FUZZ_CHECK(len < dstlen);
	FUZZ_CHECK(fuzz_printable(out, true));
	cut = len >= 3 && memcmp(out + len - 3, "...", 3) == 0;
	for (i = 0; i < len; i++) {
		FUZZ_CHECK(out[i] != '"');
		if (out[i] != '\\') {
			back[o++] = out[i];
			continue;
		}
		FUZZ_CHECK(i + 3 < len && out[i + 1] == 'x');
		back[o++] = (char)strtol((char[]){ out[i + 2], out[i + 3], 0 },
		    NULL, 16);
		i += 3;
	}
	/* Uncut output decodes to the input; cut output to a prefix of it
	 * (plus the "..." mark). */
	if (!cut || (o == n && memcmp(back, p, n) == 0))
		FUZZ_CHECK(o == n && memcmp(back, p, n) == 0);
	else
		FUZZ_CHECK(o >= 3 && o - 3 <= n && memcmp(back, p, o - 3) == 0);
	free(out);
	free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p;
	size_t		 n;

	if (size < 2)
		return 0;
	p = (const char *)data + 2;
	n = size - 2;
	switch (data[0] & 0x03) {
	case 0:
		fuzz_token(p, n);
		break;
	case 1:
		fuzz_device(p, n);
		break;
	case 2:
		fuzz_form(p, n, data[1]);
		break;
	case 3:
		fuzz_escape(p, n, (size_t)data[1] + 4);
		break;
	}
	return 0;
}
