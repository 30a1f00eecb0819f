/* SPDX-License-Identifier: MIT */
/*
 * imap_login.c - greeting, strict STARTTLS, LOGIN or AUTHENTICATE PLAIN,
 * the SASL relay (XOAUTH2, OAUTHBEARER), SELECT and the message-list
 * snapshot with its tail probes (doc/imap-mapping.md sec. 2-7).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_client_int.h"
#include "base64.h"
#include "imap_stream.h"
#include "sasl.h"
#include "tail_cache.h"

static void imap_client_send_select(struct imap_client *c);
static void imap_client_snapshot_next(struct imap_client *c);

void
imap_client_wipe_password(struct imap_client *c)
{
	if (c->password != NULL) {
		explicit_bzero(c->password, c->password_len);
		free(c->password);
		c->password = NULL;
		c->password_len = 0;
	}
	if (c->sasl_msg != NULL) {
		explicit_bzero(c->sasl_msg, c->sasl_len);
		free(c->sasl_msg);
		c->sasl_msg = NULL;
		c->sasl_len = 0;
	}
}

/* Drops every capability libetpan holds: after STARTTLS, what came in
 * cleartext is not to be believed (RFC 2595 sec. 3.1, RFC 9051 sec. 6.2.1). */
static void
imap_client_forget_caps(struct imap_client *c)
{
	struct mailimap_connection_info	*info = c->imap->imap_connection_info;

	if (info != NULL && info->imap_capability != NULL) {
		mailimap_capability_data_free(info->imap_capability);
		info->imap_capability = NULL;
	}
}

/* Tells the gateway what this upstream accepts, from a list that is
 * trusted: read over TLS, or over an imap:// link configured as cleartext.
 * The gateway keeps it per upstream (one process serves several). */
static void
imap_mechs_update(struct imap_client *c)
{
	unsigned int	m = 0;

	if (c->cb->caps == NULL ||
	    (c->config.tls_mode != IMAP_TLS_NONE && !c->tls_up))
		return;
	if (mailimap_has_authentication(c->imap, "XOAUTH2"))
		m |= 1u << SASL_MECH_XOAUTH2;
	if (mailimap_has_authentication(c->imap, "OAUTHBEARER"))
		m |= 1u << SASL_MECH_OAUTHBEARER;
	if (!imap_has_cap(c, "LOGINDISABLED") ||
	    mailimap_has_authentication(c->imap, "PLAIN"))
		m |= 1u << SASL_MECH_PLAIN | 1u << SASL_MECH_LOGIN;
	c->cb->caps(c->arg, m);
}

/* Records a command whose text is already in wq (credentials, built by
 * hand rather than through imap_client_command's format). */
static void
imap_client_push_cmd(struct imap_client *c, enum imap_cmd_kind kind)
{
	memset(&c->cmds[c->ncmds], 0, sizeof(c->cmds[0]));
	c->cmds[c->ncmds].tag = c->next_tag;
	c->cmds[c->ncmds].kind = kind;
	c->ncmds++;
	imap_client_arm_timer(c);
}

/* RFC 3501 sec. 4.3: a quoted string is 7-bit, without CR, LF or NUL. */
static bool
imap_quotable(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		unsigned char	ch = (unsigned char)s[i];

		if (ch == 0 || ch == '\r' || ch == '\n' || ch >= 0x80)
			return false;
	}
	return true;
}

static int
imap_append_quoted(struct buf *b, const char *s, size_t len)
{
	size_t	i;
	int	r;

	r = buf_append(b, "\"", 1);
	for (i = 0; r == 0 && i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			r = buf_append(b, "\\", 1);
		if (r == 0)
			r = buf_append(b, &s[i], 1);
	}
	if (r == 0)
		r = buf_append(b, "\"", 1);
	return r;
}

/* SASL PLAIN message (RFC 4616): NUL user NUL password, in base64. */
static int
imap_append_plain(struct buf *b, const char *user, const char *password,
    size_t password_len)
{
	size_t		 ulen = strlen(user), n = ulen + password_len + 2;
	unsigned char	*raw;
	char		*enc;
	int		 r;

	raw = malloc(n);
	enc = malloc(POPGATE_BASE64_ENCODED_LEN(n) + 1);
	if (raw == NULL || enc == NULL) {
		free(raw);
		free(enc);
		return -ENOMEM;
	}
	raw[0] = '\0';
	memcpy(raw + 1, user, ulen);
	raw[ulen + 1] = '\0';
	memcpy(raw + ulen + 2, password, password_len);
	popgate_base64_encode(raw, n, enc);
	r = buf_append_str(b, enc);
	explicit_bzero(raw, n);
	explicit_bzero(enc, POPGATE_BASE64_ENCODED_LEN(n));
	free(raw);
	free(enc);
	return r;
}

