/* SPDX-License-Identifier: MIT */
/*
 * addrlimit.c - the admission table: open addressing over a fixed array,
 * keyed by client IP address, behind one mutex (one lock and a few
 * compares per accepted connection). A slot is in use while its address
 * holds a session or its token bucket is still refilling.
 */
#include "addrlimit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

/* Slots probed per lookup. */
#define ADDRLIMIT_PROBES	16
/* A bucket refills completely within this time, whatever the rate. */
#define ADDRLIMIT_REFILL_MS	1000
/* Tokens are counted in thousandths, so a rate of N per second refills
 * N thousandths per millisecond without rounding. */
#define ADDRLIMIT_TOKEN		1000

struct addrlimit_entry {
	uint8_t		addr[16];
	uint64_t	last_ms;	/* last admission attempt */
	uint64_t	tokens;		/* thousandths of a connection */
	unsigned int	active;		/* sessions open now */
	bool		used;
};

struct addrlimit {
	pthread_mutex_t		lock;
	struct addrlimit_entry	table[ADDRLIMIT_SLOTS];
};

struct addrlimit *
addrlimit_new(void)
{
	struct addrlimit	*al;

	if ((al = calloc(1, sizeof(*al))) == NULL)
		return NULL;
	if (pthread_mutex_init(&al->lock, NULL) != 0) {
		free(al);
		return NULL;
	}
	return al;
}

void
addrlimit_free(struct addrlimit *al)
{
	if (al == NULL)
		return;
	pthread_mutex_destroy(&al->lock);
	free(al);
}

/* An entry with no session whose bucket is full again carries nothing. */
static bool
addrlimit_idle(const struct addrlimit_entry *e, uint64_t now_ms)
{
	return !e->used || (e->active == 0 &&
	    now_ms - e->last_ms >= ADDRLIMIT_REFILL_MS);
}

/* The entry of key; with now_ms != 0 also a free slot for it (found is
 * then false). NULL when neither exists. */
static struct addrlimit_entry *
addrlimit_find(struct addrlimit *al, const uint8_t key[16], uint64_t now_ms,
    bool *found)
{
	struct addrlimit_entry	*e, *free_slot = NULL;
	unsigned int		 i, at = addr_key_hash(key, ADDRLIMIT_SLOTS);

	*found = false;
	for (i = 0; i < ADDRLIMIT_PROBES; i++) {
		e = &al->table[(at + i) % ADDRLIMIT_SLOTS];
		if (e->used && memcmp(e->addr, key, 16) == 0) {
			*found = true;
			return e;
		}
		if (free_slot == NULL && now_ms != 0 &&
		    addrlimit_idle(e, now_ms))
			free_slot = e;
	}
	return free_slot;
}

enum addrlimit_result
addrlimit_acquire(struct addrlimit *al, const struct sockaddr *addr,
    uint64_t now_ms, unsigned int max_sessions, unsigned int max_rate)
{
	struct addrlimit_entry	*e;
	enum addrlimit_result	 r = ADDRLIMIT_OK;
	uint8_t			 key[16];
	uint64_t		 full = (uint64_t)max_rate * ADDRLIMIT_TOKEN;
	bool			 found;

	if (!addr_key(addr, key))
		return ADDRLIMIT_UNTRACKED;
	if (now_ms == 0)
		now_ms = 1;	/* 0 means "lookup only" below */
	pthread_mutex_lock(&al->lock);
	e = addrlimit_find(al, key, now_ms, &found);
	if (e == NULL) {
		pthread_mutex_unlock(&al->lock);
		return ADDRLIMIT_UNTRACKED;
	}
	if (!found) {
		memset(e, 0, sizeof(*e));
		memcpy(e->addr, key, 16);
		e->used = true;
		e->tokens = full;
	} else {
		e->tokens += (now_ms - e->last_ms) * max_rate;
		if (e->tokens > full)
			e->tokens = full;
	}
	e->last_ms = now_ms;
	/* Every attempt spends a token, refused ones too: a host hammering
	 * at its session limit is slowed like any other flood. */
	if (max_rate > 0 && e->tokens < ADDRLIMIT_TOKEN)
		r = ADDRLIMIT_TOO_FAST;
	else {
		if (max_rate > 0)
			e->tokens -= ADDRLIMIT_TOKEN;
		if (max_sessions > 0 && e->active >= max_sessions)
			r = ADDRLIMIT_TOO_MANY;
		else
			e->active++;
	}
	pthread_mutex_unlock(&al->lock);
	return r;
}

void
addrlimit_release(struct addrlimit *al, const struct sockaddr *addr)
{
	struct addrlimit_entry	*e;
	uint8_t			 key[16];
	bool			 found;

	if (!addr_key(addr, key))
		return;
	pthread_mutex_lock(&al->lock);
	e = addrlimit_find(al, key, 0, &found);
	if (found && e->active > 0)
		e->active--;
	pthread_mutex_unlock(&al->lock);
}

unsigned int
addrlimit_active(struct addrlimit *al, const struct sockaddr *addr)
{
	struct addrlimit_entry	*e;
	uint8_t			 key[16];
	unsigned int		 n = 0;
	bool			 found;

	if (!addr_key(addr, key))
		return 0;
	pthread_mutex_lock(&al->lock);
	e = addrlimit_find(al, key, 0, &found);
	if (found)
		n = e->active;
	pthread_mutex_unlock(&al->lock);
	return n;
}
