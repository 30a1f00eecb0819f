/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - one instance's counters and the Prometheus text endpoint.
 *
 * Counters: an object (struct metrics) the caller creates and hands in;
 * main puts its one in struct shared, where the sessions reach it. Inside,
 * C11 atomics, relaxed, no lock; every counting function may be called
 * from any worker thread at any time between metrics_new() and
 * metrics_free(). Labels come only from the enums below and the
 * configured listener names, so the set of series is fixed when the object
 * is made; an out-of-range enum or listener index is ignored.
 *
 * Endpoint: net/http_server.c's small HTTP/1.0 and 1.1 server on one
 * libuv loop (the main thread's), bound to config metrics_addr. GET or
 * HEAD /metrics answers 200 with the exposition; another path 404,
 * another method 405, a malformed or oversized request 400, oversized
 * header fields 431. One response per connection, then close. At most METRICS_MAX_CONNECTIONS at
 * once (more are closed at accept), METRICS_TIMEOUT_MS per connection.
 */
#ifndef POPGATE_METRICS_H
#define POPGATE_METRICS_H

#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "buf.h"
#include "config.h"

#define METRICS_MAX_CONNECTIONS	16
/* Whole life of one endpoint connection, request and response. */
#define METRICS_TIMEOUT_MS	10000
/* Largest exposition rendered for a scrape. */
#define METRICS_MAX_BODY_OCTETS	(1024 * 1024)

enum metrics_login_result {
	METRICS_LOGIN_OK,
	METRICS_LOGIN_AUTH,
	METRICS_LOGIN_TEMP,
	METRICS_LOGIN_PERM,
	METRICS_LOGIN_IN_USE,
	METRICS_LOGIN_REFUSED,	/* plaintext policy, malformed */
	METRICS_LOGIN_COUNT
};

enum metrics_method {
	METRICS_METHOD_USER,
	METRICS_METHOD_PLAIN,
	METRICS_METHOD_LOGIN,
	METRICS_METHOD_XOAUTH2,
	METRICS_METHOD_OAUTHBEARER,
	METRICS_METHOD_APOP,
	METRICS_METHOD_COUNT
};

enum metrics_tls_version {
	METRICS_TLS_1_0,
	METRICS_TLS_1_1,
	METRICS_TLS_1_2,
	METRICS_TLS_1_3,
	METRICS_TLS_OTHER,
	METRICS_TLS_COUNT
};

enum metrics_upstream_error {
	METRICS_UPSTREAM_CONNECT,
	METRICS_UPSTREAM_TLS,
	METRICS_UPSTREAM_TIMEOUT,
	METRICS_UPSTREAM_PROTOCOL,
	METRICS_UPSTREAM_CLOSED,
	METRICS_UPSTREAM_FOREIGN_BODY,	/* body data for another UID dropped */
	METRICS_UPSTREAM_SIZE_MISMATCH,	/* RETR data != the announced size */
	METRICS_UPSTREAM_ERROR_COUNT
};

/* A commit cut short, finished at the mailbox's next login (pending.h). */
enum metrics_resume {
	METRICS_RESUME_OK,		/* every recorded UID is gone */
	METRICS_RESUME_INCOMPLETE,	/* some remain; kept for next time */
	METRICS_RESUME_STALE,		/* UIDVALIDITY changed; dropped */
	METRICS_RESUME_COUNT
};

enum metrics_latency {
	METRICS_LATENCY_CONNECT,
	METRICS_LATENCY_LOGIN,
	METRICS_LATENCY_FETCH_FIRST_BYTE,
	METRICS_LATENCY_COUNT
};

enum metrics_refusal {
	METRICS_REFUSED_SESSION_LIMIT,
	METRICS_REFUSED_ADDRESS_LIMIT,
	METRICS_REFUSED_ADDRESS_RATE,
	METRICS_REFUSED_PROXY,
	METRICS_REFUSED_COUNT
};

struct metrics;

/* Before workers start: copies c's listener names for labels; every
 * counter starts at zero. Returns NULL when out of memory. */
struct metrics	*metrics_new(const struct config *c);
/* Once nothing counts into m or renders it any more. NULL is ignored. */
void		 metrics_free(struct metrics *m);

/* listener indexes c->listeners. A session counts from accept to close,
 * refused ones included; the end adds its traffic and message counts. */
void	metrics_session_start(struct metrics *m, unsigned int listener);
void	metrics_session_end(struct metrics *m, unsigned int listener,
	    uint64_t bytes_in, uint64_t bytes_out, uint32_t retr, uint32_t top,
	    uint32_t dele_committed);
void	metrics_session_refused(struct metrics *m, unsigned int listener,
	    enum metrics_refusal why);
void	metrics_login(struct metrics *m, enum metrics_method meth,
	    enum metrics_login_result r);
void	metrics_tls_handshake(struct metrics *m, unsigned int listener,
	    enum metrics_tls_version v);
/* OpenSSL's SSL_get_version() names: "TLSv1", "TLSv1.1", "TLSv1.2",
 * "TLSv1.3"; anything else (NULL too) is METRICS_TLS_OTHER. */
enum metrics_tls_version metrics_tls_version_from_name(const char *name);
void	metrics_tls_failed(struct metrics *m, unsigned int listener);
void	metrics_upstream_error(struct metrics *m,
	    enum metrics_upstream_error e);
/* One observation, in microseconds, into a histogram of fixed buckets
 * from 1 ms to 30 s. */
void	metrics_latency(struct metrics *m, enum metrics_latency which,
	    uint64_t microseconds);
void	metrics_commit_resumed(struct metrics *m, enum metrics_resume r);

/*
 * OAuth2 token sources, asked at each scrape on the endpoint's loop: the
 * i-th source's name, seconds until its access token expires (-1: none
 * held), whether it holds a refresh token, and how many of its tokens an
 * upstream refused. Returns false past the last. Set on m (NULL fn: no
 * sources), on the thread that renders it.
 */
typedef bool	metrics_oauth2_fn(void *arg, unsigned int i, const char **name,
		    long *expires_in, bool *has_refresh, uint64_t *refused);
void	metrics_set_oauth2(struct metrics *m, metrics_oauth2_fn *fn,
	    void *arg);

/* Appends m's exposition (Prometheus text format 0.0.4) to out. Returns 0
 * or buf_append()'s error; out may then hold part of it. */
int	metrics_render(struct metrics *m, struct buf *out);

/* Starts the endpoint serving m on loop if c->metrics_addrlen != 0 (else
 * does nothing). Call on loop's thread, once; m must outlive
 * metrics_stop(). Returns 0 or a negative uv error; nothing is left open
 * on error. */
int	metrics_start(uv_loop_t *loop, const struct config *c,
	    struct metrics *m);
/* The address the endpoint listens on (port 0 in the config picks one).
 * Returns 0 or a negative uv error (UV_EINVAL when not started). */
int	metrics_sockname(struct sockaddr_storage *ss, int *len);
/* Closes the listener and every open connection, on the loop's thread;
 * their handles close on the loop's next turn, after which the loop can
 * end. Safe when not started, and twice. */
void	metrics_stop(void);

#endif
