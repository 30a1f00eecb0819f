/* SPDX-License-Identifier: MIT */
/*
 * sasl.h - SASL messages of the POP3 AUTH command (RFC 5034): mechanism
 * names, response lines, and the PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER
 * client messages. Pure; results point into the caller's buffer.
 */
#ifndef POPGATE_SASL_H
#define POPGATE_SASL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Limits. RFC 4616 sec. 2 lets an implementation cap authcid and passwd;
 * 255 octets is what Dovecot and Cyrus accept and longer than any real
 * mailbox name. The line limit is the base64 text of one response without
 * CRLF: OAuth bearer tokens make XOAUTH2/OAUTHBEARER responses several KB
 * long (conformance 5.11), so it is far above the 255-octet POP3 line limit
 * of RFC 2449 sec. 4. The token limit guards the upstream relay and the
 * line limit our buffers; a line decodes to at most 12 KiB, so through
 * sasl_decode_response() a token is in practice a little shorter than that.
 */
#define SASL_MAX_AUTHZID_OCTETS		255
#define SASL_MAX_AUTHCID_OCTETS		255
#define SASL_MAX_PASSWD_OCTETS		255
#define SASL_MAX_LINE_OCTETS		(16 * 1024)
#define SASL_MAX_TOKEN_OCTETS		(12 * 1024)
/* A buffer of this size holds any decoded response line. */
#define SASL_MAX_DECODED_OCTETS		(SASL_MAX_LINE_OCTETS / 4 * 3)

/* draft-murchison-sasl-login sec. 2: the server's two prompts, in base64
 * ("Username:" and "Password:"), sent as "+ " challenge CRLF. */
#define SASL_LOGIN_CHALLENGE_USER	"VXNlcm5hbWU6"
#define SASL_LOGIN_CHALLENGE_PASSWD	"UGFzc3dvcmQ6"

enum sasl_mech {
	SASL_MECH_PLAIN = 1,
	SASL_MECH_LOGIN,
	SASL_MECH_XOAUTH2,
	SASL_MECH_OAUTHBEARER
};

/* Fields point into the message given to the parser; none is
 * NUL-terminated. */
struct sasl_plain {
	const char	*authzid;	/* may be empty */
	size_t		 authzid_len;
	const char	*authcid;
	size_t		 authcid_len;
	const char	*passwd;	/* secret: never log */
	size_t		 passwd_len;
};

struct sasl_bearer {
	const char	*user;
	size_t		 user_len;
	const char	*token;		/* secret: never log */
	size_t		 token_len;
};

/*
 * Mechanism name (RFC 5034 sec. 5: case-insensitive) to enum: 0, or
 * -ENOENT for a mechanism this module does not know.
 */
int	sasl_mech_lookup(const char *name, size_t len, enum sasl_mech *mech);
/* Canonical upper-case name, as CAPA lists it; NULL if mech is unknown. */
const char	*sasl_mech_name(enum sasl_mech mech);

/*
 * One client response line without CRLF (RFC 5034 sec. 4). initial says it
 * is the optional argument of AUTH, where "=" is the empty response; on a
 * continuation line, "*" cancels and the empty line is the empty response.
 * Decodes into out (SASL_MAX_DECODED_OCTETS is always enough) and returns
 * 0; -ECANCELED for "*", -EMSGSIZE if the line exceeds
 * SASL_MAX_LINE_OCTETS, -EINVAL if it is not strict base64, -ENOBUFS if
 * outcap is too small.
 */
int	sasl_decode_response(const char *line, size_t len, bool initial,
	    unsigned char *out, size_t outcap, size_t *outlen);

/*
 * PLAIN (RFC 4616 sec. 2): "authzid NUL authcid NUL passwd". 0, -EINVAL
 * if malformed or out of limits, -EPERM if authzid is non-empty and not
 * the authcid (conformance 5.15: the gateway does not proxy-authorize).
 */
int	sasl_plain_parse(const unsigned char *msg, size_t len,
	    struct sasl_plain *out);

/*
 * LOGIN (draft-murchison-sasl-login sec. 2): the answer to the user name
 * prompt, and to the password prompt. 0 or -EINVAL.
 */
int	sasl_login_parse_user(const unsigned char *msg, size_t len,
	    const char **user, size_t *user_len);
int	sasl_login_parse_passwd(const unsigned char *msg, size_t len,
	    const char **passwd, size_t *passwd_len);

/*
 * XOAUTH2 (Google's "OAuth 2.0 Mechanism"): "user=" user ^A
 * "auth=Bearer " token ^A ^A. 0 or -EINVAL.
 */
int	sasl_xoauth2_parse(const unsigned char *msg, size_t len,
	    struct sasl_bearer *out);

/*
 * OAUTHBEARER (RFC 7628 sec. 3.1): GS2 header "n,a=" authzid "," then
 * ^A-separated key=value pairs, one of them "auth=Bearer " token, ending in
 * ^A ^A. The authzid is the user; its "=2C" and "=3D" escapes (RFC 5801
 * sec. 4) are undone in place, hence msg is not const. 0, -EINVAL if
 * malformed, -ECANCELED for the lone ^A a client sends to acknowledge an
 * error challenge (RFC 7628 sec. 3.2.3).
 */
int	sasl_oauthbearer_parse(unsigned char *msg, size_t len,
	    struct sasl_bearer *out);

#endif
