/* SPDX-License-Identifier: MIT */
/*
 * session_maildrop.c - a logged-in POP3 session and its maildrop: RETR and
 * TOP as backend fetches whose bodies go through the encoder while the
 * client keeps up, QUIT as the backend's commit (recorded first in
 * pending.h, so that a cut commit is finished at the next login), and the
 * backend's other callbacks (doc/imap-mapping.md sec. 8-11).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "pending.h"
#include "session_int.h"
#include "shared.h"
#include "worker.h"

/* What QUIT does with the DELE'd messages. The same for every upstream
 * for now; a per-upstream setting would pick it from s->upstream. */
static const struct backend_policy session_delete_policy = {
	.mode = BACKEND_DELETE_EXPUNGE,
};

/* The RFC 3206 code a backend result gives the client. */
enum pop3_resp_code
session_resp_code(enum backend_result r)
{
	static const enum pop3_resp_code map[] = {
		[BACKEND_OK] = POP3_RESP_NONE,
		[BACKEND_ERR_AUTH] = POP3_RESP_AUTH,
		[BACKEND_ERR_TEMP] = POP3_RESP_SYS_TEMP,
		[BACKEND_ERR_PERM] = POP3_RESP_SYS_PERM,
		[BACKEND_ERR_IN_USE] = POP3_RESP_IN_USE,
		[BACKEND_ERR_GONE] = POP3_RESP_NONE,
	};
	_Static_assert(sizeof(map) / sizeof(map[0]) == BACKEND_RESULT_COUNT,
	    "every upstream result needs a POP3 response code");

	return map[r];
}

/* ---- RETR and TOP: the body through the encoder ---- */

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
		metrics_upstream_error(s->worker->shared->metrics,
		    METRICS_UPSTREAM_SIZE_MISMATCH);
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
		backend_fetch_stop(s->backend);
		session_body_complete(s);
		return 0;
	}
	/* Write once per loop turn, not per piece: a small message then
	 * leaves with its terminator in one write. */
	session_kick(s);
	return 0;
}

static void
session_on_body_end(void *arg, enum backend_result result, const char *detail)
{
	struct session		*s = arg;
	struct pop3_step	 step;

	if (s->closing)
		return;
	if (result == BACKEND_OK) {
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
	    s->id, s->user, backend_result_name(result), detail);
	step = pop3_retrieve_failed(&s->pop3, result == BACKEND_ERR_GONE,
	    session_resp_code(result), result == BACKEND_ERR_GONE ? NULL :
	    "Message temporarily unavailable, try again later.", &s->out);
	session_handle_step(s, &step);
	session_step_done(s);
}

/* ---- QUIT, and a cut one finished at the next login ---- */

static bool
session_on_pending(void *arg, uint32_t *uidvalidity, uint32_t **uids,
    uint32_t *n)
{
	struct session	*s = arg;

	return s->lock.state == LOCK_HELD && pending_get(
	    s->worker->shared->pending, s->lock_identity, uidvalidity, uids, n);
}

static void
session_on_resumed(void *arg, enum backend_result result, uint32_t n,
    const char *detail)
{
	struct session	*s = arg;

	log_info("commit-resumed", "sid=%s user=%s result=%s dele=%u "
	    "reason=\"%s\"", s->id, s->user, result == BACKEND_OK ? "ok" :
	    result == BACKEND_ERR_PERM ? "stale" : "incomplete", n, detail);
	metrics_commit_resumed(s->worker->shared->metrics,
	    result == BACKEND_OK ? METRICS_RESUME_OK :
	    result == BACKEND_ERR_PERM ? METRICS_RESUME_STALE :
	    METRICS_RESUME_INCOMPLETE);
	if (result != BACKEND_ERR_TEMP)
		pending_clear(s->worker->shared->pending, s->lock_identity);
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

	if (s->lock.state != LOCK_HELD || backend_is_read_only(s->backend))
		return;		/* nothing to finish: it cannot even start */
	uids = session_marked_uids(s, &n);
	if (n > 0 && !pending_put(s->worker->shared->pending, s->lock_identity,
	    s->pop3.maildrop.uidvalidity, uids, n))
		log_warn("commit", "sid=%s user=%s reason=\"out of memory: "
		    "a cut commit will not be finished\"", s->id, s->user);
	free(uids);
}

