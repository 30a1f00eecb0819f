/* SPDX-License-Identifier: MIT */
/*
 * session.c - the glue of one POP3 connection: reads command lines, runs the
 * pure engine, turns its steps into upstream requests, streams bodies through
 * the encoder with watermarks, and logs one line per event.
 */
#include "session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_client.h"
#include "lock.h"
#include "log.h"
#include "pop3_body.h"
#include "pop3_line.h"
#include "pop3_session.h"
#include "worker.h"

/* Pending client input: stop reading past this (pipelined commands wait in
 * the kernel's buffer instead of ours). */
#define SESSION_IN_PAUSE_OCTETS		(16 * 1024)
#define SESSION_IN_MAX_OCTETS		(128 * 1024)
/* Ask the upstream for more body data only below this much unsent output. */
#define SESSION_OUT_LOW_WATER_OCTETS	(256 * 1024)
/* Stop running pipelined commands above this much unsent output. */
#define SESSION_OUT_HIGH_WATER_OCTETS	(1024 * 1024)
/* Hard cap on queued output: high water + a window of chunks, doubled by
 * the worst case of LF -> CRLF and dot-stuffing. */
#define SESSION_OUT_MAX_OCTETS		(24 * 1024 * 1024)
#define SESSION_READ_OCTETS		(64 * 1024)
#define SESSION_GREETING		"popgate ready."

struct session {
	struct worker		*worker;
	struct session		*prev, *next;
	uv_tcp_t		 tcp;
	uv_timer_t		 timer;		/* idle / login autologout */
	uv_idle_t		 kick;		/* resume input after a step */
	uv_write_t		 write_req;
	unsigned int		 open_handles;
	unsigned int		 imap_alive;	/* clients not yet closed() */
	char			 id[24];
	char			 peer[80];
	char			 user[72];	/* log-safe copy */
	char			 lock_identity[1600];
	bool			 locked;
	bool			 closing;
	bool			 close_after_flush;
	bool			 draining;	/* shutdown: close when idle */
	bool			 step_pending;
	bool			 writing;
	bool			 reading;
	bool			 upstream_lost;
	bool			 body_begun;
	const char		*end_reason;
	struct buf		 in;
	struct buf		 out;
	struct buf		 writing_buf;
	size_t			 writing_off;	/* already sent by uv_try_write */
	uint64_t		 stall_bytes_out; /* at the last timer check */
	int			 stall_in_kernel; /* -1: no output was pending */
	char			*readbuf;
	struct pop3_line_reader	 lines;
	struct pop3_session	 pop3;
	struct pop3_body	 body;
	struct imap_client	*imap;
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;
	uint64_t		 start_ms;
};

static void session_process_input(struct session *s);
static void session_flush(struct session *s);
static void session_arm_timer(struct session *s);
static void session_kick_cb(uv_idle_t *h);
static void session_handle_step(struct session *s,
	    const struct pop3_step *step);

/* Runs pending input on the next loop turn, outside any upstream parse. */
static void
session_kick(struct session *s)
{
	if (!s->closing)
		uv_idle_start(&s->kick, session_kick_cb);
}

static size_t
session_backlog(const struct session *s)
{
	return s->out.len + s->writing_buf.len;
}

struct session *
session_next(struct session *s)
{
	return s->next;
}

/* ---- teardown ---- */

static void
session_free_if_unused(struct session *s)
{
	struct worker	*w = s->worker;

	if (s->open_handles > 0 || s->imap_alive > 0 || s->writing)
		return;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	buf_wipe(&s->in);
	buf_deinit(&s->in);
	buf_deinit(&s->out);
	buf_deinit(&s->writing_buf);
	pop3_session_deinit(&s->pop3);
	free(s->readbuf);
	free(s);
	worker_session_gone(w);
}

static void
session_handle_closed(uv_handle_t *h)
{
	struct session	*s = h->data;

	s->open_handles--;
	session_free_if_unused(s);
}

