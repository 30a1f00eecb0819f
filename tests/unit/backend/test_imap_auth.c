/* SPDX-License-Identifier: MIT */
/*
 * test_imap_auth.c - backend/imap_client against a scripted IMAP server on
 * the same libuv loop (loopback, cleartext): the exact wire form of the
 * SASL relay (XOAUTH2 and OAUTHBEARER, with and without SASL-IR, error
 * challenges answered per mechanism), the mechanism check, the start-up
 * probe and the mechanisms reported through caps(), strict STARTTLS
 * refusing a server that does not offer it or injects data after its OK,
 * and a mailbox lock that answers on a later loop turn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "base64.h"
#include "imap_client.h"
#include "sasl.h"
#include "tls_channel.h"

/* Lines the server may receive in one test, and their length. */
#define TEST_MAX_LINES		16
#define TEST_LINE_MAX		4096
/* Bytes the server buffers before a line end. */
#define TEST_INBUF_MAX		(64 * 1024)
/* A test that has not ended by then is stuck. */
#define TEST_GUARD_MS		10000
#define TEST_TIMEOUT_MS		3000

/* One exchange: the line the client must send, and the server's answer. */
struct test_step {
	const char	*expect;
	const char	*reply;		/* NULL: answer nothing */
};

struct test_ctx {
	uv_loop_t		 loop;
	uv_tcp_t		 listener;
	uv_tcp_t		 conn;
	uv_timer_t		 guard;
	struct imap_client	*client;
	const char		*greeting;
	const struct test_step	*steps;
	size_t			 nsteps;
	size_t			 step;
	char			 inbuf[TEST_INBUF_MAX];
	size_t			 inlen;
	char			 lines[TEST_MAX_LINES][TEST_LINE_MAX];
	size_t			 nlines;
	size_t			 extra_octets;	/* received after the script */
	bool			 accepted;
	bool			 conn_closed;
	bool			 client_closed;
	bool			 login_reported;
	enum imap_result	 result;
	char			 detail[256];
	uint32_t		 messages;
	unsigned int		 mechs;		/* the last caps() report */
	unsigned int		 caps_reports;
	int			 port;
	struct tls_profile	*profile;
	/* The lock answers lock_result after lock_defer_ms on a timer, as a
	 * lock elsewhere would; 0: at once, as the in-process lock. */
	unsigned int		 lock_defer_ms;
	enum imap_result	 lock_result;
	uv_timer_t		 lock_timer;
	bool			 lock_asked;
};

/* test_setup(): leave tls_profile NULL although TLS is asked for. */
static bool	test_no_profile;

static void
test_send(struct test_ctx *t, const char *text)
{
	uv_buf_t	b = uv_buf_init((char *)text, (unsigned int)strlen(text));

	assert_int_equal(uv_try_write((uv_stream_t *)&t->conn, &b, 1),
	    (int)strlen(text));
}

static void
test_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct test_ctx	*t = h->data;

	(void)suggested;
	b->base = t->inbuf + t->inlen;
	b->len = sizeof(t->inbuf) - t->inlen;
}

static void
test_conn_close_cb(uv_handle_t *h)
{
	struct test_ctx	*t = h->data;

	t->conn_closed = true;
}

static void
test_on_line(struct test_ctx *t, const char *line)
{
	size_t	n = strlen(line);

	assert_true(t->nlines < TEST_MAX_LINES);
	/* A line the test did not expect may be longer: keep its start. */
	if (n >= TEST_LINE_MAX)
		n = TEST_LINE_MAX - 1;
	memcpy(t->lines[t->nlines], line, n);
	t->lines[t->nlines++][n] = '\0';
	if (t->step >= t->nsteps) {
		t->extra_octets += strlen(line) + 2;
		return;
	}
	assert_string_equal(line, t->steps[t->step].expect);
	if (t->steps[t->step].reply != NULL)
		test_send(t, t->steps[t->step].reply);
	t->step++;
}

static void
test_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct test_ctx	*t = s->data;
	char		*eol;

	(void)b;
	if (nread < 0) {
		/* Bytes without a line end (a ClientHello, say) count too. */
		t->extra_octets += t->inlen;
		uv_close((uv_handle_t *)s, test_conn_close_cb);
		return;
	}
	t->inlen += (size_t)nread;
	while ((eol = memchr(t->inbuf, '\n', t->inlen)) != NULL) {
		size_t	n = (size_t)(eol - t->inbuf) + 1;

		*eol = '\0';
		if (eol > t->inbuf && eol[-1] == '\r')
			eol[-1] = '\0';
		test_on_line(t, t->inbuf);
		memmove(t->inbuf, t->inbuf + n, t->inlen - n);
		t->inlen -= n;
	}
}