void
imap_client_send_login(struct imap_client *c)
{
	bool	quotable, use_login;
	int	r;

	c->t_login = uv_hrtime();
	if (memchr(c->password, '\0', c->password_len) != NULL) {
		/* Neither LOGIN nor PLAIN can carry a NUL. */
		imap_client_fail(c, IMAP_ERR_AUTH, "password contains NUL");
		return;
	}
	quotable = imap_quotable(c->user, strlen(c->user)) &&
	    imap_quotable(c->password, c->password_len);
	use_login = quotable && !imap_has_cap(c, "LOGINDISABLED");
	if (!use_login && !mailimap_has_authentication(c->imap, "PLAIN")) {
		imap_client_fail(c, IMAP_ERR_PERM, imap_has_cap(c,
		    "LOGINDISABLED") ? "upstream has LOGINDISABLED and no "
		    "AUTH=PLAIN" : "credentials need AUTH=PLAIN, which the "
		    "upstream does not offer");
		return;
	}
	c->next_tag++;
	r = buf_appendf(&c->wq, "%u ", c->next_tag);
	if (use_login) {
		if (r == 0)
			r = buf_append_str(&c->wq, "LOGIN ");
		if (r == 0)
			r = imap_append_quoted(&c->wq, c->user, strlen(c->user));
		if (r == 0)
			r = buf_append(&c->wq, " ", 1);
		if (r == 0)
			r = imap_append_quoted(&c->wq, c->password,
			    c->password_len);
	} else {
		if (r == 0)
			r = buf_append_str(&c->wq, "AUTHENTICATE PLAIN");
		if (r == 0 && imap_has_cap(c, "SASL-IR")) {
			r = buf_append(&c->wq, " ", 1);
			if (r == 0)
				r = imap_append_plain(&c->wq, c->user,
				    c->password, c->password_len);
			if (r == 0)
				imap_client_wipe_password(c);
		}
	}
	if (r == 0)
		r = buf_append(&c->wq, "\r\n", 2);
	if (r != 0) {
		imap_client_fail(c, IMAP_ERR_TEMP, "command queue full");
		return;
	}
	if (use_login)
		imap_client_wipe_password(c);
	stream_mark_secret(&c->wr);	/* wipe this write when it completes */
	imap_client_push_cmd(c, use_login ? IMAP_CMD_LOGIN :
	    IMAP_CMD_AUTHENTICATE);
	/* SELECT rides behind LOGIN (one round trip less). Its answer is used
	 * only once LOGIN's OK has been checked and the lock taken; after a
	 * failed LOGIN the server refuses it and the connection is closed. */
	if (c->password == NULL)
		imap_client_send_select(c);
	imap_client_flush(c);
}

/* The client's SASL message in base64, then wiped. An empty message is
 * "=" as an initial response (RFC 4959 sec. 3), an empty line otherwise. */
static int
imap_append_sasl_msg(struct imap_client *c, bool initial)
{
	size_t	 n = POPGATE_BASE64_ENCODED_LEN(c->sasl_len);
	char	*enc;
	int	 r;

	c->sasl_sent = true;
	if (c->sasl_len == 0) {
		imap_client_wipe_password(c);
		return initial ? buf_append(&c->wq, "=", 1) : 0;
	}
	enc = malloc(n + 1);
	if (enc == NULL) {
		imap_client_wipe_password(c);
		return -ENOMEM;
	}
	popgate_base64_encode(c->sasl_msg, c->sasl_len, enc);
	r = buf_append(&c->wq, enc, n);
	explicit_bzero(enc, n);
	free(enc);
	imap_client_wipe_password(c);
	return r;
}

/* AUTHENTICATE <mech> for imap_client_login_sasl(). Not pipelined with
 * SELECT: an error challenge would take the SELECT line for our answer. */
