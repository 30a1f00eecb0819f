/* SPDX-License-Identifier: MIT */
/*
 * main.c - popgate: command line, configuration, worker threads, signals.
 * Runs in the foreground and logs to stderr, systemd style.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "config.h"
#include "log.h"
#include "worker.h"

#define MAIN_MAX_WORKERS	256

struct main_ctx {
	struct worker	*workers;
	unsigned int	 nworkers;
	uv_signal_t	 sigterm;
	uv_signal_t	 sigint;
	uv_signal_t	 sighup;
	bool		 stopping;
};

static void
main_usage(FILE *fp)
{
	fprintf(fp,
"usage: popgate [-t] -c FILE\n"
"       popgate [-t] --listen ADDR:PORT --upstream imap://HOST:PORT [options]\n"
"\n"
"POP3-to-IMAP gateway: serves POP3 clients from an upstream IMAP mailbox.\n"
"\n"
"  -c, --config FILE        read settings from an INI file\n"
"  -t, --test               check the configuration and exit\n"
"  -l, --listen ADDR:PORT   POP3 listener (repeatable), e.g. 127.0.0.1:110\n"
"  -u, --upstream URL       upstream IMAP server, imap://HOST[:PORT]\n"
"  -w, --workers N          event loops (default: number of CPUs)\n"
"      --mailbox NAME       maildrop folder (default INBOX)\n"
"      --uidl-template T    UIDL format (default {uid:08x}{uidvalidity:08x})\n"
"      --no-seen            do not flag retrieved messages \\Seen\n"
"      --idle-timeout S     POP3 autologout in seconds (default 600)\n"
"      --login-timeout S    time allowed in AUTHORIZATION (default 600)\n"
"      --connect-timeout S  upstream connect timeout (default 30)\n"
"      --command-timeout S  upstream command timeout (default 120)\n"
"      --log-level LEVEL    debug, info, warn or error (default info)\n"
"  -V, --version            print the version and exit\n"
"  -h, --help               print this help and exit\n");
}

/* Options that set a configuration key: the long option's val indexes
 * this table (getopt's short options are plain characters, below 128). */
struct main_key_option {
	const char	*section;
	const char	*key;
	const char	*fixed;		/* value for a flag, NULL = the argument */
};

#define MAIN_KEY_BASE	1000

static const struct main_key_option main_key_options[] = {
	{ "listener", "address", NULL },
	{ "upstream", "url", NULL },
	{ "global", "workers", NULL },
	{ "upstream", "mailbox", NULL },
	{ "upstream", "uidl_template", NULL },
	{ "upstream", "seen_on_retr", "no" },
	{ "session", "idle_timeout", NULL },
	{ "session", "login_timeout", NULL },
	{ "upstream", "connect_timeout", NULL },
	{ "upstream", "command_timeout", NULL },
	{ "global", "log_level", NULL },
};

static const struct option main_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "test", no_argument, NULL, 't' },
	{ "listen", required_argument, NULL, MAIN_KEY_BASE + 0 },
	{ "upstream", required_argument, NULL, MAIN_KEY_BASE + 1 },
	{ "workers", required_argument, NULL, MAIN_KEY_BASE + 2 },
	{ "mailbox", required_argument, NULL, MAIN_KEY_BASE + 3 },
	{ "uidl-template", required_argument, NULL, MAIN_KEY_BASE + 4 },
	{ "no-seen", no_argument, NULL, MAIN_KEY_BASE + 5 },
	{ "idle-timeout", required_argument, NULL, MAIN_KEY_BASE + 6 },
	{ "login-timeout", required_argument, NULL, MAIN_KEY_BASE + 7 },
	{ "connect-timeout", required_argument, NULL, MAIN_KEY_BASE + 8 },
	{ "command-timeout", required_argument, NULL, MAIN_KEY_BASE + 9 },
	{ "log-level", required_argument, NULL, MAIN_KEY_BASE + 10 },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Command-line settings, applied after the file so they override it. */
struct main_setting {
	const char	*section;
	const char	*key;
	const char	*value;
};

static int
main_apply(struct config *c, const struct main_setting *set, unsigned int n,
    struct config_errors *errs)
{
	char		err[CONFIG_MAX_ERROR_TEXT - 32];
	char		name[32];
	unsigned int	i, listeners = 0;
	int		rc = 0;

	for (i = 0; i < n; i++) {
		const char	*section = set[i].section;

		if (strcmp(section, "listener") == 0) {
			snprintf(name, sizeof(name), "listener cli%u", listeners++);
			section = name;
		}
		if (config_set(c, section, set[i].key, set[i].value, err,
		    sizeof(err)) != 0) {
			config_errors_add(errs, "command line: %s", err);
			rc = -EINVAL;
		}
	}
	return rc;
}

/* Settings this version parses and checks but does not serve yet: refuse
 * them rather than run a TLS listener in the clear. */
static void
main_check_supported(const struct config *c, const char *origin,
    struct config_errors *errs)
{
	unsigned int	i;

	for (i = 0; i < c->nlisteners; i++) {
		if (c->listeners[i].tls != CONFIG_LISTENER_TLS_NONE)
			config_errors_add(errs, "%s: [listener %s]: tls = "
			    "starttls/implicit is not supported by this version",
			    origin, c->listeners[i].name);
	}
	if (c->upstream_tls != CONFIG_UPSTREAM_PLAIN)
		config_errors_add(errs, "%s: [upstream]: imaps:// and "
		    "imap+starttls:// are not supported by this version", origin);
}

