/* SPDX-License-Identifier: MIT */
/*
 * addrlimit.h - per client address admission, shared by all workers: how
 * many sessions an address holds at once, and how many new connections it
 * may open per second, so one misbehaving device or one flooding host
 * cannot take the slots every other device needs.
 */
#ifndef POPGATE_ADDRLIMIT_H
#define POPGATE_ADDRLIMIT_H

#include <stdint.h>
#include <sys/socket.h>

/* Addresses tracked at once. An address that finds no slot is admitted
 * untracked (and logged by the caller): the table never refuses service
 * because it is full. */
#define ADDRLIMIT_SLOTS		16384

/* One table, shared by the workers it is handed to (struct shared). */
struct addrlimit;

/* NULL if memory ran out. */
struct addrlimit *addrlimit_new(void);
void	addrlimit_free(struct addrlimit *al);

enum addrlimit_result {
	ADDRLIMIT_OK,
	ADDRLIMIT_TOO_MANY,	/* max_sessions sessions already open */
	ADDRLIMIT_TOO_FAST,	/* over max_rate new connections per second */
	ADDRLIMIT_UNTRACKED,	/* admitted, but the table had no room */
};

/*
 * Admits a new session from addr at now_ms (monotonic). max_sessions 0 and
 * max_rate 0 mean no limit. On OK the caller must call addrlimit_release()
 * with the same address when the session ends; not on the other results.
 * The rate is a token bucket of max_rate tokens refilled at max_rate per
 * second, so a burst of max_rate connections is allowed at once.
 */
enum addrlimit_result addrlimit_acquire(struct addrlimit *al,
		    const struct sockaddr *addr, uint64_t now_ms,
		    unsigned int max_sessions, unsigned int max_rate);
void	addrlimit_release(struct addrlimit *al, const struct sockaddr *addr);
/* Sessions addr holds now (for tests and metrics). */
unsigned int addrlimit_active(struct addrlimit *al,
		    const struct sockaddr *addr);

#endif
