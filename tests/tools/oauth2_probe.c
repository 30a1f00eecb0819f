/* SPDX-License-Identifier: MIT */
/*
 * oauth2_probe.c - drives the OAuth2 token manager the way the daemon
 * does (one manager on the main loop, W worker threads with a client
 * each) through a scenario given on the command line, for
 * tests/integration/test_oauth2_tokens.py.
 *
 *   oauth2_probe [settings] --source NAME [source options] ... [steps]
 *
 * Settings: --workers W (4), --margin-ms, --backoff-min-ms,
 * --backoff-max-ms, --http-timeout-ms; --manager-first closes the
 * manager before the workers' clients at the end (as the daemon does
 * on SIGTERM, with sessions still draining).
 * Source options (apply to the last --source): --grant refresh_token|
 * client_credentials|command, --token-url, --device-url, --client-id,
 * --client-secret, --scope, --refresh-token-file, --command,
 * --command-timeout-ms, --command-lifetime-s, --ca-file.
 * Steps, in order:
 *   --get NAME [--count K]  K gets at once, spread over the workers;
 *                           prints "READY <fp>" or "FAILED <detail>" per
 *                           get, then "GET NAME ready=R failed=F ms=T"
 *   --start NAME [--count K] the same gets, not waited for ...
 *   --wait                  ... until here, where their lines come
 *   --sleep MS
 *   --reject NAME           rejects the token the last get returned
 *   --status NAME           "STATUS NAME expires_in=S refresh=yes|no"
 *   --bootstrap NAME        device flow; "BOOTSTRAP NAME ok|failed ..."
 *   --fetch-once NAME       "FETCH NAME READY <fp> expires_in=S" or
 *                           "FETCH NAME FAILED <why>"
 *   --pause                 prints "PAUSED", waits for a line on stdin
 *   --reload                sets the same sources again (a SIGHUP)
 *   --reload-scope NAME=S   ... with NAME's scope changed to S
 *   --reload-file NAME=F    ... with NAME's refresh token file changed
 *   --reload-drop NAME      ... without NAME
 *                           each prints "RELOAD rc=R"
 * <fp> is the first 8 hex digits of the token's SHA-256: tokens never
 * appear in the output. Exit status 0 if nothing failed, 1 if something
 * did, 2 for a usage or set-up error.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "log.h"
#include "oauth2.h"

#define PROBE_MAX_WORKERS	64
#define PROBE_MAX_STEPS		256
#define PROBE_MAX_RESULTS	4096
#define PROBE_STEP_TIMEOUT_S	120

enum probe_step_kind {
	PROBE_GET,
	PROBE_START,
	PROBE_WAIT,
	PROBE_SLEEP,
	PROBE_REJECT,
	PROBE_STATUS,
	PROBE_BOOTSTRAP,
	PROBE_FETCH,
	PROBE_PAUSE,
	PROBE_RELOAD,		/* name: NULL, "-NAME" (drop), "NAME=SCOPE" */
};

struct probe_step {
	enum probe_step_kind	 kind;
	const char		*name;
	unsigned long		 n;	/* count, or milliseconds */
};

struct probe_get {
	struct oauth2_wait	 w;	/* first: zeroed by calloc */
	struct probe_worker	*worker;
};

struct probe_worker {
	unsigned int		 index;
	uv_loop_t		 loop;
	uv_thread_t		 thread;
	uv_async_t		 async;
	uv_sem_t		 ready;
	struct oauth2_client	*client;
	/* Under probe_lock. */
	unsigned int		 todo;
	const char		*source;
	bool			 stop;
};

static struct config_oauth2	 probe_src[CONFIG_MAX_OAUTH2];
static unsigned int		 probe_nsrc;
static struct probe_step	 probe_steps[PROBE_MAX_STEPS];
static unsigned int		 probe_nsteps;
static struct probe_worker	 probe_workers[PROBE_MAX_WORKERS];
static unsigned int		 probe_nworkers = 4;
static struct oauth2_settings	 probe_settings;
static struct oauth2_mgr	*probe_mgr;
static uv_loop_t		 probe_main_loop;
static uv_async_t		 probe_main_async;
static bool			 probe_manager_first;
static uv_sem_t			 probe_mgr_gone;
static uv_async_t		 probe_reload_async;
static uv_sem_t			 probe_reload_done;
static struct config_oauth2	 probe_next[CONFIG_MAX_OAUTH2];
static unsigned int		 probe_nnext;
static int			 probe_reload_rc;

