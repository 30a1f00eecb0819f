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

#include "authfail.h"
#include "buf.h"
#include "imap_client.h"
#include "lock.h"
#include "log.h"
#include "pop3_body.h"
#include "pop3_line.h"
#include "pop3_session.h"
#include "sasl.h"
#include "tls_channel.h"
#include "worker.h"

/* Pending client input: stop reading past this (pipelined commands wait in
 * the kernel's buffer instead of ours). Above the longest AUTH line, so a
 * line in progress never waits for a read that is paused. */
#define SESSION_IN_PAUSE_OCTETS		(32 * 1024)
#define SESSION_IN_MAX_OCTETS		(128 * 1024)
/* Ask the upstream for more body data only below this much unsent output. */
#define SESSION_OUT_LOW_WATER_OCTETS	(256 * 1024)
/* Stop running pipelined commands above this much unsent output. */
#define SESSION_OUT_HIGH_WATER_OCTETS	(1024 * 1024)
/* Hard cap on queued output: high water + a window of chunks, doubled by
 * the worst case of LF -> CRLF and dot-stuffing. */
#define SESSION_OUT_MAX_OCTETS		(24 * 1024 * 1024)
#define SESSION_READ_OCTETS		(64 * 1024)
/* Ciphertext queued for the socket: the plaintext cap plus TLS record
 * overhead (< 1 % at 16 KiB records) and the handshake. */
#define SESSION_TLS_OUT_MAX_OCTETS	(SESSION_OUT_MAX_OCTETS + \
					 SESSION_OUT_MAX_OCTETS / 32 + 65536)
/* Plaintext handed to OpenSSL per record. */
#define SESSION_TLS_RECORD_OCTETS	(16 * 1024)
#define SESSION_GREETING		"popgate ready."

struct session {
	struct worker		*worker;
	struct session		*prev, *next;
	uv_tcp_t		 tcp;
	uv_timer_t		 timer;		/* idle / login autologout */
	uv_timer_t		 delay;		/* failed-login reply delay */
	uv_idle_t		 kick;		/* resume input after a step */
	uv_write_t		 write_req;
	unsigned int		 open_handles;
	unsigned int		 imap_alive;	/* clients not yet closed() */
	char			 id[24];
	char			 peer[80];
	char			 user[72];	/* log-safe copy */
	char			 lock_identity[1600];
	const struct config_listener *listener;
	struct tls_profile	*tls_profile;	/* the listener's, or NULL */
	struct tls_channel	*tls;		/* NULL while plaintext */
	struct buf		 tls_out;	/* ciphertext for the socket */
	struct sockaddr_storage	 peer_addr;
	bool			 peer_trusted;	/* in trusted_networks */
	bool			 tls_ready;	/* handshake done and logged */
	bool			 tls_shutdown;	/* close_notify queued */
	bool			 plaintext_logged;
	const char		*method;	/* of the login in progress */
	/* failed login waiting out its delay */
	enum imap_result	 delayed_result;
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
	return s->out.len + s->tls_out.len + s->writing_buf.len;
}

/* Commands may be waiting: in our buffer, or still inside TLS. */
static bool
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
	tls_channel_free(s->tls);
	buf_wipe(&s->in);
	buf_deinit(&s->in);
	buf_deinit(&s->out);
	buf_deinit(&s->tls_out);
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
	session_close_handles(s);
}

/* ---- output ---- */

