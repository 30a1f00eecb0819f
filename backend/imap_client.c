/* SPDX-License-Identifier: MIT */
/*
 * imap_client.c - the upstream IMAP connection of one POP3 session, on the
 * session's loop: connection set-up, the command writer, the response
 * dispatcher and teardown. libuv owns the socket; proto/imap_frame decides
 * where each response ends; libetpan parses complete responses only,
 * through backend/imap_stream.c, and keeps capability and selection state.
 * Commands are written here, never through libetpan's blocking calls.
 * With TLS, imap_tls.c sits between the socket and the framer.
 */
#include "imap_client.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_client_int.h"
#include "imap_stream.h"
#include "sasl.h"

static void imap_client_teardown(struct imap_client *c);
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


static void
imap_write_cb(uv_write_t *req, int status)
{
	struct imap_client	*c = req->data;

	c->pending_reqs--;
	c->writing = false;
	if (c->writing_secret)
		buf_wipe(c->writing_buf);
	else
		buf_reset(c->writing_buf);
	c->writing_secret = false;
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

/* uv_try_write() first, as gateway/session.c does: a command usually
 * leaves at once, without a write request, callback or epoll change. */
void
imap_client_write_queue(struct imap_client *c, struct buf *q,
    struct buf *q_writing, bool secret)
{
	struct buf	tmp;
	uv_buf_t	b;
	int		r;

	if (c->writing || q->len == 0 || !c->tcp_open)
		return;
	b = uv_buf_init(q->data, (unsigned int)q->len);
	r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (r < 0 && r != UV_EAGAIN && r != UV_ENOTCONN) {
		imap_client_fail_as(c, IMAP_FAIL_CLOSED, IMAP_ERR_TEMP,
		    "write to upstream failed");
		return;
	}
	if (r < 0)
		r = 0;
	if ((size_t)r == q->len) {
		if (secret)
			buf_wipe(q);
		else
			buf_reset(q);
		return;
	}
	tmp = *q_writing;
	*q_writing = *q;
	*q = tmp;
	c->writing_buf = q_writing;
	c->writing_secret = secret;
	b = uv_buf_init(q_writing->data + r,
	    (unsigned int)(q_writing->len - (size_t)r));
	c->write_req.data = c;
	r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1,
	    imap_write_cb);
	if (r < 0) {
		imap_client_fail_as(c, IMAP_FAIL_CLOSED, IMAP_ERR_TEMP,
		    "write to upstream failed");
		return;
	}
	c->writing = true;
	c->pending_reqs++;
}

/* Cleartext: the command queue goes out as it is. TLS: it is sealed into
 * the ciphertext queue first (which wipes a credential at once). */
void
imap_client_flush(struct imap_client *c)
{
	bool	secret;

	if (!c->tcp_open)
		return;
	if (c->tls != NULL) {
		if (imap_tls_seal(c))
			imap_client_write_queue(c, &c->cq, &c->cq_writing,
			    false);
		return;
	}
	if (c->writing || c->wq.len == 0)
		return;
	secret = c->wq_secret;
	c->wq_secret = false;
	imap_client_write_queue(c, &c->wq, &c->wq_writing, secret);
}


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

/* ---- timers and connection setup ---- */

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

/* Cleartext reads land straight in the framer: no copy between socket and
 * parser. TLS reads land in the ciphertext buffer (imap_tls.c). */
static void
imap_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct imap_client	*c = h->data;
	size_t			 room = 0;

	(void)suggested;
	if (c->tls != NULL) {
		b->base = c->tls_rbuf;
		b->len = IMAP_READ_OCTETS;
		return;
	}
	b->base = imap_frame_reserve(&c->frame, IMAP_READ_OCTETS, &room);
	b->len = b->base != NULL ? room : 0;
}

static void
imap_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct imap_client	*c = s->data;

	if (nread == 0)
		return;
	if (nread == UV_ENOBUFS) {
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream response too large");
		return;
	}
	if (nread < 0) {
		c->read_eof = true;
		uv_read_stop(s);
		if (c->phase == IMAP_PHASE_LOGOUT) {
			imap_client_teardown(c);
			return;
		}
		imap_client_fail(c, IMAP_ERR_TEMP, imap_tls_handshaking(c) ?
		    "upstream closed the connection during the TLS "
		    "handshake" : nread == UV_EOF ?
		    "upstream closed the connection" :
		    "upstream connection error");
		return;
	}
	if (c->tls != NULL) {
		imap_tls_on_read(c, b->base, (size_t)nread);
		return;
	}
	imap_frame_commit(&c->frame, (size_t)nread);
	if (c->ncmds > 0)
		imap_client_arm_timer(c);
	imap_client_dispatch(c);
}