static void
main_on_signal(uv_signal_t *h, int signum)
{
	struct main_ctx	*m = h->data;
	unsigned int	 i;

	if (signum == SIGHUP) {
		log_warn("reload", "result=ignored reason=\"reload is not "
		    "supported yet; restart to apply changes\"");
		return;
	}
	if (m->stopping)
		return;
	m->stopping = true;
	log_info("shutdown", "signal=%s workers=%u", signum == SIGTERM ?
	    "TERM" : "INT", m->nworkers);
	for (i = 0; i < m->nworkers; i++)
		worker_request_stop(&m->workers[i]);
	uv_close((uv_handle_t *)&m->sigterm, NULL);
	uv_close((uv_handle_t *)&m->sigint, NULL);
	uv_close((uv_handle_t *)&m->sighup, NULL);
}

static int
main_run(const struct config *c)
{
	struct main_ctx	 m;
	uv_loop_t	*loop = uv_default_loop();
	unsigned int	 i, n = c->workers;
	int		 r = 0;

	memset(&m, 0, sizeof(m));
	if (n == 0) {
		long	cpus = sysconf(_SC_NPROCESSORS_ONLN);

		n = cpus > 0 ? (unsigned int)cpus : 1;
		if (n > MAIN_MAX_WORKERS)
			n = MAIN_MAX_WORKERS;
	}
	signal(SIGPIPE, SIG_IGN);
	m.workers = calloc(n, sizeof(*m.workers));
	if (m.workers == NULL) {
		log_error("startup", "reason=\"out of memory\"");
		return 1;
	}
	for (i = 0; i < n; i++) {
		r = worker_start(&m.workers[i], i, c);
		if (r < 0) {
			log_error("startup", "worker=%u error=%s", i,
			    uv_strerror(r));
			_exit(1);
		}
		m.nworkers++;
	}
	for (i = 0; i < c->nlisteners; i++)
		log_info("listening", "listener=%s address=%s upstream=%s "
		    "workers=%u", c->listeners[i].name, c->listeners[i].address,
		    c->upstream_url, n);
	uv_signal_init(loop, &m.sigterm);
	uv_signal_init(loop, &m.sigint);
	uv_signal_init(loop, &m.sighup);
	m.sigterm.data = m.sigint.data = m.sighup.data = &m;
	uv_signal_start(&m.sigterm, main_on_signal, SIGTERM);
	uv_signal_start(&m.sigint, main_on_signal, SIGINT);
	uv_signal_start(&m.sighup, main_on_signal, SIGHUP);
	uv_run(loop, UV_RUN_DEFAULT);
	for (i = 0; i < m.nworkers; i++)
		worker_join(&m.workers[i]);
	free(m.workers);
	uv_loop_close(loop);
	log_info("stopped", "workers=%u", n);
	return 0;
}

int
main(int argc, char **argv)
{
	struct main_setting	 set[64];
	struct config		*c;
	struct config_errors	*errs;
	const char		*file = NULL;
	unsigned int		 nset = 0, i;
	bool			 test = false;
	int			 ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "c:tl:u:w:Vh", main_options,
	    NULL)) != -1) {
		struct main_setting	s = { NULL, NULL, optarg };

		switch (ch) {
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
		case 'l':
		case 'u':
		case 'w':
			ch = MAIN_KEY_BASE + (ch == 'l' ? 0 : ch == 'u' ? 1 : 2);
			break;
		default:
			break;
		}
		if (ch < MAIN_KEY_BASE || (size_t)(ch - MAIN_KEY_BASE) >=
		    sizeof(main_key_options) / sizeof(main_key_options[0])) {
			main_usage(stderr);
			return 2;
		}
		s.section = main_key_options[ch - MAIN_KEY_BASE].section;
		s.key = main_key_options[ch - MAIN_KEY_BASE].key;
		if (main_key_options[ch - MAIN_KEY_BASE].fixed != NULL)
			s.value = main_key_options[ch - MAIN_KEY_BASE].fixed;
		if (nset == sizeof(set) / sizeof(set[0])) {
			fprintf(stderr, "popgate: too many options\n");
			return 2;
		}
		set[nset++] = s;
	}
	if (optind != argc) {
		fprintf(stderr, "popgate: unexpected argument \"%s\"\n",
		    argv[optind]);
		main_usage(stderr);
		return 2;
	}
	c = malloc(sizeof(*c));
	errs = calloc(1, sizeof(*errs));
	if (c == NULL || errs == NULL) {
		fprintf(stderr, "popgate: out of memory\n");
		return 1;
	}
	config_defaults(c);
	if (file != NULL)
		config_load_file(c, file, errs);
	main_apply(c, set, nset, errs);
	if (errs->count == 0)
		config_validate(c, file != NULL ? file : "command line", errs);
	if (errs->count == 0)
		main_check_supported(c, file != NULL ? file : "command line",
		    errs);
	if (errs->count > 0) {
		for (i = 0; i < errs->count && i < CONFIG_MAX_ERRORS; i++)
			fprintf(stderr, "%s\n", errs->text[i]);
		if (errs->count > CONFIG_MAX_ERRORS)
			fprintf(stderr, "(%u more errors)\n",
			    errs->count - CONFIG_MAX_ERRORS);
		fprintf(stderr, "popgate: configuration is invalid\n");
		rc = 1;
	} else if (test) {
		printf("popgate: configuration %s is valid\n",
		    file != NULL ? file : "(command line)");
	} else {
		log_set_level(c->log_level);
		rc = main_run(c);
	}
	free(errs);
	free(c);
	return rc;
}
