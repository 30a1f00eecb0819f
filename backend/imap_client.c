/* SPDX-License-Identifier: MIT */
/*
 * imap_client.c - the upstream IMAP connection of one POP3 session, on the
 * session's loop: its life (creation, timers, failure, teardown) and the
 * command writer; imap_connect.c sets the connection up and reads it,
 * imap_dispatch.c hands each complete response to its command. libuv owns
 * the socket; proto/imap_frame decides where each response ends; libetpan
 * parses complete responses only, through backend/imap_stream.c, and keeps
 * capability and selection state. Commands are written here, never
 * through libetpan's blocking calls. With TLS, imap_tls.c sits between the
 * socket and the framer.
 */
#include "imap_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_client_int.h"
#include "imap_stream.h"

static void imap_client_free(struct imap_client *c);

const char *
imap_result_name(enum imap_result result)
{
	static const char *names[] = {
		[IMAP_OK] = "ok",
		[IMAP_ERR_AUTH] = "auth",
		[IMAP_ERR_TEMP] = "temp",
		[IMAP_ERR_PERM] = "perm",
		[IMAP_ERR_IN_USE] = "in-use",
		[IMAP_ERR_GONE] = "gone",
	};
	_Static_assert(sizeof(names) / sizeof(names[0]) == IMAP_RESULT_COUNT,
	    "every result needs a name");

	return (unsigned int)result < IMAP_RESULT_COUNT ? names[result] : "?";
}

/* ---- writing commands ---- */

/* Commands go through net/stream.c: uv_try_write() first, so a command
 * usually leaves at once, without a write request, callback or epoll
 * change; under TLS the queue is sealed into records (which wipes a
 * credential at once). */
void
imap_client_flush(struct imap_client *c)
{
	ssize_t	n;

	if (!c->tcp_open)
		return;
	n = stream_flush(&c->wr);
	if (n >= 0)
		return;
	if (stream_failed_in_tls(&c->wr))
		imap_tls_fail(c, (int)n);
	else
		imap_client_fail_as(c, IMAP_FAIL_CLOSED, IMAP_ERR_TEMP,
		    "write to upstream failed");
}

static void
imap_written(void *arg, size_t n, int status)
{
	struct imap_client	*c = arg;

	(void)n;
	if (c->phase == IMAP_PHASE_CLOSING) {
		imap_client_teardown(c);
		return;
	}
	if (status < 0) {
		imap_client_fail_as(c, IMAP_FAIL_CLOSED, IMAP_ERR_TEMP,
		    "write to upstream failed");
		return;
	}
	imap_client_flush(c);
}

static const struct stream_callbacks imap_stream_cb = {
	.written = imap_written,
};

void
imap_client_arm_timer(struct imap_client *c)
{
	if (c->phase == IMAP_PHASE_CLOSING)
		return;
	if (c->ncmds > 0)
		uv_timer_start(&c->timer, imap_timer_cb,
		    c->config.command_timeout_ms, 0);
	else if (c->phase == IMAP_PHASE_READY)
		uv_timer_start(&c->timer, imap_timer_cb, IMAP_KEEPALIVE_MS, 0);
	else if (imap_tls_handshaking(c))
		;	/* the deadline set when the handshake began runs on */
	else if (c->phase > IMAP_PHASE_CONNECTING)
		uv_timer_stop(&c->timer);
}

/* Starts a command: queues its tag and text, records it as in flight. */
struct imap_cmd *
imap_client_command(struct imap_client *c, enum imap_cmd_kind kind,
    const char *fmt, ...)
{
	struct imap_cmd	*cmd;
	va_list		 ap;
	int		 r;

	if (c->ncmds == IMAP_MAX_INFLIGHT) {
		imap_client_fail(c, IMAP_ERR_TEMP, "too many commands in flight");
		return NULL;
	}
	c->next_tag++;
	r = buf_appendf(&c->wq, "%u ", c->next_tag);
	if (r == 0) {
		va_start(ap, fmt);
		r = buf_vappendf(&c->wq, fmt, ap);
		va_end(ap);
	}
	if (r == 0)
		r = buf_append(&c->wq, "\r\n", 2);
	if (r != 0) {
		imap_client_fail(c, IMAP_ERR_TEMP, "command queue full");
		return NULL;
	}
	cmd = &c->cmds[c->ncmds++];
	memset(cmd, 0, sizeof(*cmd));
	cmd->tag = c->next_tag;
	cmd->kind = kind;
	if (c->ncmds == 1)
		imap_client_arm_timer(c);
	/* Commands issued while responses are parsed go out together when
	 * the dispatch ends: one write instead of one per command. */
	if (!c->in_dispatch)
		imap_client_flush(c);
	return cmd;
}

/* ---- timers ---- */

