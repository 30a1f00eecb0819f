/* SPDX-License-Identifier: MIT */
/*
 * shared.h - the state every worker of one instance shares, built by main
 * and handed to each worker (worker_init()); the session code reaches it
 * only through worker->shared, never through a process global, so a test
 * or a second instance can hand in its own. Each table guards itself
 * (DESIGN.md sec. 4); this structure only names them.
 */
#ifndef POPGATE_SHARED_H
#define POPGATE_SHARED_H

struct addrlimit;
struct authfail;
struct config;
struct lock;
struct metrics;
struct oauth2_mgr;
struct pending;
struct upstream_caps;

struct shared {
	struct lock		*lock;		/* the mailbox lock (lock.h) */
	struct pending		*pending;	/* cut commits to finish */
	struct authfail		*authfail;	/* failed-login delays */
	struct addrlimit	*addrlimit;	/* per-address admission */
	struct upstream_caps	*caps;		/* SASL mechanisms per upstream */
	struct oauth2_mgr	*oauth2;	/* main's token manager, or NULL */
	struct metrics		*metrics;	/* the counters (metrics.h) */
};

/* Builds the in-process tables and lock, and the counters with c's
 * listener names for labels (oauth2 is left NULL for the caller to set).
 * Returns 0, or -ENOMEM with nothing left allocated. */
int	shared_init(struct shared *sh, const struct config *c);
/* Frees what shared_init() built, once no worker runs. */
void	shared_deinit(struct shared *sh);

#endif
