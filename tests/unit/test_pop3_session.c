/* SPDX-License-Identifier: MIT */
/*
 * test_pop3_session.c - unit tests for proto/pop3_session.c: every command in
 * every state, with exact reply bytes, against pop3-conformance.md items.
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

#include "buf.h"
#include "pop3_line.h"
#include "pop3_session.h"

/* Output buffer limit for the fixture: far above any reply here. */
#define TEST_OUT_MAX_OCTETS	(1024 * 1024)
/* imap-mapping sec. 7.1 example UIDVALIDITY (hex 499602d2). */
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
	/* LOGIN borrows the line; do not look at it after this. */
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
	/* Conformance 5.3/5.16: unsupported mechanisms and bare AUTH. */
	fx_reply(&f, "AUTH", "-ERR Unsupported authentication mechanism\r\n");
	fx_reply(&f, "AUTH FOOBAR",
	    "-ERR Unsupported authentication mechanism\r\n");
	fx_reply(&f, "auth plain AGFsaWNlAHNlY3JldA==",
	    "-ERR Unsupported authentication mechanism\r\n");
	fx_reply(&f, "AUTH ", TEST_BAD_SYNTAX);
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
	/* Longer than POP3_MAX_USER_OCTETS: only reachable by a caller
	 * with a longer line limit. */
	memcpy(line, "USER ", 5);
	memset(line + 5, 'n', POP3_MAX_USER_OCTETS + 1);
	line[5 + POP3_MAX_USER_OCTETS + 1] = '\0';
	fx_reply(&f, line, "-ERR User name too long\r\n");
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

	/* RSET drops RETRIEVED: no \Seen for it (imap-mapping sec. 10). */
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