static void
test_listener_close_cb(uv_handle_t *h)
{
	(void)h;
}

static void
test_on_connection(uv_stream_t *server, int status)
{
	struct test_ctx	*t = server->data;

	assert_int_equal(status, 0);
	assert_false(t->accepted);
	assert_int_equal(uv_tcp_init(&t->loop, &t->conn), 0);
	t->conn.data = t;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&t->conn), 0);
	t->accepted = true;
	uv_close((uv_handle_t *)&t->listener, test_listener_close_cb);
	assert_int_equal(uv_read_start((uv_stream_t *)&t->conn, test_alloc_cb,
	    test_read_cb), 0);
	test_send(t, t->greeting);
}

static void
test_guard_cb(uv_timer_t *timer)
{
	(void)timer;
	fail_msg("test did not finish within %d ms", TEST_GUARD_MS);
}

static void
test_login_done(void *arg, enum imap_result result, struct pop3_maildrop *md,
    const char *detail)
{
	struct test_ctx	*t = arg;

	assert_false(t->login_reported);
	t->login_reported = true;
	t->result = result;
	t->messages = md != NULL ? md->count : 0;
	snprintf(t->detail, sizeof(t->detail), "%s", detail);
	/* As the gateway does: end the session (LOGOUT when logged in). */
	imap_client_close(t->client, NULL);
}

static void
test_lock_timer_cb(uv_timer_t *timer)
{
	struct test_ctx	*t = timer->data;

	/* The answers the server already sent wait for this one. */
	assert_false(t->login_reported);
	uv_close((uv_handle_t *)timer, NULL);
	imap_client_lock_done(t->client, t->lock_result);
}

static void
test_lock(void *arg, const char *identity)
{
	struct test_ctx	*t = arg;

	(void)identity;
	t->lock_asked = true;
	if (t->lock_defer_ms == 0) {
		imap_client_lock_done(t->client, IMAP_OK);
		return;
	}
	uv_timer_init(&t->loop, &t->lock_timer);
	t->lock_timer.data = t;
	uv_timer_start(&t->lock_timer, test_lock_timer_cb, t->lock_defer_ms, 0);
}

static void
test_caps(void *arg, unsigned int mechs)
{
	struct test_ctx	*t = arg;

	t->mechs = mechs;
	t->caps_reports++;
}

static void
test_closed(void *arg, struct imap_client *c)
{
	struct test_ctx	*t = arg;

	(void)c;
	t->client_closed = true;
	t->client = NULL;
	uv_timer_stop(&t->guard);
	uv_close((uv_handle_t *)&t->guard, NULL);
	if (!t->accepted && !uv_is_closing((uv_handle_t *)&t->listener))
		uv_close((uv_handle_t *)&t->listener, test_listener_close_cb);
}

static const struct imap_client_callbacks test_callbacks = {
	.login_done = test_login_done,
	.lock = test_lock,
	.caps = test_caps,
	.closed = test_closed,
};

static void
test_setup(struct test_ctx *t, const char *greeting,
    const struct test_step *steps, size_t nsteps, enum imap_tls_mode mode)
{
	struct imap_client_config	cfg;
	struct sockaddr_in		addr;
	struct sockaddr_storage		bound;
	int				len = sizeof(bound);
	static char			port[8];

	memset(t, 0, sizeof(*t));
	t->greeting = greeting;
	t->steps = steps;
	t->nsteps = nsteps;
	assert_int_equal(uv_loop_init(&t->loop), 0);
	assert_int_equal(uv_tcp_init(&t->loop, &t->listener), 0);
	t->listener.data = t;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
	assert_int_equal(uv_tcp_bind(&t->listener, (struct sockaddr *)&addr,
	    0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&t->listener, 1,
	    test_on_connection), 0);
	assert_int_equal(uv_tcp_getsockname(&t->listener,
	    (struct sockaddr *)&bound, &len), 0);
	t->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	snprintf(port, sizeof(port), "%d", t->port);
	assert_int_equal(uv_timer_init(&t->loop, &t->guard), 0);
	assert_int_equal(uv_timer_start(&t->guard, test_guard_cb,
	    TEST_GUARD_MS, 0), 0);

	memset(&cfg, 0, sizeof(cfg));
	cfg.host = "127.0.0.1";
	cfg.port = port;
	cfg.mailbox = "INBOX";
	cfg.connect_timeout_ms = TEST_TIMEOUT_MS;
	cfg.command_timeout_ms = TEST_TIMEOUT_MS;
	cfg.chunk_octets = 64 * 1024;
	cfg.window = 2;
	cfg.tls_mode = mode;
	if (mode != IMAP_TLS_NONE && !test_no_profile) {
		struct tls_profile_settings	settings;
		char				err[256];

		tls_profile_settings_init(&settings);
		t->profile = tls_profile_new_client(&settings, err,
		    sizeof(err));
		assert_non_null(t->profile);
		cfg.tls_profile = t->profile;
	}
	t->client = imap_client_new(&t->loop, &cfg, &test_callbacks, t);
	assert_non_null(t->client);
}