static bool
imap_client_stream_open(struct imap_client *c)
{
	c->imap = mailimap_new(0, NULL);
	if (c->imap == NULL)
		return false;
	c->stream = imap_stream_new(&c->frame);
	return c->stream != NULL;
}

static void imap_client_try_connect(struct imap_client *c);

static void
imap_retry_close_cb(uv_handle_t *h)
{
	struct imap_client	*c = h->data;

	c->tcp_open = false;
	c->open_handles--;
	if (c->phase == IMAP_PHASE_CLOSING) {
		imap_client_teardown(c);
		return;
	}
	imap_client_try_connect(c);
}

static void
imap_connect_cb(uv_connect_t *req, int status)
{
	struct imap_client	*c = req->data;

	c->pending_reqs--;
	if (c->phase == IMAP_PHASE_CLOSING) {
		imap_client_teardown(c);
		return;
	}
	if (status < 0) {
		if (c->addr_next != NULL) {
			/* Try the next address once this handle has closed
			 * (localhost may resolve to ::1 and 127.0.0.1). */
			uv_close((uv_handle_t *)&c->tcp, imap_retry_close_cb);
			return;
		}
		c->fail_detail = uv_strerror(status);
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream connect failed");
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, 60);
	c->phase = IMAP_PHASE_GREETING;
	/* Implicit TLS: the handshake runs under the connect timeout, which
	 * keeps running until the greeting has come through it. */
	if (c->config.tls_mode == IMAP_TLS_IMPLICIT && !imap_tls_begin(c))
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, imap_alloc_cb,
	    imap_read_cb) < 0)
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream read failed");
}

static void
imap_client_try_connect(struct imap_client *c)
{
	struct addrinfo	*ai = c->addr_next;
	int		 r;

	c->addr_next = ai->ai_next;
	r = uv_tcp_init(c->loop, &c->tcp);
	if (r < 0) {
		imap_client_fail(c, IMAP_ERR_TEMP, "socket setup failed");
		return;
	}
	c->tcp.data = c;
	c->tcp_open = true;
	c->open_handles++;
	c->connect_req.data = c;
	r = uv_tcp_connect(&c->connect_req, &c->tcp, ai->ai_addr,
	    imap_connect_cb);
	if (r < 0) {
		c->fail_detail = uv_strerror(r);
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream connect failed");
		return;
	}
	c->pending_reqs++;
	c->phase = IMAP_PHASE_CONNECTING;
}

static void
imap_resolve_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct imap_client	*c = req->data;

	c->pending_reqs--;
	c->resolving = false;
	c->addrs = res;
	if (c->phase == IMAP_PHASE_CLOSING) {
		imap_client_teardown(c);
		return;
	}
	if (status < 0 || res == NULL) {
		c->fail_detail = uv_strerror(status);
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream name lookup failed");
		return;
	}
	c->addr_next = res;
	imap_client_try_connect(c);
}

/* An IP address needs no resolver: skip the thread-pool round trip that
 * uv_getaddrinfo() costs on every login. The port is a number from 1 to
 * 65535: config/upstream.c checked it. */
