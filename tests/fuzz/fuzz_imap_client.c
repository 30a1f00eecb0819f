/* SPDX-License-Identifier: MIT */
/*
 * fuzz_imap_client.c - the real backend/imap_client state machine through a
 * whole session, with the fuzzer's input as the server's bytes: greeting,
 * CAPABILITY, login, SELECT, snapshot and tail probes, a cut commit finished
 * at login, two RETR (or a TOP, then a RETR) with chunks or the fetch-ahead
 * pair, and QUIT's commit (UID STORE, UID EXPUNGE or UID SEARCH DELETED +
 * EXPUNGE, verify) or a drop. No seam: the client connects over loopback
 * TCP to a server on its own libuv loop, in this process.
 *
 * Input: three option octets, then server turns separated by a line "%%"
 * (the octets "%%\n" at the start of a line; the line itself is dropped).
 *   - Turn 0 is written when the connection is accepted (the greeting).
 *   - Turn k is written once the client has sent its k-th line (a command
 *     or a continuation answer), or, if the client has gone quiet, at once.
 *   - Each '$' in a turn becomes the tag of the line it answers (of the
 *     last tagged line when it answers a continuation or nothing), so the
 *     fuzzer need not guess tags. Literal lengths count the tag as written.
 *   - When the turns run out and the client is quiet, the session ends as
 *     the gateway would (imap_client_close) and then the server resets the
 *     connection.
 * Option octet 0: bits 0-1 fetch_chunk (16, 100, 4096, 262144), bits 2-3
 * fetch_window (1, 2, 3, 8), bit 4 fetch_ahead, bit 5 seen_on_retr, bit 6
 * the first fetch is a TOP stopped at its first octets, bit 7 the session
 * ends with a drop instead of QUIT.
 * Option octet 1: DELE mask: bit i marks message i + 1 of the snapshot.
 * Option octet 2: bit 0 AUTHENTICATE XOAUTH2 instead of LOGIN, bit 1 a cut
 * commit is pending for UIDs i + 1 of the DELE mask (bit 2: under another
 * UIDVALIDITY than 1), bit 3 the POP3 side is behind every other time it
 * is asked, bit 4 the mailbox lock is refused.
 *
 * Oracles (abort on failure): body data only between body_begin and
 * body_end of a fetch, at most one body_end, none after fetch_stop;
 * login_done exactly once; commit_done at most once and exactly once for a
 * commit unless closed; resumed at most once; no callback after closed,
 * which fires exactly once. On the wire: every UID in a \Deleted STORE or a
 * UID EXPUNGE is one the session DELE'd (or, before login ends, one of the
 * pending commit); \Seen only on retrieved messages; a bare EXPUNGE only
 * after UID SEARCH DELETED answered nothing but those UIDs; never CLOSE,
 * a sequence-number STORE, COPY or MOVE. And the client ends within a
 * bounded number of loop rounds once the server has reset the connection.
 *
 * FUZZ_IMAP_CLIENT_TRACE=1 in the environment prints the dialogue and the
 * callbacks to stderr, for writing seeds.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <uv.h>

#include "buf.h"
#include "fuzz_check.h"
#include "fuzz_imap_wire.h"
#include "fuzz_libetpan.h"
#include "imap_client.h"
#include "pop3_maildrop.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_OPTION_OCTETS	3
#define FZ_MAX_TURNS		256
#define FZ_MAX_LINES		1024	/* client lines remembered */
#define FZ_LINE_MAX		8192	/* a longer client line is a bug */
#define FZ_QUIET_ROUNDS		4	/* loop rounds without events */
#define FZ_MAX_ROUNDS		20000	/* one input, whole session */
#define FZ_END_ROUNDS		2000	/* after the reset, to closed() */
#define FZ_MAX_DELE		8

enum fz_stage {
	FZ_LOGIN,	/* login_done owed */
	FZ_FETCH1,	/* first fetch due, then running */
	FZ_FETCH2,
	FZ_COMMIT,	/* commit (or drop) due */
	FZ_DONE,
};

struct fz {
	uv_loop_t		 loop;
	uv_tcp_t		 listener;
	char			 port[8];
	unsigned int		 serial;	/* a user per input: tail cache */

