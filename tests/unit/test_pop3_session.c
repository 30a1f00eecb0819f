/* SPDX-License-Identifier: MIT */
/*
 * test_pop3_session.c - unit tests for proto/pop3_session.c: every command in
 * every state, with exact reply bytes, against doc/pop3-conformance.md items,
 * SASL AUTH exchanges (section 5) included.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "buf.h"
#include "pop3_line.h"
#include "pop3_session.h"
#include "sasl.h"

/* Output buffer limit for the fixture: far above any reply here. */
#define TEST_OUT_MAX_OCTETS	(1024 * 1024)
/* doc/imap-mapping.md sec. 7.1 example UIDVALIDITY (hex 499602d2). */
#define TEST_UIDVALIDITY	1234567890u

struct fixture {
	struct pop3_session		s;
	struct pop3_options		opt;
	struct pop3_uidl_template	uidl;
	struct buf			out;
	struct pop3_step		step;
};

/* The 3-message drop used throughout: uids 5, 7, 12. */
static const struct {
	uint32_t	uid;
	uint64_t	size;
} test_msgs[] = {
	{ 5, 120 },
	{ 7, 200 },
	{ 12, 3000 },
};

static void
fx_init_opt(struct fixture *f, bool user_allowed, bool stls_available,
    bool tls_active)
{
	const char	*error;

	memset(f, 0, sizeof(*f));
	assert_int_equal(pop3_uidl_compile(&f->uidl,
	    POP3_UIDL_DEFAULT_TEMPLATE, &error), 0);
	f->opt.uidl = &f->uidl;
	f->opt.greeting = "popgate ready";
	f->opt.implementation = "popgate 0.1.0";
	f->opt.user_allowed = user_allowed;
	f->opt.stls_available = stls_available;
	f->opt.tls_active = tls_active;
	f->opt.pipelining = true;
	buf_init(&f->out, TEST_OUT_MAX_OCTETS);
	pop3_session_init(&f->s, &f->opt);
}

static void
fx_init(struct fixture *f)
{
	fx_init_opt(f, true, false, false);
}

static void
fx_deinit(struct fixture *f)
{
	pop3_session_deinit(&f->s);
	buf_deinit(&f->out);
}

/* Asserts that out holds exactly expected, then empties it. */
static void
fx_expect(struct fixture *f, const char *expected)
{
	size_t	len = strlen(expected);

	if (f->out.len != len || (len > 0 &&
	    memcmp(f->out.data, expected, len) != 0))
		fail_msg("output mismatch:\n got: \"%.*s\"\nwant: \"%s\"",
		    (int)f->out.len, f->out.data != NULL ? f->out.data : "",
		    expected);
	buf_reset(&f->out);
}

/* Runs one command line (given without CRLF; may contain NUL). */
static struct pop3_step
fx_cmd_len(struct fixture *f, const char *line, size_t len)
{
	char	*copy;

	/* A heap copy exactly len long, so ASan sees any overread. */
	copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	memcpy(copy, line, len);
	f->step = pop3_execute(&f->s, copy, len, &f->out);
	free(copy);
	/* USER/PASS LOGIN borrows the line; do not look at it after this.
	 * An AUTH or APOP step's password is engine storage and stays
	 * valid. */
	if (f->step.mech == 0 && !f->step.apop)
		f->step.password = NULL;
	return f->step;
}

static struct pop3_step
fx_cmd(struct fixture *f, const char *line)
{
	return fx_cmd_len(f, line, strlen(line));
}

/* One command, answered at once, with exactly these bytes. */
static void
fx_reply(struct fixture *f, const char *line, const char *expected)
{
	struct pop3_step	step;

	step = fx_cmd(f, line);
	if (step.next != POP3_NEXT_READ)
		fail_msg("\"%s\": step %d, not READ", line, (int)step.next);
	fx_expect(f, expected);
}

static void
fx_fill_maildrop(struct pop3_maildrop *md, size_t nmsgs)
{
	size_t	i;

	pop3_maildrop_init(md, TEST_UIDVALIDITY);
	for (i = 0; i < nmsgs; i++)
		assert_int_equal(pop3_maildrop_put(md, test_msgs[i].uid,
		    test_msgs[i].size, 0), 0);
	pop3_maildrop_finish(md);
}

/* USER/PASS and a successful login with nmsgs of test_msgs. */
static void
fx_login(struct fixture *f, size_t nmsgs)
{
	struct pop3_maildrop	md;
	struct pop3_step	step;

	fx_reply(f, "USER alice", "+OK Send PASS.\r\n");
	step = fx_cmd(f, "PASS secret");
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	fx_expect(f, "");
	fx_fill_maildrop(&md, nmsgs);
	step = pop3_login_done(&f->s, &md, POP3_RESP_NONE, NULL, &f->out);
	assert_int_equal(step.next, POP3_NEXT_READ);
	assert_int_equal(md.count, 0);
	assert_null(md.msgs);
	pop3_maildrop_deinit(&md);
	fx_expect(f, "+OK Logged in.\r\n");
	assert_int_equal(f->s.state, POP3_STATE_TRANSACTION);
}

static void
fx_init_logged_in(struct fixture *f, size_t nmsgs)
{
	fx_init(f);
	fx_login(f, nmsgs);
}

#define TEST_CAPA_AUTH \
	"+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\n" \
	"RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
#define TEST_LIST_ALL \
	"+OK 3 messages\r\n1 120\r\n2 200\r\n3 3000\r\n.\r\n"
#define TEST_UIDL_ALL \
	"+OK Unique-ID listing follows\r\n1 00000005499602d2\r\n" \
	"2 00000007499602d2\r\n3 0000000c499602d2\r\n.\r\n"
#define TEST_WRONG_STATE	"-ERR Command not valid in this state\r\n"
#define TEST_EXTRA_ARG		"-ERR Unexpected extra argument\r\n"
#define TEST_BAD_SYNTAX	\
	"-ERR Invalid syntax: one space between arguments\r\n"
#define TEST_BAD_MSN		"-ERR Invalid message number\r\n"
#define TEST_TOO_LONG		"-ERR Command line too long\r\n"
#define TEST_AUTH_LIST_HEAD	"+OK Supported mechanisms follow\r\n"
#define TEST_AUTH_UNKNOWN	"-ERR Unsupported authentication mechanism.\r\n"
#define TEST_AUTH_PLAINTEXT	"-ERR [AUTH] Plaintext authentication " \
	"disallowed on non-secure connection\r\n"
#define TEST_AUTH_CANCELLED	"-ERR Authentication cancelled.\r\n"
#define TEST_AUTH_BASE64	"-ERR Invalid base64 data in SASL response.\r\n"
#define TEST_AUTH_BAD_MSG	"-ERR [AUTH] Invalid SASL message.\r\n"
#define TEST_AUTH_BAD_USER	"-ERR [AUTH] Invalid user name.\r\n"
#define TEST_AUTH_AUTHZID	"-ERR [AUTH] Authorization identity must be " \
	"empty or equal the user name.\r\n"
#define TEST_AUTH_LONG		"-ERR SASL response too long.\r\n"

static void
test_greeting(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init(&f);
	pop3_session_greeting(&f.s, &f.out);
	fx_expect(&f, "+OK popgate ready\r\n");
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	fx_deinit(&f);

	/* Conformance 1.3: no '<' ever; 2.3: no injected line ends. */
	fx_init(&f);
	f.s.opt.greeting = "[x] <1896.697170952@dbc.mtview.ca.us> a\r\n-ERR";
	pop3_session_greeting(&f.s, &f.out);
	fx_expect(&f, "+OK x] 1896.697170952@dbc.mtview.ca.us> a-ERR\r\n");
	f.s.opt.greeting = NULL;
	pop3_session_greeting(&f.s, &f.out);
	fx_expect(&f, "+OK POP3 server ready.\r\n");
	f.s.opt.greeting = "<<<";
	pop3_session_greeting(&f.s, &f.out);
	fx_expect(&f, "+OK POP3 server ready.\r\n");
	fx_deinit(&f);
}

static void
test_greeting_clipped(void **state)
{
	struct fixture	 f;
	char		*text;

	(void)state;
	text = malloc(4096);
	assert_non_null(text);
	memset(text, 'g', 4095);
	text[4095] = '\0';
	fx_init(&f);
	f.s.opt.greeting = text;
	pop3_session_greeting(&f.s, &f.out);
	assert_int_equal(f.out.len, POP3_MAX_REPLY_OCTETS);
	assert_memory_equal(f.out.data, "+OK ggg", 7);
	assert_memory_equal(f.out.data + f.out.len - 3, "g\r\n", 3);
	fx_deinit(&f);
	free(text);
}

static void
test_auth_state_rejects_transaction_commands(void **state)
{
	static const char *const lines[] = {
		"STAT", "LIST", "LIST 1", "RETR 1", "DELE 1", "NOOP", "RSET",
		"TOP 1 0", "UIDL", "UIDL 1",
	};
	struct fixture	f;
	size_t		i;

	(void)state;
	fx_init(&f);
	/* Conformance 2.5. */
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		fx_reply(&f, lines[i], TEST_WRONG_STATE);
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	assert_int_equal(f.s.count.bad_commands, 10);
	fx_deinit(&f);
}

static void
test_user_pass_login(void **state)
{
	struct fixture		f;
	struct pop3_maildrop	md;
	struct pop3_step	step;

	(void)state;
	fx_init(&f);
	/* Conformance 4.2: the same reply for any name. */
	fx_reply(&f, "USER exists@dom", "+OK Send PASS.\r\n");
	fx_reply(&f, "USER nosuch@dom", "+OK Send PASS.\r\n");
	/* Conformance 4.3: the second USER wins. */
	step = fx_cmd(&f, "PASS pw");
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	assert_string_equal(step.user, "nosuch@dom");
	assert_int_equal(step.password_len, 2);
	assert_false(step.apop);
	assert_true(f.s.step_pending);
	fx_expect(&f, "");
	fx_fill_maildrop(&md, 3);
	step = pop3_login_done(&f.s, &md, POP3_RESP_NONE, NULL, &f.out);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, "+OK Logged in.\r\n");
	assert_false(f.s.step_pending);
	assert_true(f.s.has_maildrop);
	assert_int_equal(f.s.maildrop.count, 3);
	assert_int_equal(f.s.maildrop.uidvalidity, TEST_UIDVALIDITY);
	/* The caller's md was emptied: deinit is safe and frees nothing. */
	assert_int_equal(md.count, 0);
	pop3_maildrop_deinit(&md);
	fx_reply(&f, "STAT", "+OK 3 3320\r\n");
	fx_deinit(&f);
}

static void
test_pass_keeps_spaces(void **state)
{
	struct fixture		f;
	struct pop3_step	step;
	char			line[] = "PASS a b  c";

	(void)state;
	fx_init(&f);
	fx_reply(&f, "USER u", "+OK Send PASS.\r\n");
	/* Conformance 2.10: the rest of the line, spaces included; the
	 * password points into the caller's line. */
	step = pop3_execute(&f.s, line, strlen(line), &f.out);
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	assert_int_equal(step.password_len, 6);
	assert_memory_equal(step.password, "a b  c", 6);
	assert_ptr_equal(step.password, line + 5);
	assert_string_equal(step.user, "u");
	(void)pop3_login_done(&f.s, NULL, POP3_RESP_AUTH,
	    "Authentication failed", &f.out);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");

	/* A password of spaces only, and a trailing space, are kept too. */
	fx_reply(&f, "USER u", "+OK Send PASS.\r\n");
	step = fx_cmd(&f, "PASS   ");
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	assert_int_equal(step.password_len, 2);
	fx_deinit(&f);
}

static void
test_pass_sequence_errors(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	fx_init(&f);
	/* Conformance 4.4: PASS needs a USER before it. */
	fx_reply(&f, "PASS x", "-ERR Send USER first\r\n");
	fx_reply(&f, "PASS", "-ERR Missing argument\r\n");
	fx_reply(&f, "USER", "-ERR Missing argument\r\n");
	fx_reply(&f, "USER a b", TEST_EXTRA_ARG);
	fx_reply(&f, "USER ", TEST_BAD_SYNTAX);
	/* Empty password: refused at once, and USER is forgotten. */
	fx_reply(&f, "USER a", "+OK Send PASS.\r\n");
	fx_reply(&f, "PASS ", "-ERR [AUTH] Empty password\r\n");
	fx_reply(&f, "PASS x", "-ERR Send USER first\r\n");
	/* CAPA between USER and PASS is allowed (Dovecot and Cyrus do). */
	fx_reply(&f, "USER a", "+OK Send PASS.\r\n");
	fx_reply(&f, "CAPA", TEST_CAPA_AUTH ".\r\n");
	step = fx_cmd(&f, "PASS x");
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	assert_string_equal(step.user, "a");
	fx_deinit(&f);
}

static void
test_failed_login_then_retry(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	fx_init(&f);
	fx_reply(&f, "USER alice", "+OK Send PASS.\r\n");
	step = fx_cmd(&f, "PASS wrong");
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	/* Conformance 4.7: -ERR and still AUTHORIZATION. */
	step = pop3_login_done(&f.s, NULL, POP3_RESP_AUTH,
	    "Authentication failed", &f.out);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	assert_false(f.s.has_user);
	/* USER is forgotten: PASS alone is not enough. */
	fx_reply(&f, "PASS secret", "-ERR Send USER first\r\n");
	/* Other codes and a NULL text. */
	fx_reply(&f, "USER alice", "+OK Send PASS.\r\n");
	(void)fx_cmd(&f, "PASS secret");
	(void)pop3_login_done(&f.s, NULL, POP3_RESP_SYS_TEMP, NULL, &f.out);
	fx_expect(&f, "-ERR [SYS/TEMP] Login failed\r\n");
	fx_reply(&f, "USER alice", "+OK Send PASS.\r\n");
	(void)fx_cmd(&f, "PASS secret");
	(void)pop3_login_done(&f.s, NULL, POP3_RESP_IN_USE,
	    "Maildrop is locked", &f.out);
	fx_expect(&f, "-ERR [IN-USE] Maildrop is locked\r\n");
	/* Then a good login. */
	fx_login(&f, 3);
	fx_deinit(&f);
}

