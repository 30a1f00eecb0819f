/* SPDX-License-Identifier: MIT */
/*
 * imap_fetch.c - RETR and TOP bodies as pipelined fetches that pause while
 * the POP3 client is behind (doc/imap-mapping.md sec. 8-9).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_client_int.h"
#include "imap_fetch_line.h"

static void imap_client_fetch_pump(struct imap_client *c);

/* The "length" of a command that fetches whole messages: it covers any
 * message, so the pump's end-is-already-asked-for rule stops there and a
 * completed command always means the end of the message. */
#define IMAP_FETCH_WHOLE	UINT32_MAX


/* The message exists and its first octets are here. */
static void
imap_client_body_begin(struct imap_client *c)
{
	imap_client_timed(c, IMAP_STAGE_FIRST_BYTE, c->t_fetch);
	c->cb->body_begin(c->arg);
}

static void imap_body_deliver(struct imap_client *c, const char *bytes,
    size_t len, uint64_t origin, bool first);

/*
 * Body data counts only for the UID, section and offset in flight. A FETCH
 * response may name its UID after the body literal (RFC 3501 sec. 7.4.2
 * fixes no order of the items), and libetpan hands the literal over in
 * pieces from a buffer of its own while it parses. Usually the line that
 * opens the literal already shows our UID first (imap_fetch_line.h): then
 * the pieces go straight to the client. Otherwise they are kept aside (at
 * most one response's literal, which the framer bounds) and
 * imap_msg_att_handler(), called once the whole response is parsed,
 * delivers them or drops them.
 */
static bool
imap_body_direct(const struct imap_client *c, const char *bytes)
{
	const MMAPString	*b = c->imap->imap_stream_buffer;
	size_t			 end;
	uint32_t		 uid, origin;

	if (b == NULL)
		return false;
	/* The literal's first piece either follows its opening line in
	 * libetpan's buffer or comes from elsewhere after the whole line. */
	end = bytes >= b->str && bytes <= b->str + b->len ?
	    (size_t)(bytes - b->str) : b->len;
	return imap_fetch_line_uid(b->str, end, &uid, &origin) &&
	    uid == c->fetch.uid && origin == c->fetch.pend_origin;
}

static bool
imap_body_handler(int type, struct mailimap_msg_att_body_section *section,
    const char *bytes, size_t len, void *arg)
{
	struct imap_client	*c = arg;
	struct imap_fetch	*f = &c->fetch;

	if (!f->active || f->eof || c->stale_chunks > 0)
		return true;	/* a stopped TOP or a stale chunk: drop it */
	if (f->broken)
		return false;	/* nothing more reaches the client */
	if (type != MAILIMAP_MSG_ATT_BODY_SECTION || section == NULL) {
		f->pend_plain = false;	/* RFC822 or the like: not asked */
		f->pend_count++;
		return true;
	}
	if (f->pend_section != section) {
		/* The first piece of a literal. */
		f->pend_section = section;
		if (f->pend_count++ > 0)
			return true;	/* a second literal: refused below */
		f->pend_origin = section->sec_origin_octet;
		f->pend_plain = section->sec_section == NULL ||
		    section->sec_section->sec_spec == NULL;
		f->pend_direct = f->pend_plain && imap_body_direct(c, bytes);
		f->pend_first = true;
		buf_reset(&c->fetch_pend);
	}
	if (f->pend_count > 1 || !f->pend_plain)
		return true;
	if (f->pend_direct) {
		imap_body_deliver(c, bytes, len, f->pend_origin,
		    f->pend_first);
		f->pend_first = false;
		return !f->broken;
	}
	if (buf_append(&c->fetch_pend, bytes, len) != 0) {
		c->fail_detail = "body literal too large";
		return false;
	}
	return true;
}

