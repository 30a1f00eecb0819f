/* SPDX-License-Identifier: MIT */
/*
 * admin.c - "popgate -c FILE account ...": the device-account commands an
 * admin runs by hand. They work on the same configuration and accounts
 * file as the daemon and never print a secret or a token.
 *
 *   account list                       every account, without secrets
 *   account add NAME user=U [upstream=X] (password=P | token=SRC)
 *               [networks=CIDR,...] [apop=SECRET]
 *                                      the device secret is read from
 *                                      stdin; the line goes into the file
 *                                      atomically
 *   account bootstrap SRC              RFC 8628 device-code flow for
 *                                      [oauth2 SRC]: stores the refresh
 *                                      token
 *   account test NAME                  the account's upstream login, end
 *                                      to end, one line per step
 */
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <uv.h>

#include "accounts.h"
#include "atomic_file.h"
#include "auth.h"
#include "backend.h"
#include "bearer.h"
#include "oauth2.h"
#include "pop3_maildrop.h"
#include "tls_setup.h"
#include "worker.h"

/* A device secret typed or piped in. */
#define ADMIN_MAX_SECRET	256
/* The accounts file we rewrite: accounts_load's own limit. */
#define ADMIN_MAX_FILE		(4 * 1024 * 1024)

static int
admin_list(const struct config_ref *ref)
{
	const struct config	*c = ref->config;
	const struct account	*a;
	size_t			 i;

	if (ref->accounts == NULL) {
		printf("no accounts_file in the configuration\n");
		return 0;
	}
	printf("%-20s %-12s %-32s %-24s %-8s %s\n", "NAME", "UPSTREAM", "USER",
	    "CREDENTIAL", "APOP", "NETWORKS");
	for (i = 0; i < accounts_count(ref->accounts); i++) {
		const struct config_upstream	*u;
		char				 cred[96];

		a = accounts_at(ref->accounts, i);
		u = account_upstream(c, a);
		if (a->cred == ACCOUNT_CRED_TOKEN)
			snprintf(cred, sizeof(cred), "oauth2:%s", a->token);
		else
			snprintf(cred, sizeof(cred), "password");
		printf("%-20s %-12s %-32s %-24s %-8s %s\n", a->name,
		    u != NULL ? u->name : "-", a->user, cred,
		    a->apop[0] != '\0' ? "yes" : "no",
		    a->nnetworks > 0 ? "restricted" : "any");
	}
	return 0;
}

/* A secret from stdin (what: "device secret", ...): one line, not echoed
 * on a terminal. */
static int
admin_read_secret(const char *what, char *buf, size_t size)
{
	struct termios	old, quiet;
	bool		tty = isatty(STDIN_FILENO) == 1;
	size_t		n;

	if (tty) {
		fprintf(stderr, "%s: ", what);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else
			tty = false;
	}
	if (fgets(buf, (int)size, stdin) == NULL)
		buf[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && n == size - 1)
		return -E2BIG;		/* no line end: longer than buf */
	buf[n] = '\0';
	return n == 0 ? -EINVAL : 0;
}

/* The whole file as it is now, in a new buffer with room for more. */
static char *
admin_read_file(const char *path, size_t room, size_t *len_out)
{
	char	*text;
	size_t	 len;
	FILE	*fp;
	bool	 failed;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	if ((text = malloc(ADMIN_MAX_FILE + room + 2)) == NULL) {
		fclose(fp);
		return NULL;
	}
	len = fread(text, 1, ADMIN_MAX_FILE + 1, fp);
	failed = ferror(fp) != 0;
	fclose(fp);
	if (failed || len > ADMIN_MAX_FILE) {
		explicit_bzero(text, len);
		free(text);
		errno = failed ? EIO : EFBIG;
		return NULL;
	}
	*len_out = len;
	return text;
}

/*
 * The accounts file with line added must load, and the new account must
 * name an upstream (or have a route), and a token source that exist:
 * otherwise the daemon would refuse the whole file at its next start.
 */
