/* SPDX-License-Identifier: MIT */
/*
 * imap_client.h - one upstream IMAP connection for one POP3 session, driven
 * on the session's libuv loop without ever blocking. No libetpan types here.
 *
 * The client connects at login time, authenticates, selects the maildrop
 * folder and builds the snapshot; then it streams message bodies with
 * pipelined partial fetches and, at QUIT, commits deletions with
 * UID STORE +FLAGS.SILENT (\Deleted) and UID EXPUNGE of exactly those UIDs.
 * Every request ends in exactly one callback. After imap_client_close() no
 * callback fires except closed(), after which the client frees itself.
 */
#ifndef POPGATE_IMAP_CLIENT_H
#define POPGATE_IMAP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "pop3_maildrop.h"

/* Outcome classes; the gateway maps them to POP3 response codes. */
enum imap_result {
	IMAP_OK,
	IMAP_ERR_AUTH,		/* the server rejected the credentials */
	IMAP_ERR_TEMP,		/* unreachable, timeout, BYE, protocol trouble */
	IMAP_ERR_PERM,		/* needs an administrator (config, server) */
	IMAP_ERR_IN_USE,	/* mailbox locked by another session */
	IMAP_ERR_GONE,		/* message expunged by another client */
	IMAP_RESULT_COUNT,
};

struct imap_client;

/* Stages timed for metrics. */
enum imap_stage {
	IMAP_STAGE_CONNECT,	/* start to greeting: DNS, TCP, implicit TLS */
	IMAP_STAGE_LOGIN,	/* LOGIN/AUTHENTICATE sent to its answer */
	IMAP_STAGE_FIRST_BYTE,	/* fetch asked to the first body octet */
};

/* Why an upstream connection failed, for metrics. */
enum imap_fail_class {
	IMAP_FAIL_CONNECT,	/* name lookup, TCP connect */
	IMAP_FAIL_TLS,		/* handshake, certificate, TLS error */
	IMAP_FAIL_TIMEOUT,	/* connect or command timeout */
	IMAP_FAIL_PROTOCOL,	/* BAD, BYE, garbage, limits */
	IMAP_FAIL_CLOSED,	/* the server closed, read/write error */
};
struct tls_profile;

/* Upstream transport (doc/imap-mapping.md sec. 2). */
enum imap_tls_mode {
	IMAP_TLS_NONE,		/* imap://: cleartext */
	IMAP_TLS_IMPLICIT,	/* imaps://: TLS right after the TCP connect */
	IMAP_TLS_STARTTLS,	/* imap+starttls://: strict, never cleartext */
};

struct imap_client_config {
	const char	*host;		/* borrowed; outlives the client */
	const char	*port;
	const char	*mailbox;
	unsigned int	 connect_timeout_ms;
	unsigned int	 command_timeout_ms;
	unsigned int	 chunk_octets;	/* partial fetch size */
	unsigned int	 window;	/* partial fetches in flight */
	bool		 seen_on_retr;
	bool		 fetch_ahead;	/* fetch the next small message along */
	enum imap_tls_mode	 tls_mode;
	/* Client profile made by the gateway on this thread (verification,
	 * CA file, TLS 1.2 minimum, client certificate); borrowed, outlives
	 * the client. Required unless tls_mode is IMAP_TLS_NONE. */
	struct tls_profile	*tls_profile;
	/* SNI and the name the certificate must match; NULL: host. */
	const char		*tls_server_name;
};

struct imap_client_callbacks {
	/* Login + SELECT + snapshot finished. On IMAP_OK md holds the snapshot
	 * (the callee takes its contents). detail: for the log, never for the
	 * client. */
	void	(*login_done)(void *arg, enum imap_result result,
		    struct pop3_maildrop *md, const char *detail);
	/* Asked right after authentication: may the session lock this
	 * mailbox? identity is "user@host:port/mailbox" (borrowed, valid
	 * until the answer). The answer is imap_client_lock_done(), from
	 * within this call or later; until then no upstream answer is
	 * acted on. NULL: no lock. */
	void	(*lock)(void *arg, const char *identity);
	/* Message data: begin once (the message exists), data many times,
	 * end once. body_end with a non-OK result after body_begin means the
	 * data was cut short: the POP3 connection must be closed without the
	 * terminator. */
	void	(*body_begin)(void *arg);
	/* Returns 0, or a negative errno to abort the transfer. */
	int	(*body_data)(void *arg, const char *data, size_t len);
	void	(*body_end)(void *arg, enum imap_result result,
		    const char *detail);
	/* Bytes queued towards the POP3 client: chunks are requested only while
	 * this is below the low-water mark given to imap_client_fetch(). */
	size_t	(*client_backlog)(void *arg);
	/* Someone else expunged this message (untagged EXPUNGE). */
	void	(*expunged)(void *arg, uint32_t uid);
	/* Also after imap_client_close() for a commit already under way:
	 * the one callback besides closed() that may come then. */
	void	(*commit_done)(void *arg, enum imap_result result,
		    const char *detail);
	/* The upstream connection failed while no request was running. */
	void	(*lost)(void *arg, const char *detail);
	/* Every handle is closed; the client frees itself when this returns.
	 * Fires exactly once per client, always from a libuv callback. */
	void	(*closed)(void *arg, struct imap_client *c);
	/* Optional, for metrics: how long a stage took, in microseconds. */
	void	(*timing)(void *arg, enum imap_stage stage, uint64_t usec);
	/* Optional, for metrics: the connection failed for this reason (not
	 * called for a NO to the credentials or a locked mailbox). */
	void	(*failed)(void *arg, enum imap_fail_class why);
	/* Optional, for the log and metrics: body data that came for
	 * another UID (got; 0 when the response had none) or another section
	 * while uid was being fetched was dropped. */
	void	(*body_dropped)(void *arg, uint32_t uid, uint32_t got,
		    const char *why);
	/* Optional: the SASL mechanisms of this client's upstream, as
	 * (1u << enum sasl_mech), each time a capability list is read over
	 * a trusted channel (TLS, or any with imap://) before login (login
	 * and probe alike). XOAUTH2 and OAUTHBEARER come from AUTH=...;
	 * PLAIN and LOGIN mean it takes a password at all (LOGIN without
	 * LOGINDISABLED, or AUTH=PLAIN). Must not close the client. */
	void	(*caps)(void *arg, unsigned int mechs);
	/* Optional: deletions a cut commit left unfinished in this mailbox,
	 * asked once SELECT has answered. true hands over a malloc'd list
	 * of n ascending UIDs recorded under *uidvalidity; the client then
	 * expunges those (and only those) before it lists the mailbox. */
	bool	(*pending)(void *arg, uint32_t *uidvalidity, uint32_t **uids,
		    uint32_t *n);
	/* How that went: IMAP_OK all n are gone; IMAP_ERR_TEMP some remain
	 * (the login goes on); IMAP_ERR_PERM the UIDVALIDITY changed, so the
	 * record no longer names these messages and nothing was touched. */
	void	(*resumed)(void *arg, enum imap_result result, uint32_t n,
		    const char *detail);
};

