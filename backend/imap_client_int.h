/* SPDX-License-Identifier: MIT */
/*
 * imap_client_int.h - internals shared by the files of the upstream IMAP
 * client: imap_client.c (life, writer, teardown), imap_connect.c (set-up,
 * reads), imap_dispatch.c (responses to their commands), imap_tls.c (the
 * TLS transport), imap_login.c (greeting, STARTTLS, login, SELECT,
 * snapshot), imap_fetch.c (message bodies) and imap_commit.c (QUIT). Not
 * for use outside backend/.
 */
#ifndef POPGATE_IMAP_CLIENT_INT_H
#define POPGATE_IMAP_CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <libetpan/libetpan.h>
#include <uv.h>

#include "buf.h"
#include "imap_client.h"
#include "imap_frame.h"
#include "pop3_maildrop.h"
#include "stream.h"

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
/* Messages tracked in the seq -> uid map (4 octets each): the server's
 * EXISTS count is not trusted to size memory. The snapshot holds fewer. */
#define IMAP_MAX_EXISTS		(4u * POP3_MAILDROP_MAX_MESSAGES)
/* Fetch-ahead: both messages at most this big; one is kept per session. */
#define IMAP_FETCH_AHEAD_MAX_OCTETS	(64 * 1024)
/* Idle upstream: NOOP before NATs and load balancers cut it (4-5 min). */
#define IMAP_KEEPALIVE_MS	(4 * 60 * 1000)
/* After LOGOUT, wait this long for the server's answer before closing. */
#define IMAP_LOGOUT_WAIT_MS	5000
/* Longest user name or password carried upstream. */
#define IMAP_MAX_CREDENTIAL	1024
/* RFC 4422 sec. 3.1: a SASL mechanism name is 1 to 20 characters. */
#define IMAP_SASL_MECH_MAX	20
/* TLS: decrypted bytes held between the channel and the framer: two full
 * records. More stays inside the channel (tls_channel_pending) until the
 * framer took these; a full 64 KiB read takes a few rounds. */
#define IMAP_TLS_PLAIN_OCTETS	(32 * 1024)
/* TLS: ciphertext queued for the socket. Room for the whole command queue
 * once sealed, plus the headroom that handshake messages, alerts and key
 * updates produced while reading need (the channel fails rather than
 * split a record, so commands are sealed only while the headroom stays). */
#define IMAP_TLS_HEADROOM_OCTETS	(32 * 1024)
#define IMAP_TLS_QUEUED_OCTETS	(IMAP_MAX_QUEUED_OCTETS + \
				 2 * IMAP_TLS_HEADROOM_OCTETS)

enum imap_phase {
	IMAP_PHASE_IDLE,
	IMAP_PHASE_RESOLVING,
	IMAP_PHASE_CONNECTING,
	IMAP_PHASE_GREETING,
	IMAP_PHASE_STARTTLS,		/* STARTTLS sent, or its handshake */
	IMAP_PHASE_LOGIN,		/* CAPABILITY, LOGIN/AUTHENTICATE */
	IMAP_PHASE_LOCK,		/* logged in, waiting for the lock */
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
	IMAP_CMD_STARTTLS,
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
	uint32_t		ahead_uid;	/* CHUNK: fetched along, or 0 */
};

struct imap_fetch {
	uint32_t	id;		/* transfer counter, stale chunks differ */
	uint32_t	uid;
	uint64_t	size;		/* snapshot size */
	uint64_t	next_offset;	/* next chunk to request */
	uint64_t	received;	/* contiguous octets received */
	uint64_t	chunk;		/* current chunk size */
	size_t		low_water;
	unsigned int	inflight;
	unsigned int	window;
	bool		active;		/* callbacks still owed to the session */
	bool		begun;
	bool		eof;
	bool		is_top;
	bool		waiting;	/* held back by client backlog */
	/* The body literal of the FETCH response being parsed (its octets in
	 * imap_client.fetch_pend): it counts only once the whole response
	 * shows the UID (imap_fetch.c). */
	const void	*pend_section;	/* libetpan's, of the literal in hand */
	uint64_t	 pend_origin;
	unsigned int	 pend_count;	/* body items in this response */
	bool		 pend_plain;	/* BODY[] (no section part) */
	bool		 pend_direct;	/* passed on as parsed: UID came first */
	bool		 pend_first;	/* the literal's first piece is next */
	bool		 foreign;	/* dropped data for something else */
	bool		 broken;	/* delivery failed; fail the client */
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
	bool		 resume;	/* finishing a cut commit at login */
	bool		 after_close;	/* runs on after imap_client_close() */
	bool		 failed;
	const char	*detail;
};

