/* SPDX-License-Identifier: MIT */
/*
 * pending.h - deletions popgate started and has not seen finished.
 *
 * QUIT flags our DELE'd UIDs \Deleted, then expunges them. A connection cut
 * between the two leaves them flagged: every later session lists them again
 * (a printer prints them again), and without UIDPLUS the stray flags block
 * every later commit of the mailbox. So the UIDs are recorded here before
 * the commit starts and dropped once it is verified; the next login of the
 * mailbox finishes what is recorded before it lists anything, touching
 * only those UIDs and only under the same UIDVALIDITY.
 *
 * One record set per struct pending, handed to the workers in struct
 * shared, behind one mutex held for a copy only; kept in memory (a
 * restart forgets it, and the messages are then listed again, as before).
 * At most PENDING_MAX_MAILBOXES records: the oldest goes first.
 */
#ifndef POPGATE_PENDING_H
#define POPGATE_PENDING_H

#include <stdbool.h>
#include <stdint.h>

#define PENDING_MAX_MAILBOXES	1024

struct pending;

/* NULL if memory ran out. */
struct pending	*pending_new(void);
void		 pending_destroy(struct pending *p);

/* Records uids[0..n) (ascending) of the mailbox identity under
 * uidvalidity, added to an older record under the same UIDVALIDITY (one
 * under another is replaced). false if memory ran out. */
bool	pending_put(struct pending *p, const char *identity,
	    uint32_t uidvalidity, const uint32_t *uids, uint32_t n);
/* A copy of identity's record: *uids is malloc'd for the caller. false if
 * there is none (or memory ran out). */
bool	pending_get(struct pending *p, const char *identity,
	    uint32_t *uidvalidity, uint32_t **uids, uint32_t *n);
/* Drops identity's record, if any. */
void	pending_clear(struct pending *p, const char *identity);
/* Drops uids[0..n) (ascending) from identity's record: a commit verified
 * them gone. The record goes when nothing is left in it. */
void	pending_remove(struct pending *p, const char *identity,
	    const uint32_t *uids, uint32_t n);

#endif
