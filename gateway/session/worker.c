/* SPDX-License-Identifier: MIT */
/*
 * worker.c - per-thread loop, SO_REUSEPORT listeners and shutdown drain.
 * Debian's libuv 1.44 has no UV_TCP_REUSEPORT, so sockets are made here and
 * handed to libuv with uv_tcp_open().
 */
#include "worker.h"
#include "accounts.h"
#include "oauth2.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "log.h"
#include "sasl.h"
#include "session.h"
#include "upstream_caps.h"

/* listen(2) backlog: bursts of devices polling on the minute. */
#define WORKER_LISTEN_BACKLOG	1024

static int
worker_bind(const struct config_listener *l)
{
	int	fd, one = 1, r;

	fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (l->addr.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

/*
 * SO_REUSEPORT would let a second popgate of the same user bind this
 * address too and silently take part of the connections. A probe without
 * it conflicts with any socket already listening there (ours are not bound
 * yet); SO_REUSEADDR lets it ignore connections in TIME_WAIT and those a
 * previous instance is still draining. Two instances starting in the same
 * instant could both pass: the window is from here to our first listen().
 */
static int
worker_probe_address(const struct config_listener *l)
{
	int	fd, one = 1, r = 0;

	fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (l->addr.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0)
		r = -errno;
	close(fd);
	return r;
}

void
worker_backend_config(const struct worker_gen *g,
    const struct config_upstream *u, struct backend_config *bc)
{
	worker_backend_settings(g->config, &g->tls, u, bc);
}

void
worker_backend_settings(const struct config *c, const struct tls_setup *t,
    const struct config_upstream *u, struct backend_config *bc)
{
	static const enum backend_tls	 modes[] = {
		[CONFIG_UPSTREAM_PLAIN] = BACKEND_TLS_NONE,
		[CONFIG_UPSTREAM_IMPLICIT] = BACKEND_TLS_IMPLICIT,
		[CONFIG_UPSTREAM_STARTTLS] = BACKEND_TLS_STARTTLS,
	};

	memset(bc, 0, sizeof(*bc));
	bc->kind = BACKEND_IMAP;
	bc->host = u->host;
	bc->port = u->port;
	bc->mailbox = u->mailbox;
	bc->connect_timeout_ms = c->connect_timeout_ms;
	bc->command_timeout_ms = c->command_timeout_ms;
	bc->chunk_octets = c->fetch_chunk_octets;
	bc->window = c->fetch_window;
	bc->seen_on_retr = c->seen_on_retr;
	bc->fetch_ahead = c->fetch_ahead;
	bc->tls = modes[u->tls];
	bc->tls_profile = t->upstream[u - c->upstreams];
	bc->tls_server_name = u->host;
}

/* ---- capability probes: which SASL mechanisms each upstream takes ---- */

static void
worker_probe_caps(void *arg, unsigned int mechs)
{
	struct worker_probe	*p = arg;

	upstream_caps_set(p->worker->shared->caps, p->gen->config, p->upstream,
	    mechs);
}

static void
worker_probe_done(void *arg, enum backend_result result,
    struct pop3_maildrop *md, const char *detail)
{
	struct worker_probe	*p = arg;
	const char		*name = p->gen->config->upstreams[p->upstream].name;
	unsigned int		 mechs;

	(void)md;
	mechs = upstream_caps_get(p->worker->shared->caps, p->gen->config,
	    p->upstream);
	if (result == BACKEND_OK)
		log_info("upstream-probe", "upstream=%s result=ok xoauth2=%s "
		    "oauthbearer=%s", name,
		    mechs & (1u << SASL_MECH_XOAUTH2) ? "yes" : "no",
		    mechs & (1u << SASL_MECH_OAUTHBEARER) ? "yes" : "no");
	else
		log_warn("upstream-probe", "upstream=%s result=%s reason=\"%s\"",
		    name, backend_result_name(result), detail);
}

static void
worker_probe_closed(void *arg, struct backend *b)
{
	struct worker_probe	*p = arg;

	(void)b;
	p->client = NULL;
	worker_gen_release(p->gen);
	p->gen = NULL;
}

static const struct backend_callbacks worker_probe_callbacks = {
	.login_done = worker_probe_done,
	.caps = worker_probe_caps,
	.closed = worker_probe_closed,
};

/* Learns every upstream's capabilities before the first client asks CAPA:
 * XOAUTH2 and OAUTHBEARER are offered only when the upstreams have them.
 * One already known (a reload kept it) is not asked again. A failure is
 * only logged; every login reads them again. */
static void
worker_start_probes(struct worker *w)
{
	const struct config		*c = w->gen->config;
	struct worker_probe		*p;
	struct backend_config		 bc;
	unsigned int			 i;

	for (i = 0; i < c->nupstreams; i++) {
		p = &w->probes[i];
		if (p->client != NULL ||
		    upstream_caps_get(w->shared->caps, c, i) != 0)
			continue;
		worker_backend_config(w->gen, &c->upstreams[i], &bc);
		p->upstream = i;
		p->worker = w;
		p->client = backend_new(&w->loop, &bc,
		    &worker_probe_callbacks, p);
		if (p->client == NULL)
			continue;
		/* The client borrows the configuration's strings. */
		p->gen = w->gen;
		worker_gen_hold(p->gen);
		backend_probe(p->client);
	}
}

static void
worker_on_connection(uv_stream_t *server, int status)
{
	struct worker	*w = server->loop->data;

	if (status < 0) {
		log_warn("accept-error", "worker=%u error=%s", w->index,
		    uv_err_name(status));
		return;
	}
	session_accept(w, server);
}

static void
worker_handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void
worker_maybe_finish(struct worker *w)
{
	unsigned int	i;

	if (!w->stopping || w->nsessions > 0)
		return;
	for (i = 0; i < w->nlisteners; i++)
		if (!uv_is_closing((uv_handle_t *)&w->listeners[i]))
			uv_close((uv_handle_t *)&w->listeners[i],
			    worker_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&w->wakeup))
		uv_close((uv_handle_t *)&w->wakeup, worker_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&w->drain_timer))
		uv_close((uv_handle_t *)&w->drain_timer, worker_handle_closed);
	if (w->oauth2 != NULL) {
		oauth2_client_close(w->oauth2);
		w->oauth2 = NULL;
	}
}

