/* SPDX-License-Identifier: MIT */
/*
 * test_stream.c - unit tests for net/stream.c over a socketpair: the
 * stream writes one end (a libuv pipe on a real loop), the test reads the
 * other end directly. TLS runs against a server channel the test pumps
 * by hand, with a self-signed certificate made by the openssl CLI.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "buf.h"
#include "stream.h"
#include "tls_channel.h"

/* Far more than two small socket buffers: the write cannot finish at once. */
#define TEST_BULK_OCTETS	(1024 * 1024)
#define TEST_SOCKBUF_OCTETS	4096
#define TEST_QUEUE_MAX		(4 * 1024 * 1024)
#define TEST_READ_OCTETS	65536
/* Loop turns before a test gives up waiting for the write to end. */
#define TEST_MAX_TURNS		100000
#define TEST_PATH_MAX		256

struct test_ctx {
	uv_loop_t	 loop;
	uv_pipe_t	 pipe;
	int		 peer;		/* the socketpair's other end */
	struct buf	 out;		/* the owner's queue */
	struct buf	 got;		/* what the peer read */
	struct stream	 st;
	unsigned int	 callbacks;
	size_t		 async_octets;	/* reported by written() */
	int		 last_status;
	bool		 reflush;	/* flush again from the callback */
	ssize_t		 reflush_octets;
};

static void
test_written(void *owner, size_t n, int status)
{
	struct test_ctx	*t = owner;
	ssize_t		 r;

	t->callbacks++;
	t->async_octets += n;
	t->last_status = status;
	if (t->reflush && status == 0) {
		r = stream_flush(&t->st);
		assert_true(r >= 0);
		t->reflush_octets += r;
	}
}

static const struct stream_callbacks test_cb = {
	.written = test_written,
};

static void
test_set_sockbuf(int fd, int opt)
{
	int	v = TEST_SOCKBUF_OCTETS;

	assert_int_equal(setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)), 0);
}

static int
test_setup(void **state)
{
	struct test_ctx	*t = calloc(1, sizeof(*t));
	int		 fds[2];

	assert_non_null(t);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	test_set_sockbuf(fds[0], SO_SNDBUF);
	test_set_sockbuf(fds[1], SO_RCVBUF);
	assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	assert_int_equal(uv_pipe_init(&t->loop, &t->pipe, 0), 0);
	assert_int_equal(uv_pipe_open(&t->pipe, fds[0]), 0);
	t->peer = fds[1];
	buf_init(&t->out, TEST_QUEUE_MAX);
	buf_init(&t->got, 2 * TEST_QUEUE_MAX);
	stream_init(&t->st, (uv_stream_t *)&t->pipe, &t->out, TEST_QUEUE_MAX,
	    0, &test_cb, t);
	*state = t;
	return 0;
}

static int
test_teardown(void **state)
{
	struct test_ctx	*t = *state;

	uv_close((uv_handle_t *)&t->pipe, NULL);
	(void)uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	close(t->peer);
	stream_deinit(&t->st);
	buf_deinit(&t->out);
	buf_deinit(&t->got);
	free(t);
	return 0;
}

/* Reads what the peer end has now into t->got. */
static void
test_drain_peer(struct test_ctx *t)
{
	char	*p;
	ssize_t	 n;

	for (;;) {
		p = buf_reserve(&t->got, TEST_READ_OCTETS);
		assert_non_null(p);
		n = read(t->peer, p, TEST_READ_OCTETS);
		if (n <= 0)
			break;
		buf_commit(&t->got, (size_t)n);
	}
}

/* Reads and runs the loop until the write in flight has ended. */
static void
test_pump_until_idle(struct test_ctx *t)
{
	unsigned int	turns;

	for (turns = 0; stream_busy(&t->st) && turns < TEST_MAX_TURNS;
	    turns++) {
		test_drain_peer(t);
		(void)uv_run(&t->loop, UV_RUN_NOWAIT);
	}
	assert_false(stream_busy(&t->st));
	test_drain_peer(t);
}

static void
test_fill(struct buf *b, size_t n, unsigned int seed)
{
	char	*p = buf_reserve(b, n);
	size_t	 i;

	assert_non_null(p);
	for (i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + seed) % 26);
	buf_commit(b, n);
}

