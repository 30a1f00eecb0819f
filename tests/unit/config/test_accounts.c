/* SPDX-License-Identifier: MIT */
/*
 * test_accounts.c - config/accounts.c: the device accounts file (every
 * error with its line and without the secrets), file modes, hash shapes,
 * client networks, lookups. The secret checks are in test_auth.c.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "accounts.h"
#include "session.h"

#define ORIGIN		"t.accounts"
/* Every secret in the error cases contains this; no message may. */
#define SECRET		"S3cretPW"

/* Hashes of "hello" (libxcrypt, this machine); bcrypt of "correct horse". */
#define H_YESCRYPT	"$y$j9T$QTRSo6pw0mpQ/6yR7liaD0$" \
			"vn67tMyjtHAUO7rccA5AY5X275vqzewGbxCkjF8bY85"
#define H_GOST		"$gy$j9T$9Sk.ml0pdxQnmdPIorCc90$" \
			"gZU.x5VvunqxtXQvMVm2lnpHcXYEHUc7BBRXR8J1hO2"
#define H_SCRYPT	"$7$CU..../....4YMCCM7YNzIfBv5U/XQ9E1$" \
			"LwWWrL35lEJSQLxrU27iXJZ7h6.st25baKlGeveUGm4"
#define H_SHA512	"$6$pj7MRaimoNKNyImY$1B01T0qhavP79LO9PDYHDrZN0en1ZY3RD" \
			"gQeCT.E6lo6IwmFbaAfekvFWPgXSEg70b/T7C4TUx7xkh0UEOd3T0"
#define H_SHA256	"$5$Q4of3qIhU52zerRf$" \
			"oeczDbiFogoxFTw0x9goCq3CSm46vanu1f5zA0sktE1"
#define H_BCRYPT	"$2b$04$8ZOcQucixjZF6sPNmZmps." \
			"ZOT2wuOjSzA3GSOkCUiRjIzEJZGpTxO"
#define H_MD5		"$1$3g.07crg$ga6z8Xrh6Q37vqkuBu5pJ/"
#define H_DES		"zCmZhyyoJNSkY"

/* Parses a copy of text in a buffer of exactly its length (no NUL after
 * it), so ASan sees any read past the end. */
static int
parse(const char *text, struct accounts **out, struct config_errors *errs)
{
	size_t	 len = strlen(text);
	char	*copy = malloc(len > 0 ? len : 1);
	int	 r;

	assert_non_null(copy);
	memcpy(copy, text, len);
	memset(errs, 0, sizeof(*errs));
	r = accounts_parse(copy, len, ORIGIN, out, errs);
	free(copy);
	return r;
}

static void
assert_no_secret(const struct config_errors *errs)
{
	unsigned int	i;

	for (i = 0; i < errs->count && i < CONFIG_MAX_ERRORS; i++) {
		assert_null(strstr(errs->text[i], SECRET));
		assert_null(strstr(errs->text[i], H_YESCRYPT));
		assert_null(strstr(errs->text[i], H_MD5));
		assert_null(strstr(errs->text[i], H_DES));
	}
}

