/* SPDX-License-Identifier: MIT */
/*
 * http_server.c - the small HTTP/1.x server (http_server.h).
 *
 * A fixed pool of connection slots, allocated at start (no allocation
 * afterwards besides the reply), a small pool of handles for connections
 * closed at accept, and a "pending accept" flag for the moment both are
 * busy (libuv then holds the connection and pauses the listener until a
 * slot is free). The server counts its open handles and frees itself once
 * it is stopped and the last one is closed.
 */
#include "http_server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"
#include "stream.h"

/* Closed-at-accept handles that may be closing at the same time. */
#define HTTP_SERVER_REJECT_HANDLES	4
/* After the response, input is read and dropped (so the close does not
 * reset the connection under the reply) up to this much. */
#define HTTP_SERVER_MAX_DISCARD_OCTETS	(64 * 1024)
#define HTTP_SERVER_MAX_REPLY_HEAD	512
#define HTTP_SERVER_LISTEN_BACKLOG	32
#define HTTP_SERVER_ERROR_TYPE		"text/plain; charset=utf-8"

struct http_conn {
	struct http_server	*srv;
	uv_tcp_t		 tcp;
	uv_timer_t		 timer;
	struct stream		 wr;		/* writes head, then shuts down */
	uv_shutdown_t		 shutdown;
	bool			 in_use;
	bool			 closing;
	bool			 answered;	/* reply queued; input dropped */
	bool			 eof;
	bool			 replied;	/* reply written and shut down */
	unsigned int		 open_handles;
	size_t			 inlen;
	size_t			 discarded;
	struct buf		 head;
	struct buf		 body;
	unsigned char		 in[HTTP_REQUEST_MAX_OCTETS];
};

struct http_server {
	uv_loop_t		*loop;
	struct http_server_config cfg;
	uv_tcp_t		 listener;
	bool			 running;
	bool			 accept_pending;
	unsigned int		 open_handles;	/* freed when 0 and stopped */
	struct http_conn	*conns;
	uv_tcp_t		 reject[HTTP_SERVER_REJECT_HANDLES];
	bool			 reject_busy[HTTP_SERVER_REJECT_HANDLES];
};

static void	http_on_connection(uv_stream_t *server, int status);

/* One handle of the server closed: the last one after a stop frees it. */
static void
http_server_release(struct http_server *s)
{
	if (--s->open_handles == 0 && !s->running) {
		free(s->conns);
		free(s);
	}
}

/* A slot or a reject handle came free: take a connection libuv holds. */
static void
http_resume_accept(struct http_server *s)
{
	if (s->running && s->accept_pending) {
		s->accept_pending = false;
		http_on_connection((uv_stream_t *)&s->listener, 0);
	}
}

static void
http_conn_closed(uv_handle_t *h)
{
	struct http_conn	*c = h->data;
	struct http_server	*s = c->srv;

	if (--c->open_handles == 0) {
		stream_deinit(&c->wr);
		buf_deinit(&c->head);
		buf_deinit(&c->body);
		c->in_use = false;
		http_resume_accept(s);
	}
	http_server_release(s);
}

static void
http_conn_close(struct http_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, http_conn_closed);
	uv_close((uv_handle_t *)&c->timer, http_conn_closed);
}

static void
http_on_timeout(uv_timer_t *t)
{
	http_conn_close(t->data);
}

static void
http_on_shutdown(uv_shutdown_t *req, int status)
{
	struct http_conn	*c = req->data;

	c->replied = true;
	/* Otherwise wait for the client's end of file (or the timer). */
	if (status < 0 || c->eof)
		http_conn_close(c);
}

/* Writes the reply; once it is all out, shuts the write side down. */
static void
http_flush(struct http_conn *c)
{
	if (stream_flush(&c->wr) < 0) {
		http_conn_close(c);
		return;
	}
	if (stream_busy(&c->wr))
		return;
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp,
	    http_on_shutdown) != 0)
		http_conn_close(c);
}

static void
http_on_written(void *arg, size_t n, int status)
{
	struct http_conn	*c = arg;

	(void)n;
	if (status < 0 || c->closing) {
		http_conn_close(c);
		return;
	}
	http_flush(c);
}

static const struct stream_callbacks http_stream_cb = {
	.written = http_on_written,
};

