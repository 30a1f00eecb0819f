/* SPDX-License-Identifier: MIT */
/*
 * fuzz_account_line.c - libFuzzer target for the accounts line "account
 * add" writes (config/accounts_line.c), read back by accounts_parse(). The
 * input is a hash choice octet, then NUL-separated arguments as the admin
 * gives them: NAME, then key=value options. Oracles: a line the writer
 * builds is one line of printable ASCII; if the parser accepts it, it
 * holds exactly one account, found by the name given, and every field
 * equals what was given (hash, user, credential, upstream, apop, every
 * network); the writer refuses every name that would not read back.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "fuzz_check.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_ARGS	12

/* What "account add" hashes or takes: strong hashes, locked, APOP only. */
static const char *const fuzz_hashes[] = {
	("$y$j9T$QTRSo6pw0mpQ/6yR7liaD0$"
	    "vn67tMyjtHAUO7rccA5AY5X275vqzewGbxCkjF8bY85"),
	"$2b$04$8ZOcQucixjZF6sPNmZmps.ZOT2wuOjSzA3GSOkCUiRjIzEJZGpTxO",
	"!", "*", "-",
};

/* The value given for key, or NULL. */
static const char *
fuzz_value(char **args, int nargs, const char *key)
{
	size_t	klen = strlen(key);
	int	i;

	for (i = 1; i < nargs; i++)
		if (strncmp(args[i], key, klen) == 0 && args[i][klen] == '=')
			return args[i] + klen + 1;
	return NULL;
}

static void
fuzz_check_networks(const struct account *a, const char *given)
{
	struct config_network	 want;
	char			 item[128];
	const char		*p = given;
	unsigned int		 k = 0;
	size_t			 n;

	for (;;) {
		n = strcspn(p, ",");
		FUZZ_CHECK(n < sizeof(item) && k < a->nnetworks);
		memcpy(item, p, n);
		item[n] = '\0';
		FUZZ_CHECK(config_parse_network(item, &want) == 0);
		FUZZ_CHECK(want.prefix == a->networks[k].prefix);
		FUZZ_CHECK(memcmp(&want.addr, &a->networks[k].addr,
		    sizeof(want.addr)) == 0);
		k++;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	FUZZ_CHECK(k == a->nnetworks);
}

static void
fuzz_check_string(const char *field, char **args, int nargs,
    const char *key)
{
	const char	*v = fuzz_value(args, nargs, key);

	FUZZ_CHECK(strcmp(field, v != NULL ? v : "") == 0);
}

static void
fuzz_round_trip(const char *line, size_t len, const char *hash, char **args,
    int nargs)
{
	struct config_errors	 errs;
	struct accounts		*set = NULL;
	const struct account	*a;
	const char		*v;

	memset(&errs, 0, sizeof(errs));
	if (accounts_parse(line, len, "fuzz", &set, &errs) != 0) {
		FUZZ_CHECK(set == NULL && errs.count > 0);
		return;
	}
	FUZZ_CHECK(accounts_count(set) == 1);
	a = accounts_find(set, args[0]);
	FUZZ_CHECK(a != NULL && a == accounts_at(set, 0));
	FUZZ_CHECK(strcmp(a->hash, strcmp(hash, "-") == 0 ? "" : hash) == 0);
	fuzz_check_string(a->user, args, nargs, "user");
	fuzz_check_string(a->upstream, args, nargs, "upstream");
	fuzz_check_string(a->apop, args, nargs, "apop");
	if ((v = fuzz_value(args, nargs, "password")) != NULL) {
		FUZZ_CHECK(a->cred == ACCOUNT_CRED_PASSWORD);
		FUZZ_CHECK(strcmp(a->password, v) == 0);
	} else {
		FUZZ_CHECK(a->cred == ACCOUNT_CRED_TOKEN);
		fuzz_check_string(a->token, args, nargs, "token");
	}
	if ((v = fuzz_value(args, nargs, "networks")) != NULL)
		fuzz_check_networks(a, v);
	else
		FUZZ_CHECK(a->nnetworks == 0);
	accounts_free(set);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*copy, *args[FUZZ_MAX_ARGS], line[8192];
	const char	*hash, *eq;
	size_t		 at, i;
	int		 nargs = 0, r;

	if (size < 2 || size > 4096)
		return 0;
	hash = fuzz_hashes[data[0] % (sizeof(fuzz_hashes) /
	    sizeof(fuzz_hashes[0]))];
	if ((copy = malloc(size)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	for (at = 0; at < size - 1 && nargs < FUZZ_MAX_ARGS;) {
		args[nargs++] = copy + at;
		at += strlen(copy + at) + 1;
	}

	/* As admin_add() and admin_option() build it. */
	r = accounts_line_start(line, sizeof(line), args[0], hash);
	for (i = 1; r >= 0 && i < (size_t)nargs; i++) {
		eq = strchr(args[i], '=');
		if (eq == NULL || eq == args[i])
			r = -EINVAL;
		else
			r = accounts_line_add(line, sizeof(line), (size_t)r,
			    args[i], (size_t)(eq - args[i]), eq + 1);
	}
	if (r >= 0) {
		FUZZ_CHECK((size_t)r == strlen(line));
		for (i = 0; i < (size_t)r; i++)
			FUZZ_CHECK(line[i] >= 0x20 && line[i] <= 0x7e);
		fuzz_round_trip(line, (size_t)r, hash, args, nargs);
	}
	free(copy);
	return 0;
}