static void
imap_client_send_sasl(struct imap_client *c)
{
	char	detail[64];
	int	r;

	if (!mailimap_has_authentication(c->imap, c->sasl_mech)) {
		snprintf(detail, sizeof(detail), "upstream does not offer "
		    "AUTH=%s", c->sasl_mech);
		imap_client_fail(c, IMAP_ERR_AUTH, detail);
		return;
	}
	c->t_login = uv_hrtime();
	c->next_tag++;
	r = buf_appendf(&c->wq, "%u AUTHENTICATE %s", c->next_tag,
	    c->sasl_mech);
	if (r == 0 && imap_has_cap(c, "SASL-IR")) {
		r = buf_append(&c->wq, " ", 1);
		if (r == 0)
			r = imap_append_sasl_msg(c, true);
	}
	if (r == 0)
		r = buf_append(&c->wq, "\r\n", 2);
	if (r != 0) {
		imap_client_fail(c, IMAP_ERR_TEMP, "command queue full");
		return;
	}
	stream_mark_secret(&c->wr);
	imap_client_push_cmd(c, IMAP_CMD_AUTHENTICATE);
	imap_client_flush(c);
}

/* A "+" during the relayed exchange: without SASL-IR, the server asks for
 * the client's message. After it, "+ <base64 JSON>" is an error challenge
 * (RFC 7628 sec. 3.2.2; Google's XOAUTH2 alike): its text is not relayed,
 * the answer the mechanism wants ends the exchange, and a NO follows. */
static void
imap_client_sasl_continue(struct imap_client *c)
{
	int	r = 0;

	if (!c->sasl_sent) {
		r = imap_append_sasl_msg(c, false);
		stream_mark_secret(&c->wr);
	} else if (!c->sasl_challenged) {
		c->sasl_challenged = true;
		if (strcmp(c->sasl_mech, "OAUTHBEARER") == 0)
			r = buf_append_str(&c->wq, "AQ==");	/* ^A */
		else if (strcmp(c->sasl_mech, "XOAUTH2") != 0)
			r = buf_append(&c->wq, "*", 1);	/* RFC 4422: cancel */
	} else {
		r = buf_append(&c->wq, "*", 1);
	}
	if (r == 0)
		r = buf_append(&c->wq, "\r\n", 2);
	if (r != 0) {
		imap_client_fail(c, IMAP_ERR_TEMP, "command queue full");
		return;
	}
	imap_client_flush(c);
}

void
imap_client_on_continuation(struct imap_client *c)
{
	int	r;

	if (c->sasl && c->ncmds > 0 &&
	    c->cmds[c->ncmds - 1].kind == IMAP_CMD_AUTHENTICATE) {
		imap_client_sasl_continue(c);
		return;
	}
	/* Only AUTHENTICATE PLAIN without SASL-IR asks for more. */
	if (c->ncmds == 0 ||
	    c->cmds[c->ncmds - 1].kind != IMAP_CMD_AUTHENTICATE ||
	    c->password == NULL) {
		/* RFC 4422: "*" cancels; we have nothing else to send. */
		if (buf_append(&c->wq, "*\r\n", 3) != 0) {
			imap_client_fail(c, IMAP_ERR_TEMP, "command queue full");
			return;
		}
		imap_client_flush(c);
		return;
	}
	r = imap_append_plain(&c->wq, c->user, c->password, c->password_len);
	if (r == 0)
		r = buf_append(&c->wq, "\r\n", 2);
	imap_client_wipe_password(c);
	if (r != 0) {
		imap_client_fail(c, IMAP_ERR_TEMP, "command queue full");
		return;
	}
	stream_mark_secret(&c->wr);
	imap_client_flush(c);
}

void
imap_client_on_greeting(struct imap_client *c)
{
	int	r;

	imap_client_timed(c, IMAP_STAGE_CONNECT, c->t_start);
	/* doc/imap-mapping.md sec. 2: BYE = overload or maintenance. Refused
	 * before parsing: libetpan 1.9.4 leaks a BYE greeting's struct. */
	if (imap_stream_greeting_is_bye(&c->frame)) {
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream greeted with BYE");
		return;
	}
	(void)imap_stream_greeting_defuse(&c->frame);
	r = mailimap_connect(c->imap, c->stream);
	c->stream = NULL;	/* now owned by c->imap->imap_stream */
	if (r == MAILIMAP_NO_ERROR_AUTHENTICATED) {
		imap_client_fail(c, IMAP_ERR_PERM, "unexpected PREAUTH greeting");
		return;
	}
	if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream refused the "
		    "connection (BYE or bad greeting)");
		return;
	}
	/* Strict STARTTLS: nothing but CAPABILITY and STARTTLS in cleartext. */
	c->phase = c->config.tls_mode == IMAP_TLS_STARTTLS ?
	    IMAP_PHASE_STARTTLS : IMAP_PHASE_LOGIN;
	if (c->imap->imap_connection_info == NULL ||
	    c->imap->imap_connection_info->imap_capability == NULL)
		imap_client_command(c, IMAP_CMD_CAPABILITY, "CAPABILITY");
	else
		imap_client_caps_ready(c);
}

