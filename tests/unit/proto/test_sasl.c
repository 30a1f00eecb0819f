/* SPDX-License-Identifier: MIT */
/*
 * test_sasl.c - unit tests for proto/sasl.c and the strict base64 decoder:
 * conformance items 5.4, 5.6-5.11 and 5.15, and the four client messages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "sasl.h"

/* Round-trip lengths: every tail case (n % 3) many times over. */
#define TEST_ROUNDTRIP_MAX	300
/* Fixed seed: failures reproduce. */
#define TEST_SEED		0x5a5150u
/* Longer than any field limit in sasl.h. */
#define TEST_BIG_OCTETS		(SASL_MAX_TOKEN_OCTETS + 2)

/* Decodes a response line the way the gateway will; returns its result. */
static int
decode(const char *line, bool initial, unsigned char *out, size_t *outlen)
{
	return sasl_decode_response(line, strlen(line), initial, out,
	    SASL_MAX_DECODED_OCTETS, outlen);
}

/* Encodes n octets of msg as a line, then decodes it again. */
static size_t
via_base64(const void *msg, size_t n, unsigned char *out)
{
	char	*enc;
	size_t	 outlen;

	enc = malloc(POPGATE_BASE64_ENCODED_LEN(n) + 1);
	assert_non_null(enc);
	popgate_base64_encode(msg, n, enc);
	assert_int_equal(decode(enc, true, out, &outlen), 0);
	free(enc);
	assert_int_equal(outlen, n);
	assert_memory_equal(out, msg, n);
	return outlen;
}

static void
test_mech_lookup(void **state)
{
	enum sasl_mech	m;

	(void)state;
	/* Conformance 5.4: case-insensitive. */
	assert_int_equal(sasl_mech_lookup("plain", 5, &m), 0);
	assert_int_equal(m, SASL_MECH_PLAIN);
	assert_int_equal(sasl_mech_lookup("PlAiN", 5, &m), 0);
	assert_int_equal(m, SASL_MECH_PLAIN);
	assert_int_equal(sasl_mech_lookup("LOGIN", 5, &m), 0);
	assert_int_equal(m, SASL_MECH_LOGIN);
	assert_int_equal(sasl_mech_lookup("xoauth2", 7, &m), 0);
	assert_int_equal(m, SASL_MECH_XOAUTH2);
	assert_int_equal(sasl_mech_lookup("OAuthBearer", 11, &m), 0);
	assert_int_equal(m, SASL_MECH_OAUTHBEARER);
	/* Conformance 5.3: unknown, prefixes and extensions. */
	assert_int_equal(sasl_mech_lookup("FOOBAR", 6, &m), -ENOENT);
	assert_int_equal(sasl_mech_lookup("PLAI", 4, &m), -ENOENT);
	assert_int_equal(sasl_mech_lookup("PLAINX", 6, &m), -ENOENT);
	assert_int_equal(sasl_mech_lookup("PLAIN\0", 6, &m), -ENOENT);
	assert_int_equal(sasl_mech_lookup("CRAM-MD5", 8, &m), -ENOENT);
	assert_int_equal(sasl_mech_lookup("", 0, &m), -ENOENT);
	assert_string_equal(sasl_mech_name(SASL_MECH_OAUTHBEARER),
	    "OAUTHBEARER");
	assert_null(sasl_mech_name((enum sasl_mech)0));
}

