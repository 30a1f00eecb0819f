/* SPDX-License-Identifier: MIT */
/*
 * session.h - one POP3 client connection: bytes <-> pop3 engine <-> upstream
 * IMAP client, with its timers and its logging. Lives on one worker loop.
 */
#ifndef POPGATE_SESSION_H
#define POPGATE_SESSION_H

#include <stdbool.h>

#include <uv.h>

struct account;
struct config_network;
struct sockaddr;
struct worker;
struct session;

/* Accepts one connection from server and starts a session on it. */
void	session_accept(struct worker *w, uv_stream_t *server);
/* Ends the session now (idempotent); reason goes to the log. Deletions are
 * never committed this way. */
void	session_close(struct session *s, const char *reason);
/* A forced stop (second signal, drain timeout): session_close(), and a
 * QUIT commit still running for a client that hung up ends too. */
void	session_abort(struct session *s);
/* Shutdown: close now if idle, else once the current command is done. */
void	session_shutdown(struct session *s);
/* Next session in the worker's list (for iteration that may close). */
struct session *session_next(struct session *s);

/* True if peer lies in one of the n networks (net/'s addr_in_network()
 * decides: an IPv4-mapped peer also lies in the IPv4 ones). */
bool	session_peer_in(const struct config_network *nets, unsigned int n,
	    const struct sockaddr *peer);
/* True if a has no networks= (any client) or peer lies in one of them;
 * false for a peer with no address (NULL). */
bool	account_allows(const struct account *a, const struct sockaddr *peer);

#endif
