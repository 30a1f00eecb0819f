/* SPDX-License-Identifier: MIT */
/*
 * store.c - the store's front: checks and copies a request, keeps the
 * request limit and the statistics, and turns a read or a write into one
 * engine round trip per batch, so that neither the engine nor the caller
 * ever holds more than a batch.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	const char			*name;
	const struct store_ops		*ops;
	const struct store_blocking	*blocking;
} store_engines[] = {
	{ "sqlite", &store_thread_ops, &store_sqlite_blocking },
};

const char *
store_result_name(enum store_result r)
{
	switch (r) {
	case STORE_OK:		return "ok";
	case STORE_PENDING:	return "pending";
	case STORE_NOT_FOUND:	return "not-found";
	case STORE_CHANGED:	return "changed";
	case STORE_BUSY:	return "busy";
	case STORE_FAILED:	return "failed";
	case STORE_SCHEMA:	return "schema";
	case STORE_CANCELLED:	return "cancelled";
	case STORE_INVALID:	return "invalid";
	}
	return "unknown";
}

struct store *
store_new(const struct store_settings *set, char *err, size_t errlen)
{
	const char	*engine = set->engine != NULL ? set->engine : "sqlite";
	struct store	*s;
	size_t		 i;

	for (i = 0; i < sizeof(store_engines) / sizeof(store_engines[0]); i++)
		if (strcmp(store_engines[i].name, engine) == 0)
			break;
	if (i == sizeof(store_engines) / sizeof(store_engines[0])) {
		snprintf(err, errlen, "unknown store engine %s", engine);
		return NULL;
	}
	if (set->directory == NULL || set->directory[0] == '\0' ||
	    strlen(set->directory) >= sizeof(s->directory) - 16) {
		snprintf(err, errlen, "no usable state directory");
		return NULL;
	}
	if (set->max_requests > STORE_MAX_REQUESTS) {
		snprintf(err, errlen, "max_requests over %u", STORE_MAX_REQUESTS);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->ops = store_engines[i].ops;
	s->blocking = store_engines[i].blocking;
	snprintf(s->directory, sizeof(s->directory), "%s", set->directory);
	s->max_requests = set->max_requests != 0 ? set->max_requests :
	    STORE_DEFAULT_MAX_REQUESTS;
	s->busy_timeout_ms = set->busy_timeout_ms != 0 ?
	    set->busy_timeout_ms : STORE_DEFAULT_BUSY_TIMEOUT_MS;
	pthread_mutex_init(&s->lock, NULL);
	if (s->ops->start(s, err, errlen) != 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	return s;
}

static void
store_free(struct store *s)
{
	s->ops->destroy(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void
store_close(struct store *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->closed) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->closed = true;
	/* Held like a client's: the last client may go meanwhile. */
	s->clients++;
	pthread_mutex_unlock(&s->lock);
	s->ops->stop(s);
	store_client_gone(s);
}

void
store_get_stats(struct store *s, struct store_stats *st)
{
	pthread_mutex_lock(&s->lock);
	*st = s->stats;
	pthread_mutex_unlock(&s->lock);
}

