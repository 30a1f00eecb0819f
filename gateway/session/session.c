/* SPDX-License-Identifier: MIT */
/*
 * session.c - one POP3 connection from accept to free: admission and the
 * PROXY header, the greeting, the engine's steps handed to their parts
 * (login: session_login.c; RETR, TOP and QUIT on the backend:
 * session_maildrop.c), the mailbox lock, and the end of the session with
 * its log line. The byte path (socket, TLS) is in session_io.c, the
 * deadlines in session_timer.c.
 */
#include "session_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "accounts.h"
#include "addr.h"
#include "addrlimit.h"
#include "metrics.h"
#include "proxy_proto.h"
#include "lock.h"
#include "log.h"
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

	if (s->open_handles > 0 || s->backend_alive > 0 ||
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
	metrics_session_end(s->worker->shared->metrics,
	    session_listener_index(s), s->bytes_in, s->bytes_out, n->retr,
	    n->top, s->dele_committed);
	/* A QUIT commit still running keeps the mailbox until it ends. */
	if (!s->committing)
		session_release_lock(s);
	session_login_cleanup(s);
	if (s->addr_counted) {
		addrlimit_release(s->worker->shared->addrlimit,
		    (struct sockaddr *)&s->peer_addr);
		s->addr_counted = false;
	}
	if (s->backend != NULL) {
		/* Without QUIT nothing is deleted; \Seen may be stored. A
		 * QUIT's commit under way runs on (session_abort ends it). */
		backend_close(s->backend, s->pop3.has_maildrop ?
		    &s->pop3.maildrop : NULL);
		if (s->committing)
			s->late_commit = s->backend;
		s->backend = NULL;
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
		backend_abort(s->late_commit);
		s->late_commit = NULL;
	}
}

/* ---- the mailbox lock ---- */

/*
 * The lock's answer, handed to the backend as the last thing done here: a
 * refusal ends the login in session_on_login(), which closes the backend.
 * The in-process lock answers from within session_on_lock(), so inside
 * the backend's dispatch, where a refusal was always reported; a lock
 * elsewhere answers on a later loop turn. A session that closed or failed
 * meanwhile cancelled the request (session_release_lock()), so s->backend
 * is the one that asked.
 */
static void
session_lock_done(struct lock_request *req, enum lock_result result)
{
	struct session	*s = req->arg;

	backend_lock_done(s->backend, result == LOCK_GRANTED ? BACKEND_OK :
	    result == LOCK_BUSY ? BACKEND_ERR_IN_USE : BACKEND_ERR_TEMP);
}

/* Asked by the backend once the credentials were accepted (RFC 1939
 * sec. 4: the maildrop is locked for the rest of the session). */
void
session_on_lock(void *arg, const char *identity)
{
	struct session	*s = arg;

	if (strlen(identity) >= sizeof(s->lock_identity)) {
		backend_lock_done(s->backend, BACKEND_ERR_IN_USE);
		return;
	}
	snprintf(s->lock_identity, sizeof(s->lock_identity), "%s", identity);
	lock_request(s->worker->shared->lock, &s->lock, s->lock_identity,
	    &s->worker->loop, session_lock_done, s);
}

/* Lets go of the mailbox lock, or of a request for it still waiting. */
void
session_release_lock(struct session *s)
{
	lock_drop(s->worker->shared->lock, &s->lock);
}

/* ---- steps ---- */

void
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

void
session_handle_step(struct session *s, const struct pop3_step *step)
{
	switch (step->next) {
	case POP3_NEXT_READ:
		break;
	case POP3_NEXT_LOGIN:
		session_login_start(s, step);
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

bool
session_peer_in(const struct config_network *nets, unsigned int n,
    const struct sockaddr *peer)
{
	unsigned int	i;

	for (i = 0; i < n; i++)
		if (addr_in_network(peer,
		    (const struct sockaddr *)&nets[i].addr, nets[i].prefix))
			return true;
	return false;
}

/* The session's client is addr from now on: for the log, the trusted
 * networks and the per-address limits. */
static void
session_set_peer(struct session *s, const struct sockaddr_storage *ss)
{
	s->peer_addr = *ss;
	s->peer_trusted = session_peer_in(s->listener->trusted,
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
		switch (addrlimit_acquire(s->worker->shared->addrlimit,
		    (struct sockaddr *)&s->peer_addr,
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
		metrics_session_refused(s->worker->shared->metrics,
		    session_listener_index(s), why);
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
	metrics_session_refused(s->worker->shared->metrics,
	    session_listener_index(s), METRICS_REFUSED_PROXY);
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
	metrics_session_start(w->shared->metrics, session_listener_index(s));
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
	if (!session_peer_in(l->proxy_from, l->nproxy_from,
	    (struct sockaddr *)&ss)) {
		session_proxy_refused(s, "not in proxy_networks");
		return;
	}
	snprintf(s->via, sizeof(s->via), "%s", s->peer);
	s->proxy_pending = true;
	session_arm_timer(s);
	session_update_reading(s);
}