static void
worker_close_sessions(struct worker *w)
{
	struct session	*s, *next;

	for (s = w->sessions; s != NULL; s = next) {
		next = session_next(s);
		session_abort(s);
	}
}

static void
worker_drain_timeout(uv_timer_t *t)
{
	struct worker	*w = t->data;

	log_warn("drain-timeout", "worker=%u sessions=%u", w->index,
	    w->nsessions);
	worker_close_sessions(w);
}

static void worker_switch(struct worker *w, struct worker_gen *g);

/* Stop accepting now. Sessions not logged in end at once (or when their
 * command is done); logged-in ones go on until QUIT or their idle timeout
 * (session_shutdown), and all end at the drain timeout. Only QUIT commits
 * deletions. */
static void
worker_begin_drain(struct worker *w)
{
	struct session	*s, *next;
	unsigned int	 i;

	w->stopping = true;
	for (i = 0; i < w->nlisteners; i++)
		uv_close((uv_handle_t *)&w->listeners[i], worker_handle_closed);
	for (i = 0; i < CONFIG_MAX_UPSTREAMS; i++)
		if (w->probes[i].client != NULL)
			backend_close(w->probes[i].client, NULL);
	for (s = w->sessions; s != NULL; s = next) {
		next = session_next(s);
		session_shutdown(s);
	}
	uv_timer_start(&w->drain_timer, worker_drain_timeout,
	    w->config->drain_timeout_ms, 0);
	uv_unref((uv_handle_t *)&w->drain_timer);
}