static void
test_base64_rejects(void **state)
{
	static const char *const bad[] = {
		/* Conformance 5.10, verbatim. */
		"=AAA", "AAA=BBB", "dGVz dA==", "dGVzdA!=", "dGVzdA",
		/* '=' misplaced, too many, or alone. */
		"=", "==", "====", "A===", "AA=A", "dGVzdA==dGVz",
		"dGVzdA=\0", "dGVz\ndA==", "dGVzdA==\r", "\tdGVzdA==",
		/* Outside the alphabet: URL-safe alphabet, high octets. */
		"dGVzdA-_", "dGVz\xc3\xa9" "A=", "dGVz-A==",
		/* Non-canonical padding bits (RFC 4648 sec. 3.5). */
		"dGVzdB==", "dGVzdC==", "dGVzdP==", "dGVzdHN=", "dGVzdHR=",
		"QR==", "QUJ=",
	};
	unsigned char	out[64];
	size_t		i, outlen = 1;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (popgate_base64_decode(bad[i], strlen(bad[i]), out,
		    sizeof(out), &outlen) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_int_equal(outlen, 0);
		if (decode(bad[i], false, out, &outlen) != -EINVAL)
			fail_msg("\"%s\" accepted as a response", bad[i]);
	}
	/* Embedded NUL, which strlen() would hide. */
	assert_int_equal(popgate_base64_decode("dG\0zdA==", 8, out,
	    sizeof(out), &outlen), -EINVAL);
}

static void
test_base64_accepts(void **state)
{
	unsigned char	out[16];
	size_t		outlen;

	(void)state;
	assert_int_equal(popgate_base64_decode("dGVzdA==", 8, out,
	    sizeof(out), &outlen), 0);
	assert_int_equal(outlen, 4);
	assert_memory_equal(out, "test", 4);
	assert_int_equal(popgate_base64_decode("dGVzdHM=", 8, out,
	    sizeof(out), &outlen), 0);
	assert_int_equal(outlen, 5);
	assert_memory_equal(out, "tests", 5);
	assert_int_equal(popgate_base64_decode("+/+/", 4, out,
	    sizeof(out), &outlen), 0);
	assert_int_equal(outlen, 3);
	assert_memory_equal(out, "\xfb\xff\xbf", 3);
	assert_int_equal(popgate_base64_decode("", 0, out, 0, &outlen), 0);
	assert_int_equal(outlen, 0);
	/* Exact fit, then one short. */
	assert_int_equal(popgate_base64_decode("dGVzdA==", 8, out, 4,
	    &outlen), 0);
	assert_int_equal(popgate_base64_decode("dGVzdA==", 8, out, 3,
	    &outlen), -ENOBUFS);
	assert_int_equal(outlen, 0);
}

static void
test_base64_roundtrip(void **state)
{
	unsigned char	in[TEST_ROUNDTRIP_MAX], out[TEST_ROUNDTRIP_MAX];
	char		enc[POPGATE_BASE64_ENCODED_LEN(TEST_ROUNDTRIP_MAX) + 1];
	size_t		n, i, enclen, outlen;
	int		round;

	(void)state;
	srand(TEST_SEED);
	for (round = 0; round < 4; round++) {
		for (n = 0; n <= TEST_ROUNDTRIP_MAX; n++) {
			for (i = 0; i < n; i++)
				in[i] = (unsigned char)rand();
			/* Edge octets in the first rounds. */
			if (round == 1)
				memset(in, 0, n);
			if (round == 2)
				memset(in, 0xff, n);
			enclen = popgate_base64_encode(in, n, enc);
			assert_int_equal(enclen,
			    POPGATE_BASE64_ENCODED_LEN(n));
			assert_int_equal(popgate_base64_decode(enc, enclen,
			    out, n, &outlen), 0);
			assert_int_equal(outlen, n);
			assert_memory_equal(in, out, n);
			assert_true(outlen <=
			    POPGATE_BASE64_DECODED_MAX(enclen));
			if (n > 0)
				assert_int_equal(popgate_base64_decode(enc,
				    enclen, out, n - 1, &outlen), -ENOBUFS);
		}
	}
}

