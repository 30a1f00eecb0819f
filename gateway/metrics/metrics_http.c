/* SPDX-License-Identifier: MIT */
/*
 * metrics_http.c - the small HTTP/1.x server that serves the exposition
 * (exposition.c) on the main loop.
 *
 * A single instance: a fixed pool of METRICS_MAX_CONNECTIONS connection
 * slots (no allocation besides the response), a small pool of handles
 * for connections closed at accept, and a "pending accept" flag for the
 * moment both are busy (libuv then holds the connection and pauses the
 * listener until a slot is free).
 */
#include "metrics.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "http_request.h"
#include "stream.h"

/* Closed-at-accept handles that may be closing at the same time. */
#define METRICS_REJECT_HANDLES	4
/* After the response, input is read and dropped (so the close does not
 * reset the connection under the reply) up to this much. */
#define METRICS_MAX_DISCARD_OCTETS	(64 * 1024)
#define METRICS_MAX_HEAD_OCTETS		512
#define METRICS_LISTEN_BACKLOG		32
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

struct metrics_conn {
	uv_tcp_t	tcp;
	uv_timer_t	timer;
	struct stream	wr;		/* writes head, then shuts down */
	uv_shutdown_t	shutdown;
	bool		in_use;
	bool		closing;
	bool		answered;	/* reply queued; input is dropped */
	bool		eof;
	bool		replied;	/* reply written and shut down */
	unsigned int	open_handles;
	size_t		inlen;
	size_t		discarded;
	struct buf	head;
	struct buf	body;
	unsigned char	in[HTTP_REQUEST_MAX_OCTETS];
};

struct metrics_server {
	uv_loop_t		*loop;
	struct metrics		*metrics;	/* what GET /metrics renders */
	uv_tcp_t		 listener;
	bool			 running;
	bool			 accept_pending;
	struct metrics_conn	 conns[METRICS_MAX_CONNECTIONS];
	uv_tcp_t		 reject[METRICS_REJECT_HANDLES];
	bool			 reject_busy[METRICS_REJECT_HANDLES];
};

static struct metrics_server	metrics_srv;

static void	metrics_on_connection(uv_stream_t *server, int status);

/* A slot or a reject handle came free: take a connection libuv holds. */
static void
metrics_resume_accept(void)
{
	if (metrics_srv.running && metrics_srv.accept_pending) {
		metrics_srv.accept_pending = false;
		metrics_on_connection((uv_stream_t *)&metrics_srv.listener, 0);
	}
}

static void
metrics_conn_closed(uv_handle_t *h)
{
	struct metrics_conn	*c = h->data;

	if (--c->open_handles > 0)
		return;
	stream_deinit(&c->wr);
	buf_deinit(&c->head);
	buf_deinit(&c->body);
	c->in_use = false;
	metrics_resume_accept();
}

static void
metrics_conn_close(struct metrics_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, metrics_conn_closed);
	uv_close((uv_handle_t *)&c->timer, metrics_conn_closed);
}

static void
metrics_on_timeout(uv_timer_t *t)
{
	metrics_conn_close(t->data);
}

static void
metrics_on_shutdown(uv_shutdown_t *req, int status)
{
	struct metrics_conn	*c = req->data;

	c->replied = true;
	/* Otherwise wait for the client's end of file (or the timer). */
	if (status < 0 || c->eof)
		metrics_conn_close(c);
}

/* Writes the reply; once it is all out, shuts the write side down. */
static void
metrics_flush(struct metrics_conn *c)
{
	if (stream_flush(&c->wr) < 0) {
		metrics_conn_close(c);
		return;
	}
	if (stream_busy(&c->wr))
		return;
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp,
	    metrics_on_shutdown) != 0)
		metrics_conn_close(c);
}

static void
metrics_on_written(void *arg, size_t n, int status)
{
	struct metrics_conn	*c = arg;

	(void)n;
	if (status < 0 || c->closing) {
		metrics_conn_close(c);
		return;
	}
	metrics_flush(c);
}

static const struct stream_callbacks metrics_stream_cb = {
	.written = metrics_on_written,
};

static const char *
metrics_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	default:
		return "Internal Server Error";
	}
}

