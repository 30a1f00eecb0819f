/* SPDX-License-Identifier: MIT */
/*
 * imap_commit.c - QUIT: UID STORE \Deleted and UID EXPUNGE of exactly the
 * DELE'd UIDs, verified, plus \Seen of what was retrieved
 * (doc/imap-mapping.md sec. 10-11).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_client_int.h"

/* ---- commit (QUIT) ---- */

/* Appends uids[*pos..] as a compressed UID set until the line is full. */
static int
imap_append_set(struct buf *b, const uint32_t *uids, uint32_t n,
    uint32_t *pos)
{
	size_t		start = b->len;
	uint32_t	i = *pos, j;
	int		r = 0;

	while (i < n && b->len - start < IMAP_MAX_SET_OCTETS && r == 0) {
		j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (b->len > start)
			r = buf_append(b, ",", 1);
		if (r == 0 && j == i)
			r = buf_appendf(b, "%u", uids[i]);
		else if (r == 0)
			r = buf_appendf(b, "%u:%u", uids[i], uids[j]);
		i = j + 1;
	}
	*pos = i;
	return r;
}

/* Sends one command per ~1000-octet slice of the set. */
unsigned int
imap_client_set_commands(struct imap_client *c, enum imap_cmd_kind kind,
    const char *prefix, const uint32_t *uids, uint32_t n, const char *suffix)
{
	struct buf	set;
	uint32_t	pos = 0;
	unsigned int	sent = 0;

	buf_init(&set, IMAP_MAX_SET_OCTETS * 2);
	while (pos < n) {
		buf_reset(&set);
		if (imap_append_set(&set, uids, n, &pos) != 0 ||
		    buf_append(&set, "", 1) != 0)
			break;
		if (imap_client_command(c, kind, "%s %s%s", prefix, set.data,
		    suffix) == NULL)
			break;
		sent++;
	}
	buf_deinit(&set);
	return sent;
}

bool
imap_commit_prepare(struct imap_client *c, const struct pop3_maildrop *md)
{
	struct imap_commit	*k = &c->commit;
	uint32_t		 i;

	memset(k, 0, sizeof(*k));
	if (md == NULL || md->count == 0)
		return true;
	k->deleted = calloc(md->count, sizeof(uint32_t));
	k->seen = calloc(md->count, sizeof(uint32_t));
	if (k->deleted == NULL || k->seen == NULL)
		return false;
	for (i = 0; i < md->count; i++) {
		const struct pop3_msg	*m = &md->msgs[i];

		if (m->flags & POP3_MSG_MARKED)
			k->deleted[k->ndeleted++] = m->uid;
		else if (c->config.seen_on_retr && !c->read_only &&
		    (m->flags & POP3_MSG_RETRIEVED) &&
		    !(m->flags & (POP3_MSG_SEEN | POP3_MSG_GONE)))
			k->seen[k->nseen++] = m->uid;
	}
	return true;
}

void
imap_client_send_logout(struct imap_client *c)
{
	c->phase = IMAP_PHASE_LOGOUT;
	imap_client_command(c, IMAP_CMD_LOGOUT, "LOGOUT");
	uv_timer_start(&c->timer, imap_timer_cb, IMAP_LOGOUT_WAIT_MS, 0);
}

static void
imap_client_commit_finish(struct imap_client *c)
{
	struct imap_commit	*k = &c->commit;
	enum imap_result	 result = IMAP_OK;

	if (k->failed || k->survivors > 0)
		result = IMAP_ERR_TEMP;
	if (k->detail == NULL)
		k->detail = result == IMAP_OK ? "ok" :
		    "some deleted messages were not removed";
	if (k->resume) {
		/* The login goes on either way: what could not be finished
		 * stays recorded and is listed, as it would have been. */
		k->resume = false;
		if (c->cb->resumed != NULL)
			c->cb->resumed(c->arg, result, k->ndeleted, k->detail);
		free(k->deleted);
		free(k->seen);
		memset(k, 0, sizeof(*k));
		if (c->phase == IMAP_PHASE_COMMIT)
			imap_client_snapshot_restart(c);
		return;
	}
	imap_client_send_logout(c);
	c->cb->commit_done(c->arg, result, k->detail);
}

/* One step of the QUIT sequence, run each time nothing is in flight:
 * STORE \Deleted (+ \Seen) -> [SEARCH DELETED] -> EXPUNGE -> verify. RFC
 * 3501 sec. 5.5: these depend on each other, so they are not pipelined. */
