/* SPDX-License-Identifier: MIT */
/*
 * fuzz_accounts.c - libFuzzer target for config/accounts.c: the input is a
 * whole accounts file. Oracles: no crash, no read past len (the input is
 * not NUL-terminated) and no leak (ASan); the answer is 0 with a set or
 * -EINVAL with errors and no set; every error starts with the origin and
 * is printable ASCII without '~' (nothing from the input is quoted but an
 * address-like network, so a secret holding '~' can never show); on
 * success every account has a name that finds it, a user, exactly one
 * upstream credential, a hash popgate accepts or none, and lines in file
 * order, and its APOP answer agrees with an MD5 computed here.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "accounts.h"
#include "auth.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ORIGIN	"fuzz"
#define FUZZ_TIMESTAMP	"<1896.697170952@fuzz>"
/* Accounts whose APOP answer is recomputed (MD5 twice each). */
#define FUZZ_APOP_CHECKS	8

#define FUZZ_CHECK(cond)	do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_accounts: %s:%d: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

static void
fuzz_check_errors(const struct config_errors *errs)
{
	const char	*t;
	unsigned int	 i;

	for (i = 0; i < errs->count && i < CONFIG_MAX_ERRORS; i++) {
		t = errs->text[i];
		FUZZ_CHECK(strncmp(t, FUZZ_ORIGIN ":", 5) == 0);
		for (; *t != '\0'; t++)
			FUZZ_CHECK(*t >= 0x20 && *t <= 0x7e && *t != '~');
	}
}

/* MD5(FUZZ_TIMESTAMP || secret) in lower-case hex. */
static void
fuzz_apop_digest(const char *secret, char hex[33])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen = 0, i;
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();

	FUZZ_CHECK(ctx != NULL);
	FUZZ_CHECK(EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1);
	FUZZ_CHECK(EVP_DigestUpdate(ctx, FUZZ_TIMESTAMP,
	    strlen(FUZZ_TIMESTAMP)) == 1);
	FUZZ_CHECK(EVP_DigestUpdate(ctx, secret, strlen(secret)) == 1);
	FUZZ_CHECK(EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 16);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void
fuzz_check_account(const struct accounts *set, size_t i,
    unsigned int *last_line)
{
	const struct account	*a = accounts_at(set, i);
	size_t			 n;
	char			 hex[33];

	FUZZ_CHECK(a != NULL);
	n = strnlen(a->name, sizeof(a->name));
	FUZZ_CHECK(n >= 1 && n < sizeof(a->name));
	FUZZ_CHECK(strpbrk(a->name, ": \t") == NULL);
	FUZZ_CHECK(accounts_find(set, a->name) == a);

	FUZZ_CHECK(strnlen(a->hash, sizeof(a->hash)) < sizeof(a->hash));
	FUZZ_CHECK(a->hash[0] == '\0' || strcmp(a->hash, "!") == 0 ||
	    strcmp(a->hash, "*") == 0 || accounts_hash_is_strong(a->hash));
	FUZZ_CHECK(strnlen(a->apop, sizeof(a->apop)) < sizeof(a->apop));
	/* "-" means APOP only. */
	FUZZ_CHECK(a->hash[0] != '\0' || a->apop[0] != '\0');

	n = strnlen(a->user, sizeof(a->user));
	FUZZ_CHECK(n >= 1 && n < sizeof(a->user));
	FUZZ_CHECK(strnlen(a->password, sizeof(a->password)) <
	    sizeof(a->password));
	FUZZ_CHECK(strnlen(a->token, sizeof(a->token)) < sizeof(a->token));
	FUZZ_CHECK(strnlen(a->upstream, sizeof(a->upstream)) <
	    sizeof(a->upstream));
	if (a->cred == ACCOUNT_CRED_PASSWORD)
		FUZZ_CHECK(a->password[0] != '\0' && a->token[0] == '\0');
	else {
		FUZZ_CHECK(a->cred == ACCOUNT_CRED_TOKEN);
		FUZZ_CHECK(a->token[0] != '\0' && a->password[0] == '\0');
	}
	FUZZ_CHECK(strpbrk(a->user, "\r\n") == NULL);
	FUZZ_CHECK(strpbrk(a->password, "\r\n") == NULL);
	FUZZ_CHECK(strpbrk(a->apop, "\r\n") == NULL);
	FUZZ_CHECK(a->nnetworks <= ACCOUNT_MAX_NETWORKS);

	FUZZ_CHECK(a->line > *last_line);
	*last_line = a->line;

	if (i < FUZZ_APOP_CHECKS) {
		fuzz_apop_digest(a->apop, hex);
		FUZZ_CHECK(auth_check_apop(a, FUZZ_TIMESTAMP, hex) ==
		    (a->apop[0] != '\0'));
		hex[31] = hex[31] == '0' ? '1' : '0';
		FUZZ_CHECK(!auth_check_apop(a, FUZZ_TIMESTAMP, hex));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors	 errs;
	struct accounts		*set = (struct accounts *)&errs;
	size_t			 i, n;
	unsigned int		 last_line = 0;
	bool			 any_apop = false;
	int			 r;

	memset(&errs, 0, sizeof(errs));
	r = accounts_parse((const char *)data, size, FUZZ_ORIGIN, &set,
	    &errs);
	fuzz_check_errors(&errs);
	if (r != 0) {
		FUZZ_CHECK(r == -EINVAL);
		FUZZ_CHECK(set == NULL);
		FUZZ_CHECK(errs.count > 0);
		return 0;
	}
	FUZZ_CHECK(set != NULL && errs.count == 0);
	n = accounts_count(set);
	FUZZ_CHECK(n <= ACCOUNTS_MAX_ACCOUNTS);
	for (i = 0; i < n; i++) {
		fuzz_check_account(set, i, &last_line);
		any_apop = any_apop || accounts_at(set, i)->apop[0] != '\0';
	}
	FUZZ_CHECK(accounts_at(set, n) == NULL);
	FUZZ_CHECK(accounts_any_apop(set) == any_apop);
	FUZZ_CHECK(accounts_find(set, "") == NULL);
	accounts_free(set);
	return 0;
}