static void
test_valid_file(void **state)
{
	struct accounts		*a;
	struct config_errors	 errs;
	const struct account	*p, *s, *l;

	(void)state;
	assert_int_equal(parse(
	    "# comment lines and blank lines are ignored\n"
	    "\n"
	    "   \t\n"
	    "  # NAME  HASH  key=value ...\n"
	    "printer-3f  " H_YESCRYPT "  upstream=m365 "
	    "user=scans%40example.com token=scans_1.x-y "
	    "networks=10.1.0.0/16,127.0.0.1,2001:DB8::/32 apop=s3cr%20et\n"
	    "scanner\t\t" H_BCRYPT "\tuser=alice@example.org "
	    "password=alice%25pw%3d%c3%a9%09x\r\n"
	    "locked ! user=bob password=x apop=a%2Fb\n"
	    "apoponly - user=carol token=t apop=tanstaaf upstream=\n"
	    "star * user=dave token=t\n"
	    "g " H_GOST " user=u token=t\n"
	    "s " H_SCRYPT " user=u token=t\n"
	    "s6 " H_SHA512 " user=u token=t\n"
	    "s5 " H_SHA256 " user=u token=t", &a, &errs), 0);
	assert_int_equal(errs.count, 0);
	assert_non_null(a);
	assert_int_equal(accounts_count(a), 9);
	assert_true(accounts_any_apop(a));

	p = accounts_at(a, 0);
	assert_non_null(p);
	assert_ptr_equal(accounts_find(a, "printer-3f"), p);
	assert_string_equal(p->name, "printer-3f");
	assert_string_equal(p->hash, H_YESCRYPT);
	assert_string_equal(p->upstream, "m365");
	assert_string_equal(p->user, "scans@example.com");
	assert_int_equal(p->cred, ACCOUNT_CRED_TOKEN);
	assert_string_equal(p->token, "scans_1.x-y");
	assert_string_equal(p->password, "");
	assert_int_equal(p->nnetworks, 3);
	assert_int_equal(p->networks[0].prefix, 16);
	assert_int_equal(p->networks[1].prefix, 32);
	assert_int_equal(p->networks[2].addr.ss_family, AF_INET6);
	assert_string_equal(p->apop, "s3cr et");
	assert_int_equal(p->line, 5);

	s = accounts_find(a, "scanner");
	assert_ptr_equal(s, accounts_at(a, 1));
	assert_string_equal(s->hash, H_BCRYPT);
	assert_string_equal(s->upstream, "");
	assert_int_equal(s->cred, ACCOUNT_CRED_PASSWORD);
	/* %25 -> '%', %3d -> '=', 8-bit and a tab through escapes. */
	assert_string_equal(s->password, "alice%pw=\xc3\xa9\tx");
	assert_string_equal(s->token, "");
	assert_int_equal(s->nnetworks, 0);
	assert_string_equal(s->apop, "");
	assert_int_equal(s->line, 6);

	l = accounts_find(a, "locked");
	assert_string_equal(l->hash, "!");
	assert_string_equal(l->apop, "a/b");
	assert_string_equal(accounts_find(a, "apoponly")->hash, "");
	assert_string_equal(accounts_find(a, "apoponly")->upstream, "");
	assert_string_equal(accounts_find(a, "star")->hash, "*");
	assert_int_equal(accounts_find(a, "s5")->line, 13);

	/* Exact, case-sensitive names only. */
	assert_null(accounts_find(a, "Scanner"));
	assert_null(accounts_find(a, "scanner "));
	assert_null(accounts_find(a, ""));
	assert_null(accounts_at(a, 9));
	accounts_free(a);

	/* An empty file is an empty set; no APOP then. */
	assert_int_equal(parse("# nothing yet\n", &a, &errs), 0);
	assert_int_equal(accounts_count(a), 0);
	assert_false(accounts_any_apop(a));
	assert_null(accounts_find(a, "x"));
	accounts_free(a);
	accounts_free(NULL);
}

struct error_case {
	const char	*line;
	const char	*want;	/* in one of the line's messages */
};

/* Y: a good hash, so each line has the one fault it is about. */
#define Y	H_YESCRYPT
static const struct error_case error_cases[] = {
	{ "bad:name " Y " user=u password=" SECRET, "bad account name" },
	{ "n " H_MD5 " user=u password=" SECRET, "MD5" },
	{ "n " H_DES " user=u password=" SECRET, "DES" },
	{ "n " Y " user=u password=" SECRET " colour=blue", "unknown option" },
	{ "n " Y " user=u user=v password=" SECRET, "user= given twice" },
	{ "n " Y " user=u password=" SECRET " token=t", "both password=" },
	{ "n " Y " user=u", "missing password= or token=" },
	{ "n " Y " password=" SECRET, "missing user=" },
	{ "n " Y " user=u password=" SECRET " networks=10.0.0.0/33",
	    "bad network \"10.0.0.0/33\"" },
	{ "n " Y " user=u password=" SECRET "%zz", "bad %XX escape" },
	{ "n " Y " user=u password=" SECRET "%4", "bad %XX escape" },
	{ "n " Y " user=u password=" SECRET "%00x", "%00" },
	{ "n " Y " user=u apop=" SECRET "%0a password=x", "%0A" },
	{ "n " Y " user=u password=" SECRET " networks=1.2.3.4,,5.6.7.8",
	    "bad network 2" },
	{ "n - user=u password=" SECRET, "APOP only" },
	{ "n " Y " user=u password=" SECRET "\x01", "control or non-ASCII" },
	{ "n " Y " user=u password=" SECRET "\xc3\xa9", "control or non-ASCII" },
	{ "n " Y " user=u token=bad/name", "token= must be" },
	{ "n " Y " user=u%01x password=" SECRET, "user=: control characters" },
	{ "n " Y " user=u token=", "token= must be" },
	{ "n", "missing password hash" },
	{ "n " Y " user=u password=" SECRET " apop=", "apop= must be 1..255" },
	{ "n " Y " user= password=" SECRET, "user= must be 1..255" },
	{ "n " Y " user=u password=", "password= must be 1..255" },
	/* A wrapped line: the secret is where the name would be. */
	{ "  password=" SECRET, "missing password hash" },
	{ "n $y$j9T$abc user=u password=" SECRET, "malformed" },
	{ "n $2b$12$abc user=u password=" SECRET, "malformed" },
	{ "n $sha1$1$x$y user=u password=" SECRET, "not a hash of an accepted" },
	{ "n " Y " user=u password=" SECRET " upstream=a/b", "upstream= must" },
	{ "n " Y " user=u password=" SECRET " networks=", "networks= is empty" },
	{ "n " Y " user=u password=x " SECRET, "field 5 is not key=value" },
	{ "n " Y " user=u password=x =" SECRET, "field 5 is not key=value" },
	{ "n " Y " user=u password=x " SECRET "=1", "field 5: unknown option" },
	{ "n " Y " user=u password=x networks=" SECRET, "bad network 1" },
};
#undef Y