static bool
test_all_zero(const char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* A short reply leaves at once: no write request, no callback. */
static void
test_try_write_path(void **state)
{
	struct test_ctx	*t = *state;

	assert_int_equal(buf_append_str(&t->out, "+OK hello\r\n"), 0);
	assert_int_equal(stream_flush(&t->st), 11);
	assert_false(stream_busy(&t->st));
	assert_int_equal(t->out.len, 0);
	assert_int_equal(stream_backlog(&t->st), 0);
	(void)uv_run(&t->loop, UV_RUN_NOWAIT);
	assert_int_equal(t->callbacks, 0);
	test_drain_peer(t);
	assert_int_equal(t->got.len, 11);
	assert_memory_equal(t->got.data, "+OK hello\r\n", 11);
}

/* What the socket does not take goes to one uv_write; more output waits
 * in the queue until it ended, and arrives after it, in order. */
static void
test_one_write_in_flight(void **state)
{
	struct test_ctx	*t = *state;
	struct buf	 want;
	ssize_t		 n;

	buf_init(&want, 2 * TEST_BULK_OCTETS);
	test_fill(&t->out, TEST_BULK_OCTETS, 1);
	assert_int_equal(buf_append(&want, t->out.data, t->out.len), 0);
	n = stream_flush(&t->st);
	assert_true(n >= 0 && n < TEST_BULK_OCTETS);
	assert_true(stream_busy(&t->st));
	/* The bytes moved to the write buffer without a copy of the queue. */
	assert_int_equal(t->out.len, 0);
	assert_int_equal(stream_backlog(&t->st), TEST_BULK_OCTETS);

	test_fill(&t->out, 1000, 2);
	assert_int_equal(buf_append(&want, t->out.data, t->out.len), 0);
	assert_int_equal(stream_flush(&t->st), 0);	/* still in flight */
	assert_int_equal(t->out.len, 1000);
	assert_int_equal(stream_backlog(&t->st), TEST_BULK_OCTETS + 1000);

	t->reflush = true;
	test_pump_until_idle(t);
	while (t->callbacks == 1 && stream_busy(&t->st))
		test_pump_until_idle(t);
	assert_true(t->callbacks >= 1);
	assert_int_equal(t->last_status, 0);
	assert_int_equal((size_t)n + t->async_octets +
	    (size_t)t->reflush_octets, want.len);
	assert_int_equal(stream_backlog(&t->st), 0);
	assert_int_equal(t->got.len, want.len);
	assert_memory_equal(t->got.data, want.data, want.len);
	buf_deinit(&want);
}

static void
test_watermarks(void **state)
{
	struct test_ctx	*t = *state;

	stream_set_watermarks(&t->st, 100, 1000);
	test_fill(&t->out, 50, 0);
	assert_true(stream_low(&t->st));
	assert_false(stream_full(&t->st));
	test_fill(&t->out, 450, 0);
	assert_false(stream_low(&t->st));
	assert_false(stream_full(&t->st));
	test_fill(&t->out, 500, 0);
	assert_true(stream_full(&t->st));
	/* Bytes in flight count too, until their write ended. */
	buf_reset(&t->out);
	test_fill(&t->out, TEST_BULK_OCTETS, 3);
	assert_true(stream_flush(&t->st) >= 0);
	assert_true(stream_busy(&t->st));
	assert_true(stream_full(&t->st));
	test_pump_until_idle(t);
	assert_true(stream_low(&t->st));
	assert_false(stream_full(&t->st));
}

/* A secret is wiped once it left, on both paths. */
static void
test_secret_wiped(void **state)
{
	struct test_ctx	*t = *state;
	char		*storage;

	assert_int_equal(buf_append_str(&t->out, "a001 LOGIN u pw\r\n"), 0);
	stream_mark_secret(&t->st);
	storage = t->out.data;
	assert_int_equal(stream_flush(&t->st), 17);
	assert_true(test_all_zero(storage, 17));

	test_fill(&t->out, TEST_BULK_OCTETS, 4);
	stream_mark_secret(&t->st);
	storage = t->out.data;
	assert_true(stream_flush(&t->st) >= 0);
	assert_true(stream_busy(&t->st));
	assert_ptr_equal(t->st.wbuf.data, storage);
	test_pump_until_idle(t);
	assert_true(test_all_zero(storage, TEST_BULK_OCTETS));
	/* The mark is spent: the next write is not wiped. */
	assert_int_equal(buf_append_str(&t->out, "a002 NOOP\r\n"), 0);
	storage = t->out.data;
	assert_int_equal(stream_flush(&t->st), 11);
	assert_memory_equal(storage, "a002 NOOP\r\n", 11);
}

/* ---- TLS ---- */

struct test_tls {
	char			 dir[TEST_PATH_MAX];
	struct tls_profile	*server_profile;
	struct tls_profile	*client_profile;
	struct tls_channel	*server;
	struct tls_channel	*client;
	struct buf		 server_plain;
	struct buf		 server_out;
	struct buf		 client_plain;
	int			 server_rc;	/* last feed result */
};

static void
test_tls_profiles(struct test_tls *x)
{
	struct tls_profile_settings	 s;
	char				 cmd[4 * TEST_PATH_MAX];
	char				 cert[TEST_PATH_MAX + 16];
	char				 key[TEST_PATH_MAX + 16];
	char				 err[256];
	FILE				*f;

	snprintf(x->dir, sizeof(x->dir), "/tmp/test_stream.XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", x->dir);
	snprintf(key, sizeof(key), "%s/key.pem", x->dir);
	snprintf(cmd, sizeof(cmd), "%s/req.cnf", x->dir);
	f = fopen(cmd, "w");
	assert_non_null(f);
	fputs("[req]\ndistinguished_name = subject\n[subject]\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "openssl req -config %s/req.cnf -x509 "
	    "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	    "-days 1 -subj /CN=localhost -keyout %s -out %s 2>/dev/null",
	    x->dir, key, cert);
	assert_int_equal(system(cmd), 0);

	tls_profile_settings_init(&s);
	s.cert_file = cert;
	s.key_file = key;
	x->server_profile = tls_profile_new_server(&s, err, sizeof(err));
	assert_non_null(x->server_profile);
	tls_profile_settings_init(&s);
	s.verify_peer = false;
	x->client_profile = tls_profile_new_client(&s, err, sizeof(err));
	assert_non_null(x->client_profile);
	x->server = tls_channel_new_server(x->server_profile);
	x->client = tls_channel_new_client(x->client_profile, "localhost");
	assert_non_null(x->server);
	assert_non_null(x->client);
	buf_init(&x->server_plain, TEST_QUEUE_MAX);
	buf_init(&x->server_out, TEST_QUEUE_MAX);
	buf_init(&x->client_plain, TEST_QUEUE_MAX);
}

static void
test_tls_free(struct test_tls *x)
{
	char	cmd[TEST_PATH_MAX + 16];

	tls_channel_free(x->server);
	tls_channel_free(x->client);
	tls_profile_free(x->server_profile);
	tls_profile_free(x->client_profile);
	buf_deinit(&x->server_plain);
	buf_deinit(&x->server_out);
	buf_deinit(&x->client_plain);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", x->dir);
	(void)system(cmd);
}

/*
 * One round: what the stream wrote reaches the server channel; what the
 * server answers is written to the peer socket and read back from the
 * stream's end (libuv does not read it: the test does) into the client
 * channel through stream_tls_feed().
 */
static void
test_tls_round(struct test_ctx *t, struct test_tls *x)
{
	char		in[TEST_READ_OCTETS];
	uv_os_fd_t	fd;
	ssize_t		n;
	int		r;

	assert_true(stream_flush(&t->st) >= 0);
	test_pump_until_idle(t);
	if (t->got.len > 0) {
		r = tls_channel_feed(x->server, t->got.data, t->got.len,
		    &x->server_plain, &x->server_out);
		assert_true(r >= 0);
		if (r != 0)
			x->server_rc = r;
		buf_reset(&t->got);
	}
	if (x->server_out.len > 0) {
		n = write(t->peer, x->server_out.data, x->server_out.len);
		assert_int_equal(n, (ssize_t)x->server_out.len);
		buf_reset(&x->server_out);
	}
	assert_int_equal(uv_fileno((uv_handle_t *)&t->pipe, &fd), 0);
	while ((n = recv(fd, in, sizeof(in), MSG_DONTWAIT)) > 0)
		assert_true(stream_tls_feed(&t->st, in, (size_t)n,
		    &x->client_plain) >= 0);
}

static void
test_tls_handshake(struct test_ctx *t, struct test_tls *x)
{
	int	i;

	assert_int_equal(stream_start_tls(&t->st, x->client, true), 0);
	for (i = 0; i < 16 && !(tls_channel_handshake_done(x->client) &&
	    tls_channel_handshake_done(x->server)); i++)
		test_tls_round(t, x);
	assert_true(tls_channel_handshake_done(x->client));
	assert_true(tls_channel_handshake_done(x->server));
}

/* Plaintext queued before the handshake waits for it; after the last
 * reply, stream_end() sends close_notify. */
static void
test_tls_end_sends_close_notify(void **state)
{
	struct test_ctx	*t = *state;
	struct test_tls	 x;

	memset(&x, 0, sizeof(x));
	test_tls_profiles(&x);
	assert_int_equal(buf_append_str(&t->out, "USER a\r\n"), 0);
	test_tls_handshake(t, &x);
	test_tls_round(t, &x);
	assert_int_equal(x.server_plain.len, 8);
	assert_memory_equal(x.server_plain.data, "USER a\r\n", 8);
	assert_int_equal(x.server_rc, 0);

	assert_int_equal(buf_append_str(&t->out, "QUIT\r\n"), 0);
	stream_end(&t->st);
	test_tls_round(t, &x);
	assert_int_equal(x.server_plain.len, 14);
	assert_memory_equal(x.server_plain.data + 8, "QUIT\r\n", 6);
	assert_int_equal(x.server_rc, 1);	/* close_notify came last */
	test_tls_free(&x);
}

/* stream_close(): close_notify at once, and nothing written after. */
static void
test_tls_close_sends_close_notify(void **state)
{
	struct test_ctx	*t = *state;
	struct test_tls	 x;

	memset(&x, 0, sizeof(x));
	test_tls_profiles(&x);
	test_tls_handshake(t, &x);
	stream_close(&t->st);
	test_tls_round(t, &x);
	assert_int_equal(x.server_rc, 1);
	assert_int_equal(buf_append_str(&t->out, "late\r\n"), 0);
	assert_int_equal(stream_flush(&t->st), 0);
	test_drain_peer(t);
	assert_int_equal(t->got.len, 0);
	test_tls_free(&x);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(test_try_write_path,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_one_write_in_flight,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_watermarks,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_secret_wiped,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_tls_end_sends_close_notify,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(
		    test_tls_close_sends_close_notify, test_setup,
		    test_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
