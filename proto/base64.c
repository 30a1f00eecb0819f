/* SPDX-License-Identifier: MIT */
/*
 * base64.c - RFC 4648 base64 encoder for SASL exchanges.
 */
#include "base64.h"

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