static void
imap_client_probe_done(struct imap_client *c)
{
	imap_client_send_logout(c);
	if (!c->close_requested)
		c->cb->login_done(c->arg, IMAP_OK, NULL, "ok");
}

void
imap_client_caps_ready(struct imap_client *c)
{
	if (c->config.tls_mode == IMAP_TLS_STARTTLS && c->tls == NULL) {
		/* doc/imap-mapping.md sec. 2: fail rather than go on in
		 * the clear. */
		if (!imap_has_cap(c, "STARTTLS")) {
			imap_client_fail(c, IMAP_ERR_TEMP,
			    "upstream does not offer STARTTLS");
			return;
		}
		imap_client_command(c, IMAP_CMD_STARTTLS, "STARTTLS");
		return;
	}
	if (!imap_has_cap(c, "IMAP4rev1") && !imap_has_cap(c, "IMAP4rev2")) {
		imap_client_fail(c, IMAP_ERR_PERM, "upstream is not IMAP4rev1");
		return;
	}
	imap_mechs_update(c);
	if (c->probe_only)
		imap_client_probe_done(c);
	else if (c->sasl)
		imap_client_send_sasl(c);
	else
		imap_client_send_login(c);
}

void
imap_client_on_starttls(struct imap_client *c, struct mailimap_response *resp)
{
	mailstream	*s = c->imap->imap_stream;

	if (imap_resp_status(resp) != MAILIMAP_RESP_COND_STATE_OK) {
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream refused STARTTLS");
		return;
	}
	/* CVE-2011-0411 class (doc/imap-mapping.md sec. 2): a byte after
	 * the OK was sent in cleartext yet would be read as if it came over
	 * TLS. The framer holds everything read so far, libetpan's buffer
	 * what it took of the OK's group. */
	if (imap_frame_pending(&c->frame) != 0 ||
	    imap_frame_ready_unread(&c->frame) != 0 ||
	    (s != NULL && s->read_buffer_len != 0)) {
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream sent data after "
		    "STARTTLS OK");
		return;
	}
	imap_frame_reset(&c->frame);
	imap_client_forget_caps(c);
	/* The command timeout covers the handshake as well. */
	uv_timer_start(&c->timer, imap_timer_cb, c->config.command_timeout_ms,
	    0);
	(void)imap_tls_begin(c);
}

void
imap_client_on_tls_up(struct imap_client *c)
{
	imap_client_forget_caps(c);
	c->phase = IMAP_PHASE_LOGIN;
	imap_client_command(c, IMAP_CMD_CAPABILITY, "CAPABILITY");
}

static void
imap_client_send_select(struct imap_client *c)
{
	if (c->select_sent)
		return;
	c->select_sent = true;
	/* selection_info must exist before the SELECT response is parsed. */
	if (c->imap->imap_selection_info != NULL)
		mailimap_selection_info_free(c->imap->imap_selection_info);
	c->imap->imap_selection_info = mailimap_selection_info_new();
	if (c->imap->imap_selection_info == NULL) {
		imap_client_fail(c, IMAP_ERR_TEMP, "out of memory");
		return;
	}
	imap_client_command(c, IMAP_CMD_SELECT, "SELECT \"%s\"",
	    c->config.mailbox);
	/* The first bounded range of the snapshot rides along: UIDs that do
	 * not exist are ignored without error (RFC 3501 sec. 6.4.8), and
	 * results at or above the UIDNEXT seen at SELECT are dropped. */
	c->span = IMAP_SNAPSHOT_SPAN_MIN;
	imap_client_command(c, IMAP_CMD_SNAPSHOT,
	    "UID FETCH 1:%u (UID RFC822.SIZE FLAGS)", c->span);
}

static void	imap_client_locked(struct imap_client *);

