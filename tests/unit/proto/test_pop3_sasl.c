/* SPDX-License-Identifier: MIT */
/*
 * test_pop3_sasl.c - unit tests for the SASL AUTH exchange of
 * proto/pop3_auth.c (RFC 5034; doc/pop3-conformance.md section 5): PLAIN,
 * LOGIN, XOAUTH2 and OAUTHBEARER, limits, failures and wiped secrets.
 */
#include "pop3_session_fixture.h"

static const char	test_xoauth2_msg[] =
    "user=alice@example.com\1auth=Bearer ya29.a0AfH6SMB\1\1";
static const char	test_oauthbearer_msg[] =
    "n,a=al=2Cice,\1host=pop.example.com\1port=110\1"
    "auth=Bearer vF9dft4qmT\1\1";


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

int
main(void)
{
	const struct CMUnitTest	tests[] = {
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