static void
test_response_lines(void **state)
{
	unsigned char	 out[SASL_MAX_DECODED_OCTETS];
	char		*big;
	size_t		 outlen = 1;

	(void)state;
	/* Conformance 5.9: "*" cancels a continuation. */
	assert_int_equal(decode("*", false, out, &outlen), -ECANCELED);
	assert_int_equal(decode("*", true, out, &outlen), -EINVAL);
	assert_int_equal(decode("**", false, out, &outlen), -EINVAL);
	assert_int_equal(decode("* ", false, out, &outlen), -EINVAL);
	/* Conformance 5.7: "=" is the empty initial response. */
	outlen = 1;
	assert_int_equal(decode("=", true, out, &outlen), 0);
	assert_int_equal(outlen, 0);
	assert_int_equal(decode("=", false, out, &outlen), -EINVAL);
	/* Conformance 5.6: an empty continuation line is the empty
	 * response; an empty initial response is not a thing. */
	assert_int_equal(decode("", false, out, &outlen), 0);
	assert_int_equal(outlen, 0);
	assert_int_equal(decode("", true, out, &outlen), -EINVAL);
	/* AUTH PLAIN = : decodes, then fails as credentials. */
	assert_int_equal(decode("=", true, out, &outlen), 0);
	assert_int_equal(sasl_plain_parse(out, outlen,
	    &(struct sasl_plain){ 0 }), -EINVAL);

	/* Conformance 5.11: the largest line decodes, one more is refused. */
	big = malloc(SASL_MAX_LINE_OCTETS + 5);
	assert_non_null(big);
	memset(big, 'A', SASL_MAX_LINE_OCTETS + 4);
	assert_int_equal(sasl_decode_response(big, SASL_MAX_LINE_OCTETS,
	    false, out, sizeof(out), &outlen), 0);
	assert_int_equal(outlen, SASL_MAX_DECODED_OCTETS);
	assert_int_equal(sasl_decode_response(big, SASL_MAX_LINE_OCTETS + 4,
	    false, out, sizeof(out), &outlen), -EMSGSIZE);
	assert_int_equal(sasl_decode_response(big, SASL_MAX_LINE_OCTETS,
	    true, out, sizeof(out) - 1, &outlen), -ENOBUFS);
	free(big);
}

static void
test_plain_good(void **state)
{
	unsigned char		out[SASL_MAX_DECODED_OCTETS];
	struct sasl_plain	p;
	size_t			n;

	(void)state;
	/* Conformance 5.7: AUTH PLAIN b64("\0user\0pw"). */
	n = via_base64("\0user\0pw", 8, out);
	assert_int_equal(sasl_plain_parse(out, n, &p), 0);
	assert_int_equal(p.authzid_len, 0);
	assert_int_equal(p.authcid_len, 4);
	assert_memory_equal(p.authcid, "user", 4);
	assert_int_equal(p.passwd_len, 2);
	assert_memory_equal(p.passwd, "pw", 2);
	assert_ptr_equal(p.authcid, (const char *)out + 1);

	/* authzid equal to authcid is no proxy authorization. */
	n = via_base64("user\0user\0pw", 12, out);
	assert_int_equal(sasl_plain_parse(out, n, &p), 0);
	assert_int_equal(p.authzid_len, 4);
	assert_memory_equal(p.authzid, "user", 4);
	assert_ptr_equal(p.passwd, (const char *)out + 10);

	/* UTF-8 names; passwords are any octet but NUL. */
	n = via_base64("\0j\xc3\xb6rg@example.org\0\xff\x01 \xc3", 23, out);
	assert_int_equal(sasl_plain_parse(out, n, &p), 0);
	assert_int_equal(p.authcid_len, 17);
	assert_int_equal(p.passwd_len, 4);
	/* The RFC 4616 sec. 4 example. */
	assert_int_equal(sasl_plain_parse((const unsigned char *)
	    "\0tim\0tanstaaftanstaaf", 21, &p), 0);
}

