/* SPDX-License-Identifier: MIT */
/*
 * store.h - the persistent maildrop store: what popgate remembers of a
 * mailbox between sessions and restarts (issue 11). Per mailbox (upstream,
 * identity, mailbox name) it keeps the UIDVALIDITY and, per UID, the exact
 * POP3 size, whether the message ends in a line break, a fingerprint of
 * its header block and the UIDL to serve.
 *
 * Asynchronous and loop-friendly: every call is a request whose answer
 * comes back as a callback on the loop of the client it was made through;
 * no call blocks a loop. Two kinds of engine fit behind struct store_ops:
 * one that runs a blocking library on its own thread and posts the
 * answers back (SQLite, store_sqlite.c), and one that drives an
 * asynchronous protocol on each client's loop (PostgreSQL's libpq with a
 * uv_poll_t on PQsocket(): its client would own a connection).
 *
 * Bounded: a mailbox's records travel in batches of at most
 * STORE_BATCH_MAX, one batch per request, pulled by the caller's callbacks
 * (store_read(), store_write()), so a session holds one batch whatever the
 * size of the mailbox; a store takes at most max_requests requests at a
 * time and refuses more at once (STORE_BUSY).
 *
 * Never a wrong answer: a read that fails midway ends with an error
 * result, and the caller must drop what it was given. Records are kept per
 * UIDVALIDITY: a write under another UIDVALIDITY than the stored one is
 * refused (STORE_CHANGED); only store_write(STORE_WRITE_REPLACE) moves a
 * mailbox to a new one, and it does so atomically at its end.
 *
 * Threads: store_new()/store_close() on one thread (main); a client is made,
 * used and closed on its loop's thread; callbacks run there.
 * store_get_stats() may be called from any thread.
 */
#ifndef POPGATE_STORE_H
#define POPGATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "pop3_uidl.h"

/* A fingerprint: the first 16 octets of a SHA-256 (computed by the
 * caller; the store compares octets only). 128 bits keep a chance
 * collision out of reach in any mailbox while a 256K-message re-match
 * table stays at 4 MiB of fingerprints. */
#define STORE_FINGERPRINT_OCTETS	16
/* Records per batch: one batch is about 110 KiB. */
#define STORE_BATCH_MAX			1024
/* Upstream name, identity, mailbox name: octets each, without the NUL. */
#define STORE_KEY_MAX_OCTETS		512
/* Requests a store takes at once (queued, running or being answered). */
#define STORE_DEFAULT_MAX_REQUESTS	256
#define STORE_MAX_REQUESTS		65536
/* How long a write waits for another process's lock on the database. */
#define STORE_DEFAULT_BUSY_TIMEOUT_MS	5000
/* A failed open is tried again by a later request, at most this often. */
#define STORE_REOPEN_INTERVAL_MS	1000
/* Why the last request failed, for the caller's log line. */
#define STORE_MAX_DETAIL		160

/* For a session, every result but OK and NOT_FOUND means -ERR
 * [SYS/TEMP], a log line with store_result_name() and the stats'
 * last_error, and dropping whatever a read gave before it. */
enum store_result {
	STORE_OK = 0,
	STORE_PENDING,		/* accepted: the callback will come */
	STORE_NOT_FOUND,	/* no record of this mailbox */
	STORE_CHANGED,		/* stored UIDVALIDITY is not the one given, or
				 * the record changed under a read */
	STORE_BUSY,		/* too many requests: try later */
	STORE_FAILED,		/* the engine failed (I/O, read-only, lost) */
	STORE_SCHEMA,		/* a database newer than this popgate */
	STORE_CANCELLED,	/* closed, or the caller gave up */
	STORE_INVALID,		/* bad argument: a key or batch too long */
};

/* Which mailbox: names as the configuration and the upstream give them. */
struct store_key {
	const char	*upstream;	/* [upstream NAME] */
	const char	*identity;	/* the upstream login */
	const char	*mailbox;	/* e.g. INBOX */
};

struct store_record {
	uint32_t	uid;
	bool		ends_eol;	/* message ends in a line break */
	uint64_t	size;		/* exact POP3 size */
	uint8_t		fingerprint[STORE_FINGERPRINT_OCTETS];
	/* The UIDL to serve; "" means the template's. Not interpreted. */
	char		uidl[POP3_UIDL_MAX_OCTETS + 1];
};

/* What store_get() tells of a mailbox. */
struct store_mailbox {
	uint32_t	uidvalidity;
	uint64_t	records;
};

enum store_order {
	STORE_ORDER_UID,		/* ascending UID */
	STORE_ORDER_FINGERPRINT,	/* fingerprint octets, then UID */
};