void
imap_client_on_login(struct imap_client *c, struct mailimap_response *resp)
{
	const struct mailimap_resp_text_code	*code;
	const char				*host = c->config.host;

	imap_client_timed(c, IMAP_STAGE_LOGIN, c->t_login);
	imap_client_wipe_password(c);
	if (imap_resp_status(resp) != MAILIMAP_RESP_COND_STATE_OK) {
		/* After an error challenge the token was looked at and
		 * refused: the credentials, whatever code comes along. */
		imap_client_fail(c, c->sasl_challenged ? IMAP_ERR_AUTH :
		    imap_no_result(c, IMAP_ERR_AUTH), c->sasl_challenged ?
		    "upstream rejected the login (SASL error challenge)" :
		    "upstream rejected the login");
		return;
	}
	/* RFC 1939 sec. 4 / doc/imap-mapping.md sec. 14: lock after the login
	 * succeeded (IN-USE must never confirm a password) and before the
	 * snapshot. */
	snprintf(c->identity, sizeof(c->identity), "%s@%s:%s/%s", c->user,
	    host, c->config.port, c->config.mailbox);
	code = imap_resp_code(resp);
	c->login_caps = code != NULL && code->rc_type ==
	    MAILIMAP_RESP_TEXT_CODE_CAPABILITY_DATA;
	if (c->cb->lock == NULL) {
		imap_client_locked(c);
		return;
	}
	/* The answer may come before lock() returns, or later: until then
	 * the dispatch stops, so the pipelined SELECT's answer waits. */
	c->phase = IMAP_PHASE_LOCK;
	c->cb->lock(c->arg, c->identity);
}

/* Logged in and holding the lock: on to SELECT. */
static void
imap_client_locked(struct imap_client *c)
{
	c->phase = IMAP_PHASE_SELECT;
	/* RFC 9051 sec. 7.2.2: capabilities may change after login; they
	 * are read again before anything depends on them (UIDPLUS at QUIT). */
	if (!c->login_caps)
		imap_client_command(c, IMAP_CMD_CAPABILITY_AFTER_LOGIN,
		    "CAPABILITY");
	imap_client_send_select(c);
}

void
imap_client_lock_done(struct imap_client *c, enum imap_result result)
{
	if (c->phase != IMAP_PHASE_LOCK)
		return;		/* closing, or failed meanwhile */
	if (result == IMAP_OK)
		imap_client_locked(c);
	else
		imap_client_fail(c, result, result == IMAP_ERR_IN_USE ?
		    "mailbox locked by another session" :
		    "mailbox lock unavailable");
	/* An answer from outside a dispatch takes up what waited for it. */
	if (!c->in_dispatch && c->phase != IMAP_PHASE_CLOSING)
		imap_client_dispatch(c);
}

/* Deletions a cut commit left: finished first, when the UIDVALIDITY they
 * were recorded under still holds. The snapshot range sent along with
 * SELECT is then dropped and taken again afterwards. */
static bool
imap_client_check_pending(struct imap_client *c)
{
	uint32_t	*uids = NULL, n = 0, uidvalidity = 0;

	if (c->cb->pending == NULL ||
	    !c->cb->pending(c->arg, &uidvalidity, &uids, &n))
		return false;
	if (uidvalidity != c->md.uidvalidity || n == 0) {
		free(uids);
		if (c->cb->resumed != NULL)
			c->cb->resumed(c->arg, IMAP_ERR_PERM, n,
			    "UIDVALIDITY changed");
		return false;
	}
	imap_client_resume_commit(c, uids, n);
	return true;
}

