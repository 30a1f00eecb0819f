/* SPDX-License-Identifier: MIT */
/*
 * test_http_server.c - unit tests for net/http_server.c: a server on a
 * loopback port, a libuv loop the test turns itself, and a plain client
 * socket read between the turns. The handler records what it was given.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "buf.h"
#include "http_server.h"

#define TEST_REPLY_MAX		4096
/* Turns of 10 ms before a test gives up waiting for the server. */
#define TEST_MAX_TURNS		1000
#define TEST_DEADLINE_MS	200

enum test_mode {
	TEST_ANSWER,		/* 200 with a small body */
	TEST_SILENT,		/* returns without answering */
};

struct test_ctx {
	uv_loop_t		 loop;
	struct http_server	*srv;
	int			 port;
	enum test_mode		 mode;
	unsigned int		 calls;
	char			 method[16];
	char			 target[64];
};

static void
test_copy(char *dst, size_t cap, const unsigned char *p, size_t n)
{
	assert_true(n < cap);
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static void
test_handler(void *arg, struct http_conn *c, const unsigned char *method,
    size_t method_len, const unsigned char *target, size_t target_len)
{
	struct test_ctx	*t = arg;

	t->calls++;
	test_copy(t->method, sizeof(t->method), method, method_len);
	test_copy(t->target, sizeof(t->target), target, target_len);
	if (t->mode == TEST_SILENT)
		return;
	if (strcmp(t->method, "GET") != 0) {
		http_conn_error(c, 405, true);
		return;
	}
	assert_int_equal(buf_append(http_conn_body(c), "hello\n", 6), 0);
	http_conn_reply(c, 200, "text/plain", true);
}

/* Starts a server with the given head limit (0: the parser's). */
static void
test_start(struct test_ctx *t, size_t max_head)
{
	struct http_server_config	cfg;
	struct sockaddr_in		sin;
	struct sockaddr_storage		ss;
	int				len;

	memset(t, 0, sizeof(*t));
	assert_int_equal(uv_loop_init(&t->loop), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(&cfg, 0, sizeof(cfg));
	cfg.addr = (const struct sockaddr *)&sin;
	cfg.max_connections = 2;
	cfg.timeout_ms = TEST_DEADLINE_MS;
	cfg.max_head_octets = max_head;
	cfg.max_body_octets = 1024;
	cfg.allow = "GET";
	cfg.handler = test_handler;
	cfg.arg = t;
	assert_int_equal(http_server_start(&t->loop, &cfg, &t->srv), 0);
	assert_int_equal(http_server_sockname(t->srv, &ss, &len), 0);
	t->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	assert_true(t->port > 0);
}

/* Stops the server: every handle closes and the memory goes. */
static void
test_finish(struct test_ctx *t)
{
	http_server_stop(t->srv);
	assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&t->loop), 0);
}

static int
test_connect(const struct test_ctx *t, const char *req)
{
	struct sockaddr_in	sin;
	int			fd;
	size_t			n = strlen(req);
	ssize_t			w;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)t->port);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	while (n > 0) {
		w = send(fd, req, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		req += w;
		n -= (size_t)w;
	}
	return fd;
}

/* Turns the loop and reads fd until the server closes it; returns what
 * came, NUL-terminated. */
static char *
test_read_all(struct test_ctx *t, int fd, size_t *len)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	char		*out = malloc(TEST_REPLY_MAX + 1);
	size_t		 n = 0;
	ssize_t		 r;
	unsigned int	 turn;

	assert_non_null(out);
	for (turn = 0; turn < TEST_MAX_TURNS; turn++) {
		uv_run(&t->loop, UV_RUN_NOWAIT);
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		r = recv(fd, out + n, TEST_REPLY_MAX - n, MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r < 0) {
			assert_true(errno == EAGAIN || errno == EINTR);
			continue;
		}
		n += (size_t)r;
		assert_true(n < TEST_REPLY_MAX);
	}
	assert_true(turn < TEST_MAX_TURNS);
	out[n] = '\0';
	*len = n;
	return out;
}

