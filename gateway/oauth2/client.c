/* SPDX-License-Identifier: MIT */
/*
 * client.c - the workers' side of the token manager: one client per
 * worker loop, oauth2_get() and its completions, rejections and status;
 * and oauth2_fetch_once(), a manager of one source for the command line.
 */
#include "oauth2_int.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ---- clients ---- */

static void
oauth2_client_on_async(uv_async_t *a)
{
	struct oauth2_client	*c = a->data;
	struct oauth2_mgr	*m = c->mgr;
	struct oauth2_wait	*w;
	enum oauth2_result	 r;
	oauth2_cb		*cb;
	void			*arg;

	/* One at a time: a callback may cancel a wait further on. */
	for (;;) {
		pthread_mutex_lock(&m->lock);
		if ((w = TAILQ_FIRST(&c->done)) != NULL) {
			TAILQ_REMOVE(&c->done, w, entry);
			w->state = OAUTH2_WAIT_IDLE;
		}
		pthread_mutex_unlock(&m->lock);
		if (w == NULL)
			break;
		r = w->result;
		cb = w->cb;
		arg = w->arg;
		cb(arg, r, w);
	}
}

struct oauth2_client *
oauth2_client_new(struct oauth2_mgr *m, uv_loop_t *worker_loop)
{
	struct oauth2_client	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->mgr = m;
	TAILQ_INIT(&c->done);
	if (uv_async_init(worker_loop, &c->async, oauth2_client_on_async) !=
	    0) {
		free(c);
		return NULL;
	}
	c->async.data = c;
	pthread_mutex_lock(&m->lock);
	LIST_INSERT_HEAD(&m->clients, c, entry);
	pthread_mutex_unlock(&m->lock);
	return c;
}

static void
oauth2_client_closed(uv_handle_t *h)
{
	free(h->data);
}

void
oauth2_client_close(struct oauth2_client *c)
{
	struct oauth2_mgr	*m = c->mgr;
	struct oauth2_wait	*w, *next;
	unsigned int		 i;
	bool			 last;

	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->nsrc; i++)
		for (w = TAILQ_FIRST(&m->src[i]->waiters); w != NULL;
		    w = next) {
			next = TAILQ_NEXT(w, entry);
			if (w->client != c)
				continue;
			TAILQ_REMOVE(&m->src[i]->waiters, w, entry);
			w->state = OAUTH2_WAIT_IDLE;
			w->src = NULL;
		}
	while ((w = TAILQ_FIRST(&c->done)) != NULL) {
		TAILQ_REMOVE(&c->done, w, entry);
		w->state = OAUTH2_WAIT_IDLE;
	}
	LIST_REMOVE(c, entry);
	/* The manager finished closing while we were open: free it. */
	last = m->closed && LIST_EMPTY(&m->clients);
	pthread_mutex_unlock(&m->lock);
	uv_close((uv_handle_t *)&c->async, oauth2_client_closed);
	if (last) {
		pthread_mutex_destroy(&m->lock);
		free(m);
	}
}

enum oauth2_result
oauth2_get(struct oauth2_client *c, const char *source, struct oauth2_wait *w,
    oauth2_cb *cb, void *arg)
{
	struct oauth2_mgr	*m = c->mgr;
	struct oauth2_source	*s;
	enum oauth2_result	 r = OAUTH2_FAILED;
	uint64_t		 now = oauth2_now_ms();
	bool			 wake = false;

	oauth2_cancel(w);
	w->client = c;
	w->cb = cb;
	w->arg = arg;
	w->token[0] = '\0';
	w->token_len = 0;
	w->expires_in = 0;
	w->detail[0] = '\0';
	pthread_mutex_lock(&m->lock);
	if (m->closing) {
		snprintf(w->detail, sizeof(w->detail),
		    "token manager is shutting down");
		goto out;
	}
	if ((s = oauth2_find(m, source)) == NULL) {
		snprintf(w->detail, sizeof(w->detail),
		    "unknown token source %s", source);
		goto out;
	}
	if (s->access_len > 0 && now < s->usable_until_ms) {
		memcpy(w->token, s->access, s->access_len);
		w->token[s->access_len] = '\0';
		w->token_len = s->access_len;
		w->expires_in = s->expires_at_ms > now ?
		    (long)((s->expires_at_ms - now) / 1000) : 0;
		/* Refresh ahead, unless one runs or the source rests. */
		if (now >= s->refresh_at_ms && !s->busy && !s->wanted &&
		    now >= s->backoff_until_ms) {
			s->wanted = true;
			wake = true;
		}
		r = OAUTH2_READY;
		goto out;
	}
	if (now < s->backoff_until_ms) {
		snprintf(w->detail, sizeof(w->detail), "%.120s, retry in %lu s",
		    s->fail_reason, oauth2_seconds(s->backoff_until_ms - now));
		goto out;
	}
	w->src = s;
	w->state = OAUTH2_WAIT_QUEUED;
	TAILQ_INSERT_TAIL(&s->waiters, w, entry);
	if (!s->wanted) {
		s->wanted = true;
		wake = !s->busy;
	}
	r = OAUTH2_PENDING;
out:
	/* Sent under the lock: close cannot close the handle meanwhile. */
	if (wake)
		uv_async_send(&m->wakeup);
	pthread_mutex_unlock(&m->lock);
	return r;
}