void
imap_client_on_select(struct imap_client *c, struct mailimap_response *resp)
{
	struct mailimap_selection_info	*sel = c->imap->imap_selection_info;

	if (imap_resp_status(resp) != MAILIMAP_RESP_COND_STATE_OK) {
		imap_client_fail(c, imap_no_result(c, IMAP_ERR_PERM),
		    "upstream refused to open the mailbox");
		return;
	}
	if (sel == NULL || sel->sel_uidvalidity == 0) {
		imap_client_fail(c, IMAP_ERR_PERM, "mailbox has no UIDVALIDITY");
		return;
	}
	c->read_only = sel->sel_perm == MAILIMAP_MAILBOX_READONLY;
	c->md.uidvalidity = sel->sel_uidvalidity;
	c->uidnext = sel->sel_uidnext;
	c->nseq = 0;
	if (!imap_seq_grow(c, sel->sel_exists > 0 ? sel->sel_exists : 1)) {
		imap_client_fail(c, IMAP_ERR_TEMP, sel->sel_exists >
		    IMAP_MAX_EXISTS ? "mailbox has too many messages" :
		    "out of memory");
		return;
	}
	memset(c->seq_uid, 0, (size_t)sel->sel_exists * sizeof(uint32_t));
	c->nseq = sel->sel_exists;
	if (imap_client_check_pending(c))
		return;
	c->phase = IMAP_PHASE_SNAPSHOT;
	c->probe_next = 0;
	/* The range 1:span is already on its way (sent with SELECT); its
	 * answer continues the snapshot from span + 1 if needed. */
	c->span_low = IMAP_SNAPSHOT_SPAN_MIN + 1;
	if (sel->sel_exists == 0 || (c->uidnext != 0 &&
	    c->uidnext - 1 <= IMAP_SNAPSHOT_SPAN_MIN))
		c->span_low = 0;
}

/* ---- snapshot ---- */

/* The FLAGS of one FETCH answer that matter to POP3: \Seen and
 * \Deleted. */
static uint32_t
imap_fetch_flags(const struct mailimap_msg_att_dynamic *dyn)
{
	clistiter	*kt;
	uint32_t	 flags = 0;

	for (kt = dyn->att_list != NULL ? clist_begin(dyn->att_list) : NULL;
	    kt != NULL; kt = clist_next(kt)) {
		struct mailimap_flag_fetch	*ff = clist_content(kt);

		if (ff->fl_type != MAILIMAP_FLAG_FETCH_OTHER ||
		    ff->fl_flag == NULL)
			continue;
		if (ff->fl_flag->fl_type == MAILIMAP_FLAG_SEEN)
			flags |= POP3_MSG_SEEN;
		if (ff->fl_flag->fl_type == MAILIMAP_FLAG_DELETED)
			flags |= POP3_MSG_FLAGGED_DELETED;
	}
	return flags;
}

void
imap_client_collect_fetch(struct imap_client *c, bool probe)
{
	struct mailimap_response_info	*info = c->imap->imap_response_info;
	clistiter			*it, *jt;

	if (info == NULL || info->rsp_fetch_list == NULL)
		return;
	for (it = clist_begin(info->rsp_fetch_list); it != NULL;
	    it = clist_next(it)) {
		struct mailimap_msg_att	*att = clist_content(it);
		uint32_t		 uid = 0, size = 0, flags = 0;
		bool			 has_size = false;
		const char		*tail = NULL;
		size_t			 tail_len = 0;

		for (jt = clist_begin(att->att_list); jt != NULL;
		    jt = clist_next(jt)) {
			struct mailimap_msg_att_item	*item = clist_content(jt);

			if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC) {
				flags |= imap_fetch_flags(item->att_data.att_dyn);
				continue;
			}
			if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
				continue;
			switch (item->att_data.att_static->att_type) {
			case MAILIMAP_MSG_ATT_UID:
				uid = item->att_data.att_static->att_data.att_uid;
				break;
			case MAILIMAP_MSG_ATT_RFC822_SIZE:
				size = item->att_data.att_static->att_data.
				    att_rfc822_size;
				has_size = true;
				break;
			case MAILIMAP_MSG_ATT_BODY_SECTION: {
				struct mailimap_msg_att_body_section *bs =
				    item->att_data.att_static->att_data.
				    att_body_section;

				if (bs != NULL && bs->sec_body_part != NULL) {
					tail = bs->sec_body_part;
					tail_len = bs->sec_length;
				}
				break;
			}
			default:
				break;
			}
		}
		if (uid == 0)
			continue;
		if (att->att_number >= 1 && att->att_number <= c->nseq)
			c->seq_uid[att->att_number - 1] = uid;
		if (probe) {
			struct pop3_msg	*m = pop3_maildrop_by_uid(&c->md, uid);

			/* RFC 1939 sec. 11 + conformance 3.4: the CRLF we
			 * add to a message without a final line end counts. */
			if (m != NULL && tail_len == 1) {
				if (tail[0] != '\n')
					m->size += 2;
				tail_cache_store(c->mailbox_id, c->md.uidvalidity,
				    uid, tail[0] == '\n' ? TAIL_CACHE_ENDS_LF :
				    TAIL_CACHE_NEEDS_CRLF);
			}
			continue;
		}
		/* doc/imap-mapping.md sec. 5: frozen at SELECT's UIDNEXT. */
		if (!has_size || (c->uidnext != 0 && uid >= c->uidnext))
			continue;
		if (pop3_maildrop_put(&c->md, uid, size, flags) != 0)
			c->snapshot_error = "snapshot too large";
	}
}

