/* SPDX-License-Identifier: MIT */
/*
 * test_pop3_trans.c - unit tests for proto/pop3_trans.c: the TRANSACTION
 * state (STAT, LIST, UIDL, DELE, RSET, RETR, TOP) and the QUIT commit, with
 * exact reply bytes, against doc/pop3-conformance.md items.
 */
#include "pop3_session_fixture.h"

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

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_transaction_listing),
		cmocka_unit_test(test_empty_maildrop),
		cmocka_unit_test(test_dele_rset),
		cmocka_unit_test(test_uidl_n_matches_listing),
		cmocka_unit_test(test_uidl_templates),
		cmocka_unit_test(test_retr_top_steps),
		cmocka_unit_test(test_gone_messages),
		cmocka_unit_test(test_quit_commit),
		cmocka_unit_test(test_transaction_rejects_auth_commands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