static void
test_plain_bad(void **state)
{
	static const struct {
		const char	*msg;
		size_t		 len;
		int		 error;
	} cases[] = {
		/* Conformance 5.15: somebody else's mailbox. */
		{ "other\0user\0pw", 13, -EPERM },
		{ "use\0user\0pw", 11, -EPERM },
		{ "userx\0user\0pw", 13, -EPERM },
		{ "USER\0user\0pw", 12, -EPERM },
		{ "", 0, -EINVAL },
		{ "userpw", 6, -EINVAL },		/* no NUL */
		{ "\0userpw", 7, -EINVAL },		/* one NUL */
		{ "\0user\0pw\0", 9, -EINVAL },		/* extra NUL */
		{ "\0user\0p\0w", 9, -EINVAL },
		{ "\0\0user\0pw", 9, -EINVAL },
		{ "\0user\0", 6, -EINVAL },		/* empty passwd */
		{ "\0\0pw", 4, -EINVAL },		/* empty authcid */
		{ "\0\0", 2, -EINVAL },
		{ "\0us\ner\0pw", 9, -EINVAL },		/* control */
		{ "\0us\x7f" "er\0pw", 9, -EINVAL },
		{ "\0us\xc2\x85r\0pw", 9, -EINVAL },	/* C1 NEL */
		{ "\0us\xc3r\0pw", 8, -EINVAL },	/* truncated */
		{ "\0\xc0\xafr\0pw", 7, -EINVAL },	/* overlong */
		{ "\0\xed\xa0\x80r\0pw", 8, -EINVAL },	/* surrogate */
		{ "\0\xf4\x90\x80\x80\0pw", 8, -EINVAL }, /* > U+10FFFF */
		{ "\0\xff\0pw", 5, -EINVAL },
		{ "\xff\0user\0pw", 10, -EINVAL },	/* bad authzid */
	};
	struct sasl_plain	p;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (sasl_plain_parse((const unsigned char *)cases[i].msg,
		    cases[i].len, &p) != cases[i].error)
			fail_msg("case %zu", i);
		assert_null(p.authcid);
		assert_null(p.passwd);
	}
}

static void
test_plain_limits(void **state)
{
	unsigned char		msg[2 * SASL_MAX_AUTHCID_OCTETS + 2 +
				    SASL_MAX_PASSWD_OCTETS + 2];
	struct sasl_plain	p;
	size_t			n;

	(void)state;
	/* authzid = authcid = 255 octets, passwd 255: accepted. */
	n = 0;
	memset(msg + n, 'a', SASL_MAX_AUTHZID_OCTETS);
	n += SASL_MAX_AUTHZID_OCTETS;
	msg[n++] = '\0';
	memset(msg + n, 'a', SASL_MAX_AUTHCID_OCTETS);
	n += SASL_MAX_AUTHCID_OCTETS;
	msg[n++] = '\0';
	memset(msg + n, 'p', SASL_MAX_PASSWD_OCTETS);
	n += SASL_MAX_PASSWD_OCTETS;
	assert_int_equal(sasl_plain_parse(msg, n, &p), 0);
	assert_int_equal(p.passwd_len, SASL_MAX_PASSWD_OCTETS);
	/* passwd 256. */
	msg[n] = 'p';
	assert_int_equal(sasl_plain_parse(msg, n + 1, &p), -EINVAL);
	/* authcid 256, no authzid. */
	msg[0] = '\0';
	memset(msg + 1, 'a', SASL_MAX_AUTHCID_OCTETS + 1);
	msg[SASL_MAX_AUTHCID_OCTETS + 2] = '\0';
	msg[SASL_MAX_AUTHCID_OCTETS + 3] = 'p';
	assert_int_equal(sasl_plain_parse(msg, SASL_MAX_AUTHCID_OCTETS + 4,
	    &p), -EINVAL);
	/* authcid 255, no authzid: the limit itself. */
	msg[1] = '\0';
	assert_int_equal(sasl_plain_parse(msg + 1, SASL_MAX_AUTHCID_OCTETS + 3,
	    &p), 0);
	assert_int_equal(p.authcid_len, SASL_MAX_AUTHCID_OCTETS);
}

