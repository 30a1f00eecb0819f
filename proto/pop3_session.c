/* SPDX-License-Identifier: MIT */
/*
 * pop3_session.c - POP3 server state machine: command table, strict argument
 * parsing, replies, CAPA and the SASL AUTH exchange. Pure: no I/O, no
 * clock; allocates only via buf and, during AUTH, for the decoded response.
 */
#include "pop3_session.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"

#define POP3_PRINTF(fmt, args)	__attribute__((format(printf, fmt, args)))

/* RFC 2449 sec. 4: 512 octets per line including CRLF, so 510 of text. */
#define POP3_MAX_REPLY_TEXT	(POP3_MAX_REPLY_OCTETS - 2)
/* Most arguments any command takes: TOP msg n, AUTH mech initial-response. */
#define POP3_MAX_ARGS		2
/* RFC 1939 sec. 3 / RFC 2449 sec. 3: keywords are 3 or 4 characters. */
#define POP3_MAX_KEYWORD	4

#define POP3_IN_AUTH	(1u << POP3_STATE_AUTHORIZATION)
#define POP3_IN_TRANS	(1u << POP3_STATE_TRANSACTION)
#define POP3_IN_BOTH	(POP3_IN_AUTH | POP3_IN_TRANS)

/* Room for the reply text about a message expunged upstream. */
#define POP3_GONE_TEXT_OCTETS	\
	sizeof("Message 4294967295 was expunged by another client")

#define POP3_TEXT_GREETING	"POP3 server ready."
#define POP3_TEXT_OVERFLOW	"Output buffer full, closing."
#define POP3_TEXT_TOO_MANY_BAD	"Too many bad commands, closing."
#define POP3_TEXT_TOO_LONG	"Command line too long"
#define POP3_TEXT_BAD_OCTET	"Invalid octet in command"
/* AUTH replies; the wording follows Dovecot's where it has one. */
#define POP3_TEXT_AUTH_LIST	"Supported mechanisms follow"
#define POP3_TEXT_AUTH_UNKNOWN	"Unsupported authentication mechanism."
#define POP3_TEXT_AUTH_CANCEL	"Authentication cancelled."
#define POP3_TEXT_AUTH_BASE64	"Invalid base64 data in SASL response."
#define POP3_TEXT_AUTH_LONG	"SASL response too long."
#define POP3_TEXT_AUTH_NOMEM	"Out of memory, try again later."
#define POP3_TEXT_AUTH_AUTHZID	\
	"Authorization identity must be empty or equal the user name."
#define POP3_TEXT_AUTH_FAILURES	"too many authentication failures"

enum pop3_args {
	POP3_ARGS_NONE,		/* STAT */
	POP3_ARGS_OPTIONAL_ONE,	/* LIST, LIST 3 */
	POP3_ARGS_ONE,		/* DELE 3 */
	POP3_ARGS_TWO,		/* TOP 3 10 */
	POP3_ARGS_UP_TO_TWO,	/* AUTH; AUTH mech; AUTH mech response */
	POP3_ARGS_REST,		/* PASS: spaces kept (RFC 1939 sec. 7) */
	POP3_ARGS_COUNT,
};

static const struct {
	unsigned int	min;
	unsigned int	max;
} pop3_arity[] = {
	[POP3_ARGS_NONE]	 = { 0, 0 },
	[POP3_ARGS_OPTIONAL_ONE] = { 0, 1 },
	[POP3_ARGS_ONE]		 = { 1, 1 },
	[POP3_ARGS_TWO]		 = { 2, 2 },
	[POP3_ARGS_UP_TO_TWO]	 = { 0, 2 },
	[POP3_ARGS_REST]	 = { 1, 1 },
};
_Static_assert(sizeof(pop3_arity) / sizeof(pop3_arity[0]) == POP3_ARGS_COUNT,
    "every argument shape needs an arity");

/* One pop3_execute() call: the parsed line and what the handler did. */
struct pop3_call {
	struct pop3_session	*s;
	struct buf		*out;
	struct pop3_step	 step;
	char			*line;		/* the caller's, writable */
	const char		*argv[POP3_MAX_ARGS];	/* no NUL */
	size_t			 arglen[POP3_MAX_ARGS];
	unsigned int		 argc;
	int			 error;		/* first buf error */
	bool			 failed;	/* the reply was -ERR */
	bool			 challenged;	/* the reply was "+ ..." */
};

typedef void pop3_command_fn(struct pop3_call *);

struct pop3_command {
	const char		*name;
	unsigned int		 valid_in;	/* POP3_IN_* mask */
	enum pop3_args		 args;
	pop3_command_fn		*handler;
};