static uint32_t
imap_msg_att_uid(const struct mailimap_msg_att *att)
{
	clistiter	*it;

	for (it = clist_begin(att->att_list); it != NULL; it = clist_next(it)) {
		struct mailimap_msg_att_item	*item = clist_content(it);

		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC &&
		    item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_UID)
			return item->att_data.att_static->att_data.att_uid;
	}
	return 0;
}

/* Data that checked out: it must continue where the data so far ends. */
static void
imap_body_deliver(struct imap_client *c, const char *bytes, size_t len,
    uint64_t origin, bool first)
{
	struct imap_fetch	*f = &c->fetch;

	/* Every literal must start where the data so far ends: the chunks
	 * arrive in order and once each, or the message would be garbled
	 * (a repeated response would be sent twice). */
	if (first && origin != f->received) {
		c->fail_detail = "upstream sent body chunks out of order";
		f->broken = true;
		return;
	}
	if (!f->begun) {
		f->begun = true;
		imap_client_body_begin(c);
	}
	if (len == 0 || !f->active)
		return;
	f->received += len;
	if (c->cb->body_data(c->arg, bytes, len) != 0) {
		c->fail_detail = "client side failed";
		f->broken = true;
	}
}

static void
imap_msg_att_handler(struct mailimap_msg_att *att, void *arg)
{
	struct imap_client	*c = arg;
	struct imap_fetch	*f = &c->fetch;
	uint32_t		 uid;
	unsigned int		 count = f->pend_count;
	bool			 direct = f->pend_direct;

	f->pend_count = 0;
	f->pend_direct = false;
	f->pend_section = NULL;
	if (count == 0 || !f->active || f->eof || f->broken ||
	    c->stale_chunks > 0) {
		buf_reset(&c->fetch_pend);
		return;		/* no body (a flag update), or not ours now */
	}
	uid = imap_msg_att_uid(att);
	if (direct && uid != f->uid) {
		/* Cannot happen if the line check holds; if it ever does,
		 * the transfer ends without its terminator. */
		c->fail_detail = "body UID differs from its opening line";
		f->broken = true;
	} else if (direct && count == 1) {
		/* delivered as it came */
	} else if (!direct && uid == f->uid && count == 1 && f->pend_plain) {
		imap_body_deliver(c, c->fetch_pend.data, c->fetch_pend.len,
		    f->pend_origin, true);
	} else {
		/* Another message's body, a section we did not ask for, or
		 * no UID to tell: none of it may reach the client. */
		f->foreign = true;
		if (c->cb->body_dropped != NULL)
			c->cb->body_dropped(c->arg, f->uid, uid, count != 1 ?
			    "several body items in one response" :
			    !f->pend_plain ? "a section that was not asked "
			    "for" : uid == 0 ? "no UID in the response" :
			    "another message's UID");
	}
	buf_reset(&c->fetch_pend);
}

static void
imap_fetch_progress(size_t current, size_t maximum, void *arg)
{
	(void)current;
	(void)maximum;
	(void)arg;
}

/* Streaming fetches get both handlers; the fetch-ahead pair and every
 * other command get neither, so their FETCH data lands in the response.
 * libetpan calls a message handler only while a progress callback is set,
 * hence the empty one. */
static void
imap_fetch_handlers(struct imap_client *c, bool on)
{
	mailimap_set_progress_callback(c->imap, on ? imap_fetch_progress : NULL,
	    NULL, NULL);
	mailimap_set_msg_body_handler(c->imap, on ? imap_body_handler : NULL,
	    on ? c : NULL);
	mailimap_set_msg_att_handler(c->imap, on ? imap_msg_att_handler : NULL,
	    on ? c : NULL);
}

static void
imap_client_fetch_end(struct imap_client *c, enum imap_result result,
    const char *detail)
{
	struct imap_fetch	*f = &c->fetch;

	if (!f->active)
		return;
	f->active = false;
	imap_fetch_handlers(c, false);
	buf_deinit(&c->fetch_pend);	/* a chunk's worth: not kept idle */
	c->cb->body_end(c->arg, result, detail);
}

