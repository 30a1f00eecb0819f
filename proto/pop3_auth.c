/* SPDX-License-Identifier: MIT */
/*
 * pop3_auth.c - the AUTHORIZATION state: USER, PASS, APOP, STLS and the
 * SASL AUTH exchange (RFC 5034), and the login result. Pure; allocates
 * only the decoded SASL response, which it wipes.
 */
#include "pop3_session_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

/* Wipes and frees the decoded SASL response, if any. */
static void
pop3_sasl_free_msg(struct pop3_session *s)
{
	if (s->sasl.msg != NULL) {
		explicit_bzero(s->sasl.msg, s->sasl.msg_cap);
		free(s->sasl.msg);
	}
	s->sasl.msg = NULL;
	s->sasl.msg_len = 0;
	s->sasl.msg_cap = 0;
}

/* Ends the AUTH exchange, if one runs: nothing of it outlives it. */
void
pop3_sasl_end(struct pop3_session *s)
{
	pop3_sasl_free_msg(s);
	memset(&s->sasl, 0, sizeof(s->sasl));
}

/* Wipes an APOP LOGIN step's digest. */
void
pop3_apop_wipe(struct pop3_session *s)
{
	explicit_bzero(s->apop_digest, sizeof(s->apop_digest));
}

void
pop3_forget_user(struct pop3_session *s)
{
	s->has_user = false;
	memset(s->user, 0, sizeof(s->user));
}

/* RFC 2595 sec. 2.3 / RFC 5034 sec. 4: plaintext login refused here. */
static const char *
pop3_plaintext_refusal(const struct pop3_session *s)
{
	if (s->opt.stls_available && !s->opt.tls_active)
		return "USER/PASS not allowed here; use STLS";
	return "USER/PASS not allowed";
}

/*
 * The name argument of USER and APOP (argument 0): pop3_parse() already
 * refused control octets and spaces; 8-bit octets are kept (real names
 * carry them). Replies -ERR if it is too long for s->user.
 */
static bool
pop3_user_arg_ok(struct pop3_call *c)
{
	if (c->arglen[0] > POP3_MAX_USER_OCTETS) {
		pop3_err(c, POP3_RESP_NONE, "User name too long");
		return false;
	}
	return true;
}

/* Copies a name checked by pop3_user_arg_ok() into s->user. */
static void
pop3_set_user_arg(struct pop3_call *c)
{
	struct pop3_session	*s = c->s;

	memset(s->user, 0, sizeof(s->user));
	memcpy(s->user, c->argv[0], c->arglen[0]);
}

void
pop3_cmd_user(struct pop3_call *c)
{
	struct pop3_session	*s = c->s;

	/* No [AUTH] on USER (RFC 3206 sec. 5, conformance 8.5). */
	if (!s->opt.user_allowed) {
		pop3_err(c, POP3_RESP_NONE, pop3_plaintext_refusal(s));
		return;
	}
	if (!pop3_user_arg_ok(c))
		return;
	/* A second USER replaces the first (conformance 4.3). */
	pop3_set_user_arg(c);
	s->has_user = true;
	/* The same reply for every name: no user probing (RFC 1939 sec. 13). */
	pop3_say(c, "+OK Send PASS.");
}

void
pop3_cmd_pass(struct pop3_call *c)
{
	struct pop3_session	*s = c->s;

	/* Same reply whatever the password: conformance 1.10. */
	if (!s->opt.user_allowed) {
		pop3_err(c, POP3_RESP_AUTH, pop3_plaintext_refusal(s));
		return;
	}
	/* RFC 1939 sec. 7: PASS only right after a successful USER. */
	if (!s->has_user) {
		pop3_err(c, POP3_RESP_NONE, "Send USER first");
		return;
	}
	if (c->arglen[0] == 0) {
		pop3_forget_user(s);
		pop3_err(c, POP3_RESP_AUTH, "Empty password");
		return;
	}
	c->step.next = POP3_NEXT_LOGIN;
	c->step.user = s->user;
	c->step.password = c->argv[0];
	c->step.password_len = c->arglen[0];
}

/*
 * The caller's APOP timestamp if it is a msg-id the greeting may carry
 * (RFC 1939 sec. 7, RFC 822 msg-id): "<", printable ASCII other than space,
 * '<' and '>', then ">"; else NULL: APOP is not offered.
 */