static const char *const pop3_resp_code_names[] = {
	[POP3_RESP_NONE]	= "",
	[POP3_RESP_AUTH]	= "AUTH",	/* RFC 3206 sec. 5 */
	[POP3_RESP_SYS_TEMP]	= "SYS/TEMP",	/* RFC 3206 sec. 4 */
	[POP3_RESP_SYS_PERM]	= "SYS/PERM",	/* RFC 3206 sec. 4 */
	[POP3_RESP_IN_USE]	= "IN-USE",	/* RFC 2449 sec. 8.1.2 */
};
_Static_assert(sizeof(pop3_resp_code_names) /
    sizeof(pop3_resp_code_names[0]) == POP3_RESP_COUNT,
    "every response code needs a name");

const char *
pop3_resp_code_name(enum pop3_resp_code code)
{
	if ((unsigned int)code >= POP3_RESP_COUNT)
		return "";
	return pop3_resp_code_names[code];
}

/*
 * Copies text into dst (room octets, no NUL) as POP3 response text: printable
 * ASCII only (RFC 6856 sec. 2.1 without UTF8; no CR/LF injection), never
 * starting with '[' (RFC 2449 sec. 8: that would be read as a response code)
 * nor with a space. drop_lt also drops '<' (greeting: only the APOP
 * timestamp may have one).
 */
static size_t
pop3_sanitize(char *dst, size_t room, const char *text, bool drop_lt)
{
	size_t	len = 0;
	char	c;

	if (text == NULL)
		return 0;
	for (; (c = *text) != '\0' && len < room; text++) {
		if (c < 0x20 || c > 0x7e || (drop_lt && c == '<'))
			continue;
		if (len == 0 && (c == ' ' || c == '['))
			continue;
		dst[len++] = c;
	}
	while (len > 0 && dst[len - 1] == ' ')
		len--;
	return len;
}

/* Appends head, then " " and the sanitised text if any, then CRLF. */
static int
pop3_append_text_line(struct buf *out, const char *head, const char *text)
{
	char	line[POP3_MAX_REPLY_OCTETS];
	size_t	len, text_len;

	len = strlen(head);
	assert(len + 1 < POP3_MAX_REPLY_TEXT);
	memcpy(line, head, len);
	text_len = pop3_sanitize(line + len + 1, POP3_MAX_REPLY_TEXT - len - 1,
	    text, false);
	if (text_len > 0) {
		line[len] = ' ';
		len += 1 + text_len;
	}
	line[len++] = '\r';
	line[len++] = '\n';
	return buf_append(out, line, len);
}

static int
pop3_append_err(struct buf *out, enum pop3_resp_code code, const char *text)
{
	char	head[sizeof("-ERR [SYS/TEMP]")];

	if (code == POP3_RESP_NONE || (unsigned int)code >= POP3_RESP_COUNT)
		return pop3_append_text_line(out, "-ERR", text);
	(void)snprintf(head, sizeof(head), "-ERR [%s]",
	    pop3_resp_code_name(code));
	return pop3_append_text_line(out, head, text);
}

void
pop3_reply_err(struct buf *out, enum pop3_resp_code code, const char *text)
{
	(void)pop3_append_err(out, code, text);
}

/* Appends one formatted line plus CRLF; our formats never near 510. */
static int POP3_PRINTF(2, 0)
pop3_append_vline(struct buf *out, const char *fmt, va_list ap)
{
	char	line[POP3_MAX_REPLY_OCTETS + 1];
	int	n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	assert(n >= 0 && n <= POP3_MAX_REPLY_TEXT);
	line[n] = '\r';
	line[n + 1] = '\n';
	return buf_append(out, line, (size_t)n + 2);
}

static int POP3_PRINTF(2, 3)
pop3_append_line(struct buf *out, const char *fmt, ...)
{
	va_list	ap;
	int	error;

	va_start(ap, fmt);
	error = pop3_append_vline(out, fmt, ap);
	va_end(ap);
	return error;
}

/* Removes a partial reply: struct buf is transparent and len only shrinks. */
static void
pop3_rollback(struct buf *out, size_t mark)
{
	assert(mark <= out->len);
	out->len = mark;
}

static struct pop3_step
pop3_step_close(const char *reason)
{
	struct pop3_step	step;

	memset(&step, 0, sizeof(step));
	step.next = POP3_NEXT_CLOSE;
	step.reason = reason;
	return step;
}

static struct pop3_step
pop3_step_read(void)
{
	struct pop3_step	step;

	memset(&step, 0, sizeof(step));
	step.next = POP3_NEXT_READ;
	return step;
}

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
static void
pop3_sasl_end(struct pop3_session *s)
{
	pop3_sasl_free_msg(s);
	memset(&s->sasl, 0, sizeof(s->sasl));
}

