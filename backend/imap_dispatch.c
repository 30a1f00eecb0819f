/* SPDX-License-Identifier: MIT */
/*
 * imap_dispatch.c - complete upstream responses to their commands: the
 * framer says where a response ends, libetpan parses it, and its tag finds
 * the command in flight. Also the helpers on libetpan's results (status,
 * response codes, capabilities) and the seq -> uid map that EXISTS and
 * EXPUNGE keep current.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_client_int.h"
#include "imap_stream.h"

/* ---- helpers on libetpan results ---- */

bool
imap_has_cap(struct imap_client *c, const char *name)
{
	struct mailimap_connection_info	*info = c->imap->imap_connection_info;

	/* "[CAPABILITY]" with no names leaves libetpan 1.9.4 a list that is
	 * NULL, which mailimap_has_extension() walks anyway. */
	if (info == NULL || info->imap_capability == NULL ||
	    info->imap_capability->cap_list == NULL)
		return false;
	return mailimap_has_extension(c->imap, (char *)name) != 0;
}

/* The tagged status: 0 OK, 1 NO (BAD is a parse error already). */
int
imap_resp_status(struct mailimap_response *resp)
{
	return resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type;
}

const struct mailimap_resp_text_code *
imap_resp_code(struct mailimap_response *resp)
{
	return resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->
	    rsp_text->rsp_code;
}

/* The atom of an unknown response code ([AUTHENTICATIONFAILED] ...). */
static const char *
imap_resp_atom(struct imap_client *c)
{
	if (c->imap->imap_response_info == NULL ||
	    c->imap->imap_response_info->rsp_atom == NULL)
		return "";
	return c->imap->imap_response_info->rsp_atom;
}

/* RFC 5530 codes -> result class (doc/imap-mapping.md sec. 3.4, 4). */
enum imap_result
imap_no_result(struct imap_client *c, enum imap_result fallback)
{
	const char	*atom = imap_resp_atom(c);

	if (strcasecmp(atom, "UNAVAILABLE") == 0 ||
	    strcasecmp(atom, "SERVERBUG") == 0 ||
	    strcasecmp(atom, "LIMIT") == 0)
		return IMAP_ERR_TEMP;
	if (strcasecmp(atom, "INUSE") == 0)
		return c->phase == IMAP_PHASE_SELECT ? IMAP_ERR_IN_USE :
		    IMAP_ERR_TEMP;
	if (strcasecmp(atom, "PRIVACYREQUIRED") == 0 ||
	    strcasecmp(atom, "NONEXISTENT") == 0 ||
	    strcasecmp(atom, "NOPERM") == 0 ||
	    strcasecmp(atom, "CORRUPTION") == 0)
		return IMAP_ERR_PERM;
	if (strcasecmp(atom, "AUTHENTICATIONFAILED") == 0 ||
	    strcasecmp(atom, "AUTHORIZATIONFAILED") == 0 ||
	    strcasecmp(atom, "EXPIRED") == 0 ||
	    strcasecmp(atom, "CONTACTADMIN") == 0)
		return IMAP_ERR_AUTH;
	return fallback;
}

bool
imap_seq_grow(struct imap_client *c, uint32_t count)
{
	uint32_t	*p;
	uint32_t	 cap;

	if (count <= c->seq_cap)
		return true;
	if (count > IMAP_MAX_EXISTS)
		return false;
	cap = c->seq_cap ? c->seq_cap : 64;
	while (cap < count)
		cap = cap > UINT32_MAX / 2 ? count : cap * 2;
	p = realloc(c->seq_uid, (size_t)cap * sizeof(*p));
	if (p == NULL)
		return false;
	c->seq_uid = p;
	c->seq_cap = cap;
	return true;
}

/* RFC 3501 sec. 7.4.1: EXPUNGE renumbers; track seq -> uid precisely
 * (doc/imap-mapping.md sec. 13). */
