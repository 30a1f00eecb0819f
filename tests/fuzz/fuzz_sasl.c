/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sasl.c - libFuzzer target for proto/sasl.c and the base64 decoder.
 * Byte 0 picks the mechanism (bits 0-1), initial response or continuation
 * (bit 2), and whether the rest is parsed as already decoded (bit 3), so
 * that the parsers are reached without base64 in the way. The rest is the
 * client line. Oracles: no crash; results lie inside the decoded buffer
 * and within the limits; a decoded line re-encodes to exactly itself
 * (canonical) and its octets survive encode + decode; a rejected
 * OAUTHBEARER message is left unmodified.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "sasl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SASL_MECH_MASK	0x03
#define FUZZ_SASL_INITIAL	0x04
#define FUZZ_SASL_RAW		0x08

#define FUZZ_CHECK(cond)	do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_sasl: %s:%d: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* True if [p, p + n) lies inside [buf, buf + len). */
static bool
fuzz_inside(const unsigned char *buf, size_t len, const char *p, size_t n)
{
	const unsigned char	*q = (const unsigned char *)p;

	return q != NULL && q >= buf && n <= len &&
	    (size_t)(q - buf) <= len - n;
}

static void
fuzz_check_identity(const unsigned char *buf, size_t len, const char *p,
    size_t n, size_t max)
{
	size_t	i;

	FUZZ_CHECK(fuzz_inside(buf, len, p, n));
	FUZZ_CHECK(n >= 1 && n <= max);
	/* No controls reach the upstream command line. */
	for (i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)p[i] >= 0x20 &&
		    (unsigned char)p[i] != 0x7f);
}

static void
fuzz_check_passwd(const unsigned char *buf, size_t len, const char *p,
    size_t n)
{
	FUZZ_CHECK(fuzz_inside(buf, len, p, n));
	FUZZ_CHECK(n >= 1 && n <= SASL_MAX_PASSWD_OCTETS);
	FUZZ_CHECK(memchr(p, '\0', n) == NULL);
}

static void
fuzz_check_bearer(const unsigned char *buf, size_t len,
    const struct sasl_bearer *b)
{
	size_t	i;

	fuzz_check_identity(buf, len, b->user, b->user_len,
	    SASL_MAX_AUTHCID_OCTETS);
	FUZZ_CHECK(fuzz_inside(buf, len, b->token, b->token_len));
	FUZZ_CHECK(b->token_len >= 1 &&
	    b->token_len <= SASL_MAX_TOKEN_OCTETS);
	/* RFC 6750 b64token: printable, no SP, no kvsep. */
	for (i = 0; i < b->token_len; i++)
		FUZZ_CHECK(b->token[i] > 0x20 && b->token[i] < 0x7f);
}

/* Runs the parser of mech over msg[0..len), which it may modify. */
static void
fuzz_parse(enum sasl_mech mech, unsigned char *msg, size_t len)
{
	struct sasl_plain	 p;
	struct sasl_bearer	 b;
	unsigned char		*copy;
	const char		*s;
	size_t			 n;
	int			 r;

	switch (mech) {
	case SASL_MECH_PLAIN:
		r = sasl_plain_parse(msg, len, &p);
		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -EPERM);
		if (r != 0) {
			FUZZ_CHECK(p.authcid == NULL && p.passwd == NULL);
			break;
		}
		fuzz_check_identity(msg, len, p.authcid, p.authcid_len,
		    SASL_MAX_AUTHCID_OCTETS);
		fuzz_check_passwd(msg, len, p.passwd, p.passwd_len);
		FUZZ_CHECK(fuzz_inside(msg, len, p.authzid, p.authzid_len));
		/* The three fields and two NULs are the whole message. */
		FUZZ_CHECK(p.authzid_len + p.authcid_len + p.passwd_len + 2 ==
		    len);
		/* Conformance 5.15. */
		FUZZ_CHECK(p.authzid_len == 0 ||
		    (p.authzid_len == p.authcid_len &&
		    memcmp(p.authzid, p.authcid, p.authcid_len) == 0));
		break;
	case SASL_MECH_LOGIN:
		if (sasl_login_parse_user(msg, len, &s, &n) == 0)
			fuzz_check_identity(msg, len, s, n,
			    SASL_MAX_AUTHCID_OCTETS);
		else
			FUZZ_CHECK(s == NULL && n == 0);
		if (sasl_login_parse_passwd(msg, len, &s, &n) == 0)
			fuzz_check_passwd(msg, len, s, n);
		else
			FUZZ_CHECK(s == NULL && n == 0);
		break;
	case SASL_MECH_XOAUTH2:
		r = sasl_xoauth2_parse(msg, len, &b);
		FUZZ_CHECK(r == 0 || r == -EINVAL);
		if (r == 0)
			fuzz_check_bearer(msg, len, &b);
		else
			FUZZ_CHECK(b.user == NULL && b.token == NULL);
		break;
	case SASL_MECH_OAUTHBEARER:
		/* One extra octet: malloc(0) may return NULL. */
		copy = malloc(len + 1);
		FUZZ_CHECK(copy != NULL);
		memcpy(copy, msg, len);
		r = sasl_oauthbearer_parse(msg, len, &b);
		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ECANCELED);
		if (r == 0)
			fuzz_check_bearer(msg, len, &b);
		else {
			FUZZ_CHECK(b.user == NULL && b.token == NULL);
			FUZZ_CHECK(memcmp(copy, msg, len) == 0);
		}
		free(copy);
		break;
	}
}

