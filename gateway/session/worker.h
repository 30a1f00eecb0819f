/* SPDX-License-Identifier: MIT */
/*
 * worker.h - one event loop per thread. Each worker accepts on its own
 * SO_REUSEPORT sockets, so the kernel spreads connections; a session lives
 * and dies on the loop that accepted it.
 */
#ifndef POPGATE_WORKER_H
#define POPGATE_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "shared.h"
#include "tls_setup.h"

struct backend;
struct backend_config;
struct session;
struct worker;

/* One loaded configuration, shared by every worker and released by the
 * last of them (and main) to let go of it. */
struct accounts;

/* One loaded configuration and the device accounts that go with it. */
struct config_ref {
	atomic_uint	 refs;
	struct config	*config;
	struct accounts	*accounts;	/* NULL: no accounts_file */
};

void	config_ref_release(struct config_ref *r);

/*
 * A configuration as one worker uses it: the shared config and TLS
 * contexts built from it for this worker alone (by main, before the worker
 * sees them). A session holds its generation until it and its upstream
 * clients are gone, so a reload never changes anything under a session in
 * flight; new sessions take the current one. Once handed over, only the
 * worker's thread touches refs.
 */
struct oauth2_client;
struct oauth2_mgr;

struct worker_gen {
	unsigned int		 refs;
	struct config_ref	*ref;
	const struct config	*config;
	struct tls_setup	 tls;
	struct accounts		*accounts;	/* the ref's, or NULL */
	uint32_t		 relayable;	/* upstream_caps_relayable() */
};

void	worker_gen_hold(struct worker_gen *g);
void	worker_gen_release(struct worker_gen *g);

/* A capability probe of one upstream (the start-up probe, or a new
 * upstream after a reload). */
struct worker_probe {
	struct backend		*client;	/* NULL: none running */
	struct worker_gen	*gen;		/* the probe's configuration */
	unsigned int		 upstream;	/* index in gen->config */
	struct worker		*worker;	/* whose shared caps it fills */
};

struct worker {
	unsigned int		 index;
	const struct config	*config;	/* the current generation's */
	struct worker_gen	*gen;		/* current; new sessions take it */
	_Atomic(struct worker_gen *) pending;	/* a reload waiting for us */
	uv_loop_t		 loop;
	uv_thread_t		 thread;
	uv_async_t		 wakeup;	/* stop requests from main */
	uv_timer_t		 drain_timer;
	uv_tcp_t		 listeners[CONFIG_MAX_LISTENERS];
	int			 listen_fds[CONFIG_MAX_LISTENERS];
	unsigned int		 nlisteners;
	struct worker_probe	 probes[CONFIG_MAX_UPSTREAMS];
	struct session		*sessions;	/* all live sessions */
	unsigned int		 nsessions;
	uint64_t		 next_session;
	atomic_bool		 stop_requested;
	atomic_bool		 stop_now;	/* second signal: close all */
	bool			 stopping;
	struct oauth2_client	*oauth2;	/* token requests of this loop */
	struct shared		*shared;	/* main's, for every worker */
};


/* Sets up the loop, binds the worker's sockets and loads its TLS contexts
 * (errors are logged): everything that may need privileges. Takes a
 * reference to ref. shared (main's, outliving the worker) is what its
 * sessions share with every other worker, its token manager included.
 * Returns 0 or a negative errno. */
int	worker_init(struct worker *w, unsigned int index,
	    struct config_ref *ref, struct shared *shared);
/* SIGHUP, from main: builds the worker's generation for ref (taking a
 * reference), which the worker switches to on its own thread; its
 * listeners must be the ones it has. */
void	worker_reload(struct worker *w, struct config_ref *ref);
/* Starts the worker's thread (after privileges were dropped). */
int	worker_run(struct worker *w);
/* Asks the worker to stop accepting and drain, or with now to close every
 * session at once; safe from any thread. */
void	worker_request_stop(struct worker *w, bool now);
/* a is sent (from the worker's thread) each time a worker's loop ends;
 * set before worker_run. */
void	worker_set_done(uv_async_t *a);
/* How many workers' loops have ended. */
unsigned int worker_done_total(void);
/* Waits for the worker thread to end and frees its loop. */
void	worker_join(struct worker *w);
/* The connection settings of upstream u (one of g's) in generation g. */
void	worker_backend_config(const struct worker_gen *g,
	    const struct config_upstream *u, struct backend_config *bc);
/* The same from a config and its TLS contexts (admin commands). */
void	worker_backend_settings(const struct config *c,
	    const struct tls_setup *t, const struct config_upstream *u,
	    struct backend_config *bc);
/* Sessions open in the whole process (every worker). */
unsigned int worker_sessions_total(void);
/* Sessions that have ended since start (every worker). */
uint64_t worker_sessions_ended(void);
/* Called by a session as it starts, and once it is fully freed. */
void	worker_session_new(struct worker *w);
void	worker_session_gone(struct worker *w);

#endif