/* Output left the process: feed the upstream and pending input again. */
static void
session_after_write(struct session *s)
{
	if (s->imap != NULL && session_backlog(s) < SESSION_OUT_LOW_WATER_OCTETS)
		imap_client_resume(s->imap);
	if (!s->step_pending && session_input_waiting(s) &&
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
/* Hands what the socket did not take (wire from offset off) to uv_write,
 * one write in flight; its buffer stays untouched until the callback. */
static void
session_write_rest(struct session *s, struct buf *wire, size_t off)
{
	struct buf	tmp;
	uv_buf_t	b;
	int		r;

	tmp = s->writing_buf;
	s->writing_buf = *wire;
	*wire = tmp;
	s->writing_off = off;
	b = uv_buf_init(s->writing_buf.data + off,
	    (unsigned int)(s->writing_buf.len - off));
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

/* A TLS failure on the client side: log why, send the alert OpenSSL
 * queued if the socket takes it, and close. */
static void
session_tls_failed(struct session *s, int r)
{
	uv_buf_t	b;

	log_info("tls-failed", "sid=%s peer=%s reason=\"%s\"", s->id, s->peer,
	    r == -EPROTO ? tls_channel_error(s->tls) : strerror(-r));
	if (!s->writing && s->tls_out.len > 0) {
		b = uv_buf_init(s->tls_out.data, (unsigned int)s->tls_out.len);
		(void)uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
	}
	buf_reset(&s->tls_out);
	session_close(s, s->tls_ready ? "tls error" : "tls handshake failed");
}

/*
 * Moves all plaintext output into TLS records (nothing while the
 * handshake runs), and queues close_notify once the last reply is in.
 * Returns 0, or -1 when the session was closed.
 */
static int
session_encrypt(struct session *s)
{
	size_t	off, n;
	int	r = 0;

	for (off = 0; off < s->out.len; off += n) {
		n = s->out.len - off;
		if (n > SESSION_TLS_RECORD_OCTETS)
			n = SESSION_TLS_RECORD_OCTETS;
		r = tls_channel_write(s->tls, s->out.data + off, n,
		    &s->tls_out);
		if (r != 0)
			break;
	}
	buf_consume(&s->out, off);
	if (r != 0 && r != -EAGAIN) {
		session_tls_failed(s, r);
		return -1;
	}
	if (s->close_after_flush && s->out.len == 0 && s->tls_ready &&
	    !s->tls_shutdown) {
		s->tls_shutdown = true;
		(void)tls_channel_shutdown(s->tls, &s->tls_out);
	}
	return 0;
}

static void
session_flush(struct session *s)
{
	struct buf	*wire;
	uv_buf_t	 b;
	bool		 wrote = false;
	int		 r;

	for (;;) {
		if (s->closing || s->writing)
			return;
		if (s->tls != NULL && session_encrypt(s) != 0)
			return;
		wire = s->tls != NULL ? &s->tls_out : &s->out;
		if (wire->len == 0)
			break;
		b = uv_buf_init(wire->data, (unsigned int)wire->len);
		r = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
		if (r < 0 && r != UV_EAGAIN) {
			session_close(s, "client write error");
			return;
		}
		if (r < 0)
			r = 0;
		s->bytes_out += (uint64_t)r;
		if ((size_t)r < wire->len) {
			session_write_rest(s, wire, (size_t)r);
			return;
		}
		buf_reset(wire);
		wrote = true;
		/* Under TLS, plaintext waits behind the handshake or was
		 * encrypted in part; plaintext output is all gone. */
		if (s->tls == NULL || s->out.len == 0)
			break;
	}
	if (s->close_after_flush && (s->out.len == 0 || !s->tls_ready))
		session_close(s, s->end_reason != NULL ? s->end_reason :
		    "closed");
	else if (wrote)
		session_after_write(s);
}

/* ---- TLS and the authentication policy ---- */

/*
 * What may authenticate on this connection right now. Credentials travel
 * in the clear without TLS, so USER/PASS and every SASL mechanism (all of
 * ours carry a password or a bearer token) need TLS, unless the listener
 * opts in or the peer is in its trusted networks (RFC 2595 sec. 2.1,
 * RFC 8314 sec. 5). Called at accept and again after the handshake.
 */
static void
session_update_policy(struct session *s)
{
	struct pop3_options	*o = &s->pop3.opt;
	unsigned int		 upstream = imap_upstream_mechs();
	bool			 allowed;

	allowed = s->tls_ready || s->listener->plaintext_auth ||
	    s->peer_trusted;
	o->stls_available = s->listener->tls == CONFIG_LISTENER_TLS_STARTTLS &&
	    s->tls_profile != NULL;
	o->tls_active = s->tls != NULL;
	o->user_allowed = allowed;
	/* PLAIN and LOGIN become IMAP LOGIN or AUTHENTICATE PLAIN, which
	 * works unless the upstream is known to take no password at all;
	 * the bearer mechanisms are relayed as they are, so the upstream
	 * must have them (until it was first seen, offer none of them). */
	o->sasl_mechs = 0;
	if (!allowed)
		return;
	if (!(upstream & IMAP_MECHS_KNOWN) ||
	    (upstream & ((1u << SASL_MECH_PLAIN) | (1u << SASL_MECH_LOGIN))))
		o->sasl_mechs = (1u << SASL_MECH_PLAIN) |
		    (1u << SASL_MECH_LOGIN);
	o->sasl_mechs |= upstream & ((1u << SASL_MECH_XOAUTH2) |
	    (1u << SASL_MECH_OAUTHBEARER));
}

/* The handshake just completed: log what was negotiated (an admin lists
 * which devices still need TLS 1.0 from these lines). */
static void
session_tls_established(struct session *s)
{
	const char	*sni = tls_channel_sni(s->tls);

	s->tls_ready = true;
	log_info("tls", "sid=%s peer=%s version=%s cipher=%s sni=%s", s->id,
	    s->peer, tls_channel_version(s->tls), tls_channel_cipher(s->tls),
	    sni != NULL && *sni != '\0' ? sni : "-");
	session_update_policy(s);
}

/* Starts server-side TLS: at accept for implicit TLS, after "+OK" for
 * STLS. Returns false (session closed) when it cannot. */
static bool
session_start_tls(struct session *s)
{
	s->tls = tls_channel_new_server(s->tls_profile);
	if (s->tls == NULL) {
		s->end_reason = "out of memory";
		s->close_after_flush = true;
		return false;
	}
	s->pop3.opt.tls_active = true;
	return true;
}

/* Ciphertext from the socket: decrypt into the command buffer. */
static void
session_tls_input(struct session *s, const char *data, size_t len)
{
	int	r;

	r = tls_channel_feed(s->tls, data, len, &s->in, &s->tls_out);
	if (r < 0) {
		session_tls_failed(s, r);
		return;
	}
	if (r == 1) {
		session_close(s, "client closed");
		return;
	}
	if (!s->tls_ready && tls_channel_handshake_done(s->tls))
		session_tls_established(s);
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
	if (session_input_waiting(s))
		session_kick(s);
	else if (!s->closing)
		uv_idle_stop(&s->kick);
	session_arm_timer(s);
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
	unsigned int		 delay;

	if (result == IMAP_OK) {
		authfail_clear((struct sockaddr *)&s->peer_addr);
		if (!imap_client_tls_info(s->imap, &version, &cipher))
			version = cipher = "-";
		log_info("login", "sid=%s peer=%s user=%s method=%s result=ok "
		    "messages=%u upstream_tls=%s upstream_cipher=%s", s->id,
		    s->peer, s->user, s->method, md->count, version, cipher);
		step = pop3_login_done(&s->pop3, md, POP3_RESP_NONE, NULL,
		    &s->out);
		session_handle_step(s, &step);
		session_step_done(s);
		return;
	}
	/* RFC 1939 sec. 4: release the lock before rejecting. */
	session_release_lock(s);
	imap_client_close(s->imap, NULL);
	s->imap = NULL;
	/* Bad credentials wait, longer for each failure from the address,
	 * so guessing is slow; the reply says nothing until then. An
	 * upstream outage is not the client's fault and answers at once. */
	delay = 0;
	if (result == IMAP_ERR_AUTH)
		delay = authfail_record((struct sockaddr *)&s->peer_addr,
		    uv_hrtime() / 1000000, s->worker->config->auth_failure_delay_ms,
		    s->worker->config->auth_failure_delay_max_ms);
	log_info("login", "sid=%s peer=%s user=%s method=%s result=%s "
	    "delay_ms=%u reason=\"%s\"", s->id, s->peer, s->user, s->method,
	    imap_result_name(result), delay, detail);
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
	s->method = step->mech == 0 ? "USER" : sasl_mech_name(step->mech);
	if (!s->plaintext_logged && s->tls == NULL) {
		/* Credentials crossed the network in the clear: say so once,
		 * and why it was allowed. */
		s->plaintext_logged = true;
		log_info("plaintext-auth", "sid=%s peer=%s listener=%s "
		    "reason=\"%s\"", s->id, s->peer, s->listener->name,
		    s->peer_trusted ? "peer in trusted_networks" :
		    "plaintext_auth = yes");
	}
	if (c->upstream_tls != CONFIG_UPSTREAM_PLAIN && !c->upstream_verify)
		log_warn("upstream-tls-unverified", "sid=%s upstream=%s", s->id,
		    c->upstream_url);
	worker_imap_config(s->worker, &ic);
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
	if (step->mech == SASL_MECH_XOAUTH2 ||
	    step->mech == SASL_MECH_OAUTHBEARER)
		imap_client_login_sasl(s->imap, sasl_mech_name(step->mech),
		    step->user, step->sasl_msg, step->sasl_msg_len);
	else
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
	/* Pipelined commands wait in the kernel (or inside TLS) rather than
	 * in our buffer. */
	want = !s->close_after_flush && s->in.len < SESSION_IN_PAUSE_OCTETS &&
	    (s->tls == NULL || !tls_channel_pending(s->tls));
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

	for (;;) {
		while (!s->closing && !s->step_pending &&
		    !s->close_after_flush &&
		    session_backlog(s) < SESSION_OUT_HIGH_WATER_OCTETS) {
			/* AUTH lines may carry a long token; other
			 * commands keep the 255-octet limit. */
			pop3_line_set_max(&s->lines,
			    pop3_session_line_limit(&s->pop3));
			used = pop3_line_next(&s->lines, s->in.data, s->in.len,
			    &kind, &line, &len);
			if (kind == POP3_LINE_NONE) {
				buf_consume(&s->in, used);
				break;
			}
			if (kind == POP3_LINE_OK) {
				step = pop3_execute(&s->pop3, line, len,
				    &s->out);
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
		/* TLS held back plaintext while the buffer was full. */
		if (s->closing || s->tls == NULL || s->step_pending ||
		    s->close_after_flush || !tls_channel_pending(s->tls) ||
		    s->in.len >= SESSION_IN_PAUSE_OCTETS)
			break;
		session_tls_input(s, NULL, 0);
	}
	if (s->closing)
		return;
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
	if (s->tls != NULL) {
		session_tls_input(s, b->base, (size_t)nread);
		if (s->closing)
			return;
	} else if (buf_append(&s->in, b->base, (size_t)nread) != 0) {
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
	s->peer_addr = ss;
	s->peer_trusted = config_network_contains(s->listener->trusted,
	    s->listener->ntrusted, (struct sockaddr *)&ss);
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
	buf_init(&s->tls_out, SESSION_TLS_OUT_MAX_OCTETS);
	buf_init(&s->writing_buf, SESSION_TLS_OUT_MAX_OCTETS);
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
	w->nsessions++;
	return s;
}

void
session_accept(struct worker *w, uv_stream_t *server)
{
	const struct config_listener	*l = server->data;
	struct pop3_options		 opt;
	struct session			*s;
	static const char *const	 tls_names[] = {
		[CONFIG_LISTENER_TLS_NONE] = "none",
		[CONFIG_LISTENER_TLS_STARTTLS] = "starttls",
		[CONFIG_LISTENER_TLS_IMPLICIT] = "implicit",
	};

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
	s->tls_profile = w->tls.listener[l - w->config->listeners];
	s->start_ms = uv_now(&w->loop);
	snprintf(s->id, sizeof(s->id), "%02x%06llx", w->index & 0xff,
	    (unsigned long long)(++w->next_session & 0xffffff));
	session_format_peer(s);
	memset(&opt, 0, sizeof(opt));
	opt.uidl = &w->config->uidl;
	opt.greeting = SESSION_GREETING;
	opt.implementation = "popgate " POPGATE_VERSION;
	opt.pipelining = true;
	pop3_session_init(&s->pop3, &opt);
	log_info("session-start", "sid=%s peer=%s listener=%s tls=%s", s->id,
	    s->peer, l->name, tls_names[l->tls]);
	if (l->tls == CONFIG_LISTENER_TLS_IMPLICIT && !session_start_tls(s)) {
		session_flush(s);
		return;
	}
	session_update_policy(s);
	if (w->nsessions > w->config->max_sessions) {
		/* Under implicit TLS nothing can be said before the
		 * handshake: just close. */
		if (s->tls == NULL)
			pop3_reply_err(&s->out, POP3_RESP_SYS_TEMP,
			    "Too many connections, try again later.");
		s->end_reason = "session limit";
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

void
session_shutdown(struct session *s)
{
	if (s->closing)
		return;
	s->draining = true;
	if (!s->step_pending && !s->writing && s->out.len == 0)
		session_close(s, "shutdown");
}
