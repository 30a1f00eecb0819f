/* SPDX-License-Identifier: MIT */
/*
 * manager.c - the token manager: its source table, set at start and on
 * reload, and its life from oauth2_mgr_new() to oauth2_mgr_close().
 */
#include "oauth2_int.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_client.h"
#include "log.h"

/* Under lock. */
struct oauth2_source *
oauth2_find(struct oauth2_mgr *m, const char *name)
{
	unsigned int	i;

	for (i = 0; i < m->nsrc; i++)
		if (strcmp(m->src[i]->cfg.name, name) == 0)
			return m->src[i];
	return NULL;
}

/* ---- sources ---- */

void
oauth2_source_release(struct oauth2_source *s)
{
	if (--s->refs > 0)
		return;
	if (s->resp != NULL) {
		oauth2_json_wipe(s->resp, sizeof(*s->resp));
		free(s->resp);
	}
	oauth2_json_wipe(s, sizeof(*s));
	free(s);
}

/*
 * Once closing and nothing is left on the loop: done(). The manager is
 * freed here if no client refers to it any more, else by the last
 * oauth2_client_close(); the lock decides which, exactly once.
 */
void
oauth2_mgr_maybe_done(struct oauth2_mgr *m)
{
	void	(*done)(void *);
	void	*arg;
	bool	 last;

	if (!m->closing || m->pending > 0)
		return;
	done = m->done;
	arg = m->done_arg;
	pthread_mutex_lock(&m->lock);
	m->closed = true;
	last = LIST_EMPTY(&m->clients);
	pthread_mutex_unlock(&m->lock);
	/* Without last, m may be gone from here on. */
	if (done != NULL)
		done(arg);
	if (last) {
		pthread_mutex_destroy(&m->lock);
		free(m);
	}
}

/* ---- removal ---- */

/*
 * Stops whatever s is doing; s is already out of the table. A refresh
 * token request is left to finish unless force (shutdown): its answer may
 * rotate the refresh token, which must then be saved. The caller holds a
 * reference to s, so dropping the request's leaves s alive.
 */
static void
oauth2_source_stop(struct oauth2_source *s, bool force)
{
	if (s->req != NULL && !force &&
	    s->cfg.grant == CONFIG_OAUTH2_REFRESH_TOKEN) {
		if (!s->orphan) {
			s->orphan = true;
			LIST_INSERT_HEAD(&s->mgr->orphans, s, orphans);
		}
		return;
	}
	if (s->orphan) {
		s->orphan = false;
		LIST_REMOVE(s, orphans);
	}
	if (s->req != NULL) {
		http_request_cancel(s->req);
		s->req = NULL;
		assert(s->refs > 1);
		oauth2_source_release(s);	/* the request's reference */
	}
	oauth2_command_stop(s);
	/* READ and PERSIST jobs hold a reference and see "removed". */
	s->op = OAUTH2_OP_NONE;
}

/* ---- manager ---- */

static void	oauth2_mgr_finish_close(struct oauth2_mgr *m);

static void
oauth2_mgr_on_wakeup(uv_async_t *a)
{
	struct oauth2_mgr	*m = a->data;
	unsigned int		 i;

	/* Closing: the last refresh whose rotated token must be saved has
	 * answered. */
	if (m->closing) {
		if (LIST_EMPTY(&m->orphans))
			oauth2_mgr_finish_close(m);
		return;
	}
	/* Only this thread changes the table. */
	for (i = 0; i < m->nsrc; i++)
		oauth2_source_kick(m->src[i]);
}