void
imap_timer_cb(uv_timer_t *t)
{
	struct imap_client	*c = t->data;

	switch (c->phase) {
	case IMAP_PHASE_READY:
		if (c->ncmds == 0) {
			imap_client_command(c, IMAP_CMD_NOOP, "NOOP");
			return;
		}
		break;
	case IMAP_PHASE_LOGOUT:
		imap_client_teardown(c);
		return;
	case IMAP_PHASE_CLOSING:
		return;
	default:
		break;
	}
	imap_client_fail_as(c, IMAP_FAIL_TIMEOUT, IMAP_ERR_TEMP,
	    c->phase <= IMAP_PHASE_CONNECTING ?
	    "upstream connect timeout" : imap_tls_handshaking(c) ?
	    "upstream TLS handshake timeout" : "upstream command timeout");
}

struct imap_client *
imap_client_new(uv_loop_t *loop, const struct imap_client_config *config,
    const struct imap_client_callbacks *cb, void *arg)
{
	struct imap_client	*c;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->loop = loop;
	c->config = *config;
	c->cb = cb;
	c->arg = arg;
	c->phase = IMAP_PHASE_IDLE;
	buf_init(&c->wq, IMAP_MAX_QUEUED_OCTETS);
	buf_set_sensitive(&c->wq);		/* LOGIN and PLAIN pass through */
	/* The record queue is for TLS only: no storage until the first use. */
	stream_init(&c->wr, (uv_stream_t *)&c->tcp, &c->wq,
	    IMAP_TLS_QUEUED_OCTETS, IMAP_TLS_HEADROOM_OCTETS, &imap_stream_cb,
	    c);
	buf_init(&c->tls_plain, IMAP_TLS_PLAIN_OCTETS);
	buf_init(&c->fetch_pend, IMAP_FRAME_MAX_GROUP_OCTETS);
	imap_frame_init(&c->frame, IMAP_FRAME_MAX_LINE_OCTETS,
	    IMAP_FRAME_MAX_GROUP_OCTETS);
	pop3_maildrop_init(&c->md, 0);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->open_handles = 1;
	return c;
}

/* ---- failure and teardown ---- */

void
imap_client_timed(struct imap_client *c, enum imap_stage stage, uint64_t t0)
{
	if (c->cb->timing != NULL && t0 != 0)
		c->cb->timing(c->arg, stage, (uv_hrtime() - t0) / 1000);
}

/* The class of a failure: what the failing site said, or else what the
 * connection's state shows. */
static enum imap_fail_class
imap_fail_class(const struct imap_client *c, enum imap_phase phase)
{
	if (c->fail_class_set)
		return c->fail_class;
	if (c->tls != NULL && !c->tls_up)
		return IMAP_FAIL_TLS;
	if (phase <= IMAP_PHASE_CONNECTING)
		return IMAP_FAIL_CONNECT;
	if (c->read_eof)
		return IMAP_FAIL_CLOSED;
	return IMAP_FAIL_PROTOCOL;
}

void
imap_client_fail_as(struct imap_client *c, enum imap_fail_class why,
    enum imap_result result, const char *detail)
{
	if (c->phase == IMAP_PHASE_CLOSING)
		return;
	c->fail_class = why;
	c->fail_class_set = true;
	imap_client_fail(c, result, detail);
}

void
imap_client_fail(struct imap_client *c, enum imap_result result,
    const char *detail)
{
	enum imap_phase	phase = c->phase;

	if (phase == IMAP_PHASE_CLOSING)
		return;
	if ((result == IMAP_ERR_TEMP || result == IMAP_ERR_PERM) &&
	    !c->close_requested && c->cb->failed != NULL)
		c->cb->failed(c->arg, imap_fail_class(c, phase));
	imap_client_wipe_password(c);
	c->phase = IMAP_PHASE_CLOSING;
	if (c->fail_detail != NULL) {
		snprintf(c->detail_buf, sizeof(c->detail_buf), "%s: %s", detail,
		    c->fail_detail);
		detail = c->detail_buf;
	}
	switch (phase) {
	case IMAP_PHASE_IDLE:
	case IMAP_PHASE_RESOLVING:
	case IMAP_PHASE_CONNECTING:
	case IMAP_PHASE_GREETING:
	case IMAP_PHASE_STARTTLS:
	case IMAP_PHASE_LOGIN:
	case IMAP_PHASE_LOCK:
	case IMAP_PHASE_SELECT:
	case IMAP_PHASE_SNAPSHOT:
		if (!c->close_requested)
			c->cb->login_done(c->arg, result, NULL, detail);
		break;
	case IMAP_PHASE_FETCH:
		if (c->fetch.active && !c->close_requested) {
			c->fetch.active = false;
			c->cb->body_end(c->arg, result == IMAP_OK ?
			    IMAP_ERR_TEMP : result, detail);
		}
		break;
	case IMAP_PHASE_COMMIT:
		if (c->close_requested && !c->commit.after_close)
			break;
		if (c->commit.resume)	/* still logging in */
			c->cb->login_done(c->arg, result == IMAP_OK ?
			    IMAP_ERR_TEMP : result, NULL, detail);
		else
			c->cb->commit_done(c->arg, IMAP_ERR_TEMP, detail);
		break;
	case IMAP_PHASE_READY:
		if (!c->close_requested && c->cb->lost != NULL)
			c->cb->lost(c->arg, detail);
		break;
	case IMAP_PHASE_LOGOUT:
	case IMAP_PHASE_CLOSING:
		break;
	}
	if (!c->in_dispatch)
		imap_client_teardown(c);
}