const char *
pop3_apop_timestamp(const struct pop3_session *s)
{
	const char	*stamp = s->opt.apop_timestamp;
	size_t		 i, len;
	unsigned char	 c;

	if (stamp == NULL)
		return NULL;
	len = strnlen(stamp, POP3_APOP_MAX_TIMESTAMP_OCTETS + 1);
	if (len < 3 || len > POP3_APOP_MAX_TIMESTAMP_OCTETS ||
	    stamp[0] != '<' || stamp[len - 1] != '>')
		return NULL;
	for (i = 1; i < len - 1; i++) {
		c = (unsigned char)stamp[i];
		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>')
			return NULL;
	}
	return stamp;
}

/* RFC 1939 sec. 7: the digest is 32 hex digits (either case here). */
static bool
pop3_apop_digest_ok(const char *arg, size_t len)
{
	size_t	i;

	if (len != POP3_APOP_DIGEST_OCTETS)
		return false;
	for (i = 0; i < len; i++)
		if (!((arg[i] >= '0' && arg[i] <= '9') ||
		    (arg[i] >= 'a' && arg[i] <= 'f') ||
		    (arg[i] >= 'A' && arg[i] <= 'F')))
			return false;
	return true;
}

void
pop3_cmd_apop(struct pop3_call *c)
{
	struct pop3_session	*s = c->s;
	char			*digest;
	size_t			 i;

	/* Conformance 1.3/4.10: offered only with a greeting timestamp.
	 * Not subject to user_allowed: the secret never crosses the wire. */
	if (pop3_apop_timestamp(s) == NULL) {
		pop3_err(c, POP3_RESP_NONE, "APOP is not available");
		return;
	}
	/* Conformance 4.10: only after the greeting or a failed login; a
	 * USER waits for its PASS and is kept (as in Cyrus). */
	if (s->has_user) {
		pop3_err(c, POP3_RESP_NONE, "APOP is not allowed after USER");
		return;
	}
	if (!pop3_user_arg_ok(c))
		return;
	/* A malformed digest would fail upstream anyway: a bad command,
	 * not a failed login. */
	if (!pop3_apop_digest_ok(c->argv[1], c->arglen[1])) {
		pop3_err(c, POP3_RESP_NONE, "Syntax: APOP name digest");
		return;
	}
	pop3_set_user_arg(c);
	/* Conformance 4.10: lowercase, as the caller computes its own. */
	for (i = 0; i < POP3_APOP_DIGEST_OCTETS; i++) {
		s->apop_digest[i] = c->argv[1][i];
		if (s->apop_digest[i] >= 'A' && s->apop_digest[i] <= 'F')
			s->apop_digest[i] += 'a' - 'A';
	}
	s->apop_digest[POP3_APOP_DIGEST_OCTETS] = '\0';
	/* It lies in the caller's line, which we may wipe: the digest
	 * allows an offline guess of the secret. */
	digest = c->line + (c->argv[1] - c->line);
	explicit_bzero(digest, POP3_APOP_DIGEST_OCTETS);
	c->step.next = POP3_NEXT_LOGIN;
	c->step.apop = true;
	c->step.user = s->user;
	c->step.password = s->apop_digest;
	c->step.password_len = POP3_APOP_DIGEST_OCTETS;
}

/* RFC 2595 sec. 2.3 / RFC 5034 sec. 4: a cleartext mechanism refused. */
static const char *
pop3_sasl_plaintext_refusal(const struct pop3_session *s)
{
	if (s->opt.stls_available && !s->opt.tls_active)
		return "Plaintext authentication disallowed on non-secure "
		    "connection; use STLS";
	return "Plaintext authentication disallowed on non-secure connection";
}

bool
pop3_sasl_offered(const struct pop3_session *s, enum sasl_mech mech)
{
	return (s->opt.sasl_mechs & (1u << mech)) != 0;
}

/* A "+ " challenge (RFC 5034 sec. 4): neither success nor failure. */
static void
pop3_sasl_challenge(struct pop3_call *c, const char *challenge)
{
	c->challenged = true;
	pop3_say(c, "+ %s", challenge);
}

