/* SPDX-License-Identifier: MIT */
/*
 * lock.c - a process-wide set of locked mailbox identities: a chained hash
 * table behind one mutex, held for a lookup only.
 */
#include "lock.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Buckets; chains grow past this, so it only bounds the average cost. */
#define LOCK_BUCKETS	4096

struct lock_entry {
	struct lock_entry	*next;
	char			 identity[];
};

static pthread_mutex_t	 lock_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct lock_entry *lock_table[LOCK_BUCKETS];

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

bool
lock_acquire(const char *identity)
{
	struct lock_entry	*e;
	size_t			 b = lock_hash(identity), len = strlen(identity);
	bool			 taken = false;

	pthread_mutex_lock(&lock_mutex);
	for (e = lock_table[b]; e != NULL; e = e->next)
		if (strcmp(e->identity, identity) == 0)
			break;
	if (e == NULL) {
		e = malloc(sizeof(*e) + len + 1);
		if (e != NULL) {
			memcpy(e->identity, identity, len + 1);
			e->next = lock_table[b];
			lock_table[b] = e;
			taken = true;
		}
	}
	pthread_mutex_unlock(&lock_mutex);
	return taken;
}

void
lock_release(const char *identity)
{
	struct lock_entry	**ep, *e;
	size_t			  b = lock_hash(identity);

	pthread_mutex_lock(&lock_mutex);
	for (ep = &lock_table[b]; (e = *ep) != NULL; ep = &e->next) {
		if (strcmp(e->identity, identity) == 0) {
			*ep = e->next;
			free(e);
			break;
		}
	}
	pthread_mutex_unlock(&lock_mutex);
}