static void
test_quit_in_authorization(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	fx_init(&f);
	fx_reply(&f, "USER a", "+OK Send PASS.\r\n");
	/* Conformance 4.9 / 12.6: +OK, close, no UPDATE. */
	step = fx_cmd(&f, "QUIT");
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	assert_string_equal(step.reason, "quit");
	fx_expect(&f, "+OK Logging out.\r\n");
	assert_int_equal(f.s.state, POP3_STATE_CLOSED);
	assert_false(f.s.step_pending);
	/* Anything later: CLOSE, no output. */
	step = fx_cmd(&f, "NOOP");
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	step = pop3_bad_line(&f.s, true, &f.out);
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	fx_expect(&f, "");
	fx_deinit(&f);
}

static void
test_apop_and_auth_refused(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init(&f);
	/* Conformance 4.10: -ERR, no state change. */
	fx_reply(&f, "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
	    "-ERR APOP is not available\r\n");
	fx_reply(&f, "apop", "-ERR Missing argument\r\n");
	/* Conformance 5.3/5.16: unsupported mechanisms and bare AUTH,
	 * with no mechanism offered (sasl_mechs 0). */
	fx_reply(&f, "AUTH", TEST_AUTH_LIST_HEAD ".\r\n");
	fx_reply(&f, "AUTH ", TEST_AUTH_LIST_HEAD ".\r\n");
	fx_reply(&f, "AUTH FOOBAR", TEST_AUTH_UNKNOWN);
	/* USER is allowed here, so plaintext is not the reason. */
	fx_reply(&f, "auth plain AGFsaWNlAHNlY3JldA==", TEST_AUTH_UNKNOWN);
	fx_reply(&f, "AUTH  ", TEST_BAD_SYNTAX);
	fx_reply(&f, "AUTH PLAIN a b", TEST_EXTRA_ARG);
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	fx_login(&f, 3);
	fx_deinit(&f);
}

static void
test_user_not_allowed(void **state)
{
	struct fixture	f;

	(void)state;
	/* Conformance 1.9/1.10: refused before TLS, same bytes always. */
	fx_init_opt(&f, false, true, false);
	fx_reply(&f, "USER alice",
	    "-ERR USER/PASS not allowed here; use STLS\r\n");
	fx_reply(&f, "PASS right",
	    "-ERR [AUTH] USER/PASS not allowed here; use STLS\r\n");
	fx_reply(&f, "PASS wrong",
	    "-ERR [AUTH] USER/PASS not allowed here; use STLS\r\n");
	/* CAPA lists no USER; STLS is offered. */
	fx_reply(&f, "CAPA", "+OK Capability list follows\r\nTOP\r\nUIDL\r\n"
	    "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSTLS\r\n.\r\n");
	fx_deinit(&f);

	fx_init_opt(&f, false, false, false);
	fx_reply(&f, "USER alice", "-ERR USER/PASS not allowed\r\n");
	fx_reply(&f, "PASS x", "-ERR [AUTH] USER/PASS not allowed\r\n");
	fx_deinit(&f);
}

static void
test_user_long_and_8bit(void **state)
{
	struct fixture		 f;
	struct pop3_step	 step;
	char			 line[POP3_MAX_COMMAND_OCTETS + 64];
	char			*pw;

	(void)state;
	fx_init(&f);
	/* Conformance 2.7: a 200-character name. */
	memcpy(line, "USER ", 5);
	memset(line + 5, 'n', 200);
	line[205] = '\0';
	fx_reply(&f, line, "+OK Send PASS.\r\n");
	assert_int_equal(strlen(f.s.user), 200);
	/* A 245-octet password. */
	pw = line + 5;
	memcpy(line, "PASS ", 5);
	memset(pw, 'p', 245);
	line[250] = '\0';
	step = fx_cmd(&f, line);
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	assert_int_equal(step.password_len, 245);
	assert_int_equal(strlen(step.user), 200);
	(void)pop3_login_done(&f.s, NULL, POP3_RESP_AUTH, "Bad", &f.out);
	buf_reset(&f.out);
	/* RFC 6856 aside, real names carry 8-bit octets: kept verbatim. */
	fx_reply(&f, "USER m\xc3\xbcller", "+OK Send PASS.\r\n");
	assert_string_equal(f.s.user, "m\xc3\xbcller");
	/* Longer than POP3_MAX_USER_OCTETS: the line is over the 255 octets
	 * of RFC 2449 sec. 4, which the engine enforces itself while the
	 * reader runs with the longer AUTHORIZATION limit. */
	memcpy(line, "USER ", 5);
	memset(line + 5, 'n', POP3_MAX_USER_OCTETS + 1);
	line[5 + POP3_MAX_USER_OCTETS + 1] = '\0';
	fx_reply(&f, line, TEST_TOO_LONG);
	fx_deinit(&f);
}

static void
test_keywords_case_insensitive(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	/* Conformance 2.1. */
	fx_init(&f);
	fx_reply(&f, "capa", TEST_CAPA_AUTH ".\r\n");
	fx_reply(&f, "Capa", TEST_CAPA_AUTH ".\r\n");
	fx_reply(&f, "user alice", "+OK Send PASS.\r\n");
	step = fx_cmd(&f, "pAsS secret");
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	assert_string_equal(step.user, "alice");
	fx_deinit(&f);

	fx_init_logged_in(&f, 3);
	fx_reply(&f, "stat", "+OK 3 3320\r\n");
	fx_reply(&f, "Uidl 1", "+OK 1 00000005499602d2\r\n");
	fx_reply(&f, "list 2", "+OK 2 200\r\n");
	fx_reply(&f, "nOoP", "+OK\r\n");
	step = fx_cmd(&f, "quit");
	assert_int_equal(step.next, POP3_NEXT_COMMIT);
	fx_deinit(&f);
}

static void
test_invalid_commands(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init_logged_in(&f, 3);
	/* Conformance 2.4: each -ERR, the session goes on. */
	fx_reply(&f, "FOO", "-ERR Unknown command\r\n");
	fx_reply(&f, "LIST x", TEST_BAD_MSN);
	fx_reply(&f, "RETR", "-ERR Missing argument\r\n");
	fx_reply(&f, "TOP 1", "-ERR Missing argument\r\n");
	fx_reply(&f, "DELE 1 2", TEST_EXTRA_ARG);
	fx_reply(&f, "LIST 1 2", TEST_EXTRA_ARG);
	fx_reply(&f, "UIDL a", TEST_BAD_MSN);
	fx_reply(&f, "STAT 1", TEST_EXTRA_ARG);
	fx_reply(&f, "", "-ERR Unknown command\r\n");
	fx_reply(&f, "    ", "-ERR Unknown command\r\n");
	fx_reply(&f, " STAT", "-ERR Unknown command\r\n");
	fx_reply(&f, "STATS", "-ERR Unknown command\r\n");
	fx_reply(&f, "ST", "-ERR Unknown command\r\n");
	fx_reply(&f, "LAST", "-ERR Unknown command\r\n");
	fx_reply(&f, "STAT\t", "-ERR Invalid octet in command\r\n");
	fx_reply(&f, "NOOP\x7f", "-ERR Invalid octet in command\r\n");
	fx_reply(&f, "STAT\r", "-ERR Invalid octet in command\r\n");
	fx_reply(&f, "ST\xc3\x84T", "-ERR Unknown command\r\n");
	fx_reply(&f, "NOOP", "+OK\r\n");
	fx_deinit(&f);
}

static void
test_nul_in_command(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	fx_init(&f);
	/* Conformance 2.14: never cut short at the NUL. */
	step = fx_cmd_len(&f, "USER al\0ice", 11);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, "-ERR Invalid octet in command\r\n");
	assert_false(f.s.has_user);
	step = pop3_bad_line(&f.s, false, &f.out);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, "-ERR Invalid octet in command\r\n");
	step = pop3_bad_line(&f.s, true, &f.out);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, "-ERR Command line too long\r\n");
	assert_int_equal(f.s.count.bad_commands, 3);
	assert_int_equal(f.s.count.commands, 3);
	fx_deinit(&f);
}

static void
test_number_arguments(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init_logged_in(&f, 3);
	/* Conformance 2.11: base 10, no sign, no wrap-around. */
	fx_reply(&f, "LIST 0", TEST_BAD_MSN);
	fx_reply(&f, "RETR -1", TEST_BAD_MSN);
	fx_reply(&f, "DELE 4294967297", TEST_BAD_MSN);
	fx_reply(&f, "LIST 4294967297", TEST_BAD_MSN);
	fx_reply(&f, "LIST 99999999999999999999", TEST_BAD_MSN);
	fx_reply(&f, "TOP 1 18446744073709551617",
	    "-ERR Invalid line count\r\n");
	fx_reply(&f, "TOP 1 4294967296", "-ERR Invalid line count\r\n");
	fx_reply(&f, "TOP 1 -1", "-ERR Invalid line count\r\n");
	fx_reply(&f, "TOP 1 x", "-ERR Invalid line count\r\n");
	fx_reply(&f, "TOP 1 +1", "-ERR Invalid line count\r\n");
	fx_reply(&f, "TOP x 1", TEST_BAD_MSN);
	fx_reply(&f, "LIST +1", TEST_BAD_MSN);
	fx_reply(&f, "LIST 1a", TEST_BAD_MSN);
	fx_reply(&f, "LIST 0x1", TEST_BAD_MSN);
	fx_reply(&f, "LIST 4", "-ERR No such message\r\n");
	fx_reply(&f, "LIST 4294967295", "-ERR No such message\r\n");
	/* Leading zeros are still base 10. */
	fx_reply(&f, "LIST 0001", "+OK 1 120\r\n");
	fx_reply(&f, "STAT", "+OK 3 3320\r\n");
	assert_int_equal(f.s.maildrop.msgs[0].flags, 0);
	fx_deinit(&f);
}

static void
test_spaces_are_strict(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init_logged_in(&f, 3);
	/* Conformance 2.12: never "LIST everything". */
	fx_reply(&f, "LIST  1", TEST_BAD_SYNTAX);
	fx_reply(&f, "LIST 1 ", TEST_BAD_SYNTAX);
	fx_reply(&f, "LIST ", TEST_BAD_SYNTAX);
	fx_reply(&f, "TOP 1  0", TEST_BAD_SYNTAX);
	fx_reply(&f, "UIDL  ", TEST_BAD_SYNTAX);
	fx_reply(&f, "STAT ", TEST_BAD_SYNTAX);
	fx_reply(&f, "LIST 1", "+OK 1 120\r\n");
	fx_deinit(&f);
}

static void
test_extra_argument_on_argless_commands(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	fx_init(&f);
	fx_reply(&f, "QUIT x", TEST_EXTRA_ARG);
	fx_reply(&f, "CAPA x", TEST_EXTRA_ARG);
	fx_reply(&f, "STLS x", TEST_EXTRA_ARG);
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	fx_login(&f, 3);
	/* Conformance 2.13: QUIT x does not quit. */
	fx_reply(&f, "STAT x", TEST_EXTRA_ARG);
	fx_reply(&f, "NOOP x", TEST_EXTRA_ARG);
	fx_reply(&f, "RSET x", TEST_EXTRA_ARG);
	fx_reply(&f, "CAPA x", TEST_EXTRA_ARG);
	fx_reply(&f, "QUIT x", TEST_EXTRA_ARG);
	assert_int_equal(f.s.state, POP3_STATE_TRANSACTION);
	fx_reply(&f, "NOOP", "+OK\r\n");
	step = fx_cmd(&f, "QUIT");
	assert_int_equal(step.next, POP3_NEXT_COMMIT);
	fx_deinit(&f);
}

static void
test_long_lines_through_reader(void **state)
{
	struct fixture		 f;
	struct pop3_line_reader	 r;
	enum pop3_line_kind	 kind;
	struct pop3_step	 step;
	char			 in[600], *line;
	size_t			 len, used, line_len;

	(void)state;
	fx_init_logged_in(&f, 3);
	pop3_line_init(&r, POP3_MAX_COMMAND_OCTETS);
	/* Conformance 2.7: STAT padded to exactly 255 octets with CRLF is
	 * parsed (and refused for its arguments). */
	memcpy(in, "STAT", 4);
	for (len = 4; len + 2 + 3 <= POP3_MAX_COMMAND_OCTETS; len += 2)
		memcpy(in + len, " x", 2);
	in[len++] = 'y';
	memcpy(in + len, "\r\n", 2);
	len += 2;
	assert_int_equal(len, POP3_MAX_COMMAND_OCTETS);
	used = pop3_line_next(&r, in, len, &kind, &line, &line_len);
	assert_int_equal(used, len);
	assert_int_equal(kind, POP3_LINE_OK);
	step = pop3_execute(&f.s, line, line_len, &f.out);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, TEST_EXTRA_ARG);

	/* Conformance 2.6: a 250-octet unknown command: short -ERR. */
	memset(in, 'Z', 250);
	fx_reply(&f, "ZZZZ", "-ERR Unknown command\r\n");
	step = fx_cmd_len(&f, in, 250);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, "-ERR Unknown command\r\n");
	fx_deinit(&f);
}

static void
test_bad_command_cutoff(void **state)
{
	struct fixture		f;
	struct pop3_step	step;
	unsigned int		i;

	(void)state;
	fx_init_logged_in(&f, 3);
	/* Conformance 2.15: each bad command answered; success resets. */
	for (i = 0; i + 1 < POP3_MAX_BAD_COMMANDS; i++)
		fx_reply(&f, "FOO", "-ERR Unknown command\r\n");
	fx_reply(&f, "NOOP", "+OK\r\n");
	assert_int_equal(f.s.bad_in_a_row, 0);
	for (i = 0; i + 1 < POP3_MAX_BAD_COMMANDS; i++) {
		if (i % 2 == 0)
			fx_reply(&f, "LIST 9", "-ERR No such message\r\n");
		else {
			step = pop3_bad_line(&f.s, true, &f.out);
			assert_int_equal(step.next, POP3_NEXT_READ);
			fx_expect(&f, "-ERR Command line too long\r\n");
		}
	}
	/* The last one gets one final -ERR and the session closes. */
	step = fx_cmd(&f, "FOO");
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	assert_string_equal(step.reason, "too many bad commands");
	fx_expect(&f, "-ERR Too many bad commands, closing.\r\n");
	assert_int_equal(f.s.state, POP3_STATE_CLOSED);
	assert_int_equal(f.s.count.bad_commands,
	    2 * POP3_MAX_BAD_COMMANDS - 1);
	fx_deinit(&f);

	/* Before login too, and through pop3_bad_line(). */
	fx_init(&f);
	for (i = 0; i + 1 < POP3_MAX_BAD_COMMANDS; i++)
		fx_reply(&f, "STAT", TEST_WRONG_STATE);
	step = pop3_bad_line(&f.s, false, &f.out);
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	fx_expect(&f, "-ERR Too many bad commands, closing.\r\n");
	fx_deinit(&f);
}

