/* SPDX-License-Identifier: MIT */
/*
 * memtrim.h - hand memory back to the system after bursts of sessions
 * (glibc keeps what was freed in its arenas otherwise).
 */
#ifndef POPGATE_MEMTRIM_H
#define POPGATE_MEMTRIM_H

#include <uv.h>

/* Caps glibc's arenas for that many event loops; before any thread starts.
 * MALLOC_ARENA_MAX in the environment wins. */
void	memtrim_init(unsigned int workers);
/* A timer on loop (main's) that trims once a burst is over. */
void	memtrim_start(uv_loop_t *loop);
/* Closes that timer (shutdown). */
void	memtrim_stop(void);

#endif
