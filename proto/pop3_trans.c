/* SPDX-License-Identifier: MIT */
/*
 * pop3_trans.c - the TRANSACTION state, answered from the maildrop
 * snapshot (STAT, LIST, UIDL, DELE, RSET, NOOP), the RETRIEVE step of RETR
 * and TOP, and the reply to the UPDATE state's commit. Pure.
 */
#include "pop3_session_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void
pop3_cmd_stat(struct pop3_call *c)
{
	uint64_t	octets;
	uint32_t	count;

	pop3_maildrop_stat(&c->s->maildrop, &count, &octets);
	pop3_say(c, "+OK %" PRIu32 " %" PRIu64, count, octets);
}

void
pop3_cmd_list(struct pop3_call *c)
{
	struct pop3_maildrop	*md = &c->s->maildrop;
	struct pop3_msg		*m;
	uint64_t		 octets;
	uint32_t		 count, msn;

	if (c->argc == 1) {
		if ((m = pop3_arg_msg(c, 0, &msn)) != NULL)
			pop3_say(c, "+OK %" PRIu32 " %" PRIu64, msn, m->size);
		return;
	}
	/* RFC 1939 sec. 5: messages marked as deleted are not listed. */
	pop3_maildrop_stat(md, &count, &octets);
	pop3_say(c, "+OK %" PRIu32 " messages", count);
	for (msn = 1; msn <= md->count && c->error == 0; msn++) {
		m = pop3_maildrop_by_msn(md, msn);
		if (!(m->flags & POP3_MSG_MARKED))
			pop3_say(c, "%" PRIu32 " %" PRIu64, msn, m->size);
	}
	pop3_say(c, ".");
}

/* The unique-id of m, NUL-terminated, into id (POP3_UIDL_MAX_OCTETS + 1). */
static void
pop3_uidl_of(const struct pop3_session *s, const struct pop3_msg *m,
    char *id)
{
	uint32_t	uidvalidity = s->maildrop.uidvalidity;

	if (s->opt.uidl != NULL) {
		(void)pop3_uidl_format(s->opt.uidl, m->uid, uidvalidity, id);
		return;
	}
	/* POP3_UIDL_DEFAULT_TEMPLATE without a compiled template. */
	(void)snprintf(id, POP3_UIDL_MAX_OCTETS + 1, "%08" PRIx32 "%08" PRIx32,
	    m->uid, uidvalidity);
}

void
pop3_cmd_uidl(struct pop3_call *c)
{
	struct pop3_maildrop	*md = &c->s->maildrop;
	struct pop3_msg		*m;
	char			 id[POP3_UIDL_MAX_OCTETS + 1];
	uint32_t		 msn;

	if (c->argc == 1) {
		if ((m = pop3_arg_msg(c, 0, &msn)) != NULL) {
			pop3_uidl_of(c->s, m, id);
			pop3_say(c, "+OK %" PRIu32 " %s", msn, id);
		}
		return;
	}
	/* RFC 1939 sec. 7: same shape as LIST, deleted messages left out. */
	pop3_say(c, "+OK Unique-ID listing follows");
	for (msn = 1; msn <= md->count && c->error == 0; msn++) {
		m = pop3_maildrop_by_msn(md, msn);
		if (m->flags & POP3_MSG_MARKED)
			continue;
		pop3_uidl_of(c->s, m, id);
		pop3_say(c, "%" PRIu32 " %s", msn, id);
	}
	pop3_say(c, ".");
}

/* doc/imap-mapping.md sec. 13: no response code, retrying cannot help. */
static void
pop3_gone_text(char text[POP3_GONE_TEXT_OCTETS], uint32_t msn)
{
	(void)snprintf(text, POP3_GONE_TEXT_OCTETS,
	    "Message %" PRIu32 " was expunged by another client", msn);
}

/* RETR and TOP: check locally, then hand the fetch to the caller. */
static void
pop3_retrieve(struct pop3_call *c, bool is_top, uint32_t top_lines)
{
	struct pop3_msg	*m;
	char		 text[POP3_GONE_TEXT_OCTETS];
	uint32_t	 msn;

	if ((m = pop3_arg_msg(c, 0, &msn)) == NULL)
		return;
	/*
	 * Conformance 9.18: never +OK with a missing body. Known gone: answer
	 * here; counting it as a bad command cuts off a client that loops on
	 * it, as Dovecot's client_reply_msg_expunged() does.
	 */
	if (m->flags & POP3_MSG_GONE) {
		pop3_gone_text(text, msn);
		pop3_err(c, POP3_RESP_NONE, text);
		return;
	}
	c->step.next = POP3_NEXT_RETRIEVE;
	c->step.msn = msn;
	c->step.uid = m->uid;
	c->step.is_top = is_top;
	c->step.top_lines = top_lines;
}

void
pop3_cmd_retr(struct pop3_call *c)
{
	pop3_retrieve(c, false, 0);
}

