/* SPDX-License-Identifier: MIT */
/*
 * pop3_maildrop.c - the per-session message list: built from the IMAP
 * snapshot, then read and marked by the POP3 engine. Pure: no I/O.
 */
#include "pop3_maildrop.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

/* First allocation, in messages; doubled as the snapshot grows. */
#define POP3_MAILDROP_INITIAL_CAP	64

void
pop3_maildrop_init(struct pop3_maildrop *md, uint32_t uidvalidity)
{
	md->msgs = NULL;
	md->count = 0;
	md->cap = 0;
	md->uidvalidity = uidvalidity;
	md->max_count = POP3_MAILDROP_MAX_MESSAGES;
	md->is_sorted = true;
}

void
pop3_maildrop_deinit(struct pop3_maildrop *md)
{
	free(md->msgs);
	md->msgs = NULL;
	md->count = 0;
	md->cap = 0;
	md->is_sorted = true;
}

static int
pop3_maildrop_grow(struct pop3_maildrop *md)
{
	struct pop3_msg	*msgs;
	uint32_t	 cap;

	if (md->count >= md->max_count)
		return -E2BIG;
	if (md->cap == 0)
		cap = POP3_MAILDROP_INITIAL_CAP;
	else if (md->cap > md->max_count / 2)
		cap = md->max_count;
	else
		cap = md->cap * 2;
	if (cap > md->max_count)
		cap = md->max_count;
	msgs = realloc(md->msgs, (size_t)cap * sizeof(*msgs));
	if (msgs == NULL)
		return -ENOMEM;
	md->msgs = msgs;
	md->cap = cap;
	return 0;
}

/* Binary search over a sorted array; NULL when absent. */
static struct pop3_msg *
pop3_maildrop_search(struct pop3_maildrop *md, uint32_t uid)
{
	uint32_t	lo = 0, hi = md->count, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (md->msgs[mid].uid == uid)
			return &md->msgs[mid];
		if (md->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Order-independent merge of two reports about the same message. */
static void
pop3_maildrop_merge(struct pop3_msg *m, uint64_t size, uint32_t flags)
{
	m->flags |= flags;
	if (size > m->size)
		m->size = size;
}

int
pop3_maildrop_put(struct pop3_maildrop *md, uint32_t uid, uint64_t size,
    uint32_t flags)
{
	struct pop3_msg	*m;
	bool		 out_of_order = false;
	int		 error;

	/* RFC 3501 sec. 2.3.1.1: UIDs start at 1; 0 is a server bug. */
	if (uid == 0)
		return -EINVAL;
	if (md->count > 0) {
		m = &md->msgs[md->count - 1];
		/* FETCH items of one message usually arrive back to back. */
		if (m->uid == uid) {
			pop3_maildrop_merge(m, size, flags);
			return 0;
		}
		if (md->is_sorted && uid < m->uid) {
			m = pop3_maildrop_search(md, uid);
			if (m != NULL) {
				pop3_maildrop_merge(m, size, flags);
				return 0;
			}
			out_of_order = true;
		}
	}
	if (md->count == md->cap && (error = pop3_maildrop_grow(md)) != 0)
		return error;
	/* Unsorted from here on: finish() sorts and merges duplicates. */
	if (out_of_order)
		md->is_sorted = false;
	m = &md->msgs[md->count++];
	m->uid = uid;
	m->size = size;
	m->flags = flags;
	return 0;
}

static int
pop3_maildrop_cmp_uid(const void *a, const void *b)
{
	const struct pop3_msg	*ma = a, *mb = b;

	return (ma->uid > mb->uid) - (ma->uid < mb->uid);
}

void
pop3_maildrop_finish(struct pop3_maildrop *md)
{
	uint32_t	in, out;

	if (md->is_sorted)
		return;
	qsort(md->msgs, md->count, sizeof(*md->msgs), pop3_maildrop_cmp_uid);
	out = 0;
	for (in = 0; in < md->count; in++) {
		if (out > 0 && md->msgs[out - 1].uid == md->msgs[in].uid)
			pop3_maildrop_merge(&md->msgs[out - 1],
			    md->msgs[in].size, md->msgs[in].flags);
		else
			md->msgs[out++] = md->msgs[in];
	}
	md->count = out;
	md->is_sorted = true;
}

struct pop3_msg *
pop3_maildrop_by_msn(struct pop3_maildrop *md, uint32_t msn)
{
	/* msn is 1-based (RFC 1939 sec. 4); idx = msn - 1. */
	if (msn == 0 || msn > md->count)
		return NULL;
	return &md->msgs[msn - 1];
}

struct pop3_msg *
pop3_maildrop_by_uid(struct pop3_maildrop *md, uint32_t uid)
{
	uint32_t	idx;

	if (md->is_sorted)
		return pop3_maildrop_search(md, uid);
	/* Before finish(): correct, if slow. */
	for (idx = 0; idx < md->count; idx++)
		if (md->msgs[idx].uid == uid)
			return &md->msgs[idx];
	return NULL;
}

void
pop3_maildrop_mark_gone(struct pop3_maildrop *md, uint32_t uid)
{
	struct pop3_msg	*m;

	m = pop3_maildrop_by_uid(md, uid);
	if (m != NULL)
		m->flags |= POP3_MSG_GONE;
}

void
pop3_maildrop_stat(const struct pop3_maildrop *md, uint32_t *count_out,
    uint64_t *octets_out)
{
	uint64_t	octets = 0;
	uint32_t	count = 0, idx;

	/* RFC 1939 sec. 5 STAT: messages marked as deleted are not counted. */
	for (idx = 0; idx < md->count; idx++) {
		if (md->msgs[idx].flags & POP3_MSG_MARKED)
			continue;
		count++;
		octets += md->msgs[idx].size;
	}
	*count_out = count;
	*octets_out = octets;
}