struct tls_channel;

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
	struct addrinfo		*addrs;		/* from uv_getaddrinfo */
	struct addrinfo		*numeric_addr;	/* built for an IP host */
	struct addrinfo		*addr_next;
	unsigned int		 pending_reqs;	/* resolver/connect */
	unsigned int		 open_handles;
	bool			 tcp_open;
	bool			 read_eof;
	bool			 in_dispatch;
	bool			 close_requested;
	bool			 closed_reported;
	bool			 resolving;
	bool			 probe_only;	/* imap_client_probe() */

	/* TLS transport (imap_tls.c); tls is NULL on a cleartext link. */
	struct tls_channel	*tls;
	bool			 tls_up;	/* handshake completed */
	char			*tls_rbuf;	/* ciphertext read buffer */
	struct buf		 tls_plain;	/* decrypted, not yet framed */

	struct buf		 wq;		/* commands not yet handed to libuv */
	struct stream		 wr;	/* writes wq, sealed under TLS */
	struct imap_frame	 frame;

	mailimap		*imap;
	mailstream		*stream;

	char			 user[IMAP_MAX_CREDENTIAL + 1];
	char			*password;
	size_t			 password_len;
	/* SASL relay (imap_client_login_sasl): the client's message, wiped
	 * once sent; sasl_sent then says an error challenge may follow. */
	bool			 sasl;
	bool			 sasl_sent;
	bool			 sasl_challenged;
	char			 sasl_mech[IMAP_SASL_MECH_MAX + 1];
	unsigned char		*sasl_msg;
	size_t			 sasl_len;
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
	uint64_t		 t_start;	/* uv_hrtime() at start, login sent, */
	uint64_t		 t_login;	/* fetch asked (metrics timing) */
	uint64_t		 t_fetch;
	enum imap_fail_class	 fail_class;	/* set by imap_client_fail_as() */
	bool			 fail_class_set;
	uint32_t		*seq_uid;	/* seq - 1 -> uid, whole mailbox */
	uint32_t		 nseq;
	uint32_t		 seq_cap;
	bool			 read_only;
	bool			 has_uidplus;
	bool			 select_sent;	/* SELECT pipelined behind LOGIN */
	bool			 login_caps;	/* LOGIN's OK listed them */

	struct imap_fetch	 fetch;
	struct buf		 fetch_pend;	/* see imap_fetch.pend_origin */
	uint32_t		 fetch_seq;
	unsigned int		 stale_chunks;	/* chunks of an ended transfer */
	uint32_t		 stash_uid;	/* message fetched ahead, or 0 */
	char			*stash;
	size_t			 stash_len;
	struct imap_commit	 commit;
	const char		*fail_detail;	/* errno text of a network error */
	const char		*snapshot_error;
	char			 detail_buf[400];
};

/* imap_client.c: the writer, the command table and response helpers. */
/* Reports how long a stage took since t0 (uv_hrtime() nanoseconds). */
void	imap_client_timed(struct imap_client *c, enum imap_stage stage,
	    uint64_t t0);
