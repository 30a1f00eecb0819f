/* SPDX-License-Identifier: MIT */
/*
 * session.c - the glue of one POP3 connection: runs the pure engine's
 * steps as upstream requests, streams bodies through the encoder with
 * watermarks, keeps the timers, and logs one line per event. The byte path
 * (socket, TLS) is in session_io.c.
 */
#include "session_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "accounts.h"
#include "addr.h"
#include "addrlimit.h"
#include "authfail.h"
#include "metrics.h"
#include "proxy_proto.h"
#include "lock.h"
#include "pending.h"
#include "log.h"
#include "sasl.h"
#include "tls_channel.h"
#include "worker.h"

unsigned int
session_listener_index(const struct session *s)
{
	return (unsigned int)(s->listener - s->config->listeners);
}

/* Runs pending input on the next loop turn, outside any upstream parse. */
void
session_kick(struct session *s)
{
	if (!s->closing)
		uv_idle_start(&s->kick, session_kick_cb);
}

size_t
session_backlog(const struct session *s)
{
	return stream_backlog(&s->stream);
}

/* Commands may be waiting: in our buffer, or still inside TLS. */
bool
session_input_waiting(const struct session *s)
{
	return s->in.len > 0 || (s->tls != NULL &&
	    tls_channel_pending(s->tls));
}

struct session *
session_next(struct session *s)
{
	return s->next;
}

/* ---- teardown ---- */