static void
test_expect(struct test_ctx *t, const char *req, const char *want)
{
	char	*got;
	size_t	 len;
	int	 fd;

	fd = test_connect(t, req);
	got = test_read_all(t, fd, &len);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	free(got);
	close(fd);
}

#define TEST_TAIL	"Cache-Control: no-store\r\nConnection: close\r\n\r\n"

static void
test_good_get(void **state)
{
	struct test_ctx	t;

	(void)state;
	test_start(&t, 0);
	test_expect(&t, "GET /x?y HTTP/1.1\r\nHost: a\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 6\r\n" TEST_TAIL "hello\n");
	assert_int_equal(t.calls, 1);
	assert_string_equal(t.method, "GET");
	assert_string_equal(t.target, "/x?y");
	test_finish(&t);
}

/* A malformed head (HTTP/1.1 without Host) never reaches the handler. */
static void
test_bad_request(void **state)
{
	struct test_ctx	t;

	(void)state;
	test_start(&t, 0);
	test_expect(&t, "GET / HTTP/1.1\r\n\r\n",
	    "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 12\r\n" TEST_TAIL "Bad Request\n");
	assert_int_equal(t.calls, 0);
	test_finish(&t);
}

/* A client that sends half a head is closed at the deadline, unanswered. */
static void
test_deadline(void **state)
{
	struct test_ctx	 t;
	struct timespec	 t0, t1;
	char		*got;
	size_t		 len;
	long		 ms;
	int		 fd;

	(void)state;
	test_start(&t, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fd = test_connect(&t, "GET / HT");
	got = test_read_all(&t, fd, &len);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(len, 0);
	assert_true(ms >= TEST_DEADLINE_MS - 20);
	assert_true(ms < TEST_DEADLINE_MS + 2000);
	assert_int_equal(t.calls, 0);
	free(got);
	close(fd);
	test_finish(&t);
}

/* The owner's Allow field goes with a 405; a handler that does not
 * answer gets a 500 from the server. */
static void
test_405_and_silent(void **state)
{
	struct test_ctx	t;

	(void)state;
	test_start(&t, 0);
	test_expect(&t, "PUT / HTTP/1.0\r\n\r\n",
	    "HTTP/1.1 405 Method Not Allowed\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 19\r\nAllow: GET\r\n" TEST_TAIL
	    "Method Not Allowed\n");
	t.mode = TEST_SILENT;
	test_expect(&t, "GET / HTTP/1.0\r\n\r\n",
	    "HTTP/1.1 500 Internal Server Error\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 22\r\n" TEST_TAIL "Internal Server Error\n");
	assert_int_equal(t.calls, 2);
	test_finish(&t);
}

/* A head limit below the parser's: full within the request line is 400,
 * full within the fields 431. */
static void
test_head_limit(void **state)
{
	struct test_ctx	t;

	(void)state;
	test_start(&t, 32);
	test_expect(&t, "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.0\r\n",
	    "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 12\r\n" TEST_TAIL "Bad Request\n");
	test_expect(&t, "GET / HTTP/1.0\r\nX-Long: aaaaaaaaaaaaaaaaaaaa\r\n",
	    "HTTP/1.1 431 Request Header Fields Too Large\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 32\r\n" TEST_TAIL
	    "Request Header Fields Too Large\n");
	assert_int_equal(t.calls, 0);
	test_finish(&t);
}

static void
test_target_path(void **state)
{
	const unsigned char	*p;
	size_t			 n;

	(void)state;
	assert_true(http_target_path((const unsigned char *)"/a?b", 4, &p, &n));
	assert_int_equal(n, 2);
	assert_memory_equal(p, "/a", 2);
	assert_true(http_target_path((const unsigned char *)"HTTP://h/m", 10,
	    &p, &n));
	assert_int_equal(n, 2);
	assert_memory_equal(p, "/m", 2);
	assert_true(http_target_path((const unsigned char *)"http://h", 8,
	    &p, &n));
	assert_int_equal(n, 1);
	assert_false(http_target_path((const unsigned char *)"*", 1, &p, &n));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_get),
		cmocka_unit_test(test_bad_request),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_405_and_silent),
		cmocka_unit_test(test_head_limit),
		cmocka_unit_test(test_target_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
