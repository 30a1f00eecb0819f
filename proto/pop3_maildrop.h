/* SPDX-License-Identifier: MIT */
/*
 * pop3_maildrop.h - the message-list snapshot a POP3 session works on.
 * Pure: no I/O. Taken once after login, sorted by UID (= IMAP sequence order).
 *
 * Index spaces: msn = POP3 message number 1..count; idx = msn - 1 (array
 * index); uid = IMAP UID. Each conversion has its own helper.
 */
#ifndef POPGATE_POP3_MAILDROP_H
#define POPGATE_POP3_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pop3_msg_flag {
	POP3_MSG_SEEN		= 1u << 0,	/* \Seen upstream at snapshot time */
	POP3_MSG_FLAGGED_DELETED = 1u << 1,	/* \Deleted upstream (by someone else) */
	POP3_MSG_MARKED		= 1u << 2,	/* DELE'd in this session */
	POP3_MSG_GONE		= 1u << 3,	/* expunged upstream during the session */
	POP3_MSG_RETRIEVED	= 1u << 4,	/* RETR completed (for \Seen) */
};

struct pop3_msg {
	uint32_t	uid;
	uint32_t	flags;		/* enum pop3_msg_flag bits */
	uint64_t	size;		/* octets RETR sends, unstuffed */
};

struct pop3_maildrop {
	struct pop3_msg	*msgs;		/* [0, count), ascending uid */
	uint32_t	 count;
	uint32_t	 cap;
	uint32_t	 uidvalidity;
	uint32_t	 max_count;	/* limit on messages in one snapshot */
	bool		 is_sorted;	/* msgs ascend by uid, no duplicates */
};

/* Upper bound on messages in one snapshot: 16 octets each here, and LIST or
 * UIDL of them (up to ~80 octets a line) must fit the gateway's output cap. */
#define POP3_MAILDROP_MAX_MESSAGES	(256u * 1024)

/* Sets up an empty snapshot; max_count starts at POP3_MAILDROP_MAX_MESSAGES
 * (the caller may lower it before the first put). Allocates lazily. */
void	pop3_maildrop_init(struct pop3_maildrop *md, uint32_t uidvalidity);
/* Frees the message array; md is empty (and deinit-safe) afterwards. */
void	pop3_maildrop_deinit(struct pop3_maildrop *md);
/* Adds or updates the message with this uid (FETCH items may come in pieces
 * and out of order). An update ORs the flags and keeps the larger size, so
 * the result does not depend on arrival order. Returns 0, -EINVAL for uid 0,
 * -ENOMEM, or -E2BIG past max_count (out-of-order duplicates count until
 * finish() merges them). */
int	pop3_maildrop_put(struct pop3_maildrop *md, uint32_t uid,
	    uint64_t size, uint32_t flags);
/* Sorts by uid and merges duplicates; call once when the snapshot is
 * complete (calling it again is cheap and harmless). */
void	pop3_maildrop_finish(struct pop3_maildrop *md);
/* Returns the message for msn, or NULL if msn is out of range. */
struct pop3_msg *pop3_maildrop_by_msn(struct pop3_maildrop *md, uint32_t msn);
/* Returns the message with this uid (binary search), or NULL. */
struct pop3_msg *pop3_maildrop_by_uid(struct pop3_maildrop *md, uint32_t uid);
/* Marks the message with this uid as expunged by someone else. */
void	pop3_maildrop_mark_gone(struct pop3_maildrop *md, uint32_t uid);
/* Count and total size of messages not MARKED (STAT). */
void	pop3_maildrop_stat(const struct pop3_maildrop *md, uint32_t *count_out,
	    uint64_t *octets_out);

#endif
