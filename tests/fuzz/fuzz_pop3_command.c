/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pop3_command.c - libFuzzer target for the POP3 engine: client bytes go
 * through pop3_line (its limit set before each line, as the gateway does)
 * and pop3_execute; login, fetch and commit steps are completed as the
 * input decides. Byte 0 picks the options, byte 1 seeds the decisions and
 * picks the SASL and APOP setup; the rest is what the client sends. Logins
 * fail and succeed in turn (the first fails), so that AUTH, USER/PASS and
 * APOP all reach TRANSACTION. Oracles: every reply line ends in CRLF, is at
 * most 512 octets of printable ASCII; each complete command line gets
 * exactly one status line, or one "+ " challenge while an AUTH exchange goes
 * on; the state only moves forward; no SASL storage or APOP digest outlives
 * its login; the greeting has a '<' exactly when APOP is offered, and APOP
 * logs in only then, with a well-formed digest, never after USER.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz_util.h"
#include "pop3_line.h"
#include "pop3_maildrop.h"
#include "pop3_session.h"
#include "pop3_uidl.h"
#include "sasl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The caller's input buffer: room for the longest AUTHORIZATION line, which
 * pop3_line needs (the gateway's is larger still). */
#define FUZZ_CMD_INBUF_OCTETS	(2 * POP3_MAX_AUTH_LINE_OCTETS)
/* Output limit in normal mode: any reply to the fixtures fits. */
#define FUZZ_CMD_OUT_OCTETS	(64 * 1024)
/* Output limit in overflow mode: some listings do not fit. */
#define FUZZ_CMD_SMALL_OUT_OCTETS	96
/* Stop after this many lines: keeps one input fast. */
#define FUZZ_CMD_MAX_LINES	4096

/* Byte 0. */
#define FUZZ_OPT_LOGGED_IN	0x01
#define FUZZ_OPT_USER_ALLOWED	0x02
#define FUZZ_OPT_STLS		0x04
#define FUZZ_OPT_TLS_ACTIVE	0x08
#define FUZZ_OPT_PIPELINING	0x10
#define FUZZ_OPT_SMALL_OUT	0x20
#define FUZZ_OPT_CHUNK_SHIFT	6	/* 2 bits: chunking mode */

/* Byte 1 (also the decision seed). */
#define FUZZ_SEED_SASL_MASK	0x80	/* offer only mechanisms 0x1e says */
#define FUZZ_SEED_FAIL_LOGINS	0x40	/* every login fails with [AUTH] */
#define FUZZ_SEED_APOP		0x20	/* a timestamp from fuzz_apop_stamps */
#define FUZZ_SASL_ALL	((1u << SASL_MECH_PLAIN) | (1u << SASL_MECH_LOGIN) | \
	(1u << SASL_MECH_XOAUTH2) | (1u << SASL_MECH_OAUTHBEARER))

#define FUZZ_CHECK(cond)	do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_pop3_command: %s:%d: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* Hostile texts the "backend" may hand to the engine (already fixed text
 * in the real gateway; the engine must cope anyway). */
static const char *const fuzz_texts[] = {
	NULL,
	"Authentication failed",
	"[ALERT] upstream says\r\n+OK injected",
	"\x00",
	"\xff\xfe\x01\x7f [x",
	"",
};

/* 126 octets: between '<' and '>', the longest timestamp the engine takes. */
#define FUZZ_STAMP_BODY	\
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab@x"

/* APOP timestamps the caller may give; offered says if the engine must take
 * it (RFC 1939 sec. 7 msg-id, at most POP3_APOP_MAX_TIMESTAMP_OCTETS). */
static const struct {
	const char	*stamp;
	bool		 offered;
} fuzz_apop_stamps[] = {
	{ "<4711.1a2b3c4d5e6f@popgate.example>", true },
	{ "<x>", true },
	{ "<" FUZZ_STAMP_BODY ">", true },
	{ "<" FUZZ_STAMP_BODY "z>", false },	/* one octet too long */
	{ "<47 11@popgate.example>", false },
	{ "<a<b@x>", false },
	{ "", false },
};
_Static_assert(sizeof("<" FUZZ_STAMP_BODY ">") - 1 ==
    POP3_APOP_MAX_TIMESTAMP_OCTETS, "the longest timestamp");

