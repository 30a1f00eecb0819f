/* SPDX-License-Identifier: MIT */
/*
 * store_thread.c - runs an engine with a blocking library (SQLite) on one
 * thread of its own, so that no loop ever waits for it. Loops queue
 * requests under one mutex (the front bounds how many); the thread runs
 * them in order, one at a time, and posts each answer to the uv_async_t
 * of its client, one per loop, as gateway/oauth2/client.c does for
 * tokens. The engine's state is the thread's alone.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

enum st_state { ST_IDLE, ST_QUEUED, ST_RUNNING, ST_DONE };

struct st_engine {
	struct store		*store;
	void			*db;		/* the thread's own */
	pthread_t		 thread;
	pthread_mutex_t		 lock;		/* queue, states, stopping */
	pthread_cond_t		 cond;
	TAILQ_HEAD(, store_req)	 queue;
	struct store_req	*running;
	bool			 stopping;	/* also read by the engine */
};

struct st_client {
	struct store_client	 base;
	struct st_engine	*engine;
	uv_async_t		 async;
	TAILQ_HEAD(, store_req)	 done;
};

/* Hands req to its client's loop with result r. Under e->lock. */
static void
st_post(struct store_req *req, enum store_result r)
{
	struct st_client	*c = (struct st_client *)req->client;

	req->result = r;
	req->engine_state = ST_DONE;
	TAILQ_INSERT_TAIL(&c->done, req, entry);
	uv_async_send(&c->async);
}

static void *
st_thread(void *arg)
{
	struct st_engine	*e = arg;
	struct store_req	*req;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		while (!e->stopping && TAILQ_EMPTY(&e->queue))
			pthread_cond_wait(&e->cond, &e->lock);
		if ((req = TAILQ_FIRST(&e->queue)) == NULL)
			break;
		TAILQ_REMOVE(&e->queue, req, entry);
		req->engine_state = ST_RUNNING;
		e->running = req;
		pthread_mutex_unlock(&e->lock);
		e->store->blocking->run(e->db, req);
		pthread_mutex_lock(&e->lock);
		e->running = NULL;
		if (req->orphan) {
			store_req_drop(req);
			continue;
		}
		/* Under the lock: the client cannot close its handle now. */
		st_post(req, req->result);
	}
	pthread_mutex_unlock(&e->lock);
	e->store->blocking->free(e->db);
	e->db = NULL;
	return NULL;
}

static int
st_start(struct store *s, char *err, size_t errlen)
{
	struct st_engine	*e;
	int			 rc;

	if ((e = calloc(1, sizeof(*e))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->store = s;
	if ((e->db = s->blocking->new(s, &e->stopping, err, errlen)) == NULL) {
		free(e);
		return -1;
	}
	TAILQ_INIT(&e->queue);
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	if ((rc = pthread_create(&e->thread, NULL, st_thread, e)) != 0) {
		snprintf(err, errlen, "cannot start the store thread: %s",
		    strerror(rc));
		s->blocking->free(e->db);
		pthread_cond_destroy(&e->cond);
		pthread_mutex_destroy(&e->lock);
		free(e);
		return -1;
	}
	s->engine = e;
	return 0;
}

static void
st_stop(struct store *s)
{
	struct st_engine	*e = s->engine;
	struct store_req	*req;

	pthread_mutex_lock(&e->lock);
	__atomic_store_n(&e->stopping, true, __ATOMIC_RELEASE);
	while ((req = TAILQ_FIRST(&e->queue)) != NULL) {
		TAILQ_REMOVE(&e->queue, req, entry);
		st_post(req, STORE_CANCELLED);
	}
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
	pthread_join(e->thread, NULL);
}

static void
st_destroy(struct store *s)
{
	struct st_engine	*e = s->engine;

	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static bool
st_submit(struct store_req *req)
{
	struct st_engine	*e = req->store->engine;

	pthread_mutex_lock(&e->lock);
	if (e->stopping) {
		pthread_mutex_unlock(&e->lock);
		return false;
	}
	req->engine_state = ST_QUEUED;
	TAILQ_INSERT_TAIL(&e->queue, req, entry);
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
	return true;
}

static bool
st_cancel(struct store_req *req)
{
	struct st_engine	*e = req->store->engine;
	struct st_client	*c = (struct st_client *)req->client;
	bool			 mine = true;

	pthread_mutex_lock(&e->lock);
	if (req->engine_state == ST_QUEUED)
		TAILQ_REMOVE(&e->queue, req, entry);
	else if (req->engine_state == ST_DONE)
		TAILQ_REMOVE(&c->done, req, entry);
	else if (req->engine_state == ST_RUNNING) {
		req->orphan = true;
		mine = false;
	}
	req->engine_state = ST_IDLE;
	pthread_mutex_unlock(&e->lock);
	return mine;
}

/* ---- clients ---- */

static void
st_client_on_async(uv_async_t *a)
{
	struct st_client	*c = a->data;
	struct st_engine	*e = c->engine;
	struct store_req	*req;

	/* One at a time: an answer's callback may cancel another. */
	for (;;) {
		pthread_mutex_lock(&e->lock);
		if ((req = TAILQ_FIRST(&c->done)) != NULL) {
			TAILQ_REMOVE(&c->done, req, entry);
			req->engine_state = ST_IDLE;
		}
		pthread_mutex_unlock(&e->lock);
		if (req == NULL)
			break;
		store_req_answer(req);
	}
}

static struct store_client *
st_client_new(struct store *s, uv_loop_t *loop)
{
	struct st_client	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->engine = s->engine;
	TAILQ_INIT(&c->done);
	if (uv_async_init(loop, &c->async, st_client_on_async) != 0) {
		free(c);
		return NULL;
	}
	c->async.data = c;
	return &c->base;
}

static void
st_client_closed(uv_handle_t *h)
{
	struct st_client	*c = h->data;
	struct store		*s = c->base.store;

	free(c);
	store_client_gone(s);
}

static void
st_client_close(struct store_client *base)
{
	struct st_client	*c = (struct st_client *)base;
	struct st_engine	*e = c->engine;
	struct store_req	*req, *next;

	pthread_mutex_lock(&e->lock);
	for (req = TAILQ_FIRST(&e->queue); req != NULL; req = next) {
		next = TAILQ_NEXT(req, entry);
		if (req->client != base)
			continue;
		TAILQ_REMOVE(&e->queue, req, entry);
		store_req_drop(req);
	}
	/* The thread drops it when it is done: the handle will be gone. */
	if (e->running != NULL && e->running->client == base)
		e->running->orphan = true;
	while ((req = TAILQ_FIRST(&c->done)) != NULL) {
		TAILQ_REMOVE(&c->done, req, entry);
		store_req_drop(req);
	}
	pthread_mutex_unlock(&e->lock);
	uv_close((uv_handle_t *)&c->async, st_client_closed);
}

const struct store_ops store_thread_ops = {
	.start = st_start,
	.stop = st_stop,
	.destroy = st_destroy,
	.client_new = st_client_new,
	.client_close = st_client_close,
	.submit = st_submit,
	.cancel = st_cancel,
};