/* Wipes an APOP LOGIN step's digest. */
static void
pop3_apop_wipe(struct pop3_session *s)
{
	explicit_bzero(s->apop_digest, sizeof(s->apop_digest));
}

/* out refused a reply: drop the partial reply, try one last line, close. */
static struct pop3_step
pop3_overflow(struct pop3_session *s, struct buf *out, size_t mark)
{
	pop3_sasl_end(s);
	pop3_apop_wipe(s);
	pop3_rollback(out, mark);
	(void)pop3_append_err(out, POP3_RESP_SYS_TEMP, POP3_TEXT_OVERFLOW);
	s->state = POP3_STATE_CLOSED;
	s->step_pending = false;
	s->retrieve_started = false;
	return pop3_step_close("output overflow");
}

static void
pop3_forget_user(struct pop3_session *s)
{
	s->has_user = false;
	memset(s->user, 0, sizeof(s->user));
}

/* One line of a reply (status or data); the first failure sticks. */
static void POP3_PRINTF(2, 3)
pop3_say(struct pop3_call *c, const char *fmt, ...)
{
	va_list	ap;

	if (c->error != 0)
		return;
	va_start(ap, fmt);
	c->error = pop3_append_vline(c->out, fmt, ap);
	va_end(ap);
}

static void
pop3_err(struct pop3_call *c, enum pop3_resp_code code, const char *text)
{
	c->failed = true;
	if (c->error == 0)
		c->error = pop3_append_err(c->out, code, text);
}

/* RFC 1939 sec. 3/4: base-10 digits only; no sign; no wrap-around. */
static bool
pop3_parse_u32(const char *arg, size_t len, uint32_t *value_out)
{
	uint64_t	value = 0;
	size_t		i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (arg[i] < '0' || arg[i] > '9')
			return false;
		value = value * 10 + (uint64_t)(arg[i] - '0');
		if (value > UINT32_MAX)
			return false;
	}
	*value_out = (uint32_t)value;
	return true;
}

/*
 * Looks up argument argi as a message number that names a message not marked
 * deleted (RFC 1939 sec. 5). Replies -ERR and returns NULL otherwise.
 */
static struct pop3_msg *
pop3_arg_msg(struct pop3_call *c, unsigned int argi, uint32_t *msn_out)
{
	struct pop3_msg	*m;
	uint32_t	 msn;

	if (!pop3_parse_u32(c->argv[argi], c->arglen[argi], &msn) ||
	    msn == 0) {
		pop3_err(c, POP3_RESP_NONE, "Invalid message number");
		return NULL;
	}
	m = pop3_maildrop_by_msn(&c->s->maildrop, msn);
	if (m == NULL) {
		pop3_err(c, POP3_RESP_NONE, "No such message");
		return NULL;
	}
	if (m->flags & POP3_MSG_MARKED) {
		pop3_err(c, POP3_RESP_NONE, "Message is deleted");
		return NULL;
	}
	*msn_out = msn;
	return m;
}

/*
 * Splits " arg1 arg2" (what follows the keyword) by single spaces (RFC 2449
 * sec. 3: keyword *(SP param)). Empty arguments (double or trailing spaces)
 * are an error, so "LIST  1" can never mean LIST (conformance 2.12).
 */
static bool
pop3_parse_args(struct pop3_call *c, enum pop3_args shape, const char *p,
    size_t len)
{
	const char	*space;
	size_t		 arg_len;

	if (shape == POP3_ARGS_REST) {
		/* The whole rest, spaces included; may be empty ("PASS "). */
		if (len == 0) {
			pop3_err(c, POP3_RESP_NONE, "Missing argument");
			return false;
		}
		c->argv[0] = p + 1;
		c->arglen[0] = len - 1;
		c->argc = 1;
		return true;
	}
	while (len > 0) {
		p++;		/* the separating space */
		len--;
		space = memchr(p, ' ', len);
		arg_len = space != NULL ? (size_t)(space - p) : len;
		if (arg_len == 0) {
			pop3_err(c, POP3_RESP_NONE,
			    "Invalid syntax: one space between arguments");
			return false;
		}
		if (c->argc == pop3_arity[shape].max) {
			pop3_err(c, POP3_RESP_NONE,
			    "Unexpected extra argument");
			return false;
		}
		c->argv[c->argc] = p;
		c->arglen[c->argc++] = arg_len;
		p += arg_len;
		len -= arg_len;
	}
	if (c->argc < pop3_arity[shape].min) {
		pop3_err(c, POP3_RESP_NONE, "Missing argument");
		return false;
	}
	return true;
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

static void
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

static void
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
static const char *
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

static void
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

static bool
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
static void
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
static void
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

static void
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

static void
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

/* "SASL PLAIN LOGIN XOAUTH2 OAUTHBEARER", or nothing when none is offered. */
static void
pop3_capa_sasl(struct pop3_call *c)
{
	enum sasl_mech	 mech;
	char		 line[sizeof("SASL PLAIN LOGIN XOAUTH2 OAUTHBEARER")];
	size_t		 len = 0;
	const char	*name;

	for (mech = SASL_MECH_PLAIN; mech <= SASL_MECH_OAUTHBEARER; mech++) {
		if (!pop3_sasl_offered(c->s, mech))
			continue;
		name = sasl_mech_name(mech);
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s %s",
		    len == 0 ? "SASL" : "", name);
	}
	if (len > 0)
		pop3_say(c, "%s", line);
}