static void
worker_on_wakeup(uv_async_t *a)
{
	struct worker		*w = a->data;
	struct worker_gen	*gen;

	gen = atomic_exchange(&w->pending, NULL);
	if (gen != NULL && !w->stopping)
		worker_switch(w, gen);
	else
		worker_gen_release(gen);
	if (!atomic_load(&w->stop_requested))
		return;
	if (!w->stopping)
		worker_begin_drain(w);
	/* A second signal: no more waiting for anyone. */
	if (atomic_load(&w->stop_now) && w->nsessions > 0) {
		log_warn("shutdown-now", "worker=%u sessions=%u", w->index,
		    w->nsessions);
		worker_close_sessions(w);
	}
	worker_maybe_finish(w);
}

/* max_sessions is per process: the kernel spreads connections over the
 * workers unevenly, and admins think in processes. */
static atomic_uint	worker_total_sessions;
static atomic_ullong	worker_ended_sessions;

unsigned int
worker_sessions_total(void)
{
	return atomic_load(&worker_total_sessions);
}

uint64_t
worker_sessions_ended(void)
{
	return atomic_load(&worker_ended_sessions);
}

void
worker_session_new(struct worker *w)
{
	w->nsessions++;
	atomic_fetch_add(&worker_total_sessions, 1);
}

void
worker_session_gone(struct worker *w)
{
	w->nsessions--;
	atomic_fetch_sub(&worker_total_sessions, 1);
	atomic_fetch_add(&worker_ended_sessions, 1);
	worker_maybe_finish(w);
}

/* main's loop, told when a worker's loop has ended. */
static uv_async_t	*worker_done_async;
static atomic_uint	 worker_done_count;

void
worker_set_done(uv_async_t *a)
{
	worker_done_async = a;
}

unsigned int
worker_done_total(void)
{
	return atomic_load(&worker_done_count);
}

static void
worker_main(void *arg)
{
	struct worker	*w = arg;

	uv_run(&w->loop, UV_RUN_DEFAULT);
	atomic_fetch_add(&worker_done_count, 1);
	if (worker_done_async != NULL)
		uv_async_send(worker_done_async);
}

void
config_ref_release(struct config_ref *r)
{
	if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1) {
		accounts_free(r->accounts);
		free(r->config);
		free(r);
	}
}

void
worker_gen_hold(struct worker_gen *g)
{
	g->refs++;
}

void
worker_gen_release(struct worker_gen *g)
{
	if (g == NULL || --g->refs > 0)
		return;
	tls_setup_free(&g->tls);
	config_ref_release(g->ref);
	free(g);
}

/* A generation for ref with TLS contexts of its own; NULL (logged)
 * when a certificate or key cannot be loaded. */
static struct worker_gen *
worker_gen_new(struct worker *w, struct config_ref *ref)
{
	struct worker_gen	*g;
	char			 err[512];

	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		log_error("tls-setup-failed", "worker=%u reason=\"out of "
		    "memory\"", w->index);
		return NULL;
	}
	/* main checked the same settings already; this only fails when a
	 * file changed in between. */
	if (tls_setup_build(&g->tls, ref->config, "config", err,
	    sizeof(err)) != 0) {
		log_error("tls-setup-failed", "worker=%u reason=\"%s\"",
		    w->index, err);
		free(g);
		return NULL;
	}
	atomic_fetch_add(&ref->refs, 1);
	g->ref = ref;
	g->config = ref->config;
	g->accounts = ref->accounts;
	g->relayable = upstream_caps_relayable(ref->config);
	g->refs = 1;
	return g;
}

