/* SPDX-License-Identifier: MIT */
/*
 * session_int.h - internals shared by the parts of a POP3 session:
 * session.c (lifecycle, steps, accept, admission and PROXY), session_io.c
 * (the byte path: socket input and output, TLS, the authentication policy
 * that depends on it), session_login.c (who logs in, where, and the
 * outcome), session_maildrop.c (RETR, TOP and QUIT on the backend) and
 * session_timer.c (deadlines, idle, drain). Not for other modules.
 */
#ifndef POPGATE_SESSION_INT_H
#define POPGATE_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "backend.h"
#include "buf.h"
#include "config.h"
#include "lock.h"
#include "metrics.h"
#include "pop3_body.h"
#include "pop3_line.h"
#include "pop3_session.h"
#include "sasl.h"
#include "session.h"
#include "stream.h"

struct tls_channel;
struct tls_profile;

/* Pending client input: stop reading past this (pipelined commands wait in
 * the kernel's buffer instead of ours). Above the longest AUTH line, so a
 * line in progress never waits for a read that is paused. */
#define SESSION_IN_PAUSE_OCTETS		(32 * 1024)
#define SESSION_IN_MAX_OCTETS		(128 * 1024)
/* Ask the upstream for more body data only below this much unsent output. */
#define SESSION_OUT_LOW_WATER_OCTETS	(256 * 1024)
/* Stop running pipelined commands above this much unsent output. */
#define SESSION_OUT_HIGH_WATER_OCTETS	(1024 * 1024)
/* Hard cap on queued output: high water + a window of chunks, doubled by
 * the worst case of LF -> CRLF and dot-stuffing. */
#define SESSION_OUT_MAX_OCTETS		(24 * 1024 * 1024)
#define SESSION_READ_OCTETS		(64 * 1024)
/* Ciphertext queued for the socket: the plaintext cap plus TLS record
 * overhead (< 1 % at 16 KiB records) and the handshake. */
#define SESSION_TLS_OUT_MAX_OCTETS	(SESSION_OUT_MAX_OCTETS + \
					 SESSION_OUT_MAX_OCTETS / 32 + 65536)
/* Time allowed for a client's TLS handshake, and for a load balancer's
 * PROXY header (never past the login deadline). Deadlines: fixed when the
 * wait begins, not moved by input. */
#define SESSION_TLS_HANDSHAKE_MS	(30 * 1000)
#define SESSION_GREETING		"popgate ready."

struct worker_gen;

struct session {
	struct worker		*worker;
	/* the configuration the session started with, held until it and its
	 * upstream clients are gone: a reload does not change it */
	struct worker_gen	*gen;
	const struct config	*config;
	struct session		*prev, *next;
	uv_tcp_t		 tcp;
	uv_timer_t		 timer;		/* idle / login autologout */
	/* failed-login reply delay; before it, the wait for a token that
	 * replaces one the upstream refused (session_login.c) */
	uv_timer_t		 delay;
	uv_idle_t		 kick;		/* resume input after a step */
	unsigned int		 open_handles;
	unsigned int		 backend_alive;	/* backends not yet closed() */
	char			 id[24];
	char			 peer[80];
	char			 user[72];	/* log-safe copy */
	char			 lock_identity[1600];
	const struct config_listener *listener;
	struct tls_profile	*tls_profile;	/* the listener's, or NULL */
	struct tls_channel	*tls;		/* NULL while plaintext */
	/* the writer of out (and of TLS records) to tcp */
	struct stream		 stream;
	struct sockaddr_storage	 peer_addr;
	bool			 peer_trusted;	/* in trusted_networks */
	bool			 addr_counted;	/* holds an addrlimit slot */
	bool			 proxy_pending;	/* waiting for the PROXY header */
	uint32_t		 dele_committed;	/* QUIT expunged them */
	char			 via[80];	/* the load balancer, or "" */
	bool			 tls_ready;	/* handshake done and logged */
	bool			 plaintext_logged;
	enum metrics_method	 method;	/* of the login in progress */
	/* failed login waiting out its delay */
	enum backend_result	 delayed_result;
	struct lock_request	 lock;		/* the mailbox's (lock.h) */
	bool			 closing;
	bool			 close_after_flush;
	bool			 draining;	/* shutdown: close when idle */
	bool			 step_pending;
	bool			 reading;
	bool			 upstream_lost;
	bool			 body_begun;
	bool			 committing;	/* QUIT's commit under way */
	struct backend		*late_commit;	/* it, after the client left */
	uint64_t		 body_size;	/* what LIST announced (RETR) */
	const char		*end_reason;
	struct buf		 in;
	struct buf		 out;
	uint64_t		 stall_bytes_out; /* at the last timer check */
	int			 stall_in_kernel; /* -1: no output was pending */
	char			*readbuf;
	struct pop3_line_reader	 lines;
	struct pop3_session	 pop3;
	struct pop3_body	 body;
	struct backend		*backend;
	/* the login's upstream (NULL before), and for a device account the
	 * account (borrowed from gen), its token wait and checks in flight */
	const struct config_upstream *upstream;
	const struct account	*account;
	struct oauth2_wait	*oauth;
	unsigned int		 work_alive;	/* uv_queue_work in flight */
	bool			 device;
	/* the upstream refused the login's first token: a new one went up */
	bool			 token_retried;
	char			 token_refused_fp[9];	/* the refused one */
	char			 upstream_user[72];	/* log-safe copy */
	char			 apop_ts[96];	/* greeting timestamp, or "" */
	uint64_t		 bytes_in;
	uint64_t		 login_octets;	/* command input before login */
	uint64_t		 bytes_out;
	uint64_t		 start_ms;	/* accept: the login deadline's base */
	uint64_t		 tls_start_ms;	/* the handshake deadline's base */
};

