/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c - gateway/metrics/metrics.c: the exposition after a known
 * sequence of calls (every sample, cumulative histogram buckets, escaped
 * listener names), two objects counting apart, counting from many
 * threads, and the HTTP endpoint on a
 * private loop in a thread, driven by blocking sockets: 200, HEAD, 404,
 * 405, 400, 431, split requests, the connection cap and the timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "buf.h"
#include "config.h"
#include "http_request.h"
#include "metrics.h"

#define TEST_RENDER_MAX		(1024 * 1024)
#define TEST_RESPONSE_MAX	(256 * 1024)

/* Two listeners; the second name needs escaping. */
static void
test_config(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->nlisteners = 2;
	snprintf(c->listeners[0].name, sizeof(c->listeners[0].name), "pop3");
	snprintf(c->listeners[1].name, sizeof(c->listeners[1].name),
	    "we\"ird\\na\nme");
}

static char *
render(struct metrics *m)
{
	struct buf	b;
	char		*s;

	buf_init(&b, TEST_RENDER_MAX);
	assert_int_equal(metrics_render(m, &b), 0);
	assert_true(b.len > 0 && b.data[b.len - 1] == '\n');
	s = malloc(b.len + 1);
	assert_non_null(s);
	memcpy(s, b.data, b.len);
	s[b.len] = '\0';
	buf_deinit(&b);
	return s;
}