static void
test_stls(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	fx_init_opt(&f, true, true, false);
	/* Conformance 6.2: offered before TLS in AUTHORIZATION. */
	fx_reply(&f, "CAPA", TEST_CAPA_AUTH "STLS\r\n.\r\n");
	fx_reply(&f, "USER alice", "+OK Send PASS.\r\n");
	step = fx_cmd(&f, "STLS");
	assert_int_equal(step.next, POP3_NEXT_START_TLS);
	fx_expect(&f, "+OK Begin TLS negotiation\r\n");
	assert_false(f.s.step_pending);
	assert_true(f.s.opt.tls_active);
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	/* Conformance 6.5: USER from before TLS is gone. */
	fx_reply(&f, "PASS secret", "-ERR Send USER first\r\n");
	/* Conformance 6.2/6.4: not offered, and refused, under TLS. */
	fx_reply(&f, "CAPA", TEST_CAPA_AUTH ".\r\n");
	fx_reply(&f, "STLS", "-ERR TLS is already active\r\n");
	fx_login(&f, 3);
	fx_reply(&f, "STLS", TEST_WRONG_STATE);
	fx_deinit(&f);

	/* Implicit TLS (995): never offered. */
	fx_init_opt(&f, true, true, true);
	fx_reply(&f, "CAPA", TEST_CAPA_AUTH ".\r\n");
	fx_reply(&f, "STLS", "-ERR TLS is already active\r\n");
	fx_deinit(&f);

	/* No certificate configured: not offered, refused. */
	fx_init_opt(&f, true, false, false);
	fx_reply(&f, "CAPA", TEST_CAPA_AUTH ".\r\n");
	fx_reply(&f, "STLS", "-ERR STLS is not available\r\n");
	fx_deinit(&f);

	/* STLS in TRANSACTION, even when available before login. */
	fx_init_opt(&f, true, true, false);
	fx_login(&f, 3);
	fx_reply(&f, "STLS", TEST_WRONG_STATE);
	fx_deinit(&f);
}

/* True if every line of sub (but STLS) appears in super. */
static bool
test_capa_subset(const char *sub, const char *super)
{
	const char	*line, *end;
	char		 needle[128];

	line = strstr(sub, "\r\n") + 2;		/* skip +OK */
	for (; strcmp(line, ".\r\n") != 0; line = end + 2) {
		end = strstr(line, "\r\n");
		if ((size_t)(end - line) == 4 && memcmp(line, "STLS", 4) == 0)
			continue;
		(void)snprintf(needle, sizeof(needle), "\r\n%.*s\r\n",
		    (int)(end - line), line);
		if (strstr(super, needle) == NULL)
			return false;
	}
	return true;
}

static void
test_capa_both_states(void **state)
{
	static const char	before[] = TEST_CAPA_AUTH "STLS\r\n.\r\n";
	static const char	after[] = TEST_CAPA_AUTH
	    "IMPLEMENTATION popgate 0.1.0\r\n.\r\n";
	struct fixture		f;

	(void)state;
	fx_init_opt(&f, true, true, false);
	/* Conformance 7.1: CAPA in both states. */
	fx_reply(&f, "CAPA", before);
	fx_login(&f, 3);
	/* 7.9: IMPLEMENTATION only after login. */
	fx_reply(&f, "CAPA", after);
	/* 7.3: before is a subset of after, STLS aside. */
	assert_true(test_capa_subset(before, after));
	assert_false(test_capa_subset(after, before));
	/* No PIPELINING when it is turned off; sanitised implementation. */
	f.s.opt.pipelining = false;
	f.s.opt.implementation = "[evil]\r\nUSER\r\n\x01";
	fx_reply(&f, "CAPA", "+OK Capability list follows\r\nTOP\r\nUSER\r\n"
	    "UIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
	    "IMPLEMENTATION evil]USER\r\n.\r\n");
	f.s.opt.implementation = NULL;
	fx_reply(&f, "CAPA", "+OK Capability list follows\r\nTOP\r\nUSER\r\n"
	    "UIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n.\r\n");
	fx_deinit(&f);
}

static void
test_transaction_listing(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init_logged_in(&f, 3);
	/* Conformance 9.2, 9.4, 9.5, 9.16. */
	fx_reply(&f, "STAT", "+OK 3 3320\r\n");
	fx_reply(&f, "LIST", TEST_LIST_ALL);
	fx_reply(&f, "LIST 1", "+OK 1 120\r\n");
	fx_reply(&f, "LIST 3", "+OK 3 3000\r\n");
	fx_reply(&f, "UIDL", TEST_UIDL_ALL);
	fx_reply(&f, "UIDL 3", "+OK 3 0000000c499602d2\r\n");
	/* 9.10: NOOP changes nothing. */
	fx_reply(&f, "NOOP", "+OK\r\n");
	fx_reply(&f, "STAT", "+OK 3 3320\r\n");
	fx_reply(&f, "UIDL", TEST_UIDL_ALL);
	fx_deinit(&f);
}

static void
test_empty_maildrop(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init_logged_in(&f, 0);
	/* Conformance 3.7. */
	fx_reply(&f, "STAT", "+OK 0 0\r\n");
	fx_reply(&f, "LIST", "+OK 0 messages\r\n.\r\n");
	fx_reply(&f, "UIDL", "+OK Unique-ID listing follows\r\n.\r\n");
	fx_reply(&f, "LIST 1", "-ERR No such message\r\n");
	fx_reply(&f, "RETR 1", "-ERR No such message\r\n");
	fx_reply(&f, "DELE 1", "-ERR No such message\r\n");
	fx_reply(&f, "RSET", "+OK\r\n");
	fx_deinit(&f);
}

static void
test_dele_rset(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init_logged_in(&f, 3);
	/* Conformance 9.8/9.9: DELE 2 hides it everywhere. */
	fx_reply(&f, "DELE 2", "+OK Marked to be deleted.\r\n");
	fx_reply(&f, "STAT", "+OK 2 3120\r\n");
	fx_reply(&f, "LIST", "+OK 2 messages\r\n1 120\r\n3 3000\r\n.\r\n");
	fx_reply(&f, "UIDL", "+OK Unique-ID listing follows\r\n"
	    "1 00000005499602d2\r\n3 0000000c499602d2\r\n.\r\n");
	fx_reply(&f, "LIST 2", "-ERR Message is deleted\r\n");
	fx_reply(&f, "UIDL 2", "-ERR Message is deleted\r\n");
	fx_reply(&f, "RETR 2", "-ERR Message is deleted\r\n");
	fx_reply(&f, "TOP 2 0", "-ERR Message is deleted\r\n");
	fx_reply(&f, "DELE 2", "-ERR Message is deleted\r\n");
	fx_reply(&f, "DELE 4", "-ERR No such message\r\n");
	fx_reply(&f, "LIST 3", "+OK 3 3000\r\n");
	/* 9.3: STAT equals the sum of LIST sizes. */
	fx_reply(&f, "DELE 1", "+OK Marked to be deleted.\r\n");
	fx_reply(&f, "STAT", "+OK 1 3000\r\n");
	fx_reply(&f, "DELE 3", "+OK Marked to be deleted.\r\n");
	fx_reply(&f, "STAT", "+OK 0 0\r\n");
	fx_reply(&f, "LIST", "+OK 0 messages\r\n.\r\n");
	assert_int_equal(f.s.count.dele, 3);
	/* 9.11: RSET restores the initial view. */
	fx_reply(&f, "RSET", "+OK\r\n");
	fx_reply(&f, "STAT", "+OK 3 3320\r\n");
	fx_reply(&f, "LIST", TEST_LIST_ALL);
	fx_reply(&f, "UIDL", TEST_UIDL_ALL);
	assert_int_equal(f.s.maildrop.msgs[1].flags, 0);
	fx_deinit(&f);
}

static void
test_uidl_n_matches_listing(void **state)
{
	struct fixture	 f;
	char		 line[32], expected[128], listing[512];
	const char	*p, *end;
	uint32_t	 msn;

	(void)state;
	fx_init_logged_in(&f, 3);
	/* Conformance 11.5: UIDL n equals line n of the listing. */
	fx_reply(&f, "DELE 2", "+OK Marked to be deleted.\r\n");
	(void)fx_cmd(&f, "UIDL");
	assert_non_null(f.out.data);
	assert_true(f.out.len < sizeof(listing));
	memcpy(listing, f.out.data, f.out.len);
	listing[f.out.len] = '\0';
	buf_reset(&f.out);
	p = strstr(listing, "\r\n") + 2;
	for (; strcmp(p, ".\r\n") != 0; p = end + 2) {
		end = strstr(p, "\r\n");
		msn = (uint32_t)strtoul(p, NULL, 10);
		(void)snprintf(line, sizeof(line), "UIDL %" PRIu32, msn);
		(void)snprintf(expected, sizeof(expected), "+OK %.*s\r\n",
		    (int)(end - p), p);
		fx_reply(&f, line, expected);
	}
	fx_deinit(&f);
}

static void
test_uidl_templates(void **state)
{
	struct fixture			f;
	struct pop3_uidl_template	cyrus;
	const char			*error;

	(void)state;
	fx_init_logged_in(&f, 3);
	assert_int_equal(pop3_uidl_compile(&cyrus, "{uidvalidity}.{uid}",
	    &error), 0);
	f.s.opt.uidl = &cyrus;
	fx_reply(&f, "UIDL", "+OK Unique-ID listing follows\r\n"
	    "1 1234567890.5\r\n2 1234567890.7\r\n3 1234567890.12\r\n.\r\n");
	/* NULL: the default template without a compiled one. */
	f.s.opt.uidl = NULL;
	fx_reply(&f, "UIDL", TEST_UIDL_ALL);
	fx_reply(&f, "UIDL 2", "+OK 2 00000007499602d2\r\n");
	fx_deinit(&f);
}

static void
test_retr_top_steps(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	fx_init_logged_in(&f, 3);
	/* RETR: a step, no reply yet. */
	step = fx_cmd(&f, "RETR 2");
	assert_int_equal(step.next, POP3_NEXT_RETRIEVE);
	assert_int_equal(step.msn, 2);
	assert_int_equal(step.uid, 7);
	assert_false(step.is_top);
	assert_int_equal(step.top_lines, 0);
	assert_true(f.s.step_pending);
	fx_expect(&f, "");
	/* Conformance 9.7: no octet count on the +OK line. */
	assert_int_equal(pop3_retrieve_begin(&f.s, &f.out), 0);
	fx_expect(&f, "+OK Message follows\r\n");
	assert_true(f.s.step_pending);
	pop3_retrieve_end(&f.s);
	assert_false(f.s.step_pending);
	assert_int_equal(f.s.maildrop.msgs[1].flags, POP3_MSG_RETRIEVED);
	assert_int_equal(f.s.count.retr, 1);

	/* TOP: no RETRIEVED (conformance 9.15). */
	step = fx_cmd(&f, "TOP 1 10");
	assert_int_equal(step.next, POP3_NEXT_RETRIEVE);
	assert_int_equal(step.msn, 1);
	assert_int_equal(step.uid, 5);
	assert_true(step.is_top);
	assert_int_equal(step.top_lines, 10);
	assert_int_equal(pop3_retrieve_begin(&f.s, &f.out), 0);
	fx_expect(&f, "+OK Message follows\r\n");
	pop3_retrieve_end(&f.s);
	assert_int_equal(f.s.maildrop.msgs[0].flags, 0);
	assert_int_equal(f.s.count.top, 1);

	step = fx_cmd(&f, "TOP 3 0");
	assert_int_equal(step.top_lines, 0);
	assert_true(step.is_top);
	(void)pop3_retrieve_failed(&f.s, false, POP3_RESP_SYS_TEMP,
	    "Upstream\r\nunavailable", &f.out);
	fx_expect(&f, "-ERR [SYS/TEMP] Upstreamunavailable\r\n");
	step = fx_cmd(&f, "TOP 3 4294967295");
	assert_int_equal(step.top_lines, UINT32_MAX);
	(void)pop3_retrieve_failed(&f.s, false, POP3_RESP_SYS_TEMP, NULL,
	    &f.out);
	fx_expect(&f, "-ERR [SYS/TEMP] Message could not be retrieved\r\n");
	assert_false(f.s.step_pending);

	/* RSET drops RETRIEVED: no \Seen for it (doc/imap-mapping.md sec. 10). */
	fx_reply(&f, "RSET", "+OK\r\n");
	assert_int_equal(f.s.maildrop.msgs[1].flags, 0);
	fx_deinit(&f);
}

static void
test_gone_messages(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	fx_init_logged_in(&f, 3);
	/* The fetch finds message 2 expunged by someone else. */
	step = fx_cmd(&f, "RETR 2");
	assert_int_equal(step.next, POP3_NEXT_RETRIEVE);
	step = pop3_retrieve_failed(&f.s, true, POP3_RESP_NONE, NULL,
	    &f.out);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, "-ERR Message 2 was expunged by another client\r\n");
	assert_true(f.s.maildrop.msgs[1].flags & POP3_MSG_GONE);
	/* Conformance 9.1/9.18: the login view stays. */
	fx_reply(&f, "STAT", "+OK 3 3320\r\n");
	fx_reply(&f, "LIST", TEST_LIST_ALL);
	fx_reply(&f, "UIDL", TEST_UIDL_ALL);
	fx_reply(&f, "LIST 2", "+OK 2 200\r\n");
	/* Known gone: answered locally, no upstream round trip. */
	fx_reply(&f, "RETR 2",
	    "-ERR Message 2 was expunged by another client\r\n");
	fx_reply(&f, "TOP 2 0",
	    "-ERR Message 2 was expunged by another client\r\n");
	/* The gateway saw an EXPUNGE for uid 12 during NOOP. */
	pop3_maildrop_mark_gone(&f.s.maildrop, 12);
	fx_reply(&f, "RETR 3",
	    "-ERR Message 3 was expunged by another client\r\n");
	/* DELE of a gone message is harmless: +OK and marked. */
	fx_reply(&f, "DELE 2", "+OK Marked to be deleted.\r\n");
	fx_reply(&f, "STAT", "+OK 2 3120\r\n");
	fx_reply(&f, "RETR 2", "-ERR Message is deleted\r\n");
	/* RSET clears MARKED, not GONE. */
	fx_reply(&f, "RSET", "+OK\r\n");
	assert_int_equal(f.s.maildrop.msgs[1].flags, POP3_MSG_GONE);
	step = fx_cmd(&f, "RETR 1");
	assert_int_equal(step.next, POP3_NEXT_RETRIEVE);
	fx_expect(&f, "");
	fx_deinit(&f);
}

