/* SPDX-License-Identifier: MIT */
/*
 * lock.h - one POP3 session per upstream mailbox within the process
 * (RFC 1939 sec. 4 exclusive maildrop; doc/imap-mapping.md sec. 14).
 * Shared by all worker threads behind one short mutex; never on the byte
 * path.
 */
#ifndef POPGATE_LOCK_H
#define POPGATE_LOCK_H

#include <stdbool.h>

/* Takes the lock named by identity. false if another session holds it (or
 * memory ran out). */
bool	lock_acquire(const char *identity);
/* Releases a lock taken with lock_acquire(). */
void	lock_release(const char *identity);

#endif