/* Creates an idle client. Returns NULL on allocation failure. */
struct imap_client *imap_client_new(uv_loop_t *loop,
	    const struct imap_client_config *config,
	    const struct imap_client_callbacks *cb, void *arg);
/* True while the client can take a fetch or a commit (logged in, no
 * transfer running, connection alive). */
bool	imap_client_is_ready(const struct imap_client *c);
/* Connects, authenticates, selects and snapshots. The password is copied
 * and wiped as soon as it has been sent. Ends in login_done(). */
void	imap_client_login(struct imap_client *c, const char *user,
	    const char *password, size_t password_len);
/* Relays a client's SASL exchange as the same mechanism: AUTHENTICATE mech
 * with the decoded client message msg/len (base64-encoded here), as SASL-IR
 * when the upstream has it, else after the "+" continuation. user names the
 * lock identity and the logs. The upstream must announce AUTH=mech, else
 * login_done(IMAP_ERR_AUTH). An error challenge ("+ <base64 JSON>" after
 * our response) is answered as the mechanism wants (XOAUTH2: an empty line;
 * OAUTHBEARER: ^A) and the NO that follows gives IMAP_ERR_AUTH. msg is
 * copied (at most SASL_MAX_TOKEN_OCTETS) and wiped once sent. Ends in
 * login_done() like imap_client_login(). */
void	imap_client_login_sasl(struct imap_client *c, const char *mech,
	    const char *user, const unsigned char *msg, size_t len);
/* Connects (with TLS as configured), reads the capabilities (greeting code
 * or CAPABILITY; with STARTTLS those read after the handshake), sends
 * LOGOUT and ends in login_done(IMAP_OK or an error, NULL, detail). The
 * gateway uses it at start to learn each upstream's SASL mechanisms
 * (the caps() callback). */
void	imap_client_probe(struct imap_client *c);
/* After the TLS handshake: protocol version and cipher for the logs
 * (borrowed, valid while the client lives); false if the connection is
 * not TLS, or not yet. */
bool	imap_client_tls_info(const struct imap_client *c, const char **version,
	    const char **cipher);
/* Streams message uid (size: the snapshot size). For TOP (is_top) the
 * first windows are small and one at a time; the caller ends the transfer
 * with imap_client_fetch_stop() once it has enough. ahead_uid/ahead_size
 * name the message a client usually asks for next (0: none): when both are
 * small it rides along in the same command and is kept for one request.
 * Callbacks may fire before this returns (a message kept from before). */
void	imap_client_fetch(struct imap_client *c, uint32_t uid, uint64_t size,
	    bool is_top, size_t low_water, uint32_t ahead_uid,
	    uint64_t ahead_size);
/* The answer to the lock() callback: IMAP_OK the lock is held and the
 * login goes on; IMAP_ERR_IN_USE another session holds it; IMAP_ERR_TEMP
 * the lock could not be asked. Either error ends the login in login_done()
 * with that result. Ignored once the client is closing. */
void	imap_client_lock_done(struct imap_client *c, enum imap_result result);
/* The POP3 side drained below its low-water mark: fetch more if waiting. */
void	imap_client_resume(struct imap_client *c);
/* TOP has all it needs: end the transfer. No further body callback fires
 * for it; outstanding chunks are drained and dropped. */
void	imap_client_fetch_stop(struct imap_client *c);
/* QUIT: \Deleted + UID EXPUNGE of the MARKED messages, \Seen of the
 * RETRIEVED ones, verify, LOGOUT. Ends in commit_done(). */
void	imap_client_commit(struct imap_client *c, const struct pop3_maildrop *md);
/* Session ends without QUIT: optional \Seen store, LOGOUT, close. Nothing
 * is deleted. Then closed(). md may be NULL. Also ends a client whose
 * request failed (it is already closing then). */
void	imap_client_close(struct imap_client *c, const struct pop3_maildrop *md);
/* After imap_client_close(): end a commit still running now, at a forced
 * shutdown (its deletions stay for the next login). Then closed(). */
void	imap_client_abort(struct imap_client *c);
/* The mailbox was selected read-only: a commit cannot delete anything. */
bool	imap_client_is_read_only(const struct imap_client *c);
const char *imap_result_name(enum imap_result result);

#endif