static void
test_login(void **state)
{
	unsigned char	 out[SASL_MAX_DECODED_OCTETS], big[300];
	char		 enc[16];
	const char	*s;
	size_t		 n, len;

	(void)state;
	/* Conformance 5.5: the prompts are exactly these. */
	popgate_base64_encode((const unsigned char *)"Username:", 9, enc);
	assert_string_equal(enc, SASL_LOGIN_CHALLENGE_USER);
	popgate_base64_encode((const unsigned char *)"Password:", 9, enc);
	assert_string_equal(enc, SASL_LOGIN_CHALLENGE_PASSWD);
	assert_int_equal(popgate_base64_decode(SASL_LOGIN_CHALLENGE_USER,
	    strlen(SASL_LOGIN_CHALLENGE_USER), out, sizeof(out), &n), 0);
	assert_memory_equal(out, "Username:", n);
	assert_int_equal(popgate_base64_decode(SASL_LOGIN_CHALLENGE_PASSWD,
	    strlen(SASL_LOGIN_CHALLENGE_PASSWD), out, sizeof(out), &n), 0);
	assert_int_equal(n, 9);
	assert_memory_equal(out, "Password:", n);

	assert_int_equal(decode("dXNlckBleGFtcGxlLm9yZw==", false, out, &n),
	    0);
	assert_int_equal(sasl_login_parse_user(out, n, &s, &len), 0);
	assert_int_equal(len, 16);
	assert_memory_equal(s, "user@example.org", 16);
	assert_ptr_equal(s, (const char *)out);
	assert_int_equal(decode("c2VjcmV0", false, out, &n), 0);
	assert_int_equal(sasl_login_parse_passwd(out, n, &s, &len), 0);
	assert_memory_equal(s, "secret", 6);

	assert_int_equal(sasl_login_parse_user(out, 0, &s, &len), -EINVAL);
	assert_null(s);
	assert_int_equal(sasl_login_parse_passwd(out, 0, &s, &len), -EINVAL);
	assert_int_equal(sasl_login_parse_user((const unsigned char *)
	    "us\0er", 5, &s, &len), -EINVAL);
	assert_int_equal(sasl_login_parse_user((const unsigned char *)
	    "us\r\ner", 6, &s, &len), -EINVAL);
	assert_int_equal(sasl_login_parse_passwd((const unsigned char *)
	    "pa\0ss", 5, &s, &len), -EINVAL);
	assert_int_equal(sasl_login_parse_passwd((const unsigned char *)
	    "pa\xff\r\nss", 7, &s, &len), 0);
	memset(big, 'x', sizeof(big));
	assert_int_equal(sasl_login_parse_user(big, SASL_MAX_AUTHCID_OCTETS,
	    &s, &len), 0);
	assert_int_equal(sasl_login_parse_user(big,
	    SASL_MAX_AUTHCID_OCTETS + 1, &s, &len), -EINVAL);
	assert_int_equal(sasl_login_parse_passwd(big, SASL_MAX_PASSWD_OCTETS,
	    &s, &len), 0);
	assert_int_equal(sasl_login_parse_passwd(big,
	    SASL_MAX_PASSWD_OCTETS + 1, &s, &len), -EINVAL);
}

static int
xoauth2(const char *msg, struct sasl_bearer *b)
{
	return sasl_xoauth2_parse((const unsigned char *)msg, strlen(msg), b);
}