static const struct {
	uint32_t	uid;
	uint64_t	size;
	uint32_t	flags;
} fuzz_msgs[] = {
	{ 1, 0, 0 },
	{ 2, 1, POP3_MSG_SEEN },
	{ 7, 3000, POP3_MSG_FLAGGED_DELETED },
	{ 1000, 13ull * UINT32_MAX, 0 },
	{ UINT32_MAX, 512, POP3_MSG_SEEN },
};

struct fuzz_cmd {
	struct pop3_session		s;
	struct pop3_options		opt;
	struct pop3_uidl_template	uidl;
	struct pop3_line_reader		reader;
	struct buf			out;
	char				inbuf[FUZZ_CMD_INBUF_OCTETS];
	size_t				inlen;
	uint32_t			rng;
	uint32_t			calls;	/* execute + bad_line */
	uint32_t			logins;	/* LOGIN steps answered */
	bool				fail_logins;
	bool				apop_offered;	/* valid timestamp */
	bool				closed;
};

/* Decisions: a hash of the seed and of every line so far. */
static void
fuzz_mix(struct fuzz_cmd *f, const char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		f->rng = (f->rng ^ (uint8_t)p[i]) * 16777619u;
	f->rng ^= (uint32_t)len;
}

static uint32_t
fuzz_decide(struct fuzz_cmd *f, uint32_t n)
{
	f->rng = f->rng * 1103515245u + 12345u;
	return (f->rng >> 16) % n;
}

/*
 * Checks the bytes one command produced: complete short ASCII lines; one
 * status line first; -ERR alone; a multi-line reply ends with ".".
 */
static void
fuzz_check_reply(const char *p, size_t len, bool allow_none)
{
	const char	*line, *end;
	size_t		 n, lines = 0, line_len;
	bool		 is_ok = false;

	FUZZ_CHECK(len > 0 || allow_none);
	for (line = p; line < p + len; line = end + 2) {
		end = memchr(line, '\n', (size_t)(p + len - line));
		FUZZ_CHECK(end != NULL && end > line && end[-1] == '\r');
		end--;
		line_len = (size_t)(end - line);
		FUZZ_CHECK(line_len + 2 <= POP3_MAX_REPLY_OCTETS);
		for (n = 0; n < line_len; n++)
			FUZZ_CHECK(line[n] >= 0x20 && line[n] <= 0x7e);
		if (lines == 0) {
			is_ok = line_len >= 3 && memcmp(line, "+OK", 3) == 0 &&
			    (line_len == 3 || line[3] == ' ');
			FUZZ_CHECK(is_ok || (line_len >= 4 &&
			    memcmp(line, "-ERR", 4) == 0 &&
			    (line_len == 4 || line[4] == ' ')));
		} else {
			/* Data lines never look like a status line. */
			FUZZ_CHECK(!(line_len >= 3 &&
			    memcmp(line, "+OK", 3) == 0));
			FUZZ_CHECK(!(line_len >= 4 &&
			    memcmp(line, "-ERR", 4) == 0));
		}
		lines++;
		if (line_len == 1 && line[0] == '.')
			FUZZ_CHECK(end + 2 == p + len);	/* "." is last */
	}
	if (lines > 1) {
		FUZZ_CHECK(is_ok);
		FUZZ_CHECK(len >= 3 && memcmp(p + len - 3, ".\r\n", 3) == 0);
	}
}

/* RFC 5034 sec. 4: a challenge is "+" SP base64 CRLF, alone. */
static void
fuzz_check_challenge(const char *p, size_t len)
{
	size_t	i;
	char	c;

	FUZZ_CHECK(len >= 4 && len <= POP3_MAX_REPLY_OCTETS);
	FUZZ_CHECK(p[0] == '+' && p[1] == ' ');
	FUZZ_CHECK(p[len - 2] == '\r' && p[len - 1] == '\n');
	for (i = 2; i < len - 2; i++) {
		c = p[i];
		FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=');
	}
}

static void
fuzz_fill_maildrop(struct fuzz_cmd *f, struct pop3_maildrop *md)
{
	uint32_t	n, i;

	pop3_maildrop_init(md, fuzz_decide(f, 2) ? 1234567890u : UINT32_MAX);
	n = fuzz_decide(f, 6);		/* 0..5 messages */
	/* Reverse order now and then: finish() must sort. */
	for (i = 0; i < n; i++)
		FUZZ_CHECK(pop3_maildrop_put(md,
		    fuzz_msgs[n % 2 ? n - 1 - i : i].uid,
		    fuzz_msgs[n % 2 ? n - 1 - i : i].size,
		    fuzz_msgs[n % 2 ? n - 1 - i : i].flags) == 0);
}