/* RFC 2449 sec. 5; doc/imap-mapping.md sec. 19: what is listed when. */
static void
pop3_cmd_capa(struct pop3_call *c)
{
	struct pop3_session	*s = c->s;
	bool			 in_auth;

	in_auth = s->state == POP3_STATE_AUTHORIZATION;
	pop3_say(c, "+OK Capability list follows");
	pop3_say(c, "TOP");
	/* Conformance 7.3: USER is listed in both states. */
	if (s->opt.user_allowed)
		pop3_say(c, "USER");
	/* RFC 5034 sec. 3: SASL is listed after a successful AUTH too. */
	pop3_capa_sasl(c);
	pop3_say(c, "UIDL");
	pop3_say(c, "RESP-CODES");
	pop3_say(c, "AUTH-RESP-CODE");
	if (s->opt.pipelining)
		pop3_say(c, "PIPELINING");
	/* Conformance 6.2: only where STLS would work. */
	if (in_auth && s->opt.stls_available && !s->opt.tls_active)
		pop3_say(c, "STLS");
	/* Conformance 7.9: the version is not shown before login. */
	if (!in_auth && s->opt.implementation != NULL) {
		char	line[POP3_MAX_REPLY_OCTETS];
		size_t	len;

		len = pop3_sanitize(line, POP3_MAX_REPLY_TEXT -
		    sizeof("IMPLEMENTATION"), s->opt.implementation, false);
		if (len > 0)
			pop3_say(c, "IMPLEMENTATION %.*s", (int)len, line);
	}
	pop3_say(c, ".");
}

static void
pop3_cmd_quit(struct pop3_call *c)
{
	struct pop3_session	*s = c->s;

	if (s->state == POP3_STATE_AUTHORIZATION) {
		/* RFC 1939 sec. 4/6: no UPDATE from AUTHORIZATION. */
		pop3_say(c, "+OK Logging out.");
		s->state = POP3_STATE_CLOSED;
		c->step = pop3_step_close("quit");
		return;
	}
	/* RFC 1939 sec. 6: the reply waits for the deletions. */
	s->state = POP3_STATE_UPDATE;
	c->step.next = POP3_NEXT_COMMIT;
}

static void
pop3_cmd_stat(struct pop3_call *c)
{
	uint64_t	octets;
	uint32_t	count;

	pop3_maildrop_stat(&c->s->maildrop, &count, &octets);
	pop3_say(c, "+OK %" PRIu32 " %" PRIu64, count, octets);
}

static void
pop3_cmd_list(struct pop3_call *c)
{
	struct pop3_maildrop	*md = &c->s->maildrop;
	struct pop3_msg		*m;
	uint64_t		 octets;
	uint32_t		 count, msn;

	if (c->argc == 1) {
		if ((m = pop3_arg_msg(c, 0, &msn)) != NULL)
			pop3_say(c, "+OK %" PRIu32 " %" PRIu64, msn, m->size);
		return;
	}
	/* RFC 1939 sec. 5: messages marked as deleted are not listed. */
	pop3_maildrop_stat(md, &count, &octets);
	pop3_say(c, "+OK %" PRIu32 " messages", count);
	for (msn = 1; msn <= md->count && c->error == 0; msn++) {
		m = pop3_maildrop_by_msn(md, msn);
		if (!(m->flags & POP3_MSG_MARKED))
			pop3_say(c, "%" PRIu32 " %" PRIu64, msn, m->size);
	}
	pop3_say(c, ".");
}