static void
test_xoauth2(void **state)
{
	static const char *const bad[] = {
		"",
		"user=someuser@example.com\1auth=Bearer ya29.vF9dft4\1",
		"user=someuser@example.com\1auth=Bearer ya29.vF9dft4\1\1\1",
		"user=someuser@example.com\1auth=Bearer ya29.vF9dft4\1\1x",
		"user=\1auth=Bearer ya29\1\1",
		"User=u\1auth=Bearer ya29\1\1",
		"user=u\1auth=Basic ya29\1\1",
		"user=u\1auth=Bearer  ya29\1\1",
		"user=u\1auth=Bearer \1\1",
		"user=u\1auth=Bearer\1\1",
		"user=u\1auth=Bearer ya 29\1\1",
		"user=u\1auth=Bearer =abc\1\1",
		"user=u\1auth=Bearer abc=d\1\1",
		"user=u\1host=x\1auth=Bearer abc\1\1",
		"user=u\1Auth=Bearer abc\1\1",
		"user=u\nx\1auth=Bearer abc\1\1",
		"user=u\xff\1auth=Bearer abc\1\1",
		"user=u",
		"user=u\1",
		"user=u\1\1",
	};
	struct sasl_bearer	 b;
	unsigned char		 out[SASL_MAX_DECODED_OCTETS];
	const char		*msg;
	size_t			 i, n;

	(void)state;
	/* Google's example message. */
	msg = "user=someuser@example.com\1auth=Bearer ya29.vF9dft4qmTc2Nvb3Rl"
	    "cmVkLmV4YW1wbGUuY29tCg\1\1";
	n = via_base64(msg, strlen(msg), out);
	assert_int_equal(sasl_xoauth2_parse(out, n, &b), 0);
	assert_int_equal(b.user_len, 20);
	assert_memory_equal(b.user, "someuser@example.com", 20);
	assert_ptr_equal(b.user, (const char *)out + 5);
	assert_int_equal(b.token_len, 45);
	assert_memory_equal(b.token,
	    "ya29.vF9dft4qmTc2Nvb3RlcmVkLmV4YW1wbGUuY29tCg", 45);
	assert_int_equal(xoauth2("user=u\1auth=bearer a-._~+/b==\1\1", &b), 0);
	assert_int_equal(b.token_len, 10);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (xoauth2(bad[i], &b) != -EINVAL)
			fail_msg("case %zu accepted", i);
		assert_null(b.user);
		assert_null(b.token);
	}
}

/* Builds "user=u^Aauth=Bearer " + n * 'T' + "^A^A" in buf. */
static size_t
xoauth2_token(unsigned char *buf, size_t n)
{
	static const char	head[] = "user=u\1auth=Bearer ";
	size_t			len = sizeof(head) - 1;

	memcpy(buf, head, len);
	memset(buf + len, 'T', n);
	len += n;
	buf[len++] = 1;
	buf[len++] = 1;
	return len;
}

static void
test_token_limits(void **state)
{
	unsigned char		*buf, *out;
	struct sasl_bearer	 b;
	size_t			 len;

	(void)state;
	buf = malloc(TEST_BIG_OCTETS + 64);
	out = malloc(SASL_MAX_DECODED_OCTETS);
	assert_non_null(buf);
	assert_non_null(out);
	/* Conformance 5.11: an 8 KB token fits in one response line. */
	len = xoauth2_token(buf, 8 * 1024);
	assert_true(POPGATE_BASE64_ENCODED_LEN(len) <= SASL_MAX_LINE_OCTETS);
	len = via_base64(buf, len, out);
	assert_int_equal(sasl_xoauth2_parse(out, len, &b), 0);
	assert_int_equal(b.token_len, 8 * 1024);
	assert_ptr_equal(b.token, (const char *)out + 19);
	len = xoauth2_token(buf, SASL_MAX_TOKEN_OCTETS);
	assert_int_equal(sasl_xoauth2_parse(buf, len, &b), 0);
	len = xoauth2_token(buf, SASL_MAX_TOKEN_OCTETS + 1);
	assert_int_equal(sasl_xoauth2_parse(buf, len, &b), -EINVAL);
	free(out);
	free(buf);
}

static int
oauthbearer(const char *msg, struct sasl_bearer *b, unsigned char *copy)
{
	size_t	len = strlen(msg);

	memcpy(copy, msg, len);
	return sasl_oauthbearer_parse(copy, len, b);
}

