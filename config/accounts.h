/* SPDX-License-Identifier: MIT */
/*
 * accounts.h - device accounts: password-only devices (printers, scanners)
 * log in with a local secret, and the gateway logs in upstream with a
 * different credential. One account per line of a small text file:
 *
 *	# comment lines and blank lines are ignored
 *	# NAME  HASH  key=value ...
 *	printer-3f  $y$j9T$...$...  upstream=m365 user=scans@example.com
 *	    token=scans networks=10.1.0.0/16,127.0.0.1 apop=s3cr%20et
 *
 * (one line in the file). Fields are separated by runs of spaces and tabs;
 * a comment is a line whose first non-blank octet is '#'. Outside comments
 * a line holds printable ASCII only: anything else in a value is written
 * as %XX.
 *
 * NAME is the POP3 USER name, 1..63 printable octets without ':', matched
 * exactly. HASH is a crypt(3) string of a strong scheme (see
 * accounts_hash_is_strong()), "!" or "*" (locked: no password login, APOP
 * may still work) or "-" (no hash: an APOP-only account, which then needs
 * apop=). Options, each at most once:
 *	upstream=NAME	an [upstream NAME] section; empty or absent: routing
 *	user=USER	upstream login, 1..255 octets (required)
 *	password=PW	upstream password, 1..255 octets, or
 *	token=NAME	an [oauth2 NAME] token source: exactly one of the two
 *	networks=CIDR,...  client networks the device must come from
 *	apop=SECRET	APOP shared secret, 1..255 octets
 * Values are percent-decoded (%XX, either case); a bad escape, or a
 * decoded NUL, CR or LF, is an error. upstream and token names are
 * 1..63 octets of [A-Za-z0-9_.-]; whether they exist in popgate.conf is
 * for the caller, which has both.
 *
 * Errors name "ORIGIN:LINE"; every line is checked, and any error fails the
 * whole load. Messages never quote a name, hash, user or secret (a line
 * wrapped by mistake puts a password where the name should be).
 *
 * A loaded struct accounts is immutable: any number of threads may look up
 * and check at once. Secrets stay in memory (the gateway needs the
 * upstream ones) and are wiped when the set is freed.
 */
#ifndef POPGATE_ACCOUNTS_H
#define POPGATE_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

#define ACCOUNTS_MAX_FILE_OCTETS	(4 * 1024 * 1024)
#define ACCOUNTS_MAX_LINE_OCTETS	4096	/* without the LF */
#define ACCOUNTS_MAX_ACCOUNTS		20000
/* Client networks of one account (a site or two, a few devices). */
#define ACCOUNT_MAX_NETWORKS		8

enum account_cred {
	ACCOUNT_CRED_PASSWORD,
	ACCOUNT_CRED_TOKEN,
};

struct account {
	char			 name[64];
	char			 hash[256];	/* "" = no password login */
	char			 upstream[CONFIG_MAX_NAME];	/* "" = default routing */
	char			 user[256];	/* upstream user */
	enum account_cred	 cred;
	char			 password[256];	/* ACCOUNT_CRED_PASSWORD: decoded */
	char			 token[CONFIG_MAX_NAME];	/* ACCOUNT_CRED_TOKEN */
	struct config_network	 networks[ACCOUNT_MAX_NETWORKS];
	unsigned int		 nnetworks;	/* 0 = any client address */
	char			 apop[256];	/* "" = no APOP */
	unsigned int		 line;
};

/* Opaque, immutable after load; lookups are O(1) (a hash table). */
struct accounts;

/*
 * Parses text (len octets, need not be NUL-terminated; may hold any
 * octet). Every error is recorded as "ORIGIN:LINE: message" (a file too
 * large as "ORIGIN: message"). Returns 0 and *out, or -EINVAL (errors in
 * errs, *out NULL) or -ENOMEM.
 */
int	accounts_parse(const char *text, size_t len, const char *origin,
	    struct accounts **out, struct config_errors *errs);
/*
 * Reads path and parses it, with path as the origin. Refuses a file that
 * is not a regular file, or that others may read, write or execute (mode &
 * 007): "PATH: mode 0644: must not be world-readable (chmod 640)"; then
 * -EINVAL. Returns -errno if it cannot be opened or read (errs says so),
 * else what accounts_parse() returns.
 */
int	accounts_load(const char *path, struct accounts **out,
	    struct config_errors *errs);
/* Wipes every secret (explicit_bzero) and frees a; NULL is fine. */
void	accounts_free(struct accounts *a);
size_t	accounts_count(const struct accounts *a);
/* In file order; NULL past the end. */
const struct account *accounts_at(const struct accounts *a, size_t i);
/* Exact, case-sensitive match; NULL if there is none. */
const struct account *accounts_find(const struct accounts *a,
	    const char *name);
/* True if some account has an APOP secret (then offer APOP). */
bool	accounts_any_apop(const struct accounts *a);

/*
 * True if hash is a complete crypt(3) hash of a scheme popgate accepts:
 * yescrypt $y$, gost-yescrypt $gy$, scrypt $7$, bcrypt $2b$ $2y$ $2a$,
 * sha512crypt $6$, sha256crypt $5$. DES, MD5 $1$, NT and the rest are
 * refused. The shape is checked (salt and checksum lengths, alphabet), not
 * the cost parameters: a hash whose parameters libxcrypt rejects never
 * matches. Whether this libxcrypt has the method at all is
 * auth_hash_known()'s question (gateway/auth/), asked after a load.
 */
bool	accounts_hash_is_strong(const char *hash);

/*
 * The line "account add" writes, built in line (size octets, kept
 * NUL-terminated): accounts_line_start() puts "NAME HASH", and each
 * accounts_line_add() appends " key=value" with the value percent-encoded
 * (blanks, controls, non-ASCII, '%' and '#' as %XX). Both return the new
 * length; -EINVAL for what accounts_parse() would read as something else
 * (a name with blanks, ':' or a leading '#', or of 64 octets or more; a
 * key not of a-z; a CR or LF in a value) and -E2BIG when it does not fit.
 */
int	accounts_line_start(char *line, size_t size, const char *name,
	    const char *hash);
int	accounts_line_add(char *line, size_t size, size_t len,
	    const char *key, size_t klen, const char *value);

/* The account's upstream: its upstream=, else the route for its user;
 * NULL if none. */
const struct config_upstream *account_upstream(const struct config *c,
	    const struct account *a);
/* Records an error (origin:line) for an upstream, route or token source
 * the account names that c does not have. */
void	account_check_refs(const struct config *c, const struct account *a,
	    const char *origin, struct config_errors *errs);

#endif