/* The unique-id of m, NUL-terminated, into id (POP3_UIDL_MAX_OCTETS + 1). */
static void
pop3_uidl_of(const struct pop3_session *s, const struct pop3_msg *m,
    char *id)
{
	uint32_t	uidvalidity = s->maildrop.uidvalidity;

	if (s->opt.uidl != NULL) {
		(void)pop3_uidl_format(s->opt.uidl, m->uid, uidvalidity, id);
		return;
	}
	/* POP3_UIDL_DEFAULT_TEMPLATE without a compiled template. */
	(void)snprintf(id, POP3_UIDL_MAX_OCTETS + 1, "%08" PRIx32 "%08" PRIx32,
	    m->uid, uidvalidity);
}

static void
pop3_cmd_uidl(struct pop3_call *c)
{
	struct pop3_maildrop	*md = &c->s->maildrop;
	struct pop3_msg		*m;
	char			 id[POP3_UIDL_MAX_OCTETS + 1];
	uint32_t		 msn;

	if (c->argc == 1) {
		if ((m = pop3_arg_msg(c, 0, &msn)) != NULL) {
			pop3_uidl_of(c->s, m, id);
			pop3_say(c, "+OK %" PRIu32 " %s", msn, id);
		}
		return;
	}
	/* RFC 1939 sec. 7: same shape as LIST, deleted messages left out. */
	pop3_say(c, "+OK Unique-ID listing follows");
	for (msn = 1; msn <= md->count && c->error == 0; msn++) {
		m = pop3_maildrop_by_msn(md, msn);
		if (m->flags & POP3_MSG_MARKED)
			continue;
		pop3_uidl_of(c->s, m, id);
		pop3_say(c, "%" PRIu32 " %s", msn, id);
	}
	pop3_say(c, ".");
}

/* doc/imap-mapping.md sec. 13: no response code, retrying cannot help. */
static void
pop3_gone_text(char text[POP3_GONE_TEXT_OCTETS], uint32_t msn)
{
	(void)snprintf(text, POP3_GONE_TEXT_OCTETS,
	    "Message %" PRIu32 " was expunged by another client", msn);
}

/* RETR and TOP: check locally, then hand the fetch to the caller. */
static void
pop3_retrieve(struct pop3_call *c, bool is_top, uint32_t top_lines)
{
	struct pop3_msg	*m;
	char		 text[POP3_GONE_TEXT_OCTETS];
	uint32_t	 msn;

	if ((m = pop3_arg_msg(c, 0, &msn)) == NULL)
		return;
	/*
	 * Conformance 9.18: never +OK with a missing body. Known gone: answer
	 * here; counting it as a bad command cuts off a client that loops on
	 * it, as Dovecot's client_reply_msg_expunged() does.
	 */
	if (m->flags & POP3_MSG_GONE) {
		pop3_gone_text(text, msn);
		pop3_err(c, POP3_RESP_NONE, text);
		return;
	}
	c->step.next = POP3_NEXT_RETRIEVE;
	c->step.msn = msn;
	c->step.uid = m->uid;
	c->step.is_top = is_top;
	c->step.top_lines = top_lines;
}

static void
pop3_cmd_retr(struct pop3_call *c)
{
	pop3_retrieve(c, false, 0);
}

static void
pop3_cmd_top(struct pop3_call *c)
{
	uint32_t	lines;

	/* RFC 1939 sec. 7: "a non-negative number of lines". */
	if (!pop3_parse_u32(c->argv[1], c->arglen[1], &lines)) {
		pop3_err(c, POP3_RESP_NONE, "Invalid line count");
		return;
	}
	pop3_retrieve(c, true, lines);
}

static void
pop3_cmd_dele(struct pop3_call *c)
{
	struct pop3_msg	*m;
	uint32_t	 msn;

	if ((m = pop3_arg_msg(c, 0, &msn)) == NULL)
		return;
	/*
	 * RFC 1939 sec. 5: only a mark; nothing goes upstream before QUIT.
	 * A GONE message is marked too: UID EXPUNGE ignores its uid
	 * (doc/imap-mapping.md sec. 13).
	 */
	m->flags |= POP3_MSG_MARKED;
	c->s->count.dele++;
	pop3_say(c, "+OK Marked to be deleted.");
}

static void
pop3_cmd_rset(struct pop3_call *c)
{
	struct pop3_maildrop	*md = &c->s->maildrop;
	uint32_t		 msn;

	/*
	 * RFC 1939 sec. 5: unmark everything. RETRIEVED goes too, so \Seen is
	 * not set for messages read before RSET (doc/imap-mapping.md sec. 10).
	 */
	for (msn = 1; msn <= md->count; msn++)
		pop3_maildrop_by_msn(md, msn)->flags &=
		    ~(uint32_t)(POP3_MSG_MARKED | POP3_MSG_RETRIEVED);
	pop3_say(c, "+OK");
}

