/* SPDX-License-Identifier: MIT */
/*
 * http_client.h - HTTPS POSTs to OAuth2 token endpoints from a libuv loop,
 * through libcurl's multi interface (one uv_poll_t per socket curl opens,
 * one uv_timer_t for its timeouts): the loop never blocks, not even on DNS
 * (curl's threaded resolver). Certificates are always verified; plain
 * http:// is allowed only to a loopback host, for tests. No redirects, no
 * other protocols, bodies at most HTTP_MAX_BODY octets.
 */
#ifndef POPGATE_HTTP_CLIENT_H
#define POPGATE_HTTP_CLIENT_H

#include <stddef.h>

#include <uv.h>

/* Longest response body kept; a longer one fails the request. */
#define HTTP_MAX_BODY		(64 * 1024)
/* Error texts are at most this long. */
#define HTTP_MAX_ERROR		256

struct http_client;
struct http_request;

/*
 * A finished request. error NULL: the server answered with status and
 * body (len octets, NUL-terminated, valid during the call only). error
 * set: no usable answer (status is 0, or the HTTP status if the body was
 * the trouble). The request handle is gone when this is called.
 */
typedef void	http_done_cb(void *arg, long status, const char *body,
		    size_t len, const char *error);

/* A client on loop; all calls below on that loop's thread. NULL if curl
 * could not be set up. */
struct http_client *http_client_new(uv_loop_t *loop);
/*
 * Cancels every request (their callbacks are not called) and closes the
 * client's handles; done(arg), if given, runs on the loop once they are
 * closed and the client is freed. Safe from inside a done callback.
 */
void		http_client_free(struct http_client *c, void (*done)(void *),
		    void *arg);

/*
 * Starts POST url with form_body (application/x-www-form-urlencoded,
 * copied, wiped when done). ca_file NULL or "" uses the system CAs.
 * timeout_ms bounds connect and the whole exchange. Returns the request,
 * or NULL with the reason in err (the callback is then never called).
 */
struct http_request *http_post_form(struct http_client *c, const char *url,
		    const char *form_body, const char *ca_file,
		    unsigned int timeout_ms, http_done_cb *cb, void *arg,
		    char *err, size_t errlen);
/* Stops a request that has not called back yet; cb is never called. */
void		http_request_cancel(struct http_request *r);

/* 0 if url may be used: https://, or http:// to 127.0.0.0/8, ::1 or
 * localhost; else -1 with the reason in err. */
int		http_url_check(const char *url, char *err, size_t errlen);

/*
 * The same POST, blocking (curl_easy_perform): for command-line tools,
 * never for the daemon's loops. On 0, *body (malloc'd, NUL-terminated,
 * the caller wipes and frees it) holds *len octets and *status the HTTP
 * status; on -1, err says why.
 */
int		http_post_form_sync(const char *url, const char *form_body,
		    const char *ca_file, unsigned int timeout_ms, long *status,
		    char **body, size_t *len, char *err, size_t errlen);

#endif