static bool
admin_check(const struct config *c, const char *path, const char *text,
    size_t len, const char *name)
{
	struct config_errors	*errs;
	struct accounts		*a = NULL;
	const struct account	*acct;
	unsigned int		 i;
	bool			 ok;

	if ((errs = calloc(1, sizeof(*errs))) == NULL)
		return false;
	if (accounts_parse(text, len, path, &a, errs) == 0 &&
	    (acct = accounts_find(a, name)) != NULL) {
		account_check_refs(c, acct, path, errs);
		auth_check_hashes(a, path, errs);
	}
	for (i = 0; i < errs->count && i < CONFIG_MAX_ERRORS; i++)
		fprintf(stderr, "popgate: %s\n", errs->text[i]);
	ok = errs->count == 0;
	accounts_free(a);
	free(errs);
	return ok;
}

/*
 * Replaces path with its text plus line, once the result checks out (see
 * atomic_file_replace() for mode, owner and durability).
 */
static int
admin_append(const struct config *c, const char *path, const char *line,
    const char *name)
{
	char		*text, why[512];
	struct stat	 st;
	size_t		 len = 0, add = strlen(line);
	int		 r;

	if (stat(path, &st) != 0)
		return -errno;
	if ((text = admin_read_file(path, add, &len)) == NULL)
		return -errno;
	if (len > 0 && text[len - 1] != '\n')
		text[len++] = '\n';
	memcpy(text + len, line, add);
	len += add;
	r = admin_check(c, path, text, len, name) ? atomic_file_replace(path,
	    text, len, st.st_mode, why, sizeof(why)) : -EINVAL;
	explicit_bzero(text, len);
	free(text);
	if (r == -1) {
		fprintf(stderr, "popgate: %s\n", why);
		return -EIO;
	}
	return r;
}

/* Appends key=value to line (len octets so far); "-" as the value of
 * password= or apop= reads it from stdin instead (no secret in the process
 * list or shell history). Returns the new length or -errno. */
static int
admin_option(const char *arg, char *line, size_t size, size_t len)
{
	char		 secret[ADMIN_MAX_SECRET];
	const char	*eq = strchr(arg, '='), *value;
	int		 r;

	if (eq == NULL || eq == arg)
		return -EINVAL;
	value = eq + 1;
	if (strcmp(value, "-") == 0 && ((eq - arg == 8 &&
	    strncmp(arg, "password", 8) == 0) || (eq - arg == 4 &&
	    strncmp(arg, "apop", 4) == 0))) {
		r = admin_read_secret(eq - arg == 4 ? "APOP secret" :
		    "upstream password", secret, sizeof(secret));
		if (r != 0)
			return r;
		value = secret;
	}
	r = accounts_line_add(line, size, len, arg, (size_t)(eq - arg), value);
	explicit_bzero(secret, sizeof(secret));
	return r;
}