	/* the server side */
	uv_tcp_t		 conn;
	bool			 conn_open;
	const uint8_t		*turn[FZ_MAX_TURNS];
	size_t			 turn_len[FZ_MAX_TURNS];
	unsigned int		 nturns, next_turn;
	uint32_t		 line_tag[FZ_MAX_LINES];	/* 0: untagged */
	unsigned int		 nlines, answered;
	uint32_t		 last_tag;
	char			 in[FZ_LINE_MAX];
	size_t			 inlen;
	struct buf		 out;
	unsigned long		 events;	/* progress of the loop */

	struct fz_wire		 wire;		/* the oracle on the wire */

	/* the session */
	uint8_t			 opt[FZ_OPTION_OCTETS];
	struct imap_client	*c;
	struct pop3_maildrop	 md;
	bool			 has_md;
	enum fz_stage		 stage;
	bool			 want_close, close_called, closed;
	bool			 login_reported, commit_called, commit_reported;
	unsigned int		 resumed;
	bool			 pending_asked;
	bool			 fetching, begun, top;
	uint32_t		 fetch_uid;
	uint64_t		 fetch_got;
	unsigned long		 backlog_calls;
	uint32_t		 pending[FZ_MAX_DELE];
	unsigned int		 npending;
	uint32_t		 marked[FZ_MAX_DELE];
	unsigned int		 nmarked;
	uint32_t		 retrieved[2];
	unsigned int		 nretrieved;
};

static struct fz	fz;
static bool		fz_trace;

#define FZ_TRACE(...)	do {						\
	if (fz_trace)							\
		fprintf(stderr, __VA_ARGS__);				\
} while (0)

/* The UIDs the client may flag \Deleted or expunge right now. */
static void
fz_allowed(const uint32_t **set, unsigned int *n)
{
	if (!fz.login_reported) {
		*set = fz.pending;
		*n = fz.npending;
	} else {
		*set = fz.marked;
		*n = fz.nmarked;
	}
}

/* The wire oracle with the sets of the moment. */
static void
fz_check_command(const char *cmd, uint32_t tag)
{
	const uint32_t	*set;
	unsigned int	 n;

	fz_allowed(&set, &n);
	fz_wire_command(&fz.wire, cmd, tag, set, n, fz.retrieved,
	    fz.nretrieved);
}

/* One line from the client: remembered for the turns, then checked. */
static void
fz_on_client_line(char *line)
{
	uint32_t	 tag = 0;
	char		*sp;

	fz.events++;
	FZ_TRACE("C: %s\n", line);
	sp = strchr(line, ' ');
	if (isdigit((unsigned char)line[0]) && sp != NULL &&
	    strspn(line, "0123456789") == (size_t)(sp - line)) {
		tag = (uint32_t)strtoul(line, NULL, 10);
		FUZZ_CHECK(tag != 0);
		fz_check_command(sp + 1, tag);
	}
	if (fz.nlines < FZ_MAX_LINES)
		fz.line_tag[fz.nlines++] = tag;
}

static void
fz_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	(void)h;
	(void)suggested;
	b->base = fz.in + fz.inlen;
	b->len = sizeof(fz.in) - fz.inlen;
}

static void
fz_conn_close_cb(uv_handle_t *h)
{
	(void)h;
	fz.conn_open = false;
	fz.events++;
}

/* got more octets from the client are in fz.in: take its whole lines. */
static void
fz_take(size_t got)
{
	char	*eol;

	fz.inlen += got;
	while ((eol = memchr(fz.in, '\n', fz.inlen)) != NULL) {
		size_t	n = (size_t)(eol - fz.in) + 1;

		*eol = '\0';
		if (eol > fz.in && eol[-1] == '\r')
			eol[-1] = '\0';
		fz_on_client_line(fz.in);
		memmove(fz.in, fz.in + n, fz.inlen - n);
		fz.inlen -= n;
	}
	/* Commands are short; one that fills the buffer is a client bug. */
	FUZZ_CHECK(fz.inlen < sizeof(fz.in));
}

