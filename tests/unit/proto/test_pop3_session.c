/* SPDX-License-Identifier: MIT */
/*
 * test_pop3_session.c - unit tests for proto/pop3_session.c, the engine:
 * greeting, CAPA, the bad-command cutoff and pipelined commands, with exact
 * reply bytes, against doc/pop3-conformance.md items. The states' commands
 * are tested in test_pop3_auth.c, test_pop3_sasl.c and test_pop3_trans.c.
 */
#include "pop3_session_fixture.h"

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

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_greeting_clipped),
		cmocka_unit_test(test_bad_command_cutoff),
		cmocka_unit_test(test_capa_both_states),
		cmocka_unit_test(test_pipelined_sequence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
