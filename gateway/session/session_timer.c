/* SPDX-License-Identifier: MIT */
/*
 * session_timer.c - when a POP3 session ends by itself: the deadlines
 * before login, the idle autologout and the stalled reader after it, and
 * the drain at shutdown.
 */
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include "session_int.h"
#include "worker.h"

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