static void
test_oauthbearer(void **state)
{
	static const char *const bad[] = {
		"",
		"n,,\1auth=Bearer abc\1\1",			/* no authzid */
		"p=tls-unique,a=u,\1auth=Bearer abc\1\1",
		"x,a=u,\1auth=Bearer abc\1\1",
		"n,a=,\1auth=Bearer abc\1\1",
		"n,a=u\1auth=Bearer abc\1\1",
		"n,a=u,auth=Bearer abc\1\1",
		"n,a=u,\1auth=Bearer abc\1",
		"n,a=u,\1auth=Bearer abc\1\1\1",
		"n,a=u,\1auth=Bearer abc",
		"n,a=u,\1\1",					/* no auth */
		"n,a=u,\1host=h\1\1",
		"n,a=u,\1auth=Bearer abc\1auth=Bearer abd\1\1",
		"n,a=u,\1auth=Bearer abc\1host=a\1host=b\1\1",
		"n,a=u,\1auth=Bearer abc\1port=\1\1",
		"n,a=u,\1auth=Bearer abc\1port=99x\1\1",
		"n,a=u,\1auth=Bearer abc\1port=1\1port=2\1\1",
		"n,a=u,\1auth=Basic abc\1\1",
		"n,a=u,\1auth=Bearer \1\1",
		"n,a=u,\1=x\1auth=Bearer abc\1\1",
		"n,a=u,\1ho-st=x\1auth=Bearer abc\1\1",
		"n,a=u,\1host\1auth=Bearer abc\1\1",
		"n,a=u,\1host=\x80\1auth=Bearer abc\1\1",
		"n,a=u=2c,\1auth=Bearer abc\1\1",		/* lower hex */
		"n,a=u=41,\1auth=Bearer abc\1\1",
		"n,a=u=2,\1auth=Bearer abc\1\1",
		"n,a=u=,\1auth=Bearer abc\1\1",
		"n,a=u\xc3,\1auth=Bearer abc\1\1",
		"n,a=u\r\n,\1auth=Bearer abc\1\1",
		"n,a=u,x,\1auth=Bearer abc\1\1",
	};
	unsigned char		 copy[256], out[SASL_MAX_DECODED_OCTETS];
	struct sasl_bearer	 b;
	const char		*msg;
	size_t			 i, n;

	(void)state;
	/* RFC 7628 sec. 4.1 example, with the authzid added. */
	msg = "n,a=user@example.com,\1host=server.example.com\1port=143\1"
	    "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\1\1";
	n = via_base64(msg, strlen(msg), out);
	assert_int_equal(sasl_oauthbearer_parse(out, n, &b), 0);
	assert_int_equal(b.user_len, 16);
	assert_memory_equal(b.user, "user@example.com", 16);
	assert_ptr_equal(b.user, (const char *)out + 4);
	assert_int_equal(b.token_len, 42);
	assert_memory_equal(b.token,
	    "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", 42);

	/* Escapes undone in place; "y" flag; unknown key; no host/port. */
	assert_int_equal(oauthbearer("y,a=a=2Cb=3Dc,\1mfa=x y\1"
	    "auth=BEARER t\1\1", &b, copy), 0);
	assert_int_equal(b.user_len, 5);
	assert_memory_equal(b.user, "a,b=c", 5);
	assert_ptr_equal(b.user, (const char *)copy + 4);
	assert_int_equal(b.token_len, 1);

	/* RFC 7628 sec. 3.2.3: the client's acknowledgement of an error. */
	assert_int_equal(oauthbearer("\1", &b, copy), -ECANCELED);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = strlen(bad[i]);
		memcpy(copy, bad[i], n);
		if (sasl_oauthbearer_parse(copy, n, &b) != -EINVAL)
			fail_msg("case %zu accepted", i);
		assert_null(b.user);
		assert_null(b.token);
		/* A rejected message is left as it was. */
		assert_memory_equal(copy, bad[i], n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mech_lookup),
		cmocka_unit_test(test_base64_rejects),
		cmocka_unit_test(test_base64_accepts),
		cmocka_unit_test(test_base64_roundtrip),
		cmocka_unit_test(test_response_lines),
		cmocka_unit_test(test_plain_good),
		cmocka_unit_test(test_plain_bad),
		cmocka_unit_test(test_plain_limits),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_xoauth2),
		cmocka_unit_test(test_token_limits),
		cmocka_unit_test(test_oauthbearer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
