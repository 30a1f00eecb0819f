/* SPDX-License-Identifier: MIT */
/*
 * test_pop3_auth.c - unit tests for proto/pop3_auth.c: the AUTHORIZATION
 * state with USER, PASS, STLS and APOP (RFC 1939 sec. 7), with exact reply
 * bytes, against doc/pop3-conformance.md items. SASL AUTH is in
 * test_pop3_sasl.c.
 */
#include "pop3_session_fixture.h"

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
		cmocka_unit_test(test_auth_state_rejects_transaction_commands),
		cmocka_unit_test(test_user_pass_login),
		cmocka_unit_test(test_pass_keeps_spaces),
		cmocka_unit_test(test_pass_sequence_errors),
		cmocka_unit_test(test_failed_login_then_retry),
		cmocka_unit_test(test_quit_in_authorization),
		cmocka_unit_test(test_apop_and_auth_refused),
		cmocka_unit_test(test_user_not_allowed),
		cmocka_unit_test(test_user_long_and_8bit),
		cmocka_unit_test(test_stls),
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
