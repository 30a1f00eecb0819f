/* SPDX-License-Identifier: MIT */
/*
 * main.c - popgate: starts the workers and the metrics server, owns the
 * signals (stop, drain, reload), and stops. Runs in the foreground and
 * logs to stderr, systemd style. The command line is cli.c, loading the
 * configuration load.c, the privilege drop privdrop.c.
 */
#include <arpa/inet.h>
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
#include "worker.h"
#include "accounts.h"
#include "admin.h"
#include "oauth2.h"
#include "process.h"

#define MAIN_MAX_WORKERS	256

/* libuv's pool: see main(). */
#define MAIN_THREADPOOL_SIZE	"16"

static void
main_on_signal(uv_signal_t *h, int signum)
{
	struct process	*m = h->data;
	unsigned int	 i;

	if (signum == SIGHUP) {
		if (!m->stopping)
			load_again(m);
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
	struct process	*m = a->data;

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
	struct process		*m = arg;
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

/*
 * What main's loop serves besides the workers, started before privileges
 * go: the state the workers share (the counters among it), the metrics
 * server that renders those counters (bound like the POP3 ports), the
 * token manager, and the word that a worker has ended. Exits on failure:
 * nothing is running yet.
 */
static void
main_services_start(struct process *m, uv_loop_t *loop,
    const struct config *c)
{
	int	r;

	if (shared_init(&m->shared, c) != 0) {
		log_error("startup", "reason=\"out of memory\"");
		_exit(1);
	}
	if (c->metrics_addrlen != 0) {
		r = metrics_start(loop, c, m->shared.metrics);
		if (r < 0) {
			log_error("startup", "metrics_address error=%s",
			    uv_strerror(r));
			_exit(1);
		}
		main_log_metrics_address();
	}
	m->oauth2 = main_oauth2_start(loop, c);
	if (m->oauth2 == NULL)
		_exit(1);
	m->shared.oauth2 = m->oauth2;
	metrics_set_oauth2(m->shared.metrics, main_oauth2_status, m);
	uv_async_init(loop, &m->workers_done, main_on_workers_done);
	m->workers_done.data = m;
	worker_set_done(&m->workers_done);
}

/* TERM and INT stop (drain, then at once on a second), HUP reloads. */
static void
main_signals_start(struct process *m, uv_loop_t *loop)
{
	uv_signal_init(loop, &m->sigterm);
	uv_signal_init(loop, &m->sigint);
	uv_signal_init(loop, &m->sighup);
	m->sigterm.data = m->sigint.data = m->sighup.data = m;
	uv_signal_start(&m->sigterm, main_on_signal, SIGTERM);
	uv_signal_start(&m->sigint, main_on_signal, SIGINT);
	uv_signal_start(&m->sighup, main_on_signal, SIGHUP);
}

static int
main_run(struct config_ref *ref, const char *file,
    const struct cli_setting *set, unsigned int nset)
{
	const struct config	*c = ref->config;
	struct process	 m;
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
	main_services_start(&m, loop, c);
	/* Before the first listener is bound: a TERM that comes as soon as
	 * the port accepts waits for the loop, which stops the workers,
	 * instead of killing the process by its default action. */
	main_signals_start(&m, loop);
	for (i = 0; i < n; i++) {
		r = worker_init(&m.workers[i], i, m.current, &m.shared);
		if (r < 0) {
			log_error("startup", "worker=%u error=%s", i,
			    uv_strerror(r));
			_exit(1);
		}
	}
	if (privdrop(c) != 0)
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
	memtrim_start(loop);
	notify_send("READY=1\nSTATUS=serving");
	uv_run(loop, UV_RUN_DEFAULT);
	for (i = 0; i < m.nworkers; i++)
		worker_join(&m.workers[i]);
	free(m.workers);
	shared_deinit(&m.shared);
	config_ref_release(m.current);
	uv_loop_close(loop);
	log_info("stopped", "workers=%u", n);
	return 0;
}

int
main(int argc, char **argv)
{
	struct cli		 cl;
	struct config_ref	*ref;
	struct config_errors	*errs;
	unsigned int		 i;
	int			 rc;

	/*
	 * libuv's thread pool (4 threads by default) serves name lookups for
	 * upstream connects, device-secret checks and token file writes for
	 * the whole process; it is sized before its first use. An explicit
	 * UV_THREADPOOL_SIZE wins.
	 */
	setenv("UV_THREADPOOL_SIZE", MAIN_THREADPOOL_SIZE, 0);
	if ((rc = cli_parse(&cl, argc, argv)) >= 0)
		return rc;
	rc = 0;
	errs = calloc(1, sizeof(*errs));
	if (errs == NULL) {
		fprintf(stderr, "popgate: out of memory\n");
		return 1;
	}
	ref = load_config(cl.file, cl.set, cl.nset, errs,
	    cl.test || cl.first_word != argc);
	if (ref == NULL) {
		for (i = 0; i < errs->count && i < CONFIG_MAX_ERRORS; i++)
			fprintf(stderr, "%s\n", errs->text[i]);
		if (errs->count > CONFIG_MAX_ERRORS)
			fprintf(stderr, "(%u more errors)\n",
			    errs->count - CONFIG_MAX_ERRORS);
		fprintf(stderr, "popgate: configuration is invalid\n");
		rc = 1;
	} else if (cl.first_word != argc) {
		rc = admin_main(ref, argc - cl.first_word, argv + cl.first_word);
		config_ref_release(ref);
	} else if (cl.test) {
		printf("popgate: configuration %s is valid\n",
		    cl.file != NULL ? cl.file : "(command line)");
		config_ref_release(ref);
	} else {
		log_set_level(ref->config->log_level);
		if (ref->config->log_syslog)
			log_open_syslog(ref->config->log_facility);
		rc = main_run(ref, cl.file, cl.set, cl.nset);	/* releases ref */
	}
	free(errs);
	return rc;
}