static void
session_on_commit(void *arg, enum backend_result result, const char *detail)
{
	struct session		*s = arg;
	struct pop3_step	 step;

	log_info("commit", "sid=%s user=%s result=%s dele=%u reason=\"%s\"%s",
	    s->id, s->user, backend_result_name(result), s->pop3.count.dele,
	    detail, s->closing ? " client=gone" : "");
	if (result == BACKEND_OK) {
		uint32_t	*uids, n;

		/* Verified gone; an older record's UIDs stay recorded. */
		s->dele_committed = s->pop3.count.dele;
		uids = session_marked_uids(s, &n);
		if (uids != NULL)	/* else the record stays: harmless */
			pending_remove(s->worker->shared->pending,
			    s->lock_identity, uids, n);
		free(uids);
	}
	s->committing = false;
	s->late_commit = NULL;
	if (s->closing) {
		/* QUIT's UPDATE finished after the client hung up. */
		session_release_lock(s);
		return;
	}
	step = pop3_commit_done(&s->pop3, result == BACKEND_OK, &s->out);
	session_release_lock(s);
	s->end_reason = step.reason != NULL ? step.reason : "quit";
	s->close_after_flush = true;
	s->step_pending = false;
	session_flush(s);
}

/* ---- the rest of what the backend reports ---- */

static void
session_on_body_dropped(void *arg, uint32_t uid, uint32_t got,
    const char *why)
{
	struct session	*s = arg;

	log_warn("upstream-body-dropped", "sid=%s user=%s uid=%u got_uid=%u "
	    "reason=\"%s\"", s->id, s->user, uid, got, why);
	metrics_upstream_error(s->worker->shared->metrics,
	    METRICS_UPSTREAM_FOREIGN_BODY);
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
session_on_lost(void *arg, const char *detail)
{
	struct session	*s = arg;

	log_warn("upstream-lost", "sid=%s user=%s reason=\"%s\"", s->id,
	    s->user, detail);
	s->upstream_lost = true;
}

static void
session_on_backend_closed(void *arg, struct backend *b)
{
	struct session	*s = arg;

	if (s->backend == b) {
		s->backend = NULL;
		s->upstream_lost = true;
	}
	s->backend_alive--;
	if (s->late_commit == b)
		s->late_commit = NULL;
	if (s->closing) {
		session_release_lock(s);
		session_free_if_unused(s);
	}
}

static void
session_on_timing(void *arg, enum backend_stage stage, uint64_t usec)
{
	static const enum metrics_latency	map[] = {
		[BACKEND_STAGE_CONNECT] = METRICS_LATENCY_CONNECT,
		[BACKEND_STAGE_LOGIN] = METRICS_LATENCY_LOGIN,
		[BACKEND_STAGE_FIRST_BYTE] = METRICS_LATENCY_FETCH_FIRST_BYTE,
	};

	struct session	*s = arg;

	metrics_latency(s->worker->shared->metrics, map[stage], usec);
}

static void
session_on_failed(void *arg, enum backend_fail_class why)
{
	static const enum metrics_upstream_error	map[] = {
		[BACKEND_FAIL_CONNECT] = METRICS_UPSTREAM_CONNECT,
		[BACKEND_FAIL_TLS] = METRICS_UPSTREAM_TLS,
		[BACKEND_FAIL_TIMEOUT] = METRICS_UPSTREAM_TIMEOUT,
		[BACKEND_FAIL_PROTOCOL] = METRICS_UPSTREAM_PROTOCOL,
		[BACKEND_FAIL_CLOSED] = METRICS_UPSTREAM_CLOSED,
	};

	struct session	*s = arg;

	metrics_upstream_error(s->worker->shared->metrics, map[why]);
}

static const struct backend_callbacks session_callbacks = {
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
	.closed = session_on_backend_closed,
	.timing = session_on_timing,
	.failed = session_on_failed,
};

const struct backend_callbacks *
session_backend_callbacks(void)
{
	return &session_callbacks;
}

/* ---- the steps, as backend requests ---- */

void
session_start_retrieve(struct session *s, const struct pop3_step *step)
{
	struct pop3_msg	*m, *next;

	m = pop3_maildrop_by_msn(&s->pop3.maildrop, step->msn);
	if (s->backend == NULL || s->upstream_lost || m == NULL ||
	    !backend_is_ready(s->backend)) {
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
	backend_fetch(s->backend, step->uid, m->size, step->is_top,
	    SESSION_OUT_LOW_WATER_OCTETS, next != NULL ? next->uid : 0,
	    next != NULL ? next->size : 0);
}

void
session_start_commit(struct session *s)
{
	struct pop3_step	step;

	if (s->backend == NULL || s->upstream_lost ||
	    !backend_is_ready(s->backend)) {
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
	backend_commit(s->backend, &s->pop3.maildrop, &session_delete_policy);
}

