/* SPDX-License-Identifier: MIT */
/*
 * auth.h - the secret checks of device accounts (config/accounts.h): a
 * password against its crypt(3) hash, the dummy check that makes an
 * unknown or locked name cost as much as a real one, the APOP digest, and
 * new hashes for "account add". config/ parses and holds the accounts;
 * this library is where libxcrypt and OpenSSL see their secrets.
 *
 * Everything here is thread-safe and keeps no state: workers call it on
 * libuv's thread pool.
 */
#ifndef POPGATE_AUTH_H
#define POPGATE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "accounts.h"

/*
 * crypt_rn() of secret against a->hash, compared in constant time.
 * CPU-heavy (tens of ms for yescrypt): callers run it off the event loop.
 * False for an empty hash, "!" or "*" (after the cost of a dummy check, so
 * a locked account answers as slowly as any other), and for a secret with
 * a NUL octet in it. Its 32 KiB of crypt state is on the heap.
 */
bool	auth_check_secret(const struct account *a, const char *secret,
	    size_t len);
/* Same cost as a real check against a default-cost yescrypt hash, and
 * always false: used for unknown names so the answer takes as long. */
void	auth_check_dummy(const char *secret, size_t len);
/*
 * APOP (RFC 1939 sec. 7): digest_hex is exactly 32 hex digits (either
 * case); true if it equals MD5(timestamp || a->apop), compared in constant
 * time. False when the account has no APOP secret, or when MD5 is not
 * available (an OpenSSL FIPS configuration).
 */
bool	auth_check_apop(const struct account *a, const char *timestamp,
	    const char *digest_hex);
/*
 * True if this libxcrypt has hash's method enabled (sha256crypt counts as
 * legacy there, and is fine; a build may disable methods). The shape is
 * accounts_hash_is_strong()'s.
 */
bool	auth_hash_known(const char *hash);
/* Records "ORIGIN:LINE: password hash: ..." for each account of a whose
 * hash has a method this libxcrypt does not have: no password would ever
 * match it. */
void	auth_check_hashes(const struct accounts *a, const char *origin,
	    struct config_errors *errs);
/*
 * A new yescrypt hash (default cost, salt from the system's random source)
 * of secret (len octets, no NUL, not empty) into out. Returns 0, -EINVAL,
 * -ERANGE (outlen too small; 128 is plenty) or -errno from libxcrypt.
 */
int	auth_hash_new(const char *secret, size_t len, char *out,
	    size_t outlen);

#endif
