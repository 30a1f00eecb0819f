/* SPDX-License-Identifier: MIT */
/*
 * backend.h - the maildrop a POP3 session reads, whatever holds it. The
 * session, the capability probe and the admin commands see only this: a
 * struct backend made for one upstream, driven on their libuv loop, never
 * blocking. Each kind of upstream fills one slot of struct backend_ops
 * (backend_impl.h); the IMAP client is the first (imap_backend.c).
 *
 * A backend connects and logs in, builds the snapshot (the POP3 maildrop),
 * streams message bodies while the POP3 side keeps up, and at QUIT applies
 * the client's deletions as the deletion policy says. Every request ends in
 * exactly one callback. After backend_close() none fires but closed() (and
 * commit_done() for a commit already under way), after which the backend
 * frees itself. A failed request or a lost connection also ends in
 * closed(), without backend_close(): the owner closes the backend from the
 * failure's callback, or forgets it at closed(). Body data is handed over
 * where it lies, never copied here.
 */
#ifndef POPGATE_BACKEND_H
#define POPGATE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "pop3_maildrop.h"

/* Outcome classes; the session maps them to POP3 response codes. */
enum backend_result {
	BACKEND_OK,
	BACKEND_ERR_AUTH,	/* the upstream rejected the credentials */
	BACKEND_ERR_TEMP,	/* unreachable, timeout, protocol trouble */
	BACKEND_ERR_PERM,	/* needs an administrator (config, server) */
	BACKEND_ERR_IN_USE,	/* mailbox locked by another session */
	BACKEND_ERR_GONE,	/* message removed by another client */
	BACKEND_RESULT_COUNT,
};

/* Stages timed for metrics. */
enum backend_stage {
	BACKEND_STAGE_CONNECT,	  /* start to greeting: DNS, TCP, TLS */
	BACKEND_STAGE_LOGIN,	  /* credentials sent to their answer */
	BACKEND_STAGE_FIRST_BYTE, /* fetch asked to the first body octet */
};

/* Why an upstream connection failed, for metrics. */
enum backend_fail_class {
	BACKEND_FAIL_CONNECT,	/* name lookup, TCP connect */
	BACKEND_FAIL_TLS,	/* handshake, certificate, TLS error */
	BACKEND_FAIL_TIMEOUT,	/* connect or command timeout */
	BACKEND_FAIL_PROTOCOL,	/* rejected commands, garbage, limits */
	BACKEND_FAIL_CLOSED,	/* the server closed, read/write error */
};

/* The kinds of upstream; backend_new() picks the ops by it. */
enum backend_kind {
	BACKEND_IMAP,
};

/* Transport to the upstream (doc/imap-mapping.md sec. 2). */
enum backend_tls {
	BACKEND_TLS_NONE,	/* cleartext */
	BACKEND_TLS_IMPLICIT,	/* TLS right after the TCP connect */
	BACKEND_TLS_STARTTLS,	/* upgraded in the protocol, strictly */
};

struct tls_profile;

/* One upstream, as the gateway's configuration describes it. Strings are
 * borrowed and outlive the backend. */
struct backend_config {
	enum backend_kind	 kind;
	const char		*host;
	const char		*port;
	const char		*mailbox;	/* the folder POP3 sees */
	unsigned int		 connect_timeout_ms;
	unsigned int		 command_timeout_ms;
	unsigned int		 chunk_octets;	/* one partial fetch */
	unsigned int		 window;	/* partial fetches in flight */
	bool			 seen_on_retr;	/* QUIT flags what RETR read */
	bool			 fetch_ahead;	/* next small message along */
	enum backend_tls	 tls;
	/* Client TLS profile made on the caller's thread; required unless
	 * tls is BACKEND_TLS_NONE. */
	struct tls_profile	*tls_profile;
	const char		*tls_server_name;	/* NULL: host */
};

/*
 * What QUIT does with the messages the client deleted. One mode today;
 * keeping them, moving them to a folder or removing them after some days
 * are further modes here, each backend's commit op switching on it.
 */
enum backend_delete_mode {
	BACKEND_DELETE_EXPUNGE,	/* flag and expunge exactly those */
};

struct backend_policy {
	enum backend_delete_mode mode;
};

struct backend;

