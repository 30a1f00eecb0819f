/* SPDX-License-Identifier: MIT */
/*
 * test_backend.c - backend/backend.h as the gateway uses it, with the IMAP
 * kind behind it: results, failure classes and closed() come back in the
 * backend's terms, with the handle backend_new() gave; closed() comes once,
 * whether the owner closed the backend (in a callback, as the session does,
 * or while idle) or a failed request ended it; then the loop holds nothing
 * of it. The upstream is a loopback port that refuses connections; the
 * IMAP conversation itself is test_imap_auth.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "backend.h"

struct test_ctx {
	uv_loop_t		 loop;
	struct backend		*b;
	char			 port[8];
	enum backend_result	 result;
	enum backend_fail_class	 why;
	unsigned int		 logins;
	unsigned int		 failures;
	unsigned int		 closes;
	bool			 snapshot;	/* login_done had an md */
	bool			 close_in_login; /* as the session does */
};

static void
test_login_done(void *arg, enum backend_result result,
    struct pop3_maildrop *md, const char *detail)
{
	struct test_ctx	*t = arg;

	assert_non_null(detail);
	t->result = result;
	t->snapshot = md != NULL;
	t->logins++;
	if (t->close_in_login)
		backend_close(t->b, NULL);
}

static void
test_failed(void *arg, enum backend_fail_class why)
{
	struct test_ctx	*t = arg;

	t->why = why;
	t->failures++;
}

static void
test_closed(void *arg, struct backend *b)
{
	struct test_ctx	*t = arg;

	assert_ptr_equal(b, t->b);
	t->closes++;
}

static const struct backend_callbacks test_callbacks = {
	.login_done = test_login_done,
	.failed = test_failed,
	.closed = test_closed,
};

/* A loopback port nothing listens on: bound, read back, closed. */
static void
test_refused_port(struct test_ctx *t)
{
	struct sockaddr_in	 sin;
	struct sockaddr_storage	 ss;
	uv_tcp_t		 tcp;
	int			 len = sizeof(ss);

	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
	assert_int_equal(uv_tcp_init(&t->loop, &tcp), 0);
	assert_int_equal(uv_tcp_bind(&tcp, (struct sockaddr *)&sin, 0), 0);
	assert_int_equal(uv_tcp_getsockname(&tcp, (struct sockaddr *)&ss,
	    &len), 0);
	snprintf(t->port, sizeof(t->port), "%u",
	    ntohs(((struct sockaddr_in *)&ss)->sin_port));
	uv_close((uv_handle_t *)&tcp, NULL);
	uv_run(&t->loop, UV_RUN_DEFAULT);
}

static void
test_setup(struct test_ctx *t)
{
	struct backend_config	bc;

	memset(t, 0, sizeof(*t));
	assert_int_equal(uv_loop_init(&t->loop), 0);
	test_refused_port(t);
	memset(&bc, 0, sizeof(bc));
	bc.kind = BACKEND_IMAP;
	bc.host = "127.0.0.1";
	bc.port = t->port;
	bc.mailbox = "INBOX";
	bc.connect_timeout_ms = 3000;
	bc.command_timeout_ms = 3000;
	bc.chunk_octets = 65536;
	bc.window = 1;
	bc.tls = BACKEND_TLS_NONE;
	t->b = backend_new(&t->loop, &bc, &test_callbacks, t);
	assert_non_null(t->b);
}

/* Runs the loop dry: the request ends, closed() follows, and no handle
 * of the backend's is left. */
static void
test_finish(struct test_ctx *t)
{
	assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(t->logins, 1);
	assert_int_equal(t->closes, 1);
	assert_int_equal(uv_loop_close(&t->loop), 0);
}

static void
test_login_refused(void **state)
{
	struct test_ctx	t;

	(void)state;
	test_setup(&t);
	assert_false(backend_is_ready(t.b));
	backend_login(t.b, "user", "secret", 6);
	test_finish(&t);
	assert_int_equal(t.result, BACKEND_ERR_TEMP);
	assert_false(t.snapshot);
	assert_int_equal(t.failures, 1);
	assert_int_equal(t.why, BACKEND_FAIL_CONNECT);
}

/* The session closes its backend from the failed login's callback. */
static void
test_close_in_callback(void **state)
{
	struct test_ctx	t;

	(void)state;
	test_setup(&t);
	t.close_in_login = true;
	backend_login(t.b, "user", "secret", 6);
	test_finish(&t);
	assert_int_equal(t.result, BACKEND_ERR_TEMP);
}

static void
test_probe_refused(void **state)
{
	struct test_ctx	t;

	(void)state;
	test_setup(&t);
	backend_probe(t.b);
	test_finish(&t);
	assert_int_equal(t.result, BACKEND_ERR_TEMP);
	assert_int_equal(t.why, BACKEND_FAIL_CONNECT);
}

/* Closed before any request: closed() all the same, once. */
static void
test_close_idle(void **state)
{
	struct test_ctx	t;

	(void)state;
	test_setup(&t);
	backend_close(t.b, NULL);
	assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(t.closes, 1);
	assert_int_equal(t.logins, 0);
	assert_int_equal(uv_loop_close(&t.loop), 0);
}

/* The names the log and the admin commands print. */
static void
test_result_names(void **state)
{
	(void)state;
	assert_string_equal(backend_result_name(BACKEND_OK), "ok");
	assert_string_equal(backend_result_name(BACKEND_ERR_AUTH), "auth");
	assert_string_equal(backend_result_name(BACKEND_ERR_TEMP), "temp");
	assert_string_equal(backend_result_name(BACKEND_ERR_PERM), "perm");
	assert_string_equal(backend_result_name(BACKEND_ERR_IN_USE),
	    "in-use");
	assert_string_equal(backend_result_name(BACKEND_ERR_GONE), "gone");
	assert_string_equal(backend_result_name(BACKEND_RESULT_COUNT), "?");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_login_refused),
		cmocka_unit_test(test_close_in_callback),
		cmocka_unit_test(test_probe_refused),
		cmocka_unit_test(test_close_idle),
		cmocka_unit_test(test_result_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