static void
test_quit_commit(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	/* Conformance 12.1: marked messages; +OK after the commit. */
	fx_init_logged_in(&f, 3);
	fx_reply(&f, "DELE 1", "+OK Marked to be deleted.\r\n");
	fx_reply(&f, "DELE 3", "+OK Marked to be deleted.\r\n");
	step = fx_cmd(&f, "QUIT");
	assert_int_equal(step.next, POP3_NEXT_COMMIT);
	fx_expect(&f, "");
	assert_int_equal(f.s.state, POP3_STATE_UPDATE);
	assert_true(f.s.step_pending);
	step = pop3_commit_done(&f.s, true, &f.out);
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	assert_string_equal(step.reason, "quit");
	fx_expect(&f, "+OK Logging out, messages deleted.\r\n");
	assert_int_equal(f.s.state, POP3_STATE_CLOSED);
	assert_false(f.s.step_pending);
	fx_deinit(&f);

	/* Nothing marked. */
	fx_init_logged_in(&f, 3);
	fx_reply(&f, "DELE 1", "+OK Marked to be deleted.\r\n");
	fx_reply(&f, "RSET", "+OK\r\n");
	step = fx_cmd(&f, "QUIT");
	assert_int_equal(step.next, POP3_NEXT_COMMIT);
	step = pop3_commit_done(&f.s, true, &f.out);
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	fx_expect(&f, "+OK Logging out.\r\n");
	fx_deinit(&f);

	/* Conformance 12.3: failure is -ERR, and still CLOSE. */
	fx_init_logged_in(&f, 3);
	fx_reply(&f, "DELE 2", "+OK Marked to be deleted.\r\n");
	step = fx_cmd(&f, "QUIT");
	step = pop3_commit_done(&f.s, false, &f.out);
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	fx_expect(&f,
	    "-ERR [SYS/TEMP] Some deleted messages were not removed\r\n");
	assert_int_equal(f.s.state, POP3_STATE_CLOSED);
	step = fx_cmd(&f, "NOOP");
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	fx_expect(&f, "");
	fx_deinit(&f);
}

static void
test_transaction_rejects_auth_commands(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init_logged_in(&f, 3);
	/* Conformance 2.5 / 5.1: no disturbance of TRANSACTION. */
	fx_reply(&f, "USER bob", TEST_WRONG_STATE);
	fx_reply(&f, "PASS x", TEST_WRONG_STATE);
	fx_reply(&f, "APOP a b", TEST_WRONG_STATE);
	fx_reply(&f, "AUTH PLAIN AGEAYg==", TEST_WRONG_STATE);
	fx_reply(&f, "STLS", TEST_WRONG_STATE);
	fx_reply(&f, "STAT", "+OK 3 3320\r\n");
	assert_string_equal(f.s.user, "alice");
	fx_deinit(&f);
}

static void
test_pipelined_sequence(void **state)
{
	static const char	input[] = "STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\n"
	    "TOP 2 0\r\nDELE 1\r\nNOOP\r\nRSET\r\nSTAT\r\n";
	static const char	body[] = "Subject: x\r\n\r\nhi\r\n.\r\n";
	struct fixture		f;
	struct pop3_line_reader	r;
	enum pop3_line_kind	kind;
	struct pop3_step	step;
	char			in[sizeof(input)], *line;
	size_t			off = 0, used, line_len;
	unsigned int		commands = 0;

	(void)state;
	fx_init_logged_in(&f, 3);
	pop3_line_init(&r, POP3_MAX_COMMAND_OCTETS);
	memcpy(in, input, sizeof(input));
	/* Conformance 14.1: one buffer, nine commands, replies in order. */
	while ((used = pop3_line_next(&r, in + off, sizeof(input) - 1 - off,
	    &kind, &line, &line_len)) > 0) {
		off += used;
		assert_int_equal(kind, POP3_LINE_OK);
		step = pop3_execute(&f.s, line, line_len, &f.out);
		commands++;
		if (step.next == POP3_NEXT_RETRIEVE) {
			assert_int_equal(pop3_retrieve_begin(&f.s, &f.out), 0);
			assert_int_equal(buf_append_str(&f.out, body), 0);
			pop3_retrieve_end(&f.s);
		} else {
			assert_int_equal(step.next, POP3_NEXT_READ);
		}
	}
	assert_int_equal(commands, 9);
	fx_expect(&f, "+OK 3 3320\r\n" TEST_LIST_ALL TEST_UIDL_ALL
	    "+OK Message follows\r\n" "Subject: x\r\n\r\nhi\r\n.\r\n"
	    "+OK Message follows\r\n" "Subject: x\r\n\r\nhi\r\n.\r\n"
	    "+OK Marked to be deleted.\r\n" "+OK\r\n" "+OK\r\n"
	    "+OK 3 3320\r\n");
	assert_int_equal(f.s.count.commands, 9 + 2);	/* + USER, PASS */
	assert_int_equal(f.s.count.retr, 1);
	assert_int_equal(f.s.count.top, 1);
	fx_deinit(&f);
}

static void
test_reply_err_sanitised(void **state)
{
	struct buf	 out;
	char		*text;
	size_t		 i;

	(void)state;
	buf_init(&out, TEST_OUT_MAX_OCTETS);
	pop3_reply_err(&out, POP3_RESP_NONE, "plain");
	pop3_reply_err(&out, POP3_RESP_SYS_PERM, NULL);
	pop3_reply_err(&out, POP3_RESP_NONE, "");
	/* Conformance 7.7/17.2: no injected lines, codes or 8-bit. */
	pop3_reply_err(&out, POP3_RESP_SYS_TEMP,
	    "[ALERT] bad\r\n+OK \x00hidden");
	pop3_reply_err(&out, POP3_RESP_AUTH, " [[ x\t\x1b\xff\xc3\xa9y ");
	pop3_reply_err(&out, POP3_RESP_COUNT, "bogus code");
	assert_int_equal(out.len, strlen("-ERR plain\r\n-ERR [SYS/PERM]\r\n"
	    "-ERR\r\n-ERR [SYS/TEMP] ALERT] bad+OK\r\n"
	    "-ERR [AUTH] xy\r\n-ERR bogus code\r\n"));
	assert_memory_equal(out.data, "-ERR plain\r\n-ERR [SYS/PERM]\r\n"
	    "-ERR\r\n-ERR [SYS/TEMP] ALERT] bad+OK\r\n"
	    "-ERR [AUTH] xy\r\n-ERR bogus code\r\n", out.len);
	buf_reset(&out);

	/* Conformance 2.6: 4 KB of upstream text still fits 512 octets. */
	text = malloc(4096);
	assert_non_null(text);
	for (i = 0; i < 4095; i++)
		text[i] = (char)('a' + i % 26);
	text[4095] = '\0';
	pop3_reply_err(&out, POP3_RESP_SYS_TEMP, text);
	assert_int_equal(out.len, POP3_MAX_REPLY_OCTETS);
	assert_memory_equal(out.data, "-ERR [SYS/TEMP] abc", 19);
	assert_memory_equal(out.data + out.len - 2, "\r\n", 2);
	assert_null(memchr(out.data, '\n', out.len - 1));
	free(text);
	buf_deinit(&out);

	assert_string_equal(pop3_resp_code_name(POP3_RESP_NONE), "");
	assert_string_equal(pop3_resp_code_name(POP3_RESP_AUTH), "AUTH");
	assert_string_equal(pop3_resp_code_name(POP3_RESP_SYS_TEMP),
	    "SYS/TEMP");
	assert_string_equal(pop3_resp_code_name(POP3_RESP_SYS_PERM),
	    "SYS/PERM");
	assert_string_equal(pop3_resp_code_name(POP3_RESP_IN_USE), "IN-USE");
	assert_string_equal(pop3_resp_code_name(POP3_RESP_COUNT), "");
}

static void
test_output_overflow(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	fx_init_logged_in(&f, 3);
	/* An out buffer too small for LIST: no partial reply, CLOSE. */
	buf_deinit(&f.out);
	buf_init(&f.out, 30);
	assert_int_equal(buf_append_str(&f.out, "x"), 0);
	step = fx_cmd(&f, "LIST");
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	assert_string_equal(step.reason, "output overflow");
	fx_expect(&f, "x");
	assert_int_equal(f.s.state, POP3_STATE_CLOSED);
	fx_deinit(&f);

	/* Room for the closing -ERR, not for the listing. */
	fx_init_logged_in(&f, 3);
	buf_deinit(&f.out);
	buf_init(&f.out, 60);
	step = fx_cmd(&f, "UIDL");
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	fx_expect(&f, "-ERR [SYS/TEMP] Output buffer full, closing.\r\n");
	fx_deinit(&f);

	/* RETR +OK line refused: the caller must not stream. */
	fx_init_logged_in(&f, 3);
	buf_deinit(&f.out);
	buf_init(&f.out, 10);
	step = fx_cmd(&f, "RETR 1");
	assert_int_equal(step.next, POP3_NEXT_RETRIEVE);
	assert_int_equal(pop3_retrieve_begin(&f.s, &f.out), -ENOBUFS);
	assert_int_equal(f.s.state, POP3_STATE_CLOSED);
	assert_false(f.s.step_pending);
	fx_expect(&f, "");
	fx_deinit(&f);

	/* Login reply refused. */
	fx_init(&f);
	fx_reply(&f, "USER a", "+OK Send PASS.\r\n");
	step = fx_cmd(&f, "PASS b");
	buf_deinit(&f.out);
	buf_init(&f.out, 5);
	step = pop3_login_done(&f.s, NULL, POP3_RESP_AUTH, "no", &f.out);
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	assert_int_equal(f.s.state, POP3_STATE_CLOSED);
	fx_deinit(&f);
}

/* Every mechanism the engine knows. */
#define TEST_SASL_ALL	((1u << SASL_MECH_PLAIN) | (1u << SASL_MECH_LOGIN) | \
	(1u << SASL_MECH_XOAUTH2) | (1u << SASL_MECH_OAUTHBEARER))
#define TEST_CAPA_SASL_ALL	"SASL PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n"
#define TEST_AUTH_LIST_ALL	TEST_AUTH_LIST_HEAD \
	"PLAIN\r\nLOGIN\r\nXOAUTH2\r\nOAUTHBEARER\r\n.\r\n"

/* The base64 of the PLAIN message "\0alice\0secret", and of LOGIN's. */
#define TEST_PLAIN_B64		"AGFsaWNlAHNlY3JldA=="
#define TEST_LOGIN_USER_B64	"YWxpY2U="		/* alice */
#define TEST_LOGIN_PASS_B64	"c2VjcmV0"		/* secret */
static const char	test_xoauth2_msg[] =
    "user=alice@example.com\1auth=Bearer ya29.a0AfH6SMB\1\1";
static const char	test_oauthbearer_msg[] =
    "n,a=al=2Cice,\1host=pop.example.com\1port=110\1"
    "auth=Bearer vF9dft4qmT\1\1";

static void
fx_init_sasl(struct fixture *f, unsigned int mechs)
{
	fx_init(f);
	f->s.opt.sasl_mechs = mechs;
}

/* Runs prefix followed by the base64 of msg (len octets). */
static struct pop3_step
fx_cmd_b64(struct fixture *f, const char *prefix, const void *msg,
    size_t len)
{
	char	*line;
	size_t	 prefix_len = strlen(prefix), n;

	line = malloc(prefix_len + POPGATE_BASE64_ENCODED_LEN(len) + 1);
	assert_non_null(line);
	memcpy(line, prefix, prefix_len);
	n = popgate_base64_encode(msg, len, line + prefix_len);
	(void)fx_cmd_len(f, line, prefix_len + n);
	free(line);
	return f->step;
}

/* The step is an AUTH login as user with this password. */
static void
fx_expect_password_step(struct fixture *f, enum sasl_mech mech,
    const char *user, const char *password)
{
	assert_int_equal(f->step.next, POP3_NEXT_LOGIN);
	assert_int_equal(f->step.mech, mech);
	assert_false(f->step.apop);
	assert_string_equal(f->step.user, user);
	assert_ptr_equal(f->step.user, f->s.user);
	assert_int_equal(f->step.password_len, strlen(password));
	assert_memory_equal(f->step.password, password, strlen(password));
	assert_null(f->step.sasl_msg);
	assert_int_equal(f->step.sasl_msg_len, 0);
	assert_true(f->s.step_pending);
	fx_expect(f, "");
}

/* The step relays msg (len octets) upstream for user. */
static void
fx_expect_relay_step(struct fixture *f, enum sasl_mech mech,
    const char *user, const void *msg, size_t len)
{
	assert_int_equal(f->step.next, POP3_NEXT_LOGIN);
	assert_int_equal(f->step.mech, mech);
	assert_false(f->step.apop);
	assert_string_equal(f->step.user, user);
	assert_null(f->step.password);
	assert_int_equal(f->step.password_len, 0);
	assert_int_equal(f->step.sasl_msg_len, len);
	assert_memory_equal(f->step.sasl_msg, msg, len);
	assert_true(f->s.step_pending);
	fx_expect(f, "");
}

/* Completes a pending LOGIN step with a snapshot: +OK, TRANSACTION. */
static void
fx_login_ok(struct fixture *f)
{
	struct pop3_maildrop	md;
	struct pop3_step	step;

	fx_fill_maildrop(&md, 3);
	step = pop3_login_done(&f->s, &md, POP3_RESP_NONE, NULL, &f->out);
	assert_int_equal(step.next, POP3_NEXT_READ);
	pop3_maildrop_deinit(&md);
	fx_expect(f, "+OK Logged in.\r\n");
	assert_int_equal(f->s.state, POP3_STATE_TRANSACTION);
	assert_null(f->s.sasl.msg);
}

/* Fails a pending LOGIN step with [AUTH]. */
static struct pop3_step
fx_login_fail(struct fixture *f, enum pop3_resp_code code)
{
	struct pop3_step	step;

	step = pop3_login_done(&f->s, NULL, code, "Authentication failed",
	    &f->out);
	assert_null(f->s.sasl.msg);
	assert_false(f->s.step_pending);
	return step;
}