static pthread_mutex_t		 probe_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 probe_cond = PTHREAD_COND_INITIALIZER;
static unsigned int		 probe_outstanding;
static char			*probe_results[PROBE_MAX_RESULTS];
static unsigned int		 probe_nresults;
static char			 probe_last_token[OAUTH2_MAX_TOKEN + 1];
static size_t			 probe_last_len;
static bool			 probe_failed;

static void
probe_usage(void)
{
	fprintf(stderr, "usage: oauth2_probe [--workers W] [--margin-ms MS] "
	    "[--backoff-min-ms MS] [--backoff-max-ms MS] "
	    "[--http-timeout-ms MS]\n"
	    "    --source NAME --grant G [--token-url U] [--device-url U] "
	    "[--client-id ID]\n"
	    "    [--client-secret S] [--scope S] [--refresh-token-file F] "
	    "[--command CMD]\n"
	    "    [--command-timeout-ms MS] [--command-lifetime-s S] "
	    "[--ca-file F] ...\n"
	    "    [--get NAME [--count K] | --sleep MS | --reject NAME | "
	    "--status NAME |\n"
	    "     --bootstrap NAME | --fetch-once NAME | --pause] ...\n");
	exit(2);
}

static unsigned long
probe_number(const char *s)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0') {
		fprintf(stderr, "oauth2_probe: not a number: %s\n", s);
		exit(2);
	}
	return v;
}

static void
probe_copy(char *dst, size_t len, const char *src)
{
	if (snprintf(dst, len, "%s", src) >= (int)len) {
		fprintf(stderr, "oauth2_probe: value too long\n");
		exit(2);
	}
}

static struct config_oauth2 *
probe_current(const char *opt)
{
	if (probe_nsrc == 0) {
		fprintf(stderr, "oauth2_probe: %s before --source\n", opt);
		exit(2);
	}
	return &probe_src[probe_nsrc - 1];
}

static void
probe_add_step(enum probe_step_kind kind, const char *name, unsigned long n)
{
	if (probe_nsteps == PROBE_MAX_STEPS) {
		fprintf(stderr, "oauth2_probe: too many steps\n");
		exit(2);
	}
	probe_steps[probe_nsteps].kind = kind;
	probe_steps[probe_nsteps].name = name;
	probe_steps[probe_nsteps].n = n;
	probe_nsteps++;
}