static void
fz_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	(void)b;
	fz.events++;
	if (nread < 0) {
		uv_close((uv_handle_t *)s, fz_conn_close_cb);
		return;
	}
	fz_take((size_t)nread);
}

/* Reads now what the client has written so far, so that the lines it
 * sent before a callback are judged as of before it (the allowed set
 * changes at login_done). libuv then finds the socket empty. */
static void
fz_drain(void)
{
	uv_os_fd_t	fd;
	ssize_t		n;

	if (!fz.conn_open || uv_is_closing((uv_handle_t *)&fz.conn) ||
	    uv_fileno((uv_handle_t *)&fz.conn, &fd) != 0)
		return;
	while ((n = recv(fd, fz.in + fz.inlen, sizeof(fz.in) - fz.inlen,
	    MSG_DONTWAIT)) > 0)
		fz_take((size_t)n);
}

static void
fz_accept_cb(uv_stream_t *listener, int status)
{
	fz.events++;
	FUZZ_CHECK(status == 0 && !fz.conn_open);
	uv_tcp_init(&fz.loop, &fz.conn);
	fz.conn_open = true;
	FUZZ_CHECK(uv_accept(listener, (uv_stream_t *)&fz.conn) == 0);
	/* Without it a turn waits for the client's delayed ACK (40 ms). */
	uv_tcp_nodelay(&fz.conn, 1);
	uv_read_start((uv_stream_t *)&fz.conn, fz_alloc_cb, fz_read_cb);
}

struct fz_write {
	uv_write_t	req;
	char		data[];
};

static void
fz_write_cb(uv_write_t *req, int status)
{
	(void)status;	/* the client may have gone */
	free(req);
	fz.events++;
}

/* Writes turn k with '$' as the tag; what the socket does not take at
 * once follows in order through uv_write. */
static void
fz_send_turn(unsigned int k, uint32_t tag)
{
	const uint8_t	*t = fz.turn[k];
	struct fz_write	*w;
	uv_buf_t	 b;
	size_t		 i;
	int		 r;

	buf_reset(&fz.out);
	for (i = 0; i < fz.turn_len[k]; i++) {
		if (t[i] == '$')
			r = buf_appendf(&fz.out, "%u", tag);
		else
			r = buf_append(&fz.out, &t[i], 1);
		FUZZ_CHECK(r == 0);
	}
	fz.events++;
	FZ_TRACE("S: turn %u (%zu octets)\n%.*s", k, fz.out.len,
	    (int)fz.out.len, fz.out.data);
	if (fz.out.len == 0 || !fz.conn_open ||
	    uv_is_closing((uv_handle_t *)&fz.conn))
		return;
	fz_wire_scan(&fz.wire, fz.out.data, fz.out.len);
	b = uv_buf_init(fz.out.data, (unsigned int)fz.out.len);
	if (fz.conn.write_queue_size == 0) {
		r = uv_try_write((uv_stream_t *)&fz.conn, &b, 1);
		if (r < 0 && r != UV_EAGAIN)
			return;	/* the client has gone: EPIPE, ECONNRESET */
		if (r > 0) {
			b.base += r;
			b.len -= (size_t)r;
		}
	}
	if (b.len == 0)
		return;
	w = malloc(sizeof(*w) + b.len);
	FUZZ_CHECK(w != NULL);
	memcpy(w->data, b.base, b.len);
	b.base = w->data;
	if (uv_write(&w->req, (uv_stream_t *)&fz.conn, &b, 1, fz_write_cb) != 0)
		free(w);
}

/* Splits the input into turns at "%%\n" lines. */
static void
fz_split(const uint8_t *p, size_t len)
{
	size_t	start = 0, i;

	fz.nturns = 0;
	for (i = 0; i + 3 <= len && fz.nturns < FZ_MAX_TURNS - 1; i++) {
		if ((i == 0 || p[i - 1] == '\n') && memcmp(p + i, "%%\n",
		    3) == 0) {
			fz.turn[fz.nturns] = p + start;
			fz.turn_len[fz.nturns++] = i - start;
			start = i + 3;
			i += 2;
		}
	}
	fz.turn[fz.nturns] = p + start;
	fz.turn_len[fz.nturns++] = len - start;
}

/* ---- the POP3 side, as gateway/session/ drives it through backend.h ---- */

