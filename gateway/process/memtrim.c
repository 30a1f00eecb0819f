/* SPDX-License-Identifier: MIT */
/*
 * memtrim.c - glibc keeps freed memory in per-thread arenas and only
 * returns the top of each heap; after a burst (thousands of abandoned TLS
 * handshakes) RSS stayed several times the idle size, with no leak.
 * Fewer arenas and a malloc_trim() once a burst has ended bring it back.
 */
#include "memtrim.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "log.h"
#include "worker.h"

/* A look at the session counters: one atomic read, once a second. */
#define MEMTRIM_TICK_MS		1000
/* malloc_trim() walks every arena, taking each lock in turn: at most this
 * often, whatever the load. */
#define MEMTRIM_MIN_GAP_MS	5000
/* A burst: at least this many sessions ended since the last trim. */
#define MEMTRIM_MIN_ENDED	256

static uv_timer_t	memtrim_timer;
static bool		memtrim_running;
static uint64_t		memtrim_last_ms;
static uint64_t		memtrim_last_ended;

void
memtrim_init(unsigned int workers)
{
#ifdef __GLIBC__
	/* One arena per worker and one for main and the thread pool, rather
	 * than eight per CPU: less memory stranded in arenas nobody uses. */
	if (getenv("MALLOC_ARENA_MAX") == NULL)
		(void)mallopt(M_ARENA_MAX, (int)workers + 1);
#else
	(void)workers;
#endif
}

static void
memtrim_tick(uv_timer_t *t)
{
	uint64_t	now = uv_now(t->loop);
	uint64_t	ended = worker_sessions_ended();
	unsigned int	open = worker_sessions_total();

	/* The burst is over when more sessions went away than are open. */
	if (ended - memtrim_last_ended < MEMTRIM_MIN_ENDED ||
	    open > (ended - memtrim_last_ended) / 2 ||
	    (memtrim_last_ms != 0 && now - memtrim_last_ms < MEMTRIM_MIN_GAP_MS))
		return;
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
	log_debug("memory-trim", "sessions_ended=%llu sessions=%u",
	    (unsigned long long)(ended - memtrim_last_ended), open);
	memtrim_last_ended = ended;
	memtrim_last_ms = now;
}

void
memtrim_start(uv_loop_t *loop)
{
	uv_timer_init(loop, &memtrim_timer);
	uv_timer_start(&memtrim_timer, memtrim_tick, MEMTRIM_TICK_MS,
	    MEMTRIM_TICK_MS);
	/* It must not keep the loop alive on its own. */
	uv_unref((uv_handle_t *)&memtrim_timer);
	memtrim_running = true;
}

void
memtrim_stop(void)
{
	if (!memtrim_running)
		return;
	memtrim_running = false;
	uv_close((uv_handle_t *)&memtrim_timer, NULL);
}