static void
imap_client_fetch_pump(struct imap_client *c)
{
	struct imap_fetch	*f = &c->fetch;
	struct imap_cmd		*cmd;
	uint64_t		 len;

	if (!f->active || f->eof || c->stale_chunks > 0)
		return;
	f->waiting = false;
	while (f->inflight < f->window) {
		/* The end is expected inside what is already asked for: ask
		 * for more only if that comes back whole (RFC822.SIZE was
		 * low), never for chunks past the end just to fill the window. */
		if (f->next_offset > f->size && f->received < f->next_offset)
			return;
		if (c->cb->client_backlog(c->arg) > f->low_water) {
			f->waiting = true;
			return;
		}
		len = f->chunk;
		/* Ask one octet past the expected end: a short answer then
		 * proves the end without an extra round trip. */
		if (f->next_offset <= f->size && f->size - f->next_offset < len)
			len = f->size - f->next_offset + 1;
		if (f->next_offset + len > UINT32_MAX) {
			/* sec_origin_octet is 32-bit in libetpan: 4 GiB cap. */
			imap_client_fetch_end(c, IMAP_ERR_PERM,
			    "message larger than 4 GiB");
			return;
		}
		if (f->next_offset == 0 && len == f->size + 1 && !f->is_top) {
			/* It fits one chunk: fetch it whole, which servers
			 * serve with less work than a partial range. */
			cmd = imap_client_command(c, IMAP_CMD_CHUNK,
			    "UID FETCH %u (BODY.PEEK[])", f->uid);
			len = IMAP_FETCH_WHOLE;
		} else {
			cmd = imap_client_command(c, IMAP_CMD_CHUNK,
			    "UID FETCH %u (BODY.PEEK[]<%llu.%llu>)", f->uid,
			    (unsigned long long)f->next_offset,
			    (unsigned long long)len);
		}
		if (cmd == NULL)
			return;
		cmd->offset = f->next_offset;
		cmd->length = len;
		cmd->fetch_id = f->id;
		f->next_offset += len;
		f->inflight++;
		if (f->is_top && f->chunk < c->config.chunk_octets)
			f->chunk *= 2;
	}
}

/* Drops the message kept from a fetch-ahead. */
static void
imap_client_stash_drop(struct imap_client *c)
{
	free(c->stash);
	c->stash = NULL;
	c->stash_len = 0;
	c->stash_uid = 0;
}

/* RETR/TOP of the message fetched ahead: served from memory, no round
 * trip. The callbacks fire before imap_client_fetch() returns. */
static void
imap_client_fetch_from_stash(struct imap_client *c)
{
	struct imap_fetch	*f = &c->fetch;

	f->begun = true;
	imap_client_body_begin(c);
	if (f->active && c->cb->body_data(c->arg, c->stash, c->stash_len) != 0)
		imap_client_fetch_end(c, IMAP_ERR_TEMP, "client side failed");
	imap_client_stash_drop(c);
	if (f->active)
		imap_client_fetch_end(c, IMAP_OK, "ok");
	f->active = false;
}

/* Finds the BODY[] octets the last response carried for uid. */
static bool
imap_fetch_find_body(struct imap_client *c, uint32_t uid, const char **data,
    size_t *len)
{
	struct mailimap_response_info	*info = c->imap->imap_response_info;
	clistiter			*it, *jt;

	for (it = info && info->rsp_fetch_list ? clist_begin(info->rsp_fetch_list) :
	    NULL; it != NULL; it = clist_next(it)) {
		struct mailimap_msg_att			*att = clist_content(it);
		struct mailimap_msg_att_body_section	*body = NULL;
		uint32_t				 got = 0;

		for (jt = clist_begin(att->att_list); jt != NULL;
		    jt = clist_next(jt)) {
			struct mailimap_msg_att_item	*item = clist_content(jt);

			if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
				continue;
			if (item->att_data.att_static->att_type ==
			    MAILIMAP_MSG_ATT_UID)
				got = item->att_data.att_static->att_data.att_uid;
			else if (item->att_data.att_static->att_type ==
			    MAILIMAP_MSG_ATT_BODY_SECTION)
				body = item->att_data.att_static->att_data.
				    att_body_section;
		}
		/* Only the whole BODY[] from octet 0 was asked for. */
		if (got == uid && body != NULL && body->sec_body_part != NULL &&
		    body->sec_length > 0 && body->sec_origin_octet == 0 &&
		    (body->sec_section == NULL ||
		    body->sec_section->sec_spec == NULL)) {
			*data = body->sec_body_part;
			*len = body->sec_length;
			return true;
		}
	}
	return false;
}