static void
test_auth_list(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	/* Conformance 5.16: bare AUTH and Outlook's "AUTH " list them. */
	fx_reply(&f, "AUTH", TEST_AUTH_LIST_ALL);
	fx_reply(&f, "auth ", TEST_AUTH_LIST_ALL);
	/* The fixed order, whatever the mask; read at each command. */
	f.s.opt.sasl_mechs = (1u << SASL_MECH_OAUTHBEARER) |
	    (1u << SASL_MECH_PLAIN);
	fx_reply(&f, "AUTH", TEST_AUTH_LIST_HEAD "PLAIN\r\nOAUTHBEARER\r\n"
	    ".\r\n");
	f.s.opt.sasl_mechs = 0;
	fx_reply(&f, "AUTH", TEST_AUTH_LIST_HEAD ".\r\n");
	/* Taken but not listed (only some upstreams have it): AUTH starts
	 * the exchange, the list leaves it out. */
	f.s.opt.sasl_mechs = 1u << SASL_MECH_PLAIN;
	f.s.opt.sasl_unlisted = 1u << SASL_MECH_XOAUTH2;
	fx_reply(&f, "AUTH", TEST_AUTH_LIST_HEAD "PLAIN\r\n.\r\n");
	fx_reply(&f, "AUTH XOAUTH2", "+ \r\n");
	fx_reply(&f, "*", TEST_AUTH_CANCELLED);
	fx_reply(&f, "AUTH OAUTHBEARER", TEST_AUTH_UNKNOWN);
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	fx_deinit(&f);
}

static void
test_auth_plain(void **state)
{
	struct fixture	f;
	char		line[] = "AUTH PLAIN " TEST_PLAIN_B64;
	size_t		i;

	(void)state;
	/* Conformance 5.7/5.13: with an initial response. */
	fx_init_sasl(&f, TEST_SASL_ALL);
	f.step = pop3_execute(&f.s, line, strlen(line), &f.out);
	fx_expect_password_step(&f, SASL_MECH_PLAIN, "alice", "secret");
	/* The base64 in the caller's line was wiped. */
	for (i = strlen("AUTH PLAIN "); i < sizeof(line) - 1; i++)
		assert_int_equal(line[i], '\0');
	assert_int_equal(pop3_session_line_limit(&f.s),
	    POP3_MAX_AUTH_LINE_OCTETS);
	fx_login_ok(&f);
	assert_string_equal(f.s.user, "alice");
	fx_reply(&f, "STAT", "+OK 3 3320\r\n");
	fx_deinit(&f);

	/* Conformance 5.6: without one, "+ " CRLF exactly; 5.4: the
	 * mechanism name in any case. */
	fx_init_sasl(&f, TEST_SASL_ALL);
	fx_reply(&f, "AUTH pLaIn", "+ \r\n");
	assert_int_equal(f.s.sasl.wait, POP3_SASL_WAIT_MESSAGE);
	(void)fx_cmd(&f, TEST_PLAIN_B64);
	fx_expect_password_step(&f, SASL_MECH_PLAIN, "alice", "secret");
	(void)fx_login_fail(&f, POP3_RESP_AUTH);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	/* An authzid equal to the authcid is fine (conformance 5.15). */
	(void)fx_cmd_b64(&f, "AUTH PLAIN ", "bob\0bob\0pw", 10);
	fx_expect_password_step(&f, SASL_MECH_PLAIN, "bob", "pw");
	fx_deinit(&f);
}

static void
test_auth_empty_initial_response(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	/* Conformance 5.7: "=" is an empty response, not a challenge; an
	 * empty PLAIN message is bad credentials. */
	fx_reply(&f, "AUTH PLAIN =", TEST_AUTH_BAD_MSG);
	fx_reply(&f, "AUTH LOGIN =", TEST_AUTH_BAD_USER);
	fx_reply(&f, "AUTH XOAUTH2 =", TEST_AUTH_BAD_MSG);
	fx_reply(&f, "AUTH OAUTHBEARER =", TEST_AUTH_BAD_MSG);
	/* An empty continuation line is the empty response too. */
	fx_reply(&f, "AUTH PLAIN", "+ \r\n");
	fx_reply(&f, "", TEST_AUTH_BAD_MSG);
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	assert_int_equal(f.s.sasl.wait, POP3_SASL_WAIT_NONE);
	assert_int_equal(f.s.auth_failures, 0);
	assert_int_equal(f.s.count.bad_commands, 5);
	fx_deinit(&f);
}

static void
test_auth_login(void **state)
{
	struct fixture	f;

	(void)state;
	/* Conformance 5.5: the prompts, exactly. */
	fx_init_sasl(&f, TEST_SASL_ALL);
	fx_reply(&f, "AUTH LOGIN", "+ " SASL_LOGIN_CHALLENGE_USER "\r\n");
	fx_reply(&f, TEST_LOGIN_USER_B64,
	    "+ " SASL_LOGIN_CHALLENGE_PASSWD "\r\n");
	assert_int_equal(f.s.sasl.wait, POP3_SASL_WAIT_LOGIN_PASSWORD);
	/* Nothing secret is held while the client types. */
	assert_null(f.s.sasl.msg);
	(void)fx_cmd(&f, TEST_LOGIN_PASS_B64);
	fx_expect_password_step(&f, SASL_MECH_LOGIN, "alice", "secret");
	(void)fx_login_fail(&f, POP3_RESP_AUTH);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");

	/* An initial response is the user name. */
	fx_reply(&f, "AUTH LOGIN " TEST_LOGIN_USER_B64,
	    "+ " SASL_LOGIN_CHALLENGE_PASSWD "\r\n");
	(void)fx_cmd(&f, TEST_LOGIN_PASS_B64);
	fx_expect_password_step(&f, SASL_MECH_LOGIN, "alice", "secret");
	fx_login_ok(&f);
	fx_deinit(&f);

	/* An empty password: -ERR [AUTH], not a login. */
	fx_init_sasl(&f, TEST_SASL_ALL);
	fx_reply(&f, "AUTH LOGIN " TEST_LOGIN_USER_B64,
	    "+ " SASL_LOGIN_CHALLENGE_PASSWD "\r\n");
	fx_reply(&f, "", "-ERR [AUTH] Invalid password.\r\n");
	assert_string_equal(f.s.user, "");
	fx_deinit(&f);
}

static void
test_auth_bearer_relay(void **state)
{
	struct fixture	f;
	size_t		len;

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	/* XOAUTH2 with an initial response: the message as sent. */
	len = sizeof(test_xoauth2_msg) - 1;
	(void)fx_cmd_b64(&f, "AUTH XOAUTH2 ", test_xoauth2_msg, len);
	fx_expect_relay_step(&f, SASL_MECH_XOAUTH2, "alice@example.com",
	    test_xoauth2_msg, len);
	(void)fx_login_fail(&f, POP3_RESP_AUTH);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	/* And after "+ ". */
	fx_reply(&f, "AUTH XOAUTH2", "+ \r\n");
	(void)fx_cmd_b64(&f, "", test_xoauth2_msg, len);
	fx_expect_relay_step(&f, SASL_MECH_XOAUTH2, "alice@example.com",
	    test_xoauth2_msg, len);
	(void)fx_login_fail(&f, POP3_RESP_SYS_TEMP);
	fx_expect(&f, "-ERR [SYS/TEMP] Authentication failed\r\n");

	/* OAUTHBEARER: the user unescaped, the message still escaped. */
	len = sizeof(test_oauthbearer_msg) - 1;
	(void)fx_cmd_b64(&f, "AUTH OAUTHBEARER ", test_oauthbearer_msg, len);
	fx_expect_relay_step(&f, SASL_MECH_OAUTHBEARER, "al,ice",
	    test_oauthbearer_msg, len);
	(void)fx_login_fail(&f, POP3_RESP_AUTH);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	fx_reply(&f, "AUTH OAUTHBEARER", "+ \r\n");
	(void)fx_cmd_b64(&f, "", test_oauthbearer_msg, len);
	fx_expect_relay_step(&f, SASL_MECH_OAUTHBEARER, "al,ice",
	    test_oauthbearer_msg, len);
	fx_login_ok(&f);
	assert_string_equal(f.s.user, "al,ice");
	fx_deinit(&f);

	/* RFC 7628 sec. 3.2.3: a lone ^A gives up; malformed: [AUTH]. */
	fx_init_sasl(&f, TEST_SASL_ALL);
	fx_reply(&f, "AUTH OAUTHBEARER AQ==", TEST_AUTH_CANCELLED);
	(void)fx_cmd_b64(&f, "AUTH XOAUTH2 ", "user=a\1auth=Basic x\1\1", 21);
	fx_expect(&f, TEST_AUTH_BAD_MSG);
	(void)fx_cmd_b64(&f, "AUTH OAUTHBEARER ", "n,,\1auth=Bearer x\1\1", 19);
	fx_expect(&f, TEST_AUTH_BAD_MSG);
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	fx_deinit(&f);
}

static void
test_auth_cancel(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	/* Conformance 5.9: "*" cancels; still AUTHORIZATION. */
	fx_reply(&f, "AUTH PLAIN", "+ \r\n");
	fx_reply(&f, "*", TEST_AUTH_CANCELLED);
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	assert_int_equal(f.s.sasl.wait, POP3_SASL_WAIT_NONE);
	/* The next line is a command again. */
	fx_reply(&f, "*", "-ERR Unknown command\r\n");
	/* At LOGIN's password prompt: the user name goes too. */
	fx_reply(&f, "AUTH LOGIN " TEST_LOGIN_USER_B64,
	    "+ " SASL_LOGIN_CHALLENGE_PASSWD "\r\n");
	assert_string_equal(f.s.user, "alice");
	fx_reply(&f, "*", TEST_AUTH_CANCELLED);
	assert_string_equal(f.s.user, "");
	/* "*" as an initial response is just not base64. */
	fx_reply(&f, "AUTH PLAIN *", TEST_AUTH_BASE64);
	/* Conformance 5.12: USER/PASS afterwards; no failure counted. */
	assert_int_equal(f.s.auth_failures, 0);
	fx_login(&f, 3);
	fx_deinit(&f);
}

static void
test_auth_bad_base64(void **state)
{
	static const char *const bad[] = {
		"=AAA", "AAA=BBB", "dGVzdA!=", "dGVzdA", "dGVzdA=", "YQ==YQ==",
	};
	struct fixture	f;
	char		line[64];
	size_t		i;

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	/* Conformance 5.10: rejected, never ignored. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(line, sizeof(line), "AUTH PLAIN %s", bad[i]);
		fx_reply(&f, line, TEST_AUTH_BASE64);
		fx_reply(&f, "AUTH PLAIN", "+ \r\n");
		fx_reply(&f, bad[i], TEST_AUTH_BASE64);
	}
	/* A space inside the initial response is an extra argument, and
	 * inside a response line it is not base64. */
	fx_reply(&f, "AUTH PLAIN dGVz dA==", TEST_EXTRA_ARG);
	fx_reply(&f, "AUTH PLAIN", "+ \r\n");
	fx_reply(&f, "dGVz dA==", TEST_AUTH_BASE64);
	fx_reply(&f, "AUTH PLAIN", "+ \r\n");
	fx_reply(&f, "AGFsaWNlAHNlY3JldA==\t", TEST_AUTH_BASE64);
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	assert_int_equal(f.s.auth_failures, 0);
	fx_deinit(&f);
}

static void
test_auth_plain_identities(void **state)
{
	struct fixture	f;
	char		msg[2 + POP3_MAX_USER_OCTETS + 1 + 3];

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	/* Conformance 5.15: no acting as someone else. */
	(void)fx_cmd_b64(&f, "AUTH PLAIN ", "other\0user\0pw", 13);
	fx_expect(&f, TEST_AUTH_AUTHZID);
	fx_reply(&f, "AUTH PLAIN", "+ \r\n");
	(void)fx_cmd_b64(&f, "", "user\0User\0pw", 12);
	fx_expect(&f, TEST_AUTH_AUTHZID);
	/* Empty user, empty password, missing field, CR/LF in the name. */
	(void)fx_cmd_b64(&f, "AUTH PLAIN ", "\0\0pw", 4);
	fx_expect(&f, TEST_AUTH_BAD_MSG);
	(void)fx_cmd_b64(&f, "AUTH PLAIN ", "\0user\0", 6);
	fx_expect(&f, TEST_AUTH_BAD_MSG);
	(void)fx_cmd_b64(&f, "AUTH PLAIN ", "user\0pw", 7);
	fx_expect(&f, TEST_AUTH_BAD_MSG);
	(void)fx_cmd_b64(&f, "AUTH PLAIN ", "\0us\rer\0pw", 9);
	fx_expect(&f, TEST_AUTH_BAD_MSG);
	(void)fx_cmd_b64(&f, "AUTH PLAIN ", "\0us\ner\0pw", 9);
	fx_expect(&f, TEST_AUTH_BAD_MSG);
	/* A user name of POP3_MAX_USER_OCTETS is fine, one more is not. */
	msg[0] = '\0';
	memset(msg + 1, 'u', POP3_MAX_USER_OCTETS);
	memcpy(msg + 1 + POP3_MAX_USER_OCTETS, "\0pw", 3);
	(void)fx_cmd_b64(&f, "AUTH PLAIN ", msg, POP3_MAX_USER_OCTETS + 4);
	assert_int_equal(f.step.next, POP3_NEXT_LOGIN);
	assert_int_equal(strlen(f.step.user), POP3_MAX_USER_OCTETS);
	(void)fx_login_fail(&f, POP3_RESP_SYS_TEMP);
	buf_reset(&f.out);
	memset(msg + 1, 'u', POP3_MAX_USER_OCTETS + 1);
	memcpy(msg + 2 + POP3_MAX_USER_OCTETS, "\0pw", 3);
	(void)fx_cmd_b64(&f, "AUTH PLAIN ", msg, POP3_MAX_USER_OCTETS + 5);
	fx_expect(&f, TEST_AUTH_BAD_MSG);
	/* The same limit for LOGIN and XOAUTH2 names. */
	(void)fx_cmd_b64(&f, "AUTH LOGIN ", msg + 1, POP3_MAX_USER_OCTETS + 1);
	fx_expect(&f, TEST_AUTH_BAD_USER);
	(void)fx_cmd_b64(&f, "AUTH LOGIN ", "a\nb", 3);
	fx_expect(&f, TEST_AUTH_BAD_USER);
	(void)fx_cmd_b64(&f, "AUTH XOAUTH2 ", "user=a\rb\1auth=Bearer x\1\1",
	    24);
	fx_expect(&f, TEST_AUTH_BAD_MSG);
	/* None of it ends the session or counts as a failed login. */
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	assert_int_equal(f.s.auth_failures, 0);
	assert_int_equal(f.s.count.bad_commands, 11);
	fx_deinit(&f);
}