static void
probe_parse(int argc, char **argv)
{
	struct config_oauth2	*c;
	const char		*o, *v;
	int			 i;

	for (i = 1; i < argc; i++) {
		o = argv[i];
		if (strcmp(o, "--pause") == 0) {
			probe_add_step(PROBE_PAUSE, NULL, 0);
			continue;
		}
		if (strcmp(o, "--manager-first") == 0) {
			probe_manager_first = true;
			continue;
		}
		if (strcmp(o, "--reload") == 0) {
			probe_add_step(PROBE_RELOAD, NULL, 0);
			continue;
		}
		if (strcmp(o, "--wait") == 0) {
			probe_add_step(PROBE_WAIT, NULL, 0);
			continue;
		}
		if (i + 1 >= argc)
			probe_usage();
		v = argv[++i];
		if (strcmp(o, "--workers") == 0) {
			probe_nworkers = (unsigned int)probe_number(v);
			if (probe_nworkers < 1 ||
			    probe_nworkers > PROBE_MAX_WORKERS)
				probe_usage();
		} else if (strcmp(o, "--margin-ms") == 0)
			probe_settings.refresh_margin_ms = probe_number(v);
		else if (strcmp(o, "--backoff-min-ms") == 0)
			probe_settings.backoff_min_ms = probe_number(v);
		else if (strcmp(o, "--backoff-max-ms") == 0)
			probe_settings.backoff_max_ms = probe_number(v);
		else if (strcmp(o, "--http-timeout-ms") == 0)
			probe_settings.http_timeout_ms = probe_number(v);
		else if (strcmp(o, "--source") == 0) {
			if (probe_nsrc == CONFIG_MAX_OAUTH2)
				probe_usage();
			c = &probe_src[probe_nsrc++];
			memset(c, 0, sizeof(*c));
			probe_copy(c->name, sizeof(c->name), v);
			c->line = probe_nsrc;
		} else if (strcmp(o, "--grant") == 0) {
			c = probe_current(o);
			if (strcmp(v, "refresh_token") == 0)
				c->grant = CONFIG_OAUTH2_REFRESH_TOKEN;
			else if (strcmp(v, "client_credentials") == 0)
				c->grant = CONFIG_OAUTH2_CLIENT_CREDENTIALS;
			else if (strcmp(v, "command") == 0)
				c->grant = CONFIG_OAUTH2_COMMAND;
			else
				probe_usage();
		} else if (strcmp(o, "--token-url") == 0)
			probe_copy(probe_current(o)->token_url,
			    CONFIG_MAX_URL, v);
		else if (strcmp(o, "--device-url") == 0)
			probe_copy(probe_current(o)->device_url,
			    CONFIG_MAX_URL, v);
		else if (strcmp(o, "--client-id") == 0)
			probe_copy(probe_current(o)->client_id,
			    CONFIG_MAX_SECRET, v);
		else if (strcmp(o, "--client-secret") == 0)
			probe_copy(probe_current(o)->client_secret,
			    CONFIG_MAX_SECRET, v);
		else if (strcmp(o, "--scope") == 0)
			probe_copy(probe_current(o)->scope, CONFIG_MAX_URL, v);
		else if (strcmp(o, "--refresh-token-file") == 0)
			probe_copy(probe_current(o)->refresh_token_file,
			    CONFIG_MAX_PATH, v);
		else if (strcmp(o, "--command") == 0)
			probe_copy(probe_current(o)->command, CONFIG_MAX_PATH,
			    v);
		else if (strcmp(o, "--command-timeout-ms") == 0)
			probe_current(o)->command_timeout_ms = probe_number(v);
		else if (strcmp(o, "--command-lifetime-s") == 0)
			probe_current(o)->command_lifetime_s = probe_number(v);
		else if (strcmp(o, "--ca-file") == 0)
			probe_copy(probe_current(o)->ca_file, CONFIG_MAX_PATH,
			    v);
		else if (strcmp(o, "--get") == 0)
			probe_add_step(PROBE_GET, v, 1);
		else if (strcmp(o, "--start") == 0)
			probe_add_step(PROBE_START, v, 1);
		else if (strcmp(o, "--count") == 0) {
			if (probe_nsteps == 0 ||
			    (probe_steps[probe_nsteps - 1].kind != PROBE_GET &&
			    probe_steps[probe_nsteps - 1].kind != PROBE_START))
				probe_usage();
			probe_steps[probe_nsteps - 1].n = probe_number(v);
			if (probe_steps[probe_nsteps - 1].n == 0 ||
			    probe_steps[probe_nsteps - 1].n > PROBE_MAX_RESULTS)
				probe_usage();
		} else if (strcmp(o, "--sleep") == 0)
			probe_add_step(PROBE_SLEEP, NULL, probe_number(v));
		else if (strcmp(o, "--reject") == 0)
			probe_add_step(PROBE_REJECT, v, 0);
		else if (strcmp(o, "--status") == 0)
			probe_add_step(PROBE_STATUS, v, 0);
		else if (strcmp(o, "--bootstrap") == 0)
			probe_add_step(PROBE_BOOTSTRAP, v, 0);
		else if (strcmp(o, "--fetch-once") == 0)
			probe_add_step(PROBE_FETCH, v, 0);
		else if (strcmp(o, "--reload-scope") == 0) {
			if (strchr(v, '=') == NULL)
				probe_usage();
			probe_add_step(PROBE_RELOAD, v, 1);
		} else if (strcmp(o, "--reload-drop") == 0)
			probe_add_step(PROBE_RELOAD, v, 2);
		else if (strcmp(o, "--reload-file") == 0) {
			if (strchr(v, '=') == NULL)
				probe_usage();
			probe_add_step(PROBE_RELOAD, v, 3);
		}
		else
			probe_usage();
	}
}

static const struct config_oauth2 *
probe_source(const char *name)
{
	unsigned int	i;

	for (i = 0; i < probe_nsrc; i++)
		if (strcmp(probe_src[i].name, name) == 0)
			return &probe_src[i];
	return NULL;
}

static uint64_t
probe_ms(void)
{
	return uv_hrtime() / 1000000;
}

/* ---- workers ---- */

/* Records one result line; the step waiting on the main thread prints
 * them. Under nothing; takes probe_lock. */
