/* SPDX-License-Identifier: MIT */
/*
 * tail_cache.h - process-wide memory of whether a message's last octet is a
 * line feed, keyed by (mailbox, UIDVALIDITY, UID). RFC 3501 sec. 2.3.1.1
 * makes message content immutable for that key, so an entry never goes
 * stale; it spares the one-octet tail fetch on every later login. Shared by
 * all worker loops behind one short mutex, taken once per snapshot.
 */
#ifndef POPGATE_TAIL_CACHE_H
#define POPGATE_TAIL_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "pop3_maildrop.h"

/* Entries kept at most (16 octets each, 8 MiB of slots at the
 * cap); the table is emptied when full. */
#define TAIL_CACHE_MAX_ENTRIES	(1u << 18)

enum tail_cache_state {
	TAIL_CACHE_UNKNOWN,
	TAIL_CACHE_ENDS_LF,	/* RETR adds nothing */
	TAIL_CACHE_NEEDS_CRLF,	/* RETR appends CRLF: LIST counts 2 more */
};

/* A 64-bit name for a mailbox: upstream, account and folder. */
uint64_t tail_cache_mailbox_id(const char *identity);
/* For each message of md, applies what is known: a known NEEDS_CRLF adds 2 to
 * its size. Sets need[i] = true where the tail is unknown. */
void	tail_cache_apply(uint64_t mailbox, struct pop3_maildrop *md, bool *need);
void	tail_cache_store(uint64_t mailbox, uint32_t uidvalidity, uint32_t uid,
	    enum tail_cache_state state);

#endif