static void
test_auth_not_offered(void **state)
{
	struct fixture	f;

	(void)state;
	/* Port 110 with STLS: plaintext refused with [AUTH] and a hint. */
	fx_init_opt(&f, false, true, false);
	f.s.opt.sasl_mechs = 0;
	fx_reply(&f, "AUTH PLAIN " TEST_PLAIN_B64, "-ERR [AUTH] Plaintext "
	    "authentication disallowed on non-secure connection; use STLS\r\n");
	fx_reply(&f, "AUTH XOAUTH2", "-ERR [AUTH] Plaintext authentication "
	    "disallowed on non-secure connection; use STLS\r\n");
	/* Conformance 5.3: unknown mechanisms are simply unsupported. */
	fx_reply(&f, "AUTH CRAM-MD5", TEST_AUTH_UNKNOWN);
	fx_reply(&f, "AUTH PLAINX", TEST_AUTH_UNKNOWN);
	fx_reply(&f, "AUTH PLAI", TEST_AUTH_UNKNOWN);
	/* After STLS the gateway offers more: read at each command. */
	(void)fx_cmd(&f, "STLS");
	fx_expect(&f, "+OK Begin TLS negotiation\r\n");
	f.s.opt.sasl_mechs = 1u << SASL_MECH_PLAIN;
	fx_reply(&f, "AUTH LOGIN", TEST_AUTH_UNKNOWN);
	fx_reply(&f, "AUTH PLAIN", "+ \r\n");
	fx_reply(&f, "*", TEST_AUTH_CANCELLED);
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	fx_deinit(&f);

	/* No STLS to offer: no hint. */
	fx_init_opt(&f, false, false, false);
	f.s.opt.sasl_mechs = 1u << SASL_MECH_XOAUTH2;
	fx_reply(&f, "AUTH LOGIN", TEST_AUTH_PLAINTEXT);
	fx_reply(&f, "AUTH XOAUTH2", "+ \r\n");
	fx_reply(&f, "*", TEST_AUTH_CANCELLED);
	fx_deinit(&f);

	/* Plaintext allowed (USER works) but the upstream lacks the
	 * mechanism: not a plaintext refusal, just unsupported. */
	fx_init_opt(&f, true, false, false);
	f.s.opt.sasl_mechs = 1u << SASL_MECH_PLAIN;
	fx_reply(&f, "AUTH XOAUTH2", TEST_AUTH_UNKNOWN);
	fx_reply(&f, "AUTH PLAIN", "+ \r\n");
	fx_reply(&f, "*", TEST_AUTH_CANCELLED);
	fx_deinit(&f);

	/* Implicit TLS: not offered means unsupported. */
	fx_init_opt(&f, true, true, true);
	f.s.opt.sasl_mechs = 1u << SASL_MECH_PLAIN;
	fx_reply(&f, "AUTH OAUTHBEARER", TEST_AUTH_UNKNOWN);
	fx_reply(&f, "AUTH FOOBAR", TEST_AUTH_UNKNOWN);
	fx_deinit(&f);
}

static void
test_auth_in_transaction(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init_logged_in(&f, 3);
	f.s.opt.sasl_mechs = TEST_SASL_ALL;
	/* Conformance 5.1: no AUTH after login, not even the list. */
	fx_reply(&f, "AUTH", TEST_WRONG_STATE);
	fx_reply(&f, "AUTH PLAIN", TEST_WRONG_STATE);
	fx_reply(&f, "AUTH PLAIN " TEST_PLAIN_B64, TEST_WRONG_STATE);
	/* A would-be response is just an unknown command. */
	fx_reply(&f, TEST_PLAIN_B64, "-ERR Unknown command\r\n");
	fx_reply(&f, "STAT", "+OK 3 3320\r\n");
	assert_int_equal(pop3_session_line_limit(&f.s),
	    POP3_MAX_COMMAND_OCTETS);
	fx_deinit(&f);
}

static void
test_auth_after_user(void **state)
{
	struct fixture	f;

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	/* Like Dovecot: AUTH after USER is fine and forgets USER, so a
	 * later PASS never pairs with the old name (conformance 4.3). */
	fx_reply(&f, "USER bob", "+OK Send PASS.\r\n");
	(void)fx_cmd(&f, "AUTH PLAIN " TEST_PLAIN_B64);
	fx_expect_password_step(&f, SASL_MECH_PLAIN, "alice", "secret");
	(void)fx_login_fail(&f, POP3_RESP_AUTH);
	buf_reset(&f.out);
	fx_reply(&f, "PASS x", "-ERR Send USER first\r\n");
	/* Even a refused AUTH ends the USER/PASS sequence. */
	fx_reply(&f, "USER bob", "+OK Send PASS.\r\n");
	fx_reply(&f, "AUTH FOOBAR", TEST_AUTH_UNKNOWN);
	fx_reply(&f, "PASS x", "-ERR Send USER first\r\n");
	/* A bare AUTH (the list) does not, as CAPA does not. */
	fx_reply(&f, "USER bob", "+OK Send PASS.\r\n");
	fx_reply(&f, "AUTH", TEST_AUTH_LIST_ALL);
	(void)fx_cmd(&f, "PASS x");
	assert_int_equal(f.step.next, POP3_NEXT_LOGIN);
	assert_int_equal(f.step.mech, 0);
	assert_string_equal(f.step.user, "bob");
	assert_null(f.step.sasl_msg);
	fx_deinit(&f);
}

static void
test_auth_line_limit(void **state)
{
	struct fixture	 f;
	char		*line;
	size_t		 len;

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	assert_int_equal(POP3_MAX_AUTH_LINE_OCTETS, SASL_MAX_LINE_OCTETS + 64);
	assert_int_equal(pop3_session_line_limit(&f.s),
	    POP3_MAX_AUTH_LINE_OCTETS);
	line = malloc(POP3_MAX_AUTH_LINE_OCTETS);
	assert_non_null(line);
	/* RFC 2449 sec. 4 still holds for other commands: 253 octets (255
	 * with CRLF) are a command, 254 are too long. */
	memcpy(line, "USER ", 5);
	memset(line + 5, 'n', 248);
	fx_reply(&f, "USER x", "+OK Send PASS.\r\n");
	(void)fx_cmd_len(&f, line, 253);
	fx_expect(&f, "+OK Send PASS.\r\n");
	(void)fx_cmd_len(&f, line, 254);
	fx_expect(&f, TEST_TOO_LONG);
	memset(line, ' ', 1000);
	memcpy(line, "NOOP", 4);
	(void)fx_cmd_len(&f, line, 1000);
	fx_expect(&f, TEST_TOO_LONG);
	memcpy(line, "AUTHX", 5);
	(void)fx_cmd_len(&f, line, 1000);
	fx_expect(&f, TEST_TOO_LONG);
	assert_int_equal(f.s.count.bad_commands, 3);
	/* An AUTH line may be long (its mechanism is checked as usual). */
	memset(line, 'A', 1000);
	memcpy(line, "auth ", 5);
	(void)fx_cmd_len(&f, line, 1000);
	fx_expect(&f, TEST_AUTH_UNKNOWN);
	/* Awaiting a response, and with the LOGIN step pending: still the
	 * long limit; after login the short one. */
	fx_reply(&f, "AUTH PLAIN", "+ \r\n");
	assert_int_equal(pop3_session_line_limit(&f.s),
	    POP3_MAX_AUTH_LINE_OCTETS);
	/* A response longer than SASL_MAX_LINE_OCTETS. */
	len = SASL_MAX_LINE_OCTETS + 4;
	memset(line, 'A', len);
	(void)fx_cmd_len(&f, line, len);
	fx_expect(&f, TEST_AUTH_LONG);
	/* The reader refused a response: the exchange ends. */
	fx_reply(&f, "AUTH LOGIN", "+ " SASL_LOGIN_CHALLENGE_USER "\r\n");
	f.step = pop3_bad_line(&f.s, true, &f.out);
	assert_int_equal(f.step.next, POP3_NEXT_READ);
	fx_expect(&f, TEST_AUTH_LONG);
	assert_int_equal(f.s.sasl.wait, POP3_SASL_WAIT_NONE);
	fx_reply(&f, "AUTH PLAIN", "+ \r\n");
	f.step = pop3_bad_line(&f.s, false, &f.out);
	fx_expect(&f, TEST_AUTH_BASE64);
	fx_reply(&f, "CAPA x", TEST_EXTRA_ARG);
	(void)fx_cmd(&f, "AUTH PLAIN " TEST_PLAIN_B64);
	assert_int_equal(pop3_session_line_limit(&f.s),
	    POP3_MAX_AUTH_LINE_OCTETS);
	fx_login_ok(&f);
	assert_int_equal(pop3_session_line_limit(&f.s),
	    POP3_MAX_COMMAND_OCTETS);
	free(line);
	fx_deinit(&f);
}

/* An XOAUTH2 message with a token_len-octet bearer token. */
static unsigned char *
test_long_xoauth2(size_t token_len, size_t *len_out)
{
	static const char	head[] = "user=alice@example.com\1auth=Bearer ";
	unsigned char		*msg;
	size_t			 len = sizeof(head) - 1;

	msg = malloc(len + token_len + 2);
	assert_non_null(msg);
	memcpy(msg, head, len);
	memset(msg + len, 'T', token_len);
	len += token_len;
	msg[len++] = 1;
	msg[len++] = 1;
	*len_out = len;
	return msg;
}

static void
test_auth_long_xoauth2(void **state)
{
	struct fixture		 f;
	struct pop3_line_reader	 r;
	enum pop3_line_kind	 kind;
	unsigned char		*msg;
	char			*in, *line;
	size_t			 msg_len, in_len, used, line_len, off = 0;

	(void)state;
	/* Conformance 5.11: an 8 KiB token as an initial response (11 KB
	 * of base64), through a reader set as the caller sets it. */
	msg = test_long_xoauth2(8 * 1024, &msg_len);
	in = malloc(POP3_MAX_AUTH_LINE_OCTETS * 2);
	assert_non_null(in);
	memcpy(in, "AUTH XOAUTH2 ", 13);
	in_len = 13 + popgate_base64_encode(msg, msg_len, in + 13);
	assert_true(in_len > 8 * 1024 + 2000);
	memcpy(in + in_len, "\r\nSTAT\r\n", 8);
	in_len += 8;
	fx_init_sasl(&f, TEST_SASL_ALL);
	pop3_line_init(&r, POP3_MAX_COMMAND_OCTETS);
	pop3_line_set_max(&r, pop3_session_line_limit(&f.s));
	used = pop3_line_next(&r, in, in_len, &kind, &line, &line_len);
	assert_int_equal(kind, POP3_LINE_OK);
	off += used;
	f.step = pop3_execute(&f.s, line, line_len, &f.out);
	fx_expect_relay_step(&f, SASL_MECH_XOAUTH2, "alice@example.com", msg,
	    msg_len);
	fx_login_ok(&f);
	/* The pipelined STAT is read with the 255 limit and answered. */
	pop3_line_set_max(&r, pop3_session_line_limit(&f.s));
	used = pop3_line_next(&r, in + off, in_len - off, &kind, &line,
	    &line_len);
	assert_int_equal(kind, POP3_LINE_OK);
	assert_int_equal(used, 6);
	f.step = pop3_execute(&f.s, line, line_len, &f.out);
	fx_expect(&f, "+OK 3 3320\r\n");
	fx_deinit(&f);

	/* The same as a response line after "+ ". */
	fx_init_sasl(&f, TEST_SASL_ALL);
	fx_reply(&f, "AUTH XOAUTH2", "+ \r\n");
	(void)fx_cmd_b64(&f, "", msg, msg_len);
	fx_expect_relay_step(&f, SASL_MECH_XOAUTH2, "alice@example.com", msg,
	    msg_len);
	(void)fx_login_fail(&f, POP3_RESP_AUTH);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	free(msg);

	/* A token past SASL_MAX_TOKEN_OCTETS: its base64 is longer than
	 * SASL_MAX_LINE_OCTETS, so the line is refused first. */
	msg = test_long_xoauth2(SASL_MAX_TOKEN_OCTETS + 1, &msg_len);
	fx_reply(&f, "AUTH XOAUTH2", "+ \r\n");
	(void)fx_cmd_b64(&f, "", msg, msg_len);
	fx_expect(&f, TEST_AUTH_LONG);
	free(msg);
	free(in);
	fx_deinit(&f);
}

static void
test_capa_sasl(void **state)
{
	static const char	before[] = "+OK Capability list follows\r\n"
	    "TOP\r\nUSER\r\n" TEST_CAPA_SASL_ALL "UIDL\r\nRESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\nPIPELINING\r\n.\r\n";
	static const char	after[] = "+OK Capability list follows\r\n"
	    "TOP\r\nUSER\r\n" TEST_CAPA_SASL_ALL "UIDL\r\nRESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\nPIPELINING\r\n"
	    "IMPLEMENTATION popgate 0.1.0\r\n.\r\n";
	struct fixture		f;

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	/* Conformance 5.2/7.3: SASL in both states. */
	fx_reply(&f, "CAPA", before);
	(void)fx_cmd(&f, "AUTH PLAIN " TEST_PLAIN_B64);
	fx_login_ok(&f);
	fx_reply(&f, "CAPA", after);
	assert_true(test_capa_subset(before, after));
	/* The fixed order for any subset; USER only when allowed. */
	f.s.opt.user_allowed = false;
	f.s.opt.sasl_mechs = (1u << SASL_MECH_OAUTHBEARER) |
	    (1u << SASL_MECH_LOGIN);
	f.s.opt.implementation = NULL;
	fx_reply(&f, "CAPA", "+OK Capability list follows\r\nTOP\r\n"
	    "SASL LOGIN OAUTHBEARER\r\nUIDL\r\nRESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\nPIPELINING\r\n.\r\n");
	/* No mechanism: no SASL line at all. */
	f.s.opt.sasl_mechs = 0;
	fx_reply(&f, "CAPA", "+OK Capability list follows\r\nTOP\r\n"
	    "UIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n.\r\n");
	fx_deinit(&f);
}