static void
test_run(struct test_ctx *t)
{
	assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	assert_true(t->client_closed);
	assert_true(t->login_reported);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	tls_profile_free(t->profile);
}

static void
test_b64(const char *raw, size_t len, char *out)
{
	popgate_base64_encode((const unsigned char *)raw, len, out);
}

/*
 * One cleartext session: the server greets with `greeting` and plays
 * `steps`; the client relays the SASL message msg (len octets) for mech.
 * Returns when the loop has ended; the outcome is in *t.
 */
static void
test_login_sasl(struct test_ctx *t, const char *greeting,
    const struct test_step *steps, size_t nsteps, const char *mech,
    const void *msg, size_t len)
{
	test_setup(t, greeting, steps, nsteps, IMAP_TLS_NONE);
	imap_client_login_sasl(t->client, mech, "alice",
	    (const unsigned char *)msg, len);
	test_run(t);
}

/* An empty mailbox: SELECT, the first snapshot range, LOGOUT. */
#define TEST_SELECT(tag) \
	{ tag " SELECT \"INBOX\"", "* 0 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n" \
	    "* OK [UIDNEXT 1] x\r\n" tag " OK [READ-WRITE] done\r\n" }
#define TEST_SNAPSHOT(tag) \
	{ tag " UID FETCH 1:1024 (UID RFC822.SIZE FLAGS)", \
	    tag " OK done\r\n" }
#define TEST_LOGOUT(tag) \
	{ tag " LOGOUT", "* BYE bye\r\n" tag " OK done\r\n" }

static const char test_xoauth2_msg[] =
    "user=alice\001auth=Bearer tok-0123\001\001";
static const char test_oauthbearer_msg[] =
    "n,a=alice,\001host=pop.example\001port=110\001auth=Bearer tok-0123"
    "\001\001";

static void
test_xoauth2_sasl_ir(void **state)
{
	struct test_ctx	 t;
	char		 b64[128], expect[192];
	struct test_step steps[] = {
		{ expect, "1 OK [CAPABILITY IMAP4rev1 UIDPLUS] in\r\n" },
		TEST_SELECT("2"),
		TEST_SNAPSHOT("3"),
		TEST_LOGOUT("4"),
	};

	(void)state;
	test_b64(test_xoauth2_msg, sizeof(test_xoauth2_msg) - 1, b64);
	snprintf(expect, sizeof(expect), "1 AUTHENTICATE XOAUTH2 %s", b64);
	test_login_sasl(&t, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN "
	    "AUTH=xoauth2] hi\r\n", steps, 4, "xoauth2", test_xoauth2_msg,
	    sizeof(test_xoauth2_msg) - 1);
	assert_int_equal(t.result, IMAP_OK);
	assert_int_equal(t.step, 4);
	assert_int_equal(t.extra_octets, 0);
	assert_int_equal(t.caps_reports, 1);
	assert_int_equal(t.mechs, 1u << SASL_MECH_XOAUTH2 |
	    1u << SASL_MECH_PLAIN | 1u << SASL_MECH_LOGIN);
}

/* A lock that answers on a later loop turn: SELECT and the first snapshot
 * range ride behind LOGIN, and their answers, come before the lock's, are
 * acted on only after the grant; a refusal ends the login as IN_USE. */
