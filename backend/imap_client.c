/* SPDX-License-Identifier: MIT */
/*
 * imap_client.c - the upstream IMAP connection of one POP3 session, on the
 * session's loop. libuv owns the socket; proto/imap_frame decides where each
 * response ends; libetpan parses complete responses only, through a
 * memory-backed mailstream driver, and keeps capability and selection state.
 * Commands are written here, never through libetpan's blocking calls.
 */
#include "imap_client.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "base64.h"
#include "buf.h"
#include "imap_frame.h"
#include "imap_stream.h"
#include "tail_cache.h"

/* Commands in flight at once (pipelined probes or chunks). */
#define IMAP_MAX_INFLIGHT	64
/* Size-and-flags snapshot: UIDs per UID FETCH range, grown while sparse. */
#define IMAP_SNAPSHOT_SPAN_MIN	1024u
#define IMAP_SNAPSHOT_SPAN_MAX	65536u
/* Bytes of commands queued to the server; a UID set line is ~1000 octets. */
#define IMAP_MAX_QUEUED_OCTETS	(1024 * 1024)
/* RFC 2683 sec. 3.2.1.5: keep command lines around 1000 octets. */
#define IMAP_MAX_SET_OCTETS	900
/* Read buffer handed to libuv per read. */
#define IMAP_READ_OCTETS	(64 * 1024)
/* TOP starts with a small window and doubles it. */
#define IMAP_TOP_FIRST_CHUNK	(32 * 1024)
/* Idle upstream: NOOP before NATs and load balancers cut it (4-5 min). */
#define IMAP_KEEPALIVE_MS	(4 * 60 * 1000)
/* After LOGOUT, wait this long for the server's answer before closing. */
#define IMAP_LOGOUT_WAIT_MS	5000
/* Longest user name or password carried upstream. */
#define IMAP_MAX_CREDENTIAL	1024

enum imap_phase {
	IMAP_PHASE_IDLE,
	IMAP_PHASE_RESOLVING,
	IMAP_PHASE_CONNECTING,
	IMAP_PHASE_GREETING,
	IMAP_PHASE_LOGIN,		/* CAPABILITY, LOGIN/AUTHENTICATE */
	IMAP_PHASE_SELECT,		/* CAPABILITY after login, SELECT */
	IMAP_PHASE_SNAPSHOT,		/* UID FETCH ranges, tail probes */
	IMAP_PHASE_READY,
	IMAP_PHASE_FETCH,
	IMAP_PHASE_COMMIT,
	IMAP_PHASE_LOGOUT,
	IMAP_PHASE_CLOSING,
};

enum imap_cmd_kind {
	IMAP_CMD_CAPABILITY,
	IMAP_CMD_LOGIN,
	IMAP_CMD_AUTHENTICATE,
	IMAP_CMD_CAPABILITY_AFTER_LOGIN,
	IMAP_CMD_SELECT,
	IMAP_CMD_SNAPSHOT,
	IMAP_CMD_PROBE,
	IMAP_CMD_CHUNK,
	IMAP_CMD_STORE_DELETED,
	IMAP_CMD_SEARCH_DELETED,
	IMAP_CMD_EXPUNGE,
	IMAP_CMD_VERIFY,
	IMAP_CMD_STORE_SEEN,
	IMAP_CMD_NOOP,
	IMAP_CMD_LOGOUT,
};

struct imap_cmd {
	uint32_t		tag;
	enum imap_cmd_kind	kind;
	uint64_t		offset;		/* CHUNK */
	uint64_t		length;		/* CHUNK */
	uint32_t		fetch_id;	/* CHUNK: which transfer */
};