static void
test_auth_failures_close(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	/* Two [AUTH] failures, through AUTH and USER/PASS alike. */
	(void)fx_cmd(&f, "AUTH PLAIN " TEST_PLAIN_B64);
	step = fx_login_fail(&f, POP3_RESP_AUTH);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	fx_reply(&f, "USER alice", "+OK Send PASS.\r\n");
	(void)fx_cmd(&f, "PASS wrong");
	step = fx_login_fail(&f, POP3_RESP_AUTH);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	assert_int_equal(f.s.auth_failures, 2);
	/* Upstream trouble and a busy maildrop are not counted. */
	(void)fx_cmd(&f, "AUTH PLAIN " TEST_PLAIN_B64);
	step = fx_login_fail(&f, POP3_RESP_SYS_TEMP);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, "-ERR [SYS/TEMP] Authentication failed\r\n");
	fx_reply(&f, "AUTH LOGIN " TEST_LOGIN_USER_B64,
	    "+ " SASL_LOGIN_CHALLENGE_PASSWD "\r\n");
	(void)fx_cmd(&f, TEST_LOGIN_PASS_B64);
	step = fx_login_fail(&f, POP3_RESP_IN_USE);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, "-ERR [IN-USE] Authentication failed\r\n");
	/* Nor are bad responses. */
	fx_reply(&f, "AUTH PLAIN =", TEST_AUTH_BAD_MSG);
	assert_int_equal(f.s.auth_failures, 2);
	/* The third: the -ERR still goes out, then CLOSE. */
	(void)fx_cmd_b64(&f, "AUTH XOAUTH2 ", test_xoauth2_msg,
	    sizeof(test_xoauth2_msg) - 1);
	step = fx_login_fail(&f, POP3_RESP_AUTH);
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	assert_string_equal(step.reason, "too many authentication failures");
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	assert_int_equal(f.s.state, POP3_STATE_CLOSED);
	step = fx_cmd(&f, "AUTH");
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	fx_expect(&f, "");
	fx_deinit(&f);
}

static void
test_auth_secrets_wiped(void **state)
{
	struct fixture		f;
	struct pop3_step	step;
	char			line[] = TEST_LOGIN_PASS_B64;
	size_t			i;

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	/* A response line is wiped in the caller's buffer, and nothing is
	 * allocated before a response arrives. */
	fx_reply(&f, "AUTH LOGIN", "+ " SASL_LOGIN_CHALLENGE_USER "\r\n");
	assert_null(f.s.sasl.msg);
	fx_reply(&f, TEST_LOGIN_USER_B64,
	    "+ " SASL_LOGIN_CHALLENGE_PASSWD "\r\n");
	assert_null(f.s.sasl.msg);
	step = pop3_execute(&f.s, line, strlen(line), &f.out);
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	for (i = 0; i < sizeof(line) - 1; i++)
		assert_int_equal(line[i], '\0');
	/* The password lives in engine storage until login_done. */
	assert_non_null(f.s.sasl.msg);
	assert_ptr_equal(step.password, (const char *)f.s.sasl.msg);
	assert_ptr_equal(f.s.pending.password, step.password);
	(void)fx_login_fail(&f, POP3_RESP_AUTH);
	assert_null(f.s.pending.password);
	assert_int_equal(f.s.sasl.msg_cap, 0);
	assert_string_equal(f.s.user, "");
	buf_reset(&f.out);
	/* A bad response frees it too. */
	(void)fx_cmd_b64(&f, "AUTH PLAIN ", "x\0alice\0pw", 10);
	fx_expect(&f, TEST_AUTH_AUTHZID);
	assert_null(f.s.sasl.msg);
	/* deinit with a LOGIN step pending (ASan would see a leak). */
	(void)fx_cmd(&f, "AUTH PLAIN " TEST_PLAIN_B64);
	assert_non_null(f.s.sasl.msg);
	fx_deinit(&f);
	assert_null(f.s.sasl.msg);
	assert_int_equal(f.s.sasl.wait, POP3_SASL_WAIT_NONE);

	/* And when the challenge does not fit the output buffer. */
	fx_init_sasl(&f, TEST_SASL_ALL);
	buf_deinit(&f.out);
	buf_init(&f.out, 4);
	step = fx_cmd(&f, "AUTH LOGIN");
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	assert_string_equal(step.reason, "output overflow");
	assert_int_equal(f.s.sasl.wait, POP3_SASL_WAIT_NONE);
	assert_int_equal(f.s.sasl.mech, 0);
	fx_deinit(&f);
}

static void
test_auth_bad_command_cutoff(void **state)
{
	struct fixture		f;
	struct pop3_step	step;
	unsigned int		i;

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	/* Challenge then cancel, over and over: the "+ " does not reset
	 * the run of bad commands, so conformance 2.15 still applies. */
	for (i = 0; i + 1 < POP3_MAX_BAD_COMMANDS; i++) {
		fx_reply(&f, "AUTH PLAIN", "+ \r\n");
		fx_reply(&f, "*", TEST_AUTH_CANCELLED);
	}
	fx_reply(&f, "AUTH LOGIN", "+ " SASL_LOGIN_CHALLENGE_USER "\r\n");
	step = fx_cmd(&f, "*");
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	assert_string_equal(step.reason, "too many bad commands");
	fx_expect(&f, "-ERR Too many bad commands, closing.\r\n");
	assert_int_equal(f.s.sasl.wait, POP3_SASL_WAIT_NONE);
	fx_deinit(&f);

	/* A good command in between does reset it. */
	fx_init_sasl(&f, TEST_SASL_ALL);
	fx_reply(&f, "AUTH PLAIN", "+ \r\n");
	fx_reply(&f, "*", TEST_AUTH_CANCELLED);
	assert_int_equal(f.s.bad_in_a_row, 1);
	fx_reply(&f, "AUTH", TEST_AUTH_LIST_ALL);
	assert_int_equal(f.s.bad_in_a_row, 0);
	fx_deinit(&f);
}

static void
test_auth_pipelined(void **state)
{
	static const char	input[] = "AUTH PLAIN\r\n" TEST_PLAIN_B64 "\r\n"
	    "STAT\r\nAUTH LOGIN\r\nQUIT\r\n";
	struct fixture		f;
	struct pop3_line_reader	r;
	enum pop3_line_kind	kind;
	char			in[sizeof(input)], *line;
	size_t			off = 0, used, line_len;
	unsigned int		logins = 0;

	(void)state;
	fx_init_sasl(&f, TEST_SASL_ALL);
	pop3_line_init(&r, POP3_MAX_COMMAND_OCTETS);
	memcpy(in, input, sizeof(input));
	/* Conformance 14.1: the line after "+ " is the response; the rest
	 * are commands again. */
	for (;;) {
		pop3_line_set_max(&r, pop3_session_line_limit(&f.s));
		used = pop3_line_next(&r, in + off, sizeof(input) - 1 - off,
		    &kind, &line, &line_len);
		if (used == 0)
			break;
		off += used;
		assert_int_equal(kind, POP3_LINE_OK);
		f.step = pop3_execute(&f.s, line, line_len, &f.out);
		if (f.step.next == POP3_NEXT_LOGIN) {
			logins++;
			assert_string_equal(f.step.user, "alice");
			fx_expect(&f, "+ \r\n");
			fx_login_ok(&f);
		}
	}
	assert_int_equal(logins, 1);
	assert_int_equal(f.step.next, POP3_NEXT_COMMIT);
	fx_expect(&f, "+OK 3 3320\r\n" TEST_WRONG_STATE);
	fx_deinit(&f);
}

/* RFC 1939 sec. 7's example: timestamp, and the digest for "tanstaaf". */
#define TEST_APOP_STAMP		"<1896.697170952@dbc.mtview.ca.us>"
#define TEST_APOP_DIGEST	"c4c9334bac560ecc979e58001b3e22fb"
#define TEST_APOP_DIGEST_UC	"C4C9334BAC560ECC979E58001B3E22FB"
#define TEST_APOP_LINE		"APOP mrose " TEST_APOP_DIGEST
#define TEST_APOP_SYNTAX	"-ERR Syntax: APOP name digest\r\n"
#define TEST_APOP_NOT_AVAIL	"-ERR APOP is not available\r\n"
#define TEST_APOP_AFTER_USER	"-ERR APOP is not allowed after USER\r\n"

static void
fx_init_apop(struct fixture *f, bool user_allowed, bool stls_available)
{
	fx_init_opt(f, user_allowed, stls_available, false);
	f->s.opt.apop_timestamp = TEST_APOP_STAMP;
}

/* No APOP digest is left in the session. */
static void
fx_expect_apop_wiped(const struct fixture *f)
{
	static const char	zero[sizeof(f->s.apop_digest)];

	assert_memory_equal(f->s.apop_digest, zero, sizeof(zero));
}

/* The step is an APOP login as user with TEST_APOP_DIGEST. */
static void
fx_expect_apop_step(struct fixture *f, const char *user)
{
	assert_int_equal(f->step.next, POP3_NEXT_LOGIN);
	assert_int_equal(f->step.mech, 0);
	assert_true(f->step.apop);
	assert_string_equal(f->step.user, user);
	assert_ptr_equal(f->step.user, f->s.user);
	assert_int_equal(f->step.password_len, POP3_APOP_DIGEST_OCTETS);
	assert_string_equal(f->step.password, TEST_APOP_DIGEST);
	assert_ptr_equal(f->step.password, f->s.apop_digest);
	assert_null(f->step.sasl_msg);
	assert_int_equal(f->step.sasl_msg_len, 0);
	assert_true(f->s.step_pending);
	assert_true(f->s.pending.apop);
	assert_false(f->s.has_user);
	fx_expect(f, "");
}

static void
test_apop_greeting(void **state)
{
	static const char *const bad[] = {
		"", "<>", "1896@x>", "<1896@x", "<18 96@x>", "<a<b@x>",
		"<a>b@x>", "<a@x>>", "<<a@x>", "<a\t@x>", "<a\x7f@x>",
		"<m\xc3\xbc@x>", " <a@x>", "<a@x> ",
	};
	static const char	 tail[] = "g " TEST_APOP_STAMP "\r\n";
	struct fixture		 f;
	char			 stamp[POP3_MAX_REPLY_OCTETS], *text;
	size_t			 i;

	(void)state;
	/* Conformance 1.3: the timestamp, and only it, has a '<'. */
	fx_init_apop(&f, true, false);
	pop3_session_greeting(&f.s, &f.out);
	fx_expect(&f, "+OK popgate ready " TEST_APOP_STAMP "\r\n");
	f.s.opt.greeting = "[x] <a> b<\r\n-ERR";
	pop3_session_greeting(&f.s, &f.out);
	fx_expect(&f, "+OK x] a> b-ERR " TEST_APOP_STAMP "\r\n");
	f.s.opt.greeting = NULL;
	pop3_session_greeting(&f.s, &f.out);
	fx_expect(&f, "+OK POP3 server ready. " TEST_APOP_STAMP "\r\n");
	f.s.opt.greeting = "<<<";
	pop3_session_greeting(&f.s, &f.out);
	fx_expect(&f, "+OK POP3 server ready. " TEST_APOP_STAMP "\r\n");
	/* The shortest and the longest timestamp. */
	f.s.opt.greeting = "hi";
	f.s.opt.apop_timestamp = "<x>";
	pop3_session_greeting(&f.s, &f.out);
	fx_expect(&f, "+OK hi <x>\r\n");
	memset(stamp, 'a', POP3_APOP_MAX_TIMESTAMP_OCTETS);
	stamp[0] = '<';
	stamp[POP3_APOP_MAX_TIMESTAMP_OCTETS - 1] = '>';
	stamp[POP3_APOP_MAX_TIMESTAMP_OCTETS] = '\0';
	f.s.opt.apop_timestamp = stamp;
	pop3_session_greeting(&f.s, &f.out);
	assert_int_equal(f.out.len, 7 + POP3_APOP_MAX_TIMESTAMP_OCTETS + 2);
	assert_memory_equal(f.out.data + 7, stamp,
	    POP3_APOP_MAX_TIMESTAMP_OCTETS);
	buf_reset(&f.out);
	fx_deinit(&f);

	/* Invalid ones, and one octet too long, are as if not set. */
	stamp[POP3_APOP_MAX_TIMESTAMP_OCTETS - 1] = 'a';
	stamp[POP3_APOP_MAX_TIMESTAMP_OCTETS] = '>';
	stamp[POP3_APOP_MAX_TIMESTAMP_OCTETS + 1] = '\0';
	for (i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
		fx_init_apop(&f, true, false);
		f.s.opt.apop_timestamp = i < sizeof(bad) / sizeof(bad[0]) ?
		    bad[i] : stamp;
		pop3_session_greeting(&f.s, &f.out);
		fx_expect(&f, "+OK popgate ready\r\n");
		fx_reply(&f, TEST_APOP_LINE, TEST_APOP_NOT_AVAIL);
		fx_deinit(&f);
	}

	/* A long text is clipped; the timestamp never is (RFC 2449 sec. 4). */
	text = malloc(4096);
	assert_non_null(text);
	memset(text, 'g', 4095);
	text[4095] = '\0';
	fx_init_apop(&f, true, false);
	f.s.opt.greeting = text;
	pop3_session_greeting(&f.s, &f.out);
	assert_int_equal(f.out.len, POP3_MAX_REPLY_OCTETS);
	assert_memory_equal(f.out.data, "+OK ggg", 7);
	assert_memory_equal(f.out.data + f.out.len - (sizeof(tail) - 1), tail,
	    sizeof(tail) - 1);
	assert_ptr_equal(memchr(f.out.data, '<', f.out.len),
	    f.out.data + f.out.len - sizeof(TEST_APOP_STAMP "\r\n") + 1);
	fx_deinit(&f);
	free(text);
}