/* Queues the response; c->body holds the body already. */
static void
metrics_reply(struct metrics_conn *c, int status, bool send_body)
{
	c->answered = true;
	if (buf_appendf(&c->head, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s"
	    "Cache-Control: no-store\r\n"
	    "Connection: close\r\n"
	    "\r\n", status, metrics_status_text(status),
	    status == 200 ? METRICS_CONTENT_TYPE : "text/plain; charset=utf-8",
	    c->body.len, status == 405 ? "Allow: GET, HEAD\r\n" : "") != 0) {
		metrics_conn_close(c);
		return;
	}
	/* One copy of a scrape's body buys one writer for every socket. */
	if (send_body && buf_append(&c->head, c->body.data, c->body.len) != 0) {
		metrics_conn_close(c);
		return;
	}
	metrics_flush(c);
}

static void
metrics_reply_error(struct metrics_conn *c, int status, bool send_body)
{
	buf_reset(&c->body);
	if (buf_appendf(&c->body, "%s\n", metrics_status_text(status)) != 0) {
		metrics_conn_close(c);
		return;
	}
	metrics_reply(c, status, send_body);
}

/*
 * The path of a request target: origin-form "/p?q" gives "/p";
 * absolute-form "http://host/p?q" too (RFC 9112 sec. 3.2.2). Returns
 * false for any other form.
 */
static bool
metrics_target_path(const unsigned char *t, size_t n, const unsigned char **p,
    size_t *plen)
{
	const unsigned char	*q, *end = t + n;
	size_t			 skip;

	if (n > 7 && http_token_equal(t, 7, "http://"))
		skip = 7;
	else if (n > 8 && http_token_equal(t, 8, "https://"))
		skip = 8;
	else
		skip = 0;
	if (skip > 0) {
		q = memchr(t + skip, '/', n - skip);
		if (q == NULL) {
			*p = (const unsigned char *)"/";
			*plen = 1;
			return true;
		}
		t = q;
	}
	if (t == end || *t != '/')
		return false;
	q = memchr(t, '?', (size_t)(end - t));
	*p = t;
	*plen = (size_t)((q != NULL ? q : end) - t);
	return true;
}

static void
metrics_answer(struct metrics_conn *c, enum http_request_result r,
    const struct http_request *req)
{
	const unsigned char	*path;
	size_t			 plen;
	bool			 head;

	if (r == HTTP_REQUEST_FIELDS_TOO_LARGE) {
		metrics_reply_error(c, 431, true);
		return;
	}
	if (r != HTTP_REQUEST_DONE) {
		metrics_reply_error(c, 400, true);
		return;
	}
	head = req->method_len == 4 && memcmp(c->in, "HEAD", 4) == 0;
	if (!head && !(req->method_len == 3 && memcmp(c->in, "GET", 3) == 0)) {
		metrics_reply_error(c, 405, true);
		return;
	}
	if (!metrics_target_path(c->in + req->target_off, req->target_len,
	    &path, &plen)) {
		metrics_reply_error(c, 400, !head);
		return;
	}
	if (plen != 8 || memcmp(path, "/metrics", 8) != 0) {
		metrics_reply_error(c, 404, !head);
		return;
	}
	if (metrics_render(metrics_srv.metrics, &c->body) != 0) {
		metrics_reply_error(c, 500, !head);
		return;
	}
	metrics_reply(c, 200, !head);
}

static void
metrics_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct metrics_conn	*c = h->data;

	(void)suggested;
	if (c->answered)
		*b = uv_buf_init((char *)c->in, sizeof(c->in));
	else
		*b = uv_buf_init((char *)c->in + c->inlen,
		    (unsigned int)(sizeof(c->in) - c->inlen));
}

static void
metrics_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct metrics_conn		*c = s->data;
	struct http_request		 req;
	enum http_request_result	 r;

	if (c->closing)
		return;
	if (nread < 0) {
		/* Before a reply the client gave up; after it, the close
		 * waits for the reply to be written. */
		c->eof = true;
		uv_read_stop(s);
		if (!c->answered || c->replied)
			metrics_conn_close(c);
		return;
	}
	if (c->answered) {
		c->discarded += (size_t)nread;
		if (c->discarded > METRICS_MAX_DISCARD_OCTETS)
			metrics_conn_close(c);
		return;
	}
	c->inlen += (size_t)nread;
	/* A verdict needs a new LF or a full buffer; skip the rescan of a
	 * head that trickles in without either. */
	if (nread == 0 || (memchr(b->base, '\n', (size_t)nread) == NULL &&
	    c->inlen < sizeof(c->in)))
		return;
	r = http_request_parse(c->in, c->inlen, &req, NULL);
	if (r != HTTP_REQUEST_NEED_MORE)
		metrics_answer(c, r, &req);
}

