/* SPDX-License-Identifier: MIT */
/*
 * metrics_int.h - what the counters (metrics.c) share with their
 * exposition (exposition.c): the object, the slot layout of its flat array
 * of relaxed atomics, and read access to it. Not for callers outside
 * gateway/metrics/.
 */
#ifndef POPGATE_METRICS_INT_H
#define POPGATE_METRICS_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

/* Histogram buckets: 1 ms to 30 s (metrics_bucket_us in metrics.c, their
 * labels in exposition.c). */
#define METRICS_NBUCKETS	14

/* Slots of one listener. */
enum {
	METRICS_L_ACTIVE,	/* up on start, down on end (wraps, as int64) */
	METRICS_L_SESSIONS,
	METRICS_L_REFUSED,
	METRICS_L_BYTES_IN = METRICS_L_REFUSED + METRICS_REFUSED_COUNT,
	METRICS_L_BYTES_OUT,
	METRICS_L_RETR,
	METRICS_L_TOP,
	METRICS_L_DELE,
	METRICS_L_TLS,
	METRICS_L_TLS_FAILED = METRICS_L_TLS + METRICS_TLS_COUNT,
	METRICS_L_SLOTS
};

/* Slots of one histogram: the buckets, +Inf, then the sum in us. */
#define METRICS_H_INF		METRICS_NBUCKETS
#define METRICS_H_SUM		(METRICS_NBUCKETS + 1)
#define METRICS_H_SLOTS		(METRICS_NBUCKETS + 2)

#define METRICS_SLOT_LISTENER(l, s)	((size_t)(l) * METRICS_L_SLOTS + (s))
#define METRICS_SLOT_LOGIN(m, r)	(CONFIG_MAX_LISTENERS * METRICS_L_SLOTS + \
	    (size_t)(m) * METRICS_LOGIN_COUNT + (r))
#define METRICS_SLOT_UPSTREAM(e)	(METRICS_SLOT_LOGIN(METRICS_METHOD_COUNT, 0) + \
	    (size_t)(e))
#define METRICS_SLOT_LATENCY(w, b)	\
	(METRICS_SLOT_UPSTREAM(METRICS_UPSTREAM_ERROR_COUNT) + \
	    (size_t)(w) * METRICS_H_SLOTS + (b))
#define METRICS_SLOT_RESUME(r)		\
	(METRICS_SLOT_LATENCY(METRICS_LATENCY_COUNT, 0) + (size_t)(r))
#define METRICS_NSLOTS			METRICS_SLOT_RESUME(METRICS_RESUME_COUNT)

/* A listener name escaped for a label value: '\\', '"', LF doubled up. */
#define METRICS_LABEL_OCTETS	(2 * CONFIG_MAX_NAME)

/* One instance's counters. Only slots is written after metrics_new(), and
 * only by atomic adds; the rest is read-only, but for the OAuth2 hook,
 * which main's loop sets and reads. */
struct metrics {
	atomic_uint_fast64_t	 slots[METRICS_NSLOTS];
	char			 labels[CONFIG_MAX_LISTENERS]
				    [METRICS_LABEL_OCTETS];
	unsigned int		 nlisteners;
	metrics_oauth2_fn	*oauth2;
	void			*oauth2_arg;
};

/* TLS versions as OpenSSL names them, and as label values. */
extern const char *const metrics_tls_names[METRICS_TLS_COUNT];

/* The value of one slot; a series may be a few events apart from the
 * next one read, never torn. */
uint64_t	metrics_get(const struct metrics *m, size_t slot);
/* Listeners counted, and each one's name escaped for a label value. */
unsigned int	metrics_listener_count(const struct metrics *m);
const char	*metrics_listener_label(const struct metrics *m,
		    unsigned int l);
/* Escapes per the text format: backslash, double quote and line feed. */
void		metrics_escape_label(char *dst, size_t dstlen,
		    const char *src);

#endif