static void
test_lock_later(enum imap_result answer)
{
	struct test_ctx	 t;
	struct test_step steps[] = {
		{ "1 LOGIN \"alice\" \"secret\"",
		    "1 OK [CAPABILITY IMAP4rev1 UIDPLUS] in\r\n" },
		TEST_SELECT("2"),
		TEST_SNAPSHOT("3"),
		TEST_LOGOUT("4"),
	};

	test_setup(&t, "* OK [CAPABILITY IMAP4rev1] hi\r\n", steps, 4,
	    IMAP_TLS_NONE);
	t.lock_defer_ms = 50;
	t.lock_result = answer;
	imap_client_login(t.client, "alice", "secret", 6);
	test_run(&t);
	assert_true(t.lock_asked);
	assert_int_equal(t.result, answer);
	/* Granted: the snapshot was taken from those answers, then LOGOUT.
	 * Refused: the three were sent together, no LOGOUT after them. */
	assert_int_equal(t.step, answer == IMAP_OK ? 4 : 3);
	if (answer == IMAP_OK)
		assert_int_equal(t.messages, 0);
}

static void
test_lock_later_granted(void **state)
{
	(void)state;
	test_lock_later(IMAP_OK);
}

static void
test_lock_later_refused(void **state)
{
	(void)state;
	test_lock_later(IMAP_ERR_IN_USE);
}

static void
test_oauthbearer_continuation(void **state)
{
	struct test_ctx	 t;
	char		 b64[256];
	struct test_step steps[] = {
		{ "1 AUTHENTICATE OAUTHBEARER", "+ \r\n" },
		{ b64, "1 OK in\r\n" },
		/* No [CAPABILITY] in the OK: asked again after login. */
		{ "2 CAPABILITY", "* CAPABILITY IMAP4rev1 UIDPLUS\r\n2 OK x\r\n" },
		TEST_SELECT("3"),
		TEST_SNAPSHOT("4"),
		TEST_LOGOUT("5"),
	};

	(void)state;
	test_b64(test_oauthbearer_msg, sizeof(test_oauthbearer_msg) - 1, b64);
	test_login_sasl(&t, "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED "
	    "AUTH=OAUTHBEARER] hi\r\n", steps, 6, "OAUTHBEARER",
	    test_oauthbearer_msg, sizeof(test_oauthbearer_msg) - 1);
	assert_int_equal(t.result, IMAP_OK);
	assert_int_equal(t.step, 6);
	/* LOGINDISABLED and no AUTH=PLAIN: no password mechanism. */
	assert_int_equal(t.caps_reports, 1);
	assert_int_equal(t.mechs, 1u << SASL_MECH_OAUTHBEARER);
}

static void
test_error_challenge(const char *mech, const char *msg, const char *answer)
{
	struct test_ctx	 t;
	char		 b64[256], expect[320], greeting[128];
	struct test_step steps[] = {
		{ expect, "+ eyJzdGF0dXMiOiI0MDEifQ==\r\n" },
		{ answer, "1 NO [UNAVAILABLE] no\r\n" },
	};

	test_b64(msg, strlen(msg), b64);
	snprintf(expect, sizeof(expect), "1 AUTHENTICATE %s %s", mech, b64);
	snprintf(greeting, sizeof(greeting), "* OK [CAPABILITY IMAP4rev1 "
	    "SASL-IR AUTH=%s] hi\r\n", mech);
	test_login_sasl(&t, greeting, steps, 2, mech, msg, strlen(msg));
	/* The token was looked at and refused: [AUTH], whatever the code. */
	assert_int_equal(t.result, IMAP_ERR_AUTH);
	assert_int_equal(t.step, 2);
	assert_int_equal(t.extra_octets, 0);
	assert_non_null(strstr(t.detail, "error challenge"));
}

static void
test_error_challenge_xoauth2(void **state)
{
	(void)state;
	test_error_challenge("XOAUTH2", test_xoauth2_msg, "");
}

static void
test_error_challenge_oauthbearer(void **state)
{
	(void)state;
	test_error_challenge("OAUTHBEARER", test_oauthbearer_msg, "AQ==");
}

static void
test_mechanism_not_offered(void **state)
{
	struct test_ctx	t;

	(void)state;
	test_login_sasl(&t, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN "
	    "AUTH=OAUTHBEARER] hi\r\n", NULL, 0, "XOAUTH2", test_xoauth2_msg,
	    sizeof(test_xoauth2_msg) - 1);
	assert_int_equal(t.result, IMAP_ERR_AUTH);
	assert_string_equal(t.detail, "upstream does not offer AUTH=XOAUTH2");
	assert_int_equal(t.nlines, 0);
	assert_int_equal(t.extra_octets, 0);
}

