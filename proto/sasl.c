/* SPDX-License-Identifier: MIT */
/*
 * sasl.c - strict parsing of POP3 AUTH responses (RFC 5034) and of the
 * PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER client messages they carry.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "sasl.h"

/* RFC 7628 sec. 3.1: kvsep, between GS2 header, key=value pairs, end. */
#define SASL_KVSEP		0x01
/* RFC 6750 sec. 2.1 / RFC 7628 sec. 3.1: "auth=" scheme SP token. */
#define SASL_BEARER_SCHEME	"Bearer"
#define SASL_BEARER_SCHEME_LEN	(sizeof(SASL_BEARER_SCHEME) - 1)
/* RFC 7628 sec. 3.1 keys that we check. */
#define SASL_KEY_AUTH		"auth"
#define SASL_KEY_HOST		"host"
#define SASL_KEY_PORT		"port"
/* Google's XOAUTH2 message starts with this exact key. */
#define SASL_XOAUTH2_USER	"user="
#define SASL_XOAUTH2_AUTH	"auth="
/* RFC 5801 sec. 4: the only two escapes in a saslname. */
#define SASL_ESCAPE_LEN		3

static const struct {
	const char	*name;
	enum sasl_mech	 mech;
} sasl_mechs[] = {
	{ "PLAIN", SASL_MECH_PLAIN },
	{ "LOGIN", SASL_MECH_LOGIN },
	{ "XOAUTH2", SASL_MECH_XOAUTH2 },
	{ "OAUTHBEARER", SASL_MECH_OAUTHBEARER },
};

int
sasl_mech_lookup(const char *name, size_t len, enum sasl_mech *mech)
{
	size_t	i;

	if (name == NULL)
		return -ENOENT;
	for (i = 0; i < sizeof(sasl_mechs) / sizeof(sasl_mechs[0]); i++) {
		/* RFC 5034 sec. 5 / RFC 4422 sec. 3.1: names compare
		 * case-insensitively; strncasecmp alone would accept a
		 * prefix, hence the length check. */
		if (strlen(sasl_mechs[i].name) == len &&
		    strncasecmp(sasl_mechs[i].name, name, len) == 0) {
			*mech = sasl_mechs[i].mech;
			return 0;
		}
	}
	return -ENOENT;
}

const char *
sasl_mech_name(enum sasl_mech mech)
{
	size_t	i;

	for (i = 0; i < sizeof(sasl_mechs) / sizeof(sasl_mechs[0]); i++)
		if (sasl_mechs[i].mech == mech)
			return sasl_mechs[i].name;
	return NULL;
}

int
sasl_decode_response(const char *line, size_t len, bool initial,
    unsigned char *out, size_t outcap, size_t *outlen)
{
	*outlen = 0;
	if (len > SASL_MAX_LINE_OCTETS)
		return -EMSGSIZE;
	/* RFC 5034 sec. 4: cancel-response = "*", after a challenge only;
	 * as an initial response it is simply not base64. */
	if (!initial && len == 1 && line[0] == '*')
		return -ECANCELED;
	if (initial) {
		/* initial-response = base64 / "=": "=" is the empty
		 * response; an empty argument is no response at all and the
		 * caller should not have passed it. */
		if (len == 1 && line[0] == '=')
			return 0;
		if (len == 0)
			return -EINVAL;
	}
	return popgate_base64_decode(line, len, out, outcap, outlen);
}

/*
 * Number of octets of the UTF-8 character at p (RFC 3629 sec. 4: no
 * overlong forms, no surrogates, nothing past U+10FFFF), or 0 if there is
 * none. Controls (C0, DEL, C1) count as invalid: SASLprep (RFC 4013 sec.
 * 2.3, tables C.2.1, C.2.2) prohibits them, and a CR or LF in a user name
 * would reach the upstream IMAP command line.
 */