/* After imap_client_close() only closed() may come (and commit_done() for a
 * commit under way), and nothing after closed(). */
static void
fz_cb_entry(void)
{
	FUZZ_CHECK(!fz.closed && !fz.close_called);
	fz.events++;
}

static void
fz_login_done(void *arg, enum imap_result result, struct pop3_maildrop *md,
    const char *detail)
{
	(void)arg;
	fz_cb_entry();
	fz_drain();
	FUZZ_CHECK(!fz.login_reported && fz.stage == FZ_LOGIN);
	FUZZ_CHECK(detail != NULL);
	FUZZ_CHECK(fz.resumed <= 1);
	FZ_TRACE("login_done %s %s\n", imap_result_name(result), detail);
	fz.login_reported = true;
	if (result != IMAP_OK) {
		FUZZ_CHECK(md == NULL);
		fz.stage = FZ_DONE;
		fz.want_close = true;
		return;
	}
	FUZZ_CHECK(md != NULL && md->count <= POP3_MAILDROP_MAX_MESSAGES);
	fz.md = *md;
	pop3_maildrop_init(md, 0);
	pop3_maildrop_finish(&fz.md);
	fz.has_md = true;
	fz.stage = FZ_FETCH1;
}

static void
fz_lock(void *arg, const char *identity)
{
	(void)arg;
	fz_cb_entry();
	FUZZ_CHECK(identity != NULL && !fz.login_reported);
	imap_client_lock_done(fz.c, (fz.opt[2] & 0x10) ? IMAP_ERR_IN_USE :
	    IMAP_OK);
}

static void
fz_body_begin(void *arg)
{
	(void)arg;
	fz_cb_entry();
	FUZZ_CHECK(fz.fetching && !fz.begun);
	fz.begun = true;
}

static int
fz_body_data(void *arg, const char *data, size_t len)
{
	(void)arg;
	fz_cb_entry();
	FUZZ_CHECK(fz.fetching && fz.begun);
	FUZZ_CHECK(data != NULL || len == 0);
	fz.fetch_got += len;
	if (fz.top && fz.fetch_got > 0) {
		/* TOP has its lines: no body callback after this. */
		imap_client_fetch_stop(fz.c);
		fz.fetching = false;
		fz.stage++;
	}
	return 0;
}

static void
fz_body_end(void *arg, enum imap_result result, const char *detail)
{
	struct pop3_msg	*m;

	(void)arg;
	fz_cb_entry();
	FUZZ_CHECK(fz.fetching && detail != NULL);
	FZ_TRACE("body_end uid %u %s %s, %llu octets\n", fz.fetch_uid,
	    imap_result_name(result), detail,
	    (unsigned long long)fz.fetch_got);
	fz.fetching = false;
	if (result == IMAP_OK) {
		FUZZ_CHECK(fz.begun);
		m = pop3_maildrop_by_uid(&fz.md, fz.fetch_uid);
		FUZZ_CHECK(m != NULL);
		/* The gateway also checks the size; here any length goes. */
		m->flags |= POP3_MSG_RETRIEVED;
		if (!fz_in(fz.retrieved, fz.nretrieved, m->uid))
			fz.retrieved[fz.nretrieved++] = m->uid;
	} else if (fz.begun) {
		/* Cut short: the POP3 connection closes without the '.'. */
		fz.stage = FZ_DONE;
		fz.want_close = true;
		return;
	}
	fz.stage++;
}

static size_t
fz_backlog(void *arg)
{
	(void)arg;
	fz_cb_entry();
	if ((fz.opt[2] & 0x08) && fz.backlog_calls++ % 2 == 0)
		return 1u << 30;
	return 0;
}

static void
fz_expunged(void *arg, uint32_t uid)
{
	(void)arg;
	fz_cb_entry();
	FUZZ_CHECK(uid != 0 && fz.has_md);
	FZ_TRACE("expunged %u\n", uid);
	pop3_maildrop_mark_gone(&fz.md, uid);
}