/* Canonical: the decoded octets encode back to exactly the line, and
 * decode(encode(x)) == x. */
static void
fuzz_check_base64(const char *line, size_t len, const unsigned char *out,
    size_t outlen)
{
	char		*enc;
	unsigned char	*again;
	size_t		 enclen, n;

	enc = malloc(POPGATE_BASE64_ENCODED_LEN(outlen) + 1);
	again = malloc(outlen + 1);
	FUZZ_CHECK(enc != NULL && again != NULL);
	enclen = popgate_base64_encode(out, outlen, enc);
	FUZZ_CHECK(enclen == len && memcmp(enc, line, len) == 0);
	FUZZ_CHECK(popgate_base64_decode(enc, enclen, again, outlen, &n) ==
	    0);
	FUZZ_CHECK(n == outlen && memcmp(again, out, n) == 0);
	if (outlen > 0)
		FUZZ_CHECK(popgate_base64_decode(enc, enclen, again,
		    outlen - 1, &n) == -ENOBUFS);
	free(again);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum sasl_mech	 mech;
	unsigned char	*out;
	const char	*line;
	size_t		 len, outlen;
	bool		 initial;
	int		 r;

	if (size < 1)
		return 0;
	mech = (enum sasl_mech)((data[0] & FUZZ_SASL_MECH_MASK) +
	    SASL_MECH_PLAIN);
	initial = (data[0] & FUZZ_SASL_INITIAL) != 0;
	line = (const char *)data + 1;
	len = size - 1;
	out = malloc(SASL_MAX_DECODED_OCTETS);
	FUZZ_CHECK(out != NULL);

	if (data[0] & FUZZ_SASL_RAW) {
		if (len <= SASL_MAX_DECODED_OCTETS) {
			memcpy(out, line, len);
			fuzz_parse(mech, out, len);
		}
		free(out);
		return 0;
	}

	r = sasl_decode_response(line, len, initial, out,
	    SASL_MAX_DECODED_OCTETS, &outlen);
	if (len > SASL_MAX_LINE_OCTETS)
		FUZZ_CHECK(r == -EMSGSIZE);
	else if (!initial && len == 1 && line[0] == '*')
		FUZZ_CHECK(r == -ECANCELED);
	else
		FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r != 0) {
		FUZZ_CHECK(outlen == 0);
		free(out);
		return 0;
	}
	FUZZ_CHECK(outlen <= SASL_MAX_DECODED_OCTETS);
	if (initial && len == 1 && line[0] == '=')
		FUZZ_CHECK(outlen == 0);
	else {
		FUZZ_CHECK(outlen <= POPGATE_BASE64_DECODED_MAX(len));
		fuzz_check_base64(line, len, out, outlen);
	}
	fuzz_parse(mech, out, outlen);
	free(out);
	return 0;
}