static size_t
sasl_utf8_char(const unsigned char *p, size_t left)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		n, i;

	if (p[0] < 0x80)
		return p[0] >= 0x20 && p[0] != 0x7f ? 1 : 0;
	if (p[0] == 0xc2) {
		/* U+0080..U+009F are the C1 controls. */
		lo = 0xa0;
		n = 2;
	} else if (p[0] > 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] == 0xe0) {
		lo = 0xa0;
		n = 3;
	} else if (p[0] == 0xed) {
		hi = 0x9f;	/* U+D800..U+DFFF are surrogates */
		n = 3;
	} else if (p[0] >= 0xe1 && p[0] <= 0xef)
		n = 3;
	else if (p[0] == 0xf0) {
		lo = 0x90;
		n = 4;
	} else if (p[0] >= 0xf1 && p[0] <= 0xf3)
		n = 4;
	else if (p[0] == 0xf4) {
		hi = 0x8f;
		n = 4;
	} else
		return 0;
	if (left < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* A user name: 1..max octets of UTF-8 without controls. */
static bool
sasl_identity_ok(const unsigned char *p, size_t len, size_t max)
{
	size_t	i, n;

	if (len == 0 || len > max)
		return false;
	for (i = 0; i < len; i += n)
		if ((n = sasl_utf8_char(p + i, len - i)) == 0)
			return false;
	return true;
}

/* A password: 1..max octets, any but NUL (RFC 4616 sec. 2: passwd is
 * 1*SAFE, SAFE being any UTF-8 but NUL; we do not require UTF-8 there
 * because the upstream server, not us, judges the password). */
static bool
sasl_passwd_ok(const unsigned char *p, size_t len, size_t max)
{
	return len >= 1 && len <= max && memchr(p, '\0', len) == NULL;
}

/* RFC 6750 sec. 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" /
 * "~" / "+" / "/" ) *"=". Checked strictly because the token is relayed
 * upstream inside another protocol's message. */
static bool
sasl_b64token_ok(const unsigned char *p, size_t len)
{
	size_t	i = 0;

	if (len == 0 || len > SASL_MAX_TOKEN_OCTETS)
		return false;
	while (i < len && ((p[i] >= 'A' && p[i] <= 'Z') ||
	    (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
	    p[i] == '-' || p[i] == '.' || p[i] == '_' || p[i] == '~' ||
	    p[i] == '+' || p[i] == '/'))
		i++;
	if (i == 0)
		return false;
	while (i < len && p[i] == '=')
		i++;
	return i == len;
}

/* "Bearer" SP b64token (RFC 6750 sec. 2.1; the scheme name is
 * case-insensitive, RFC 7235 sec. 2.1). Sets *token. */
static bool
sasl_bearer_ok(const unsigned char *p, size_t len, const char **token,
    size_t *token_len)
{
	if (len < SASL_BEARER_SCHEME_LEN + 1 ||
	    strncasecmp((const char *)p, SASL_BEARER_SCHEME,
	    SASL_BEARER_SCHEME_LEN) != 0 || p[SASL_BEARER_SCHEME_LEN] != ' ')
		return false;
	p += SASL_BEARER_SCHEME_LEN + 1;
	len -= SASL_BEARER_SCHEME_LEN + 1;
	if (!sasl_b64token_ok(p, len))
		return false;
	*token = (const char *)p;
	*token_len = len;
	return true;
}

int
sasl_plain_parse(const unsigned char *msg, size_t len, struct sasl_plain *out)
{
	const unsigned char	*nul1, *nul2, *authcid, *passwd;
	size_t			 zlen, clen, plen;

	memset(out, 0, sizeof(*out));
	/* message = [authzid] UTF8NUL authcid UTF8NUL passwd: exactly two
	 * NULs, the third field running to the end (RFC 4616 sec. 2). */
	if (len == 0 || (nul1 = memchr(msg, '\0', len)) == NULL)
		return -EINVAL;
	zlen = (size_t)(nul1 - msg);
	authcid = nul1 + 1;
	if ((nul2 = memchr(authcid, '\0', len - zlen - 1)) == NULL)
		return -EINVAL;
	clen = (size_t)(nul2 - authcid);
	passwd = nul2 + 1;
	plen = len - zlen - clen - 2;
	if (!sasl_passwd_ok(passwd, plen, SASL_MAX_PASSWD_OCTETS))
		return -EINVAL;
	if (!sasl_identity_ok(authcid, clen, SASL_MAX_AUTHCID_OCTETS))
		return -EINVAL;
	if (zlen > 0 &&
	    !sasl_identity_ok(msg, zlen, SASL_MAX_AUTHZID_OCTETS))
		return -EINVAL;
	/* Conformance 5.15 (RFC 5034 sec. 4, RFC 4616 sec. 2): acting as
	 * someone else needs proxy authorization, which the gateway does
	 * not do. Octets are compared, not SASLprep output: an equivalent
	 * but differently spelled authzid is refused, which fails safe. */
	if (zlen > 0 && (zlen != clen || memcmp(msg, authcid, clen) != 0))
		return -EPERM;
	out->authzid = (const char *)msg;
	out->authzid_len = zlen;
	out->authcid = (const char *)authcid;
	out->authcid_len = clen;
	out->passwd = (const char *)passwd;
	out->passwd_len = plen;
	return 0;
}

int
sasl_login_parse_user(const unsigned char *msg, size_t len,
    const char **user, size_t *user_len)
{
	*user = NULL;
	*user_len = 0;
	if (!sasl_identity_ok(msg, len, SASL_MAX_AUTHCID_OCTETS))
		return -EINVAL;
	*user = (const char *)msg;
	*user_len = len;
	return 0;
}

int
sasl_login_parse_passwd(const unsigned char *msg, size_t len,
    const char **passwd, size_t *passwd_len)
{
	*passwd = NULL;
	*passwd_len = 0;
	if (!sasl_passwd_ok(msg, len, SASL_MAX_PASSWD_OCTETS))
		return -EINVAL;
	*passwd = (const char *)msg;
	*passwd_len = len;
	return 0;
}

int
sasl_xoauth2_parse(const unsigned char *msg, size_t len,
    struct sasl_bearer *out)
{
	const unsigned char	*p = msg, *end = msg + len, *sep;
	const size_t		 ulen = sizeof(SASL_XOAUTH2_USER) - 1;
	const size_t		 alen = sizeof(SASL_XOAUTH2_AUTH) - 1;

	memset(out, 0, sizeof(*out));
	/* "user=" user ^A "auth=Bearer " token ^A ^A, nothing else:
	 * Google's and Microsoft's servers define no other field. */
	if (len < ulen || memcmp(p, SASL_XOAUTH2_USER, ulen) != 0)
		return -EINVAL;
	p += ulen;
	if ((sep = memchr(p, SASL_KVSEP, (size_t)(end - p))) == NULL ||
	    !sasl_identity_ok(p, (size_t)(sep - p), SASL_MAX_AUTHCID_OCTETS))
		return -EINVAL;
	out->user = (const char *)p;
	out->user_len = (size_t)(sep - p);
	p = sep + 1;
	if ((size_t)(end - p) < alen || memcmp(p, SASL_XOAUTH2_AUTH, alen) != 0)
		goto bad;
	p += alen;
	/* The token cannot contain ^A (b64token), so the first one ends
	 * it; exactly one more must follow, and then the end. */
	if ((sep = memchr(p, SASL_KVSEP, (size_t)(end - p))) == NULL ||
	    end - sep != 2 || sep[1] != SASL_KVSEP)
		goto bad;
	if (!sasl_bearer_ok(p, (size_t)(sep - p), &out->token,
	    &out->token_len))
		goto bad;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}

/* RFC 7628 sec. 3.1: value = *(VCHAR / SP / HTAB / CR / LF). */
static bool
sasl_kv_value_ok(const unsigned char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (!((p[i] >= 0x21 && p[i] <= 0x7e) || p[i] == ' ' ||
		    p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
			return false;
	return true;
}

static bool
sasl_key_is(const unsigned char *key, size_t len, const char *name)
{
	return strlen(name) == len && memcmp(key, name, len) == 0;
}

/*
 * saslname = 1*(UTF8-char-safe / "=2C" / "=3D") (RFC 5801 sec. 4): checks
 * the escapes and returns the unescaped length, or 0 if malformed. The
 * unescaped text is checked as a user name by the caller.
 */
static size_t
sasl_saslname_len(const unsigned char *p, size_t len)
{
	size_t	i, n = 0;

	for (i = 0; i < len; n++) {
		if (p[i] == ',')
			return 0;
		if (p[i] != '=') {
			i++;
			continue;
		}
		/* Upper-case hex only, as RFC 5801 spells them. */
		if (len - i < SASL_ESCAPE_LEN ||
		    !((p[i + 1] == '2' && p[i + 2] == 'C') ||
		    (p[i + 1] == '3' && p[i + 2] == 'D')))
			return 0;
		i += SASL_ESCAPE_LEN;
	}
	return n;
}

/* Undoes the escapes of a saslname checked by sasl_saslname_len(). */
static void
sasl_saslname_unescape(unsigned char *p, size_t len)
{
	size_t	i, o = 0;

	for (i = 0; i < len; o++) {
		if (p[i] == '=') {
			p[o] = p[i + 1] == '2' ? ',' : '=';
			i += SASL_ESCAPE_LEN;
		} else
			p[o] = p[i++];
	}
}

/*
 * Long: RFC 7628's message is a GS2 header then key=value pairs separated
 * by ^A; the walk checks each part in order where it is found.
 */
int
sasl_oauthbearer_parse(unsigned char *msg, size_t len,
    struct sasl_bearer *out)
{
	unsigned char		*p = msg, *end = msg + len, *sep, *key;
	unsigned char		*authzid;
	size_t			 zlen, ulen, klen;
	bool			 have_host = false, have_port = false;
	const char		*token = NULL;
	size_t			 token_len = 0;

	memset(out, 0, sizeof(*out));
	/* RFC 7628 sec. 3.2.3: after an error challenge the client sends
	 * a lone kvsep, and the server then fails the exchange. */
	if (len == 1 && msg[0] == SASL_KVSEP)
		return -ECANCELED;
	/* gs2-cbind-flag: "n" or "y". No OAUTHBEARER-PLUS is offered, so
	 * "p=" (channel binding in use) cannot be satisfied (RFC 5801
	 * sec. 5). */
	if (len < 2 || (p[0] != 'n' && p[0] != 'y') || p[1] != ',')
		return -EINVAL;
	p += 2;
	/* authzid = "a=" saslname: optional in RFC 7628, required here
	 * because the upstream login and the maildrop are keyed on it. */
	if (end - p < 2 || p[0] != 'a' || p[1] != '=')
		return -EINVAL;
	p += 2;
	authzid = p;
	if ((sep = memchr(p, ',', (size_t)(end - p))) == NULL)
		return -EINVAL;
	zlen = (size_t)(sep - p);
	if ((ulen = sasl_saslname_len(p, zlen)) == 0)
		return -EINVAL;
	p = sep + 1;
	if (p == end || *p++ != SASL_KVSEP)
		return -EINVAL;

	/* *kvpair kvsep: each pair ends in kvsep, and one more ends the
	 * message. */
	for (;;) {
		if (p == end)
			return -EINVAL;
		if (*p == SASL_KVSEP) {
			if (end - p != 1)
				return -EINVAL;
			break;
		}
		if ((sep = memchr(p, SASL_KVSEP, (size_t)(end - p))) == NULL)
			return -EINVAL;
		/* key = 1*(ALPHA) */
		key = p;
		while (p < sep && ((*p >= 'A' && *p <= 'Z') ||
		    (*p >= 'a' && *p <= 'z')))
			p++;
		klen = (size_t)(p - key);
		if (klen == 0 || p == sep || *p != '=')
			return -EINVAL;
		p++;
		if (!sasl_kv_value_ok(p, (size_t)(sep - p)))
			return -EINVAL;
		/* Each known key at most once: two "auth" values would
		 * leave it open which token the server checked. Unknown
		 * keys are allowed, as RFC 7628 sec. 3.1 expects
		 * extensions. */
		if (sasl_key_is(key, klen, SASL_KEY_AUTH)) {
			if (token != NULL || !sasl_bearer_ok(p,
			    (size_t)(sep - p), &token, &token_len))
				return -EINVAL;
		} else if (sasl_key_is(key, klen, SASL_KEY_HOST)) {
			if (have_host)
				return -EINVAL;
			have_host = true;
		} else if (sasl_key_is(key, klen, SASL_KEY_PORT)) {
			/* port = 1*DIGIT */
			if (have_port || p == sep)
				return -EINVAL;
			for (; p < sep; p++)
				if (*p < '0' || *p > '9')
					return -EINVAL;
			have_port = true;
		}
		p = sep + 1;
	}
	if (token == NULL)
		return -EINVAL;
	/* The escapes stand for ',' and '=', printable ASCII, so the
	 * escaped name is valid exactly when the unescaped one is: check
	 * before unescaping, and a rejected message is left as it was. */
	if (ulen > SASL_MAX_AUTHZID_OCTETS ||
	    !sasl_identity_ok(authzid, zlen, zlen))
		return -EINVAL;
	sasl_saslname_unescape(authzid, zlen);
	out->user = (const char *)authzid;
	out->user_len = ulen;
	out->token = token;
	out->token_len = token_len;
	return 0;
}
