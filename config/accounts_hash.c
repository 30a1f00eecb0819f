/* SPDX-License-Identifier: MIT */
/*
 * accounts_hash.c - the shape of a password hash in the device accounts
 * file: which crypt(3) schemes popgate accepts, and why it refuses the
 * rest. Only the shape: whether this libxcrypt has the method, and the
 * checks against a secret, are gateway/auth/'s.
 */
#include "accounts.h"
#include "config_int.h"

#include <stdbool.h>
#include <string.h>

/* Checksum lengths in crypt's base-64 alphabet. */
#define ACCOUNTS_SUM_256	43	/* yescrypt, scrypt, sha256crypt */
#define ACCOUNTS_SUM_512	86	/* sha512crypt */
#define ACCOUNTS_BCRYPT_OCTETS	60

static bool
accounts_is_b64(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '/';
}

/* n octets at s, all of crypt's base-64 alphabet. */
static bool
accounts_all_b64(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!accounts_is_b64(s[i]))
			return false;
	return true;
}

/* "PARAMS$SALT$SUM" (yescrypt) or "SETTING$SUM" (scrypt) after the prefix:
 * nfields non-empty base-64 fields, the last one sumlen long. */
static bool
accounts_hash_fields(const char *s, unsigned int nfields, size_t sumlen)
{
	const char	*end;
	size_t		 n;

	for (; nfields > 1; nfields--) {
		if ((end = strchr(s, '$')) == NULL)
			return false;
		n = (size_t)(end - s);
		if (n == 0 || !accounts_all_b64(s, n))
			return false;
		s = end + 1;
	}
	n = strlen(s);
	return n == sumlen && accounts_all_b64(s, n);
}

/* sha-crypt after "$5$" or "$6$": ["rounds=N$"] SALT "$" SUM. */
static bool
accounts_hash_sha(const char *s, size_t sumlen)
{
	const char	*end;
	size_t		 n;

	if (strncmp(s, "rounds=", 7) == 0) {
		s += 7;
		n = strspn(s, "0123456789");
		if (n == 0 || n > 9 || s[0] == '0' || s[n] != '$')
			return false;
		s += n + 1;
	}
	if ((end = strchr(s, '$')) == NULL)
		return false;
	n = (size_t)(end - s);
	/* Longer salts are cut to 16 by crypt: refuse what cannot match. */
	if (n > 16 || !accounts_all_b64(s, n))
		return false;
	s = end + 1;
	n = strlen(s);
	return n == sumlen && accounts_all_b64(s, n);
}

/* "$2b$NN$" then 22 octets of salt and 31 of checksum. */
static bool
accounts_hash_bcrypt(const char *h)
{
	unsigned int	cost;

	if (strlen(h) != ACCOUNTS_BCRYPT_OCTETS)
		return false;
	if (h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' ||
	    h[6] != '$')
		return false;
	cost = (unsigned int)(h[4] - '0') * 10 + (unsigned int)(h[5] - '0');
	if (cost < 4 || cost > 31)
		return false;
	return accounts_all_b64(h + 7, ACCOUNTS_BCRYPT_OCTETS - 7);
}

bool
accounts_hash_is_strong(const char *hash)
{
	if (hash == NULL || strlen(hash) >= sizeof(((struct account *)0)->hash))
		return false;
	if (strncmp(hash, "$y$", 3) == 0)
		return accounts_hash_fields(hash + 3, 3, ACCOUNTS_SUM_256);
	if (strncmp(hash, "$gy$", 4) == 0)
		return accounts_hash_fields(hash + 4, 3, ACCOUNTS_SUM_256);
	if (strncmp(hash, "$7$", 3) == 0)
		/* N (1), r (5), p (5), then the salt. */
		return accounts_hash_fields(hash + 3, 2, ACCOUNTS_SUM_256) &&
		    strchr(hash + 3, '$') - (hash + 3) >= 11;
	if (strncmp(hash, "$2b$", 4) == 0 || strncmp(hash, "$2y$", 4) == 0 ||
	    strncmp(hash, "$2a$", 4) == 0)
		return accounts_hash_bcrypt(hash);
	if (strncmp(hash, "$6$", 3) == 0)
		return accounts_hash_sha(hash + 3, ACCOUNTS_SUM_512);
	if (strncmp(hash, "$5$", 3) == 0)
		return accounts_hash_sha(hash + 3, ACCOUNTS_SUM_256);
	return false;
}

const char *
accounts_hash_why(const char *hash, size_t len)
{
	if (len >= 3 && strncmp(hash, "$1$", 3) == 0)
		return "MD5 ($1$) hashes are too weak";
	if (len >= 3 && strncmp(hash, "$3$", 3) == 0)
		return "NT ($3$) hashes are too weak";
	if ((len == 13 && accounts_all_b64(hash, len)) ||
	    (len == 20 && hash[0] == '_' && accounts_all_b64(hash + 1, 19)))
		return "DES hashes are too weak";
	if (len >= 3 && (strncmp(hash, "$y$", 3) == 0 ||
	    strncmp(hash, "$7$", 3) == 0 || strncmp(hash, "$6$", 3) == 0 ||
	    strncmp(hash, "$5$", 3) == 0 ||
	    (len >= 4 && (strncmp(hash, "$gy$", 4) == 0 ||
	    strncmp(hash, "$2b$", 4) == 0 || strncmp(hash, "$2y$", 4) == 0 ||
	    strncmp(hash, "$2a$", 4) == 0))))
		return "malformed or truncated hash";
	return "not a hash of an accepted scheme (yescrypt, scrypt, bcrypt, "
	    "sha512crypt, sha256crypt), \"!\", \"*\" or \"-\"";
}