void	imap_client_flush(struct imap_client *c);
void	imap_client_arm_timer(struct imap_client *c);
void	imap_timer_cb(uv_timer_t *t);
/* Starts a command: queues its tag and text, records it as in flight. */
struct imap_cmd *imap_client_command(struct imap_client *c,
	    enum imap_cmd_kind kind, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Ends the client on an error: one callback for the request in progress,
 * then teardown (deferred while responses are being dispatched). */
void	imap_client_fail(struct imap_client *c, enum imap_result result,
	    const char *detail);
/* The same, for a site that knows the class of the failure (metrics);
 * imap_client_fail() infers it from the connection's state. */
void	imap_client_fail_as(struct imap_client *c, enum imap_fail_class why,
	    enum imap_result result, const char *detail);
bool	imap_has_cap(struct imap_client *c, const char *name);
/* The tagged status of a parsed response (MAILIMAP_RESP_COND_STATE_*). */
int	imap_resp_status(struct mailimap_response *resp);
const struct mailimap_resp_text_code *imap_resp_code(
	    struct mailimap_response *resp);
/* RFC 5530 response code of the last NO -> result class. */
enum imap_result imap_no_result(struct imap_client *c,
	    enum imap_result fallback);
bool	imap_seq_grow(struct imap_client *c, uint32_t count);

/* imap_dispatch.c: hands every complete response to its command. */
void	imap_client_dispatch(struct imap_client *c);
/* imap_client.c: idempotent; closes the handles, then reports closed()
 * once everything is quiet, and frees the client. */
void	imap_client_teardown(struct imap_client *c);

/* imap_tls.c: the TLS transport between the socket and the framer. */
/* Creates the channel and queues the ClientHello. false: the client
 * failed (login_done reported). */
bool	imap_tls_begin(struct imap_client *c);
/* Ciphertext from the socket: decrypt, frame, dispatch. */
void	imap_tls_on_read(struct imap_client *c, const char *data, size_t len);
/* A TLS failure (error: the channel's): always temporary. */
void	imap_tls_fail(struct imap_client *c, int error);
void	imap_tls_free(struct imap_client *c);
/* True while a TLS handshake has started and not completed. */
bool	imap_tls_handshaking(const struct imap_client *c);

/* imap_login.c: greeting, STARTTLS, authentication, SELECT, snapshot. */
void	imap_client_wipe_password(struct imap_client *c);
void	imap_client_on_greeting(struct imap_client *c);
/* The capability list is known (greeting code or CAPABILITY): STARTTLS,
 * or the probe's end, or the login. */
void	imap_client_caps_ready(struct imap_client *c);
void	imap_client_on_starttls(struct imap_client *c,
	    struct mailimap_response *resp);
/* The handshake after STARTTLS completed: read the capabilities again. */
void	imap_client_on_tls_up(struct imap_client *c);
void	imap_client_send_login(struct imap_client *c);
void	imap_client_on_continuation(struct imap_client *c);
void	imap_client_on_login(struct imap_client *c,
	    struct mailimap_response *resp);
void	imap_client_on_select(struct imap_client *c,
	    struct mailimap_response *resp);
void	imap_client_on_snapshot(struct imap_client *c,
	    struct mailimap_response *resp);
void	imap_client_collect_fetch(struct imap_client *c, bool probe);
void	imap_client_probe_next(struct imap_client *c);

/* imap_fetch.c: message bodies. */
void	imap_client_on_chunk(struct imap_client *c, struct imap_cmd *cmd,
	    struct mailimap_response *resp);

/* imap_commit.c: QUIT, \Seen and LOGOUT. */
bool	imap_commit_prepare(struct imap_client *c,
	    const struct pop3_maildrop *md);
unsigned int imap_client_set_commands(struct imap_client *c,
	    enum imap_cmd_kind kind, const char *prefix, const uint32_t *uids,
	    uint32_t n, const char *suffix);
void	imap_client_commit_step(struct imap_client *c);
/* imap_commit.c: after SELECT, expunges the deletions a cut commit left
 * (uids: malloc'd, ascending, taken over); then the snapshot starts. */
void	imap_client_resume_commit(struct imap_client *c, uint32_t *uids,
	    uint32_t n);
/* imap_login.c: lists the mailbox again from UID 1 (after a resume). */
void	imap_client_snapshot_restart(struct imap_client *c);
void	imap_client_on_commit_reply(struct imap_client *c,
	    struct imap_cmd *cmd, struct mailimap_response *resp);
void	imap_client_send_logout(struct imap_client *c);

#endif