struct backend_callbacks {
	/* Login and snapshot finished. On BACKEND_OK md holds the snapshot
	 * (the callee takes its contents). detail is for the log only. */
	void	(*login_done)(void *arg, enum backend_result result,
		    struct pop3_maildrop *md, const char *detail);
	/* Asked once the credentials were accepted: may this session hold
	 * the mailbox named identity (borrowed, valid until the answer)? The
	 * answer is backend_lock_done(), from within this call or later;
	 * until then no upstream answer is acted on. NULL: always. */
	void	(*lock)(void *arg, const char *identity);
	/* A message: begin once it exists, data as it comes (pointing into
	 * the backend's input, valid for the call), end once. An end that is
	 * not BACKEND_OK after begin means the data was cut short. data
	 * returns 0, or a negative errno to abort the transfer. */
	void	(*body_begin)(void *arg);
	int	(*body_data)(void *arg, const char *data, size_t len);
	void	(*body_end)(void *arg, enum backend_result result,
		    const char *detail);
	/* Octets queued towards the POP3 client: body data is asked for only
	 * while this is below the fetch's low-water mark. */
	size_t	(*client_backlog)(void *arg);
	/* Another client removed this message. */
	void	(*expunged)(void *arg, uint32_t uid);
	/* QUIT's deletions are done (or not); may come after backend_close()
	 * for a commit under way. */
	void	(*commit_done)(void *arg, enum backend_result result,
		    const char *detail);
	/* The connection failed while no request was running. */
	void	(*lost)(void *arg, const char *detail);
	/* The backend is finished and frees itself when this returns; once,
	 * always from a libuv callback. */
	void	(*closed)(void *arg, struct backend *b);
	/* Optional, metrics: how long a stage took, in microseconds. */
	void	(*timing)(void *arg, enum backend_stage stage, uint64_t usec);
	/* Optional, metrics: why the connection failed (not for refused
	 * credentials nor a locked mailbox). */
	void	(*failed)(void *arg, enum backend_fail_class why);
	/* Optional, log and metrics: body data for another message (got; 0:
	 * unnamed) or another part while uid was fetched was dropped. */
	void	(*body_dropped)(void *arg, uint32_t uid, uint32_t got,
		    const char *why);
	/* Optional: the SASL mechanisms the upstream takes, as
	 * (1u << enum sasl_mech), each time they are read over a channel
	 * trusted with them, before login. Must not close the backend. */
	void	(*caps)(void *arg, unsigned int mechs);
	/* Optional: deletions a cut commit left in this mailbox, asked once
	 * it is open. true hands over a malloc'd list of n ascending UIDs
	 * recorded under *uidvalidity, removed before the snapshot. */
	bool	(*pending)(void *arg, uint32_t *uidvalidity, uint32_t **uids,
		    uint32_t *n);
	/* How that went: OK all gone; TEMP some remain (the login goes on);
	 * PERM the UIDVALIDITY changed and nothing was touched. */
	void	(*resumed)(void *arg, enum backend_result result, uint32_t n,
		    const char *detail);
};

/* An idle backend of config->kind; NULL on allocation failure. */
struct backend *backend_new(uv_loop_t *loop,
	    const struct backend_config *config,
	    const struct backend_callbacks *cb, void *arg);
/* Connects, authenticates and builds the snapshot; ends in login_done().
 * The password is copied and wiped once sent. */
void	backend_login(struct backend *b, const char *user,
	    const char *password, size_t password_len);
/* The same with the client's SASL message for mech, relayed as that
 * mechanism (msg is copied and wiped once sent). */
void	backend_login_sasl(struct backend *b, const char *mech,
	    const char *user, const unsigned char *msg, size_t len);
/* Connects, reads the capabilities (caps()), leaves; ends in login_done()
 * without a snapshot. */
void	backend_probe(struct backend *b);
/* True while a fetch or a commit can start. */
bool	backend_is_ready(const struct backend *b);
/* The mailbox is read-only: a commit cannot delete anything. */
bool	backend_is_read_only(const struct backend *b);
/* The answer to the lock() callback: BACKEND_OK the lock is held and the
 * login goes on; BACKEND_ERR_IN_USE another session holds it;
 * BACKEND_ERR_TEMP the lock could not be asked. An error ends the login in
 * login_done() with that result. Ignored once the backend is closing. */
void	backend_lock_done(struct backend *b, enum backend_result result);
/* TLS version and cipher for the log, borrowed while b lives; false when
 * the connection is not (yet) TLS. */
bool	backend_tls_info(const struct backend *b, const char **version,
	    const char **cipher);
/* Streams message uid of the given snapshot size (body_*()). TOP (is_top)
 * starts small and is ended by backend_fetch_stop(). ahead_uid/ahead_size:
 * the message likely asked next (0: none), which may ride along. Callbacks
 * may fire before this returns. */
void	backend_fetch(struct backend *b, uint32_t uid, uint64_t size,
	    bool is_top, size_t low_water, uint32_t ahead_uid,
	    uint64_t ahead_size);
/* The POP3 side drained below the low-water mark: fetch on if waiting. */
void	backend_resume(struct backend *b);
/* TOP has enough: no more body callbacks for this fetch. */
void	backend_fetch_stop(struct backend *b);
/* QUIT: remove the MARKED messages of md as policy says, flag what was
 * RETRIEVED, then leave. Ends in commit_done(). */
void	backend_commit(struct backend *b, const struct pop3_maildrop *md,
	    const struct backend_policy *policy);
/* The session ends without QUIT: nothing is removed (md, if not NULL, may
 * still flag what was retrieved). Then closed(). Also ends a backend whose
 * request failed. */
void	backend_close(struct backend *b, const struct pop3_maildrop *md);
/* After backend_close(): cut a commit still running (forced shutdown; its
 * deletions stay for the next login). Then closed(). */
void	backend_abort(struct backend *b);
const char *backend_result_name(enum backend_result result);

#endif