static void
session_release_lock(struct session *s)
{
	if (s->locked) {
		lock_release(s->lock_identity);
		s->locked = false;
	}
}

void
session_close(struct session *s, const char *reason)
{
	const struct pop3_counters	*n = &s->pop3.count;

	if (s->closing)
		return;
	s->closing = true;
	if (s->end_reason == NULL)
		s->end_reason = reason;
	log_info("session-end", "sid=%s peer=%s user=%s reason=\"%s\" commands=%u "
	    "retr=%u top=%u dele=%u bytes_in=%llu bytes_out=%llu "
	    "duration_ms=%llu", s->id, s->peer, s->user, s->end_reason,
	    n->commands, n->retr, n->top, n->dele,
	    (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
	    (unsigned long long)(uv_now(&s->worker->loop) - s->start_ms));
	session_release_lock(s);
	if (s->imap != NULL) {
		/* Without QUIT nothing is deleted; \Seen may be stored. */
		imap_client_close(s->imap, s->pop3.has_maildrop ?
		    &s->pop3.maildrop : NULL);
		s->imap = NULL;
	}
	uv_close((uv_handle_t *)&s->tcp, session_handle_closed);
	uv_close((uv_handle_t *)&s->timer, session_handle_closed);
	uv_close((uv_handle_t *)&s->kick, session_handle_closed);
}

/* ---- output ---- */

/* Output left the process: feed the upstream and pending input again. */
static void
session_after_write(struct session *s)
{
	if (s->imap != NULL && session_backlog(s) < SESSION_OUT_LOW_WATER_OCTETS)
		imap_client_resume(s->imap);
	if (!s->step_pending && s->in.len > 0 &&
	    session_backlog(s) < SESSION_OUT_HIGH_WATER_OCTETS)
		session_kick(s);
	session_arm_timer(s);
}

static void
session_write_cb(uv_write_t *req, int status)
{
	struct session	*s = req->data;

	s->writing = false;
	s->bytes_out += s->writing_buf.len - s->writing_off;
	buf_reset(&s->writing_buf);
	if (s->closing) {
		session_free_if_unused(s);
		return;
	}
	if (status < 0) {
		session_close(s, "client write error");
		return;
	}
	session_flush(s);
	if (!s->closing)
		session_after_write(s);
}

/*
 * Writes queued output. uv_try_write() first: a completed uv_write() costs
 * libuv a callback turn and an epoll_ctl() per write, and most replies fit
 * the socket buffer at once. Only a remainder goes through uv_write(), with
 * one write in flight; its buffer stays untouched until the callback.
 */
static void
session_flush(struct session *s)
{
	struct buf	tmp;
	uv_buf_t	b;
	int		r;

	if (s->closing || s->writing)
		return;
	if (s->out.len == 0) {
		if (s->close_after_flush)
			session_close(s, s->end_reason != NULL ? s->end_reason :
			    "closed");
		return;
	}
	b = uv_buf_init(s->out.data, (unsigned int)s->out.len);
	r = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
	if (r < 0 && r != UV_EAGAIN) {
		session_close(s, "client write error");
		return;
	}
	if (r < 0)
		r = 0;
	s->bytes_out += (uint64_t)r;
	if ((size_t)r == s->out.len) {
		buf_reset(&s->out);
		if (s->close_after_flush)
			session_close(s, s->end_reason != NULL ? s->end_reason :
			    "closed");
		else
			session_after_write(s);
		return;
	}
	tmp = s->writing_buf;
	s->writing_buf = s->out;
	s->out = tmp;
	s->writing_off = (size_t)r;
	b = uv_buf_init(s->writing_buf.data + r,
	    (unsigned int)(s->writing_buf.len - (size_t)r));
	s->write_req.data = s;
	r = uv_write(&s->write_req, (uv_stream_t *)&s->tcp, &b, 1,
	    session_write_cb);
	if (r < 0) {
		buf_reset(&s->writing_buf);
		session_close(s, "client write error");
		return;
	}
	s->writing = true;
}

/* ---- timers ---- */

/* Octets handed to the kernel that the client has not taken yet. */
static int
session_kernel_backlog(struct session *s)
{
	uv_os_fd_t	fd;
	int		n = 0;

	if (uv_fileno((uv_handle_t *)&s->tcp, &fd) != 0 ||
	    ioctl(fd, SIOCOUTQ, &n) != 0)
		return 0;
	return n;
}

static void
session_timer_cb(uv_timer_t *t)
{
	struct session	*s = t->data;

	size_t		 queued = session_backlog(s);
	int		 in_kernel = session_kernel_backlog(s);

	/* RFC 1939 sec. 3 and pop3-conformance 13.4: inactivity means no
	 * input while nothing is pending; a slow reader is not idle, even
	 * when the rest of a long reply waits in the socket buffer. But a
	 * reader that took nothing for a whole period has stalled: without
	 * this the session and its upstream connection would wait forever. */
	if (queued > 0 || in_kernel > 0) {
		if (s->bytes_out == s->stall_bytes_out &&
		    in_kernel == s->stall_in_kernel) {
			session_close(s, "client stopped reading");
			return;
		}
		s->stall_bytes_out = s->bytes_out;
		s->stall_in_kernel = in_kernel;
		session_arm_timer(s);
		return;
	}
	s->stall_in_kernel = -1;
	/* Upstream work has its own connect and command timeouts. */
	if (s->step_pending) {
		session_arm_timer(s);
		return;
	}
	/* RFC 1939 sec. 3: close without a response and without UPDATE. */
	session_close(s, s->pop3.state == POP3_STATE_AUTHORIZATION ?
	    "login timeout" : "idle timeout");
}

static void
session_arm_timer(struct session *s)
{
	const struct config	*c = s->worker->config;
	unsigned int		 ms;

	if (s->closing)
		return;
	ms = s->pop3.state == POP3_STATE_AUTHORIZATION ? c->login_timeout_ms :
	    c->idle_timeout_ms;
	uv_timer_start(&s->timer, session_timer_cb, ms, 0);
}

/* ---- upstream callbacks ---- */

static enum pop3_resp_code
session_resp_code(enum imap_result r)
{
	static const enum pop3_resp_code map[] = {
		[IMAP_OK] = POP3_RESP_NONE,
		[IMAP_ERR_AUTH] = POP3_RESP_AUTH,
		[IMAP_ERR_TEMP] = POP3_RESP_SYS_TEMP,
		[IMAP_ERR_PERM] = POP3_RESP_SYS_PERM,
		[IMAP_ERR_IN_USE] = POP3_RESP_IN_USE,
		[IMAP_ERR_GONE] = POP3_RESP_NONE,
	};
	_Static_assert(sizeof(map) / sizeof(map[0]) == IMAP_RESULT_COUNT,
	    "every upstream result needs a POP3 response code");

	return map[r];
}

/* Fixed client texts: upstream text is never relayed (style.md 2.8). */
static const char *
session_login_text(enum imap_result r)
{
	switch (r) {
	case IMAP_ERR_AUTH:
		return "Authentication failed.";
	case IMAP_ERR_IN_USE:
		return "Mailbox is locked by another POP3 session.";
	case IMAP_ERR_PERM:
		return "Mail service is misconfigured; contact the administrator.";
	case IMAP_ERR_TEMP:
	case IMAP_ERR_GONE:
	case IMAP_OK:
	case IMAP_RESULT_COUNT:
		break;
	}
	return "Mail service temporarily unavailable, try again later.";
}

static void
session_step_done(struct session *s)
{
	s->step_pending = false;
	session_flush(s);
	/* Pipelined commands run on the next turn, not from inside the
	 * upstream's parser; with no input waiting there is nothing to do
	 * (and a pending kick from the body data is not needed either). */
	if (s->in.len > 0)
		session_kick(s);
	else if (!s->closing)
		uv_idle_stop(&s->kick);
	session_arm_timer(s);
}

static void
session_on_login(void *arg, enum imap_result result, struct pop3_maildrop *md,
    const char *detail)
{
	struct session		*s = arg;
	struct pop3_step	 step;

	if (result == IMAP_OK) {
		log_info("login", "sid=%s peer=%s user=%s result=ok messages=%u",
		    s->id, s->peer, s->user, md->count);
		step = pop3_login_done(&s->pop3, md, POP3_RESP_NONE, NULL,
		    &s->out);
	} else {
		/* RFC 1939 sec. 4: release the lock before rejecting. */
		session_release_lock(s);
		log_info("login", "sid=%s peer=%s user=%s result=%s reason=\"%s\"",
		    s->id, s->peer, s->user, imap_result_name(result), detail);
		step = pop3_login_done(&s->pop3, NULL, session_resp_code(result),
		    session_login_text(result), &s->out);
		imap_client_close(s->imap, NULL);
		s->imap = NULL;
	}
	session_handle_step(s, &step);
	session_step_done(s);
}

static bool
session_on_lock(void *arg, const char *identity)
{
	struct session	*s = arg;

	if (strlen(identity) >= sizeof(s->lock_identity) ||
	    !lock_acquire(identity))
		return false;
	snprintf(s->lock_identity, sizeof(s->lock_identity), "%s", identity);
	s->locked = true;
	return true;
}

static void
session_on_body_begin(void *arg)
{
	struct session	*s = arg;

	s->body_begun = true;
	if (pop3_retrieve_begin(&s->pop3, &s->out) != 0)
		session_close(s, "output overflow");
}

static void
session_body_complete(struct session *s)
{
	if (pop3_body_finish(&s->body, &s->out) != 0) {
		session_close(s, "output overflow");
		return;
	}
	pop3_retrieve_end(&s->pop3);
	s->body_begun = false;
	session_step_done(s);
}

static int
session_on_body_data(void *arg, const char *data, size_t len)
{
	struct session	*s = arg;
	int		 r;

	r = pop3_body_feed(&s->body, data, len, &s->out);
	if (r != 0)
		return r;
	if (pop3_body_complete(&s->body)) {
		/* TOP has its lines: the rest of the message is not needed. */
		imap_client_fetch_stop(s->imap);
		session_body_complete(s);
		return 0;
	}
	/* Write once per loop turn, not per piece: a small message then
	 * leaves with its terminator in one write. */
	session_kick(s);
	return 0;
}

static void
session_on_body_end(void *arg, enum imap_result result, const char *detail)
{
	struct session		*s = arg;
	struct pop3_step	 step;

	if (s->closing)
		return;
	if (result == IMAP_OK) {
		session_body_complete(s);
		return;
	}
	if (s->body_begun) {
		/* pop3-conformance 12.4 / imap-mapping.md sec. 17: never send
		 * the terminator after partial data; close, no UPDATE. */
		log_warn("retrieve-aborted", "sid=%s user=%s reason=\"%s\"",
		    s->id, s->user, detail);
		s->end_reason = "upstream lost during transfer";
		s->close_after_flush = true;
		s->step_pending = false;
		session_flush(s);
		return;
	}
	log_info("retrieve-failed", "sid=%s user=%s result=%s reason=\"%s\"",
	    s->id, s->user, imap_result_name(result), detail);
	step = pop3_retrieve_failed(&s->pop3, result == IMAP_ERR_GONE,
	    session_resp_code(result), result == IMAP_ERR_GONE ? NULL :
	    "Message temporarily unavailable, try again later.", &s->out);
	session_handle_step(s, &step);
	session_step_done(s);
}

static size_t
session_on_backlog(void *arg)
{
	return session_backlog(arg);
}

static void
session_on_expunged(void *arg, uint32_t uid)
{
	struct session	*s = arg;

	if (s->pop3.has_maildrop)
		pop3_maildrop_mark_gone(&s->pop3.maildrop, uid);
}

static void
session_on_commit(void *arg, enum imap_result result, const char *detail)
{
	struct session		*s = arg;
	struct pop3_step	 step;

	log_info("commit", "sid=%s user=%s result=%s dele=%u reason=\"%s\"",
	    s->id, s->user, imap_result_name(result), s->pop3.count.dele,
	    detail);
	step = pop3_commit_done(&s->pop3, result == IMAP_OK, &s->out);
	session_release_lock(s);
	s->end_reason = step.reason != NULL ? step.reason : "quit";
	s->close_after_flush = true;
	s->step_pending = false;
	session_flush(s);
}

static void
session_on_lost(void *arg, const char *detail)
{
	struct session	*s = arg;

	log_warn("upstream-lost", "sid=%s user=%s reason=\"%s\"", s->id,
	    s->user, detail);
	s->upstream_lost = true;
}

static void
session_on_imap_closed(void *arg, struct imap_client *c)
{
	struct session	*s = arg;

	if (s->imap == c) {
		s->imap = NULL;
		s->upstream_lost = true;
	}
	s->imap_alive--;
	if (s->closing)
		session_free_if_unused(s);
}

static const struct imap_client_callbacks session_imap_callbacks = {
	.login_done = session_on_login,
	.lock = session_on_lock,
	.body_begin = session_on_body_begin,
	.body_data = session_on_body_data,
	.body_end = session_on_body_end,
	.client_backlog = session_on_backlog,
	.expunged = session_on_expunged,
	.commit_done = session_on_commit,
	.lost = session_on_lost,
	.closed = session_on_imap_closed,
};

/* ---- steps ---- */

static void
session_start_login(struct session *s, const struct pop3_step *step)
{
	const struct config		*c = s->worker->config;
	struct imap_client_config	 ic;

	log_value(s->user, sizeof(s->user), step->user);
	memset(&ic, 0, sizeof(ic));
	ic.host = c->upstream_host;
	ic.port = c->upstream_port;
	ic.mailbox = c->mailbox;
	ic.connect_timeout_ms = c->connect_timeout_ms;
	ic.command_timeout_ms = c->command_timeout_ms;
	ic.chunk_octets = c->fetch_chunk_octets;
	ic.window = c->fetch_window;
	ic.seen_on_retr = c->seen_on_retr;
	ic.fetch_ahead = c->fetch_ahead;
	s->imap = imap_client_new(&s->worker->loop, &ic,
	    &session_imap_callbacks, s);
	if (s->imap == NULL) {
		struct pop3_step	r;

		r = pop3_login_done(&s->pop3, NULL, POP3_RESP_SYS_TEMP,
		    "Out of memory, try again later.", &s->out);
		session_handle_step(s, &r);
		return;
	}
	s->imap_alive++;
	s->step_pending = true;
	imap_client_login(s->imap, step->user, step->password,
	    step->password_len);
}

static void
session_start_retrieve(struct session *s, const struct pop3_step *step)
{
	struct pop3_msg	*m, *next;

	m = pop3_maildrop_by_msn(&s->pop3.maildrop, step->msn);
	if (s->imap == NULL || s->upstream_lost || m == NULL ||
	    !imap_client_is_ready(s->imap)) {
		struct pop3_step	r;

		r = pop3_retrieve_failed(&s->pop3, false, POP3_RESP_SYS_TEMP,
		    "Upstream connection lost, try again later.", &s->out);
		session_handle_step(s, &r);
		return;
	}
	/* The message a sequential download asks for next. */
	next = pop3_maildrop_by_msn(&s->pop3.maildrop, step->msn + 1);
	if (next != NULL && (next->flags & (POP3_MSG_MARKED | POP3_MSG_GONE)))
		next = NULL;
	pop3_body_init(&s->body, step->is_top, step->top_lines);
	s->body_begun = false;
	s->step_pending = true;
	imap_client_fetch(s->imap, step->uid, m->size, step->is_top,
	    SESSION_OUT_LOW_WATER_OCTETS, next != NULL ? next->uid : 0,
	    next != NULL ? next->size : 0);
}

static void
session_start_commit(struct session *s)
{
	struct pop3_step	step;

	if (s->imap == NULL || s->upstream_lost ||
	    !imap_client_is_ready(s->imap)) {
		log_warn("commit", "sid=%s user=%s result=temp dele=%u "
		    "reason=\"upstream connection lost\"", s->id, s->user,
		    s->pop3.count.dele);
		step = pop3_commit_done(&s->pop3, false, &s->out);
		s->end_reason = step.reason;
		s->close_after_flush = true;
		return;
	}
	s->step_pending = true;
	imap_client_commit(s->imap, &s->pop3.maildrop);
}

static void
session_handle_step(struct session *s, const struct pop3_step *step)
{
	switch (step->next) {
	case POP3_NEXT_READ:
		break;
	case POP3_NEXT_LOGIN:
		session_start_login(s, step);
		break;
	case POP3_NEXT_RETRIEVE:
		session_start_retrieve(s, step);
		break;
	case POP3_NEXT_COMMIT:
		session_start_commit(s);
		break;
	case POP3_NEXT_START_TLS:
		/* No TLS profile on this listener: the engine never offers
		 * STLS then; treat a stray step as fatal. */
		s->end_reason = "tls not available";
		s->close_after_flush = true;
		break;
	case POP3_NEXT_CLOSE:
		s->end_reason = step->reason != NULL ? step->reason : "quit";
		s->close_after_flush = true;
		break;
	}
}

/* ---- input ---- */

static void session_read_cb(uv_stream_t *stream, ssize_t nread,
	    const uv_buf_t *b);

static void
session_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct session	*s = h->data;

	(void)suggested;
	b->base = s->readbuf;
	b->len = SESSION_READ_OCTETS;
}