/*
 * RFC 5034 sec. 4: a failed exchange leaves the state as if AUTH had never
 * been sent. A bad response is a bad command, not a failed login: only
 * the upstream judges credentials (pop3_login_done()).
 */
void
pop3_sasl_abort(struct pop3_call *c, enum pop3_resp_code code,
    const char *text)
{
	pop3_sasl_end(c->s);
	pop3_forget_user(c->s);
	pop3_err(c, code, text);
}

/*
 * Copies a user name taken from a SASL message into s->user. The parsers
 * already refuse empty, overlong and control-bearing names; checked again
 * because s->user is bounded here and ends up on an IMAP command line.
 */
static bool
pop3_sasl_set_user(struct pop3_session *s, const char *user, size_t len)
{
	if (len == 0 || len > POP3_MAX_USER_OCTETS ||
	    memchr(user, '\0', len) != NULL ||
	    memchr(user, '\r', len) != NULL ||
	    memchr(user, '\n', len) != NULL)
		return false;
	memset(s->user, 0, sizeof(s->user));
	memcpy(s->user, user, len);
	return true;
}

/*
 * Decodes one response into storage sized for it, so that a client idling
 * at a challenge costs nothing, then wipes the base64 in the caller's
 * line: it is the same secret in another spelling. 0 or -errno as
 * sasl_decode_response(), or -ENOMEM.
 */
static int
pop3_sasl_decode(struct pop3_session *s, char *text, size_t len,
    bool initial)
{
	size_t	cap;
	int	error;

	pop3_sasl_free_msg(s);
	/* One spare octet: "" and "=" decode to nothing, malloc(0) aside. */
	cap = POPGATE_BASE64_DECODED_MAX(len) + 1;
	if (len > SASL_MAX_LINE_OCTETS)
		error = -EMSGSIZE;
	else if ((s->sasl.msg = malloc(cap)) == NULL)
		error = -ENOMEM;
	else {
		s->sasl.msg_cap = cap;
		error = sasl_decode_response(text, len, initial, s->sasl.msg,
		    cap, &s->sasl.msg_len);
	}
	explicit_bzero(text, len);
	return error;
}

/* LOGIN's first answer: the user name; then prompt for the password. */
static void
pop3_sasl_login_user(struct pop3_call *c)
{
	struct pop3_session	*s = c->s;
	const char		*user;
	size_t			 len;

	if (sasl_login_parse_user(s->sasl.msg, s->sasl.msg_len, &user,
	    &len) != 0 || !pop3_sasl_set_user(s, user, len)) {
		pop3_sasl_abort(c, POP3_RESP_AUTH, "Invalid user name.");
		return;
	}
	pop3_sasl_free_msg(s);
	s->sasl.wait = POP3_SASL_WAIT_LOGIN_PASSWORD;
	pop3_sasl_challenge(c, SASL_LOGIN_CHALLENGE_PASSWD);
}

/*
 * OAUTHBEARER: the parser unescapes the user name in place, but the
 * message must go upstream exactly as the client sent it, so parse a
 * copy, which is wiped at once (it holds the token).
 */
static int
pop3_sasl_oauthbearer_user(struct pop3_session *s)
{
	struct sasl_bearer	 bearer;
	unsigned char		*copy;
	size_t			 len = s->sasl.msg_len;
	int			 error;

	if ((copy = malloc(len + 1)) == NULL)
		return -ENOMEM;
	memcpy(copy, s->sasl.msg, len);
	error = sasl_oauthbearer_parse(copy, len, &bearer);
	if (error == 0 && !pop3_sasl_set_user(s, bearer.user,
	    bearer.user_len))
		error = -EINVAL;
	explicit_bzero(copy, len + 1);
	free(copy);
	return error;
}