struct oauth2_mgr *
oauth2_mgr_new(uv_loop_t *loop, const struct oauth2_settings *s)
{
	struct oauth2_mgr	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->loop = loop;
	if (s != NULL)
		m->set = *s;
	if (m->set.refresh_margin_ms == 0)
		m->set.refresh_margin_ms = OAUTH2_DEFAULT_MARGIN_MS;
	if (m->set.backoff_min_ms == 0)
		m->set.backoff_min_ms = OAUTH2_DEFAULT_BACKOFF_MIN_MS;
	if (m->set.backoff_max_ms == 0)
		m->set.backoff_max_ms = OAUTH2_DEFAULT_BACKOFF_MAX_MS;
	if (m->set.backoff_max_ms < m->set.backoff_min_ms)
		m->set.backoff_max_ms = m->set.backoff_min_ms;
	if (m->set.http_timeout_ms == 0)
		m->set.http_timeout_ms = OAUTH2_DEFAULT_HTTP_TIMEOUT_MS;
	m->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^
	    (uint64_t)(uintptr_t)m;
	if (m->rng == 0)
		m->rng = 1;
	LIST_INIT(&m->clients);
	LIST_INIT(&m->orphans);
	if ((m->http = http_client_new(loop)) == NULL) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	uv_async_init(loop, &m->wakeup, oauth2_mgr_on_wakeup);
	m->wakeup.data = m;
	return m;
}

static bool
oauth2_cfg_equal(const struct config_oauth2 *a, const struct config_oauth2 *b)
{
	return strcmp(a->name, b->name) == 0 && a->grant == b->grant &&
	    strcmp(a->token_url, b->token_url) == 0 &&
	    strcmp(a->device_url, b->device_url) == 0 &&
	    strcmp(a->client_id, b->client_id) == 0 &&
	    strcmp(a->client_secret, b->client_secret) == 0 &&
	    strcmp(a->scope, b->scope) == 0 &&
	    strcmp(a->refresh_token_file, b->refresh_token_file) == 0 &&
	    strcmp(a->command, b->command) == 0 &&
	    a->command_timeout_ms == b->command_timeout_ms &&
	    a->command_lifetime_s == b->command_lifetime_s &&
	    strcmp(a->ca_file, b->ca_file) == 0;
}

/* NULL if c can serve, else why not. */
static const char *
oauth2_cfg_check(const struct config_oauth2 *c, char *buf, size_t len)
{
	if (c->name[0] == '\0')
		return "no name";
	switch (c->grant) {
	case CONFIG_OAUTH2_REFRESH_TOKEN:
	case CONFIG_OAUTH2_CLIENT_CREDENTIALS:
		if (c->grant == CONFIG_OAUTH2_REFRESH_TOKEN &&
		    c->refresh_token_file[0] == '\0')
			return "no refresh_token_file";
		if (c->client_id[0] == '\0')
			return "no client_id";
		if (c->token_url[0] == '\0')
			return "no token_url";
		if (http_url_check(c->token_url, buf, len) != 0)
			return buf;
		break;
	case CONFIG_OAUTH2_COMMAND:
		if (c->command[0] == '\0')
			return "no command";
		break;
	}
	return NULL;
}

/* Same name, and the same line of refresh tokens (one file): a changed
 * source of this kind is reconfigured in place, so that a refresh in
 * flight and its rotated refresh token are not lost. */
static bool
oauth2_cfg_same_line(const struct config_oauth2 *a,
    const struct config_oauth2 *b)
{
	return strcmp(a->name, b->name) == 0 &&
	    a->grant == CONFIG_OAUTH2_REFRESH_TOKEN &&
	    b->grant == CONFIG_OAUTH2_REFRESH_TOKEN &&
	    strcmp(a->refresh_token_file, b->refresh_token_file) == 0;
}

/* Under lock: new settings for s. Its cached access token and back-off
 * go; its refresh token stays unless it was asked for by another client
 * or at another endpoint (then the file is read again). */
static void
oauth2_source_reconfigure(struct oauth2_source *s,
    const struct config_oauth2 *c)
{
	bool	other = strcmp(s->cfg.client_id, c->client_id) != 0 ||
	    strcmp(s->cfg.token_url, c->token_url) != 0;

	s->cfg = *c;
	s->gen++;
	oauth2_json_wipe(s->access, s->access_len);
	s->access_len = 0;
	s->refresh_at_ms = s->usable_until_ms = s->expires_at_ms = 0;
	s->backoff_until_ms = 0;
	s->backoff_ms = 0;
	s->fail_reason[0] = '\0';
	if (other && !s->busy) {
		oauth2_json_wipe(s->refresh, sizeof(s->refresh));
		s->refresh_len = 0;
		s->refresh_loaded = false;
		s->has_refresh = false;
		s->dead_fp[0] = '\0';
	}
}