static void
session_update_reading(struct session *s)
{
	bool	want;

	if (s->closing)
		return;
	want = !s->close_after_flush && s->in.len < SESSION_IN_PAUSE_OCTETS;
	if (want && !s->reading) {
		if (uv_read_start((uv_stream_t *)&s->tcp, session_alloc_cb,
		    session_read_cb) == 0)
			s->reading = true;
	} else if (!want && s->reading) {
		uv_read_stop((uv_stream_t *)&s->tcp);
		s->reading = false;
	}
}

static void
session_process_input(struct session *s)
{
	struct pop3_step	 step;
	enum pop3_line_kind	 kind;
	char			*line;
	size_t			 len, used;

	while (!s->closing && !s->step_pending && !s->close_after_flush &&
	    session_backlog(s) < SESSION_OUT_HIGH_WATER_OCTETS) {
		used = pop3_line_next(&s->lines, s->in.data, s->in.len, &kind,
		    &line, &len);
		if (kind == POP3_LINE_NONE) {
			buf_consume(&s->in, used);
			break;
		}
		if (kind == POP3_LINE_OK) {
			step = pop3_execute(&s->pop3, line, len, &s->out);
			if (step.next == POP3_NEXT_LOGIN) {
				session_handle_step(s, &step);
				/* The password lived in this line. */
				explicit_bzero(s->in.data, used);
				buf_consume(&s->in, used);
				continue;
			}
		} else {
			step = pop3_bad_line(&s->pop3,
			    kind == POP3_LINE_TOO_LONG, &s->out);
		}
		buf_consume(&s->in, used);
		session_handle_step(s, &step);
	}
	if (s->draining && !s->step_pending && !s->close_after_flush &&
	    s->in.len == 0)
		s->close_after_flush = true;
	session_flush(s);
	session_update_reading(s);
}

