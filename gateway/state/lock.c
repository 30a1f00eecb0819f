/* SPDX-License-Identifier: MIT */
/*
 * lock.c - the lock interface (lock.h) and its in-process implementation:
 * a set of locked mailbox identities, a chained hash table behind one
 * mutex held for a lookup only, answered at once.
 */
#include "lock.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- the interface ---- */

void
lock_request(struct lock *l, struct lock_request *req, const char *identity,
    void *loop, void (*done)(struct lock_request *, enum lock_result),
    void *arg)
{
	/* Asked again (a login started over with a renewed token): what
	 * the request held or waited for goes first, or it would find its
	 * own hold, be refused, and leave that hold in place. */
	lock_drop(l, req);
	req->identity = identity;
	req->loop = loop;
	req->done = done;
	req->arg = arg;
	req->impl = NULL;
	req->state = LOCK_WAITING;
	l->ops->request(l, req);
}

void
lock_answer(struct lock_request *req, enum lock_result result)
{
	/* An answer that crossed a cancel (lock_drop() while waiting) has
	 * nobody to go to: the implementation must not have it granted. */
	if (req->state != LOCK_WAITING)
		return;
	req->state = result == LOCK_GRANTED ? LOCK_HELD : LOCK_IDLE;
	req->done(req, result);
}

void
lock_drop(struct lock *l, struct lock_request *req)
{
	enum lock_state	state = req->state;

	req->state = LOCK_IDLE;
	if (state == LOCK_WAITING)
		l->ops->cancel(l, req);
	else if (state == LOCK_HELD)
		l->ops->release(l, req);
}

void
lock_free(struct lock *l)
{
	if (l != NULL)
		l->ops->free(l);
}

/* ---- in this process ---- */

/* Buckets; chains grow past this, so it only bounds the average cost. */
#define LOCK_BUCKETS	4096

struct lock_entry {
	struct lock_entry	*next;
	char			 identity[];
};

struct lock_local {
	struct lock		 lock;		/* first: the interface's */
	pthread_mutex_t		 mutex;
	struct lock_entry	*table[LOCK_BUCKETS];
};

/* FNV-1a: identities are short and not attacker-chosen before login. */
static size_t
lock_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h % LOCK_BUCKETS;
}

/* The answer comes before this returns: a lookup under the mutex is all
 * there is to wait for, and a deferred answer would cost every login a
 * loop turn. Callers are ready for it (lock.h). */
static void
lock_local_request(struct lock *l, struct lock_request *req)
{
	struct lock_local	*ll = (struct lock_local *)l;
	struct lock_entry	*e;
	size_t			 b = lock_hash(req->identity);
	size_t			 len = strlen(req->identity);
	enum lock_result	 result = LOCK_BUSY;

	pthread_mutex_lock(&ll->mutex);
	for (e = ll->table[b]; e != NULL; e = e->next)
		if (strcmp(e->identity, req->identity) == 0)
			break;
	if (e == NULL) {
		e = malloc(sizeof(*e) + len + 1);
		if (e != NULL) {
			memcpy(e->identity, req->identity, len + 1);
			e->next = ll->table[b];
			ll->table[b] = e;
			result = LOCK_GRANTED;
		} else
			result = LOCK_ERROR;
	}
	pthread_mutex_unlock(&ll->mutex);
	lock_answer(req, result);
}

/* Nothing is ever outstanding here. */
static void
lock_local_cancel(struct lock *l, struct lock_request *req)
{
	(void)l;
	(void)req;
}

static void
lock_local_release(struct lock *l, struct lock_request *req)
{
	struct lock_local	 *ll = (struct lock_local *)l;
	struct lock_entry	**ep, *e;
	size_t			  b = lock_hash(req->identity);

	pthread_mutex_lock(&ll->mutex);
	for (ep = &ll->table[b]; (e = *ep) != NULL; ep = &e->next) {
		if (strcmp(e->identity, req->identity) == 0) {
			*ep = e->next;
			free(e);
			break;
		}
	}
	pthread_mutex_unlock(&ll->mutex);
}

static void
lock_local_free(struct lock *l)
{
	struct lock_local	*ll = (struct lock_local *)l;
	struct lock_entry	*e;
	size_t			 b;

	for (b = 0; b < LOCK_BUCKETS; b++) {
		while ((e = ll->table[b]) != NULL) {
			ll->table[b] = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&ll->mutex);
	free(ll);
}

static const struct lock_ops lock_local_ops = {
	.request = lock_local_request,
	.cancel = lock_local_cancel,
	.release = lock_local_release,
	.free = lock_local_free,
};

struct lock *
lock_local_new(void)
{
	struct lock_local	*ll;

	if ((ll = calloc(1, sizeof(*ll))) == NULL)
		return NULL;
	if (pthread_mutex_init(&ll->mutex, NULL) != 0) {
		free(ll);
		return NULL;
	}
	ll->lock.ops = &lock_local_ops;
	return &ll->lock;
}
