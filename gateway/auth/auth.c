/* SPDX-License-Identifier: MIT */
/*
 * auth.c - password checks through libxcrypt, APOP digests through
 * OpenSSL; both compare in constant time and wipe what they computed.
 */
#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/*
 * The dummy check's hash: yescrypt at libxcrypt's default cost (j9T, what
 * auth_hash_new() makes) of a random phrase nobody kept.
 */
#define AUTH_DUMMY_HASH \
	"$y$j9T$yd4T5mqsJEBe5gFuMfM3R1$Sj08CZSW4cGxKKcJd4l8ZoKyI85QhdlA32cNdoRsQPD"

/*
 * crypt_rn(secret, hash) == hash, in constant time. A secret crypt cannot
 * take (a NUL in it, too long) is hashed as "" so it costs the same, and
 * never matches.
 */
static bool
auth_crypt_match(const char *secret, size_t len, const char *hash)
{
	struct crypt_data	*cd;
	const char		*got;
	size_t			 hlen = strlen(hash);
	bool			 usable, match = false;

	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return false;
	usable = secret != NULL && len < sizeof(cd->input) &&
	    memchr(secret, '\0', len) == NULL;
	if (usable)
		memcpy(cd->input, secret, len);
	got = crypt_rn(cd->input, hash, cd, (int)sizeof(*cd));
	if (got != NULL && strlen(got) == hlen)
		match = CRYPTO_memcmp(got, hash, hlen) == 0;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return usable && match;
}

bool
auth_check_secret(const struct account *a, const char *secret, size_t len)
{
	if (a->hash[0] == '\0' || strcmp(a->hash, "!") == 0 ||
	    strcmp(a->hash, "*") == 0) {
		auth_check_dummy(secret, len);
		return false;
	}
	return auth_crypt_match(secret, len, a->hash);
}

void
auth_check_dummy(const char *secret, size_t len)
{
	(void)auth_crypt_match(secret, len, AUTH_DUMMY_HASH);
}

bool
auth_check_apop(const struct account *a, const char *timestamp,
    const char *digest_hex)
{
	unsigned char	 want[16], got[EVP_MAX_MD_SIZE];
	unsigned int	 glen = 0, i;
	EVP_MD_CTX	*ctx;
	bool		 ok;
	int		 hi, lo;

	if (a->apop[0] == '\0' || timestamp == NULL || digest_hex == NULL ||
	    strnlen(digest_hex, 33) != 32)
		return false;
	for (i = 0; i < 16; i++) {
		hi = OPENSSL_hexchar2int((unsigned char)digest_hex[2 * i]);
		lo = OPENSSL_hexchar2int((unsigned char)digest_hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		want[i] = (unsigned char)(hi << 4 | lo);
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return false;
	/* RFC 1939 sec. 7: MD5 of the greeting's timestamp, then the
	 * secret. EVP so a FIPS build fails cleanly instead of aborting. */
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, timestamp, strlen(timestamp)) == 1 &&
	    EVP_DigestUpdate(ctx, a->apop, strlen(a->apop)) == 1 &&
	    EVP_DigestFinal_ex(ctx, got, &glen) == 1 && glen == 16;
	EVP_MD_CTX_free(ctx);
	ok = ok && CRYPTO_memcmp(got, want, 16) == 0;
	explicit_bzero(got, sizeof(got));
	return ok;
}

bool
auth_hash_known(const char *hash)
{
	int	r = crypt_checksalt(hash);

	return r != CRYPT_SALT_INVALID && r != CRYPT_SALT_METHOD_DISABLED;
}

void
auth_check_hashes(const struct accounts *a, const char *origin,
    struct config_errors *errs)
{
	const struct account	*acct;
	size_t			 i;

	for (i = 0; (acct = accounts_at(a, i)) != NULL; i++)
		if (acct->hash[0] == '$' && !auth_hash_known(acct->hash))
			config_errors_add(errs, "%s:%u: password hash: this "
			    "libxcrypt does not have its method", origin,
			    acct->line);
}

int
auth_hash_new(const char *secret, size_t len, char *out, size_t outlen)
{
	struct crypt_data	*cd;
	char			 setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char		*got;
	size_t			 n;
	int			 r = 0;

	if (secret == NULL || len == 0 || memchr(secret, '\0', len) != NULL)
		return -EINVAL;
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return -ENOMEM;
	if (len >= sizeof(cd->input)) {
		free(cd);
		return -EINVAL;
	}
	memcpy(cd->input, secret, len);
	errno = 0;
	/* Count 0: libxcrypt's default cost; NULL: its own random salt. */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting,
	    (int)sizeof(setting)) == NULL ||
	    (got = crypt_rn(cd->input, setting, cd, (int)sizeof(*cd))) == NULL)
		r = errno != 0 ? -errno : -EINVAL;
	else if ((n = strlen(got)) >= outlen)
		r = -ERANGE;
	else if (!accounts_hash_is_strong(got) || !auth_hash_known(got))
		r = -EINVAL;	/* not what $y$ makes: refuse to hand it out */
	else
		memcpy(out, got, n + 1);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return r;
}