static void
session_kick_cb(uv_idle_t *h)
{
	struct session	*s = h->data;

	uv_idle_stop(h);
	session_process_input(s);
}

static void
session_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
	struct session	*s = stream->data;

	if (nread == 0)
		return;
	if (nread < 0) {
		session_close(s, nread == UV_EOF ? "client closed" :
		    "client read error");
		return;
	}
	s->bytes_in += (uint64_t)nread;
	if (buf_append(&s->in, b->base, (size_t)nread) != 0) {
		session_close(s, "input overflow");
		return;
	}
	session_arm_timer(s);
	session_process_input(s);
}

/* ---- accept ---- */

static void
session_format_peer(struct session *s)
{
	struct sockaddr_storage	ss;
	int			len = sizeof(ss);
	char			host[INET6_ADDRSTRLEN];

	snprintf(s->peer, sizeof(s->peer), "unknown");
	if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;

		uv_ip4_name(sin, host, sizeof(host));
		snprintf(s->peer, sizeof(s->peer), "%s:%u", host,
		    ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

		uv_ip6_name(sin6, host, sizeof(host));
		snprintf(s->peer, sizeof(s->peer), "[%s]:%u", host,
		    ntohs(sin6->sin6_port));
	}
}

static struct session *
session_new(struct worker *w)
{
	struct session	*s;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->readbuf = malloc(SESSION_READ_OCTETS);
	if (s->readbuf == NULL) {
		free(s);
		return NULL;
	}
	s->worker = w;
	s->stall_in_kernel = -1;
	buf_init(&s->in, SESSION_IN_MAX_OCTETS);
	buf_set_sensitive(&s->in);	/* PASS lines */
	buf_init(&s->out, SESSION_OUT_MAX_OCTETS);
	buf_init(&s->writing_buf, SESSION_OUT_MAX_OCTETS);
	pop3_line_init(&s->lines, POP3_MAX_COMMAND_OCTETS);
	snprintf(s->user, sizeof(s->user), "-");
	uv_tcp_init(&w->loop, &s->tcp);
	uv_timer_init(&w->loop, &s->timer);
	uv_idle_init(&w->loop, &s->kick);
	s->tcp.data = s;
	s->timer.data = s;
	s->kick.data = s;
	s->open_handles = 3;
	s->next = w->sessions;
	if (w->sessions != NULL)
		w->sessions->prev = s;
	w->sessions = s;
	w->nsessions++;
	return s;
}