enum store_write_mode {
	/* Adds records, or replaces those of the same UID, under the
	 * stored UIDVALIDITY (a mailbox not yet stored takes the one given).
	 * Each batch lands whole; a failure keeps the earlier batches. */
	STORE_WRITE_UPSERT,
	/* Builds the whole record under a new UIDVALIDITY aside; at the end
	 * it takes the place of the old one in one step. A failure, or a
	 * cancel, leaves the old record as it was. */
	STORE_WRITE_REPLACE,
	/* Drops the records of the UIDs given (their other fields are not
	 * read), under the stored UIDVALIDITY. */
	STORE_WRITE_REMOVE,
};

struct store_stats {
	uint64_t	requests;	/* answered, batches counted each */
	uint64_t	failed;		/* FAILED or SCHEMA */
	uint64_t	busy;		/* refused: too many requests */
	uint64_t	cancelled;
	uint64_t	latency_us_sum;	/* request to answer, on the loop */
	uint64_t	latency_us_max;
	/* Latency histogram: <1 ms, <10 ms, <100 ms, <1 s, more. */
	uint64_t	latency_le[5];
	unsigned int	in_flight;
	char		last_error[STORE_MAX_DETAIL];
};

struct store_settings {
	const char	*engine;		/* "sqlite" */
	const char	*directory;		/* state_directory */
	unsigned int	 max_requests;		/* 0: the default */
	unsigned int	 busy_timeout_ms;	/* 0: the default */
};

struct store;
struct store_client;
struct store_req;

/* A mailbox's UIDVALIDITY and record count, or STORE_NOT_FOUND. */
typedef void	store_get_cb(void *arg, enum store_result r,
		    const struct store_mailbox *mb);
/* n > 0 records of a read, in order; false stops the read (it then ends
 * with STORE_CANCELLED). The array is the store's until the return. */
typedef bool	store_batch_cb(void *arg, const struct store_record *recs,
		    size_t n);
/* Fills recs[0..max) with the next records to write, returning how many;
 * 0 ends the write, -1 gives it up (STORE_CANCELLED; a replace then
 * leaves the old record). */
typedef long	store_fill_cb(void *arg, struct store_record *recs,
		    size_t max);
/* The end of a request. */
typedef void	store_done_cb(void *arg, enum store_result r);

/* Starts a store of settings->engine; its database opens on the first
 * request (and again after a failure, at most every
 * STORE_REOPEN_INTERVAL_MS). NULL, with err, if the engine is unknown or
 * cannot start. */
struct store	*store_new(const struct store_settings *settings, char *err,
		    size_t errlen);
/* Stops taking requests; those not yet run end with STORE_CANCELLED on
 * their loops; waits for the one running (bounded by the busy timeout);
 * closes the database. The memory goes with the last client. */
void		 store_close(struct store *s);
void		 store_get_stats(struct store *s, struct store_stats *st);
const char	*store_result_name(enum store_result r);

/* One client per loop that uses the store. Closing it ends its requests
 * without their callbacks: their owners are going away too. */
struct store_client *store_client_new(struct store *s, uv_loop_t *loop);
void		 store_client_close(struct store_client *c);

/*
 * The requests. Each returns STORE_PENDING and sets *reqp (may be NULL)
 * when the callback will come; any other result means it will not (BUSY
 * at once when the store is full, INVALID for a bad key, CANCELLED once
 * closed). *reqp stays valid until the final callback starts, and may be
 * given to store_cancel() until then.
 */
/* Tries to open the database: STORE_OK, FAILED or SCHEMA. */
enum store_result store_ping(struct store_client *c, store_done_cb *cb,
		    void *arg, struct store_req **reqp);
enum store_result store_get(struct store_client *c,
		    const struct store_key *key, store_get_cb *cb, void *arg,
		    struct store_req **reqp);
/* Streams the records stored under uidvalidity, in order, through
 * batch_cb, then done_cb. STORE_CHANGED if the record is under another
 * UIDVALIDITY, or was replaced or forgotten during the read. */
enum store_result store_read(struct store_client *c,
		    const struct store_key *key, uint32_t uidvalidity,
		    enum store_order order, store_batch_cb *batch_cb,
		    store_done_cb *done_cb, void *arg, struct store_req **reqp);
/* Writes what fill_cb gives, in batches, as mode says, then done_cb. */
enum store_result store_write(struct store_client *c,
		    const struct store_key *key, uint32_t uidvalidity,
		    enum store_write_mode mode, store_fill_cb *fill_cb,
		    store_done_cb *done_cb, void *arg, struct store_req **reqp);
/* Drops a mailbox's record (STORE_OK even if there was none). */
enum store_result store_forget(struct store_client *c,
		    const struct store_key *key, store_done_cb *cb, void *arg,
		    struct store_req **reqp);
/* No callback of req will come after this; on its client's loop. A
 * replace cancelled leaves the old record live (its staged rows go with
 * the next replace or forget of the mailbox). */
void		 store_cancel(struct store_req *req);

#endif