static void
imap_client_track_expunges(struct imap_client *c)
{
	struct mailimap_response_info	*info = c->imap->imap_response_info;
	clistiter			*it;
	uint32_t			 seq, uid;

	if (info == NULL || info->rsp_expunged == NULL)
		return;
	for (it = clist_begin(info->rsp_expunged); it != NULL;
	    it = clist_next(it)) {
		seq = *(uint32_t *)clist_content(it);
		if (seq == 0 || seq > c->nseq)
			continue;
		uid = c->seq_uid[seq - 1];
		memmove(&c->seq_uid[seq - 1], &c->seq_uid[seq],
		    (size_t)(c->nseq - seq) * sizeof(uint32_t));
		c->nseq--;
		if (uid == 0)
			continue;
		if (c->phase == IMAP_PHASE_COMMIT)
			continue;	/* our own UID EXPUNGE */
		if (c->phase >= IMAP_PHASE_READY && !c->close_requested &&
		    c->cb->expunged != NULL)	/* no callback after close */
			c->cb->expunged(c->arg, uid);
	}
}

static void
imap_client_track_exists(struct imap_client *c)
{
	struct mailimap_selection_info	*sel = c->imap->imap_selection_info;

	if (sel == NULL || !sel->sel_has_exists || sel->sel_exists <= c->nseq)
		return;
	/* Past the cap, new mail simply goes untracked: it is not in the
	 * snapshot, and EXPUNGEs beyond the map are ignored. */
	if (!imap_seq_grow(c, sel->sel_exists))
		return;
	/* New mail lands at the end; its uid is unknown and not needed. */
	memset(&c->seq_uid[c->nseq], 0,
	    (size_t)(sel->sel_exists - c->nseq) * sizeof(uint32_t));
	c->nseq = sel->sel_exists;
}

/* ---- dispatch ---- */

static struct imap_cmd *
imap_client_find_cmd(struct imap_client *c, uint32_t tag, struct imap_cmd *out)
{
	unsigned int	i;

	for (i = 0; i < c->ncmds; i++) {
		if (c->cmds[i].tag == tag) {
			*out = c->cmds[i];
			memmove(&c->cmds[i], &c->cmds[i + 1],
			    (c->ncmds - i - 1) * sizeof(c->cmds[0]));
			c->ncmds--;
			return out;
		}
	}
	return NULL;
}

static void
imap_client_on_response(struct imap_client *c, struct imap_cmd *cmd,
    struct mailimap_response *resp)
{
	switch (cmd->kind) {
	case IMAP_CMD_CAPABILITY:
		imap_client_caps_ready(c);
		break;
	case IMAP_CMD_STARTTLS:
		imap_client_on_starttls(c, resp);
		break;
	case IMAP_CMD_LOGIN:
	case IMAP_CMD_AUTHENTICATE:
		imap_client_on_login(c, resp);
		break;
	case IMAP_CMD_CAPABILITY_AFTER_LOGIN:
		/* Its answer may be the last one the snapshot waits for. */
		if (c->phase == IMAP_PHASE_SNAPSHOT && c->probe_need != NULL)
			imap_client_probe_next(c);
		break;
	case IMAP_CMD_SELECT:
		imap_client_on_select(c, resp);
		break;
	case IMAP_CMD_SNAPSHOT:
		imap_client_on_snapshot(c, resp);
		break;
	case IMAP_CMD_PROBE:
		imap_client_collect_fetch(c, true);
		imap_client_probe_next(c);
		break;
	case IMAP_CMD_CHUNK:
		imap_client_on_chunk(c, cmd, resp);	/* a QUIT may wait */
		break;
	case IMAP_CMD_STORE_DELETED:
	case IMAP_CMD_SEARCH_DELETED:
	case IMAP_CMD_EXPUNGE:
	case IMAP_CMD_VERIFY:
	case IMAP_CMD_STORE_SEEN:
		if (c->phase == IMAP_PHASE_COMMIT)
			imap_client_on_commit_reply(c, cmd, resp);
		break;
	case IMAP_CMD_NOOP:
		break;
	case IMAP_CMD_LOGOUT:
		imap_client_teardown(c);
		break;
	}
	/* A commit waits for nothing else in flight; whichever answer came
	 * last (an after-login CAPABILITY, say) moves it on. */
	if (c->phase == IMAP_PHASE_COMMIT)
		imap_client_commit_step(c);
}