/* Clients that RETR one message usually RETR the next: when both are small
 * they travel in one UID FETCH, halving the round trips (and the wake-ups
 * on both sides) of a sequential download. Bodies then come parsed, not
 * streamed, which their size bounds. */
static bool
imap_client_fetch_pair(struct imap_client *c, uint32_t ahead_uid,
    uint64_t ahead_size)
{
	struct imap_fetch	*f = &c->fetch;
	struct imap_cmd		*cmd;

	if (!c->config.fetch_ahead || f->is_top || ahead_uid == 0 ||
	    c->stale_chunks > 0 || f->size >= IMAP_FETCH_AHEAD_MAX_OCTETS ||
	    ahead_size >= IMAP_FETCH_AHEAD_MAX_OCTETS)
		return false;
	imap_fetch_handlers(c, false);
	cmd = imap_client_command(c, IMAP_CMD_CHUNK,
	    "UID FETCH %u,%u (BODY.PEEK[])", f->uid, ahead_uid);
	if (cmd == NULL)
		return true;	/* the client has failed; callbacks are done */
	cmd->offset = 0;
	cmd->length = IMAP_FETCH_WHOLE;
	cmd->fetch_id = f->id;
	cmd->ahead_uid = ahead_uid;
	f->inflight = 1;
	f->next_offset = IMAP_FETCH_WHOLE;	/* nothing more to ask for */
	return true;
}

void
imap_client_fetch(struct imap_client *c, uint32_t uid, uint64_t size,
    bool is_top, size_t low_water, uint32_t ahead_uid, uint64_t ahead_size)
{
	struct imap_fetch	*f = &c->fetch;

	assert(c->phase == IMAP_PHASE_READY ||
	    (c->phase == IMAP_PHASE_FETCH && !f->active));
	/* Chunks of a stopped TOP may still be in flight: their data must
	 * not reach this transfer, so it starts once they have drained. */
	c->stale_chunks += f->inflight;
	memset(f, 0, sizeof(*f));
	c->t_fetch = uv_hrtime();
	f->id = ++c->fetch_seq;
	f->uid = uid;
	f->size = size;
	f->low_water = low_water;
	f->is_top = is_top;
	f->window = is_top ? 1 : c->config.window;
	f->chunk = is_top ? IMAP_TOP_FIRST_CHUNK : c->config.chunk_octets;
	if (f->chunk > c->config.chunk_octets)
		f->chunk = c->config.chunk_octets;
	f->active = true;
	if (c->stash_uid == uid) {
		imap_client_fetch_from_stash(c);
		return;
	}
	imap_client_stash_drop(c);
	c->phase = IMAP_PHASE_FETCH;
	if (imap_client_fetch_pair(c, ahead_uid, ahead_size))
		return;
	imap_fetch_handlers(c, true);
	imap_client_fetch_pump(c);
}