void
session_free_if_unused(struct session *s)
{
	struct worker	*w = s->worker;

	if (s->open_handles > 0 || s->imap_alive > 0 ||
	    stream_busy(&s->stream) || s->work_alive > 0)
		return;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	tls_channel_free(s->tls);
	worker_gen_release(s->gen);
	buf_wipe(&s->in);
	buf_deinit(&s->in);
	buf_deinit(&s->out);
	stream_deinit(&s->stream);
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
session_close_handles(struct session *s)
{
	uv_close((uv_handle_t *)&s->tcp, session_handle_closed);
	uv_close((uv_handle_t *)&s->timer, session_handle_closed);
	uv_close((uv_handle_t *)&s->delay, session_handle_closed);
	uv_close((uv_handle_t *)&s->kick, session_handle_closed);
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
	    "duration_ms=%llu listener=%s tls=%s cipher=%s upstream=%s:%s "
	    "deleted=%u", s->id, s->peer, s->user, s->end_reason,
	    n->commands, n->retr, n->top, n->dele,
	    (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
	    (unsigned long long)(uv_now(&s->worker->loop) - s->start_ms),
	    s->listener->name, s->tls_ready ? tls_channel_version(s->tls) : "-",
	    s->tls_ready ? tls_channel_cipher(s->tls) : "-",
	    s->upstream != NULL ? s->upstream->host : "-",
	    s->upstream != NULL ? s->upstream->port : "-", s->dele_committed);
	metrics_session_end(session_listener_index(s), s->bytes_in,
		    s->bytes_out, n->retr, n->top, s->dele_committed);
	/* A QUIT commit still running keeps the mailbox until it ends. */
	if (!s->committing)
		session_release_lock(s);
	session_login_cleanup(s);
	if (s->addr_counted) {
		addrlimit_release((struct sockaddr *)&s->peer_addr);
		s->addr_counted = false;
	}
	if (s->imap != NULL) {
		/* Without QUIT nothing is deleted; \Seen may be stored. A
		 * QUIT's commit under way runs on (session_abort ends it). */
		imap_client_close(s->imap, s->pop3.has_maildrop ?
		    &s->pop3.maildrop : NULL);
		if (s->committing)
			s->late_commit = s->imap;
		s->imap = NULL;
	}
	session_close_handles(s);
}

void
session_abort(struct session *s)
{
	session_close(s, "shutdown");
	if (s->late_commit != NULL) {
		/* A forced stop does not wait for a hung-up client's QUIT:
		 * its deletions are finished at the next login instead. */
		imap_client_abort(s->late_commit);
		s->late_commit = NULL;
	}
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

/*
 * Before login every limit is a deadline: login_timeout from accept for
 * all of AUTHORIZATION, and SESSION_TLS_HANDSHAKE_MS for the PROXY header
 * (from accept) and a TLS handshake (from its start, implicit or STLS).
 * Input never moves one, or a client sending an octet a second would hold
 * its slot forever. A handshake is a few round trips: a client that takes
 * longer is broken or holding a slot on purpose. *why: the reason to log.
 */
static uint64_t
session_deadline(const struct session *s, const char **why)
{
	uint64_t	deadline, wait;

	deadline = s->start_ms + s->config->login_timeout_ms;
	*why = "login timeout";
	if (s->proxy_pending) {
		*why = "proxy header timeout";
		wait = s->start_ms + SESSION_TLS_HANDSHAKE_MS;
	} else if (s->tls != NULL && !s->tls_ready) {
		*why = "tls handshake timeout";
		wait = s->tls_start_ms + SESSION_TLS_HANDSHAKE_MS;
	} else
		return deadline;
	return wait < deadline ? wait : deadline;
}

static void
session_timer_cb(uv_timer_t *t)
{
	struct session	*s = t->data;

	size_t		 queued = session_backlog(s);
	int		 in_kernel = session_kernel_backlog(s);
	const char	*why;

	/* Not a slow reader, nor a login in progress, nor a greeting that
	 * waits for a handshake: nothing before login outlives its deadline. */
	if (s->pop3.state == POP3_STATE_AUTHORIZATION) {
		if (uv_now(&s->worker->loop) >= session_deadline(s, &why))
			session_close(s, why);
		else
			session_arm_timer(s);
		return;
	}
	/* RFC 1939 sec. 3 and conformance 13.4: inactivity means no
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
	session_close(s, "idle timeout");
}

void
session_arm_timer(struct session *s)
{
	const struct config	*c = s->config;
	const char		*why;
	uint64_t		 deadline, now;
	unsigned int		 ms;

	if (s->closing)
		return;
	ms = c->idle_timeout_ms;
	/* Before login: what is left of the deadline, whatever came in. */
	if (s->pop3.state == POP3_STATE_AUTHORIZATION) {
		deadline = session_deadline(s, &why);
		now = uv_now(&s->worker->loop);
		ms = deadline > now ? (unsigned int)(deadline - now) : 0;
	}
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

/* Fixed client texts: upstream text is never relayed (conformance 17.2). */
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

/* Shutting down: a session that has not logged in ends once no command
 * runs and none waits (in the input buffer or still inside TLS). One in
 * TRANSACTION goes on until QUIT, its idle timeout or the drain timeout:
 * closing it would drop the DELEs of jobs a printer already fetched, and
 * it would print them again after the restart. */
static bool
session_drains_now(const struct session *s)
{
	return s->draining && s->pop3.state == POP3_STATE_AUTHORIZATION;
}

void
session_check_drain(struct session *s)
{
	if (session_drains_now(s) && !s->step_pending &&
	    !s->close_after_flush && !session_input_waiting(s)) {
		s->close_after_flush = true;
		if (s->end_reason == NULL)
			s->end_reason = "shutdown";
	}
}

static void
session_step_done(struct session *s)
{
	s->step_pending = false;
	session_check_drain(s);
	session_flush(s);
	/* Pipelined commands run on the next turn, not from inside the
	 * upstream's parser; with no input waiting there is nothing to do
	 * (and a pending kick from the body data is not needed either). */
	if (session_input_waiting(s))
		session_kick(s);
	else if (!s->closing)
		uv_idle_stop(&s->kick);
	session_arm_timer(s);
}

/* The login's method: for the metrics label, and its name for the log. */
static enum metrics_method
session_login_method(const struct pop3_step *step)
{
	if (step->apop)
		return METRICS_METHOD_APOP;
	switch (step->mech) {
	case SASL_MECH_PLAIN:
		return METRICS_METHOD_PLAIN;
	case SASL_MECH_LOGIN:
		return METRICS_METHOD_LOGIN;
	case SASL_MECH_XOAUTH2:
		return METRICS_METHOD_XOAUTH2;
	case SASL_MECH_OAUTHBEARER:
		return METRICS_METHOD_OAUTHBEARER;
	}
	return METRICS_METHOD_USER;
}

static const char *
session_method_name(enum metrics_method m)
{
	static const char *const names[METRICS_METHOD_COUNT] = {
		[METRICS_METHOD_USER] = "USER",
		[METRICS_METHOD_PLAIN] = "PLAIN",
		[METRICS_METHOD_LOGIN] = "LOGIN",
		[METRICS_METHOD_XOAUTH2] = "XOAUTH2",
		[METRICS_METHOD_OAUTHBEARER] = "OAUTHBEARER",
		[METRICS_METHOD_APOP] = "APOP",
	};

	return names[m];
}

static void
session_metrics_login(struct session *s, enum imap_result r)
{
	static const enum metrics_login_result map[] = {
		[IMAP_OK] = METRICS_LOGIN_OK,
		[IMAP_ERR_AUTH] = METRICS_LOGIN_AUTH,
		[IMAP_ERR_TEMP] = METRICS_LOGIN_TEMP,
		[IMAP_ERR_PERM] = METRICS_LOGIN_PERM,
		[IMAP_ERR_IN_USE] = METRICS_LOGIN_IN_USE,
		[IMAP_ERR_GONE] = METRICS_LOGIN_TEMP,
	};
	_Static_assert(sizeof(map) / sizeof(map[0]) == IMAP_RESULT_COUNT,
	    "every upstream result needs a login metric");

	metrics_login(s->method, map[r]);
}

static void
session_login_reply(struct session *s, enum imap_result result)
{
	struct pop3_step	step;

	step = pop3_login_done(&s->pop3, NULL, session_resp_code(result),
	    session_login_text(result), &s->out);
	session_handle_step(s, &step);
	session_step_done(s);
}

static void
session_delay_cb(uv_timer_t *t)
{
	struct session	*s = t->data;

	session_login_reply(s, s->delayed_result);
}

static void
session_on_login(void *arg, enum imap_result result, struct pop3_maildrop *md,
    const char *detail)
{
	struct session		*s = arg;
	struct pop3_step	 step;
	const char		*version = NULL, *cipher = NULL;

	if (session_login_retry(s, result))
		return;
	result = session_login_result(s, result, &detail);
	if (result == IMAP_OK) {
		session_metrics_login(s, result);
		authfail_clear((struct sockaddr *)&s->peer_addr);
		if (!imap_client_tls_info(s->imap, &version, &cipher))
			version = cipher = "-";
		log_info("login", "sid=%s peer=%s user=%s method=%s result=ok "
		    "messages=%u upstream=%s upstream_user=%s upstream_tls=%s "
		    "upstream_cipher=%s", s->id, s->peer, s->user,
		    session_method_name(s->method),
		    md->count, s->upstream->name, s->device ? s->upstream_user :
		    s->user, version, cipher);
		step = pop3_login_done(&s->pop3, md, POP3_RESP_NONE, NULL,
		    &s->out);
		session_handle_step(s, &step);
		session_step_done(s);
		return;
	}
	session_login_failed(s, result, detail);
}

void
session_login_failed(struct session *s, enum imap_result result,
    const char *detail)
{
	unsigned int	delay;

	session_metrics_login(s, result);
	/* RFC 1939 sec. 4: release the lock before rejecting. */
	session_release_lock(s);
	if (s->imap != NULL) {
		imap_client_close(s->imap, NULL);
		s->imap = NULL;
	}
	/* Bad credentials wait, longer for each failure from the address,
	 * so guessing is slow; the reply says nothing until then. An
	 * upstream outage is not the client's fault and answers at once. */
	delay = 0;
	if (result == IMAP_ERR_AUTH)
		delay = authfail_record((struct sockaddr *)&s->peer_addr,
		    uv_hrtime() / 1000000, s->config->auth_failure_delay_ms,
		    s->config->auth_failure_delay_max_ms);
	log_info("login", "sid=%s peer=%s user=%s method=%s result=%s "
	    "delay_ms=%u upstream=%s reason=\"%s\"", s->id, s->peer, s->user,
	    session_method_name(s->method), imap_result_name(result), delay,
	    s->upstream != NULL ?
	    s->upstream->name : "-", detail);
	if (delay == 0) {
		session_login_reply(s, result);
		return;
	}
	s->delayed_result = result;
	uv_timer_start(&s->delay, session_delay_cb, delay, 0);
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

/* Data went out but cannot be vouched for: never send the terminator after
 * it, so the client cannot take it for the message; close, no UPDATE, and
 * so no flag is set on the message. */
static void
session_retrieve_abort(struct session *s, const char *reason,
    const char *detail)
{
	log_warn("retrieve-aborted", "sid=%s user=%s reason=\"%s\"", s->id,
	    s->user, detail);
	s->end_reason = reason;
	s->close_after_flush = true;
	s->step_pending = false;
	session_flush(s);
}

static void
session_body_complete(struct session *s)
{
	char	detail[128];

	if ((!s->body.is_top || !pop3_body_complete(&s->body)) &&
	    pop3_body_final_octets(&s->body) != s->body_size) {
		/* RFC 1939 sec. 11: LIST gives the exact size, and a client
		 * may cut the message there; a message that ends elsewhere
		 * is not the one that was announced. A TOP that ran out of
		 * message before its lines did has sent all of it, so the
		 * same holds. */
		snprintf(detail, sizeof(detail), "message is %llu octets, "
		    "LIST announced %llu", (unsigned long long)
		    pop3_body_final_octets(&s->body),
		    (unsigned long long)s->body_size);
		metrics_upstream_error(METRICS_UPSTREAM_SIZE_MISMATCH);
		session_retrieve_abort(s, "message size differs from LIST",
		    detail);
		return;
	}
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
		/* Partial data: the terminator would make it look whole. */
		session_retrieve_abort(s, "upstream lost during transfer",
		    detail);
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

static bool
session_on_pending(void *arg, uint32_t *uidvalidity, uint32_t **uids,
    uint32_t *n)
{
	struct session	*s = arg;

	return s->locked && pending_get(s->lock_identity, uidvalidity, uids, n);
}

static void
session_on_resumed(void *arg, enum imap_result result, uint32_t n,
    const char *detail)
{
	struct session	*s = arg;

	log_info("commit-resumed", "sid=%s user=%s result=%s dele=%u "
	    "reason=\"%s\"", s->id, s->user, result == IMAP_OK ? "ok" :
	    result == IMAP_ERR_PERM ? "stale" : "incomplete", n, detail);
	metrics_commit_resumed(result == IMAP_OK ? METRICS_RESUME_OK :
	    result == IMAP_ERR_PERM ? METRICS_RESUME_STALE :
	    METRICS_RESUME_INCOMPLETE);
	if (result != IMAP_ERR_TEMP)
		pending_clear(s->lock_identity);
}

/* The UIDs this QUIT deletes (ascending, as the maildrop), malloc'd; NULL
 * when there are none or memory ran out. */
static uint32_t *
session_marked_uids(const struct session *s, uint32_t *n)
{
	const struct pop3_maildrop	*md = &s->pop3.maildrop;
	uint32_t			*uids, i;

	*n = 0;
	if (s->pop3.count.dele == 0 ||
	    (uids = calloc(md->count, sizeof(uint32_t))) == NULL)
		return NULL;
	for (i = 0; i < md->count; i++)
		if (md->msgs[i].flags & POP3_MSG_MARKED)
			uids[(*n)++] = md->msgs[i].uid;
	return uids;
}

/* Recorded before anything is sent, so that a cut commit is finished at
 * the next login (pending.h). */
static void
session_record_pending(struct session *s)
{
	uint32_t	*uids, n;

	if (!s->locked || imap_client_is_read_only(s->imap))
		return;		/* nothing to finish: it cannot even start */
	uids = session_marked_uids(s, &n);
	if (n > 0 && !pending_put(s->lock_identity,
	    s->pop3.maildrop.uidvalidity, uids, n))
		log_warn("commit", "sid=%s user=%s reason=\"out of memory: "
		    "a cut commit will not be finished\"", s->id, s->user);
	free(uids);
}

static void
session_on_body_dropped(void *arg, uint32_t uid, uint32_t got,
    const char *why)
{
	struct session	*s = arg;

	log_warn("upstream-body-dropped", "sid=%s user=%s uid=%u got_uid=%u "
	    "reason=\"%s\"", s->id, s->user, uid, got, why);
	metrics_upstream_error(METRICS_UPSTREAM_FOREIGN_BODY);
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

	log_info("commit", "sid=%s user=%s result=%s dele=%u reason=\"%s\"%s",
	    s->id, s->user, imap_result_name(result), s->pop3.count.dele,
	    detail, s->closing ? " client=gone" : "");
	if (result == IMAP_OK) {
		uint32_t	*uids, n;

		/* Verified gone; an older record's UIDs stay recorded. */
		s->dele_committed = s->pop3.count.dele;
		uids = session_marked_uids(s, &n);
		if (uids != NULL)	/* else the record stays: harmless */
			pending_remove(s->lock_identity, uids, n);
		free(uids);
	}
	s->committing = false;
	s->late_commit = NULL;
	if (s->closing) {
		/* QUIT's UPDATE finished after the client hung up. */
		session_release_lock(s);
		return;
	}
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
	if (s->late_commit == c)
		s->late_commit = NULL;
	if (s->closing) {
		session_release_lock(s);
		session_free_if_unused(s);
	}
}

static void
session_on_timing(void *arg, enum imap_stage stage, uint64_t usec)
{
	static const enum metrics_latency	map[] = {
		[IMAP_STAGE_CONNECT] = METRICS_LATENCY_CONNECT,
		[IMAP_STAGE_LOGIN] = METRICS_LATENCY_LOGIN,
		[IMAP_STAGE_FIRST_BYTE] = METRICS_LATENCY_FETCH_FIRST_BYTE,
	};

	(void)arg;
	metrics_latency(map[stage], usec);
}

static void
session_on_failed(void *arg, enum imap_fail_class why)
{
	static const enum metrics_upstream_error	map[] = {
		[IMAP_FAIL_CONNECT] = METRICS_UPSTREAM_CONNECT,
		[IMAP_FAIL_TLS] = METRICS_UPSTREAM_TLS,
		[IMAP_FAIL_TIMEOUT] = METRICS_UPSTREAM_TIMEOUT,
		[IMAP_FAIL_PROTOCOL] = METRICS_UPSTREAM_PROTOCOL,
		[IMAP_FAIL_CLOSED] = METRICS_UPSTREAM_CLOSED,
	};

	(void)arg;
	metrics_upstream_error(map[why]);
}

static const struct imap_client_callbacks session_callbacks = {
	.login_done = session_on_login,
	.caps = session_login_caps,
	.lock = session_on_lock,
	.body_begin = session_on_body_begin,
	.body_data = session_on_body_data,
	.body_end = session_on_body_end,
	.body_dropped = session_on_body_dropped,
	.pending = session_on_pending,
	.resumed = session_on_resumed,
	.client_backlog = session_on_backlog,
	.expunged = session_on_expunged,
	.commit_done = session_on_commit,
	.lost = session_on_lost,
	.closed = session_on_imap_closed,
	.timing = session_on_timing,
	.failed = session_on_failed,
};

const struct imap_client_callbacks *
session_imap_callbacks(void)
{
	return &session_callbacks;
}

/* ---- steps ---- */

static void
session_start_login(struct session *s, const struct pop3_step *step)
{
	log_value(s->user, sizeof(s->user), step->user);
	s->method = session_login_method(step);
	if (!step->apop && !s->plaintext_logged && s->tls == NULL) {
		/* Credentials crossed the network in the clear: say so once,
		 * and why it was allowed. */
		s->plaintext_logged = true;
		log_info("plaintext-auth", "sid=%s peer=%s listener=%s "
		    "reason=\"%s\"", s->id, s->peer, s->listener->name,
		    s->peer_trusted ? "peer in trusted_networks" :
		    "plaintext_auth = yes");
	}
	session_login_start(s, step);
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
	s->body_size = m->size;
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
	s->committing = true;
	session_record_pending(s);
	imap_client_commit(s->imap, &s->pop3.maildrop);
}

void
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
		/* "+OK" leaves in the clear; anything the client pipelined
		 * behind STLS was sent before TLS and must not be trusted
		 * (RFC 2595 sec. 4, conformance 6.5): drop it. */
		buf_reset(&s->in);
		session_flush(s);
		if (!s->closing)
			session_start_tls(s);
		break;
	case POP3_NEXT_CLOSE:
		s->end_reason = step->reason != NULL ? step->reason : "quit";
		s->close_after_flush = true;
		break;
	}
}

/* ---- accept ---- */

/* The session's client is addr from now on: for the log, the trusted
 * networks and the per-address limits. */
static void
session_set_peer(struct session *s, const struct sockaddr_storage *ss)
{
	s->peer_addr = *ss;
	s->peer_trusted = config_network_contains(s->listener->trusted,
	    s->listener->ntrusted, (const struct sockaddr *)ss);
	addr_format((const struct sockaddr *)ss, s->peer, sizeof(s->peer));
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
	session_stream_init(s);
	pop3_line_init(&s->lines, POP3_MAX_COMMAND_OCTETS);
	snprintf(s->user, sizeof(s->user), "-");
	uv_tcp_init(&w->loop, &s->tcp);
	uv_timer_init(&w->loop, &s->timer);
	uv_timer_init(&w->loop, &s->delay);
	uv_idle_init(&w->loop, &s->kick);
	s->tcp.data = s;
	s->timer.data = s;
	s->delay.data = s;
	s->kick.data = s;
	s->open_handles = 4;
	s->next = w->sessions;
	if (w->sessions != NULL)
		w->sessions->prev = s;
	w->sessions = s;
	worker_session_new(w);
	return s;
}

/*
 * Limits, then the greeting: sessions in the process, sessions held by the
 * client's address and its rate of new connections. At a limit the client
 * hears "-ERR [SYS/TEMP]" (nothing under implicit TLS, where no byte can
 * go before the handshake) and the connection closes.
 */
static void
session_admit(struct session *s)
{
	const struct config	*c = s->config;
	const char		*refusal = NULL;
	enum metrics_refusal	 why = METRICS_REFUSED_SESSION_LIMIT;

	if (worker_sessions_total() > c->max_sessions)
		refusal = "session limit";
	else {
		switch (addrlimit_acquire((struct sockaddr *)&s->peer_addr,
		    uv_hrtime() / 1000000, c->max_sessions_per_address,
		    c->max_connection_rate_per_address)) {
		case ADDRLIMIT_OK:
			s->addr_counted = true;
			break;
		case ADDRLIMIT_UNTRACKED:
			break;
		case ADDRLIMIT_TOO_MANY:
			refusal = "address session limit";
			why = METRICS_REFUSED_ADDRESS_LIMIT;
			break;
		case ADDRLIMIT_TOO_FAST:
			refusal = "address connection rate";
			why = METRICS_REFUSED_ADDRESS_RATE;
			break;
		}
	}
	if (refusal != NULL) {
		metrics_session_refused(session_listener_index(s), why);
		if (s->tls == NULL)
			pop3_reply_err(&s->out, POP3_RESP_SYS_TEMP,
			    "Too many connections, try again later.");
		s->end_reason = refusal;
		s->close_after_flush = true;
		session_flush(s);
		return;
	}
	/* Under implicit TLS the greeting waits for the handshake. */
	pop3_session_greeting(&s->pop3, &s->out);
	session_arm_timer(s);
	session_flush(s);
	session_update_reading(s);
}

static void
session_proxy_refused(struct session *s, const char *why)
{
	metrics_session_refused(session_listener_index(s),
	    METRICS_REFUSED_PROXY);
	log_warn("proxy-refused", "sid=%s peer=%s listener=%s reason=\"%s\"",
	    s->id, s->peer, s->listener->name, why);
	s->end_reason = "proxy refused";
	s->close_after_flush = true;
	session_flush(s);
}

/* The client is known (from the socket, or from the PROXY header): log
 * the start, set up TLS and the policy, then admission and greeting. */
static void
session_begin(struct session *s)
{
	const struct config_listener	*l = s->listener;
	static const char *const	 tls_names[] = {
		[CONFIG_LISTENER_TLS_NONE] = "none",
		[CONFIG_LISTENER_TLS_STARTTLS] = "starttls",
		[CONFIG_LISTENER_TLS_IMPLICIT] = "implicit",
	};

	log_info("session-start", "sid=%s peer=%s listener=%s tls=%s%s%s",
	    s->id, s->peer, l->name, tls_names[l->tls],
	    s->via[0] != '\0' ? " via=" : "", s->via);
	if (l->tls == CONFIG_LISTENER_TLS_IMPLICIT && !session_start_tls(s)) {
		session_flush(s);
		return;
	}
	session_update_policy(s);
	session_admit(s);
}

/*
 * Input before the PROXY header is complete. Once it is, the header's
 * source is the peer, and the bytes after it are the client's: POP3
 * commands, or the TLS ClientHello on an implicit-TLS listener.
 */
void
session_proxy_input(struct session *s)
{
	struct proxy_info	 info;
	const char		*why = NULL;
	char			*rest;
	size_t			 len;

	switch (proxy_parse((const unsigned char *)s->in.data, s->in.len,
	    &info, &why)) {
	case PROXY_NEED_MORE:
		return;
	case PROXY_ERROR:
		buf_reset(&s->in);
		session_proxy_refused(s, why != NULL ? why : "bad header");
		return;
	case PROXY_DONE:
		break;
	}
	buf_consume(&s->in, info.header_octets);
	s->proxy_pending = false;
	if (!info.local)
		session_set_peer(s, &info.src);
	session_begin(s);
	if (s->closing || s->close_after_flush || s->tls == NULL ||
	    s->in.len == 0)
		return;
	/* The ClientHello came along with the header: it is ciphertext. */
	len = s->in.len;
	rest = malloc(len);
	if (rest == NULL) {
		session_close(s, "out of memory");
		return;
	}
	memcpy(rest, s->in.data, len);
	buf_reset(&s->in);
	session_tls_input(s, rest, len);
	free(rest);
}

/*
 * RFC 1939 sec. 7: a timestamp unique to this greeting, in msg-id form;
 * 64 random bits, so a digest seen once is worth nothing later.
 */
static void
session_apop_timestamp(struct session *s)
{
	unsigned char	rnd[8];
	char		host[64];
	size_t		i;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		s->apop_ts[0] = '\0';		/* no APOP this time */
		return;
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "popgate");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] <= ' ' || host[i] > '~' || strchr("<>@", host[i]))
			host[i] = '-';
	snprintf(s->apop_ts, sizeof(s->apop_ts), "<%ld.%02x%02x%02x%02x%02x%02x"
	    "%02x%02x@%s>", (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3],
	    rnd[4], rnd[5], rnd[6], rnd[7], host);
}