void
oauth2_cancel(struct oauth2_wait *w)
{
	struct oauth2_mgr	*m;

	if (w->client == NULL)
		return;
	m = w->client->mgr;
	pthread_mutex_lock(&m->lock);
	if (w->state == OAUTH2_WAIT_QUEUED && w->src != NULL)
		TAILQ_REMOVE(&w->src->waiters, w, entry);
	else if (w->state == OAUTH2_WAIT_DONE)
		TAILQ_REMOVE(&w->client->done, w, entry);
	w->state = OAUTH2_WAIT_IDLE;
	w->src = NULL;
	pthread_mutex_unlock(&m->lock);
}

void
oauth2_reject(struct oauth2_client *c, const char *source, const char *token,
    size_t len)
{
	struct oauth2_mgr	*m = c->mgr;
	struct oauth2_source	*s;
	bool			 dropped = false, known;
	char			 fp[9];

	oauth2_fingerprint(token, len, fp);
	pthread_mutex_lock(&m->lock);
	known = (s = oauth2_find(m, source)) != NULL;
	if (known)
		s->refused++;
	if (known && s->access_len == len && len > 0 &&
	    memcmp(s->access, token, len) == 0) {
		oauth2_json_wipe(s->access, s->access_len);
		s->access_len = 0;
		s->refresh_at_ms = s->usable_until_ms = s->expires_at_ms = 0;
		dropped = true;
	}
	pthread_mutex_unlock(&m->lock);
	log_info("oauth2-reject", "source=%s token_fp=%s result=%s", source,
	    fp, !known ? "unknown-source" : dropped ? "dropped" : "stale");
}

int
oauth2_source_status(struct oauth2_mgr *m, const char *source,
    long *access_expires_in, bool *has_refresh, uint64_t *refused)
{
	struct oauth2_source	*s;
	uint64_t		 now = oauth2_now_ms();
	int			 r = -1;

	*access_expires_in = -1;
	*has_refresh = false;
	pthread_mutex_lock(&m->lock);
	if ((s = oauth2_find(m, source)) != NULL) {
		if (s->access_len > 0)
			*access_expires_in = now >= s->expires_at_ms ? 0 :
			    (long)((s->expires_at_ms - now) / 1000);
		*has_refresh = s->has_refresh;
		if (refused != NULL)
			*refused = s->refused;
		r = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* ---- command-line helpers ---- */

struct oauth2_once {
	bool			done;
	enum oauth2_result	result;
};

static void
oauth2_once_cb(void *arg, enum oauth2_result r, struct oauth2_wait *w)
{
	struct oauth2_once	*o = arg;

	(void)w;
	o->done = true;
	o->result = r;
}

static void
oauth2_once_closed(void *arg)
{
	*(bool *)arg = true;
}

int
oauth2_fetch_once(const struct config_oauth2 *src, char *token,
    size_t tokenlen, long *expires_in, char *err, size_t errlen)
{
	struct oauth2_once	 once = { false, OAUTH2_FAILED };
	struct oauth2_mgr	*m;
	struct oauth2_client	*c = NULL;
	struct oauth2_wait	*w;
	uv_loop_t		 loop;
	bool			 closed = false;
	int			 rc = -1;

	*expires_in = 0;
	if (tokenlen > 0)
		token[0] = '\0';
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (uv_loop_init(&loop) != 0) {
		snprintf(err, errlen, "cannot set up an event loop");
		free(w);
		return -1;
	}
	if ((m = oauth2_mgr_new(&loop, NULL)) == NULL) {
		snprintf(err, errlen, "cannot set up the token manager");
		goto out;
	}
	if (oauth2_mgr_set_sources(m, src, 1) != 0) {
		snprintf(err, errlen, "unusable settings (see the log)");
		goto close;
	}
	if ((c = oauth2_client_new(m, &loop)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto close;
	}
	once.result = oauth2_get(c, src->name, w, oauth2_once_cb, &once);
	if (once.result == OAUTH2_PENDING)
		while (!once.done)
			uv_run(&loop, UV_RUN_ONCE);
	if (once.result == OAUTH2_READY) {
		if (w->token_len >= tokenlen)
			snprintf(err, errlen, "token longer than the buffer");
		else {
			memcpy(token, w->token, w->token_len + 1);
			*expires_in = w->expires_in;
			rc = 0;
		}
	} else
		snprintf(err, errlen, "%s", w->detail);
	oauth2_client_close(c);
close:
	oauth2_mgr_close(m, oauth2_once_closed, &closed);
	while (!closed)
		uv_run(&loop, UV_RUN_ONCE);
out:
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	oauth2_json_wipe(w, sizeof(*w));
	free(w);
	return rc;
}