static void
pop3_cmd_noop(struct pop3_call *c)
{
	pop3_say(c, "+OK");
}

/* RFC 2449 sec. 5: arity and states are data. */
static const struct pop3_command pop3_commands[] = {
	{ "USER", POP3_IN_AUTH,  POP3_ARGS_ONE,          pop3_cmd_user },
	{ "PASS", POP3_IN_AUTH,  POP3_ARGS_REST,         pop3_cmd_pass },
	{ "APOP", POP3_IN_AUTH,  POP3_ARGS_TWO,          pop3_cmd_apop },
	{ "AUTH", POP3_IN_AUTH,  POP3_ARGS_UP_TO_TWO,    pop3_cmd_auth },
	{ "STLS", POP3_IN_AUTH,  POP3_ARGS_NONE,         pop3_cmd_stls },
	{ "CAPA", POP3_IN_BOTH,  POP3_ARGS_NONE,         pop3_cmd_capa },
	{ "QUIT", POP3_IN_BOTH,  POP3_ARGS_NONE,         pop3_cmd_quit },
	{ "STAT", POP3_IN_TRANS, POP3_ARGS_NONE,         pop3_cmd_stat },
	{ "LIST", POP3_IN_TRANS, POP3_ARGS_OPTIONAL_ONE, pop3_cmd_list },
	{ "UIDL", POP3_IN_TRANS, POP3_ARGS_OPTIONAL_ONE, pop3_cmd_uidl },
	{ "RETR", POP3_IN_TRANS, POP3_ARGS_ONE,          pop3_cmd_retr },
	{ "TOP",  POP3_IN_TRANS, POP3_ARGS_TWO,          pop3_cmd_top },
	{ "DELE", POP3_IN_TRANS, POP3_ARGS_ONE,          pop3_cmd_dele },
	{ "RSET", POP3_IN_TRANS, POP3_ARGS_NONE,         pop3_cmd_rset },
	{ "NOOP", POP3_IN_TRANS, POP3_ARGS_NONE,         pop3_cmd_noop },
};

/* RFC 1939 sec. 3: keywords are case-insensitive. */
static const struct pop3_command *
pop3_command_find(const char *keyword, size_t len)
{
	size_t	i;

	if (len == 0 || len > POP3_MAX_KEYWORD)
		return NULL;
	for (i = 0; i < sizeof(pop3_commands) / sizeof(pop3_commands[0]);
	    i++) {
		if (strlen(pop3_commands[i].name) == len &&
		    strncasecmp(pop3_commands[i].name, keyword, len) == 0)
			return &pop3_commands[i];
	}
	return NULL;
}

/* Finds the command and splits its arguments; replies -ERR on failure. */
static const struct pop3_command *
pop3_parse(struct pop3_call *c, const char *line, size_t len)
{
	const struct pop3_command	*cmd;
	const char			*space;
	size_t				 i, keyword_len, rest_len;

	/* Conformance 2.14: no control octets, never cut short at a NUL. */
	for (i = 0; i < len; i++) {
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) {
			pop3_err(c, POP3_RESP_NONE, POP3_TEXT_BAD_OCTET);
			return NULL;
		}
	}
	space = memchr(line, ' ', len);
	keyword_len = space != NULL ? (size_t)(space - line) : len;
	if ((cmd = pop3_command_find(line, keyword_len)) == NULL) {
		pop3_err(c, POP3_RESP_NONE, "Unknown command");
		return NULL;
	}
	/* RFC 1939 sec. 3: a command in the wrong state gets -ERR. */
	if (!(cmd->valid_in & (1u << c->s->state))) {
		pop3_err(c, POP3_RESP_NONE, "Command not valid in this state");
		return NULL;
	}
	rest_len = len - keyword_len;
	/* Conformance 5.16: Outlook probes with "AUTH " and a trailing
	 * space; Dovecot answers it as a bare AUTH, and so do we. */
	if (cmd->handler == pop3_cmd_auth && rest_len == 1)
		rest_len = 0;
	if (!pop3_parse_args(c, cmd->args, line + keyword_len, rest_len))
		return NULL;
	return cmd;
}

void
pop3_session_init(struct pop3_session *s, const struct pop3_options *opt)
{
	memset(s, 0, sizeof(*s));
	s->opt = *opt;
	s->state = POP3_STATE_AUTHORIZATION;
	pop3_maildrop_init(&s->maildrop, 0);
}

void
pop3_session_deinit(struct pop3_session *s)
{
	pop3_maildrop_deinit(&s->maildrop);
	pop3_sasl_end(s);
	pop3_apop_wipe(s);
	pop3_forget_user(s);
	s->has_maildrop = false;
	s->step_pending = false;
	s->state = POP3_STATE_CLOSED;
}

