/* SPDX-License-Identifier: MIT */
/*
 * base64.c - RFC 4648 base64 encoder and strict decoder for SASL exchanges.
 */
#include <errno.h>

#include "base64.h"

/* Marks a character outside the alphabet in popgate_base64_value(). */
#define POPGATE_BASE64_INVALID	64

static const char popgate_base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
popgate_base64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t		i, o = 0;
	unsigned int	v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (unsigned int)in[i] << 16 | (unsigned int)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = popgate_base64_alphabet[(v >> 18) & 63];
		out[o++] = popgate_base64_alphabet[(v >> 12) & 63];
		out[o++] = popgate_base64_alphabet[(v >> 6) & 63];
		out[o++] = popgate_base64_alphabet[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned int)in[i] << 16;
		out[o++] = popgate_base64_alphabet[(v >> 18) & 63];
		out[o++] = popgate_base64_alphabet[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		v = (unsigned int)in[i] << 16 | (unsigned int)in[i + 1] << 8;
		out[o++] = popgate_base64_alphabet[(v >> 18) & 63];
		out[o++] = popgate_base64_alphabet[(v >> 12) & 63];
		out[o++] = popgate_base64_alphabet[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* The 6-bit value of c, or POPGATE_BASE64_INVALID. Ranges, not a table
 * indexed by the character: no assumption about char signedness. */
static unsigned int
popgate_base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return (unsigned int)(c - 'A');
	if (c >= 'a' && c <= 'z')
		return (unsigned int)(c - 'a') + 26;
	if (c >= '0' && c <= '9')
		return (unsigned int)(c - '0') + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return POPGATE_BASE64_INVALID;
}

int
popgate_base64_decode(const char *in, size_t len, unsigned char *out,
    size_t outcap, size_t *outlen)
{
	size_t		i, o = 0, pad = 0, need;
	unsigned int	v, c, k;

	*outlen = 0;
	if (len == 0)
		return 0;
	if (in == NULL || len % 4 != 0)
		return -EINVAL;
	/* '=' only as the last one or two characters (RFC 4648 sec. 4). */
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	need = len / 4 * 3 - pad;
	if (need > outcap)
		return -ENOBUFS;
	if (out == NULL)
		return -EINVAL;

	for (i = 0; i < len; i += 4) {
		v = 0;
		for (k = 0; k < 4; k++) {
			/* The padding positions were counted above; a '='
			 * anywhere else is invalid, as value() says. */
			if (i + k >= len - pad) {
				v <<= 6;
				continue;
			}
			if ((c = popgate_base64_value(in[i + k])) ==
			    POPGATE_BASE64_INVALID)
				return -EINVAL;
			v = v << 6 | c;
		}
		/* Non-zero padding bits would give a second encoding of the
		 * same octets (RFC 4648 sec. 3.5): "dGVzdB==" vs "dGVzdA==". */
		if (i + 4 == len && ((pad == 1 && (v & 0xff) != 0) ||
		    (pad == 2 && (v & 0xffff) != 0)))
			return -EINVAL;
		out[o++] = (unsigned char)(v >> 16);
		if (o < need)
			out[o++] = (unsigned char)(v >> 8);
		if (o < need)
			out[o++] = (unsigned char)v;
	}
	*outlen = o;
	return 0;
}
