/* SPDX-License-Identifier: MIT */
/*
 * main.c - popgate: command line, configuration, worker threads, signals.
 * Runs in the foreground and logs to stderr, systemd style.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "memtrim.h"
#include "metrics.h"
#include "notify.h"
#include "tls_setup.h"
#include "worker.h"
#include "accounts.h"
#include "admin.h"
#include "oauth2.h"

#define MAIN_MAX_WORKERS	256

struct main_setting;

/* libuv's pool: see main(). */
#define MAIN_THREADPOOL_SIZE	"16"

struct main_ctx {
	struct worker	*workers;
	unsigned int	 nworkers;
	/* how to load the configuration again on SIGHUP */
	const char	*file;
	const struct main_setting *set;
	unsigned int	 nset;
	struct config_ref *current;
	struct oauth2_mgr *oauth2;	/* token sources, on this loop */
	uv_signal_t	 sigterm;
	uv_signal_t	 sigint;
	uv_signal_t	 sighup;
	uv_async_t	 workers_done;	/* a worker's loop has ended */
	bool		 stopping;
};

static bool
main_is_loopback_host(const char *host)
{
	return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
	    strcmp(host, "::1") == 0;
}

static void
main_usage(FILE *fp)
{
	fprintf(fp,
"usage: popgate [-t] -c FILE\n"
"       popgate -c FILE account list | add NAME ... | bootstrap SRC | test NAME\n"
"       popgate [-t] --listen ADDR:PORT --upstream imap://HOST:PORT [options]\n"
"\n"
"POP3-to-IMAP gateway: serves POP3 clients from an upstream IMAP mailbox.\n"
"\n");
	config_keys_help(fp);
}

/* getopt's options come from config_keys: val is the row's index plus
 * this (short options are plain characters, below 128). */
#define MAIN_KEY_BASE	1000
#define MAIN_MAX_OPTIONS	64

/* Builds getopt's tables from config_keys; -1 if they do not fit. */
static int
main_options(struct option *opts, size_t nopts, char *shorts, size_t size)
{
	size_t	i, n = 0, len = 0;

	shorts[len++] = '+';	/* options end at the first word ("account") */
	for (i = 0; i < config_nkeys; i++) {
		const struct config_key	*k = &config_keys[i];

		if (k->option == NULL)
			continue;
		if (n + 1 >= nopts || len + 3 >= size)
			return -1;
		opts[n].name = k->option;
		opts[n].has_arg = k->arg != NULL ? required_argument :
		    no_argument;
		opts[n].flag = NULL;
		opts[n].val = MAIN_KEY_BASE + (int)i;
		n++;
		if (k->short_opt != '\0') {
			shorts[len++] = k->short_opt;
			if (k->arg != NULL)
				shorts[len++] = ':';
		}
	}
	memset(&opts[n], 0, sizeof(opts[n]));
	shorts[len] = '\0';
	return 0;
}

/* The config_keys row of what getopt returned, or NULL. */
static const struct config_key *
main_option_key(int ch)
{
	size_t	i;

	if (ch >= MAIN_KEY_BASE && (size_t)(ch - MAIN_KEY_BASE) < config_nkeys)
		return &config_keys[ch - MAIN_KEY_BASE];
	for (i = 0; ch > 0 && ch < 128 && i < config_nkeys; i++)
		if (config_keys[i].option != NULL &&
		    config_keys[i].short_opt == ch)
			return &config_keys[i];
	return NULL;
}

/* Command-line settings, applied after the file so they override it. */
struct main_setting {
	const char	*section;
	const char	*key;
	const char	*value;
	const char	*listener_tls;
};

static int
main_set(struct config *c, const char *section, const char *key,
    const char *value, struct config_errors *errs)
{
	char	err[CONFIG_MAX_ERROR_TEXT - 32];

	if (config_set(c, section, key, value, err, sizeof(err)) == 0)
		return 0;
	config_errors_add(errs, "command line: %s", err);
	return -EINVAL;
}

/*
 * Each --listen/--listen-tls becomes a [listener cliN]: implicit TLS for
 * --listen-tls, STLS on --listen when a certificate was given (a listener
 * that could do TLS always offers it), and --plaintext-auth on all of them.
 */
