/* SPDX-License-Identifier: MIT */
/*
 * authfail.c - the failed-login table: open addressing over a small array,
 * keyed by the client's IP address (the port does not matter), behind one
 * mutex. Touched only on failures and on the first success after one.
 */
#include "authfail.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

/* Slots probed per lookup before the stalest one is reused. */
#define AUTHFAIL_PROBES		8

struct authfail_entry {
	uint8_t		addr[16];	/* IPv4 as ::ffff:a.b.c.d */
	uint64_t	last_ms;
	unsigned int	failures;	/* 0: the slot is free */
};

static struct authfail_entry	authfail_table[AUTHFAIL_SLOTS];
static pthread_mutex_t		authfail_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
authfail_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

/* FNV-1a: the table is small and the key is not attacker-chosen beyond
 * the addresses an attacker holds, which bounds the damage to its own. */
static unsigned int
authfail_hash(const uint8_t key[16])
{
	uint32_t	h = 2166136261u;
	unsigned int	i;

	for (i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 16777619u;
	}
	return h % AUTHFAIL_SLOTS;
}

/* The entry for key, or the slot to take for it: free, expired or the
 * least recently used of the probe window. */
static struct authfail_entry *
authfail_find(const uint8_t key[16], uint64_t now_ms, bool *found)
{
	struct authfail_entry	*e, *victim = NULL;
	unsigned int		 i, at = authfail_hash(key);

	*found = false;
	for (i = 0; i < AUTHFAIL_PROBES; i++) {
		e = &authfail_table[(at + i) % AUTHFAIL_SLOTS];
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
authfail_record(const struct sockaddr *addr, uint64_t now_ms,
    unsigned int base_ms, unsigned int max_ms)
{
	struct authfail_entry	*e;
	uint8_t			 key[16];
	uint64_t		 delay = base_ms;
	unsigned int		 i;
	bool			 found;

	if (!authfail_key(addr, key))
		return base_ms < max_ms ? base_ms : max_ms;
	pthread_mutex_lock(&authfail_lock);
	e = authfail_find(key, now_ms, &found);
	if (!found) {
		memcpy(e->addr, key, 16);
		e->failures = 0;
	}
	if (e->failures < 64)
		e->failures++;
	e->last_ms = now_ms;
	for (i = 1; i < e->failures && delay < max_ms; i++)
		delay *= 2;
	pthread_mutex_unlock(&authfail_lock);
	return delay < max_ms ? (unsigned int)delay : max_ms;
}

void
authfail_clear(const struct sockaddr *addr)
{
	struct authfail_entry	*e;
	uint8_t			 key[16];
	bool			 found;

	if (!authfail_key(addr, key))
		return;
	pthread_mutex_lock(&authfail_lock);
	e = authfail_find(key, 0, &found);
	if (found)
		e->failures = 0;
	pthread_mutex_unlock(&authfail_lock);
}
