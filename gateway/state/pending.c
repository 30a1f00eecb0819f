/* SPDX-License-Identifier: MIT */
/*
 * pending.c - the record of unfinished deletions: a short list, newest
 * first. It is empty unless a commit was cut, so a login's lookup is a
 * walk over next to nothing.
 */
#include "pending.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct pending_entry {
	struct pending_entry	*next;
	uint32_t		 uidvalidity;
	uint32_t		 n;
	uint32_t		*uids;
	char			 identity[];
};

struct pending {
	pthread_mutex_t		 mutex;
	struct pending_entry	*list;		/* newest first */
	unsigned int		 count;
};

static void
pending_entry_free(struct pending_entry *e)
{
	free(e->uids);
	free(e);
}

/* Unlinks identity's entry (mutex held); returns it, or NULL. */
static struct pending_entry *
pending_unlink(struct pending *p, const char *identity)
{
	struct pending_entry	**ep, *e;

	for (ep = &p->list; (e = *ep) != NULL; ep = &e->next) {
		if (strcmp(e->identity, identity) == 0) {
			*ep = e->next;
			p->count--;
			return e;
		}
	}
	return NULL;
}

/* Drops the oldest entry (the list's tail; mutex held). */
static void
pending_drop_oldest(struct pending *p)
{
	struct pending_entry	**ep = &p->list;

	if (*ep == NULL)
		return;
	while ((*ep)->next != NULL)
		ep = &(*ep)->next;
	pending_entry_free(*ep);
	*ep = NULL;
	p->count--;
}

/* Merges two ascending lists into out (room for na + nb); returns the
 * count, each UID once. With b == NULL, keeps what is in a but not in
 * drop[0..nb) instead. */
static uint32_t
pending_merge(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb,
    const uint32_t *drop, uint32_t *out)
{
	uint32_t	i = 0, j = 0, n = 0;

	if (b == NULL) {
		for (; i < na; i++) {
			while (j < nb && drop[j] < a[i])
				j++;
			if (j >= nb || drop[j] != a[i])
				out[n++] = a[i];
		}
		return n;
	}
	while (i < na || j < nb) {
		if (j >= nb || (i < na && a[i] < b[j]))
			out[n++] = a[i++];
		else if (i >= na || b[j] < a[i])
			out[n++] = b[j++];
		else {
			out[n++] = a[i++];
			j++;
		}
	}
	return n;
}

bool
pending_put(struct pending *p, const char *identity, uint32_t uidvalidity,
    const uint32_t *uids, uint32_t n)
{
	struct pending_entry	*e, *old;
	size_t			 len = strlen(identity);
	uint32_t		 room;

	e = malloc(sizeof(*e) + len + 1);
	if (e == NULL)
		return false;
	memcpy(e->identity, identity, len + 1);
	e->uidvalidity = uidvalidity;
	pthread_mutex_lock(&p->mutex);
	old = pending_unlink(p, identity);
	if (old != NULL && old->uidvalidity != uidvalidity) {
		pending_entry_free(old);	/* names other messages now */
		old = NULL;
	}
	room = n + (old != NULL ? old->n : 0);
	e->uids = malloc((room > 0 ? room : 1) * sizeof(uint32_t));
	if (e->uids == NULL) {
		if (old != NULL) {
			old->next = p->list;	/* keep what was there */
			p->list = old;
			p->count++;
		}
		pthread_mutex_unlock(&p->mutex);
		free(e);
		return false;
	}
	e->n = pending_merge(uids, n, old != NULL ? old->uids : uids,
	    old != NULL ? old->n : 0, NULL, e->uids);
	if (old != NULL)
		pending_entry_free(old);
	if (p->count >= PENDING_MAX_MAILBOXES)
		pending_drop_oldest(p);
	e->next = p->list;
	p->list = e;
	p->count++;
	pthread_mutex_unlock(&p->mutex);
	return true;
}

bool
pending_get(struct pending *p, const char *identity, uint32_t *uidvalidity,
    uint32_t **uids, uint32_t *n)
{
	struct pending_entry	*e;
	bool			 found = false;

	*uids = NULL;
	*n = 0;
	pthread_mutex_lock(&p->mutex);
	for (e = p->list; e != NULL; e = e->next)
		if (strcmp(e->identity, identity) == 0)
			break;
	if (e != NULL && (*uids = malloc((e->n > 0 ? e->n : 1) *
	    sizeof(uint32_t))) != NULL) {
		memcpy(*uids, e->uids, e->n * sizeof(uint32_t));
		*uidvalidity = e->uidvalidity;
		*n = e->n;
		found = true;
	}
	pthread_mutex_unlock(&p->mutex);
	return found;
}

void
pending_remove(struct pending *p, const char *identity, const uint32_t *uids,
    uint32_t n)
{
	struct pending_entry	*e;

	pthread_mutex_lock(&p->mutex);
	for (e = p->list; e != NULL; e = e->next)
		if (strcmp(e->identity, identity) == 0)
			break;
	if (e != NULL) {
		e->n = pending_merge(e->uids, e->n, NULL, n, uids, e->uids);
		if (e->n == 0 && pending_unlink(p, identity) == e)
			pending_entry_free(e);
	}
	pthread_mutex_unlock(&p->mutex);
}

void
pending_clear(struct pending *p, const char *identity)
{
	struct pending_entry	*e;

	pthread_mutex_lock(&p->mutex);
	e = pending_unlink(p, identity);
	pthread_mutex_unlock(&p->mutex);
	if (e != NULL)
		pending_entry_free(e);
}

struct pending *
pending_new(void)
{
	struct pending	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if (pthread_mutex_init(&p->mutex, NULL) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

void
pending_destroy(struct pending *p)
{
	struct pending_entry	*e;

	if (p == NULL)
		return;
	while ((e = p->list) != NULL) {
		p->list = e->next;
		pending_entry_free(e);
	}
	pthread_mutex_destroy(&p->mutex);
	free(p);
}
