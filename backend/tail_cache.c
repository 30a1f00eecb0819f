/* SPDX-License-Identifier: MIT */
/*
 * tail_cache.c - open-addressing hash table of message tail facts, grown by
 * doubling up to TAIL_CACHE_MAX_ENTRIES and emptied when that fills up.
 */
#include "tail_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TAIL_CACHE_FIRST_SLOTS	4096u

struct tail_cache_entry {
	uint64_t	mailbox;	/* 0 = free slot */
	uint32_t	uidvalidity;
	uint32_t	uid_state;	/* uid << 1 | needs CRLF */
};

static pthread_mutex_t		 tail_cache_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct tail_cache_entry	*tail_cache_slots;
static uint32_t			 tail_cache_nslots;
static uint32_t			 tail_cache_used;

uint64_t
tail_cache_mailbox_id(const char *identity)
{
	uint64_t	h = 14695981039346656037ull;

	for (; *identity != '\0'; identity++) {
		h ^= (unsigned char)*identity;
		h *= 1099511628211ull;
	}
	return h != 0 ? h : 1;
}

static uint32_t
tail_cache_slot(uint64_t mailbox, uint32_t uidvalidity, uint32_t uid)
{
	uint64_t	h = mailbox ^ ((uint64_t)uidvalidity << 32 | uid);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h & (tail_cache_nslots - 1);
}

static struct tail_cache_entry *
tail_cache_find(uint64_t mailbox, uint32_t uidvalidity, uint32_t uid)
{
	uint32_t	i;

	if (tail_cache_nslots == 0 || uid > UINT32_MAX >> 1)
		return NULL;
	for (i = tail_cache_slot(mailbox, uidvalidity, uid);;
	    i = (i + 1) & (tail_cache_nslots - 1)) {
		struct tail_cache_entry	*e = &tail_cache_slots[i];

		if (e->mailbox == 0 || (e->mailbox == mailbox &&
		    e->uidvalidity == uidvalidity && e->uid_state >> 1 == uid))
			return e;
	}
}

/* Keeps the load under 1/2 so probes stay short; at the size cap, start
 * over (the cost of forgetting is one tail fetch per message). */
static bool
tail_cache_make_room(void)
{
	struct tail_cache_entry	*old = tail_cache_slots, *e;
	uint32_t		 oldn = tail_cache_nslots, i, n;

	if (tail_cache_nslots != 0 && tail_cache_used < tail_cache_nslots / 2)
		return true;
	n = oldn == 0 ? TAIL_CACHE_FIRST_SLOTS : oldn * 2;
	if (n > TAIL_CACHE_MAX_ENTRIES * 2) {
		memset(tail_cache_slots, 0, (size_t)oldn * sizeof(*e));
		tail_cache_used = 0;
		return true;
	}
	tail_cache_slots = calloc(n, sizeof(*e));
	if (tail_cache_slots == NULL) {
		tail_cache_slots = old;
		return false;
	}
	tail_cache_nslots = n;
	for (i = 0; i < oldn; i++) {
		if (old[i].mailbox == 0)
			continue;
		e = tail_cache_find(old[i].mailbox, old[i].uidvalidity,
		    old[i].uid_state >> 1);
		*e = old[i];
	}
	free(old);
	return true;
}

void
tail_cache_apply(uint64_t mailbox, struct pop3_maildrop *md, bool *need)
{
	struct tail_cache_entry	*e;
	uint32_t		 i;

	pthread_mutex_lock(&tail_cache_mutex);
	for (i = 0; i < md->count; i++) {
		struct pop3_msg	*m = &md->msgs[i];

		e = tail_cache_find(mailbox, md->uidvalidity, m->uid);
		need[i] = e == NULL || e->mailbox == 0;
		if (!need[i] && (e->uid_state & 1))
			m->size += 2;
	}
	pthread_mutex_unlock(&tail_cache_mutex);
}

void
tail_cache_store(uint64_t mailbox, uint32_t uidvalidity, uint32_t uid,
    enum tail_cache_state state)
{
	struct tail_cache_entry	*e;

	if (state == TAIL_CACHE_UNKNOWN || uid > UINT32_MAX >> 1)
		return;
	pthread_mutex_lock(&tail_cache_mutex);
	if (tail_cache_make_room()) {
		e = tail_cache_find(mailbox, uidvalidity, uid);
		if (e != NULL && e->mailbox == 0) {
			e->mailbox = mailbox;
			e->uidvalidity = uidvalidity;
			e->uid_state = uid << 1 |
			    (state == TAIL_CACHE_NEEDS_CRLF ? 1u : 0u);
			tail_cache_used++;
		}
	}
	pthread_mutex_unlock(&tail_cache_mutex);
}
