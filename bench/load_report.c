/* SPDX-License-Identifier: MIT */
/*
 * load_report.c - pop3_load's figures: latencies per worker thread, then
 * one JSON line for all of them (bench/run.py reads it).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_load.h"

void
load_record_latency(struct load_worker *w, uint64_t ns)
{
	uint64_t	*p;
	size_t		 cap;

	if (w->latency_count == w->latency_cap) {
		cap = w->latency_cap == 0 ? 4096 : w->latency_cap * 2;
		p = realloc(w->latencies_ns, cap * sizeof(*p));
		if (p == NULL) {
			w->is_out_of_memory = true;
			return;
		}
		w->latencies_ns = p;
		w->latency_cap = cap;
	}
	w->latencies_ns[w->latency_count++] = ns;
}

static int
load_compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values, in milliseconds. */
static double
load_percentile_ms(const uint64_t *sorted, size_t n, double pct)
{
	size_t rank = (size_t)ceil(pct / 100.0 * (double)n);

	if (rank == 0)
		rank = 1;
	return (double)sorted[rank - 1] / 1e6;
}

static void
load_print_ms(const char *key, const uint64_t *sorted, size_t n, double pct)
{
	if (n == 0)
		printf(",\"%s\":null", key);
	else
		printf(",\"%s\":%.3f", key, load_percentile_ms(sorted, n, pct));
}

int
load_report(struct load_context *ctx, struct load_worker *workers)
{
	const struct load_options *o = &ctx->options;
	uint64_t	 sessions = 0, bytes = 0, end_ns = ctx->start_ns;
	uint64_t	*all;
	size_t		 count = 0, k = 0;
	double		 elapsed;
	bool		 is_oom = false;

	for (unsigned t = 0; t < o->threads; t++) {
		sessions += workers[t].sessions;
		bytes += workers[t].bytes;
		count += workers[t].latency_count;
		is_oom |= workers[t].is_out_of_memory;
		if (workers[t].last_finish_ns > end_ns)
			end_ns = workers[t].last_finish_ns;
	}
	all = malloc((count ? count : 1) * sizeof(*all));
	if (all == NULL || is_oom) {
		fprintf(stderr, "pop3_load: out of memory for latencies\n");
		free(all);
		return -1;
	}
	for (unsigned t = 0; t < o->threads; t++) {
		if (workers[t].latency_count > 0)
			memcpy(all + k, workers[t].latencies_ns,
			    workers[t].latency_count * sizeof(*all));
		k += workers[t].latency_count;
	}
	qsort(all, count, sizeof(*all), load_compare_u64);
	if (o->sessions == 0)
		elapsed = o->duration_s;
	else
		elapsed = (double)(end_ns - ctx->start_ns) / 1e9;
	if (elapsed <= 0)
		elapsed = 1e-9;

	printf("{\"sessions\":%" PRIu64 ",\"errors\":%" PRIuFAST64
	    ",\"elapsed_s\":%.3f,\"sessions_per_s\":%.2f,\"bytes\":%" PRIu64
	    ",\"mb_per_s\":%.2f", sessions, atomic_load(&ctx->errors), elapsed,
	    (double)sessions / elapsed, bytes, (double)bytes / 1e6 / elapsed);
	load_print_ms("p50_ms", all, count, 50);
	load_print_ms("p99_ms", all, count, 99);
	load_print_ms("max_ms", all, count, 100);
	printf(",\"concurrency\":%u,\"threads\":%u,\"mode\":\"%s\"",
	    o->concurrency, o->threads,
	    o->mode == LOAD_MODE_FULL ? "full" : "retr1");
	/* Names come from OpenSSL's tables: no JSON escaping needed. */
	if (o->want_tls)
		printf(",\"tls\":true,\"tls_version\":\"%s\","
		    "\"tls_cipher\":\"%s\"", workers[0].tls_version,
		    workers[0].tls_cipher);
	printf("}\n");
	fflush(stdout);
	free(all);
	return 0;
}