static void
fz_commit_done(void *arg, enum imap_result result, const char *detail)
{
	(void)arg;
	/* The one callback that may follow imap_client_close(): a commit
	 * already under way runs to its end (RFC 1939 sec. 6). */
	FUZZ_CHECK(!fz.closed);
	fz.events++;
	FUZZ_CHECK(fz.commit_called && !fz.commit_reported && detail != NULL);
	FZ_TRACE("commit_done %s %s\n", imap_result_name(result), detail);
	fz.commit_reported = true;
	fz.stage = FZ_DONE;
}

static void
fz_lost(void *arg, const char *detail)
{
	(void)arg;
	fz_cb_entry();
	/* A running request reports through its own callback instead. */
	FUZZ_CHECK(fz.login_reported && detail != NULL && !fz.fetching);
	FZ_TRACE("lost %s\n", detail);
	FUZZ_CHECK(!fz.commit_called || fz.commit_reported);
	fz.want_close = true;
}

static void
fz_closed(void *arg, struct imap_client *c)
{
	(void)arg;
	FUZZ_CHECK(!fz.closed);
	FZ_TRACE("closed\n");
	fz.events++;
	FUZZ_CHECK(c == fz.c);
	/* Every request ended in its callback, unless we closed first. */
	FUZZ_CHECK(fz.login_reported);
	FUZZ_CHECK(!fz.fetching || fz.close_called);
	FUZZ_CHECK(!fz.commit_called || fz.commit_reported || fz.close_called);
	fz.closed = true;
}

static void
fz_body_dropped(void *arg, uint32_t uid, uint32_t got, const char *why)
{
	(void)arg;
	fz_cb_entry();
	FUZZ_CHECK(fz.fetching && uid == fz.fetch_uid && why != NULL);
	FZ_TRACE("body_dropped uid %u got %u: %s\n", uid, got, why);
}

static bool
fz_pending(void *arg, uint32_t *uidvalidity, uint32_t **uids, uint32_t *n)
{
	unsigned int	i;

	(void)arg;
	fz_cb_entry();
	FUZZ_CHECK(!fz.login_reported && !fz.pending_asked);
	fz.pending_asked = true;
	if (!(fz.opt[2] & 0x02) || fz.npending == 0)
		return false;
	*uids = calloc(fz.npending, sizeof(uint32_t));
	FUZZ_CHECK(*uids != NULL);
	for (i = 0; i < fz.npending; i++)
		(*uids)[i] = fz.pending[i];
	*n = fz.npending;
	*uidvalidity = fz.opt[2] & 0x04 ? 2 : 1;
	return true;
}

static void
fz_resumed(void *arg, enum imap_result result, uint32_t n,
    const char *detail)
{
	(void)arg;
	fz_cb_entry();
	FUZZ_CHECK(!fz.login_reported && detail != NULL);
	FZ_TRACE("resumed %s %u %s\n", imap_result_name(result), n, detail);
	FUZZ_CHECK(n == fz.npending && ++fz.resumed == 1);
}

static const struct imap_client_callbacks fz_callbacks = {
	.login_done = fz_login_done,
	.lock = fz_lock,
	.body_begin = fz_body_begin,
	.body_data = fz_body_data,
	.body_end = fz_body_end,
	.client_backlog = fz_backlog,
	.expunged = fz_expunged,
	.commit_done = fz_commit_done,
	.lost = fz_lost,
	.closed = fz_closed,
	.body_dropped = fz_body_dropped,
	.pending = fz_pending,
	.resumed = fz_resumed,
};

static void
fz_close(void)
{
	if (fz.close_called || fz.closed)
		return;
	fz.close_called = true;
	fz.stage = FZ_DONE;
	fz.fetching = false;
	imap_client_close(fz.c, fz.has_md ? &fz.md : NULL);
}

/* Starts fetch number idx of the snapshot, with the next one as the
 * fetch-ahead candidate, as session_start_retrieve() does. */
static void
fz_fetch(uint32_t idx, bool top)
{
	struct pop3_msg	*m, *next;

	m = pop3_maildrop_by_msn(&fz.md, idx + 1);
	if (m == NULL) {
		fz.stage = FZ_COMMIT;
		return;
	}
	next = pop3_maildrop_by_msn(&fz.md, idx + 2);
	fz.fetching = true;
	fz.begun = false;
	fz.top = top;
	fz.fetch_uid = m->uid;
	fz.fetch_got = 0;
	imap_client_fetch(fz.c, m->uid, m->size, top, 4096,
	    next != NULL ? next->uid : 0, next != NULL ? next->size : 0);
}