struct imap_fetch {
	uint32_t	id;		/* transfer counter, stale chunks differ */
	uint32_t	uid;
	uint64_t	size;		/* snapshot size */
	uint64_t	next_offset;	/* next chunk to request */
	uint64_t	received;	/* contiguous octets received */
	uint64_t	literal_origin;	/* origin of the literal being streamed */
	uint64_t	chunk;		/* current chunk size */
	size_t		low_water;
	unsigned int	inflight;
	unsigned int	window;
	bool		active;		/* callbacks still owed to the session */
	bool		begun;
	bool		eof;
	bool		is_top;
	bool		waiting;	/* held back by client backlog */
};

enum imap_commit_stage {
	IMAP_COMMIT_STORE,	/* UID STORE \Deleted (and \Seen) sent */
	IMAP_COMMIT_SEARCH,	/* no UIDPLUS: UID SEARCH DELETED sent */
	IMAP_COMMIT_EXPUNGE,	/* UID EXPUNGE (or EXPUNGE) sent */
	IMAP_COMMIT_VERIFY,	/* UID SEARCH UID <ours> sent */
};

struct imap_commit {
	enum imap_commit_stage stage;
	uint32_t	*deleted;	/* our DELE'd uids, ascending */
	uint32_t	 ndeleted;
	uint32_t	*seen;		/* uids to flag \Seen */
	uint32_t	 nseen;
	uint32_t	 survivors;	/* verify: our uids still present */
	bool		 foreign_deleted;/* without UIDPLUS: others' \Deleted */
	bool		 failed;
	const char	*detail;
};

struct imap_client {
	uv_loop_t			*loop;
	struct imap_client_config	 config;
	const struct imap_client_callbacks *cb;
	void				*arg;

	enum imap_phase		 phase;
	uv_getaddrinfo_t	 resolver;
	uv_connect_t		 connect_req;
	uv_tcp_t		 tcp;
	uv_timer_t		 timer;
	uv_write_t		 write_req;
	struct addrinfo		*addrs;		/* from uv_getaddrinfo */
	struct addrinfo		*numeric_addr;	/* built for an IP host */
	struct addrinfo		*addr_next;
	unsigned int		 pending_reqs;	/* resolver/connect/write */
	unsigned int		 open_handles;
	bool			 tcp_open;
	bool			 writing;
	bool			 writing_secret;	/* wipe wq_writing after the write */
	bool			 wq_secret;	/* wq holds a credential */
	bool			 read_eof;
	bool			 in_dispatch;
	bool			 close_requested;
	bool			 closed_reported;
	bool			 freed;
	bool			 resolving;

	struct buf		 wq;		/* commands not yet handed to libuv */
	struct buf		 wq_writing;	/* the buffer of the write in flight */
	struct imap_frame	 frame;

	mailimap		*imap;
	mailstream		*stream;

	char			 user[IMAP_MAX_CREDENTIAL + 1];
	char			*password;
	size_t			 password_len;
	char			 identity[IMAP_MAX_CREDENTIAL + 600];

	uint32_t		 next_tag;
	struct imap_cmd		 cmds[IMAP_MAX_INFLIGHT];
	unsigned int		 ncmds;

	/* snapshot */
	struct pop3_maildrop	 md;
	uint32_t		 uidnext;
	uint32_t		 span;
	uint32_t		 span_low;	/* next UID range start */
	uint32_t		 probe_next;	/* next msn index to probe */
	bool			*probe_need;	/* per index: tail unknown */
	uint64_t		 mailbox_id;	/* tail_cache key */
	uint32_t		*seq_uid;	/* seq - 1 -> uid, whole mailbox */
	uint32_t		 nseq;
	uint32_t		 seq_cap;
	bool			 read_only;
	bool			 has_uidplus;
	bool			 select_sent;	/* SELECT pipelined behind LOGIN */

	struct imap_fetch	 fetch;
	uint32_t		 fetch_seq;
	unsigned int		 stale_chunks;	/* chunks of an ended transfer */
	struct imap_commit	 commit;
	const char		*fail_detail;	/* errno text of a network error */
	const char		*snapshot_error;
	char			 detail_buf[160];
};