void
pop3_cmd_top(struct pop3_call *c)
{
	uint32_t	lines;

	/* RFC 1939 sec. 7: "a non-negative number of lines". */
	if (!pop3_parse_u32(c->argv[1], c->arglen[1], &lines)) {
		pop3_err(c, POP3_RESP_NONE, "Invalid line count");
		return;
	}
	pop3_retrieve(c, true, lines);
}

void
pop3_cmd_dele(struct pop3_call *c)
{
	struct pop3_msg	*m;
	uint32_t	 msn;

	if ((m = pop3_arg_msg(c, 0, &msn)) == NULL)
		return;
	/*
	 * RFC 1939 sec. 5: only a mark; nothing goes upstream before QUIT.
	 * A GONE message is marked too: UID EXPUNGE ignores its uid
	 * (doc/imap-mapping.md sec. 13).
	 */
	m->flags |= POP3_MSG_MARKED;
	c->s->count.dele++;
	pop3_say(c, "+OK Marked to be deleted.");
}

void
pop3_cmd_rset(struct pop3_call *c)
{
	struct pop3_maildrop	*md = &c->s->maildrop;
	uint32_t		 msn;

	/*
	 * RFC 1939 sec. 5: unmark everything. RETRIEVED goes too, so \Seen is
	 * not set for messages read before RSET (doc/imap-mapping.md sec. 10).
	 */
	for (msn = 1; msn <= md->count; msn++)
		pop3_maildrop_by_msn(md, msn)->flags &=
		    ~(uint32_t)(POP3_MSG_MARKED | POP3_MSG_RETRIEVED);
	pop3_say(c, "+OK");
}

void
pop3_cmd_noop(struct pop3_call *c)
{
	pop3_say(c, "+OK");
}

int
pop3_retrieve_begin(struct pop3_session *s, struct buf *out)
{
	size_t	mark = out->len;
	int	error;

	assert(s->step_pending && s->pending.next == POP3_NEXT_RETRIEVE);
	assert(!s->retrieve_started);
	/* Conformance 9.7: no octet count that might be wrong. */
	if ((error = pop3_append_line(out, "+OK Message follows")) != 0) {
		(void)pop3_overflow(s, out, mark);
		return error;
	}
	s->retrieve_started = true;
	if (s->pending.is_top)
		s->count.top++;
	else
		s->count.retr++;
	return 0;
}

void
pop3_retrieve_end(struct pop3_session *s)
{
	struct pop3_msg	*m;

	assert(s->step_pending && s->pending.next == POP3_NEXT_RETRIEVE);
	assert(s->retrieve_started);
	/* Only RETR sets \Seen, never TOP (conformance 9.15). */
	m = pop3_maildrop_by_msn(&s->maildrop, s->pending.msn);
	if (!s->pending.is_top && m != NULL)
		m->flags |= POP3_MSG_RETRIEVED;
	s->step_pending = false;
	s->retrieve_started = false;
}

struct pop3_step
pop3_retrieve_failed(struct pop3_session *s, bool gone,
    enum pop3_resp_code code, const char *text, struct buf *out)
{
	struct pop3_msg	*m;
	char		 gone_text[POP3_GONE_TEXT_OCTETS];
	size_t		 mark = out->len;

	assert(s->step_pending && s->pending.next == POP3_NEXT_RETRIEVE);
	assert(!s->retrieve_started);
	s->step_pending = false;
	m = pop3_maildrop_by_msn(&s->maildrop, s->pending.msn);
	if (gone && m != NULL)
		m->flags |= POP3_MSG_GONE;
	if (gone && text == NULL) {
		pop3_gone_text(gone_text, s->pending.msn);
		text = gone_text;
	}
	if (pop3_append_err(out, code, text != NULL ? text :
	    "Message could not be retrieved") != 0)
		return pop3_overflow(s, out, mark);
	return pop3_step_read();
}

struct pop3_step
pop3_commit_done(struct pop3_session *s, bool ok, struct buf *out)
{
	size_t		mark = out->len;
	uint32_t	msn;
	bool		any_marked = false;
	int		error;

	assert(s->step_pending && s->pending.next == POP3_NEXT_COMMIT);
	s->step_pending = false;
	s->state = POP3_STATE_CLOSED;
	for (msn = 1; msn <= s->maildrop.count && !any_marked; msn++)
		any_marked = (pop3_maildrop_by_msn(&s->maildrop, msn)->flags &
		    POP3_MSG_MARKED) != 0;
	/* RFC 1939 sec. 6: -ERR when some marked messages survived. */
	if (!ok)
		error = pop3_append_err(out, POP3_RESP_SYS_TEMP,
		    "Some deleted messages were not removed");
	else if (any_marked)
		error = pop3_append_line(out,
		    "+OK Logging out, messages deleted.");
	else
		error = pop3_append_line(out, "+OK Logging out.");
	if (error != 0)
		return pop3_overflow(s, out, mark);
	return pop3_step_close("quit");
}