static int
main_apply(struct config *c, const struct main_setting *set, unsigned int n,
    struct config_errors *errs)
{
	char		name[32];
	const char	*tls;
	unsigned int	i, listeners = 0;
	bool		cert = false, plaintext = false;
	int		rc = 0;

	for (i = 0; i < n; i++) {
		if (strcmp(set[i].section, "tls_profile default") == 0)
			cert = true;
		if (strcmp(set[i].section, "cli") == 0)
			plaintext = true;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(set[i].section, "cli") == 0)
			continue;
		if (strcmp(set[i].section, "listener") != 0) {
			rc |= main_set(c, set[i].section, set[i].key,
			    set[i].value, errs);
			continue;
		}
		snprintf(name, sizeof(name), "listener cli%u", listeners++);
		tls = set[i].listener_tls != NULL ? set[i].listener_tls :
		    cert ? "starttls" : "none";
		rc |= main_set(c, name, "address", set[i].value, errs);
		rc |= main_set(c, name, "tls", tls, errs);
		if (plaintext)
			rc |= main_set(c, name, "plaintext_auth", "yes", errs);
	}
	return rc;
}

/* Loads every certificate and key once, so -t and start-up name a bad
 * file; warns about what weakens the upstream side. */
static void
main_check_tls(const struct config *c, const char *origin,
    struct config_errors *errs, bool quiet)
{
	struct tls_setup	t;
	char			err[CONFIG_MAX_ERROR_TEXT];
	unsigned int		i;

	if (tls_setup_build(&t, c, origin, err, sizeof(err)) != 0) {
		config_errors_add(errs, "%s", err);
		return;
	}
	tls_setup_free(&t);
	if (quiet)
		return;
	for (i = 0; i < c->nupstreams; i++) {
		const struct config_upstream	*u = &c->upstreams[i];

		if (u->tls != CONFIG_UPSTREAM_PLAIN && !u->verify)
			log_warn("upstream-tls-unverified", "upstream=%s "
			    "url=%s reason=\"verify = no: the upstream's "
			    "certificate and host name are not checked\"",
			    u->name, u->url);
		if (u->tls == CONFIG_UPSTREAM_PLAIN &&
		    !main_is_loopback_host(u->host))
			log_warn("upstream-plaintext", "upstream=%s url=%s "
			    "reason=\"imap:// sends passwords in the clear; use "
			    "imaps://\"", u->name, u->url);
	}
}

static void main_reload(struct main_ctx *m);
static void main_reload_config(struct main_ctx *m);

static void
main_on_signal(uv_signal_t *h, int signum)
{
	struct main_ctx	*m = h->data;
	unsigned int	 i;

	if (signum == SIGHUP) {
		if (!m->stopping)
			main_reload(m);
		return;
	}
	/* The handlers stay until the workers are done, so that a second
	 * signal closes every session at once and still exits with 0. */
	for (i = 0; i < m->nworkers; i++)
		worker_request_stop(&m->workers[i], m->stopping);
	if (m->stopping)
		return;
	m->stopping = true;
	notify_stopping(m->current->config->drain_timeout_ms);
	log_info("shutdown", "signal=%s workers=%u", signum == SIGTERM ?
	    "TERM" : "INT", m->nworkers);
	metrics_stop();
	memtrim_stop();
	/* Token waits of draining sessions fail (SYS/TEMP); the manager's
	 * memory stays until the workers' clients are gone. */
	oauth2_mgr_close(m->oauth2, NULL, NULL);
}