/* The value of the sample whose name and labels are exactly key. */
static const char *
sample(const char *text, const char *key)
{
	size_t		 n = strlen(key);
	const char	*p = text;

	while ((p = strstr(p, key)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return p + n + 1;
		p += n;
	}
	return NULL;
}

static void
check_sample(const char *text, const char *key, const char *value)
{
	const char	*v = sample(text, key);
	size_t		 n = strlen(value);

	if (v == NULL)
		fail_msg("no sample %s", key);
	if (strncmp(v, value, n) != 0 || v[n] != '\n')
		fail_msg("%s: got %.20s, want %s", key, v, value);
}

/*
 * Counts sample lines (all, or those whose value is not zero) and comment
 * lines. Each sample line is "name{labels} value" with a number.
 */
static unsigned int
count_lines(const char *text, bool nonzero_only, unsigned int *comments)
{
	const char	*p = text, *nl, *sp;
	char		*end;
	double		 v;
	unsigned int	 n = 0;

	*comments = 0;
	while (*p != '\0') {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		if (*p == '#') {
			(*comments)++;
			p = nl + 1;
			continue;
		}
		sp = memchr(p, ' ', (size_t)(nl - p));
		assert_non_null(sp);
		assert_true(sp[-1] == '}');
		v = strtod(sp + 1, &end);
		assert_true(end == nl);
		if (!nonzero_only || v != 0)
			n++;
		p = nl + 1;
	}
	return n;
}

/* A known sequence of calls, including out-of-range ones. */
static void
record_sequence(struct metrics *m)
{
	metrics_session_start(m, 0);
	metrics_session_start(m, 0);
	metrics_session_start(m, 1);
	metrics_session_end(m, 0, 100, 2000, 3, 1, 2);
	metrics_session_refused(m, 1, METRICS_REFUSED_ADDRESS_RATE);
	metrics_login(m, METRICS_METHOD_USER, METRICS_LOGIN_OK);
	metrics_login(m, METRICS_METHOD_USER, METRICS_LOGIN_OK);
	metrics_login(m, METRICS_METHOD_XOAUTH2, METRICS_LOGIN_AUTH);
	metrics_tls_handshake(m, 1, metrics_tls_version_from_name("TLSv1.3"));
	metrics_tls_failed(m, 0);
	metrics_upstream_error(m, METRICS_UPSTREAM_TIMEOUT);
	metrics_upstream_error(m, METRICS_UPSTREAM_FOREIGN_BODY);
	metrics_commit_resumed(m, METRICS_RESUME_STALE);
	metrics_commit_resumed(m, METRICS_RESUME_COUNT);	/* ignored */
	metrics_latency(m, METRICS_LATENCY_CONNECT, 500);
	metrics_latency(m, METRICS_LATENCY_CONNECT, 1000);	/* le is inclusive */
	metrics_latency(m, METRICS_LATENCY_CONNECT, 1001);
	metrics_latency(m, METRICS_LATENCY_CONNECT, 40000000);	/* +Inf only */
	/* Ignored: out of range. */
	metrics_session_start(m, CONFIG_MAX_LISTENERS);
	metrics_session_end(m, 1000, 1, 1, 1, 1, 1);
	metrics_session_refused(m, 0, METRICS_REFUSED_COUNT);
	metrics_login(m, METRICS_METHOD_COUNT, METRICS_LOGIN_OK);
	metrics_login(m, METRICS_METHOD_USER, METRICS_LOGIN_COUNT);
	metrics_tls_handshake(m, 0, METRICS_TLS_COUNT);
	metrics_tls_failed(m, CONFIG_MAX_LISTENERS);
	metrics_upstream_error(m, METRICS_UPSTREAM_ERROR_COUNT);
	metrics_latency(m, METRICS_LATENCY_COUNT, 1);
}

static void
test_render_known_sequence(void **state)
{
	static const char *const nonzero[][2] = {
		{ "popgate_build_info{version=\"" POPGATE_VERSION "\"}", "1" },
		{ "popgate_sessions_active{listener=\"pop3\"}", "1" },
		{ "popgate_sessions_active{listener=\"we\\\"ird\\\\na\\nme\"}",
		    "1" },
		{ "popgate_sessions_total{listener=\"pop3\"}", "2" },
		{ "popgate_sessions_total{listener=\"we\\\"ird\\\\na\\nme\"}",
		    "1" },
		{ "popgate_sessions_refused_total{listener=\"we\\\"ird\\\\na"
		    "\\nme\",reason=\"address_rate\"}", "1" },
		{ "popgate_client_received_bytes_total{listener=\"pop3\"}",
		    "100" },
		{ "popgate_client_sent_bytes_total{listener=\"pop3\"}", "2000" },
		{ "popgate_messages_retrieved_total{listener=\"pop3\","
		    "command=\"retr\"}", "3" },
		{ "popgate_messages_retrieved_total{listener=\"pop3\","
		    "command=\"top\"}", "1" },
		{ "popgate_messages_deleted_total{listener=\"pop3\"}", "2" },
		{ "popgate_tls_handshakes_total{listener=\"we\\\"ird\\\\na\\nme\","
		    "version=\"TLSv1.3\"}", "1" },
		{ "popgate_tls_handshake_failures_total{listener=\"pop3\"}",
		    "1" },
		{ "popgate_logins_total{method=\"user\",result=\"ok\"}", "2" },
		{ "popgate_logins_total{method=\"xoauth2\",result=\"auth\"}",
		    "1" },
		{ "popgate_upstream_errors_total{class=\"timeout\"}", "1" },
		{ "popgate_upstream_errors_total{class=\"foreign_body\"}",
		    "1" },
		{ "popgate_commits_resumed_total{result=\"stale\"}", "1" },
	};
	static const char *const buckets[][2] = {
		{ "0.001", "2" }, { "0.0025", "3" }, { "0.005", "3" },
		{ "0.01", "3" }, { "0.025", "3" }, { "0.05", "3" },
		{ "0.1", "3" }, { "0.25", "3" }, { "0.5", "3" }, { "1", "3" },
		{ "2.5", "3" }, { "5", "3" }, { "10", "3" }, { "30", "3" },
		{ "+Inf", "4" },
	};
	struct config	 c;
	struct metrics	*m;
	char		 key[256], *text;
	size_t		 i;
	unsigned int	 comments, samples, nonzero_samples;

	(void)state;
	test_config(&c);
	m = metrics_new(&c);
	assert_non_null(m);
	record_sequence(m);
	text = render(m);

	for (i = 0; i < sizeof(nonzero) / sizeof(nonzero[0]); i++)
		check_sample(text, nonzero[i][0], nonzero[i][1]);
	for (i = 0; i < sizeof(buckets) / sizeof(buckets[0]); i++) {
		snprintf(key, sizeof(key), "popgate_upstream_latency_seconds_"
		    "bucket{stage=\"connect\",le=\"%s\"}", buckets[i][0]);
		check_sample(text, key, buckets[i][1]);
		snprintf(key, sizeof(key), "popgate_upstream_latency_seconds_"
		    "bucket{stage=\"login\",le=\"%s\"}", buckets[i][0]);
		check_sample(text, key, "0");
	}
	check_sample(text, "popgate_upstream_latency_seconds_sum"
	    "{stage=\"connect\"}", "40.002501");
	check_sample(text, "popgate_upstream_latency_seconds_count"
	    "{stage=\"connect\"}", "4");
	check_sample(text, "popgate_upstream_latency_seconds_sum"
	    "{stage=\"login\"}", "0.000000");
	check_sample(text, "popgate_logins_total{method=\"oauthbearer\","
	    "result=\"refused\"}", "0");
	check_sample(text, "popgate_tls_handshakes_total{listener=\"pop3\","
	    "version=\"TLSv1\"}", "0");

	/*
	 * Exactly these series: per listener 17 (active, total, 4 refusal
	 * reasons, 2 byte counts, retr and top, deleted, 5 TLS versions, TLS
	 * failures), 36 logins (6 methods, APOP included, by 6 results), 7
	 * upstream errors, 3 resumed-commit results, 3 histograms of 15
	 * buckets plus sum and count, build info. Non-zero: the table above
	 * and the connect histogram's 15 buckets, sum and count.
	 */
	samples = count_lines(text, false, &comments);
	assert_int_equal(samples, 2 * 17 + 36 + 7 + 3 + 3 * 17 + 1);
	assert_int_equal(comments, 2 * 14);
	nonzero_samples = count_lines(text, true, &comments);
	assert_int_equal(nonzero_samples, sizeof(nonzero) / sizeof(nonzero[0])
	    + 17);
	/* Every family is introduced by HELP then TYPE, counters end in
	 * _total. */
	assert_non_null(strstr(text, "# HELP popgate_sessions_total "));
	assert_non_null(strstr(text, "\n# TYPE popgate_sessions_total "
	    "counter\n"));
	assert_non_null(strstr(text, "\n# TYPE popgate_sessions_active "
	    "gauge\n"));
	assert_non_null(strstr(text, "\n# TYPE popgate_upstream_latency_seconds "
	    "histogram\n"));
	assert_null(strstr(text, "counter\npopgate_sessions_active"));
	/* The raw name never appears unescaped. */
	assert_null(strstr(text, "we\"ird"));
	free(text);

	metrics_free(m);

	/* A new object starts from zero. */
	m = metrics_new(&c);
	assert_non_null(m);
	text = render(m);
	assert_int_equal(count_lines(text, true, &comments), 1);
	free(text);
	metrics_free(m);
}

/* Two objects count apart: what one counts, the other never shows. */
static void
test_two_objects(void **state)
{
	struct config	 c;
	struct metrics	*a, *b;
	char		*text;
	unsigned int	 comments;

	(void)state;
	test_config(&c);
	a = metrics_new(&c);
	memset(&c, 0, sizeof(c));
	b = metrics_new(&c);
	assert_non_null(a);
	assert_non_null(b);
	record_sequence(a);
	metrics_session_start(b, 0);
	metrics_login(b, METRICS_METHOD_APOP, METRICS_LOGIN_PERM);

	text = render(a);
	check_sample(text, "popgate_sessions_total{listener=\"pop3\"}", "2");
	check_sample(text, "popgate_logins_total{method=\"user\","
	    "result=\"ok\"}", "2");
	check_sample(text, "popgate_logins_total{method=\"apop\","
	    "result=\"perm\"}", "0");
	free(text);

	/* b: its own listener names (none), its own counts only. */
	text = render(b);
	assert_null(strstr(text, "listener="));
	check_sample(text, "popgate_logins_total{method=\"apop\","
	    "result=\"perm\"}", "1");
	check_sample(text, "popgate_logins_total{method=\"user\","
	    "result=\"ok\"}", "0");
	assert_int_equal(count_lines(text, true, &comments), 2);
	free(text);
	metrics_free(a);
	metrics_free(b);
	metrics_free(NULL);
}

static void
test_render_no_listeners(void **state)
{
	struct config	 c;
	struct metrics	*m;
	char		*text;
	unsigned int	 comments;

	(void)state;
	memset(&c, 0, sizeof(c));
	m = metrics_new(&c);
	assert_non_null(m);
	metrics_session_start(m, 0);	/* no name: counted, not shown */
	text = render(m);
	assert_int_equal(count_lines(text, false, &comments),
	    36 + 7 + 3 + 3 * 17 + 1);
	assert_int_equal(comments, 2 * 14);
	free(text);
	metrics_free(m);
}

static void
test_render_bounded(void **state)
{
	struct config	 c;
	struct metrics	*m;
	struct buf	 b;

	(void)state;
	test_config(&c);
	m = metrics_new(&c);
	assert_non_null(m);
	buf_init(&b, 1000);
	assert_int_equal(metrics_render(m, &b), -ENOBUFS);
	buf_deinit(&b);
	metrics_free(m);
}

static void
test_tls_version_names(void **state)
{
	(void)state;
	assert_int_equal(metrics_tls_version_from_name("TLSv1"),
	    METRICS_TLS_1_0);
	assert_int_equal(metrics_tls_version_from_name("TLSv1.1"),
	    METRICS_TLS_1_1);
	assert_int_equal(metrics_tls_version_from_name("TLSv1.2"),
	    METRICS_TLS_1_2);
	assert_int_equal(metrics_tls_version_from_name("TLSv1.3"),
	    METRICS_TLS_1_3);
	assert_int_equal(metrics_tls_version_from_name("SSLv3"),
	    METRICS_TLS_OTHER);
	assert_int_equal(metrics_tls_version_from_name("TLSv1.4"),
	    METRICS_TLS_OTHER);
	assert_int_equal(metrics_tls_version_from_name(""),
	    METRICS_TLS_OTHER);
	assert_int_equal(metrics_tls_version_from_name(NULL),
	    METRICS_TLS_OTHER);
}

#define TEST_THREADS		4
#define TEST_PER_THREAD		100000

static void
count_thread(void *arg)
{
	struct metrics	*m = arg;
	unsigned int	 i;

	for (i = 0; i < TEST_PER_THREAD; i++) {
		metrics_session_start(m, 0);
		metrics_login(m, METRICS_METHOD_PLAIN, METRICS_LOGIN_OK);
		metrics_latency(m, METRICS_LATENCY_LOGIN, 2);
		metrics_session_end(m, 0, 1, 2, 0, 0, 0);
	}
}

static void
test_threads(void **state)
{
	struct config	 c;
	struct metrics	*m;
	uv_thread_t	 t[TEST_THREADS];
	char		*text, want[32];
	unsigned int	 i;

	(void)state;
	test_config(&c);
	m = metrics_new(&c);
	assert_non_null(m);
	for (i = 0; i < TEST_THREADS; i++)
		assert_int_equal(uv_thread_create(&t[i], count_thread, m), 0);
	for (i = 0; i < TEST_THREADS; i++)
		assert_int_equal(uv_thread_join(&t[i]), 0);
	text = render(m);
	snprintf(want, sizeof(want), "%u", TEST_THREADS * TEST_PER_THREAD);
	check_sample(text, "popgate_sessions_total{listener=\"pop3\"}", want);
	check_sample(text, "popgate_sessions_active{listener=\"pop3\"}", "0");
	check_sample(text, "popgate_logins_total{method=\"plain\","
	    "result=\"ok\"}", want);
	check_sample(text, "popgate_upstream_latency_seconds_count"
	    "{stage=\"login\"}", want);
	check_sample(text, "popgate_upstream_latency_seconds_sum"
	    "{stage=\"login\"}", "0.800000");
	snprintf(want, sizeof(want), "%u", 2 * TEST_THREADS * TEST_PER_THREAD);
	check_sample(text, "popgate_client_sent_bytes_total{listener=\"pop3\"}",
	    want);
	free(text);
	metrics_free(m);
}

/* ---- the HTTP endpoint ---- */

struct server {
	uv_loop_t	 loop;
	uv_async_t	 stop;
	uv_thread_t	 thread;
	struct metrics	*metrics;
	int		 port;
};

static void
server_stop_cb(uv_async_t *a)
{
	metrics_stop();
	metrics_stop();		/* twice is harmless */
	uv_close((uv_handle_t *)a, NULL);
}

static void
server_thread(void *arg)
{
	struct server	*s = arg;

	uv_run(&s->loop, UV_RUN_DEFAULT);
}

static void
server_start(struct server *s)
{
	struct config		 c;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&c.metrics_addr;
	struct sockaddr_storage	 ss;
	int			 len;

	test_config(&c);
	s->metrics = metrics_new(&c);
	assert_non_null(s->metrics);
	memset(&c.metrics_addr, 0, sizeof(c.metrics_addr));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = 0;
	c.metrics_addrlen = sizeof(*sin);
	assert_int_equal(uv_loop_init(&s->loop), 0);
	assert_int_equal(uv_async_init(&s->loop, &s->stop, server_stop_cb), 0);
	assert_int_equal(metrics_start(&s->loop, &c, s->metrics), 0);
	assert_int_equal(metrics_start(&s->loop, &c, s->metrics), UV_EBUSY);
	assert_int_equal(metrics_sockname(&ss, &len), 0);
	s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	assert_true(s->port > 0);
	assert_int_equal(uv_thread_create(&s->thread, server_thread, s), 0);
}

static void
server_finish(struct server *s)
{
	struct sockaddr_storage	ss;
	int			len;

	assert_int_equal(uv_async_send(&s->stop), 0);
	assert_int_equal(uv_thread_join(&s->thread), 0);
	/* Every handle was closed. */
	assert_int_equal(uv_loop_close(&s->loop), 0);
	assert_int_equal(metrics_sockname(&ss, &len), UV_EINVAL);
	metrics_free(s->metrics);
}

static int
client_connect(int port)
{
	struct sockaddr_in	sin;
	struct timeval		tv = { 15, 0 };
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	return fd;
}

static void
client_send(int fd, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Reads until the server closes; returns the octets (NUL-terminated), or
 * NULL if the connection was reset before any. */
static char *
client_read_all(int fd, size_t *len)
{
	char	*out = malloc(TEST_RESPONSE_MAX + 1);
	size_t	 n = 0;
	ssize_t	 r;

	assert_non_null(out);
	for (;;) {
		r = recv(fd, out + n, TEST_RESPONSE_MAX - n, 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET && n > 0))
			break;
		if (r < 0 && errno == ECONNRESET) {
			free(out);
			return NULL;
		}
		assert_true(r > 0);
		n += (size_t)r;
		assert_true(n < TEST_RESPONSE_MAX);
	}
	out[n] = '\0';
	*len = n;
	return out;
}

/* One request on a fresh connection; returns the whole response. */
static char *
exchange(int port, const char *req, size_t reqlen, size_t *len)
{
	char	*resp;
	int	 fd = client_connect(port);

	client_send(fd, req, reqlen);
	resp = client_read_all(fd, len);
	assert_non_null(resp);
	close(fd);
	return resp;
}

/* Checks the status line and framing; returns the body. */
static const char *
check_response(const char *resp, size_t len, int status, bool body)
{
	const char	*end, *cl;
	char		 line[64];
	unsigned long	 clen;

	snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
	if (strncmp(resp, line, strlen(line)) != 0)
		fail_msg("want %d, got %.40s", status, resp);
	end = strstr(resp, "\r\n\r\n");
	assert_non_null(end);
	end += 4;
	assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));
	cl = strstr(resp, "\r\nContent-Length: ");
	assert_true(cl != NULL && cl < end);
	clen = strtoul(cl + 18, NULL, 10);
	assert_int_equal(len - (size_t)(end - resp), body ? clen : 0);
	if (body)
		assert_true(clen > 0);
	return end;
}

