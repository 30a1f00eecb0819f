/* SPDX-License-Identifier: MIT */
/*
 * session.h - one POP3 client connection: bytes <-> pop3 engine <-> upstream
 * IMAP client, with its timers and its logging. Lives on one worker loop.
 */
#ifndef POPGATE_SESSION_H
#define POPGATE_SESSION_H

#include <uv.h>

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

#endif