static void
fz_commit(void)
{
	unsigned int	i;

	/* DELE'd, then dropped without QUIT: nothing may be deleted. */
	for (i = 0; i < FZ_MAX_DELE && i < fz.md.count; i++) {
		if (!(fz.opt[1] & (1u << i)))
			continue;
		fz.md.msgs[i].flags |= POP3_MSG_MARKED;
		if (!(fz.opt[0] & 0x80))
			fz.marked[fz.nmarked++] = fz.md.msgs[i].uid;
	}
	if (fz.opt[0] & 0x80) {
		fz_close();
		return;
	}
	fz.commit_called = true;
	imap_client_commit(fz.c, &fz.md);
}

/* The next POP3 command, outside any client callback (as a command read
 * from the POP3 client would be). */
static void
fz_act(void)
{
	if (fz.closed)
		return;
	if (fz.want_close) {
		fz_close();
		return;
	}
	if (fz.stage == FZ_LOGIN || fz.stage == FZ_DONE ||
	    fz.commit_called || fz.fetching)
		return;
	if (!imap_client_is_ready(fz.c)) {
		fz_close();
		return;
	}
	switch (fz.stage) {
	case FZ_FETCH1:
		fz_fetch(0, (fz.opt[0] & 0x40) != 0);
		break;
	case FZ_FETCH2:
		fz_fetch(1, false);
		break;
	case FZ_COMMIT:
		fz_commit();
		break;
	default:
		break;
	}
}

/* ---- the driver ---- */

static void
fz_setup(void)
{
	struct sockaddr_in	sin;
	struct sockaddr_storage	ss;
	int			len = sizeof(ss);

	FUZZ_CHECK(uv_loop_init(&fz.loop) == 0);
	uv_tcp_init(&fz.loop, &fz.listener);
	uv_ip4_addr("127.0.0.1", 0, &sin);
	FUZZ_CHECK(uv_tcp_bind(&fz.listener, (struct sockaddr *)&sin, 0) == 0);
	FUZZ_CHECK(uv_listen((uv_stream_t *)&fz.listener, 8, fz_accept_cb) == 0);
	uv_tcp_getsockname(&fz.listener, (struct sockaddr *)&ss, &len);
	snprintf(fz.port, sizeof(fz.port), "%u",
	    ntohs(((struct sockaddr_in *)&ss)->sin_port));
	buf_init(&fz.out, 16 * 1024 * 1024);
	fz_trace = getenv("FUZZ_IMAP_CLIENT_TRACE") != NULL;
}

/* One round: loop, then a turn if one is owed. Returns true on progress. */
static bool
fz_round(unsigned int *quiet)
{
	unsigned long	before = fz.events;
	uint32_t	tag;

	uv_run(&fz.loop, UV_RUN_NOWAIT);
	if (!fz.closed && fz.stage != FZ_LOGIN && fz.fetching &&
	    (fz.opt[2] & 0x08))
		imap_client_resume(fz.c);	/* the POP3 side drained */
	fz_act();
	if (fz.conn_open && fz.next_turn == 0) {
		fz_send_turn(fz.next_turn++, 0);	/* the greeting */
	} else if (fz.conn_open && fz.next_turn < fz.nturns &&
	    fz.answered < fz.nlines) {
		tag = fz.line_tag[fz.answered++];
		if (tag != 0)
			fz.last_tag = tag;
		fz_send_turn(fz.next_turn++, fz.last_tag);
	} else if (fz.conn_open && fz.next_turn < fz.nturns &&
	    *quiet >= FZ_QUIET_ROUNDS) {
		fz_send_turn(fz.next_turn++, fz.last_tag);
	}
	if (fz.events != before) {
		*quiet = 0;
		return true;
	}
	(*quiet)++;
	return false;
}

