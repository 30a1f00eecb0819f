/* SPDX-License-Identifier: MIT */
/*
 * authfail.h - failed logins per client address, shared by all workers:
 * each failure makes the next -ERR from that address wait longer, so a
 * password guesser gets a few tries a minute instead of thousands.
 */
#ifndef POPGATE_AUTHFAIL_H
#define POPGATE_AUTHFAIL_H

#include <stdint.h>
#include <sys/socket.h>

/* Addresses remembered at once: a fixed table, oldest entry replaced, so
 * a flood from many addresses costs no memory. */
#define AUTHFAIL_SLOTS		4096
/* A failure is forgotten after this long without another one. */
#define AUTHFAIL_FORGET_MS	(15 * 60 * 1000)

/* One table, shared by the workers it is handed to (struct shared). */
struct authfail;

/* NULL if memory ran out. */
struct authfail	*authfail_new(void);
void		 authfail_free(struct authfail *af);

/*
 * Records a failed login from addr at now_ms (a monotonic clock) and
 * returns how long to delay its reply: base_ms for the first failure in
 * the window, doubled per failure since, at most max_ms.
 */
unsigned int	authfail_record(struct authfail *af,
		    const struct sockaddr *addr, uint64_t now_ms,
		    unsigned int base_ms, unsigned int max_ms);
/* A successful login from addr clears its count. */
void		authfail_clear(struct authfail *af,
		    const struct sockaddr *addr);

#endif