static struct pop3_step
fuzz_login(struct fuzz_cmd *f, const struct pop3_step *step, const char *line,
    size_t line_len)
{
	struct pop3_maildrop	md;
	struct pop3_step	next;
	enum pop3_resp_code	code;
	unsigned int		failures = f->s.auth_failures;
	size_t			i;

	FUZZ_CHECK(f->s.state == POP3_STATE_AUTHORIZATION);
	FUZZ_CHECK(step->user != NULL && strlen(step->user) > 0 &&
	    strlen(step->user) <= POP3_MAX_USER_OCTETS);
	if (step->apop) {
		FUZZ_CHECK(step->mech == 0 && f->apop_offered);
		FUZZ_CHECK(strchr(step->user, ' ') == NULL);
		/* 32 lowercase hex digits in engine storage. */
		FUZZ_CHECK(step->password == f->s.apop_digest &&
		    step->password_len == POP3_APOP_DIGEST_OCTETS &&
		    step->password[POP3_APOP_DIGEST_OCTETS] == '\0');
		for (i = 0; i < step->password_len; i++)
			FUZZ_CHECK((step->password[i] >= '0' &&
			    step->password[i] <= '9') ||
			    (step->password[i] >= 'a' &&
			    step->password[i] <= 'f'));
		FUZZ_CHECK(step->sasl_msg == NULL && step->sasl_msg_len == 0);
		/* The digest, the last argument, was wiped in our line. */
		FUZZ_CHECK(line_len > POP3_APOP_DIGEST_OCTETS &&
		    fuzz_zero(line + line_len - POP3_APOP_DIGEST_OCTETS,
		    POP3_APOP_DIGEST_OCTETS));
	} else if (step->mech == 0) {
		FUZZ_CHECK(step->password >= line && step->password_len > 0 &&
		    step->password + step->password_len <= line + line_len);
		FUZZ_CHECK(step->sasl_msg == NULL && step->sasl_msg_len == 0);
	} else {
		/* The name goes on an IMAP command line upstream. */
		FUZZ_CHECK(strpbrk(step->user, "\r\n") == NULL);
		/* The base64 was wiped in our line: all of a response
		 * line, the tail of an AUTH line. */
		FUZZ_CHECK(line_len > 0 && line[line_len - 1] == '\0');
		for (i = 0; line[0] == '\0' && i < line_len; i++)
			FUZZ_CHECK(line[i] == '\0');
		FUZZ_CHECK(f->s.sasl.msg != NULL);
	}
	switch (step->mech) {
	case SASL_MECH_PLAIN:
	case SASL_MECH_LOGIN:
		FUZZ_CHECK(step->password != NULL && step->password_len > 0 &&
		    step->password_len <= SASL_MAX_PASSWD_OCTETS);
		FUZZ_CHECK(memchr(step->password, '\0',
		    step->password_len) == NULL);
		FUZZ_CHECK(step->sasl_msg == NULL && step->sasl_msg_len == 0);
		break;
	case SASL_MECH_XOAUTH2:
	case SASL_MECH_OAUTHBEARER:
		FUZZ_CHECK(step->password == NULL && step->password_len == 0);
		FUZZ_CHECK(step->sasl_msg != NULL && step->sasl_msg_len > 0 &&
		    step->sasl_msg_len <= SASL_MAX_DECODED_OCTETS);
		break;
	}
	if (f->fail_logins || f->logins++ % 2 == 0) {
		code = f->fail_logins ? POP3_RESP_AUTH :
		    (enum pop3_resp_code)fuzz_decide(f, POP3_RESP_COUNT);
		next = pop3_login_done(&f->s, NULL, code,
		    fuzz_texts[fuzz_decide(f, sizeof(fuzz_texts) /
		    sizeof(fuzz_texts[0]))], &f->out);
		FUZZ_CHECK(f->s.state == POP3_STATE_AUTHORIZATION ||
		    next.next == POP3_NEXT_CLOSE);
		FUZZ_CHECK(!f->s.has_user);
		FUZZ_CHECK(f->s.auth_failures == failures +
		    (code == POP3_RESP_AUTH));
		/* The POP3_MAX_AUTH_FAILURES-th closes, after its -ERR. */
		FUZZ_CHECK((f->s.auth_failures >= POP3_MAX_AUTH_FAILURES) ==
		    (next.next == POP3_NEXT_CLOSE && strcmp(next.reason,
		    "too many authentication failures") == 0));
		return next;
	}
	fuzz_fill_maildrop(f, &md);
	next = pop3_login_done(&f->s, &md, POP3_RESP_NONE, NULL, &f->out);
	FUZZ_CHECK(md.count == 0 && md.msgs == NULL);
	pop3_maildrop_deinit(&md);
	FUZZ_CHECK(f->s.state == POP3_STATE_TRANSACTION ||
	    next.next == POP3_NEXT_CLOSE);
	return next;
}