static struct oauth2_source *
oauth2_source_new(struct oauth2_mgr *m, const struct config_oauth2 *c)
{
	struct oauth2_source	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->mgr = m;
	s->cfg = *c;
	s->refs = 1;
	TAILQ_INIT(&s->waiters);
	return s;
}

/* 0 if every source in v can serve, else -EINVAL (logged). */
static int
oauth2_cfg_check_all(const struct config_oauth2 *v, unsigned int n)
{
	const char		*why;
	char			 buf[HTTP_MAX_ERROR];
	unsigned int		 i, j;

	if (n > CONFIG_MAX_OAUTH2) {
		log_error("oauth2-config", "reason=\"more than %d token "
		    "sources\"", CONFIG_MAX_OAUTH2);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		why = oauth2_cfg_check(&v[i], buf, sizeof(buf));
		for (j = 0; why == NULL && j < i; j++)
			if (strcmp(v[i].name, v[j].name) == 0)
				why = "defined twice";
		if (why != NULL) {
			log_error("oauth2-config", "source=%s line=%u "
			    "reason=\"%s\"", v[i].name[0] != '\0' ? v[i].name :
			    "-", v[i].line, why);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * The source each of v is served by: an unchanged one, a changed one on
 * the same line of refresh tokens (reconf), or a new one. keep marks the
 * old sources that stay. Returns 0, or -ENOMEM (logged, nothing changed).
 */
static int
oauth2_mgr_match(struct oauth2_mgr *m, const struct config_oauth2 *v,
    unsigned int n, struct oauth2_source **next, bool *keep, bool *reconf)
{
	bool			 fresh[CONFIG_MAX_OAUTH2];
	unsigned int		 i, j;

	memset(keep, 0, CONFIG_MAX_OAUTH2 * sizeof(*keep));
	memset(fresh, 0, sizeof(fresh));
	memset(reconf, 0, CONFIG_MAX_OAUTH2 * sizeof(*reconf));
	for (i = 0; i < n; i++) {
		next[i] = NULL;
		for (j = 0; j < m->nsrc && next[i] == NULL; j++)
			if (oauth2_cfg_equal(&m->src[j]->cfg, &v[i])) {
				next[i] = m->src[j];
				keep[j] = true;
			}
		for (j = 0; j < m->nsrc && next[i] == NULL; j++)
			if (!keep[j] &&
			    oauth2_cfg_same_line(&m->src[j]->cfg, &v[i])) {
				next[i] = m->src[j];
				keep[j] = true;
				reconf[i] = true;
			}
		if (next[i] != NULL)
			continue;
		if ((next[i] = oauth2_source_new(m, &v[i])) == NULL) {
			for (j = 0; j < i; j++)
				if (fresh[j])
					oauth2_source_release(next[j]);
			log_error("oauth2-config", "reason=\"out of memory\"");
			return -ENOMEM;
		}
		fresh[i] = true;
	}
	for (i = 0; i < n; i++)
		next[i]->cfg.line = v[i].line;	/* not compared */
	return 0;
}

/* After a change of the table: each source loads or refreshes if due. */
static void
oauth2_mgr_start_all(struct oauth2_mgr *m)
{
	struct oauth2_source	*s;
	unsigned int		 i;
	bool			 load;

	for (i = 0; i < m->nsrc; i++) {
		s = m->src[i];
		/* A new refresh_token source reads its file now, so a
		 * missing one is logged at start, not at the first login. */
		load = false;
		pthread_mutex_lock(&m->lock);
		if (s->cfg.grant == CONFIG_OAUTH2_REFRESH_TOKEN &&
		    !s->refresh_loaded && !s->busy && !s->wanted &&
		    s->backoff_until_ms == 0) {
			s->busy = true;
			load = true;
		}
		pthread_mutex_unlock(&m->lock);
		if (load)
			oauth2_source_start(s, true);
		else
			oauth2_source_kick(s);
	}
}

int
oauth2_mgr_set_sources(struct oauth2_mgr *m, const struct config_oauth2 *v,
    unsigned int n)
{
	struct oauth2_source	*next[CONFIG_MAX_OAUTH2];
	struct oauth2_source	*gone[CONFIG_MAX_OAUTH2];
	struct oauth2_source	*old, *s;
	struct oauth2_wait	*w;
	char			 detail[OAUTH2_MAX_DETAIL];
	unsigned int		 i, j, ngone = 0;
	bool			 keep[CONFIG_MAX_OAUTH2];
	bool			 reconf[CONFIG_MAX_OAUTH2];
	int			 r;

	if (m->closing)
		return -EINVAL;
	if ((r = oauth2_cfg_check_all(v, n)) != 0)
		return r;
	if ((r = oauth2_mgr_match(m, v, n, next, keep, reconf)) != 0)
		return r;
	pthread_mutex_lock(&m->lock);
	for (j = 0; j < m->nsrc; j++) {
		if (keep[j])
			continue;
		old = m->src[j];
		old->removed = true;
		gone[ngone++] = old;
		s = NULL;
		for (i = 0; i < n; i++)
			if (strcmp(next[i]->cfg.name, old->cfg.name) == 0)
				s = next[i];
		if (s != NULL) {
			/* Changed settings: the waiters wait for the new
			 * source instead. */
			while ((w = TAILQ_FIRST(&old->waiters)) != NULL) {
				TAILQ_REMOVE(&old->waiters, w, entry);
				w->src = s;
				TAILQ_INSERT_TAIL(&s->waiters, w, entry);
				s->wanted = true;
			}
		} else {
			snprintf(detail, sizeof(detail), "token source %s was "
			    "removed", old->cfg.name);
			oauth2_complete_all(old, OAUTH2_FAILED, detail);
		}
	}
	for (i = 0; i < n; i++) {
		if (reconf[i])
			oauth2_source_reconfigure(next[i], &v[i]);
		m->src[i] = next[i];
	}
	m->nsrc = n;
	pthread_mutex_unlock(&m->lock);

	for (i = 0; i < n; i++)
		if (reconf[i])
			log_info("oauth2-source", "source=%s result=changed",
			    next[i]->cfg.name);
	for (j = 0; j < ngone; j++) {
		log_info("oauth2-source", "source=%s result=removed",
		    gone[j]->cfg.name);
		oauth2_source_stop(gone[j], false);
		oauth2_source_release(gone[j]);
	}
	oauth2_mgr_start_all(m);
	return 0;
}

static void
oauth2_mgr_handle_closed(uv_handle_t *h)
{
	struct oauth2_mgr	*m = h->data;

	m->pending--;
	oauth2_mgr_maybe_done(m);
}

static void
oauth2_mgr_http_closed(void *arg)
{
	struct oauth2_mgr	*m = arg;

	m->pending--;
	oauth2_mgr_maybe_done(m);
}

void
oauth2_mgr_close(struct oauth2_mgr *m, void (*done)(void *), void *arg)
{
	struct oauth2_source	*gone[CONFIG_MAX_OAUTH2];
	unsigned int		 i, n;

	if (m->closing)
		return;
	pthread_mutex_lock(&m->lock);
	m->closing = true;
	n = m->nsrc;
	for (i = 0; i < n; i++) {
		gone[i] = m->src[i];
		gone[i]->removed = true;
		oauth2_complete_all(gone[i], OAUTH2_FAILED,
		    "token manager is shutting down");
	}
	m->nsrc = 0;
	pthread_mutex_unlock(&m->lock);
	/*
	 * A refresh in flight may come back with a rotated refresh token
	 * that the server will not take back: it is let finish (bounded by
	 * the HTTP timeout) and saved, as on a reload that removes its
	 * source; everything else stops now.
	 */
	for (i = 0; i < n; i++) {
		oauth2_source_stop(gone[i], false);
		oauth2_source_release(gone[i]);
	}
	m->done = done;
	m->done_arg = arg;
	if (LIST_EMPTY(&m->orphans))
		oauth2_mgr_finish_close(m);
	else
		log_info("oauth2-shutdown", "reason=\"waiting for a refresh in "
		    "flight, to save its rotated refresh token\"");
}

static void
oauth2_mgr_finish_close(struct oauth2_mgr *m)
{
	if (m->http_freed)
		return;
	m->http_freed = true;
	m->pending += 2;
	http_client_free(m->http, oauth2_mgr_http_closed, m);
	m->http = NULL;
	uv_close((uv_handle_t *)&m->wakeup, oauth2_mgr_handle_closed);
}