static bool
has_error(const struct config_errors *errs, unsigned int line,
    const char *want)
{
	char		prefix[64];
	unsigned int	i;

	snprintf(prefix, sizeof(prefix), ORIGIN ":%u: ", line);
	for (i = 0; i < errs->count && i < CONFIG_MAX_ERRORS; i++)
		if (strncmp(errs->text[i], prefix, strlen(prefix)) == 0 &&
		    strstr(errs->text[i], want) != NULL)
			return true;
	return false;
}

static void
test_each_error(void **state)
{
	struct accounts		*a;
	struct config_errors	 errs;
	char			 text[8192], prefix[64];
	size_t			 i;
	unsigned int		 j;

	(void)state;
	snprintf(prefix, sizeof(prefix), ORIGIN ":3: ");
	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		snprintf(text, sizeof(text), "# accounts\n"
		    "ok " H_YESCRYPT " user=u token=t\n%s\n", error_cases[i].line);
		a = (struct accounts *)&errs;
		assert_int_equal(parse(text, &a, &errs), -EINVAL);
		assert_null(a);
		if (!has_error(&errs, 3, error_cases[i].want)) {
			for (j = 0; j < errs.count; j++)
				print_error("%s\n", errs.text[j]);
			fail_msg("case %zu: no \"%s\"", i, error_cases[i].want);
		}
		/* Every message is about line 3 and quotes no secret. */
		for (j = 0; j < errs.count; j++)
			assert_int_equal(strncmp(errs.text[j], prefix,
			    strlen(prefix)), 0);
		assert_no_secret(&errs);
	}
}

static void
test_every_line_checked(void **state)
{
	struct accounts		*a;
	struct config_errors	 errs;
	char			 text[8192];
	size_t			 i, n = 0;

	(void)state;
	/* Cases 0..9 give 1 or 2 errors each: all fit in errs. */
	for (i = 0; i < 10; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\n",
		    error_cases[i].line);
	assert_int_equal(parse(text, &a, &errs), -EINVAL);
	assert_true(errs.count >= 10 && errs.count <= CONFIG_MAX_ERRORS);
	for (i = 0; i < 10; i++)
		assert_true(has_error(&errs, (unsigned int)i + 1,
		    error_cases[i].want));
	assert_no_secret(&errs);
}