/* On the worker's thread: sessions from now on use ref. */
static void
worker_switch(struct worker *w, struct worker_gen *g)
{
	unsigned int	i;

	for (i = 0; i < w->nlisteners; i++)
		w->listeners[i].data = (void *)&g->config->listeners[i];
	worker_gen_release(w->gen);
	w->gen = g;
	w->config = g->config;
	/* An upstream the reload added or moved is not known yet. */
	if (w->index == 0)
		worker_start_probes(w);
}

/*
 * Builds the worker's next generation here, on main's thread: loading
 * certificates and keys reads files, which a worker loop must not wait
 * for. The generation reaches the worker through pending (the exchange
 * orders it); one it never picked up is released here.
 */
void
worker_reload(struct worker *w, struct config_ref *ref)
{
	struct worker_gen	*g;

	g = worker_gen_new(w, ref);
	if (g == NULL) {
		log_error("reload", "worker=%u result=failed reason=\"TLS "
		    "setup failed; sessions keep the old configuration\"",
		    w->index);
		return;
	}
	worker_gen_release(atomic_exchange(&w->pending, g));
	uv_async_send(&w->wakeup);
}

int
worker_init(struct worker *w, unsigned int index, struct config_ref *ref,
    struct shared *shared)
{
	const struct config	*config = ref->config;
	unsigned int		 i;
	int			 r;

	memset(w, 0, sizeof(*w));
	w->index = index;
	w->shared = shared;
	atomic_init(&w->stop_requested, false);
	atomic_init(&w->stop_now, false);
	r = uv_loop_init(&w->loop);
	if (r < 0)
		return r;
	w->loop.data = w;
	uv_async_init(&w->loop, &w->wakeup, worker_on_wakeup);
	w->wakeup.data = w;
	uv_timer_init(&w->loop, &w->drain_timer);
	w->drain_timer.data = w;
	w->gen = worker_gen_new(w, ref);
	if (w->gen == NULL)
		return -EINVAL;
	/* Its async handle lives on this loop; the loop is not running yet. */
	if (shared->oauth2 != NULL &&
	    (w->oauth2 = oauth2_client_new(shared->oauth2, &w->loop)) == NULL)
		return -ENOMEM;
	w->config = w->gen->config;
	for (i = 0; i < config->nlisteners; i++) {
		const struct config_listener	*l = &config->listeners[i];

		if (index == 0 && (r = worker_probe_address(l)) < 0) {
			log_error("listen-failed", "listener=%s address=%s "
			    "error=\"%s\"", l->name, l->address, r == -EADDRINUSE ?
			    "address in use by another process" : strerror(-r));
			return r;
		}
		r = worker_bind(l);
		if (r < 0) {
			log_error("listen-failed", "listener=%s address=%s "
			    "error=%s", l->name, l->address, strerror(-r));
			return r;
		}
		uv_tcp_init(&w->loop, &w->listeners[i]);
		w->listeners[i].data = (void *)l;
		w->nlisteners++;
		r = uv_tcp_open(&w->listeners[i], r);
		if (r == 0)
			r = uv_listen((uv_stream_t *)&w->listeners[i],
			    WORKER_LISTEN_BACKLOG, worker_on_connection);
		if (r < 0) {
			log_error("listen-failed", "listener=%s address=%s "
			    "error=%s", l->name, l->address, uv_strerror(r));
			return r;
		}
	}
	return 0;
}

int
worker_run(struct worker *w)
{
	if (w->index == 0)
		worker_start_probes(w);
	return uv_thread_create(&w->thread, worker_main, w);
}

void
worker_request_stop(struct worker *w, bool now)
{
	if (now)
		atomic_store(&w->stop_now, true);
	atomic_store(&w->stop_requested, true);
	uv_async_send(&w->wakeup);
}

void
worker_join(struct worker *w)
{
	uv_thread_join(&w->thread);
	uv_loop_close(&w->loop);
	worker_gen_release(w->gen);
	w->gen = NULL;
	worker_gen_release(atomic_exchange(&w->pending, NULL));
}