/* The last response: check it and hand the login to the caller. */
static void
pop3_sasl_final(struct pop3_call *c)
{
	struct pop3_session	*s = c->s;
	struct sasl_plain	 plain;
	struct sasl_bearer	 bearer;
	const char		*password = NULL;
	size_t			 password_len = 0;
	bool			 relay = false;
	int			 error = -EINVAL;

	switch (s->sasl.mech) {
	case SASL_MECH_PLAIN:
		error = sasl_plain_parse(s->sasl.msg, s->sasl.msg_len, &plain);
		if (error == -EPERM) {
			/* Conformance 5.15: no proxy authorization. */
			pop3_sasl_abort(c, POP3_RESP_AUTH,
			    POP3_TEXT_AUTH_AUTHZID);
			return;
		}
		if (error == 0 && !pop3_sasl_set_user(s, plain.authcid,
		    plain.authcid_len))
			error = -EINVAL;
		password = plain.passwd;
		password_len = plain.passwd_len;
		break;
	case SASL_MECH_LOGIN:
		error = sasl_login_parse_passwd(s->sasl.msg, s->sasl.msg_len,
		    &password, &password_len);
		break;
	case SASL_MECH_XOAUTH2:
		error = sasl_xoauth2_parse(s->sasl.msg, s->sasl.msg_len,
		    &bearer);
		if (error == 0 && !pop3_sasl_set_user(s, bearer.user,
		    bearer.user_len))
			error = -EINVAL;
		relay = true;
		break;
	case SASL_MECH_OAUTHBEARER:
		error = pop3_sasl_oauthbearer_user(s);
		relay = true;
		break;
	}
	if (error == -ENOMEM) {
		pop3_sasl_abort(c, POP3_RESP_SYS_TEMP, POP3_TEXT_AUTH_NOMEM);
		return;
	}
	if (error == -ECANCELED) {
		/* RFC 7628 sec. 3.2.3: a lone ^A gives up. */
		pop3_sasl_abort(c, POP3_RESP_NONE, POP3_TEXT_AUTH_CANCEL);
		return;
	}
	if (error != 0) {
		pop3_sasl_abort(c, POP3_RESP_AUTH, s->sasl.mech ==
		    SASL_MECH_LOGIN ? "Invalid password." :
		    "Invalid SASL message.");
		return;
	}
	/* The storage stays, unchanged, until pop3_login_done(). */
	s->sasl.wait = POP3_SASL_WAIT_NONE;
	c->step.next = POP3_NEXT_LOGIN;
	c->step.mech = s->sasl.mech;
	c->step.user = s->user;
	if (relay) {
		c->step.sasl_msg = s->sasl.msg;
		c->step.sasl_msg_len = s->sasl.msg_len;
	} else {
		c->step.password = password;
		c->step.password_len = password_len;
	}
}

/* One client response, the initial one (RFC 5034 sec. 4) or a line. */
void
pop3_sasl_respond(struct pop3_call *c, char *text, size_t len, bool initial)
{
	struct pop3_session	*s = c->s;
	int			 error;

	error = pop3_sasl_decode(s, text, len, initial);
	switch (error) {
	case 0:
		break;
	case -ECANCELED:
		pop3_sasl_abort(c, POP3_RESP_NONE, POP3_TEXT_AUTH_CANCEL);
		return;
	case -EMSGSIZE:
	case -ENOBUFS:
		pop3_sasl_abort(c, POP3_RESP_NONE, POP3_TEXT_AUTH_LONG);
		return;
	case -ENOMEM:
		pop3_sasl_abort(c, POP3_RESP_SYS_TEMP, POP3_TEXT_AUTH_NOMEM);
		return;
	default:
		pop3_sasl_abort(c, POP3_RESP_NONE, POP3_TEXT_AUTH_BASE64);
		return;
	}
	if (s->sasl.wait == POP3_SASL_WAIT_LOGIN_USER)
		pop3_sasl_login_user(c);
	else
		pop3_sasl_final(c);
}

/* RFC 1734 sec. 2 style discovery (conformance 5.16): one per line. */
static void
pop3_sasl_list(struct pop3_call *c)
{
	enum sasl_mech	mech;

	pop3_say(c, "+OK " POP3_TEXT_AUTH_LIST);
	for (mech = SASL_MECH_PLAIN; mech <= SASL_MECH_OAUTHBEARER; mech++)
		if (pop3_sasl_offered(c->s, mech))
			pop3_say(c, "%s", sasl_mech_name(mech));
	pop3_say(c, ".");
}

