/* SPDX-License-Identifier: MIT */
/*
 * pop3_session.c - POP3 server state machine: the command table, the
 * commands of both states (CAPA, QUIT) and pop3_execute(). The states'
 * commands are in pop3_auth.c and pop3_trans.c, the call context in
 * pop3_call.c. Pure: no I/O, no clock.
 */
#include "pop3_session_int.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct pop3_command {
	const char		*name;
	unsigned int		 valid_in;	/* POP3_IN_* mask */
	enum pop3_args		 args;
	pop3_command_fn		*handler;
};

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