static void
main_on_workers_done(uv_async_t *a)
{
	struct main_ctx	*m = a->data;

	if (worker_done_total() < m->nworkers)
		return;
	uv_close((uv_handle_t *)&m->sigterm, NULL);
	uv_close((uv_handle_t *)&m->sigint, NULL);
	uv_close((uv_handle_t *)&m->sighup, NULL);
	uv_close((uv_handle_t *)&m->workers_done, NULL);
	/* Closing the handles restored the default actions: a signal now,
	 * while the process tears down, would kill it and turn a clean stop
	 * into death by signal. There is nothing left for one to do. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
}

/* -t and start-up: the user and group must exist. */
static void
main_check_user(const struct config *c, const char *origin,
    struct config_errors *errs)
{
	if (c->user[0] != '\0' && getpwnam(c->user) == NULL)
		config_errors_add(errs, "%s: [global] user %s does not exist",
		    origin, c->user);
	if (c->group[0] != '\0' && getgrnam(c->group) == NULL)
		config_errors_add(errs, "%s: [global] group %s does not exist",
		    origin, c->group);
}

/*
 * Started as root, popgate binds its ports and loads its keys, then
 * becomes the configured user before any thread runs or any client
 * connects; it does not keep root unless allow_root says so.
 */
static int
main_drop_privileges(const struct config *c)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;

	if (c->user[0] == '\0') {
		if (geteuid() != 0 || c->allow_root)
			return 0;
		log_error("startup", "reason=\"refusing to run as root: set "
		    "user = NAME in [global] (--user), or allow_root = yes\"");
		return -1;
	}
	pw = getpwnam(c->user);
	if (pw == NULL) {
		log_error("startup", "reason=\"unknown user %s\"", c->user);
		return -1;
	}
	gid = pw->pw_gid;
	if (c->group[0] != '\0') {
		gr = getgrnam(c->group);
		if (gr == NULL) {
			log_error("startup", "reason=\"unknown group %s\"",
			    c->group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw->pw_uid)
			return 0;
		log_error("startup", "reason=\"user = %s needs popgate to be "
		    "started as root\"", c->user);
		return -1;
	}
	if (initgroups(pw->pw_name, gid) != 0 || setgid(gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		log_error("startup", "reason=\"cannot become %s: %s\"", c->user,
		    strerror(errno));
		return -1;
	}
	/* setuid() from root changes all three ids; make sure of it. */
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		log_error("startup", "reason=\"root could be regained\"");
		return -1;
	}
	log_info("privileges", "user=%s uid=%u gid=%u", c->user,
	    (unsigned int)pw->pw_uid, (unsigned int)gid);
	return 0;
}

/*
 * The device accounts of c: the file loads (not world-readable), and every
 * account names an upstream and a token source that exist.
 */
static struct accounts *
main_load_accounts(const struct config *c, struct config_errors *errs)
{
	struct accounts		*a = NULL;
	size_t			 i;

	if (c->accounts_file[0] == '\0')
		return NULL;
	if (accounts_load(c->accounts_file, &a, errs) != 0)
		return NULL;
	for (i = 0; i < accounts_count(a); i++)
		account_check_refs(c, accounts_at(a, i), c->accounts_file, errs);
	if (errs->count > 0) {
		accounts_free(a);
		return NULL;
	}
	return a;
}

/*
 * Loads and checks the configuration: the file, then the command line over
 * it, validation, every certificate and key, the user, the device
 * accounts. Returns a new config_ref (one reference), or NULL with every
 * error in errs.
 */
static struct config_ref *
main_load(const char *file, const struct main_setting *set, unsigned int nset,
    struct config_errors *errs, bool quiet)
{
	const char		*origin = file != NULL ? file : "command line";
	struct config		*c;
	struct config_ref	*ref;
	struct accounts		*accounts = NULL;

	c = malloc(sizeof(*c));
	ref = calloc(1, sizeof(*ref));
	if (c == NULL || ref == NULL) {
		config_errors_add(errs, "out of memory");
		free(c);
		free(ref);
		return NULL;
	}
	config_defaults(c);
	if (file != NULL)
		config_load_file(c, file, errs);
	main_apply(c, set, nset, errs);
	if (errs->count == 0)
		config_validate(c, origin, errs);
	if (errs->count == 0)
		main_check_tls(c, origin, errs, quiet);
	if (errs->count == 0)
		main_check_user(c, origin, errs);
	if (errs->count == 0)
		accounts = main_load_accounts(c, errs);
	if (errs->count > 0) {
		free(c);
		free(ref);
		return NULL;
	}
	ref->config = c;
	ref->accounts = accounts;
	atomic_init(&ref->refs, 1);
	return ref;
}

/* What a reload cannot change without a restart: the sockets (bound
 * before privileges were dropped) and the worker threads. */
static const char *
main_reload_conflict(const struct config *old, const struct config *new)
{
	unsigned int	i;

	if (old->nlisteners != new->nlisteners)
		return "the set of listeners changed; restart to apply";
	for (i = 0; i < old->nlisteners; i++) {
		if (strcmp(old->listeners[i].name, new->listeners[i].name) != 0 ||
		    old->listeners[i].addrlen != new->listeners[i].addrlen ||
		    memcmp(&old->listeners[i].addr, &new->listeners[i].addr,
		    old->listeners[i].addrlen) != 0)
			return "a listener's name or address changed; restart to "
			    "apply";
	}
	if (old->metrics_addrlen != new->metrics_addrlen ||
	    memcmp(&old->metrics_addr, &new->metrics_addr,
	    old->metrics_addrlen) != 0)
		return "metrics_address changed; restart to apply";
	return NULL;
}

/*
 * SIGHUP: load everything again; if it is valid, every worker switches to
 * it for new sessions while sessions in flight finish on the old one. If
 * not, each error is logged and nothing changes.
 */
static void
main_reload(struct main_ctx *m)
{
	notify_send("RELOADING=1");
	main_reload_config(m);
	notify_send("READY=1");
}

static void
main_reload_config(struct main_ctx *m)
{
	struct config_errors	*errs;
	struct config_ref	*ref;
	struct config		*c;
	const char		*conflict;
	unsigned int		 i;

	errs = calloc(1, sizeof(*errs));
	if (errs == NULL) {
		log_error("reload", "result=failed reason=\"out of memory\"");
		return;
	}
	ref = main_load(m->file, m->set, m->nset, errs, true);
	if (ref == NULL) {
		for (i = 0; i < errs->count && i < CONFIG_MAX_ERRORS; i++)
			log_error("reload", "result=failed error=\"%s\"",
			    errs->text[i]);
		log_error("reload", "result=failed errors=%u reason=\"the "
		    "configuration is invalid; still running on the previous "
		    "one\"", errs->count);
		free(errs);
		return;
	}
	free(errs);
	c = ref->config;
	conflict = main_reload_conflict(m->current->config, c);
	if (conflict != NULL) {
		log_error("reload", "result=failed reason=\"%s\"", conflict);
		config_ref_release(ref);
		return;
	}
	if (c->workers != m->current->config->workers ||
	    strcmp(c->user, m->current->config->user) != 0 ||
	    strcmp(c->group, m->current->config->group) != 0 ||
	    c->log_syslog != m->current->config->log_syslog ||
	    c->oauth2_refresh_margin_ms !=
	    m->current->config->oauth2_refresh_margin_ms ||
	    c->oauth2_retry_min_ms != m->current->config->oauth2_retry_min_ms ||
	    c->oauth2_retry_max_ms != m->current->config->oauth2_retry_max_ms ||
	    c->oauth2_http_timeout_ms !=
	    m->current->config->oauth2_http_timeout_ms)
		log_warn("reload", "result=partial reason=\"workers, user, "
		    "log_target and the oauth2_* timings take effect at the next "
		    "restart\"");
	if (oauth2_mgr_set_sources(m->oauth2, c->oauth2, c->noauth2) != 0) {
		log_error("reload", "result=failed reason=\"an oauth2 source is "
		    "unusable; still running on the previous configuration\"");
		config_ref_release(ref);
		return;
	}
	log_set_level(c->log_level);
	for (i = 0; i < m->nworkers; i++)
		worker_reload(&m->workers[i], ref);
	config_ref_release(m->current);
	m->current = ref;
	log_info("reload", "result=ok file=%s workers=%u accounts=%zu",
	    m->file != NULL ? m->file : "-", m->nworkers, ref->accounts != NULL ?
	    accounts_count(ref->accounts) : 0);
}

static void
main_log_metrics_address(void)
{
	struct sockaddr_storage	ss;
	char			address[ADDR_TEXT_MAX];
	int			len = sizeof(ss);

	if (metrics_sockname(&ss, &len) != 0)
		return;
	addr_format((struct sockaddr *)&ss, address, sizeof(address));
	log_info("listening", "listener=metrics address=%s path=/metrics",
	    address);
}

/* metrics: the current configuration's token sources (main loop). */
static bool
main_oauth2_status(void *arg, unsigned int i, const char **name,
    long *expires_in, bool *has_refresh, uint64_t *refused)
{
	struct main_ctx		*m = arg;
	const struct config	*c = m->current->config;

	if (i >= c->noauth2)
		return false;
	*name = c->oauth2[i].name;
	if (oauth2_source_status(m->oauth2, *name, expires_in, has_refresh,
	    refused) != 0) {
		*expires_in = -1;
		*has_refresh = false;
		*refused = 0;
	}
	return true;
}

/* The token manager: one per process, on the main loop. Its sources are
 * set after the privilege drop, so that their files are read as the user
 * that will read them at every refresh. */
static struct oauth2_mgr *
main_oauth2_start(uv_loop_t *loop, const struct config *c)
{
	struct oauth2_settings	 s;
	struct oauth2_mgr	*m;

	memset(&s, 0, sizeof(s));
	s.refresh_margin_ms = c->oauth2_refresh_margin_ms;
	s.backoff_min_ms = c->oauth2_retry_min_ms;
	s.backoff_max_ms = c->oauth2_retry_max_ms;
	s.http_timeout_ms = c->oauth2_http_timeout_ms;
	if ((m = oauth2_mgr_new(loop, &s)) == NULL)
		log_error("startup", "reason=\"cannot start the OAuth2 token "
		    "manager\"");
	return m;
}

static int
main_run(struct config_ref *ref, const char *file,
    const struct main_setting *set, unsigned int nset)
{
	const struct config	*c = ref->config;
	struct main_ctx	 m;
	uv_loop_t	*loop = uv_default_loop();
	unsigned int	 i, n = c->workers;
	int		 r = 0;

	memset(&m, 0, sizeof(m));
	m.file = file;
	m.set = set;
	m.nset = nset;
	m.current = ref;
	if (n == 0) {
		long	cpus = sysconf(_SC_NPROCESSORS_ONLN);

		n = cpus > 0 ? (unsigned int)cpus : 1;
		if (n > MAIN_MAX_WORKERS)
			n = MAIN_MAX_WORKERS;
	}
	signal(SIGPIPE, SIG_IGN);
	memtrim_init(n);
	m.workers = calloc(n, sizeof(*m.workers));
	if (m.workers == NULL) {
		log_error("startup", "reason=\"out of memory\"");
		return 1;
	}
	notify_init();
	metrics_init(c);
	if (c->metrics_addrlen != 0) {
		/* Bound before privileges go, like the POP3 ports. */
		r = metrics_start(loop, c);
		if (r < 0) {
			log_error("startup", "metrics_address error=%s",
			    uv_strerror(r));
			_exit(1);
		}
		main_log_metrics_address();
	}
	m.oauth2 = main_oauth2_start(loop, c);
	if (m.oauth2 == NULL)
		_exit(1);
	worker_set_oauth2(m.oauth2);
	metrics_set_oauth2(main_oauth2_status, &m);
	uv_async_init(loop, &m.workers_done, main_on_workers_done);
	m.workers_done.data = &m;
	worker_set_done(&m.workers_done);
	for (i = 0; i < n; i++) {
		r = worker_init(&m.workers[i], i, m.current);
		if (r < 0) {
			log_error("startup", "worker=%u error=%s", i,
			    uv_strerror(r));
			_exit(1);
		}
	}
	if (main_drop_privileges(c) != 0)
		_exit(1);
	if (oauth2_mgr_set_sources(m.oauth2, c->oauth2, c->noauth2) != 0) {
		log_error("startup", "reason=\"an oauth2 source is unusable\"");
		_exit(1);
	}
	for (i = 0; i < n; i++) {
		r = worker_run(&m.workers[i]);
		if (r < 0) {
			log_error("startup", "worker=%u error=%s", i,
			    uv_strerror(r));
			_exit(1);
		}
		m.nworkers++;
	}
	for (i = 0; i < c->nlisteners; i++)
		log_info("listening", "listener=%s address=%s upstream=%s "
		    "upstreams=%u workers=%u", c->listeners[i].name,
		    c->listeners[i].address, c->upstreams[0].url,
		    c->nupstreams, n);
	uv_signal_init(loop, &m.sigterm);
	uv_signal_init(loop, &m.sigint);
	uv_signal_init(loop, &m.sighup);
	m.sigterm.data = m.sigint.data = m.sighup.data = &m;
	uv_signal_start(&m.sigterm, main_on_signal, SIGTERM);
	uv_signal_start(&m.sigint, main_on_signal, SIGINT);
	uv_signal_start(&m.sighup, main_on_signal, SIGHUP);
	memtrim_start(loop);
	notify_send("READY=1\nSTATUS=serving");
	uv_run(loop, UV_RUN_DEFAULT);
	for (i = 0; i < m.nworkers; i++)
		worker_join(&m.workers[i]);
	free(m.workers);
	config_ref_release(m.current);
	uv_loop_close(loop);
	log_info("stopped", "workers=%u", n);
	return 0;
}

int
main(int argc, char **argv)
{
	struct main_setting	 set[64];
	struct option		 opts[MAIN_MAX_OPTIONS];
	char			 shorts[2 * MAIN_MAX_OPTIONS];
	struct config_ref	*ref;
	struct config_errors	*errs;
	const char		*file = NULL;
	unsigned int		 nset = 0, i;
	bool			 test = false;
	int			 ch, rc = 0;

	/*
	 * libuv's thread pool (4 threads by default) serves name lookups for
	 * upstream connects, device-secret checks and token file writes for
	 * the whole process; it is sized before its first use. An explicit
	 * UV_THREADPOOL_SIZE wins.
	 */
	setenv("UV_THREADPOOL_SIZE", MAIN_THREADPOOL_SIZE, 0);
	if (main_options(opts, MAIN_MAX_OPTIONS, shorts, sizeof(shorts)) != 0)
		abort();	/* MAIN_MAX_OPTIONS is below the table */
	while ((ch = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		const struct config_key	*k = main_option_key(ch);

		if (k == NULL) {
			main_usage(stderr);
			return 2;
		}
		switch (k->short_opt) {
		case 'c':
			file = optarg;
			continue;
		case 't':
			test = true;
			continue;
		case 'V':
			printf("popgate %s\n", POPGATE_VERSION);
			return 0;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			break;
		}
		if (nset == sizeof(set) / sizeof(set[0])) {
			fprintf(stderr, "popgate: too many options\n");
			return 2;
		}
		set[nset].section = k->section;
		set[nset].key = k->key;
		set[nset].value = k->fixed != NULL ? k->fixed : optarg;
		set[nset].listener_tls = k->listener_tls;
		nset++;
	}
	if (optind != argc && strcmp(argv[optind], "account") != 0) {
		fprintf(stderr, "popgate: unexpected argument \"%s\"\n",
		    argv[optind]);
		main_usage(stderr);
		return 2;
	}
	errs = calloc(1, sizeof(*errs));
	if (errs == NULL) {
		fprintf(stderr, "popgate: out of memory\n");
		return 1;
	}
	ref = main_load(file, set, nset, errs, test || optind != argc);
	if (ref == NULL) {
		for (i = 0; i < errs->count && i < CONFIG_MAX_ERRORS; i++)
			fprintf(stderr, "%s\n", errs->text[i]);
		if (errs->count > CONFIG_MAX_ERRORS)
			fprintf(stderr, "(%u more errors)\n",
			    errs->count - CONFIG_MAX_ERRORS);
		fprintf(stderr, "popgate: configuration is invalid\n");
		rc = 1;
	} else if (optind != argc) {
		rc = admin_main(ref, argc - optind, argv + optind);
		config_ref_release(ref);
	} else if (test) {
		printf("popgate: configuration %s is valid\n",
		    file != NULL ? file : "(command line)");
		config_ref_release(ref);
	} else {
		log_set_level(ref->config->log_level);
		if (ref->config->log_syslog)
			log_open_syslog(ref->config->log_facility);
		rc = main_run(ref, file, set, nset);	/* releases ref */
	}
	free(errs);
	return rc;
}