static void
test_message_limits(void **state)
{
	struct test_ctx	 t;
	unsigned char	*big;

	(void)state;
	big = calloc(1, SASL_MAX_TOKEN_OCTETS + 1);
	assert_non_null(big);
	test_login_sasl(&t, "* OK hi\r\n", NULL, 0, "XOAUTH2", big,
	    SASL_MAX_TOKEN_OCTETS + 1);
	assert_int_equal(t.result, IMAP_ERR_AUTH);
	assert_false(t.accepted);
	free(big);

	test_login_sasl(&t, "* OK hi\r\n", NULL, 0, "X OAUTH2", "x", 1);
	assert_int_equal(t.result, IMAP_ERR_AUTH);
	assert_false(t.accepted);
}

static void
test_probe(void **state)
{
	struct test_ctx	 t;
	struct test_step steps[] = {
		{ "1 CAPABILITY", "* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN "
		    "AUTH=XOAUTH2 AUTH=OAUTHBEARER LOGINDISABLED\r\n"
		    "1 OK done\r\n" },
		TEST_LOGOUT("2"),
	};

	(void)state;
	test_setup(&t, "* OK hi\r\n", steps, 2, IMAP_TLS_NONE);
	imap_client_probe(t.client);
	test_run(&t);
	assert_int_equal(t.result, IMAP_OK);
	assert_int_equal(t.step, 2);
	assert_int_equal(t.caps_reports, 1);
	assert_int_equal(t.mechs, 1u << SASL_MECH_XOAUTH2 |
	    1u << SASL_MECH_OAUTHBEARER | 1u << SASL_MECH_PLAIN |
	    1u << SASL_MECH_LOGIN);
}

static void
test_starttls_not_offered(void **state)
{
	struct test_ctx	t;

	(void)state;
	test_setup(&t, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2] "
	    "hi\r\n", NULL, 0, IMAP_TLS_STARTTLS);
	imap_client_login(t.client, "alice", "secret", 6);
	test_run(&t);
	assert_int_equal(t.result, IMAP_ERR_TEMP);
	assert_string_equal(t.detail, "upstream does not offer STARTTLS");
	assert_int_equal(t.nlines, 0);
	assert_int_equal(t.extra_octets, 0);
	/* A cleartext list before STARTTLS teaches nothing. */
	assert_int_equal(t.caps_reports, 0);
}

static void
test_starttls_injection(void **state)
{
	static const char	*injections[] = {
		"1 OK go\r\n2 OK injected\r\n",
		"1 OK go\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n",
		"1 OK go\r\n+ \r\n",
		"1 OK go\r\nx",
	};
	struct test_ctx		 t;
	struct test_step	 steps[1];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(injections) / sizeof(injections[0]); i++) {
		steps[0].expect = "1 STARTTLS";
		steps[0].reply = injections[i];
		test_setup(&t, "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n",
		    steps, 1, IMAP_TLS_STARTTLS);
		imap_client_login(t.client, "alice", "secret", 6);
		test_run(&t);
		assert_int_equal(t.result, IMAP_ERR_TEMP);
		assert_string_equal(t.detail,
		    "upstream sent data after STARTTLS OK");
		assert_int_equal(t.step, 1);
		/* Neither a credential nor a ClientHello went out. */
		assert_int_equal(t.extra_octets, 0);
	}
}

static void
test_tls_without_profile(void **state)
{
	struct test_ctx	t;

	(void)state;
	test_no_profile = true;
	test_setup(&t, "* OK hi\r\n", NULL, 0, IMAP_TLS_IMPLICIT);
	test_no_profile = false;
	imap_client_login(t.client, "alice", "secret", 6);
	test_run(&t);
	assert_int_equal(t.result, IMAP_ERR_PERM);
	assert_false(t.accepted);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xoauth2_sasl_ir),
		cmocka_unit_test(test_oauthbearer_continuation),
		cmocka_unit_test(test_lock_later_granted),
		cmocka_unit_test(test_lock_later_refused),
		cmocka_unit_test(test_error_challenge_xoauth2),
		cmocka_unit_test(test_error_challenge_oauthbearer),
		cmocka_unit_test(test_mechanism_not_offered),
		cmocka_unit_test(test_message_limits),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_starttls_not_offered),
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_tls_without_profile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
