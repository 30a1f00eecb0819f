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

static pthread_mutex_t		 pending_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct pending_entry	*pending_list;
static unsigned int		 pending_count;

static void
pending_free(struct pending_entry *e)
{
	free(e->uids);
	free(e);
}

/* Unlinks identity's entry (mutex held); returns it, or NULL. */
static struct pending_entry *
pending_unlink(const char *identity)
{
	struct pending_entry	**ep, *e;

	for (ep = &pending_list; (e = *ep) != NULL; ep = &e->next) {
		if (strcmp(e->identity, identity) == 0) {
			*ep = e->next;
			pending_count--;
			return e;
		}
	}
	return NULL;
}

/* Drops the oldest entry (the list's tail; mutex held). */
static void
pending_drop_oldest(void)
{
	struct pending_entry	**ep = &pending_list;

	if (*ep == NULL)
		return;
	while ((*ep)->next != NULL)
		ep = &(*ep)->next;
	pending_free(*ep);
	*ep = NULL;
	pending_count--;
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
pending_put(const char *identity, uint32_t uidvalidity, const uint32_t *uids,
    uint32_t n)
{
	struct pending_entry	*e, *old;
	size_t			 len = strlen(identity);
	uint32_t		 room;

	e = malloc(sizeof(*e) + len + 1);
	if (e == NULL)
		return false;
	memcpy(e->identity, identity, len + 1);
	e->uidvalidity = uidvalidity;
	pthread_mutex_lock(&pending_mutex);
	old = pending_unlink(identity);
	if (old != NULL && old->uidvalidity != uidvalidity) {
		pending_free(old);	/* names other messages now */
		old = NULL;
	}
	room = n + (old != NULL ? old->n : 0);
	e->uids = malloc((room > 0 ? room : 1) * sizeof(uint32_t));
	if (e->uids == NULL) {
		if (old != NULL) {
			old->next = pending_list;	/* keep what was there */
			pending_list = old;
			pending_count++;
		}
		pthread_mutex_unlock(&pending_mutex);
		free(e);
		return false;
	}
	e->n = pending_merge(uids, n, old != NULL ? old->uids : uids,
	    old != NULL ? old->n : 0, NULL, e->uids);
	if (old != NULL)
		pending_free(old);
	if (pending_count >= PENDING_MAX_MAILBOXES)
		pending_drop_oldest();
	e->next = pending_list;
	pending_list = e;
	pending_count++;
	pthread_mutex_unlock(&pending_mutex);
	return true;
}

bool
pending_get(const char *identity, uint32_t *uidvalidity, uint32_t **uids,
    uint32_t *n)
{
	struct pending_entry	*e;
	bool			 found = false;

	*uids = NULL;
	*n = 0;
	pthread_mutex_lock(&pending_mutex);
	for (e = pending_list; e != NULL; e = e->next)
		if (strcmp(e->identity, identity) == 0)
			break;
	if (e != NULL && (*uids = malloc((e->n > 0 ? e->n : 1) *
	    sizeof(uint32_t))) != NULL) {
		memcpy(*uids, e->uids, e->n * sizeof(uint32_t));
		*uidvalidity = e->uidvalidity;
		*n = e->n;
		found = true;
	}
	pthread_mutex_unlock(&pending_mutex);
	return found;
}

void
pending_remove(const char *identity, const uint32_t *uids, uint32_t n)
{
	struct pending_entry	*e;

	pthread_mutex_lock(&pending_mutex);
	for (e = pending_list; e != NULL; e = e->next)
		if (strcmp(e->identity, identity) == 0)
			break;
	if (e != NULL) {
		e->n = pending_merge(e->uids, e->n, NULL, n, uids, e->uids);
		if (e->n == 0 && pending_unlink(identity) == e)
			pending_free(e);
	}
	pthread_mutex_unlock(&pending_mutex);
}

void
pending_clear(const char *identity)
{
	struct pending_entry	*e;

	pthread_mutex_lock(&pending_mutex);
	e = pending_unlink(identity);
	pthread_mutex_unlock(&pending_mutex);
	if (e != NULL)
		pending_free(e);
}