struct account;
struct oauth2_wait;

/* session_login.c */
/* Runs a login step: logs it, then takes it local or upstream. */
void	session_login_start(struct session *s, const struct pop3_step *step);
void	session_login_cleanup(struct session *s);
/* The backend's login_done() and caps() callbacks. */
void	session_on_login(void *arg, enum backend_result result,
	    struct pop3_maildrop *md, const char *detail);
void	session_login_caps(void *arg, unsigned int mechs);
/* A login failed (locally or upstream): metrics, log, delay, reply. */
void	session_login_failed(struct session *s, enum backend_result result,
	    const char *detail);

/* session_maildrop.c */
const struct backend_callbacks *session_backend_callbacks(void);
enum pop3_resp_code session_resp_code(enum backend_result r);
/* RETR/TOP and QUIT steps, as backend requests. */
void	session_start_retrieve(struct session *s, const struct pop3_step *step);
void	session_start_commit(struct session *s);

/* session_timer.c */
void	session_arm_timer(struct session *s);
void	session_check_drain(struct session *s);

/* session.c */
void	session_kick(struct session *s);
size_t	session_backlog(const struct session *s);
bool	session_input_waiting(const struct session *s);
void	session_handle_step(struct session *s, const struct pop3_step *step);
/* A step's upstream work is done: flush, run what waits, re-arm. */
void	session_step_done(struct session *s);
void	session_free_if_unused(struct session *s);
/* The backend's lock() callback, and its end. */
void	session_on_lock(void *arg, const char *identity);
void	session_release_lock(struct session *s);

/* Index of the session's listener in the config (metrics labels). */
unsigned int session_listener_index(const struct session *s);

/* session_io.c */
/* Sets up the writer of s->out on s->tcp, with the output watermarks. */
void	session_stream_init(struct session *s);
/* Writes queued output (through TLS when active); closes after the last
 * reply when close_after_flush is set. */
void	session_flush(struct session *s);
/* Output left the process: resume the upstream and pending input. */
void	session_after_write(struct session *s);
/* Reads while there is room for input, pauses otherwise. */
void	session_update_reading(struct session *s);
/* Runs every complete command line that is waiting. */
void	session_process_input(struct session *s);
void	session_kick_cb(uv_idle_t *h);
/* What may authenticate now, from the listener, the peer and TLS. */
void	session_update_policy(struct session *s);
/* Ciphertext from the socket (NULL, 0: what TLS held back). */
void	session_tls_input(struct session *s, const char *data, size_t len);
/* session.c: bytes before the PROXY header is complete. */
void	session_proxy_input(struct session *s);
/* Server-side TLS from now on; false (closing) when it cannot start. */
bool	session_start_tls(struct session *s);

#endif
