/* SPDX-License-Identifier: MIT */
/*
 * authfail.c - the failed-login table: open addressing over a small array,
 * keyed by the client's IP address (the port does not matter), behind one
 * mutex. Touched only on failures and on the first success after one.
 */
#include "authfail.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

/* Slots probed per lookup before the stalest one is reused. */
#define AUTHFAIL_PROBES		8

struct authfail_entry {
	uint8_t		addr[16];	/* IPv4 as ::ffff:a.b.c.d */
	uint64_t	last_ms;
	unsigned int	failures;	/* 0: the slot is free */
};

struct authfail {
	pthread_mutex_t		lock;
	struct authfail_entry	table[AUTHFAIL_SLOTS];
};

struct authfail *
authfail_new(void)
{
	struct authfail	*af;

	if ((af = calloc(1, sizeof(*af))) == NULL)
		return NULL;
	if (pthread_mutex_init(&af->lock, NULL) != 0) {
		free(af);
		return NULL;
	}
	return af;
}

void
authfail_free(struct authfail *af)
{
	if (af == NULL)
		return;
	pthread_mutex_destroy(&af->lock);
	free(af);
}

/* The entry for key, or the slot to take for it: free, expired or the
 * least recently used of the probe window. */
static struct authfail_entry *
authfail_find(struct authfail *af, const uint8_t key[16], uint64_t now_ms,
    bool *found)
{
	struct authfail_entry	*e, *victim = NULL;
	unsigned int		 i, at = addr_key_hash(key, AUTHFAIL_SLOTS);

	*found = false;
	for (i = 0; i < AUTHFAIL_PROBES; i++) {
		e = &af->table[(at + i) % AUTHFAIL_SLOTS];
		if (e->failures > 0 && memcmp(e->addr, key, 16) == 0) {
			if (now_ms - e->last_ms > AUTHFAIL_FORGET_MS)
				e->failures = 0;
			*found = true;
			return e;
		}
		if (victim == NULL || e->failures == 0 ||
		    (victim->failures > 0 && e->last_ms < victim->last_ms))
			victim = e;
	}
	return victim;
}

unsigned int
authfail_record(struct authfail *af, const struct sockaddr *addr,
    uint64_t now_ms, unsigned int base_ms, unsigned int max_ms)
{
	struct authfail_entry	*e;
	uint8_t			 key[16];
	uint64_t		 delay = base_ms;
	unsigned int		 i;
	bool			 found;

	if (!addr_key(addr, key))
		return base_ms < max_ms ? base_ms : max_ms;
	pthread_mutex_lock(&af->lock);
	e = authfail_find(af, key, now_ms, &found);
	if (!found) {
		memcpy(e->addr, key, 16);
		e->failures = 0;
	}
	if (e->failures < 64)
		e->failures++;
	e->last_ms = now_ms;
	for (i = 1; i < e->failures && delay < max_ms; i++)
		delay *= 2;
	pthread_mutex_unlock(&af->lock);
	return delay < max_ms ? (unsigned int)delay : max_ms;
}

void
authfail_clear(struct authfail *af, const struct sockaddr *addr)
{
	struct authfail_entry	*e;
	uint8_t			 key[16];
	bool			 found;

	if (!addr_key(addr, key))
		return;
	pthread_mutex_lock(&af->lock);
	e = authfail_find(af, key, 0, &found);
	if (found)
		e->failures = 0;
	pthread_mutex_unlock(&af->lock);
}