static void
probe_record(enum oauth2_result r, struct oauth2_wait *w)
{
	char	 fp[9], line[OAUTH2_MAX_DETAIL + 16];

	if (r == OAUTH2_READY) {
		oauth2_fingerprint(w->token, w->token_len, fp);
		snprintf(line, sizeof(line), "READY %s", fp);
	} else
		snprintf(line, sizeof(line), "FAILED %s", w->detail);
	pthread_mutex_lock(&probe_lock);
	if (r == OAUTH2_READY) {
		memcpy(probe_last_token, w->token, w->token_len + 1);
		probe_last_len = w->token_len;
	} else
		probe_failed = true;
	if (probe_nresults < PROBE_MAX_RESULTS)
		probe_results[probe_nresults++] = strdup(line);
	probe_outstanding--;
	pthread_cond_broadcast(&probe_cond);
	pthread_mutex_unlock(&probe_lock);
}

static void
probe_get_done(void *arg, enum oauth2_result r, struct oauth2_wait *w)
{
	struct probe_get	*g = arg;

	probe_record(r, w);
	oauth2_json_wipe(g, sizeof(*g));
	free(g);
}

static void
probe_worker_on_async(uv_async_t *a)
{
	struct probe_worker	*pw = a->data;
	struct probe_get	*g;
	enum oauth2_result	 r;
	const char		*source;
	unsigned int		 n, i;
	bool			 stop;

	pthread_mutex_lock(&probe_lock);
	n = pw->todo;
	pw->todo = 0;
	source = pw->source;
	stop = pw->stop;
	pthread_mutex_unlock(&probe_lock);
	for (i = 0; i < n; i++) {
		if ((g = calloc(1, sizeof(*g))) == NULL)
			abort();
		g->worker = pw;
		r = oauth2_get(pw->client, source, &g->w, probe_get_done, g);
		if (r != OAUTH2_PENDING)
			probe_get_done(g, r, &g->w);
	}
	if (stop) {
		oauth2_client_close(pw->client);
		pw->client = NULL;
		uv_close((uv_handle_t *)&pw->async, NULL);
	}
}

static void
probe_worker_main(void *arg)
{
	struct probe_worker	*pw = arg;

	uv_loop_init(&pw->loop);
	uv_async_init(&pw->loop, &pw->async, probe_worker_on_async);
	pw->async.data = pw;
	/* Created on its own thread, as a daemon worker does. */
	if ((pw->client = oauth2_client_new(probe_mgr, &pw->loop)) == NULL)
		abort();
	uv_sem_post(&pw->ready);
	uv_run(&pw->loop, UV_RUN_DEFAULT);
	uv_loop_close(&pw->loop);
}

/* ---- steps (on the driver thread) ---- */

/* A reload: the new source list goes to the main loop, which sets it. */
static void
probe_step_reload(const struct probe_step *st)
{
	struct config_oauth2	*c;
	const char		*eq;
	size_t			 n;
	unsigned int		 i;

	probe_nnext = 0;
	for (i = 0; i < probe_nsrc; i++) {
		if (st->n == 2 && strcmp(probe_src[i].name, st->name) == 0)
			continue;
		probe_next[probe_nnext] = probe_src[i];
		if (st->n == 1 || st->n == 3) {
			eq = strchr(st->name, '=');
			n = (size_t)(eq - st->name);
			if (strlen(probe_src[i].name) == n &&
			    strncmp(probe_src[i].name, st->name, n) == 0) {
				c = &probe_next[probe_nnext];
				if (st->n == 1)
					probe_copy(c->scope, CONFIG_MAX_URL,
					    eq + 1);
				else
					probe_copy(c->refresh_token_file,
					    CONFIG_MAX_PATH, eq + 1);
			}
		}
		probe_nnext++;
	}
	uv_async_send(&probe_reload_async);
	uv_sem_wait(&probe_reload_done);
	if (probe_reload_rc == 0) {
		memcpy(probe_src, probe_next, sizeof(probe_src));
		probe_nsrc = probe_nnext;
	}
	printf("RELOAD rc=%d\n", probe_reload_rc);
}

static uint64_t			 probe_get_t0;
static const char		*probe_get_name;