static int
admin_add(const struct config_ref *ref, int argc, char **argv)
{
	const struct config	*c = ref->config;
	char			 secret[ADMIN_MAX_SECRET], hash[256];
	char			 line[8192];
	size_t			 n;
	int			 i, r;

	if (argc < 2) {
		fprintf(stderr, "usage: popgate -c FILE account add NAME "
		    "user=U (password=P | token=SRC) [upstream=X] "
		    "[networks=CIDR,...] [apop=SECRET]\n"
		    "(the device secret comes from stdin; password=- and "
		    "apop=- read those from stdin too)\n");
		return 2;
	}
	if (c->accounts_file[0] == '\0') {
		fprintf(stderr, "popgate: set accounts_file in [global] first\n");
		return 1;
	}
	if (ref->accounts != NULL && accounts_find(ref->accounts, argv[1]) !=
	    NULL) {
		fprintf(stderr, "popgate: account %s exists already\n", argv[1]);
		return 1;
	}
	if ((r = admin_read_secret("device secret", secret, sizeof(secret))) !=
	    0) {
		fprintf(stderr, "popgate: no device secret on stdin%s\n",
		    r == -E2BIG ? " (too long)" : "");
		return 1;
	}
	r = auth_hash_new(secret, strlen(secret), hash, sizeof(hash));
	explicit_bzero(secret, sizeof(secret));
	if (r != 0) {
		fprintf(stderr, "popgate: cannot hash the secret: %s\n",
		    strerror(-r));
		return 1;
	}
	if ((r = accounts_line_start(line, sizeof(line), argv[1], hash)) < 0) {
		fprintf(stderr, "popgate: bad account name (1..63 printable "
		    "octets, no ':', not starting with '#')\n");
		return 2;
	}
	n = (size_t)r;
	for (i = 2; i < argc; i++) {
		if ((r = admin_option(argv[i], line, sizeof(line), n)) < 0) {
			size_t	klen = strcspn(argv[i], "=");

			explicit_bzero(line, sizeof(line));
			/* The key only: the value may be a secret. */
			fprintf(stderr, "popgate: bad option \"%.*s\" (want "
			    "key=value, no CR or LF)\n",
			    (int)(klen < 40 ? klen : 40), argv[i]);
			return 2;
		}
		n = (size_t)r;
	}
	if (n + 2 >= sizeof(line)) {
		explicit_bzero(line, sizeof(line));
		fprintf(stderr, "popgate: account line too long\n");
		return 2;
	}
	line[n++] = '\n';
	line[n] = '\0';
	r = admin_append(c, c->accounts_file, line, argv[1]);
	explicit_bzero(line, sizeof(line));
	if (r == -EINVAL) {
		fprintf(stderr, "popgate: account %s not added\n", argv[1]);
		return 1;
	}
	if (r != 0) {
		fprintf(stderr, "popgate: %s: %s\n", c->accounts_file,
		    strerror(-r));
		return 1;
	}
	printf("account %s added to %s; reload popgate (SIGHUP) to use it\n",
	    argv[1], c->accounts_file);
	return 0;
}

static int
admin_bootstrap(const struct config_ref *ref, int argc, char **argv)
{
	const struct config_oauth2	*o;
	char				 err[512];

	if (argc < 2) {
		fprintf(stderr, "usage: popgate -c FILE account bootstrap SRC\n");
		return 2;
	}
	o = config_find_oauth2(ref->config, argv[1]);
	if (o == NULL || o->grant != CONFIG_OAUTH2_REFRESH_TOKEN ||
	    o->device_url[0] == '\0') {
		fprintf(stderr, "popgate: [oauth2 %s] must exist, with grant = "
		    "refresh_token and a device_url (or a provider)\n", argv[1]);
		return 1;
	}
	if (oauth2_bootstrap_device(o, stdout, err, sizeof(err)) != 0) {
		fprintf(stderr, "popgate: bootstrap of %s failed: %s\n", argv[1],
		    err);
		return 1;
	}
	printf("refresh token for %s stored in %s\n", o->name,
	    o->refresh_token_file);
	return 0;
}

/* account test: one upstream login on a private loop. */
struct admin_test {
	enum backend_result	 result;
	char			 detail[256];
	uint32_t		 messages;
	bool			 done;
	bool			 closed;	/* a failed login ends it */
};

static void
admin_test_login(void *arg, enum backend_result r, struct pop3_maildrop *md,
    const char *detail)
{
	struct admin_test	*t = arg;

	t->result = r;
	t->done = true;
	t->messages = md != NULL ? md->count : 0;
	snprintf(t->detail, sizeof(t->detail), "%s", detail != NULL ? detail :
	    "");
}

static void
admin_test_closed(void *arg, struct backend *b)
{
	struct admin_test	*t = arg;

	(void)b;
	t->closed = true;
}

static const struct backend_callbacks admin_test_callbacks = {
	.login_done = admin_test_login,
	.closed = admin_test_closed,
};