static struct pop3_step
fuzz_retrieve(struct fuzz_cmd *f, const struct pop3_step *step)
{
	struct pop3_msg	*m;
	struct pop3_step next;

	FUZZ_CHECK(f->s.state == POP3_STATE_TRANSACTION);
	m = pop3_maildrop_by_msn(&f->s.maildrop, step->msn);
	FUZZ_CHECK(m != NULL && m->uid == step->uid);
	FUZZ_CHECK(!(m->flags & (POP3_MSG_MARKED | POP3_MSG_GONE)));
	memset(&next, 0, sizeof(next));
	next.next = POP3_NEXT_READ;
	switch (fuzz_decide(f, 4)) {
	case 0:
		return pop3_retrieve_failed(&f->s, true, POP3_RESP_NONE, NULL,
		    &f->out);
	case 1:
		return pop3_retrieve_failed(&f->s, false, POP3_RESP_SYS_TEMP,
		    fuzz_texts[fuzz_decide(f, sizeof(fuzz_texts) /
		    sizeof(fuzz_texts[0]))], &f->out);
	default:
		if (pop3_retrieve_begin(&f->s, &f->out) != 0) {
			FUZZ_CHECK(f->s.state == POP3_STATE_CLOSED);
			next.next = POP3_NEXT_CLOSE;
			next.reason = "output overflow";
			return next;
		}
		/* What pop3_body would send; may not fit a small out. */
		(void)buf_append_str(&f->out,
		    "Subject: x\r\n\r\n..dot\r\n.\r\n");
		pop3_retrieve_end(&f->s);
		if (!step->is_top)
			FUZZ_CHECK(m->flags & POP3_MSG_RETRIEVED);
		return next;
	}
}

/* Completes whatever the engine asked for, like the gateway would. */
static struct pop3_step
fuzz_complete(struct fuzz_cmd *f, struct pop3_step step, const char *line,
    size_t line_len)
{
	switch (step.next) {
	case POP3_NEXT_READ:
		FUZZ_CHECK(!f->s.step_pending);
		break;
	case POP3_NEXT_LOGIN:
		FUZZ_CHECK(f->s.step_pending);
		step = fuzz_login(f, &step, line, line_len);
		break;
	case POP3_NEXT_RETRIEVE:
		FUZZ_CHECK(f->s.step_pending);
		step = fuzz_retrieve(f, &step);
		break;
	case POP3_NEXT_COMMIT:
		FUZZ_CHECK(f->s.step_pending);
		FUZZ_CHECK(f->s.state == POP3_STATE_UPDATE);
		step = pop3_commit_done(&f->s, fuzz_decide(f, 2) == 0, &f->out);
		FUZZ_CHECK(step.next == POP3_NEXT_CLOSE);
		break;
	case POP3_NEXT_START_TLS:
		FUZZ_CHECK(f->s.opt.tls_active && !f->s.step_pending);
		/* RFC 2595 sec. 4 / conformance 6.6: drop buffered input. */
		f->inlen = 0;
		pop3_line_init(&f->reader, POP3_MAX_COMMAND_OCTETS);
		/* The gateway's policy under TLS: the same or more. */
		f->s.opt.user_allowed = fuzz_decide(f, 2) == 0;
		f->s.opt.sasl_mechs = FUZZ_SASL_ALL;
		break;
	case POP3_NEXT_CLOSE:
		FUZZ_CHECK(f->s.state == POP3_STATE_CLOSED);
		FUZZ_CHECK(step.reason != NULL);
		break;
	}
	FUZZ_CHECK(step.next != POP3_NEXT_CLOSE ||
	    f->s.state == POP3_STATE_CLOSED);
	FUZZ_CHECK(!f->s.step_pending);
	/* Secrets live only from the last response to pop3_login_done(). */
	FUZZ_CHECK(f->s.sasl.msg == NULL && f->s.sasl.msg_cap == 0);
	FUZZ_CHECK(fuzz_zero(f->s.apop_digest,
	    sizeof(f->s.apop_digest)));
	FUZZ_CHECK(f->s.sasl.wait == POP3_SASL_WAIT_NONE ||
	    (f->s.state == POP3_STATE_AUTHORIZATION && f->s.sasl.mech != 0));
	return step;
}

