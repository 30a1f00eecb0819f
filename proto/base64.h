/* SPDX-License-Identifier: MIT */
/*
 * base64.h - RFC 4648 base64 with the standard alphabet and padding, as SASL
 * uses it (RFC 4422, RFC 5034 sec. 4). Pure. Prefixed names: libetpan
 * exports its own encode_base64/decode_base64.
 */
#ifndef POPGATE_BASE64_H
#define POPGATE_BASE64_H

#include <stddef.h>

/* Octets needed to encode n octets, without a terminating NUL. */
#define POPGATE_BASE64_ENCODED_LEN(n)	((((n) + 2) / 3) * 4)

/* Encodes n octets into out (POPGATE_BASE64_ENCODED_LEN(n) + 1 octets),
 * NUL-terminates it and returns the encoded length. */
size_t	popgate_base64_encode(const unsigned char *in, size_t n, char *out);

#endif