static void
imap_client_on_tagged(struct imap_client *c, const char *tag_text,
    size_t tag_len)
{
	struct mailimap_response	*resp = NULL;
	struct imap_cmd			 cmd;
	uint32_t			 tag;
	int				 r;

	if (!imap_stream_tag_number(tag_text, tag_len, &tag) ||
	    imap_client_find_cmd(c, tag, &cmd) == NULL) {
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream answered a tag "
		    "we did not send");
		return;
	}
	c->imap->imap_tag = (int)tag;
	if (mailimap_read_line(c->imap) == NULL) {
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream response unreadable");
		return;
	}
	r = mailimap_parse_response(c->imap, &resp);
	imap_client_track_expunges(c);
	imap_client_track_exists(c);
	if (r == MAILIMAP_ERROR_STREAM && cmd.kind == IMAP_CMD_LOGOUT) {
		imap_client_teardown(c);	/* BYE then OK: normal */
		return;
	}
	if (r != MAILIMAP_NO_ERROR) {
		const char	*why = c->fail_detail;

		c->fail_detail = NULL;	/* it is the reason, not an addition */
		if (why == NULL)
			why = r == MAILIMAP_ERROR_STREAM ? "upstream said BYE" :
			    r == MAILIMAP_ERROR_PROTOCOL ?
			    "upstream answered BAD" : "unparsable upstream "
			    "response";
		/* BAD to LOGIN/AUTHENTICATE is a gateway bug
		 * (doc/imap-mapping.md sec. 3.4); to STARTTLS it is the
		 * upstream's: never cleartext. */
		imap_client_fail(c, c->phase <= IMAP_PHASE_LOGIN &&
		    r == MAILIMAP_ERROR_PROTOCOL &&
		    cmd.kind != IMAP_CMD_STARTTLS ? IMAP_ERR_PERM :
		    IMAP_ERR_TEMP, why);
		return;
	}
	imap_client_on_response(c, &cmd, resp);
	mailimap_response_free(resp);
	imap_client_arm_timer(c);
}

void
imap_client_dispatch(struct imap_client *c)
{
	struct imap_frame_ev	ev;

	c->in_dispatch = true;
	/* While the lock is asked, what came stays framed for later. */
	while (c->phase != IMAP_PHASE_CLOSING && c->phase != IMAP_PHASE_LOCK) {
		imap_frame_next(&c->frame, &ev);
		if (ev.type == IMAP_FRAME_NONE)
			break;
		switch (ev.type) {
		case IMAP_FRAME_GREETING:
			if (c->phase != IMAP_PHASE_GREETING) {
				imap_client_fail(c, IMAP_ERR_TEMP,
				    "unexpected greeting");
				break;
			}
			imap_client_on_greeting(c);
			break;
		case IMAP_FRAME_CONTINUATION:
			imap_client_on_continuation(c);
			break;
		case IMAP_FRAME_TAGGED:
			imap_client_on_tagged(c, ev.text, ev.text_len);
			break;
		case IMAP_FRAME_ERROR:
			imap_client_fail(c, IMAP_ERR_TEMP, ev.text);
			break;
		case IMAP_FRAME_NONE:
			break;
		}
		imap_frame_compact(&c->frame);
	}
	c->in_dispatch = false;
	if (c->phase == IMAP_PHASE_CLOSING)
		imap_client_teardown(c);
	else
		imap_client_flush(c);
}