/* One complete line (or an overlong/NUL one): exactly one reply. */
static void
fuzz_one_line(struct fuzz_cmd *f, enum pop3_line_kind kind, char *line,
    size_t line_len)
{
	struct pop3_step	step;
	enum pop3_state		before = f->s.state;
	bool			had_user;

	fuzz_mix(f, line, line_len);
	/* An upstream EXPUNGE seen by the gateway between commands. */
	if (f->s.has_maildrop && f->s.maildrop.count > 0 &&
	    fuzz_decide(f, 8) == 0)
		pop3_maildrop_mark_gone(&f->s.maildrop,
		    f->s.maildrop.msgs[fuzz_decide(f,
		    f->s.maildrop.count)].uid);
	buf_reset(&f->out);
	f->calls++;
	had_user = f->s.has_user;
	if (kind == POP3_LINE_OK)
		step = pop3_execute(&f->s, line, line_len, &f->out);
	else
		step = pop3_bad_line(&f->s, kind == POP3_LINE_TOO_LONG,
		    &f->out);
	/* APOP: a login step only, and never while a USER waits. */
	FUZZ_CHECK(!step.apop || (step.next == POP3_NEXT_LOGIN &&
	    before == POP3_STATE_AUTHORIZATION && !had_user));
	step = fuzz_complete(f, step, line, line_len);
	FUZZ_CHECK(f->s.state >= before);
	FUZZ_CHECK(f->s.count.commands == f->calls);
	/* A challenge exactly when the exchange waits for a response. */
	if (f->s.sasl.wait != POP3_SASL_WAIT_NONE) {
		FUZZ_CHECK(step.next == POP3_NEXT_READ);
		fuzz_check_challenge(f->out.data, f->out.len);
	} else
		fuzz_check_reply(f->out.data, f->out.len, step.next ==
		    POP3_NEXT_CLOSE && strcmp(step.reason,
		    "output overflow") == 0);
	FUZZ_CHECK(pop3_session_line_limit(&f->s) ==
	    (f->s.state == POP3_STATE_AUTHORIZATION ?
	    POP3_MAX_AUTH_LINE_OCTETS : POP3_MAX_COMMAND_OCTETS));
	if (step.next == POP3_NEXT_CLOSE)
		f->closed = true;
}

/* Appends client bytes and runs every complete line, as the gateway. */
static void
fuzz_feed(struct fuzz_cmd *f, const char *p, size_t len)
{
	enum pop3_line_kind	 kind;
	char			*line;
	size_t			 take, used, line_len;

	while (len > 0 && !f->closed) {
		take = sizeof(f->inbuf) - f->inlen;
		take = take < len ? take : len;
		memcpy(f->inbuf + f->inlen, p, take);
		f->inlen += take;
		p += take;
		len -= take;
		while (!f->closed && f->calls < FUZZ_CMD_MAX_LINES) {
			pop3_line_set_max(&f->reader,
			    pop3_session_line_limit(&f->s));
			used = pop3_line_next(&f->reader, f->inbuf, f->inlen,
			    &kind, &line, &line_len);
			if (kind != POP3_LINE_NONE)
				fuzz_one_line(f, kind, line, line_len);
			if (f->inlen == 0)	/* START_TLS dropped it */
				break;
			memmove(f->inbuf, f->inbuf + used, f->inlen - used);
			f->inlen -= used;
			if (used == 0)
				break;
		}
		if (f->calls >= FUZZ_CMD_MAX_LINES)
			f->closed = true;
	}
}