static void imap_client_fail(struct imap_client *c, enum imap_result result,
	    const char *detail);
static void imap_client_teardown(struct imap_client *c);
static void imap_client_snapshot_next(struct imap_client *c);
static void imap_client_fetch_pump(struct imap_client *c);
static void imap_client_commit_step(struct imap_client *c);
static void imap_client_free(struct imap_client *c);
static void imap_client_send_select(struct imap_client *c);

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

static void imap_client_flush(struct imap_client *c);

static void
imap_write_cb(uv_write_t *req, int status)
{
	struct imap_client	*c = req->data;

	c->pending_reqs--;
	c->writing = false;
	if (c->writing_secret)
		buf_wipe(&c->wq_writing);
	else
		buf_reset(&c->wq_writing);
	c->writing_secret = false;
	if (c->freed || c->phase == IMAP_PHASE_CLOSING) {
		imap_client_teardown(c);
		return;
	}
	if (status < 0) {
		imap_client_fail(c, IMAP_ERR_TEMP, "write to upstream failed");
		return;
	}
	imap_client_flush(c);
}

/* uv_try_write() first, as gateway/session.c does: a command usually
 * leaves at once, without a write request, callback or epoll change. */
static void
imap_client_flush(struct imap_client *c)
{
	struct buf	tmp;
	uv_buf_t	b;
	int		r;

	if (c->writing || c->wq.len == 0 || !c->tcp_open)
		return;
	b = uv_buf_init(c->wq.data, (unsigned int)c->wq.len);
	r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (r < 0 && r != UV_EAGAIN && r != UV_ENOTCONN) {
		imap_client_fail(c, IMAP_ERR_TEMP, "write to upstream failed");
		return;
	}
	if (r < 0)
		r = 0;
	if ((size_t)r == c->wq.len) {
		if (c->wq_secret)
			buf_wipe(&c->wq);
		else
			buf_reset(&c->wq);
		c->wq_secret = false;
		return;
	}
	tmp = c->wq_writing;
	c->wq_writing = c->wq;
	c->wq = tmp;
	c->writing_secret = c->wq_secret;
	c->wq_secret = false;
	b = uv_buf_init(c->wq_writing.data + r,
	    (unsigned int)(c->wq_writing.len - (size_t)r));
	c->write_req.data = c;
	r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1,
	    imap_write_cb);
	if (r < 0) {
		imap_client_fail(c, IMAP_ERR_TEMP, "write to upstream failed");
		return;
	}
	c->writing = true;
	c->pending_reqs++;
}

static void imap_timer_cb(uv_timer_t *t);

static void
imap_client_arm_timer(struct imap_client *c)
{
	if (c->phase == IMAP_PHASE_CLOSING || c->freed)
		return;
	if (c->ncmds > 0)
		uv_timer_start(&c->timer, imap_timer_cb,
		    c->config.command_timeout_ms, 0);
	else if (c->phase == IMAP_PHASE_READY)
		uv_timer_start(&c->timer, imap_timer_cb, IMAP_KEEPALIVE_MS, 0);
	else if (c->phase > IMAP_PHASE_CONNECTING)
		uv_timer_stop(&c->timer);
}

/* Starts a command: queues its tag and text, records it as in flight. */
static struct imap_cmd *
imap_client_command(struct imap_client *c, enum imap_cmd_kind kind,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static struct imap_cmd *
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

static bool
imap_has_cap(struct imap_client *c, const char *name)
{
	return mailimap_has_extension(c->imap, (char *)name) != 0;
}

/* The tagged status: 0 OK, 1 NO (BAD is a parse error already). */
static int
imap_resp_status(struct mailimap_response *resp)
{
	return resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type;
}

static const struct mailimap_resp_text_code *
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

/* RFC 5530 codes -> result class (imap-mapping.md sec. 3.4, 4). */
static enum imap_result
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

static bool
imap_seq_grow(struct imap_client *c, uint32_t count)
{
	uint32_t	*p;
	uint32_t	 cap;

	if (count <= c->seq_cap)
		return true;
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
 * (imap-mapping.md sec. 13). */
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
		if (c->phase >= IMAP_PHASE_READY && c->cb->expunged != NULL)
			c->cb->expunged(c->arg, uid);
	}
}

