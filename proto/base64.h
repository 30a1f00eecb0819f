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

/* Upper bound on the octets that len characters of base64 decode to. */
#define POPGATE_BASE64_DECODED_MAX(len)	(((len) / 4) * 3)

/*
 * Strict decoder (RFC 4648 sec. 4, as RFC 5034 sec. 4 demands of SASL
 * responses): the length is a multiple of 4, '=' appears only as one or two
 * final padding characters, nothing outside the alphabet (no whitespace),
 * and the padding bits are zero (sec. 3.5), so that exactly one encoding
 * is accepted for each octet string. Writes *outlen octets to out and
 * returns 0; -EINVAL if in is not such an encoding, -ENOBUFS if the
 * decoded octets do not fit in outcap (checked before the characters
 * are). On error out holds unspecified octets and *outlen is 0.
 */
int	popgate_base64_decode(const char *in, size_t len, unsigned char *out,
	    size_t outcap, size_t *outlen);

#endif