struct store_client *
store_client_new(struct store *s, uv_loop_t *loop)
{
	struct store_client	*c;

	pthread_mutex_lock(&s->lock);
	if (s->closed) {
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	s->clients++;
	pthread_mutex_unlock(&s->lock);
	if ((c = s->ops->client_new(s, loop)) == NULL) {
		store_client_gone(s);
		return NULL;
	}
	c->store = s;
	c->loop = loop;
	return c;
}

void
store_client_close(struct store_client *c)
{
	c->closing = true;
	c->store->ops->client_close(c);
}

void
store_client_gone(struct store *s)
{
	bool	last;

	pthread_mutex_lock(&s->lock);
	last = --s->clients == 0 && s->closed;
	pthread_mutex_unlock(&s->lock);
	if (last)
		store_free(s);
}

/* ---- a request's life ---- */

static void
store_req_free(struct store_req *req)
{
	struct store	*s = req->store;

	pthread_mutex_lock(&s->lock);
	s->stats.in_flight--;
	if (req->cancelled)
		s->stats.cancelled++;
	pthread_mutex_unlock(&s->lock);
	free(req->recs);
	free(req);
}

void
store_req_drop(struct store_req *req)
{
	req->cancelled = true;
	store_req_free(req);
}

static bool
store_key_copy(struct store_req *req, const struct store_key *key)
{
	if (key->upstream == NULL || key->identity == NULL ||
	    key->mailbox == NULL ||
	    strlen(key->upstream) > STORE_KEY_MAX_OCTETS ||
	    strlen(key->identity) > STORE_KEY_MAX_OCTETS ||
	    strlen(key->mailbox) > STORE_KEY_MAX_OCTETS)
		return false;
	memcpy(req->upstream, key->upstream, strlen(key->upstream) + 1);
	memcpy(req->identity, key->identity, strlen(key->identity) + 1);
	memcpy(req->mailbox, key->mailbox, strlen(key->mailbox) + 1);
	return true;
}

/* A new request of c, counted against the limit; *r says why not. */
static struct store_req *
store_req_new(struct store_client *c, const struct store_key *key,
    bool batches, enum store_result *r)
{
	struct store		*s = c->store;
	struct store_req	*req;

	if ((req = calloc(1, sizeof(*req))) == NULL ||
	    (batches && (req->recs = calloc(STORE_BATCH_MAX,
	    sizeof(*req->recs))) == NULL)) {
		if (req != NULL)
			free(req);
		*r = STORE_FAILED;
		return NULL;
	}
	if (key != NULL && !store_key_copy(req, key)) {
		free(req->recs);
		free(req);
		*r = STORE_INVALID;
		return NULL;
	}
	pthread_mutex_lock(&s->lock);
	*r = s->closed ? STORE_CANCELLED :
	    s->stats.in_flight >= s->max_requests ? STORE_BUSY : STORE_PENDING;
	if (*r == STORE_PENDING)
		s->stats.in_flight++;
	else if (*r == STORE_BUSY)
		s->stats.busy++;
	pthread_mutex_unlock(&s->lock);
	if (*r != STORE_PENDING) {
		free(req->recs);
		free(req);
		return NULL;
	}
	req->store = s;
	req->client = c;
	return req;
}

static bool
store_req_send(struct store_req *req, enum store_op op)
{
	req->op = op;
	req->result = STORE_FAILED;
	req->detail[0] = '\0';
	req->sent_ns = uv_hrtime();
	req->at_engine = true;
	if (!req->client->closing && req->store->ops->submit(req))
		return true;
	req->at_engine = false;
	return false;
}

static void
store_account(struct store_req *req)
{
	static const uint64_t	 bound_us[4] = { 1000, 10000, 100000,
				    1000000 };
	struct store_stats	*st = &req->store->stats;
	struct store		*s = req->store;
	uint64_t		 us = (uv_hrtime() - req->sent_ns) / 1000;
	unsigned int		 b;

	for (b = 0; b < 4 && us >= bound_us[b]; b++)
		;
	pthread_mutex_lock(&s->lock);
	st->requests++;
	st->latency_us_sum += us;
	if (us > st->latency_us_max)
		st->latency_us_max = us;
	st->latency_le[b]++;
	if (req->result == STORE_FAILED || req->result == STORE_SCHEMA)
		st->failed++;
	if (req->detail[0] != '\0')
		snprintf(st->last_error, sizeof(st->last_error), "%s",
		    req->detail);
	pthread_mutex_unlock(&s->lock);
}

/* The final callback: the request is freed before it runs. */
static void
store_req_finish(struct store_req *req, enum store_result r)
{
	store_get_cb		*get_cb = req->get_cb;
	store_done_cb		*done_cb = req->done_cb;
	struct store_mailbox	 mb = req->mb;
	void			*arg = req->arg;
	bool			 get = req->op == STORE_OP_GET;
	bool			 quiet = req->client->closing;

	if (r == STORE_CANCELLED)
		req->cancelled = true;
	store_req_free(req);
	if (quiet)
		return;		/* a callback closed the client */
	if (get)
		get_cb(arg, r, r == STORE_OK ? &mb : NULL);
	else
		done_cb(arg, r);
}

/* A read's batch has come: hand it over, then ask for the next. */
static void
store_read_next(struct store_req *req)
{
	bool	more;

	if (req->result != STORE_OK || req->n == 0) {
		store_req_finish(req, req->result);
		return;
	}
	req->have_cursor = true;
	req->cursor_uid = req->recs[req->n - 1].uid;
	memcpy(req->cursor_fp, req->recs[req->n - 1].fingerprint,
	    STORE_FINGERPRINT_OCTETS);
	req->in_cb = true;
	more = req->batch_cb(req->arg, req->recs, req->n);
	req->in_cb = false;
	if (req->cancelled)
		store_req_free(req);
	else if (more && req->n < STORE_BATCH_MAX)
		store_req_finish(req, STORE_OK);	/* that was the last */
	else if (!more || !store_req_send(req, STORE_OP_READ))
		store_req_finish(req, STORE_CANCELLED);
}

/* A replace that will not finish takes its staged rows back with it;
 * the caller hears r once they are gone. */
static void
store_write_abort(struct store_req *req, enum store_result r)
{
	if (req->mode == STORE_WRITE_REPLACE && req->gen != 0) {
		req->failure = r;
		if (store_req_send(req, STORE_OP_ABORT))
			return;
	}
	store_req_finish(req, r);
}

/* What the store will not keep: UID 0 (no message has it), a UIDL
 * without its NUL. */
static bool
store_records_valid(const struct store_record *recs, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (recs[i].uid == 0 || memchr(recs[i].uidl, '\0',
		    sizeof(recs[i].uidl)) == NULL)
			return false;
	return true;
}

/* Asks the caller for the next batch of a write, and sends it. */
static void
store_write_next(struct store_req *req)
{
	long	n;

	req->in_cb = true;
	n = req->fill_cb(req->arg, req->recs, STORE_BATCH_MAX);
	req->in_cb = false;
	if (req->cancelled) {
		/* Cancelled in the callback: no answer, but no staged rows
		 * left behind either. */
		if (req->mode == STORE_WRITE_REPLACE && req->gen != 0 &&
		    store_req_send(req, STORE_OP_ABORT))
			return;
		store_req_free(req);
		return;
	}
	if (n < 0 || n > STORE_BATCH_MAX ||
	    !store_records_valid(req->recs, (size_t)n)) {
		store_write_abort(req, n < 0 ? STORE_CANCELLED : STORE_INVALID);
		return;
	}
	req->n = (size_t)n;
	if (n == 0 && req->mode != STORE_WRITE_REPLACE)
		store_req_finish(req, STORE_OK);
	else if (!store_req_send(req, n == 0 ? STORE_OP_COMMIT : STORE_OP_PUT))
		store_write_abort(req, STORE_CANCELLED);
}

static void
store_write_answered(struct store_req *req)
{
	if (req->op == STORE_OP_ABORT)
		store_req_finish(req, req->failure);
	else if (req->result != STORE_OK && req->op != STORE_OP_COMMIT)
		store_write_abort(req, req->result);
	else if (req->op == STORE_OP_COMMIT)
		store_req_finish(req, req->result);
	else
		store_write_next(req);
}

void
store_req_answer(struct store_req *req)
{
	req->at_engine = false;
	store_account(req);
	if (req->cancelled) {
		store_req_free(req);
		return;
	}
	switch (req->op) {
	case STORE_OP_READ:
		store_read_next(req);
		break;
	case STORE_OP_BEGIN:
	case STORE_OP_PUT:
	case STORE_OP_COMMIT:
	case STORE_OP_ABORT:
		store_write_answered(req);
		break;
	default:
		store_req_finish(req, req->result);
		break;
	}
}

void
store_cancel(struct store_req *req)
{
	if (req == NULL || req->cancelled)
		return;
	req->cancelled = true;
	if (req->in_cb)
		return;			/* freed once the callback returns */
	if (!req->at_engine || req->store->ops->cancel(req))
		store_req_free(req);
}

/* ---- the requests ---- */

static enum store_result
store_start(struct store_req *req, enum store_op op, struct store_req **reqp)
{
	if (!store_req_send(req, op)) {
		store_req_free(req);
		return STORE_CANCELLED;
	}
	if (reqp != NULL)
		*reqp = req;
	return STORE_PENDING;
}

/* A request of one round trip: a ping, a get, a forget. */
static enum store_result
store_simple(struct store_client *c, enum store_op op,
    const struct store_key *key, store_get_cb *get_cb, store_done_cb *done_cb,
    void *arg, struct store_req **reqp)
{
	struct store_req	*req;
	enum store_result	 r;

	if ((req = store_req_new(c, key, false, &r)) == NULL)
		return r;
	req->get_cb = get_cb;
	req->done_cb = done_cb;
	req->arg = arg;
	return store_start(req, op, reqp);
}

enum store_result
store_ping(struct store_client *c, store_done_cb *cb, void *arg,
    struct store_req **reqp)
{
	return store_simple(c, STORE_OP_PING, NULL, NULL, cb, arg, reqp);
}

enum store_result
store_get(struct store_client *c, const struct store_key *key,
    store_get_cb *cb, void *arg, struct store_req **reqp)
{
	return store_simple(c, STORE_OP_GET, key, cb, NULL, arg, reqp);
}

enum store_result
store_read(struct store_client *c, const struct store_key *key,
    uint32_t uidvalidity, enum store_order order, store_batch_cb *batch_cb,
    store_done_cb *done_cb, void *arg, struct store_req **reqp)
{
	struct store_req	*req;
	enum store_result	 r;

	if (order != STORE_ORDER_UID && order != STORE_ORDER_FINGERPRINT)
		return STORE_INVALID;
	if ((req = store_req_new(c, key, true, &r)) == NULL)
		return r;
	req->uidvalidity = uidvalidity;
	req->order = order;
	req->batch_cb = batch_cb;
	req->done_cb = done_cb;
	req->arg = arg;
	return store_start(req, STORE_OP_READ, reqp);
}

enum store_result
store_write(struct store_client *c, const struct store_key *key,
    uint32_t uidvalidity, enum store_write_mode mode, store_fill_cb *fill_cb,
    store_done_cb *done_cb, void *arg, struct store_req **reqp)
{
	struct store_req	*req;
	enum store_result	 r;

	if (uidvalidity == 0 || (mode != STORE_WRITE_UPSERT &&
	    mode != STORE_WRITE_REPLACE && mode != STORE_WRITE_REMOVE))
		return STORE_INVALID;
	if ((req = store_req_new(c, key, true, &r)) == NULL)
		return r;
	req->uidvalidity = uidvalidity;
	req->mode = mode;
	req->fill_cb = fill_cb;
	req->done_cb = done_cb;
	req->arg = arg;
	return store_start(req, STORE_OP_BEGIN, reqp);
}

enum store_result
store_forget(struct store_client *c, const struct store_key *key,
    store_done_cb *cb, void *arg, struct store_req **reqp)
{
	return store_simple(c, STORE_OP_FORGET, key, NULL, cb, arg, reqp);
}