void
session_accept(struct worker *w, uv_stream_t *server)
{
	const struct config_listener	*l = server->data;
	struct pop3_options		 opt;
	struct session			*s;

	s = session_new(w);
	if (s == NULL) {
		log_error("accept-failed", "reason=\"out of memory\"");
		return;
	}
	if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
		s->closing = true;
		s->end_reason = "accept failed";
		uv_close((uv_handle_t *)&s->tcp, session_handle_closed);
		uv_close((uv_handle_t *)&s->timer, session_handle_closed);
		uv_close((uv_handle_t *)&s->kick, session_handle_closed);
		return;
	}
	uv_tcp_nodelay(&s->tcp, 1);
	s->start_ms = uv_now(&w->loop);
	snprintf(s->id, sizeof(s->id), "%02x%06llx", w->index & 0xff,
	    (unsigned long long)(++w->next_session & 0xffffff));
	session_format_peer(s);
	memset(&opt, 0, sizeof(opt));
	opt.uidl = &w->config->uidl;
	opt.greeting = SESSION_GREETING;
	opt.implementation = "popgate " POPGATE_VERSION;
	opt.user_allowed = true;
	opt.pipelining = true;
	pop3_session_init(&s->pop3, &opt);
	log_info("session-start", "sid=%s peer=%s listener=%s", s->id, s->peer,
	    l != NULL ? l->name : "-");
	if (w->nsessions > w->config->max_sessions) {
		pop3_reply_err(&s->out, POP3_RESP_SYS_TEMP,
		    "Too many connections, try again later.");
		s->end_reason = "session limit";
		s->close_after_flush = true;
		session_flush(s);
		return;
	}
	pop3_session_greeting(&s->pop3, &s->out);
	session_arm_timer(s);
	session_flush(s);
	session_update_reading(s);
}

void
session_shutdown(struct session *s)
{
	if (s->closing)
		return;
	s->draining = true;
	if (!s->step_pending && !s->writing && s->out.len == 0)
		session_close(s, "shutdown");
}
