/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - the counters. Their exposition is in exposition.c, the
 * endpoint that serves it in metrics_http.c (over net/http_server.c).
 *
 * Counters live in one flat array of relaxed atomics in the object
 * (struct metrics, metrics_int.h), indexed by slot, so counting is one
 * atomic add through the pointer the caller holds, and a new object starts
 * at zero.
 * A histogram keeps per-bucket counts, rendered cumulatively.
 */
#include "metrics_int.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Histogram bounds in microseconds, 1 ms to 30 s. */
static const uint64_t metrics_bucket_us[] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000,
};
_Static_assert(sizeof(metrics_bucket_us) / sizeof(metrics_bucket_us[0]) ==
    METRICS_NBUCKETS, "one bound per bucket");

static void
metrics_add(struct metrics *m, size_t slot, uint64_t n)
{
	atomic_fetch_add_explicit(&m->slots[slot], n, memory_order_relaxed);
}

uint64_t
metrics_get(const struct metrics *m, size_t slot)
{
	return atomic_load_explicit(&m->slots[slot], memory_order_relaxed);
}

unsigned int
metrics_listener_count(const struct metrics *m)
{
	return m->nlisteners;
}

const char *
metrics_listener_label(const struct metrics *m, unsigned int l)
{
	return m->labels[l];
}

void
metrics_escape_label(char *dst, size_t dstlen, const char *src)
{
	size_t	n = 0;

	for (; *src != '\0' && n + 3 <= dstlen; src++) {
		if (*src == '\\' || *src == '"') {
			dst[n++] = '\\';
			dst[n++] = *src;
		} else if (*src == '\n') {
			dst[n++] = '\\';
			dst[n++] = 'n';
		} else {
			dst[n++] = *src;
		}
	}
	dst[n] = '\0';
}

struct metrics *
metrics_new(const struct config *c)
{
	struct metrics	*m;
	size_t		 i;
	unsigned int	 l;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	for (i = 0; i < METRICS_NSLOTS; i++)
		atomic_init(&m->slots[i], 0);
	m->nlisteners = c->nlisteners < CONFIG_MAX_LISTENERS ?
	    c->nlisteners : CONFIG_MAX_LISTENERS;
	for (l = 0; l < m->nlisteners; l++)
		metrics_escape_label(m->labels[l], sizeof(m->labels[l]),
		    c->listeners[l].name);
	return m;
}

void
metrics_free(struct metrics *m)
{
	free(m);
}

void
metrics_set_oauth2(struct metrics *m, metrics_oauth2_fn *fn, void *arg)
{
	m->oauth2 = fn;
	m->oauth2_arg = arg;
}

void
metrics_session_start(struct metrics *m, unsigned int listener)
{
	if (listener >= CONFIG_MAX_LISTENERS)
		return;
	metrics_add(m, METRICS_SLOT_LISTENER(listener, METRICS_L_ACTIVE), 1);
	metrics_add(m, METRICS_SLOT_LISTENER(listener, METRICS_L_SESSIONS),
	    1);
}

void
metrics_session_end(struct metrics *m, unsigned int listener,
    uint64_t bytes_in, uint64_t bytes_out, uint32_t retr, uint32_t top,
    uint32_t dele_committed)
{
	if (listener >= CONFIG_MAX_LISTENERS)
		return;
	atomic_fetch_sub_explicit(&m->slots[METRICS_SLOT_LISTENER(listener,
	    METRICS_L_ACTIVE)], 1, memory_order_relaxed);
	metrics_add(m, METRICS_SLOT_LISTENER(listener, METRICS_L_BYTES_IN),
	    bytes_in);
	metrics_add(m, METRICS_SLOT_LISTENER(listener, METRICS_L_BYTES_OUT),
	    bytes_out);
	metrics_add(m, METRICS_SLOT_LISTENER(listener, METRICS_L_RETR), retr);
	metrics_add(m, METRICS_SLOT_LISTENER(listener, METRICS_L_TOP), top);
	metrics_add(m, METRICS_SLOT_LISTENER(listener, METRICS_L_DELE),
	    dele_committed);
}

void
metrics_session_refused(struct metrics *m, unsigned int listener,
    enum metrics_refusal why)
{
	if (listener >= CONFIG_MAX_LISTENERS ||
	    (unsigned int)why >= METRICS_REFUSED_COUNT)
		return;
	metrics_add(m, METRICS_SLOT_LISTENER(listener,
	    METRICS_L_REFUSED + why), 1);
}

void
metrics_login(struct metrics *m, enum metrics_method meth,
    enum metrics_login_result r)
{
	if ((unsigned int)meth >= METRICS_METHOD_COUNT ||
	    (unsigned int)r >= METRICS_LOGIN_COUNT)
		return;
	metrics_add(m, METRICS_SLOT_LOGIN(meth, r), 1);
}

void
metrics_tls_handshake(struct metrics *m, unsigned int listener,
    enum metrics_tls_version v)
{
	if (listener >= CONFIG_MAX_LISTENERS ||
	    (unsigned int)v >= METRICS_TLS_COUNT)
		return;
	metrics_add(m, METRICS_SLOT_LISTENER(listener, METRICS_L_TLS + v), 1);
}

enum metrics_tls_version
metrics_tls_version_from_name(const char *name)
{
	unsigned int	v;

	if (name == NULL)
		return METRICS_TLS_OTHER;
	for (v = 0; v < METRICS_TLS_OTHER; v++)
		if (strcmp(name, metrics_tls_names[v]) == 0)
			return (enum metrics_tls_version)v;
	return METRICS_TLS_OTHER;
}

void
metrics_tls_failed(struct metrics *m, unsigned int listener)
{
	if (listener >= CONFIG_MAX_LISTENERS)
		return;
	metrics_add(m, METRICS_SLOT_LISTENER(listener, METRICS_L_TLS_FAILED),
	    1);
}

void
metrics_upstream_error(struct metrics *m, enum metrics_upstream_error e)
{
	if ((unsigned int)e >= METRICS_UPSTREAM_ERROR_COUNT)
		return;
	metrics_add(m, METRICS_SLOT_UPSTREAM(e), 1);
}

void
metrics_commit_resumed(struct metrics *m, enum metrics_resume r)
{
	if ((unsigned int)r >= METRICS_RESUME_COUNT)
		return;
	metrics_add(m, METRICS_SLOT_RESUME(r), 1);
}

void
metrics_latency(struct metrics *m, enum metrics_latency which,
    uint64_t microseconds)
{
	size_t	b;

	if ((unsigned int)which >= METRICS_LATENCY_COUNT)
		return;
	for (b = 0; b < METRICS_NBUCKETS; b++)
		if (microseconds <= metrics_bucket_us[b])
			break;
	metrics_add(m, METRICS_SLOT_LATENCY(which, b), 1);
	metrics_add(m, METRICS_SLOT_LATENCY(which, METRICS_H_SUM),
	    microseconds);
}
