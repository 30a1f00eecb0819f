/* SPDX-License-Identifier: MIT */
/*
 * session_io.c - the byte path of a POP3 session: command lines in, replies
 * and message bodies out, with uv_try_write first and one uv_write in
 * flight, and TLS (implicit or after STLS) through the memory-BIO channel.
 * The authentication policy lives here because TLS changes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "session_int.h"
#include "tls_channel.h"
#include "upstream_caps.h"
#include "worker.h"

/* ---- output ---- */

/* Output left the process: feed the upstream and pending input again. */
void
session_after_write(struct session *s)
{
	if (s->backend != NULL && stream_low(&s->stream))
		backend_resume(s->backend);
	if (!s->step_pending && session_input_waiting(s) &&
	    !stream_full(&s->stream))
		session_kick(s);
	session_arm_timer(s);
}

/* A TLS failure on the client side (the stream sent OpenSSL's alert if
 * the socket took it): log why, and close. */
static void
session_tls_failed(struct session *s, int r)
{
	if (!s->tls_ready)
		metrics_tls_failed(s->worker->shared->metrics,
		    session_listener_index(s));
	log_info("tls-failed", "sid=%s peer=%s reason=\"%s\"", s->id, s->peer,
	    r == -EPROTO ? tls_channel_error(s->tls) : strerror(-r));
	session_close(s, s->tls_ready ? "tls error" : "tls handshake failed");
}