static void
check_exchange(int port, const char *req, int status, bool body)
{
	char	*resp;
	size_t	 len;

	resp = exchange(port, req, strlen(req), &len);
	check_response(resp, len, status, body);
	free(resp);
}

static void
test_http_responses(void **state)
{
	struct server	 s;
	char		*resp, *big;
	const char	*body;
	size_t		 len, n;

	(void)state;
	server_start(&s);
	metrics_login(s.metrics, METRICS_METHOD_LOGIN, METRICS_LOGIN_TEMP);

	resp = exchange(s.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
	    strlen("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), &len);
	body = check_response(resp, len, 200, true);
	assert_non_null(strstr(resp, "\r\nContent-Type: text/plain; "
	    "version=0.0.4; charset=utf-8\r\n"));
	assert_true(strncmp(body, "# HELP popgate_build_info ", 26) == 0);
	check_sample(body, "popgate_logins_total{method=\"login\","
	    "result=\"temp\"}", "1");
	free(resp);

	/* HEAD: the same head, no body. */
	check_exchange(s.port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200,
	    false);
	/* HTTP/1.0, a query, absolute-form. */
	check_exchange(s.port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n", 200, true);
	check_exchange(s.port, "GET http://127.0.0.1/metrics HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\n\r\n", 200, true);
	/* Other paths, other methods. */
	check_exchange(s.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 404, true);
	check_exchange(s.port, "GET /metrics/ HTTP/1.0\r\n\r\n", 404, true);
	check_exchange(s.port, "HEAD /nope HTTP/1.0\r\n\r\n", 404, false);
	resp = exchange(s.port, "POST /metrics HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 3\r\n\r\nabc", strlen("POST /metrics HTTP/1.1\r\n"
	    "Host: x\r\nContent-Length: 3\r\n\r\nabc"), &len);
	check_response(resp, len, 405, true);
	assert_non_null(strstr(resp, "\r\nAllow: GET, HEAD\r\n"));
	free(resp);
	check_exchange(s.port, "get /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405,
	    true);
	/* Malformed. */
	check_exchange(s.port, "GET /metrics HTTP/1.1\r\n\r\n", 400, true);
	check_exchange(s.port, "GET /metrics HTTP/2.0\r\n\r\n", 400, true);
	check_exchange(s.port, "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400, true);
	check_exchange(s.port, "USER alice\r\n", 400, true);
	check_exchange(s.port, "GET /metrics HTTP/1.1\nHost: x\n\n", 400, true);

	/* Oversized: fields 431, request line 400. */
	big = malloc(3 * HTTP_REQUEST_MAX_OCTETS);
	assert_non_null(big);
	n = (size_t)sprintf(big, "GET /metrics HTTP/1.1\r\nHost: x\r\nX: ");
	memset(big + n, 'a', HTTP_REQUEST_MAX_OCTETS);
	n += HTTP_REQUEST_MAX_OCTETS;
	memcpy(big + n, "\r\n\r\n", 4);
	resp = exchange(s.port, big, n + 4, &len);
	check_response(resp, len, 431, true);
	free(resp);
	n = (size_t)sprintf(big, "GET /");
	memset(big + n, 'a', 2 * HTTP_REQUEST_MAX_OCTETS);
	n += 2 * HTTP_REQUEST_MAX_OCTETS;
	n += (size_t)sprintf(big + n, " HTTP/1.1\r\nHost: x\r\n\r\n");
	resp = exchange(s.port, big, n, &len);
	check_response(resp, len, 400, true);
	free(resp);
	free(big);
	server_finish(&s);
}

static void
sleep_ms(unsigned int ms)
{
	struct timespec	ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A request that trickles in, octet by octet and in parts, is answered
 * once complete; a connection that closes early gets nothing. */
static void
test_http_split(void **state)
{
	static const char	 req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct server		 s;
	char			*resp;
	size_t			 i, len;
	int			 fd;

	(void)state;
	server_start(&s);
	fd = client_connect(s.port);
	for (i = 0; i < sizeof(req) - 1; i++) {
		client_send(fd, req + i, 1);
		if (i % 8 == 0)
			sleep_ms(2);
	}
	resp = client_read_all(fd, &len);
	assert_non_null(resp);
	check_response(resp, len, 200, true);
	free(resp);
	close(fd);

	/* Half a request, then the client's end: closed, no reply. */
	fd = client_connect(s.port);
	client_send(fd, req, 10);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	resp = client_read_all(fd, &len);
	assert_true(resp == NULL || len == 0);
	free(resp);
	close(fd);
	server_finish(&s);
}

/* Sixteen idle connections fill the endpoint; the seventeenth is closed
 * at once; a slot that frees up is used again; idle connections are
 * closed after the timeout. */
static void
test_http_cap_and_timeout(void **state)
{
	static const char	 req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct server		 s;
	int			 idle[METRICS_MAX_CONNECTIONS], fd;
	char			*resp, c;
	size_t			 len;
	unsigned int		 i, tries;
	double			 t0, t;
	ssize_t			 r;

	(void)state;
	server_start(&s);
	t0 = now_s();
	for (i = 0; i < METRICS_MAX_CONNECTIONS; i++)
		idle[i] = client_connect(s.port);
	sleep_ms(200);

	/* Over the cap: closed before any reply. */
	for (i = 0; i < 3; i++) {
		t = now_s();
		fd = client_connect(s.port);
		r = recv(fd, &c, 1, 0);
		assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
		assert_true(now_s() - t < 2.0);
		close(fd);
	}

	/* An idle connection still in its slot is served. */
	client_send(idle[0], req, sizeof(req) - 1);
	resp = client_read_all(idle[0], &len);
	assert_non_null(resp);
	check_response(resp, len, 200, true);
	free(resp);
	close(idle[0]);
	/* Its slot comes free, and a new connection gets it. */
	sleep_ms(50);
	for (tries = 0; ; tries++) {
		assert_true(tries < 100);
		fd = client_connect(s.port);
		client_send(fd, req, sizeof(req) - 1);
		resp = client_read_all(fd, &len);
		close(fd);
		if (resp != NULL && len > 0) {
			check_response(resp, len, 200, true);
			free(resp);
			break;
		}
		free(resp);
		sleep_ms(20);
	}

	/* The others time out. */
	for (i = 1; i < METRICS_MAX_CONNECTIONS; i++) {
		r = recv(idle[i], &c, 1, 0);
		assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
		close(idle[i]);
	}
	t = now_s() - t0;
	assert_true(t >= METRICS_TIMEOUT_MS / 1000.0 - 0.5);
	assert_true(t < METRICS_TIMEOUT_MS / 1000.0 + 3.0);
	server_finish(&s);
}

/* metrics_stop() with connections open: they are closed and the loop
 * ends with nothing left. */
static void
test_http_stop_with_connections(void **state)
{
	struct server	 s;
	int		 fd[3];
	unsigned int	 i;
	char		 c;
	ssize_t		 r;

	(void)state;
	server_start(&s);
	for (i = 0; i < 3; i++)
		fd[i] = client_connect(s.port);
	client_send(fd[1], "GET /met", 8);
	sleep_ms(100);
	server_finish(&s);
	for (i = 0; i < 3; i++) {
		r = recv(fd[i], &c, 1, 0);
		assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
		close(fd[i]);
	}
}

static void
test_start_errors(void **state)
{
	struct config		 c;
	struct sockaddr_in	 sin;
	struct sockaddr_storage	 ss;
	socklen_t		 slen = sizeof(sin);
	uv_loop_t		 loop;
	int			 fd, len;

	(void)state;
	test_config(&c);
	assert_int_equal(uv_loop_init(&loop), 0);
	/* Off: nothing happens. */
	c.metrics_addrlen = 0;
	assert_int_equal(metrics_start(&loop, &c, NULL), 0);
	assert_int_equal(metrics_sockname(&ss, &len), UV_EINVAL);
	metrics_stop();
	/* Address in use: an error, and nothing left open. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	memcpy(&c.metrics_addr, &sin, sizeof(sin));
	c.metrics_addrlen = sizeof(sin);
	assert_int_equal(metrics_start(&loop, &c, NULL), UV_EADDRINUSE);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_render_known_sequence),
		cmocka_unit_test(test_render_no_listeners),
		cmocka_unit_test(test_two_objects),
		cmocka_unit_test(test_render_bounded),
		cmocka_unit_test(test_tls_version_names),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_http_responses),
		cmocka_unit_test(test_http_split),
		cmocka_unit_test(test_http_stop_with_connections),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test(test_http_cap_and_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
