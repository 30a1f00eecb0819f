/* SPDX-License-Identifier: MIT */
/*
 * store_int.h - between the store's front (store.c: requests, batches,
 * limits, statistics) and its engines (store_sqlite.c). Not for callers.
 *
 * A request is one struct store_req for its whole life; a read or a write
 * gives it to its engine once per batch. The engine runs req->op and hands
 * the request back with store_req_answer() on the client's loop, or, if
 * the request was cancelled meanwhile, drops it with store_req_drop()
 * from wherever it is.
 */
#ifndef POPGATE_STORE_INT_H
#define POPGATE_STORE_INT_H

#include <pthread.h>
#include <sys/queue.h>

#include "store.h"

enum store_op {
	STORE_OP_PING,
	STORE_OP_GET,		/* fills mb */
	STORE_OP_READ,		/* fills recs[0..n) after the cursor */
	STORE_OP_BEGIN,		/* a write's checks; a replace's staging */
	STORE_OP_PUT,		/* writes recs[0..n) as mode says */
	STORE_OP_COMMIT,	/* a replace's end: the new record goes live */
	STORE_OP_ABORT,		/* a replace given up: drop what was put */
	STORE_OP_FORGET,
};

struct store_req {
	TAILQ_ENTRY(store_req)	 entry;		/* engine's lists */
	struct store		*store;
	struct store_client	*client;	/* may go before an orphan */
	enum store_op		 op;
	enum store_result	 result;	/* the engine's answer */
	enum store_result	 failure;	/* a replace's, over its abort */
	int			 engine_state;	/* the engine's own */
	bool			 at_engine;	/* submitted, not answered */
	bool			 in_cb;		/* in batch_cb or fill_cb */
	bool			 cancelled;
	bool			 orphan;	/* the engine must drop it */
	uint64_t		 sent_ns;

	char			 upstream[STORE_KEY_MAX_OCTETS + 1];
	char			 identity[STORE_KEY_MAX_OCTETS + 1];
	char			 mailbox[STORE_KEY_MAX_OCTETS + 1];
	uint32_t		 uidvalidity;
	enum store_order	 order;
	enum store_write_mode	 mode;
	/* A read's place: the last record given (none at first), and the
	 * generation the read started on. A replace's staged generation. */
	bool			 have_cursor;
	uint32_t		 cursor_uid;
	uint8_t			 cursor_fp[STORE_FINGERPRINT_OCTETS];
	int64_t			 gen;

	struct store_record	*recs;		/* STORE_BATCH_MAX, or NULL */
	size_t			 n;
	struct store_mailbox	 mb;
	char			 detail[STORE_MAX_DETAIL];

	store_get_cb		*get_cb;
	store_batch_cb		*batch_cb;
	store_fill_cb		*fill_cb;
	store_done_cb		*done_cb;
	void			*arg;
};

struct store_ops {
	/* Starts the engine of s (s->engine). */
	int		(*start)(struct store *s, char *err, size_t errlen);
	/* Ends or answers (STORE_CANCELLED) what is queued, waits for what
	 * runs, closes the database. */
	void		(*stop)(struct store *s);
	/* Frees the engine, once the store and its last client are gone. */
	void		(*destroy)(struct store *s);
	/* A client on loop, its first member the front's struct. */
	struct store_client *(*client_new)(struct store *s, uv_loop_t *loop);
	/* Drops the client's requests without answers; its memory goes
	 * later, with store_client_gone(). */
	void		(*client_close)(struct store_client *c);
	/* Takes req; false if the engine is stopping (no answer comes). */
	bool		(*submit)(struct store_req *req);
	/* Takes req back: true if it was not running (the front frees it);
	 * false marks it orphan, for the engine to drop. */
	bool		(*cancel)(struct store_req *req);
};

/* An engine with a blocking library: store_thread_ops runs it on a
 * thread of its own. */
struct store_blocking {
	/* Its state for s (nothing opened yet); *stopping turns true when
	 * the store closes, and a long wait should then end. */
	void	*(*new)(struct store *s, const bool *stopping, char *err,
		    size_t errlen);
	/* Runs req->op, setting req->result (and req->detail). */
	void	 (*run)(void *db, struct store_req *req);
	/* Closes and frees, on the thread at its end (or NULL). */
	void	 (*free)(void *db);
};

struct store {
	const struct store_ops	*ops;
	const struct store_blocking *blocking;	/* or NULL */
	void			*engine;
	char			 directory[4096];
	unsigned int		 max_requests;
	unsigned int		 busy_timeout_ms;

	pthread_mutex_t		 lock;		/* the fields below */
	unsigned int		 clients;
	bool			 closed;
	struct store_stats	 stats;
};

struct store_client {
	struct store		*store;
	uv_loop_t		*loop;
	bool			 closing;	/* no more callbacks */
};

extern const struct store_ops		store_thread_ops;
extern const struct store_blocking	store_sqlite_blocking;

/* On the client's loop: the engine's answer to req. */
void	store_req_answer(struct store_req *req);
/* From any thread: frees a cancelled request without an answer. */
void	store_req_drop(struct store_req *req);
/* From the loop: a client's memory is gone; the store's may go too. */
void	store_client_gone(struct store *s);

#endif