static void
metrics_reject_closed(uv_handle_t *h)
{
	size_t	i = (size_t)((uv_tcp_t *)h - metrics_srv.reject);

	metrics_srv.reject_busy[i] = false;
	metrics_resume_accept();
}

/* Over the connection limit: accept and close at once. */
static void
metrics_reject(uv_stream_t *server)
{
	size_t	i;

	for (i = 0; i < METRICS_REJECT_HANDLES; i++)
		if (!metrics_srv.reject_busy[i])
			break;
	if (i == METRICS_REJECT_HANDLES) {
		/* libuv keeps the connection and pauses the listener. */
		metrics_srv.accept_pending = true;
		return;
	}
	metrics_srv.reject_busy[i] = true;
	uv_tcp_init(metrics_srv.loop, &metrics_srv.reject[i]);
	(void)uv_accept(server, (uv_stream_t *)&metrics_srv.reject[i]);
	uv_close((uv_handle_t *)&metrics_srv.reject[i], metrics_reject_closed);
}

static void
metrics_on_connection(uv_stream_t *server, int status)
{
	struct metrics_conn	*c = NULL;
	size_t			 i;

	if (status < 0 || !metrics_srv.running)
		return;
	for (i = 0; i < METRICS_MAX_CONNECTIONS; i++)
		if (!metrics_srv.conns[i].in_use) {
			c = &metrics_srv.conns[i];
			break;
		}
	if (c == NULL) {
		metrics_reject(server);
		return;
	}
	memset(c, 0, offsetof(struct metrics_conn, in));
	c->in_use = true;
	c->open_handles = 2;
	buf_init(&c->head, METRICS_MAX_HEAD_OCTETS + METRICS_MAX_BODY_OCTETS);
	buf_init(&c->body, METRICS_MAX_BODY_OCTETS);
	uv_tcp_init(metrics_srv.loop, &c->tcp);
	stream_init(&c->wr, (uv_stream_t *)&c->tcp, &c->head, 0, 0,
	    &metrics_stream_cb, c);
	uv_timer_init(metrics_srv.loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, metrics_on_alloc,
	    metrics_on_read) != 0) {
		metrics_conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, metrics_on_timeout, METRICS_TIMEOUT_MS, 0);
}

int
metrics_start(uv_loop_t *loop, const struct config *c, struct metrics *m)
{
	unsigned int	flags = 0;
	int		r;

	if (c->metrics_addrlen == 0)
		return 0;
	if (metrics_srv.running)
		return UV_EBUSY;
	memset(&metrics_srv, 0, sizeof(metrics_srv));
	metrics_srv.loop = loop;
	metrics_srv.metrics = m;
	if ((r = uv_tcp_init(loop, &metrics_srv.listener)) != 0)
		return r;
	if (c->metrics_addr.ss_family == AF_INET6)
		flags = UV_TCP_IPV6ONLY;
	r = uv_tcp_bind(&metrics_srv.listener,
	    (const struct sockaddr *)&c->metrics_addr, flags);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&metrics_srv.listener,
		    METRICS_LISTEN_BACKLOG, metrics_on_connection);
	if (r != 0) {
		uv_close((uv_handle_t *)&metrics_srv.listener, NULL);
		return r;
	}
	metrics_srv.running = true;
	return 0;
}

int
metrics_sockname(struct sockaddr_storage *ss, int *len)
{
	if (!metrics_srv.running)
		return UV_EINVAL;
	*len = (int)sizeof(*ss);
	return uv_tcp_getsockname(&metrics_srv.listener, (struct sockaddr *)ss,
	    len);
}

void
metrics_stop(void)
{
	size_t	i;

	if (!metrics_srv.running)
		return;
	metrics_srv.running = false;
	metrics_srv.accept_pending = false;
	uv_close((uv_handle_t *)&metrics_srv.listener, NULL);
	for (i = 0; i < METRICS_MAX_CONNECTIONS; i++)
		if (metrics_srv.conns[i].in_use)
			metrics_conn_close(&metrics_srv.conns[i]);
}