static void
session_written(void *arg, size_t n, int status)
{
	struct session	*s = arg;

	s->bytes_out += n;
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

static const struct stream_callbacks session_stream_cb = {
	.written = session_written,
};

void
session_stream_init(struct session *s)
{
	/* Nothing is read while records wait: no headroom needed. */
	stream_init(&s->stream, (uv_stream_t *)&s->tcp, &s->out,
	    SESSION_TLS_OUT_MAX_OCTETS, 0, &session_stream_cb, s);
	stream_set_watermarks(&s->stream, SESSION_OUT_LOW_WATER_OCTETS,
	    SESSION_OUT_HIGH_WATER_OCTETS);
}

/*
 * Writes queued output (net/stream.c: uv_try_write first, one uv_write in
 * flight, TLS records, close_notify after the last reply). Closes once
 * the last reply is out when close_after_flush is set.
 */
void
session_flush(struct session *s)
{
	ssize_t	n;

	if (s->closing)
		return;
	if (s->close_after_flush)
		stream_end(&s->stream);
	n = stream_flush(&s->stream);
	if (n < 0) {
		if (stream_failed_in_tls(&s->stream))
			session_tls_failed(s, (int)n);
		else
			session_close(s, "client write error");
		return;
	}
	s->bytes_out += (uint64_t)n;
	if (stream_busy(&s->stream))
		return;
	/* Plaintext held behind a handshake that never completed is
	 * dropped. */
	if (s->close_after_flush && (s->out.len == 0 || !s->tls_ready))
		session_close(s, s->end_reason != NULL ? s->end_reason :
		    "closed");
	else if (n > 0)
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
void
session_update_policy(struct session *s)
{
	struct pop3_options	*o = &s->pop3.opt;
	unsigned int		 listed, accepted;
	bool			 allowed;

	allowed = s->tls_ready || s->listener->plaintext_auth ||
	    s->peer_trusted;
	o->stls_available = s->listener->tls == CONFIG_LISTENER_TLS_STARTTLS &&
	    s->tls_profile != NULL;
	o->tls_active = s->tls != NULL;
	o->user_allowed = allowed;
	/* PLAIN and LOGIN become IMAP LOGIN or AUTHENTICATE PLAIN; the
	 * bearer mechanisms are relayed as they are, so the upstream must
	 * have them. The user, and so the upstream, is not known yet:
	 * upstream_caps_sasl() says what every route can take. */
	o->sasl_mechs = 0;
	o->sasl_unlisted = 0;
	if (!allowed)
		return;
	upstream_caps_sasl(s->worker->shared->caps, s->config, s->gen->relayable,
	    &listed, &accepted);
	o->sasl_mechs = listed;
	o->sasl_unlisted = accepted & ~listed;
}

/* The handshake just completed: log what was negotiated (an admin lists
 * which devices still need TLS 1.0 from these lines). */
static void
session_tls_established(struct session *s)
{
	const char	*sni = tls_channel_sni(s->tls);
	char		 sni_log[256];	/* RFC 6066: at most 255 octets */

	s->tls_ready = true;
	metrics_tls_handshake(s->worker->shared->metrics,
	    session_listener_index(s),
	    metrics_tls_version_from_name(tls_channel_version(s->tls)));
	/* The client chose those octets: escaped like every client value. */
	log_value(sni_log, sizeof(sni_log), sni != NULL ? sni : "");
	log_info("tls", "sid=%s peer=%s version=%s cipher=%s sni=%s", s->id,
	    s->peer, tls_channel_version(s->tls), tls_channel_cipher(s->tls),
	    sni_log);
	session_update_policy(s);
}

/* Starts server-side TLS: at accept for implicit TLS, after "+OK" for
 * STLS. Returns false (session closed) when it cannot. */
bool
session_start_tls(struct session *s)
{
	s->tls = tls_channel_new_server(s->tls_profile);
	if (s->tls == NULL) {
		s->end_reason = "out of memory";
		s->close_after_flush = true;
		return false;
	}
	(void)stream_start_tls(&s->stream, s->tls, false);
	s->pop3.opt.tls_active = true;
	/* The handshake's own deadline starts now. */
	s->tls_start_ms = uv_now(&s->worker->loop);
	session_arm_timer(s);
	return true;
}

/* Ciphertext from the socket: decrypt into the command buffer. */
void
session_tls_input(struct session *s, const char *data, size_t len)
{
	int	r;

	r = stream_tls_feed(&s->stream, data, len, &s->in);
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

void
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

/*
 * Before login a client may send login_max_octets of command input (used:
 * what the line reader just took). Without a cap a line that never ends
 * is read and dropped until the login deadline. Input pipelined behind a
 * login in progress is not counted: it is read in the state the login
 * leads to. Returns true when the session is ending.
 */
static bool
session_login_overflow(struct session *s, size_t used)
{
	if (s->pop3.state != POP3_STATE_AUTHORIZATION)
		return false;
	s->login_octets += used;
	if (s->login_octets <= s->config->login_max_octets)
		return false;
	log_warn("login-input-limit", "sid=%s peer=%s listener=%s octets=%llu "
	    "limit=%u", s->id, s->peer, s->listener->name,
	    (unsigned long long)s->login_octets, s->config->login_max_octets);
	pop3_reply_err(&s->out, POP3_RESP_NONE,
	    "Too much input before authentication.");
	s->end_reason = "login input limit";
	s->close_after_flush = true;
	return true;
}

void
session_process_input(struct session *s)
{
	struct pop3_step	 step;
	enum pop3_line_kind	 kind;
	char			*line;
	size_t			 len, used;

	for (;;) {
		while (!s->closing && !s->step_pending &&
		    !s->close_after_flush &&
		    !stream_full(&s->stream)) {
			/* AUTH lines may carry a long token; other
			 * commands keep the 255-octet limit. */
			pop3_line_set_max(&s->lines,
			    pop3_session_line_limit(&s->pop3));
			used = pop3_line_next(&s->lines, s->in.data, s->in.len,
			    &kind, &line, &len);
			/* Left in the buffer, wiped when the session ends. */
			if (session_login_overflow(s, used))
				break;
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
	session_check_drain(s);
	session_flush(s);
	session_update_reading(s);
}

void
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
	if (s->proxy_pending) {
		/* The header is short: it never outgrows the buffer. */
		if (buf_append(&s->in, b->base, (size_t)nread) != 0) {
			session_close(s, "input overflow");
			return;
		}
		session_proxy_input(s);
		if (s->closing || s->proxy_pending) {
			if (!s->closing)
				session_flush(s);
			return;
		}
	} else if (s->tls != NULL) {
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