static void
imap_client_login_complete(struct imap_client *c)
{
	c->phase = IMAP_PHASE_READY;
	imap_client_arm_timer(c);
	uv_timer_start(&c->timer, imap_timer_cb, IMAP_KEEPALIVE_MS,
	    IMAP_KEEPALIVE_MS);
	c->cb->login_done(c->arg, IMAP_OK, &c->md, "ok");
}

void
imap_client_probe_next(struct imap_client *c)
{
	while (c->probe_next < c->md.count && c->ncmds < IMAP_MAX_INFLIGHT / 2) {
		uint32_t	 i = c->probe_next++;
		struct pop3_msg	*m = &c->md.msgs[i];

		if (m->size == 0 || !c->probe_need[i])
			continue;
		if (imap_client_command(c, IMAP_CMD_PROBE,
		    "UID FETCH %u (BODY.PEEK[]<%llu.1>)", m->uid,
		    (unsigned long long)(m->size - 1)) == NULL)
			return;
	}
	if (c->ncmds == 0 && c->probe_next >= c->md.count)
		imap_client_login_complete(c);
}

static void
imap_client_snapshot_next(struct imap_client *c)
{
	uint32_t	high;

	if (c->snapshot_error != NULL) {
		imap_client_fail(c, IMAP_ERR_TEMP, c->snapshot_error);
		return;
	}
	if (c->span_low == 0) {
		pop3_maildrop_finish(&c->md);
		c->probe_need = calloc(c->md.count ? c->md.count : 1,
		    sizeof(bool));
		if (c->probe_need == NULL) {
			imap_client_fail(c, IMAP_ERR_TEMP, "out of memory");
			return;
		}
		c->mailbox_id = tail_cache_mailbox_id(c->identity);
		tail_cache_apply(c->mailbox_id, &c->md, c->probe_need);
		imap_client_probe_next(c);
		return;
	}
	if (c->uidnext == 0) {
		/* No UIDNEXT: one range, bounded by the framer's group cap. */
		imap_client_command(c, IMAP_CMD_SNAPSHOT,
		    "UID FETCH %u:* (UID RFC822.SIZE FLAGS)", c->span_low);
		c->span_low = 0;
		return;
	}
	high = c->uidnext - 1;
	if (high - c->span_low >= c->span)
		high = c->span_low + c->span - 1;
	imap_client_command(c, IMAP_CMD_SNAPSHOT,
	    "UID FETCH %u:%u (UID RFC822.SIZE FLAGS)", c->span_low, high);
	c->span_low = high >= c->uidnext - 1 ? 0 : high + 1;
}

void
imap_client_snapshot_restart(struct imap_client *c)
{
	uint32_t	uidvalidity = c->md.uidvalidity;

	pop3_maildrop_deinit(&c->md);
	pop3_maildrop_init(&c->md, uidvalidity);
	c->phase = IMAP_PHASE_SNAPSHOT;
	c->probe_next = 0;
	c->span = IMAP_SNAPSHOT_SPAN_MIN;
	c->span_low = 1;
	imap_client_snapshot_next(c);
}

void
imap_client_on_snapshot(struct imap_client *c, struct mailimap_response *resp)
{
	uint32_t	before = c->md.count;

	if (c->phase == IMAP_PHASE_COMMIT && c->commit.resume) {
		/* Listed before our deletions were finished: taken again
		 * (imap_client_on_response() moves the commit on). */
		return;
	}

	if (imap_resp_status(resp) != MAILIMAP_RESP_COND_STATE_OK) {
		imap_client_fail(c, imap_no_result(c, IMAP_ERR_TEMP),
		    "upstream refused the message list");
		return;
	}
	imap_client_collect_fetch(c, false);
	/* Sparse UIDs: widen the range so big gaps cost few round trips,
	 * while a dense range stays below the framer's group limit. */
	if (c->md.count - before < c->span / 4 &&
	    c->span < IMAP_SNAPSHOT_SPAN_MAX)
		c->span *= 2;
	imap_client_snapshot_next(c);
}