void
imap_client_commit_step(struct imap_client *c)
{
	struct imap_commit	*k = &c->commit;

	if (c->ncmds > 0 || c->phase != IMAP_PHASE_COMMIT)
		return;
	if (k->failed || k->ndeleted == 0) {
		imap_client_commit_finish(c);
		return;
	}
	c->has_uidplus = imap_has_cap(c, "UIDPLUS") ||
	    imap_has_cap(c, "IMAP4rev2");
	switch (k->stage) {
	case IMAP_COMMIT_STORE:
		if (c->has_uidplus) {
			/* RFC 4315 sec. 2.1: removes only our set. */
			k->stage = IMAP_COMMIT_EXPUNGE;
			imap_client_set_commands(c, IMAP_CMD_EXPUNGE,
			    "UID EXPUNGE", k->deleted, k->ndeleted, "");
		} else {
			k->stage = IMAP_COMMIT_SEARCH;
			imap_client_command(c, IMAP_CMD_SEARCH_DELETED,
			    "UID SEARCH DELETED");
		}
		break;
	case IMAP_COMMIT_SEARCH:
		/* The SEARCH reply sent EXPUNGE or failed; see below. */
		imap_client_commit_finish(c);
		break;
	case IMAP_COMMIT_EXPUNGE:
		k->stage = IMAP_COMMIT_VERIFY;
		imap_client_set_commands(c, IMAP_CMD_VERIFY, "UID SEARCH UID",
		    k->deleted, k->ndeleted, "");
		break;
	case IMAP_COMMIT_VERIFY:
		imap_client_commit_finish(c);
		break;
	}
}

void
imap_client_commit(struct imap_client *c, const struct pop3_maildrop *md)
{
	struct imap_commit	*k = &c->commit;

	assert(c->phase == IMAP_PHASE_READY ||
	    (c->phase == IMAP_PHASE_FETCH && !c->fetch.active));
	c->phase = IMAP_PHASE_COMMIT;
	if (!imap_commit_prepare(c, md)) {
		k->failed = true;
		k->detail = "out of memory";
		imap_client_commit_step(c);
		return;
	}
	if (k->ndeleted > 0 && c->read_only) {
		k->failed = true;
		k->detail = "mailbox is read-only";
	}
	if (k->ndeleted > 0 && !k->failed)
		imap_client_set_commands(c, IMAP_CMD_STORE_DELETED, "UID STORE",
		    k->deleted, k->ndeleted, " +FLAGS.SILENT (\\Deleted)");
	if (k->nseen > 0)
		imap_client_set_commands(c, IMAP_CMD_STORE_SEEN, "UID STORE",
		    k->seen, k->nseen, " +FLAGS.SILENT (\\Seen)");
	imap_client_commit_step(c);
}

void
imap_client_resume_commit(struct imap_client *c, uint32_t *uids, uint32_t n)
{
	struct imap_commit	*k = &c->commit;

	memset(k, 0, sizeof(*k));
	k->resume = true;
	k->deleted = uids;
	k->ndeleted = n;
	c->phase = IMAP_PHASE_COMMIT;
	if (c->read_only) {
		k->failed = true;
		k->detail = "mailbox is read-only";
	} else if (n > 0) {
		/* Again, whether or not the cut STORE arrived: adding a flag
		 * that is there changes nothing. */
		imap_client_set_commands(c, IMAP_CMD_STORE_DELETED, "UID STORE",
		    k->deleted, k->ndeleted, " +FLAGS.SILENT (\\Deleted)");
	}
	imap_client_commit_step(c);
}

static bool
imap_uid_in(const uint32_t *uids, uint32_t n, uint32_t uid)
{
	uint32_t	lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (uids[mid] == uid)
			return true;
		if (uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Counts the UIDs of the last SEARCH response in and out of our set. */
static void
imap_search_split(struct imap_client *c, uint32_t *ours, uint32_t *others)
{
	struct mailimap_response_info	*info = c->imap->imap_response_info;
	clistiter			*it;

	*ours = *others = 0;
	if (info == NULL || info->rsp_search_result == NULL)
		return;
	for (it = clist_begin(info->rsp_search_result); it != NULL;
	    it = clist_next(it)) {
		if (imap_uid_in(c->commit.deleted, c->commit.ndeleted,
		    *(uint32_t *)clist_content(it)))
			(*ours)++;
		else
			(*others)++;
	}
}

void
imap_client_on_commit_reply(struct imap_client *c, struct imap_cmd *cmd,
    struct mailimap_response *resp)
{
	struct imap_commit		*k = &c->commit;
	uint32_t			 ours, others;
	bool				 ok;

	ok = imap_resp_status(resp) == MAILIMAP_RESP_COND_STATE_OK;
	switch (cmd->kind) {
	case IMAP_CMD_STORE_DELETED:
	case IMAP_CMD_EXPUNGE:
	case IMAP_CMD_STORE_SEEN:
		/* A NO here may mean "already expunged"; verify decides.
		 * A \Seen store that fails does not fail the commit. */
		break;
	case IMAP_CMD_SEARCH_DELETED:
		if (!ok) {
			k->failed = true;
			break;
		}
		/* doc/imap-mapping.md sec. 11.3: without UIDPLUS, EXPUNGE only
		 * when every \Deleted message is one of ours. */
		imap_search_split(c, &ours, &others);
		k->foreign_deleted = others > 0;
		if (k->foreign_deleted) {
			k->detail = "other messages are flagged \\Deleted and "
			    "the upstream lacks UIDPLUS: ours stay flagged";
			k->failed = true;
		} else {
			k->stage = IMAP_COMMIT_EXPUNGE;
			imap_client_command(c, IMAP_CMD_EXPUNGE, "EXPUNGE");
		}
		break;
	case IMAP_CMD_VERIFY:
		if (!ok) {
			k->failed = true;
			break;
		}
		imap_search_split(c, &ours, &others);
		k->survivors += ours;
		break;
	default:
		break;
	}
	/* imap_client_on_response() moves the commit on. */
}