static void
fuzz_setup(struct fuzz_cmd *f, uint8_t opt_byte, uint8_t seed)
{
	const char		*error, *lt;
	static const char *const templates[] = {
		POP3_UIDL_DEFAULT_TEMPLATE, "{uidvalidity}.{uid}",
		"{uidvalidity:08x}{uid:010d}",
	};
	struct buf		 greeting;
	size_t			 stamp_len;
	uint32_t		 t;

	memset(f, 0, sizeof(*f));
	f->rng = 2166136261u ^ seed;
	t = fuzz_decide(f, 4);
	if (t < 3) {
		FUZZ_CHECK(pop3_uidl_compile(&f->uidl, templates[t],
		    &error) == 0);
		f->opt.uidl = &f->uidl;
	}
	f->opt.greeting = fuzz_decide(f, 2) ? "popgate <ready>" : NULL;
	f->opt.implementation = fuzz_decide(f, 2) ? "popgate\r\n0.1" : NULL;
	f->opt.user_allowed = (opt_byte & FUZZ_OPT_USER_ALLOWED) != 0;
	f->opt.stls_available = (opt_byte & FUZZ_OPT_STLS) != 0;
	f->opt.tls_active = (opt_byte & FUZZ_OPT_TLS_ACTIVE) != 0;
	f->opt.pipelining = (opt_byte & FUZZ_OPT_PIPELINING) != 0;
	f->opt.sasl_mechs = (seed & FUZZ_SEED_SASL_MASK) ?
	    (seed & FUZZ_SASL_ALL) : FUZZ_SASL_ALL;
	f->fail_logins = (seed & FUZZ_SEED_FAIL_LOGINS) != 0;
	/* Only with the bit: inputs without it decide as they always did. */
	if (seed & FUZZ_SEED_APOP) {
		t = fuzz_decide(f, sizeof(fuzz_apop_stamps) /
		    sizeof(fuzz_apop_stamps[0]));
		f->opt.apop_timestamp = fuzz_apop_stamps[t].stamp;
		f->apop_offered = fuzz_apop_stamps[t].offered;
	}
	buf_init(&f->out, (opt_byte & FUZZ_OPT_SMALL_OUT) ?
	    FUZZ_CMD_SMALL_OUT_OCTETS : FUZZ_CMD_OUT_OCTETS);
	pop3_line_init(&f->reader, POP3_MAX_COMMAND_OCTETS);
	pop3_session_init(&f->s, &f->opt);
	/* Its own buffer: with a long APOP timestamp the greeting may not
	 * fit FUZZ_CMD_SMALL_OUT_OCTETS, but always fits one reply line. */
	buf_init(&greeting, POP3_MAX_REPLY_OCTETS);
	pop3_session_greeting(&f->s, &greeting);
	fuzz_check_reply(greeting.data, greeting.len, false);
	/* Conformance 1.3: a '<' only for APOP, and then only the
	 * timestamp's, at the end of the line. */
	lt = memchr(greeting.data, '<', greeting.len);
	if (!f->apop_offered)
		FUZZ_CHECK(lt == NULL);
	else {
		stamp_len = strlen(f->opt.apop_timestamp);
		FUZZ_CHECK(lt != NULL && lt > greeting.data && lt[-1] == ' ' &&
		    (size_t)(greeting.data + greeting.len - lt) ==
		    stamp_len + 2 &&
		    memcmp(lt, f->opt.apop_timestamp, stamp_len) == 0);
	}
	buf_deinit(&greeting);
}

/* Logs in through the engine itself, whatever user_allowed says. */
static void
fuzz_log_in(struct fuzz_cmd *f)
{
	bool	user_allowed = f->s.opt.user_allowed;

	f->s.opt.user_allowed = true;
	while (!f->closed && f->s.state == POP3_STATE_AUTHORIZATION)
		fuzz_feed(f, "USER fuzz\r\nPASS x y\r\n", 21);
	f->s.opt.user_allowed = user_allowed;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cmd	*f;
	size_t		 off, chunk;
	unsigned int	 mode;

	if (size < 2)
		return 0;
	f = malloc(sizeof(*f));
	FUZZ_CHECK(f != NULL);
	fuzz_setup(f, data[0], data[1]);
	if (data[0] & FUZZ_OPT_LOGGED_IN)
		fuzz_log_in(f);
	mode = data[0] >> FUZZ_OPT_CHUNK_SHIFT;
	for (off = 2; off < size && !f->closed; off += chunk) {
		/* Whole, byte by byte, 7 octets, or sizes the input picks. */
		chunk = mode == 0 ? size - off : mode == 1 ? 1 : mode == 2 ?
		    7 : 1 + fuzz_decide(f, 300);
		chunk = chunk < size - off ? chunk : size - off;
		fuzz_feed(f, (const char *)data + off, chunk);
	}
	pop3_session_deinit(&f->s);
	buf_deinit(&f->out);
	free(f);
	return 0;
}