static void
fz_reset_session(const uint8_t *data, size_t size)
{
	unsigned int	i;

	memset(&fz.conn, 0, sizeof(fz.conn));
	fz.conn_open = false;
	fz.next_turn = fz.nlines = fz.answered = 0;
	fz.last_tag = 0;
	fz.inlen = 0;
	memset(&fz.wire, 0, sizeof(fz.wire));
	memcpy(fz.opt, data, FZ_OPTION_OCTETS);
	fz_split(data + FZ_OPTION_OCTETS, size - FZ_OPTION_OCTETS);
	pop3_maildrop_init(&fz.md, 0);
	fz.has_md = false;
	fz.stage = FZ_LOGIN;
	fz.want_close = fz.close_called = fz.closed = false;
	fz.login_reported = fz.commit_called = fz.commit_reported = false;
	fz.resumed = fz.npending = fz.nmarked = fz.nretrieved = 0;
	fz.fetching = fz.begun = fz.top = fz.pending_asked = false;
	fz.backlog_calls = 0;
	for (i = 0; i < FZ_MAX_DELE; i++)
		if (fz.opt[1] & (1u << i))
			fz.pending[fz.npending++] = i + 1;
}

static void
fz_start(void)
{
	struct imap_client_config	cfg;
	static const unsigned int	chunks[] = { 16, 100, 4096, 262144 };
	static const unsigned int	windows[] = { 1, 2, 3, 8 };
	char				user[32];

	memset(&cfg, 0, sizeof(cfg));
	cfg.host = "127.0.0.1";
	cfg.port = fz.port;
	cfg.mailbox = "INBOX";
	/* No timer may fire within a run: these are never reached. */
	cfg.connect_timeout_ms = 600000;
	cfg.command_timeout_ms = 600000;
	cfg.chunk_octets = chunks[fz.opt[0] & 3];
	cfg.window = windows[(fz.opt[0] >> 2) & 3];
	cfg.fetch_ahead = (fz.opt[0] & 0x10) != 0;
	cfg.seen_on_retr = (fz.opt[0] & 0x20) != 0;
	cfg.tls_mode = IMAP_TLS_NONE;
	fz.c = imap_client_new(&fz.loop, &cfg, &fz_callbacks, NULL);
	FUZZ_CHECK(fz.c != NULL);
	/* A new mailbox identity each time, so that no tail learnt from an
	 * earlier input spares a probe: the same input, the same run. */
	snprintf(user, sizeof(user), "fuzz%u", ++fz.serial);
	if (fz.opt[2] & 0x01)
		imap_client_login_sasl(fz.c, "XOAUTH2", user,
		    (const unsigned char *)"token", 5);
	else
		imap_client_login(fz.c, user, "secret", 6);
}

/* The turns are used up and the client is quiet: the session ends as
 * the gateway ends it, then the server resets the connection. */
static void
fz_finish(void)
{
	unsigned int	quiet = 0, i;

	if (!fz.closed && fz.login_reported)
		fz_close();
	for (i = 0; i < FZ_END_ROUNDS && !fz.closed && quiet < 2 *
	    FZ_QUIET_ROUNDS; i++)
		fz_round(&quiet);
	if (fz.conn_open && !uv_is_closing((uv_handle_t *)&fz.conn))
		uv_tcp_close_reset(&fz.conn, fz_conn_close_cb);
	for (i = 0; i < FZ_END_ROUNDS && (!fz.closed || fz.conn_open); i++)
		fz_round(&quiet);
	/* A client that outlives its connection is stuck for good. */
	FUZZ_CHECK(fz.closed && !fz.conn_open);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int	rounds, quiet = 0;

	if (size < FZ_OPTION_OCTETS)
		return 0;
	if (fz.port[0] == '\0')
		fz_setup();
	fz_reset_session(data, size);
	fz_start();
	for (rounds = 0; rounds < FZ_MAX_ROUNDS && !fz.closed; rounds++) {
		fz_round(&quiet);
		if (fz.next_turn >= fz.nturns && quiet >= FZ_QUIET_ROUNDS)
			break;
		if (!fz.conn_open && fz.next_turn > 0 &&
		    quiet >= FZ_QUIET_ROUNDS)
			break;
	}
	fz_finish();
	pop3_maildrop_deinit(&fz.md);
	return 0;
}