void
session_accept(struct worker *w, uv_stream_t *server)
{
	const struct config_listener	*l = server->data;
	struct sockaddr_storage		 ss;
	struct pop3_options		 opt;
	struct session			*s;
	int				 len = sizeof(ss);

	s = session_new(w);
	if (s == NULL) {
		log_error("accept-failed", "reason=\"out of memory\"");
		return;
	}
	if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
		s->closing = true;
		s->end_reason = "accept failed";
		session_close_handles(s);
		return;
	}
	uv_tcp_nodelay(&s->tcp, 1);
	s->listener = l;
	s->gen = w->gen;
	worker_gen_hold(s->gen);
	s->config = s->gen->config;
	metrics_session_start(session_listener_index(s));
	s->tls_profile = s->gen->tls.listener[l - s->config->listeners];
	s->start_ms = uv_now(&w->loop);
	snprintf(s->id, sizeof(s->id), "%02x%06llx", w->index & 0xff,
	    (unsigned long long)(++w->next_session & 0xffffff));
	memset(&ss, 0, sizeof(ss));
	(void)uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len);
	session_set_peer(s, &ss);
	memset(&opt, 0, sizeof(opt));
	opt.uidl = &s->config->uidl;
	opt.greeting = SESSION_GREETING;
	opt.implementation = "popgate " POPGATE_VERSION;
	opt.pipelining = true;
	if (l->apop && s->gen->accounts != NULL &&
	    accounts_any_apop(s->gen->accounts)) {
		session_apop_timestamp(s);
		opt.apop_timestamp = s->apop_ts;
	}
	pop3_session_init(&s->pop3, &opt);
	if (!l->proxy_protocol) {
		session_begin(s);
		return;
	}
	/* A PROXY header names the client; only a load balancer may send
	 * one, and nothing is said before it arrives. */
	if (!config_network_contains(l->proxy_from, l->nproxy_from,
	    (struct sockaddr *)&ss)) {
		session_proxy_refused(s, "not in proxy_networks");
		return;
	}
	snprintf(s->via, sizeof(s->via), "%s", s->peer);
	s->proxy_pending = true;
	session_arm_timer(s);
	session_update_reading(s);
}

void
session_shutdown(struct session *s)
{
	if (s->closing)
		return;
	s->draining = true;
	if (session_drains_now(s) && !s->step_pending &&
	    !stream_busy(&s->stream) && s->out.len == 0)
		session_close(s, "shutdown");
}