static void
test_apop_login(void **state)
{
	struct fixture		f;
	struct pop3_step	step;
	char			line[] = "APOP mrose " TEST_APOP_DIGEST_UC;
	size_t			i;

	(void)state;
	fx_init_apop(&f, true, false);
	/* RFC 1939 sec. 7: the digest in lowercase, whatever was sent; it
	 * is wiped from the caller's line. */
	f.step = pop3_execute(&f.s, line, strlen(line), &f.out);
	fx_expect_apop_step(&f, "mrose");
	assert_memory_equal(line, "APOP mrose ", 11);
	for (i = 11; i < sizeof(line) - 1; i++)
		assert_int_equal(line[i], '\0');
	fx_login_ok(&f);
	fx_expect_apop_wiped(&f);
	assert_int_equal(f.s.bad_in_a_row, 0);
	fx_reply(&f, "STAT", "+OK 3 3320\r\n");
	/* Conformance 7.6: CAPA is unchanged, no APOP line. */
	fx_reply(&f, "CAPA", "+OK Capability list follows\r\nTOP\r\nUSER\r\n"
	    "UIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
	    "IMPLEMENTATION popgate 0.1.0\r\n.\r\n");
	/* TRANSACTION: APOP is refused like USER and PASS. */
	fx_reply(&f, TEST_APOP_LINE, TEST_WRONG_STATE);
	fx_reply(&f, "APOP x", TEST_WRONG_STATE);
	assert_int_equal(f.s.state, POP3_STATE_TRANSACTION);
	fx_deinit(&f);

	/* Conformance 4.10: a wrong digest gives -ERR, AUTHORIZATION. */
	fx_init_apop(&f, true, false);
	fx_reply(&f, "CAPA", TEST_CAPA_AUTH ".\r\n");
	(void)fx_cmd(&f, "apop m\xc3\xbcller " TEST_APOP_DIGEST);
	fx_expect_apop_step(&f, "m\xc3\xbcller");
	step = fx_login_fail(&f, POP3_RESP_AUTH);
	assert_int_equal(step.next, POP3_NEXT_READ);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	assert_int_equal(f.s.auth_failures, 1);
	assert_string_equal(f.s.user, "");
	assert_false(f.s.pending.apop);
	fx_expect_apop_wiped(&f);
	/* Then APOP again, or USER/PASS (a PASS step is no APOP step). */
	(void)fx_cmd(&f, TEST_APOP_LINE);
	fx_expect_apop_step(&f, "mrose");
	(void)fx_login_fail(&f, POP3_RESP_SYS_TEMP);
	fx_expect(&f, "-ERR [SYS/TEMP] Authentication failed\r\n");
	fx_reply(&f, "USER alice", "+OK Send PASS.\r\n");
	step = fx_cmd(&f, "PASS secret");
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	assert_false(step.apop);
	assert_string_equal(step.user, "alice");
	fx_login_ok(&f);
	fx_deinit(&f);

	/* deinit with an APOP step pending wipes the digest. */
	fx_init_apop(&f, true, false);
	(void)fx_cmd(&f, TEST_APOP_LINE);
	fx_expect_apop_step(&f, "mrose");
	fx_deinit(&f);
	fx_expect_apop_wiped(&f);
}

static void
test_apop_not_available(void **state)
{
	struct fixture	f;

	(void)state;
	/* Conformance 4.10: no timestamp, no APOP, whatever follows; no
	 * state change, and USER/PASS still work. */
	fx_init(&f);
	f.s.opt.apop_timestamp = "";
	fx_reply(&f, TEST_APOP_LINE, TEST_APOP_NOT_AVAIL);
	fx_reply(&f, "APOP mrose xyz", TEST_APOP_NOT_AVAIL);
	fx_reply(&f, "USER alice", "+OK Send PASS.\r\n");
	fx_reply(&f, TEST_APOP_LINE, TEST_APOP_NOT_AVAIL);
	assert_true(f.s.has_user);
	assert_string_equal(f.s.user, "alice");
	assert_int_equal(f.s.count.bad_commands, 3);
	assert_int_equal(f.s.auth_failures, 0);
	f.s.opt.apop_timestamp = NULL;
	fx_reply(&f, TEST_APOP_LINE, TEST_APOP_NOT_AVAIL);
	fx_login(&f, 3);
	fx_deinit(&f);
}

static void
test_apop_syntax(void **state)
{
	static const char *const bad_digest[] = {
		"APOP mrose c4c9334bac560ecc979e58001b3e22f",	/* 31 */
		"APOP mrose c4c9334bac560ecc979e58001b3e22fb0",	/* 33 */
		"APOP mrose g4c9334bac560ecc979e58001b3e22fb",
		"APOP mrose c4c9334bac560ecc979e58001b3e22f\xc3",
		"APOP mrose 0xc9334bac560ecc979e58001b3e22fb",
		"APOP mrose c4c9334b-ac560ecc979e58001b3e22f",
		"APOP mrose x",
	};
	struct fixture		f;
	struct pop3_step	step;
	char			line[POP3_MAX_COMMAND_OCTETS];
	size_t			i, name_len;

	(void)state;
	fx_init_apop(&f, true, false);
	/* A malformed digest is a bad command, not a failed login. */
	for (i = 0; i < sizeof(bad_digest) / sizeof(bad_digest[0]); i++)
		fx_reply(&f, bad_digest[i], TEST_APOP_SYNTAX);
	/* Missing and extra arguments, and stray spaces, as for USER. */
	fx_reply(&f, "APOP", "-ERR Missing argument\r\n");
	fx_reply(&f, "APOP mrose", "-ERR Missing argument\r\n");
	fx_reply(&f, TEST_APOP_LINE " x", TEST_EXTRA_ARG);
	fx_reply(&f, TEST_APOP_LINE " ", TEST_BAD_SYNTAX);
	fx_reply(&f, "APOP  mrose " TEST_APOP_DIGEST, TEST_BAD_SYNTAX);
	fx_reply(&f, "APOP mrose  " TEST_APOP_DIGEST, TEST_BAD_SYNTAX);
	assert_int_equal(f.s.count.bad_commands,
	    sizeof(bad_digest) / sizeof(bad_digest[0]) + 6);
	assert_int_equal(f.s.auth_failures, 0);
	assert_int_equal(f.s.state, POP3_STATE_AUTHORIZATION);
	assert_string_equal(f.s.user, "");
	fx_expect_apop_wiped(&f);
	/* The longest name that fits the command line limit. */
	name_len = POP3_MAX_COMMAND_OCTETS - 2 - 5 - 1 -
	    POP3_APOP_DIGEST_OCTETS;
	memcpy(line, "APOP ", 5);
	memset(line + 5, 'n', name_len);
	line[5 + name_len] = ' ';
	memcpy(line + 6 + name_len, TEST_APOP_DIGEST_UC,
	    POP3_APOP_DIGEST_OCTETS + 1);
	step = fx_cmd(&f, line);
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	assert_int_equal(strlen(step.user), name_len);
	assert_string_equal(step.password, TEST_APOP_DIGEST);
	(void)fx_login_fail(&f, POP3_RESP_AUTH);
	buf_reset(&f.out);
	/* One octet more is over the 255 of RFC 2449 sec. 4. */
	memcpy(line + 5, "n", 1);
	memmove(line + 6, line + 5, strlen(line + 5) + 1);
	fx_reply(&f, line, TEST_TOO_LONG);
	fx_deinit(&f);
}

static void
test_apop_after_user(void **state)
{
	struct fixture		f;
	struct pop3_step	step;

	(void)state;
	fx_init_apop(&f, true, false);
	/* Conformance 4.10: not while a USER waits for its PASS, which is
	 * kept: PASS still logs in as that USER. */
	fx_reply(&f, "USER alice", "+OK Send PASS.\r\n");
	fx_reply(&f, TEST_APOP_LINE, TEST_APOP_AFTER_USER);
	assert_true(f.s.has_user);
	step = fx_cmd(&f, "PASS secret");
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	assert_false(step.apop);
	assert_string_equal(step.user, "alice");
	/* After a failed USER/PASS, APOP is valid. */
	(void)fx_login_fail(&f, POP3_RESP_AUTH);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	(void)fx_cmd(&f, TEST_APOP_LINE);
	fx_expect_apop_step(&f, "mrose");
	(void)fx_login_fail(&f, POP3_RESP_AUTH);
	buf_reset(&f.out);
	/* AUTH forgets a USER, so APOP is valid after it as well. */
	fx_reply(&f, "USER alice", "+OK Send PASS.\r\n");
	fx_reply(&f, "AUTH FOO", TEST_AUTH_UNKNOWN);
	(void)fx_cmd(&f, TEST_APOP_LINE);
	fx_expect_apop_step(&f, "mrose");
	step = fx_login_fail(&f, POP3_RESP_AUTH);
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	fx_deinit(&f);
}

static void
test_apop_without_plaintext(void **state)
{
	struct fixture	f;

	(void)state;
	/* USER/PASS refused before TLS: APOP sends no secret, so it is
	 * offered all the same; CAPA stays as it was. */
	fx_init_apop(&f, false, true);
	pop3_session_greeting(&f.s, &f.out);
	fx_expect(&f, "+OK popgate ready " TEST_APOP_STAMP "\r\n");
	fx_reply(&f, "USER alice",
	    "-ERR USER/PASS not allowed here; use STLS\r\n");
	fx_reply(&f, "CAPA", "+OK Capability list follows\r\nTOP\r\nUIDL\r\n"
	    "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSTLS\r\n.\r\n");
	(void)fx_cmd(&f, TEST_APOP_LINE);
	fx_expect_apop_step(&f, "mrose");
	fx_login_ok(&f);
	fx_deinit(&f);

	fx_init_apop(&f, false, false);
	(void)fx_cmd(&f, "APOP mrose " TEST_APOP_DIGEST_UC);
	fx_expect_apop_step(&f, "mrose");
	fx_login_ok(&f);
	fx_deinit(&f);
}

static void
test_apop_failures_close(void **state)
{
	struct fixture		f;
	struct pop3_step	step;
	unsigned int		i;

	(void)state;
	fx_init_apop(&f, true, false);
	/* Conformance 4.13: APOP failures count like PASS failures;
	 * malformed digests and upstream trouble do not. */
	for (i = 0; i + 1 < POP3_MAX_AUTH_FAILURES; i++) {
		fx_reply(&f, "APOP mrose x", TEST_APOP_SYNTAX);
		(void)fx_cmd(&f, TEST_APOP_LINE);
		fx_expect_apop_step(&f, "mrose");
		step = fx_login_fail(&f, POP3_RESP_AUTH);
		assert_int_equal(step.next, POP3_NEXT_READ);
		fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
		(void)fx_cmd(&f, TEST_APOP_LINE);
		fx_expect_apop_step(&f, "mrose");
		step = fx_login_fail(&f, POP3_RESP_SYS_TEMP);
		assert_int_equal(step.next, POP3_NEXT_READ);
		fx_expect(&f, "-ERR [SYS/TEMP] Authentication failed\r\n");
	}
	assert_int_equal(f.s.auth_failures, POP3_MAX_AUTH_FAILURES - 1);
	(void)fx_cmd(&f, TEST_APOP_LINE);
	fx_expect_apop_step(&f, "mrose");
	step = fx_login_fail(&f, POP3_RESP_AUTH);
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	assert_string_equal(step.reason, "too many authentication failures");
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	assert_int_equal(f.s.state, POP3_STATE_CLOSED);
	fx_expect_apop_wiped(&f);
	step = fx_cmd(&f, TEST_APOP_LINE);
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	fx_expect(&f, "");
	fx_deinit(&f);

	/* Mixed with USER/PASS: the same counter. */
	fx_init_apop(&f, true, false);
	(void)fx_cmd(&f, TEST_APOP_LINE);
	(void)fx_login_fail(&f, POP3_RESP_AUTH);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	fx_reply(&f, "USER alice", "+OK Send PASS.\r\n");
	(void)fx_cmd(&f, "PASS wrong");
	(void)fx_login_fail(&f, POP3_RESP_AUTH);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	(void)fx_cmd(&f, TEST_APOP_LINE);
	step = fx_login_fail(&f, POP3_RESP_AUTH);
	assert_int_equal(step.next, POP3_NEXT_CLOSE);
	fx_expect(&f, "-ERR [AUTH] Authentication failed\r\n");
	fx_deinit(&f);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_greeting_clipped),
		cmocka_unit_test(test_auth_state_rejects_transaction_commands),
		cmocka_unit_test(test_user_pass_login),
		cmocka_unit_test(test_pass_keeps_spaces),
		cmocka_unit_test(test_pass_sequence_errors),
		cmocka_unit_test(test_failed_login_then_retry),
		cmocka_unit_test(test_quit_in_authorization),
		cmocka_unit_test(test_apop_and_auth_refused),
		cmocka_unit_test(test_user_not_allowed),
		cmocka_unit_test(test_user_long_and_8bit),
		cmocka_unit_test(test_keywords_case_insensitive),
		cmocka_unit_test(test_invalid_commands),
		cmocka_unit_test(test_nul_in_command),
		cmocka_unit_test(test_number_arguments),
		cmocka_unit_test(test_spaces_are_strict),
		cmocka_unit_test(test_extra_argument_on_argless_commands),
		cmocka_unit_test(test_long_lines_through_reader),
		cmocka_unit_test(test_bad_command_cutoff),
		cmocka_unit_test(test_stls),
		cmocka_unit_test(test_capa_both_states),
		cmocka_unit_test(test_transaction_listing),
		cmocka_unit_test(test_empty_maildrop),
		cmocka_unit_test(test_dele_rset),
		cmocka_unit_test(test_uidl_n_matches_listing),
		cmocka_unit_test(test_uidl_templates),
		cmocka_unit_test(test_retr_top_steps),
		cmocka_unit_test(test_gone_messages),
		cmocka_unit_test(test_quit_commit),
		cmocka_unit_test(test_transaction_rejects_auth_commands),
		cmocka_unit_test(test_pipelined_sequence),
		cmocka_unit_test(test_reply_err_sanitised),
		cmocka_unit_test(test_output_overflow),
		cmocka_unit_test(test_auth_list),
		cmocka_unit_test(test_auth_plain),
		cmocka_unit_test(test_auth_empty_initial_response),
		cmocka_unit_test(test_auth_login),
		cmocka_unit_test(test_auth_bearer_relay),
		cmocka_unit_test(test_auth_cancel),
		cmocka_unit_test(test_auth_bad_base64),
		cmocka_unit_test(test_auth_plain_identities),
		cmocka_unit_test(test_auth_not_offered),
		cmocka_unit_test(test_auth_in_transaction),
		cmocka_unit_test(test_auth_after_user),
		cmocka_unit_test(test_auth_line_limit),
		cmocka_unit_test(test_auth_long_xoauth2),
		cmocka_unit_test(test_capa_sasl),
		cmocka_unit_test(test_auth_failures_close),
		cmocka_unit_test(test_auth_secrets_wiped),
		cmocka_unit_test(test_auth_bad_command_cutoff),
		cmocka_unit_test(test_auth_pipelined),
		cmocka_unit_test(test_apop_greeting),
		cmocka_unit_test(test_apop_login),
		cmocka_unit_test(test_apop_not_available),
		cmocka_unit_test(test_apop_syntax),
		cmocka_unit_test(test_apop_after_user),
		cmocka_unit_test(test_apop_without_plaintext),
		cmocka_unit_test(test_apop_failures_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