/* The reason phrase the server sends for status. */
static const char *
http_status_text(int status)
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

struct buf *
http_conn_body(struct http_conn *c)
{
	return &c->body;
}

void
http_conn_reply(struct http_conn *c, int status, const char *content_type,
    bool send_body)
{
	const char	*allow = c->srv->cfg.allow;

	c->answered = true;
	if (buf_appendf(&c->head, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s%s%s"
	    "Cache-Control: no-store\r\n"
	    "Connection: close\r\n"
	    "\r\n", status, http_status_text(status), content_type,
	    c->body.len,
	    status == 405 && allow != NULL ? "Allow: " : "",
	    status == 405 && allow != NULL ? allow : "",
	    status == 405 && allow != NULL ? "\r\n" : "") != 0) {
		http_conn_close(c);
		return;
	}
	/* One copy of the body buys one writer for every socket. */
	if (send_body && buf_append(&c->head, c->body.data, c->body.len) != 0) {
		http_conn_close(c);
		return;
	}
	http_flush(c);
}

void
http_conn_error(struct http_conn *c, int status, bool send_body)
{
	buf_reset(&c->body);
	if (buf_appendf(&c->body, "%s\n", http_status_text(status)) != 0) {
		c->answered = true;
		http_conn_close(c);
		return;
	}
	http_conn_reply(c, status, HTTP_SERVER_ERROR_TYPE, send_body);
}

bool
http_target_path(const unsigned char *t, size_t n, const unsigned char **p,
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

/* A verdict on the head: errors are answered here, a request by the
 * owner's handler. */
static void
http_answer(struct http_conn *c, enum http_request_result r,
    const struct http_request *req)
{
	const struct http_server_config	*cfg = &c->srv->cfg;

	if (r == HTTP_REQUEST_FIELDS_TOO_LARGE) {
		http_conn_error(c, 431, true);
		return;
	}
	if (r != HTTP_REQUEST_DONE) {
		http_conn_error(c, 400, true);
		return;
	}
	cfg->handler(cfg->arg, c, c->in, req->method_len,
	    c->in + req->target_off, req->target_len);
	if (!c->answered)
		http_conn_error(c, 500, true);
}

static void
http_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct http_conn	*c = h->data;

	(void)suggested;
	if (c->answered)
		*b = uv_buf_init((char *)c->in, sizeof(c->in));
	else
		*b = uv_buf_init((char *)c->in + c->inlen,
		    (unsigned int)(c->srv->cfg.max_head_octets - c->inlen));
}

static void
http_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct http_conn		*c = st->data;
	size_t				 max = c->srv->cfg.max_head_octets;
	struct http_request		 req;
	enum http_request_result	 r;

	if (c->closing)
		return;
	if (nread < 0) {
		/* Before a reply the client gave up; after it, the close
		 * waits for the reply to be written. */
		c->eof = true;
		uv_read_stop(st);
		if (!c->answered || c->replied)
			http_conn_close(c);
		return;
	}
	if (c->answered) {
		c->discarded += (size_t)nread;
		if (c->discarded > HTTP_SERVER_MAX_DISCARD_OCTETS)
			http_conn_close(c);
		return;
	}
	c->inlen += (size_t)nread;
	/* A verdict needs a new LF or a full buffer; skip the rescan of a
	 * head that trickles in without either. */
	if (nread == 0 || (memchr(b->base, '\n', (size_t)nread) == NULL &&
	    c->inlen < max))
		return;
	r = http_request_parse(c->in, c->inlen, &req, NULL);
	/* A limit below the parser's: a full buffer is the parser's answer
	 * at its own limit, 431 past the request line, 400 within it. */
	if (r == HTTP_REQUEST_NEED_MORE && c->inlen >= max)
		r = memchr(c->in, '\n', c->inlen) != NULL ?
		    HTTP_REQUEST_FIELDS_TOO_LARGE : HTTP_REQUEST_BAD;
	if (r != HTTP_REQUEST_NEED_MORE)
		http_answer(c, r, &req);
}

static void
http_reject_closed(uv_handle_t *h)
{
	struct http_server	*s = h->data;
	size_t			 i = (size_t)((uv_tcp_t *)h - s->reject);

	s->reject_busy[i] = false;
	http_resume_accept(s);
	http_server_release(s);
}