size_t
pop3_session_line_limit(const struct pop3_session *s)
{
	/* RFC 5034 sec. 4 / conformance 5.11: SASL responses run to several
	 * KB; pop3_execute() holds every other line to the 255 octets. */
	if (s->state == POP3_STATE_AUTHORIZATION)
		return POP3_MAX_AUTH_LINE_OCTETS;
	return POP3_MAX_COMMAND_OCTETS;
}

void
pop3_session_greeting(struct pop3_session *s, struct buf *out)
{
	const char	*text = s->opt.greeting, *stamp;
	char		 line[POP3_MAX_REPLY_OCTETS], probe[1];
	size_t		 len, room, stamp_len = 0;

	/* RFC 1939 sec. 4: a positive greeting; sec. 7: '<' means APOP. */
	if (pop3_sanitize(probe, sizeof(probe), text, true) == 0)
		text = POP3_TEXT_GREETING;
	if ((stamp = pop3_apop_timestamp(s)) != NULL)
		stamp_len = strlen(stamp);
	/* The text is clipped, never the timestamp (RFC 2449 sec. 4). */
	memcpy(line, "+OK ", 4);
	room = POP3_MAX_REPLY_TEXT - 4 - (stamp != NULL ? 1 + stamp_len : 0);
	len = 4 + pop3_sanitize(line + 4, room, text, true);
	if (stamp != NULL) {
		/* RFC 1939 sec. 7: the timestamp is the only '<'. */
		line[len++] = ' ';
		memcpy(line + len, stamp, stamp_len);
		len += stamp_len;
	}
	line[len++] = '\r';
	line[len++] = '\n';
	(void)buf_append(out, line, len);
}

static void
pop3_call_init(struct pop3_call *c, struct pop3_session *s, char *line,
    struct buf *out)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->out = out;
	c->line = line;
	c->step.next = POP3_NEXT_READ;
}

/* Bookkeeping after a command: bad-command cutoff, pending steps, overflow. */
static struct pop3_step
pop3_call_finish(struct pop3_call *c, size_t mark)
{
	struct pop3_session	*s = c->s;

	if (c->error != 0)
		return pop3_overflow(s, c->out, mark);
	if (c->failed) {
		s->count.bad_commands++;
		/* Conformance 2.15: one final -ERR instead of the usual one. */
		if (++s->bad_in_a_row >= POP3_MAX_BAD_COMMANDS) {
			pop3_rollback(c->out, mark);
			(void)pop3_append_err(c->out, POP3_RESP_NONE,
			    POP3_TEXT_TOO_MANY_BAD);
			pop3_sasl_end(s);
			s->state = POP3_STATE_CLOSED;
			return pop3_step_close("too many bad commands");
		}
	} else if (!c->challenged) {
		/* Not on "+ ": an AUTH that is then cancelled, over and
		 * over, must still reach the cutoff. */
		s->bad_in_a_row = 0;
	}
	switch (c->step.next) {
	case POP3_NEXT_LOGIN:
	case POP3_NEXT_RETRIEVE:
	case POP3_NEXT_COMMIT:
		s->step_pending = true;
		s->retrieve_started = false;
		s->pending = c->step;
		break;
	case POP3_NEXT_READ:
	case POP3_NEXT_START_TLS:
	case POP3_NEXT_CLOSE:
		break;
	}
	return c->step;
}

/*
 * RFC 2449 sec. 4: the caller reads AUTHORIZATION lines with the longer
 * SASL limit (pop3_session_line_limit()), so every line but AUTH is held
 * to 255 octets with CRLF here, with the line reader's reply.
 */
static bool
pop3_over_command_limit(const struct pop3_session *s, const char *line,
    size_t len)
{
	if (s->state != POP3_STATE_AUTHORIZATION ||
	    len <= POP3_MAX_COMMAND_OCTETS - 2)
		return false;
	return !(strncasecmp(line, "AUTH", 4) == 0 && line[4] == ' ');
}

struct pop3_step
pop3_execute(struct pop3_session *s, char *line, size_t len, struct buf *out)
{
	const struct pop3_command	*cmd;
	struct pop3_call		 c;
	size_t				 mark = out->len;

	assert(!s->step_pending);
	if (s->state == POP3_STATE_CLOSED || s->state == POP3_STATE_UPDATE)
		return pop3_step_close("session closed");
	s->count.commands++;
	pop3_call_init(&c, s, line, out);
	if (s->sasl.wait != POP3_SASL_WAIT_NONE)
		pop3_sasl_respond(&c, line, len, false);
	else if (pop3_over_command_limit(s, line, len))
		pop3_err(&c, POP3_RESP_NONE, POP3_TEXT_TOO_LONG);
	else if ((cmd = pop3_parse(&c, line, len)) != NULL)
		cmd->handler(&c);
	return pop3_call_finish(&c, mark);
}