static void
imap_close_cb(uv_handle_t *h)
{
	struct imap_client	*c = h->data;

	c->open_handles--;
	imap_client_teardown(c);
}

void
imap_client_teardown(struct imap_client *c)
{
	if (c->phase != IMAP_PHASE_CLOSING) {
		c->phase = IMAP_PHASE_CLOSING;
		imap_client_wipe_password(c);
	}
	/* During a dispatch (the LOGOUT answer) it ends the dispatch, which
	 * comes back here: CLOSING must be set first, or it is forgotten. */
	if (c->in_dispatch)
		return;
	if (c->fetch.active && !c->close_requested) {
		c->fetch.active = false;
		c->cb->body_end(c->arg, IMAP_ERR_TEMP, "upstream closed");
	}
	if (c->resolving)
		uv_cancel((uv_req_t *)&c->resolver);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, imap_close_cb);
	if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp)) {
		stream_close(&c->wr);	/* TLS: close_notify */
		uv_close((uv_handle_t *)&c->tcp, imap_close_cb);
	}
	if (c->open_handles > 0 || c->pending_reqs > 0 ||
	    stream_busy(&c->wr) || c->closed_reported)
		return;
	imap_stream_free_session(c->imap);
	c->imap = NULL;
	if (c->stream != NULL) {
		mailstream_close(c->stream);
		c->stream = NULL;
	}
	c->closed_reported = true;
	if (c->cb->closed != NULL)
		c->cb->closed(c->arg, c);
	imap_client_free(c);
}

bool
imap_client_is_ready(const struct imap_client *c)
{
	return !c->close_requested && (c->phase == IMAP_PHASE_READY ||
	    (c->phase == IMAP_PHASE_FETCH && !c->fetch.active));
}

void
imap_client_close(struct imap_client *c, const struct pop3_maildrop *md)
{
	if (c->close_requested)
		return;
	c->fetch.active = false;	/* no body callback after this */
	if (c->phase == IMAP_PHASE_COMMIT && !c->commit.resume) {
		/* RFC 1939 sec. 6: QUIT was received, so the UPDATE state
		 * runs to its end even when the client has gone; its own
		 * timeouts bound it, and commit_done() still reports it. */
		c->close_requested = true;
		c->commit.after_close = true;
		return;
	}
	if (c->phase == IMAP_PHASE_READY && c->ncmds == 0 && !c->read_eof) {
		/* doc/imap-mapping.md sec. 10, 18: \Seen of what was
		 * read, then LOGOUT; never \Deleted, EXPUNGE or CLOSE. */
		if (imap_commit_prepare(c, md) && c->commit.nseen > 0)
			imap_client_set_commands(c, IMAP_CMD_STORE_SEEN,
			    "UID STORE", c->commit.seen, c->commit.nseen,
			    " +FLAGS.SILENT (\\Seen)");
		c->close_requested = true;
		imap_client_send_logout(c);
		return;
	}
	c->close_requested = true;
	if (c->phase == IMAP_PHASE_LOGOUT)
		return;	/* LOGOUT already on its way */
	c->phase = IMAP_PHASE_CLOSING;
	if (!c->in_dispatch)
		imap_client_teardown(c);
}

void
imap_client_abort(struct imap_client *c)
{
	if (!c->close_requested || c->phase == IMAP_PHASE_CLOSING)
		return;
	c->commit.after_close = false;	/* no commit_done() now */
	c->phase = IMAP_PHASE_CLOSING;
	if (!c->in_dispatch)
		imap_client_teardown(c);
}

bool
imap_client_is_read_only(const struct imap_client *c)
{
	return c->read_only;
}

static void
imap_client_free(struct imap_client *c)
{
	imap_client_wipe_password(c);
	imap_tls_free(c);
	if (c->addrs != NULL)
		uv_freeaddrinfo(c->addrs);
	free(c->numeric_addr);
	buf_wipe(&c->wq);
	buf_deinit(&c->wq);
	stream_deinit(&c->wr);
	imap_frame_deinit(&c->frame);
	buf_deinit(&c->fetch_pend);
	pop3_maildrop_deinit(&c->md);
	free(c->commit.deleted);
	free(c->commit.seen);
	free(c->seq_uid);
	free(c->probe_need);
	free(c->stash);
	free(c);
}