/* Over the connection limit: accept and close at once. */
static void
http_reject(struct http_server *s)
{
	size_t	i;

	for (i = 0; i < HTTP_SERVER_REJECT_HANDLES; i++)
		if (!s->reject_busy[i])
			break;
	if (i == HTTP_SERVER_REJECT_HANDLES) {
		/* libuv keeps the connection and pauses the listener. */
		s->accept_pending = true;
		return;
	}
	s->reject_busy[i] = true;
	uv_tcp_init(s->loop, &s->reject[i]);
	s->reject[i].data = s;
	s->open_handles++;
	(void)uv_accept((uv_stream_t *)&s->listener,
	    (uv_stream_t *)&s->reject[i]);
	uv_close((uv_handle_t *)&s->reject[i], http_reject_closed);
}

static void
http_on_connection(uv_stream_t *server, int status)
{
	struct http_server	*s = server->data;
	struct http_conn	*c = NULL;
	size_t			 i;

	if (status < 0 || !s->running)
		return;
	for (i = 0; i < s->cfg.max_connections; i++)
		if (!s->conns[i].in_use) {
			c = &s->conns[i];
			break;
		}
	if (c == NULL) {
		http_reject(s);
		return;
	}
	memset(c, 0, offsetof(struct http_conn, in));
	c->srv = s;
	c->in_use = true;
	c->open_handles = 2;
	s->open_handles += 2;
	buf_init(&c->head, HTTP_SERVER_MAX_REPLY_HEAD + s->cfg.max_body_octets);
	buf_init(&c->body, s->cfg.max_body_octets);
	uv_tcp_init(s->loop, &c->tcp);
	stream_init(&c->wr, (uv_stream_t *)&c->tcp, &c->head, 0, 0,
	    &http_stream_cb, c);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, http_on_alloc,
	    http_on_read) != 0) {
		http_conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, http_on_timeout, s->cfg.timeout_ms, 0);
}

static void
http_listener_closed(uv_handle_t *h)
{
	http_server_release(h->data);
}

int
http_server_start(uv_loop_t *loop, const struct http_server_config *cfg,
    struct http_server **out)
{
	struct http_server	*s;
	unsigned int		 flags = 0;
	int			 r;

	if (cfg->max_connections == 0 || cfg->handler == NULL ||
	    cfg->max_head_octets > HTTP_REQUEST_MAX_OCTETS)
		return UV_EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->conns = calloc(cfg->max_connections,
	    sizeof(*s->conns))) == NULL) {
		free(s);
		return UV_ENOMEM;
	}
	s->loop = loop;
	s->cfg = *cfg;
	s->cfg.addr = NULL;	/* the caller's; only bind needs it */
	if (s->cfg.max_head_octets == 0)
		s->cfg.max_head_octets = HTTP_REQUEST_MAX_OCTETS;
	if ((r = uv_tcp_init(loop, &s->listener)) != 0) {
		free(s->conns);
		free(s);
		return r;
	}
	s->listener.data = s;
	s->open_handles = 1;
	if (cfg->addr->sa_family == AF_INET6)
		flags = UV_TCP_IPV6ONLY;
	r = uv_tcp_bind(&s->listener, cfg->addr, flags);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&s->listener,
		    HTTP_SERVER_LISTEN_BACKLOG, http_on_connection);
	if (r != 0) {
		uv_close((uv_handle_t *)&s->listener, http_listener_closed);
		return r;
	}
	s->running = true;
	*out = s;
	return 0;
}

int
http_server_sockname(const struct http_server *s, struct sockaddr_storage *ss,
    int *len)
{
	*len = (int)sizeof(*ss);
	return uv_tcp_getsockname(&s->listener, (struct sockaddr *)ss, len);
}

void
http_server_stop(struct http_server *s)
{
	size_t	i;

	if (s == NULL || !s->running)
		return;
	s->running = false;
	s->accept_pending = false;
	uv_close((uv_handle_t *)&s->listener, http_listener_closed);
	for (i = 0; i < s->cfg.max_connections; i++)
		if (s->conns[i].in_use)
			http_conn_close(&s->conns[i]);
}