/* The answer to a fetch-ahead pair: deliver one body, keep the other. */
static void
imap_client_on_pair(struct imap_client *c, struct imap_cmd *cmd)
{
	struct imap_fetch	*f = &c->fetch;
	const char		*data;
	size_t			 len;

	if (imap_fetch_find_body(c, cmd->ahead_uid, &data, &len) &&
	    (c->stash = malloc(len)) != NULL) {
		memcpy(c->stash, data, len);
		c->stash_len = len;
		c->stash_uid = cmd->ahead_uid;
	}
	if (!f->active)
		return;		/* a TOP stopped early: keep the other only */
	if (!imap_fetch_find_body(c, f->uid, &data, &len)) {
		/* RFC 3501 sec. 6.4.8: no FETCH for the UID: expunged. */
		imap_client_fetch_end(c, IMAP_ERR_GONE,
		    "message expunged by another client");
		return;
	}
	f->begun = true;
	imap_client_body_begin(c);
	if (f->active && c->cb->body_data(c->arg, data, len) != 0)
		imap_client_fetch_end(c, IMAP_ERR_TEMP, "client side failed");
	if (f->active)
		imap_client_fetch_end(c, IMAP_OK, "ok");
}

void
imap_client_resume(struct imap_client *c)
{
	if (c->phase == IMAP_PHASE_FETCH && c->fetch.active &&
	    c->fetch.waiting)
		imap_client_fetch_pump(c);
}

void
imap_client_fetch_stop(struct imap_client *c)
{
	struct imap_fetch	*f = &c->fetch;

	if (!f->active)
		return;
	f->active = false;
	f->eof = true;
	if (f->inflight == 0) {
		imap_fetch_handlers(c, false);
		c->phase = IMAP_PHASE_READY;
		imap_client_arm_timer(c);
	}
}

void
imap_client_on_chunk(struct imap_client *c, struct imap_cmd *cmd,
    struct mailimap_response *resp)
{
	struct imap_fetch	*f = &c->fetch;

	if (cmd->fetch_id != f->id) {
		/* A chunk of an ended transfer; the next may start now. */
		if (c->stale_chunks > 0 && --c->stale_chunks == 0)
			imap_client_fetch_pump(c);
		return;
	}
	f->inflight--;
	if (f->broken) {
		imap_client_fail(c, IMAP_ERR_TEMP, "body not delivered");
		return;
	}
	if (cmd->ahead_uid != 0 && imap_resp_status(resp) ==
	    MAILIMAP_RESP_COND_STATE_OK) {
		imap_client_on_pair(c, cmd);
		f->eof = true;
		goto drained;
	}
	if (!f->active) {
		/* TOP stopped early: drain, then back to READY. */
		if (f->inflight == 0) {
			imap_fetch_handlers(c, false);
			if (c->phase == IMAP_PHASE_FETCH)
				c->phase = IMAP_PHASE_READY;
		}
		return;
	}
	if (imap_resp_status(resp) != MAILIMAP_RESP_COND_STATE_OK) {
		/* RFC 2180 sec. 4.1.2: some servers say NO for an expunged
		 * message. Before any data that is a clean -ERR. */
		imap_client_fetch_end(c, f->begun ? IMAP_ERR_TEMP :
		    imap_no_result(c, IMAP_ERR_TEMP),
		    "upstream refused the fetch");
		f->eof = true;
		goto drained;
	}
	if (f->foreign) {
		/* Data for another UID took the place of ours: the transfer
		 * cannot be vouched for, before or after its first octet. */
		imap_client_fetch_end(c, IMAP_ERR_TEMP,
		    "upstream sent another message's body");
		f->eof = true;
		goto drained;
	}
	if (!f->begun) {
		/* RFC 3501 sec. 6.4.8: a non-existent UID is ignored without
		 * error; an empty or NIL body means the same (RFC 2180). */
		imap_client_fetch_end(c, IMAP_ERR_GONE,
		    "message expunged by another client");
		f->eof = true;
		goto drained;
	}
	if (f->received < cmd->offset + cmd->length) {
		f->eof = true;
		imap_client_fetch_end(c, IMAP_OK, "ok");
		goto drained;
	}
	imap_client_fetch_pump(c);
	return;
drained:
	if (f->inflight == 0) {
		imap_fetch_handlers(c, false);
		if (c->phase == IMAP_PHASE_FETCH)
			c->phase = IMAP_PHASE_READY;
	}
}
