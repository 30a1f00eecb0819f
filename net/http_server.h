/* SPDX-License-Identifier: MIT */
/*
 * http_server.h - a small HTTP/1.0 and 1.1 server on one libuv loop.
 *
 * It listens on one address and answers one request per connection, then
 * closes: the head is read into a fixed buffer and checked by
 * proto/http_request.c, a malformed head is answered 400 and fields too
 * large 431 without the owner hearing of it, and a valid one goes to the
 * owner's handler, which answers with a status, a content type and a body.
 * At most max_connections are served at once (more are closed at accept);
 * each has timeout_ms for its whole life. Every reply carries
 * Content-Length, Cache-Control: no-store and Connection: close.
 *
 * It knows nothing of what it serves: the metrics endpoint is one owner.
 */
#ifndef POPGATE_HTTP_SERVER_H
#define POPGATE_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "buf.h"

struct http_server;
struct http_conn;

/*
 * Called once per connection with a complete, valid request head; method
 * and target point into the connection's buffer and live until the
 * handler returns. The handler answers before it returns, with
 * http_conn_reply() or http_conn_error(); if it does not, the server
 * answers 500.
 */
typedef void	(*http_server_handler)(void *arg, struct http_conn *c,
		    const unsigned char *method, size_t method_len,
		    const unsigned char *target, size_t target_len);

struct http_server_config {
	const struct sockaddr	*addr;
	unsigned int		 max_connections;
	uint64_t		 timeout_ms;	/* whole life of a connection */
	/* Longest request head, up to HTTP_REQUEST_MAX_OCTETS; 0 means
	 * that. */
	size_t			 max_head_octets;
	size_t			 max_body_octets;	/* of a reply */
	const char		*allow;	/* Allow field of a 405, or NULL */
	http_server_handler	 handler;
	void			*arg;
};

/* Binds and listens; *out is the server. A UV_E* code on error (the
 * listener is then closed on the loop's next turn). */
int	http_server_start(uv_loop_t *loop, const struct http_server_config *cfg,
	    struct http_server **out);
/* The bound address (port 0 gets one from the kernel). */
int	http_server_sockname(const struct http_server *s,
	    struct sockaddr_storage *ss, int *len);
/* Closes the listener and every connection; the server is freed once its
 * handles are closed, on the loop. s may be NULL. */
void	http_server_stop(struct http_server *s);

/* The reply body, empty, bounded by max_body_octets: the handler writes
 * into it, then calls http_conn_reply(). */
struct buf	*http_conn_body(struct http_conn *c);
/* Answers status with the body in http_conn_body(); send_body false
 * sends the head only (HEAD), Content-Length still the body's. */
void	http_conn_reply(struct http_conn *c, int status,
	    const char *content_type, bool send_body);
/* Answers status with its reason phrase as a text/plain body. */
void	http_conn_error(struct http_conn *c, int status, bool send_body);

/*
 * The path of a request target: origin-form "/p?q" gives "/p";
 * absolute-form "http://host/p?q" too (RFC 9112 sec. 3.2.2). Returns
 * false for any other form.
 */
bool	http_target_path(const unsigned char *t, size_t n,
	    const unsigned char **p, size_t *plen);

#endif