/* An OAuth2 account's login: a token from its source, sent as the
 * upstream wants it. false (and said why) if nothing could be sent. */
static bool
admin_test_token(const struct config *c, const struct config_upstream *u,
    const struct account *a, struct backend *be)
{
	const struct config_oauth2	*o;
	char				 token[OAUTH2_MAX_TOKEN + 1];
	char				 err[512];
	unsigned char			*msg;
	const char			*mech;
	size_t				 len;
	long				 expires_in = 0;
	int				 r;

	o = config_find_oauth2(c, a->token);
	if (o == NULL || oauth2_fetch_once(o, token, sizeof(token),
	    &expires_in, err, sizeof(err)) != 0) {
		printf("3 token from [oauth2 %s]: failed: %s\n", a->token,
		    o == NULL ? "not defined" : err);
		return false;
	}
	printf("3 token from [oauth2 %s]: ok, expires in %ld s\n",
	    a->token, expires_in);
	r = bearer_message(u, a->user, token, strlen(token), &msg, &len,
	    &mech);
	explicit_bzero(token, sizeof(token));
	if (r != 0) {
		printf("4 login: %s\n", strerror(-r));
		return false;
	}
	printf("4 AUTHENTICATE %s as %s\n", mech, a->user);
	backend_login_sasl(be, mech, a->user, msg, len);
	explicit_bzero(msg, len);
	free(msg);
	return true;
}

static int
admin_test(const struct config_ref *ref, int argc, char **argv)
{
	const struct config		*c = ref->config;
	const struct config_upstream	*u;
	const struct account		*a;
	struct backend_config		 bc;
	struct backend			*be;
	struct admin_test		 t;
	struct tls_setup		 tls;
	uv_loop_t			 loop;
	char				 err[512];

	if (argc < 2) {
		fprintf(stderr, "usage: popgate -c FILE account test NAME\n");
		return 2;
	}
	if (ref->accounts == NULL ||
	    (a = accounts_find(ref->accounts, argv[1])) == NULL) {
		printf("1 account %s: not found\n", argv[1]);
		return 1;
	}
	printf("1 account %s: found (line %u), upstream user %s\n", a->name,
	    a->line, a->user);
	u = account_upstream(c, a);
	if (u == NULL) {
		printf("2 upstream: none\n");
		return 1;
	}
	printf("2 upstream %s: %s\n", u->name, u->url);
	if (tls_setup_build(&tls, c, "config", err, sizeof(err)) != 0) {
		printf("3 TLS: %s\n", err);
		return 1;
	}
	memset(&t, 0, sizeof(t));
	uv_loop_init(&loop);
	worker_backend_settings(c, &tls, u, &bc);
	be = backend_new(&loop, &bc, &admin_test_callbacks, &t);
	if (be == NULL) {
		printf("3 out of memory\n");
		return 1;
	}
	if (a->cred == ACCOUNT_CRED_PASSWORD) {
		printf("3 credential: password\n");
		backend_login(be, a->user, a->password, strlen(a->password));
	} else if (!admin_test_token(c, u, a, be)) {
		backend_close(be, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
		return 1;
	}
	while (!t.done && uv_run(&loop, UV_RUN_ONCE) != 0)
		;
	if (t.result == BACKEND_OK)
		printf("5 login and SELECT %s: ok, %u messages\n", bc.mailbox,
		    t.messages);
	else
		printf("5 login: failed (%s): %s\n",
		    backend_result_name(t.result), t.detail);
	if (!t.closed)
		backend_close(be, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	tls_setup_free(&tls);
	return t.result == BACKEND_OK ? 0 : 1;
}

int
admin_main(const struct config_ref *ref, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return admin_list(ref);
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return admin_add(ref, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "bootstrap") == 0)
		return admin_bootstrap(ref, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "test") == 0)
		return admin_test(ref, argc - 1, argv + 1);
	fprintf(stderr, "usage: popgate -c FILE account list | add NAME ... | "
	    "bootstrap SRC | test NAME\n");
	return 2;
}