/* Hands st->n gets to the workers. */
static void
probe_step_start(const struct probe_step *st)
{
	unsigned int	i, share;

	pthread_mutex_lock(&probe_lock);
	probe_get_t0 = probe_ms();
	probe_get_name = st->name;
	probe_outstanding = (unsigned int)st->n;
	probe_nresults = 0;
	for (i = 0; i < probe_nworkers; i++) {
		share = (unsigned int)(st->n / probe_nworkers) +
		    (i < st->n % probe_nworkers ? 1 : 0);
		probe_workers[i].todo = share;
		probe_workers[i].source = st->name;
	}
	pthread_mutex_unlock(&probe_lock);
	/* All workers are told before any runs far: the gets overlap. */
	for (i = 0; i < probe_nworkers; i++)
		uv_async_send(&probe_workers[i].async);
}

/* Waits for the gets handed out and prints their results. */
static void
probe_step_wait(void)
{
	struct timespec	 deadline;
	unsigned int	 i, ready = 0, failed = 0;
	bool		 timed_out = false;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += PROBE_STEP_TIMEOUT_S;
	pthread_mutex_lock(&probe_lock);
	while (probe_outstanding > 0 && !timed_out)
		timed_out = pthread_cond_timedwait(&probe_cond, &probe_lock,
		    &deadline) == ETIMEDOUT;
	for (i = 0; i < probe_nresults; i++) {
		printf("%s\n", probe_results[i]);
		if (strncmp(probe_results[i], "READY", 5) == 0)
			ready++;
		else
			failed++;
		free(probe_results[i]);
	}
	probe_nresults = 0;
	pthread_mutex_unlock(&probe_lock);
	if (timed_out) {
		printf("TIMEOUT %s\n", probe_get_name);
		fflush(stdout);
		_exit(3);	/* waits are still linked: no clean exit */
	}
	if (probe_get_name != NULL)
		printf("GET %s ready=%u failed=%u ms=%llu\n", probe_get_name,
		    ready, failed, (unsigned long long)(probe_ms() -
		    probe_get_t0));
	probe_get_name = NULL;
}

static void
probe_step_run(const struct probe_step *st)
{
	const struct config_oauth2	*src;
	struct timespec			 ts;
	char				 err[512], fp[9], *token, line[64];
	long				 expires_in;
	bool				 has_refresh;

	switch (st->kind) {
	case PROBE_GET:
		probe_step_start(st);
		probe_step_wait();
		break;
	case PROBE_START:
		probe_step_start(st);
		break;
	case PROBE_WAIT:
		probe_step_wait();
		break;
	case PROBE_SLEEP:
		ts.tv_sec = (time_t)(st->n / 1000);
		ts.tv_nsec = (long)(st->n % 1000) * 1000000;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		break;
	case PROBE_REJECT:
		pthread_mutex_lock(&probe_lock);
		oauth2_fingerprint(probe_last_token, probe_last_len, fp);
		oauth2_reject(probe_workers[0].client, st->name,
		    probe_last_token, probe_last_len);
		pthread_mutex_unlock(&probe_lock);
		printf("REJECT %s %s\n", st->name, fp);
		break;
	case PROBE_STATUS:
		if (oauth2_source_status(probe_mgr, st->name, &expires_in,
		    &has_refresh, NULL) != 0) {
			printf("STATUS %s unknown\n", st->name);
			probe_failed = true;
		} else
			printf("STATUS %s expires_in=%ld refresh=%s\n",
			    st->name, expires_in, has_refresh ? "yes" : "no");
		break;
	case PROBE_BOOTSTRAP:
		if ((src = probe_source(st->name)) == NULL) {
			printf("BOOTSTRAP %s failed unknown source\n",
			    st->name);
			probe_failed = true;
		} else if (oauth2_bootstrap_device(src, stdout, err,
		    sizeof(err)) != 0) {
			printf("BOOTSTRAP %s failed %s\n", st->name, err);
			probe_failed = true;
		} else
			printf("BOOTSTRAP %s ok\n", st->name);
		break;
	case PROBE_FETCH:
		if ((token = malloc(OAUTH2_MAX_TOKEN + 1)) == NULL)
			abort();
		if ((src = probe_source(st->name)) == NULL) {
			printf("FETCH %s FAILED unknown source\n", st->name);
			probe_failed = true;
		} else if (oauth2_fetch_once(src, token, OAUTH2_MAX_TOKEN + 1,
		    &expires_in, err, sizeof(err)) != 0) {
			printf("FETCH %s FAILED %s\n", st->name, err);
			probe_failed = true;
		} else {
			oauth2_fingerprint(token, strlen(token), fp);
			printf("FETCH %s READY %s expires_in=%ld\n", st->name,
			    fp, expires_in);
		}
		oauth2_json_wipe(token, OAUTH2_MAX_TOKEN + 1);
		free(token);
		break;
	case PROBE_RELOAD:
		probe_step_reload(st);
		break;
	case PROBE_PAUSE:
		printf("PAUSED\n");
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin) == NULL)
			break;
		break;
	}
	fflush(stdout);
}