static void
test_duplicates_and_limits(void **state)
{
	struct accounts		*a;
	struct config_errors	 errs;
	char			*text, *p;
	size_t			 i;

	(void)state;
	/* Both line numbers: the duplicate's and the first one's. */
	assert_int_equal(parse(
	    "dup " H_YESCRYPT " user=u token=t\n"
	    "other " H_YESCRYPT " user=u token=t\n"
	    "\n"
	    "dup " H_YESCRYPT " user=u password=" SECRET "\n", &a, &errs),
	    -EINVAL);
	assert_int_equal(errs.count, 1);
	assert_true(has_error(&errs, 4, "duplicate account name (first on "
	    "line 1)"));
	assert_no_secret(&errs);
	/* Same name, different case: two accounts. */
	assert_int_equal(parse(
	    "dup - user=u token=t apop=x\nDUP - user=u token=t apop=y\n", &a,
	    &errs), 0);
	assert_int_equal(accounts_count(a), 2);
	accounts_free(a);

	/* 4096 octets is fine, 4097 is not. */
	text = malloc(3 * 4200);
	assert_non_null(text);
	/* Blanks pad the line: no value may be that long. */
	p = text + sprintf(text, "n - user=u token=t apop=x");
	memset(p, ' ', 4096 - (size_t)(p - text));
	p = text + 4096;
	p += sprintf(p, "\nm - user=u token=t apop=" SECRET);
	memset(p, 'b', 4097 - strlen("m - user=u token=t apop=" SECRET));
	p += 4097 - strlen("m - user=u token=t apop=" SECRET);
	strcpy(p, "\n");
	assert_int_equal(parse(text, &a, &errs), -EINVAL);
	assert_int_equal(errs.count, 1);
	assert_true(has_error(&errs, 2, "line longer than 4096 octets"));
	assert_no_secret(&errs);
	free(text);

	/* ACCOUNT_MAX_NETWORKS networks are fine, one more is not. */
	text = malloc(8192);
	assert_non_null(text);
	p = text + sprintf(text, "n - user=u token=t apop=x networks=10.0.0.0");
	for (i = 1; i < ACCOUNT_MAX_NETWORKS; i++)
		p += sprintf(p, ",10.0.%zu.0/24", i);
	strcpy(p, "\n");
	assert_int_equal(parse(text, &a, &errs), 0);
	assert_int_equal(accounts_at(a, 0)->nnetworks, ACCOUNT_MAX_NETWORKS);
	accounts_free(a);
	strcpy(p, ",::1 password=" SECRET "\n");
	assert_int_equal(parse(text, &a, &errs), -EINVAL);
	assert_true(has_error(&errs, 1, "more than 8 networks"));
	assert_no_secret(&errs);
	free(text);

	/* A raw NUL in the text is an octet like any other control. */
	memset(&errs, 0, sizeof(errs));
	assert_int_equal(accounts_parse("n - user=u\0 token=t apop=x\n", 27,
	    ORIGIN, &a, &errs), -EINVAL);
	assert_true(has_error(&errs, 1, "control or non-ASCII"));

	/* Over 4 MiB: refused whole, before any line. */
	text = malloc(ACCOUNTS_MAX_FILE_OCTETS + 1);
	assert_non_null(text);
	memset(text, '\n', ACCOUNTS_MAX_FILE_OCTETS + 1);
	memset(&errs, 0, sizeof(errs));
	assert_int_equal(accounts_parse(text, ACCOUNTS_MAX_FILE_OCTETS + 1,
	    ORIGIN, &a, &errs), -EINVAL);
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.text[0], ORIGIN ": larger than 4 MiB");
	assert_int_equal(accounts_parse(text, ACCOUNTS_MAX_FILE_OCTETS,
	    ORIGIN, &a, &errs), 0);
	assert_int_equal(accounts_count(a), 0);
	accounts_free(a);
	free(text);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	*fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_load_modes(void **state)
{
	struct accounts		*a;
	struct config_errors	 errs;
	char			 dir[] = "/tmp/popgate-accounts-XXXXXX";
	char			 path[128], want[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/accounts", dir);
	write_file(path, "scanner " H_BCRYPT " user=u password=" SECRET "\n",
	    0644);

	memset(&errs, 0, sizeof(errs));
	assert_int_equal(accounts_load(path, &a, &errs), -EINVAL);
	assert_null(a);
	assert_int_equal(errs.count, 1);
	snprintf(want, sizeof(want), "%s: mode 0644: must not be "
	    "world-readable (chmod 640)", path);
	assert_string_equal(errs.text[0], want);

	assert_int_equal(chmod(path, 0602), 0);
	memset(&errs, 0, sizeof(errs));
	assert_int_equal(accounts_load(path, &a, &errs), -EINVAL);
	assert_non_null(strstr(errs.text[0], "mode 0602"));
	assert_non_null(strstr(errs.text[0], "world-writable"));

	assert_int_equal(chmod(path, 0640), 0);
	memset(&errs, 0, sizeof(errs));
	assert_int_equal(accounts_load(path, &a, &errs), 0);
	assert_int_equal(errs.count, 0);
	assert_int_equal(accounts_count(a), 1);
	assert_string_equal(accounts_find(a, "scanner")->password, SECRET);
	accounts_free(a);

	/* Errors in a loaded file name the file. */
	write_file(path, "\nscanner " H_MD5 " user=u password=" SECRET "\n",
	    0600);
	memset(&errs, 0, sizeof(errs));
	assert_int_equal(accounts_load(path, &a, &errs), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: ", path);
	assert_int_equal(strncmp(errs.text[0], want, strlen(want)), 0);
	assert_no_secret(&errs);

	/* Not a regular file (a directory, a FIFO: no hang); not there. */
	memset(&errs, 0, sizeof(errs));
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(accounts_load(dir, &a, &errs), -EINVAL);
	assert_non_null(strstr(errs.text[0], "not a regular file"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	memset(&errs, 0, sizeof(errs));
	assert_int_equal(accounts_load(path, &a, &errs), -EINVAL);
	assert_non_null(strstr(errs.text[0], "not a regular file"));
	assert_int_equal(unlink(path), 0);
	memset(&errs, 0, sizeof(errs));
	assert_int_equal(accounts_load(path, &a, &errs), -ENOENT);
	assert_non_null(strstr(errs.text[0], path));
	assert_int_equal(rmdir(dir), 0);
}

static struct sockaddr_in
v4(const char *text)
{
	struct sockaddr_in	sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(5555);
	assert_int_equal(inet_pton(AF_INET, text, &sin.sin_addr), 1);
	return sin;
}

static struct sockaddr_in6
v6(const char *text)
{
	struct sockaddr_in6	sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(5555);
	assert_int_equal(inet_pton(AF_INET6, text, &sin6.sin6_addr), 1);
	return sin6;
}

static void
test_allows(void **state)
{
	struct accounts		*a;
	struct config_errors	 errs;
	const struct account	*any, *net, *mapped;
	struct sockaddr_in	 in, out;
	struct sockaddr_in6	 in6, out6, m;
	struct sockaddr		 unix_sa;

	(void)state;
	assert_int_equal(parse(
	    "any - user=u token=t apop=x\n"
	    "net - user=u token=t apop=x networks=10.1.0.0/16,2001:db8::/32,"
	    "127.0.0.1\n"
	    "mapped - user=u token=t apop=x networks=::ffff:10.1.0.0/112\n",
	    &a, &errs), 0);
	any = accounts_find(a, "any");
	net = accounts_find(a, "net");
	mapped = accounts_find(a, "mapped");
	in = v4("10.1.200.3");
	out = v4("10.2.0.1");
	in6 = v6("2001:db8:ffff::1");
	out6 = v6("2001:db9::1");
	m = v6("::ffff:10.1.2.3");
	memset(&unix_sa, 0, sizeof(unix_sa));
	unix_sa.sa_family = AF_UNIX;

	assert_true(account_allows(any, (struct sockaddr *)&in));
	assert_true(account_allows(any, (struct sockaddr *)&out6));
	assert_true(account_allows(any, &unix_sa));

	assert_true(account_allows(net, (struct sockaddr *)&in));
	assert_false(account_allows(net, (struct sockaddr *)&out));
	assert_true(account_allows(net, (struct sockaddr *)&in6));
	assert_false(account_allows(net, (struct sockaddr *)&out6));
	in = v4("127.0.0.1");
	assert_true(account_allows(net, (struct sockaddr *)&in));
	in = v4("127.0.0.2");
	assert_false(account_allows(net, (struct sockaddr *)&in));
	assert_false(account_allows(net, &unix_sa));
	/* As addr_in_network(): an IPv4-mapped peer (a dual-stack
	 * listener) matches the IPv4 networks, and ::ffff: ones. */
	assert_true(account_allows(net, (struct sockaddr *)&m));
	out6 = v6("::ffff:10.2.0.1");
	assert_false(account_allows(net, (struct sockaddr *)&out6));
	assert_true(account_allows(mapped, (struct sockaddr *)&m));
	in = v4("10.1.2.3");
	assert_false(account_allows(mapped, (struct sockaddr *)&in));
	accounts_free(a);
}

static void
test_many(void **state)
{
	struct accounts		*a;
	struct config_errors	 errs;
	const struct account	*p;
	char			*text, name[64], user[64];
	size_t			 i, n = 0, cap = 5000 * 80;

	(void)state;
	text = malloc(cap);
	assert_non_null(text);
	for (i = 0; i < 5000; i++)
		n += (size_t)snprintf(text + n, cap - n,
		    "dev-%zu - user=user%zu@example.org token=t apop=s%zu\n",
		    i * 7919, i, i);
	assert_int_equal(parse(text, &a, &errs), 0);
	free(text);
	assert_int_equal(accounts_count(a), 5000);
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "dev-%zu", i * 7919);
		snprintf(user, sizeof(user), "user%zu@example.org", i);
		p = accounts_find(a, name);
		assert_non_null(p);
		assert_ptr_equal(p, accounts_at(a, i));
		assert_string_equal(p->user, user);
		assert_int_equal(p->line, i + 1);
		snprintf(name, sizeof(name), "dev-%zu", i * 7919 + 1);
		assert_null(accounts_find(a, name));
	}
	memset(name, 'x', 63);
	name[63] = '\0';
	assert_null(accounts_find(a, name));
	accounts_free(a);
}

static void
test_hash_is_strong(void **state)
{
	(void)state;
	assert_true(accounts_hash_is_strong(H_YESCRYPT));
	assert_true(accounts_hash_is_strong(H_GOST));
	assert_true(accounts_hash_is_strong(H_SCRYPT));
	assert_true(accounts_hash_is_strong(H_BCRYPT));
	assert_true(accounts_hash_is_strong("$2y$04$8ZOcQucixjZF6sPNmZmps."
	    "ZOT2wuOjSzA3GSOkCUiRjIzEJZGpTxO"));
	assert_true(accounts_hash_is_strong("$2a$04$8ZOcQucixjZF6sPNmZmps."
	    "ZOT2wuOjSzA3GSOkCUiRjIzEJZGpTxO"));
	assert_true(accounts_hash_is_strong(H_SHA512));
	assert_true(accounts_hash_is_strong(H_SHA256));
	assert_true(accounts_hash_is_strong("$5$rounds=10000$Q4of3qIhU52zerRf$"
	    "oeczDbiFogoxFTw0x9goCq3CSm46vanu1f5zA0sktE1"));

	assert_false(accounts_hash_is_strong(H_MD5));
	assert_false(accounts_hash_is_strong(H_DES));
	assert_false(accounts_hash_is_strong("_J9..hx8KvqMBbVeaBKA"));
	assert_false(accounts_hash_is_strong("$3$$066ddfd4ef0e9cd7c256fe77191"
	    "ef43c"));
	assert_false(accounts_hash_is_strong(""));
	assert_false(accounts_hash_is_strong("!"));
	assert_false(accounts_hash_is_strong("*"));
	assert_false(accounts_hash_is_strong("-"));
	/* Settings without a checksum, truncations, bad alphabets. */
	assert_false(accounts_hash_is_strong("$y$j9T$QTRSo6pw0mpQ/6yR7liaD0"));
	assert_false(accounts_hash_is_strong("$y$j9T$QTRSo6pw0mpQ/6yR7liaD0$"));
	assert_false(accounts_hash_is_strong("$y$j9T$QTRSo6pw0mpQ/6yR7liaD0$"
	    "vn67tMyjtHAUO7rccA5AY5X275vqzewGbxCkjF8bY8"));
	assert_false(accounts_hash_is_strong("$y$j9T$QTRSo6pw0mpQ/6yR7liaD0$"
	    "vn67tMyjtHAUO7rccA5AY5X275vqzewGbxCkjF8bY8!"));
	assert_false(accounts_hash_is_strong("$y$$QTRSo6pw0mpQ/6yR7liaD0$"
	    "vn67tMyjtHAUO7rccA5AY5X275vqzewGbxCkjF8bY85"));
	assert_false(accounts_hash_is_strong("$2b$04$8ZOcQucixjZF6sPNmZmps."));
	assert_false(accounts_hash_is_strong("$2b$03$8ZOcQucixjZF6sPNmZmps."
	    "ZOT2wuOjSzA3GSOkCUiRjIzEJZGpTxO"));
	assert_false(accounts_hash_is_strong("$2x$04$8ZOcQucixjZF6sPNmZmps."
	    "ZOT2wuOjSzA3GSOkCUiRjIzEJZGpTxO"));
	assert_false(accounts_hash_is_strong("$6$pj7MRaimoNKNyImY$"));
	assert_false(accounts_hash_is_strong("$6$rounds=0100$pj7MRaimoNKNyImY$1"
	    "B01T0qhavP79LO9PDYHDrZN0en1ZY3RDgQeCT.E6lo6IwmFbaAfekvFWPgXSEg7"
	    "0b/T7C4TUx7xkh0UEOd3T0"));
}

/*
 * The line "account add" writes reads back as written: every octet of a
 * value survives, and what the parser would read as something else (a
 * name that makes the line a comment or splits it) is refused up front.
 */
static void
test_line_round_trip(void **state)
{
	static const char	 pw[] = "p w%#\t\x7f\xc3\xa9;=,";
	const struct account	*a;
	struct accounts		*set = NULL;
	struct config_errors	 errs;
	char			 line[512];
	int			 n;

	(void)state;
	n = accounts_line_start(line, sizeof(line), "dev-1", H_YESCRYPT);
	assert_true(n > 0);
	n = accounts_line_add(line, sizeof(line), (size_t)n, "user", 4,
	    "scans @example.com");
	n = accounts_line_add(line, sizeof(line), (size_t)n, "password", 8, pw);
	n = accounts_line_add(line, sizeof(line), (size_t)n, "networks", 8,
	    "10.0.0.0/8,::1");
	n = accounts_line_add(line, sizeof(line), (size_t)n, "upstream", 8, "");
	assert_true(n > 0);
	assert_int_equal(strlen(line), (size_t)n);
	assert_int_equal(parse(line, &set, &errs), 0);
	a = accounts_find(set, "dev-1");
	assert_non_null(a);
	assert_string_equal(a->hash, H_YESCRYPT);
	assert_string_equal(a->user, "scans @example.com");
	assert_int_equal(a->cred, ACCOUNT_CRED_PASSWORD);
	assert_string_equal(a->password, pw);
	assert_int_equal(a->nnetworks, 2);
	assert_string_equal(a->upstream, "");
	accounts_free(set);

	/* Names the parser would not read back as the same account. */
	assert_int_equal(accounts_line_start(line, sizeof(line), "#dev",
	    H_YESCRYPT), -EINVAL);
	assert_int_equal(accounts_line_start(line, sizeof(line), "a b",
	    H_YESCRYPT), -EINVAL);
	assert_int_equal(accounts_line_start(line, sizeof(line), "a:b",
	    H_YESCRYPT), -EINVAL);
	assert_int_equal(accounts_line_start(line, sizeof(line), "",
	    H_YESCRYPT), -EINVAL);
	assert_int_equal(accounts_line_start(line, sizeof(line), "d\xc3\xa9v",
	    H_YESCRYPT), -EINVAL);
	assert_int_equal(accounts_line_start(line, sizeof(line),
	    "0123456789012345678901234567890123456789012345678901234567890123",
	    H_YESCRYPT), -EINVAL);
	/* Keys of a-z only; no CR or LF in a value, even escaped. */
	n = accounts_line_start(line, sizeof(line), "d", "!");
	assert_int_equal(n, 3);
	assert_int_equal(accounts_line_add(line, sizeof(line), 3, "User", 4,
	    "x"), -EINVAL);
	assert_int_equal(accounts_line_add(line, sizeof(line), 3, "us er", 5,
	    "x"), -EINVAL);
	assert_int_equal(accounts_line_add(line, sizeof(line), 3, "apop", 4,
	    "a\nb"), -EINVAL);
	/* Too long: refused, and the line is still "d !". */
	assert_int_equal(accounts_line_add(line, 16, 3, "user", 4,
	    "       "), -E2BIG);
	assert_string_equal(line, "d !");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_file),
		cmocka_unit_test(test_each_error),
		cmocka_unit_test(test_every_line_checked),
		cmocka_unit_test(test_duplicates_and_limits),
		cmocka_unit_test(test_load_modes),
		cmocka_unit_test(test_allows),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_hash_is_strong),
		cmocka_unit_test(test_line_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