static void
imap_client_track_exists(struct imap_client *c)
{
	struct mailimap_selection_info	*sel = c->imap->imap_selection_info;

	if (sel == NULL || !sel->sel_has_exists || sel->sel_exists <= c->nseq)
		return;
	if (!imap_seq_grow(c, sel->sel_exists))
		return;
	/* New mail lands at the end; its uid is unknown and not needed. */
	memset(&c->seq_uid[c->nseq], 0,
	    (size_t)(sel->sel_exists - c->nseq) * sizeof(uint32_t));
	c->nseq = sel->sel_exists;
}

/* ---- timers and connection setup ---- */

static void
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
	imap_client_fail(c, IMAP_ERR_TEMP, c->phase <= IMAP_PHASE_CONNECTING ?
	    "upstream connect timeout" : "upstream command timeout");
}

/* Reads land straight in the framer: no copy between socket and parser. */
static void
imap_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct imap_client	*c = h->data;
	size_t			 room = 0;

	(void)suggested;
	b->base = imap_frame_reserve(&c->frame, IMAP_READ_OCTETS, &room);
	b->len = b->base != NULL ? room : 0;
}

static void imap_client_dispatch(struct imap_client *c);

static void
imap_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct imap_client	*c = s->data;

	(void)b;
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
		imap_client_fail(c, IMAP_ERR_TEMP, nread == UV_EOF ?
		    "upstream closed the connection" :
		    "upstream connection error");
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
	if (c->phase == IMAP_PHASE_CLOSING || c->freed) {
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
	if (c->phase == IMAP_PHASE_CLOSING || c->freed) {
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
	if (c->phase == IMAP_PHASE_CLOSING || c->freed) {
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
 * uv_getaddrinfo() costs on every login. */
static bool
imap_client_numeric_host(struct imap_client *c)
{
	struct addrinfo	*ai;
	int		 port = atoi(c->config.port);

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
	imap_frame_init(&c->frame, IMAP_FRAME_MAX_LINE_OCTETS,
	    IMAP_FRAME_MAX_GROUP_OCTETS);
	pop3_maildrop_init(&c->md, 0);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->open_handles = 1;
	return c;
}

void
imap_client_login(struct imap_client *c, const char *user,
    const char *password, size_t password_len)
{
	struct addrinfo	hints;
	int		r;

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

/* ---- login ---- */

static void
imap_client_wipe_password(struct imap_client *c)
{
	if (c->password != NULL) {
		explicit_bzero(c->password, c->password_len);
		free(c->password);
		c->password = NULL;
		c->password_len = 0;
	}
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

static void
imap_client_send_login(struct imap_client *c)
{
	bool	quotable, use_login;
	int	r;

	if (!imap_has_cap(c, "IMAP4rev1") && !imap_has_cap(c, "IMAP4rev2")) {
		imap_client_fail(c, IMAP_ERR_PERM, "upstream is not IMAP4rev1");
		return;
	}
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
	c->wq_secret = true;	/* wipe this write when it completes */
	memset(&c->cmds[c->ncmds], 0, sizeof(c->cmds[0]));
	c->cmds[c->ncmds].tag = c->next_tag;
	c->cmds[c->ncmds].kind = use_login ? IMAP_CMD_LOGIN :
	    IMAP_CMD_AUTHENTICATE;
	c->ncmds++;
	imap_client_arm_timer(c);
	/* SELECT rides behind LOGIN (one round trip less). Its answer is used
	 * only once LOGIN's OK has been checked and the lock taken; after a
	 * failed LOGIN the server refuses it and the connection is closed. */
	if (c->password == NULL)
		imap_client_send_select(c);
	imap_client_flush(c);
}

static void
imap_client_on_continuation(struct imap_client *c)
{
	int	r;

	/* Only AUTHENTICATE PLAIN without SASL-IR asks for more. */
	if (c->ncmds == 0 ||
	    c->cmds[c->ncmds - 1].kind != IMAP_CMD_AUTHENTICATE ||
	    c->password == NULL) {
		/* RFC 4422: "*" cancels; we have nothing else to send. */
		if (buf_append(&c->wq, "*\r\n", 3) != 0)
			imap_client_fail(c, IMAP_ERR_TEMP, "command queue full");
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
	c->wq_secret = true;
	imap_client_flush(c);
}

static void
imap_client_on_greeting(struct imap_client *c)
{
	int	r;

	/* imap-mapping.md sec. 2: BYE = overload or maintenance. Refused
	 * before parsing: libetpan 1.9.4 leaks a BYE greeting's struct. */
	if (imap_stream_greeting_is_bye(&c->frame)) {
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream greeted with BYE");
		return;
	}
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
	c->phase = IMAP_PHASE_LOGIN;
	if (c->imap->imap_connection_info == NULL ||
	    c->imap->imap_connection_info->imap_capability == NULL)
		imap_client_command(c, IMAP_CMD_CAPABILITY, "CAPABILITY");
	else
		imap_client_send_login(c);
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
}

static void
imap_client_on_login(struct imap_client *c, struct mailimap_response *resp)
{
	const struct mailimap_resp_text_code	*code;
	const char				*host = c->config.host;

	imap_client_wipe_password(c);
	if (imap_resp_status(resp) != MAILIMAP_RESP_COND_STATE_OK) {
		imap_client_fail(c, imap_no_result(c, IMAP_ERR_AUTH),
		    "upstream rejected the login");
		return;
	}
	/* RFC 1939 sec. 4 / imap-mapping.md sec. 14: lock after the login
	 * succeeded (IN-USE must never confirm a password) and before the
	 * snapshot. */
	snprintf(c->identity, sizeof(c->identity), "%s@%s:%s/%s", c->user,
	    host, c->config.port, c->config.mailbox);
	if (c->cb->lock != NULL && !c->cb->lock(c->arg, c->identity)) {
		imap_client_fail(c, IMAP_ERR_IN_USE, "mailbox locked by "
		    "another session");
		return;
	}
	c->phase = IMAP_PHASE_SELECT;
	code = imap_resp_code(resp);
	/* RFC 9051 sec. 7.2.2: capabilities may change after login; they
	 * are read again before anything depends on them (UIDPLUS at QUIT). */
	if (code == NULL || code->rc_type !=
	    MAILIMAP_RESP_TEXT_CODE_CAPABILITY_DATA)
		imap_client_command(c, IMAP_CMD_CAPABILITY_AFTER_LOGIN,
		    "CAPABILITY");
	imap_client_send_select(c);
}

static void
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
		imap_client_fail(c, IMAP_ERR_TEMP, "out of memory");
		return;
	}
	memset(c->seq_uid, 0, (size_t)sel->sel_exists * sizeof(uint32_t));
	c->nseq = sel->sel_exists;
	c->phase = IMAP_PHASE_SNAPSHOT;
	c->span = IMAP_SNAPSHOT_SPAN_MIN;
	c->span_low = 1;
	c->probe_next = 0;
	if (sel->sel_exists == 0 || (c->uidnext != 0 && c->uidnext <= 1)) {
		/* imap-mapping.md sec. 5: no FETCH on an empty mailbox. */
		c->span_low = 0;
	}
	imap_client_snapshot_next(c);
}

/* ---- snapshot ---- */

static void
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
				clist		*fl = item->att_data.att_dyn->att_list;
				clistiter	*kt;

				for (kt = fl ? clist_begin(fl) : NULL; kt != NULL;
				    kt = clist_next(kt)) {
					struct mailimap_flag_fetch *ff =
					    clist_content(kt);

					if (ff->fl_type != MAILIMAP_FLAG_FETCH_OTHER ||
					    ff->fl_flag == NULL)
						continue;
					if (ff->fl_flag->fl_type ==
					    MAILIMAP_FLAG_SEEN)
						flags |= POP3_MSG_SEEN;
					if (ff->fl_flag->fl_type ==
					    MAILIMAP_FLAG_DELETED)
						flags |=
						    POP3_MSG_FLAGGED_DELETED;
				}
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

			/* RFC 1939 sec. 11 + pop3-conformance 3.4: the CRLF we
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
		/* imap-mapping.md sec. 5: freeze at the UIDNEXT of SELECT. */
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

static void
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

static void
imap_client_on_snapshot(struct imap_client *c, struct mailimap_response *resp)
{
	uint32_t	before = c->md.count;

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

/* ---- message bodies ---- */

static bool
imap_body_handler(int type, struct mailimap_msg_att_body_section *section,
    const char *bytes, size_t len, void *arg)
{
	struct imap_client	*c = arg;
	struct imap_fetch	*f = &c->fetch;

	if (type != MAILIMAP_MSG_ATT_BODY_SECTION || section == NULL)
		return true;
	if (!f->active || f->eof || c->stale_chunks > 0)
		return true;	/* a stopped TOP or a stale chunk: drop it */
	if (!f->begun || section->sec_origin_octet != f->literal_origin) {
		/* A new literal must start where the data so far ends: the
		 * chunks arrive in order, or the message would be garbled. */
		if (section->sec_origin_octet != f->received) {
			c->fail_detail = "upstream sent body chunks out of order";
			return false;
		}
		f->literal_origin = section->sec_origin_octet;
	}
	if (!f->begun) {
		f->begun = true;
		c->cb->body_begin(c->arg);
	}
	if (len == 0)
		return true;
	f->received += len;
	if (c->cb->body_data(c->arg, bytes, len) != 0) {
		c->fail_detail = "client side failed";
		return false;
	}
	return true;
}

static void
imap_client_fetch_end(struct imap_client *c, enum imap_result result,
    const char *detail)
{
	struct imap_fetch	*f = &c->fetch;

	if (!f->active)
		return;
	f->active = false;
	mailimap_set_msg_body_handler(c->imap, NULL, NULL);
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
			len = UINT32_MAX;
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

void
imap_client_fetch(struct imap_client *c, uint32_t uid, uint64_t size,
    bool is_top, size_t low_water)
{
	struct imap_fetch	*f = &c->fetch;

	assert(c->phase == IMAP_PHASE_READY ||
	    (c->phase == IMAP_PHASE_FETCH && !f->active));
	/* Chunks of a stopped TOP may still be in flight: their data must
	 * not reach this transfer, so it starts once they have drained. */
	c->stale_chunks += f->inflight;
	memset(f, 0, sizeof(*f));
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
	c->phase = IMAP_PHASE_FETCH;
	mailimap_set_msg_body_handler(c->imap, imap_body_handler, c);
	imap_client_fetch_pump(c);
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
		mailimap_set_msg_body_handler(c->imap, NULL, NULL);
		c->phase = IMAP_PHASE_READY;
		imap_client_arm_timer(c);
	}
}

static void
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
	if (!f->active) {
		/* TOP stopped early: drain, then back to READY. */
		if (f->inflight == 0) {
			mailimap_set_msg_body_handler(c->imap, NULL, NULL);
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
		mailimap_set_msg_body_handler(c->imap, NULL, NULL);
		if (c->phase == IMAP_PHASE_FETCH)
			c->phase = IMAP_PHASE_READY;
	}
}

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
static unsigned int
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

static bool
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

static void
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
	imap_client_send_logout(c);
	c->cb->commit_done(c->arg, result, k->detail);
}

/* One step of the QUIT sequence, run each time nothing is in flight:
 * STORE \Deleted (+ \Seen) -> [SEARCH DELETED] -> EXPUNGE -> verify. RFC
 * 3501 sec. 5.5: these depend on each other, so they are not pipelined. */
static void
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

static void
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
		/* A NO here may mean "already expunged"; verify decides. */
		break;
	case IMAP_CMD_STORE_SEEN:
		break;
	case IMAP_CMD_SEARCH_DELETED:
		if (!ok) {
			k->failed = true;
			break;
		}
		/* imap-mapping.md sec. 11.3: without UIDPLUS, EXPUNGE only
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
	imap_client_commit_step(c);
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
		imap_client_send_login(c);
		break;
	case IMAP_CMD_LOGIN:
	case IMAP_CMD_AUTHENTICATE:
		imap_client_on_login(c, resp);
		break;
	case IMAP_CMD_CAPABILITY_AFTER_LOGIN:
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
		imap_client_on_chunk(c, cmd, resp);
		imap_client_commit_step(c);	/* QUIT may wait for a drain */
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

		if (why == NULL)
			why = r == MAILIMAP_ERROR_STREAM ? "upstream said BYE" :
			    r == MAILIMAP_ERROR_PROTOCOL ?
			    "upstream answered BAD" : "unparsable upstream "
			    "response";
		imap_client_fail(c, c->phase <= IMAP_PHASE_LOGIN &&
		    r == MAILIMAP_ERROR_PROTOCOL ? IMAP_ERR_PERM :
		    IMAP_ERR_TEMP, why);
		return;
	}
	imap_client_on_response(c, &cmd, resp);
	mailimap_response_free(resp);
	imap_client_arm_timer(c);
}

static void
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

static void
imap_client_fail(struct imap_client *c, enum imap_result result,
    const char *detail)
{
	enum imap_phase	phase = c->phase;

	if (phase == IMAP_PHASE_CLOSING)
		return;
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
		if (!c->close_requested)
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
	if (c->in_dispatch)
		return;
	if (c->phase != IMAP_PHASE_CLOSING) {
		c->phase = IMAP_PHASE_CLOSING;
		imap_client_wipe_password(c);
	}
	if (c->fetch.active && !c->close_requested) {
		c->fetch.active = false;
		c->cb->body_end(c->arg, IMAP_ERR_TEMP, "upstream closed");
	}
	if (c->resolving)
		uv_cancel((uv_req_t *)&c->resolver);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, imap_close_cb);
	if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp)) {
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
	if (c->phase == IMAP_PHASE_READY && c->ncmds == 0 && !c->read_eof) {
		/* imap-mapping.md sec. 10, 18: \Seen of what was read, then
		 * LOGOUT; never \Deleted, EXPUNGE or CLOSE. */
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
	if (c->phase == IMAP_PHASE_IDLE) {
		c->phase = IMAP_PHASE_CLOSING;
	} else if (c->phase != IMAP_PHASE_CLOSING) {
		c->phase = IMAP_PHASE_CLOSING;
	}
	if (!c->in_dispatch)
		imap_client_teardown(c);
}

static void
imap_client_free(struct imap_client *c)
{
	imap_client_wipe_password(c);
	if (c->addrs != NULL)
		uv_freeaddrinfo(c->addrs);
	free(c->numeric_addr);
	buf_wipe(&c->wq);
	buf_deinit(&c->wq);
	buf_wipe(&c->wq_writing);
	buf_deinit(&c->wq_writing);
	imap_frame_deinit(&c->frame);
	pop3_maildrop_deinit(&c->md);
	free(c->commit.deleted);
	free(c->commit.seen);
	free(c->seq_uid);
	free(c->probe_need);
	free(c);
}