static void
probe_driver(void *arg)
{
	unsigned int	i;

	(void)arg;
	for (i = 0; i < probe_nsteps; i++)
		probe_step_run(&probe_steps[i]);
	if (probe_manager_first) {
		uv_async_send(&probe_main_async);
		uv_sem_wait(&probe_mgr_gone);
		/* The clients still work: every get fails at once. */
		pthread_mutex_lock(&probe_lock);
		probe_workers[0].todo = 1;
		probe_workers[0].source = probe_nsrc > 0 ? probe_src[0].name :
		    "none";
		probe_outstanding = 1;
		pthread_mutex_unlock(&probe_lock);
		uv_async_send(&probe_workers[0].async);
		pthread_mutex_lock(&probe_lock);
		while (probe_outstanding > 0)
			pthread_cond_wait(&probe_cond, &probe_lock);
		printf("AFTER-CLOSE %s\n", probe_results[0]);
		free(probe_results[0]);
		probe_nresults = 0;
		probe_failed = false;
		pthread_mutex_unlock(&probe_lock);
	}
	for (i = 0; i < probe_nworkers; i++) {
		pthread_mutex_lock(&probe_lock);
		probe_workers[i].stop = true;
		pthread_mutex_unlock(&probe_lock);
		uv_async_send(&probe_workers[i].async);
		uv_thread_join(&probe_workers[i].thread);
	}
	if (!probe_manager_first)
		uv_async_send(&probe_main_async);
}

/* ---- main loop ---- */

static void
probe_mgr_closed(void *arg)
{
	(void)arg;
	/* With --manager-first the workers' clients still refer to it;
	 * the last of them frees it. */
	uv_sem_post(&probe_mgr_gone);
}

static void
probe_main_on_async(uv_async_t *a)
{
	oauth2_mgr_close(probe_mgr, probe_mgr_closed, NULL);
	uv_close((uv_handle_t *)a, NULL);
	uv_close((uv_handle_t *)&probe_reload_async, NULL);
}

/* On the manager's loop thread, as the daemon's SIGHUP handler. */
static void
probe_main_on_reload(uv_async_t *a)
{
	(void)a;
	probe_reload_rc = oauth2_mgr_set_sources(probe_mgr, probe_next,
	    probe_nnext);
	uv_sem_post(&probe_reload_done);
}

int
main(int argc, char **argv)
{
	uv_thread_t	driver;
	unsigned int	i;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	probe_parse(argc, argv);
	uv_sem_init(&probe_mgr_gone, 0);
	log_set_level(CONFIG_LOG_DEBUG);
	if (uv_loop_init(&probe_main_loop) != 0)
		return 2;
	if ((probe_mgr = oauth2_mgr_new(&probe_main_loop,
	    &probe_settings)) == NULL) {
		fprintf(stderr, "oauth2_probe: cannot create the manager\n");
		return 2;
	}
	/* On the manager's loop thread, before it runs. */
	if (oauth2_mgr_set_sources(probe_mgr, probe_src, probe_nsrc) != 0) {
		fprintf(stderr, "oauth2_probe: unusable token sources\n");
		return 2;
	}
	uv_async_init(&probe_main_loop, &probe_main_async,
	    probe_main_on_async);
	uv_async_init(&probe_main_loop, &probe_reload_async,
	    probe_main_on_reload);
	uv_sem_init(&probe_reload_done, 0);
	for (i = 0; i < probe_nworkers; i++) {
		probe_workers[i].index = i;
		uv_sem_init(&probe_workers[i].ready, 0);
		if (uv_thread_create(&probe_workers[i].thread,
		    probe_worker_main, &probe_workers[i]) != 0)
			return 2;
		uv_sem_wait(&probe_workers[i].ready);
		uv_sem_destroy(&probe_workers[i].ready);
	}
	if (uv_thread_create(&driver, probe_driver, NULL) != 0)
		return 2;
	uv_run(&probe_main_loop, UV_RUN_DEFAULT);
	uv_thread_join(&driver);
	uv_loop_close(&probe_main_loop);
	oauth2_json_wipe(probe_last_token, sizeof(probe_last_token));
	return probe_failed ? 1 : 0;
}
