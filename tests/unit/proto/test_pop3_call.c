/* SPDX-License-Identifier: MIT */
/*
 * test_pop3_call.c - unit tests for proto/pop3_call.c through the engine:
 * command parsing, strict arguments, line limits, reply sanitising and
 * output overflow, against doc/pop3-conformance.md items.
 */
#include "pop3_session_fixture.h"

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
		cmocka_unit_test(test_keywords_case_insensitive),
		cmocka_unit_test(test_invalid_commands),
		cmocka_unit_test(test_nul_in_command),
		cmocka_unit_test(test_number_arguments),
		cmocka_unit_test(test_spaces_are_strict),
		cmocka_unit_test(test_extra_argument_on_argless_commands),
		cmocka_unit_test(test_long_lines_through_reader),
		cmocka_unit_test(test_reply_err_sanitised),
		cmocka_unit_test(test_output_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