void
pop3_cmd_auth(struct pop3_call *c)
{
	struct pop3_session	*s = c->s;
	enum sasl_mech		 mech;

	if (c->argc == 0) {
		pop3_sasl_list(c);
		return;
	}
	/*
	 * AUTH ends a USER/PASS sequence (RFC 1939 sec. 7: PASS only right
	 * after USER), as in Dovecot, which takes AUTH after USER and
	 * forgets the name: no later PASS can pair with it (conformance 4.3).
	 */
	pop3_forget_user(s);
	/* RFC 5034 sec. 4/5: case-insensitive; unsupported ones get -ERR. */
	if (sasl_mech_lookup(c->argv[0], c->arglen[0], &mech) != 0) {
		pop3_err(c, POP3_RESP_NONE, POP3_TEXT_AUTH_UNKNOWN);
		return;
	}
	if (!pop3_sasl_offered(s, mech) &&
	    !(s->opt.sasl_unlisted & (1u << mech))) {
		/* All four carry cleartext credentials: without TLS, and with
		 * USER refused too, the reason is the plaintext policy (RFC
		 * 2595 sec. 2.3); otherwise the mechanism is just not here
		 * (the upstream lacks XOAUTH2, say). */
		if (!s->opt.tls_active && !s->opt.user_allowed)
			pop3_err(c, POP3_RESP_AUTH,
			    pop3_sasl_plaintext_refusal(s));
		else
			pop3_err(c, POP3_RESP_NONE, POP3_TEXT_AUTH_UNKNOWN);
		return;
	}
	s->sasl.mech = mech;
	s->sasl.wait = mech == SASL_MECH_LOGIN ? POP3_SASL_WAIT_LOGIN_USER :
	    POP3_SASL_WAIT_MESSAGE;
	if (c->argc == 2) {
		/* The argument lies in the caller's line, which we may wipe. */
		pop3_sasl_respond(c, c->line + (c->argv[1] - c->line),
		    c->arglen[1], true);
		return;
	}
	/* RFC 5034 sec. 4: an empty challenge is "+ " exactly. */
	pop3_sasl_challenge(c, mech == SASL_MECH_LOGIN ?
	    SASL_LOGIN_CHALLENGE_USER : "");
}

void
pop3_cmd_stls(struct pop3_call *c)
{
	struct pop3_session	*s = c->s;

	/* RFC 2595 sec. 4: STLS under TLS is an error. */
	if (s->opt.tls_active) {
		pop3_err(c, POP3_RESP_NONE, "TLS is already active");
		return;
	}
	if (!s->opt.stls_available) {
		pop3_err(c, POP3_RESP_NONE, "STLS is not available");
		return;
	}
	pop3_say(c, "+OK Begin TLS negotiation");
	/* RFC 2595 sec. 4: nothing learnt before TLS survives it. */
	pop3_forget_user(s);
	s->opt.tls_active = true;
	c->step.next = POP3_NEXT_START_TLS;
}

struct pop3_step
pop3_login_done(struct pop3_session *s, struct pop3_maildrop *md,
    enum pop3_resp_code code, const char *text, struct buf *out)
{
	size_t	mark = out->len;
	int	error;

	assert(s->step_pending && s->pending.next == POP3_NEXT_LOGIN);
	s->step_pending = false;
	memset(&s->pending, 0, sizeof(s->pending));
	/* The step's secrets are no longer needed, whatever the result. */
	pop3_sasl_end(s);
	pop3_apop_wipe(s);
	if (md == NULL) {
		/* RFC 1939 sec. 7: after a failed PASS, USER starts again. */
		pop3_forget_user(s);
		error = pop3_append_err(out, code,
		    text != NULL ? text : "Login failed");
		/* Conformance 4.13: only credential failures count; an
		 * upstream outage must not lock the client out. */
		if (error == 0 && code == POP3_RESP_AUTH &&
		    ++s->auth_failures >= POP3_MAX_AUTH_FAILURES) {
			s->state = POP3_STATE_CLOSED;
			return pop3_step_close(POP3_TEXT_AUTH_FAILURES);
		}
	} else {
		/* Take the snapshot; md is left empty for its owner. */
		pop3_maildrop_deinit(&s->maildrop);
		s->maildrop = *md;
		pop3_maildrop_init(md, 0);
		pop3_maildrop_finish(&s->maildrop);
		s->has_maildrop = true;
		s->state = POP3_STATE_TRANSACTION;
		s->bad_in_a_row = 0;
		error = pop3_append_line(out, "+OK Logged in.");
	}
	if (error != 0)
		return pop3_overflow(s, out, mark);
	return pop3_step_read();
}