static bool
imap_client_numeric_host(struct imap_client *c)
{
	struct addrinfo	*ai;
	int		 port = (int)strtol(c->config.port, NULL, 10);

	ai = calloc(1, sizeof(*ai) + sizeof(struct sockaddr_storage));
	if (ai == NULL)
		return false;
	ai->ai_addr = (struct sockaddr *)(ai + 1);
	if (uv_ip4_addr(c->config.host, port,
	    (struct sockaddr_in *)ai->ai_addr) == 0)
		ai->ai_addrlen = sizeof(struct sockaddr_in);
	else if (uv_ip6_addr(c->config.host, port,
	    (struct sockaddr_in6 *)ai->ai_addr) == 0)
		ai->ai_addrlen = sizeof(struct sockaddr_in6);
	else {
		free(ai);
		return false;
	}
	c->numeric_addr = ai;
	c->addr_next = ai;
	imap_client_try_connect(c);
	return true;
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
	buf_init(&c->wq_writing, IMAP_MAX_QUEUED_OCTETS);
	buf_set_sensitive(&c->wq);		/* LOGIN and PLAIN pass through */
	buf_set_sensitive(&c->wq_writing);
	c->writing_buf = &c->wq_writing;
	/* TLS only; no storage until the first use. */
	buf_init(&c->cq, IMAP_TLS_QUEUED_OCTETS);
	buf_init(&c->cq_writing, IMAP_TLS_QUEUED_OCTETS);
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

/* Resolves and connects; the greeting continues in imap_login.c. */
static void
imap_client_start(struct imap_client *c)
{
	struct addrinfo	hints;
	int		r;

	c->t_start = uv_hrtime();
	if (c->config.tls_mode != IMAP_TLS_NONE &&
	    c->config.tls_profile == NULL) {
		imap_client_fail_as(c, IMAP_FAIL_TLS, IMAP_ERR_PERM,
		    "upstream TLS wanted but "
		    "no TLS profile configured");
		return;
	}
	if (!imap_client_stream_open(c)) {
		imap_client_fail(c, IMAP_ERR_TEMP, "out of memory");
		return;
	}
	c->phase = IMAP_PHASE_RESOLVING;
	uv_timer_start(&c->timer, imap_timer_cb, c->config.connect_timeout_ms,
	    0);
	if (imap_client_numeric_host(c))
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	c->resolver.data = c;
	r = uv_getaddrinfo(c->loop, &c->resolver, imap_resolve_cb,
	    c->config.host, c->config.port, &hints);
	if (r < 0) {
		c->fail_detail = uv_strerror(r);
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream name lookup failed");
		return;
	}
	c->pending_reqs++;
	c->resolving = true;
}

void
imap_client_login(struct imap_client *c, const char *user,
    const char *password, size_t password_len)
{
	assert(c->phase == IMAP_PHASE_IDLE);
	if (strlen(user) > IMAP_MAX_CREDENTIAL ||
	    password_len > IMAP_MAX_CREDENTIAL) {
		imap_client_fail(c, IMAP_ERR_AUTH, "credentials too long");
		return;
	}
	snprintf(c->user, sizeof(c->user), "%s", user);
	c->password = malloc(password_len + 1);
	if (c->password == NULL) {
		imap_client_fail(c, IMAP_ERR_TEMP, "out of memory");
		return;
	}
	memcpy(c->password, password, password_len);
	c->password[password_len] = '\0';
	c->password_len = password_len;
	imap_client_start(c);
}

/* RFC 4422 sec. 3.1: mechanism names are upper-case letters, digits, "-"
 * and "_" (matched case-insensitively, so lower case is let through). */
static bool
imap_sasl_mech_valid(const char *mech)
{
	size_t	i, n = strlen(mech);

	if (n == 0 || n > IMAP_SASL_MECH_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char	ch = (unsigned char)mech[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

void
imap_client_login_sasl(struct imap_client *c, const char *mech,
    const char *user, const unsigned char *msg, size_t len)
{
	size_t	i;

	assert(c->phase == IMAP_PHASE_IDLE);
	if (!imap_sasl_mech_valid(mech)) {
		imap_client_fail(c, IMAP_ERR_AUTH, "bad SASL mechanism name");
		return;
	}
	if (strlen(user) > IMAP_MAX_CREDENTIAL ||
	    len > SASL_MAX_TOKEN_OCTETS) {
		imap_client_fail(c, IMAP_ERR_AUTH, "credentials too long");
		return;
	}
	snprintf(c->user, sizeof(c->user), "%s", user);
	for (i = 0; mech[i] != '\0'; i++)
		c->sasl_mech[i] = (char)toupper((unsigned char)mech[i]);
	c->sasl_mech[i] = '\0';
	c->sasl = true;
	c->sasl_msg = malloc(len > 0 ? len : 1);
	if (c->sasl_msg == NULL) {
		imap_client_fail(c, IMAP_ERR_TEMP, "out of memory");
		return;
	}
	if (len > 0)
		memcpy(c->sasl_msg, msg, len);
	c->sasl_len = len;
	imap_client_start(c);
}

void
imap_client_probe(struct imap_client *c)
{
	assert(c->phase == IMAP_PHASE_IDLE);
	c->probe_only = true;
	imap_client_start(c);
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
	while (c->phase != IMAP_PHASE_CLOSING) {
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

/* Idempotent: closes handles, then reports closed() once everything is
 * quiet, and frees the client. */
static void
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
		imap_tls_close_notify(c);
		uv_close((uv_handle_t *)&c->tcp, imap_close_cb);
	}
	if (c->open_handles > 0 || c->pending_reqs > 0 || c->closed_reported)
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
	buf_wipe(&c->wq_writing);
	buf_deinit(&c->wq_writing);
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
