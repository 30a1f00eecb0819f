/* SPDX-License-Identifier: MIT */
/*
 * lock.h - one POP3 session per upstream mailbox (RFC 1939 sec. 4
 * exclusive maildrop; doc/imap-mapping.md sec. 14), behind an interface
 * that lets the lock live elsewhere: in this process (lock_local_new()),
 * or in a store shared by several instances, which answers over the
 * network. The session code sees only this file.
 *
 * A request is asynchronous: lock_request() starts it and its done()
 * callback answers exactly once, unless lock_cancel() came first. It is
 * called on the thread that made the request, and may be called before
 * lock_request() returns: the in-process lock answers at once (a mutex
 * held for a lookup), and a caller must be ready for that. A lock that
 * answers over I/O does so later, from the caller's loop (req->loop).
 * Never on the byte path.
 */
#ifndef POPGATE_LOCK_H
#define POPGATE_LOCK_H

#include <stdbool.h>

enum lock_result {
	LOCK_GRANTED,
	LOCK_BUSY,		/* another session holds it */
	LOCK_ERROR,		/* could not be asked (memory, store down) */
};

enum lock_state {
	LOCK_IDLE,		/* neither asked nor held */
	LOCK_WAITING,		/* asked, no answer yet */
	LOCK_HELD,
};

/*
 * One request, owned by the caller and kept until the lock is released
 * (or the request cancelled, or refused): an implementation may keep its
 * own data in it (impl) while it waits or holds.
 */
struct lock_request {
	const char	*identity;	/* the caller's; outlives the request */
	void		(*done)(struct lock_request *, enum lock_result);
	void		*arg;		/* the caller's */
	void		*loop;		/* the caller's uv_loop_t */
	enum lock_state	 state;		/* kept by lock.c */
	void		*impl;		/* the implementation's */
};

struct lock;

/* What a lock implementation provides; called through the functions
 * below, never directly. request() answers with lock_answer(). */
struct lock_ops {
	void	(*request)(struct lock *, struct lock_request *);
	/* The answer is no longer wanted: done() must not be called, and a
	 * grant that comes anyway is released by the implementation. */
	void	(*cancel)(struct lock *, struct lock_request *);
	void	(*release)(struct lock *, struct lock_request *);
	void	(*free)(struct lock *);
};

/* The head of every implementation's own structure. */
struct lock {
	const struct lock_ops	*ops;
};

/* Asks for identity on behalf of req (zeroed before its first use), from
 * loop: done answers later or at once, as above. A request that holds or
 * waits already lets go of that first (lock_drop()). */
void	lock_request(struct lock *l, struct lock_request *req,
	    const char *identity, void *loop,
	    void (*done)(struct lock_request *, enum lock_result), void *arg);
/* Whatever req holds or waits for is let go: a held lock is released, a
 * waiting request cancelled (done() will not be called). Back to
 * LOCK_IDLE; nothing happens when it is idle. */
void	lock_drop(struct lock *l, struct lock_request *req);
/* For implementations: the answer to req (state follows it), then done();
 * ignored unless req is still waiting (it crossed a cancel). */
void	lock_answer(struct lock_request *req, enum lock_result result);
void	lock_free(struct lock *l);

/* The in-process lock: a hash of identities behind one mutex, shared by
 * every worker thread of this process. NULL if memory ran out. */
struct lock	*lock_local_new(void);

#endif