struct pop3_step
pop3_bad_line(struct pop3_session *s, bool too_long, struct buf *out)
{
	struct pop3_call	c;
	size_t			mark = out->len;

	assert(!s->step_pending);
	if (s->state == POP3_STATE_CLOSED || s->state == POP3_STATE_UPDATE)
		return pop3_step_close("session closed");
	s->count.commands++;
	pop3_call_init(&c, s, NULL, out);
	/* A response the reader refused ends the exchange: one -ERR. */
	if (s->sasl.wait != POP3_SASL_WAIT_NONE)
		pop3_sasl_abort(&c, POP3_RESP_NONE, too_long ?
		    POP3_TEXT_AUTH_LONG : POP3_TEXT_AUTH_BASE64);
	else
		/* RFC 2449 sec. 4 limit; conformance 2.9/2.14: one -ERR per
		 * line. */
		pop3_err(&c, POP3_RESP_NONE, too_long ? POP3_TEXT_TOO_LONG :
		    POP3_TEXT_BAD_OCTET);
	return pop3_call_finish(&c, mark);
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

int
pop3_retrieve_begin(struct pop3_session *s, struct buf *out)
{
	size_t	mark = out->len;
	int	error;

	assert(s->step_pending && s->pending.next == POP3_NEXT_RETRIEVE);
	assert(!s->retrieve_started);
	/* Conformance 9.7: no octet count that might be wrong. */
	if ((error = pop3_append_line(out, "+OK Message follows")) != 0) {
		(void)pop3_overflow(s, out, mark);
		return error;
	}
	s->retrieve_started = true;
	if (s->pending.is_top)
		s->count.top++;
	else
		s->count.retr++;
	return 0;
}

void
pop3_retrieve_end(struct pop3_session *s)
{
	struct pop3_msg	*m;

	assert(s->step_pending && s->pending.next == POP3_NEXT_RETRIEVE);
	assert(s->retrieve_started);
	/* Only RETR sets \Seen, never TOP (conformance 9.15). */
	m = pop3_maildrop_by_msn(&s->maildrop, s->pending.msn);
	if (!s->pending.is_top && m != NULL)
		m->flags |= POP3_MSG_RETRIEVED;
	s->step_pending = false;
	s->retrieve_started = false;
}

struct pop3_step
pop3_retrieve_failed(struct pop3_session *s, bool gone,
    enum pop3_resp_code code, const char *text, struct buf *out)
{
	struct pop3_msg	*m;
	char		 gone_text[POP3_GONE_TEXT_OCTETS];
	size_t		 mark = out->len;

	assert(s->step_pending && s->pending.next == POP3_NEXT_RETRIEVE);
	assert(!s->retrieve_started);
	s->step_pending = false;
	m = pop3_maildrop_by_msn(&s->maildrop, s->pending.msn);
	if (gone && m != NULL)
		m->flags |= POP3_MSG_GONE;
	if (gone && text == NULL) {
		pop3_gone_text(gone_text, s->pending.msn);
		text = gone_text;
	}
	if (pop3_append_err(out, code, text != NULL ? text :
	    "Message could not be retrieved") != 0)
		return pop3_overflow(s, out, mark);
	return pop3_step_read();
}

struct pop3_step
pop3_commit_done(struct pop3_session *s, bool ok, struct buf *out)
{
	size_t		mark = out->len;
	uint32_t	msn;
	bool		any_marked = false;
	int		error;

	assert(s->step_pending && s->pending.next == POP3_NEXT_COMMIT);
	s->step_pending = false;
	s->state = POP3_STATE_CLOSED;
	for (msn = 1; msn <= s->maildrop.count && !any_marked; msn++)
		any_marked = (pop3_maildrop_by_msn(&s->maildrop, msn)->flags &
		    POP3_MSG_MARKED) != 0;
	/* RFC 1939 sec. 6: -ERR when some marked messages survived. */
	if (!ok)
		error = pop3_append_err(out, POP3_RESP_SYS_TEMP,
		    "Some deleted messages were not removed");
	else if (any_marked)
		error = pop3_append_line(out,
		    "+OK Logging out, messages deleted.");
	else
		error = pop3_append_line(out, "+OK Logging out.");
	if (error != 0)
		return pop3_overflow(s, out, mark);
	return pop3_step_close("quit");
}
