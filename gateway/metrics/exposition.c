/* SPDX-License-Identifier: MIT */
/*
 * exposition.c - the counters (metrics.c) in the Prometheus text format:
 * one family per counter set, its series labelled from the enums of
 * metrics.h and the configured listener names, histograms rendered
 * cumulatively with _count equal to the +Inf bucket. A scrape reads each
 * slot once. Runs on the main loop, for the HTTP server.
 */
#include "metrics_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

/* The histogram bounds of metrics.c, as labels. */
static const char *const metrics_bucket_le[] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "5", "10", "30",
};
_Static_assert(sizeof(metrics_bucket_le) / sizeof(metrics_bucket_le[0]) ==
    METRICS_NBUCKETS, "one label per bucket");

static const char *const metrics_refusal_names[METRICS_REFUSED_COUNT] = {
	[METRICS_REFUSED_SESSION_LIMIT] = "session_limit",
	[METRICS_REFUSED_ADDRESS_LIMIT] = "address_limit",
	[METRICS_REFUSED_ADDRESS_RATE] = "address_rate",
	[METRICS_REFUSED_PROXY] = "proxy",
};
const char *const metrics_tls_names[METRICS_TLS_COUNT] = {
	[METRICS_TLS_1_0] = "TLSv1",
	[METRICS_TLS_1_1] = "TLSv1.1",
	[METRICS_TLS_1_2] = "TLSv1.2",
	[METRICS_TLS_1_3] = "TLSv1.3",
	[METRICS_TLS_OTHER] = "other",
};
static const char *const metrics_method_names[METRICS_METHOD_COUNT] = {
	[METRICS_METHOD_USER] = "user",
	[METRICS_METHOD_PLAIN] = "plain",
	[METRICS_METHOD_LOGIN] = "login",
	[METRICS_METHOD_XOAUTH2] = "xoauth2",
	[METRICS_METHOD_OAUTHBEARER] = "oauthbearer",
	[METRICS_METHOD_APOP] = "apop",
};
static const char *const metrics_result_names[METRICS_LOGIN_COUNT] = {
	[METRICS_LOGIN_OK] = "ok",
	[METRICS_LOGIN_AUTH] = "auth",
	[METRICS_LOGIN_TEMP] = "temp",
	[METRICS_LOGIN_PERM] = "perm",
	[METRICS_LOGIN_IN_USE] = "in_use",
	[METRICS_LOGIN_REFUSED] = "refused",
};
static const char *const metrics_upstream_names[METRICS_UPSTREAM_ERROR_COUNT] = {
	[METRICS_UPSTREAM_CONNECT] = "connect",
	[METRICS_UPSTREAM_TLS] = "tls",
	[METRICS_UPSTREAM_TIMEOUT] = "timeout",
	[METRICS_UPSTREAM_PROTOCOL] = "protocol",
	[METRICS_UPSTREAM_CLOSED] = "closed",
	[METRICS_UPSTREAM_FOREIGN_BODY] = "foreign_body",
	[METRICS_UPSTREAM_SIZE_MISMATCH] = "size_mismatch",
};
static const char *const metrics_resume_names[METRICS_RESUME_COUNT] = {
	[METRICS_RESUME_OK] = "ok",
	[METRICS_RESUME_INCOMPLETE] = "incomplete",
	[METRICS_RESUME_STALE] = "stale",
};
static const char *const metrics_latency_names[METRICS_LATENCY_COUNT] = {
	[METRICS_LATENCY_CONNECT] = "connect",
	[METRICS_LATENCY_LOGIN] = "login",
	[METRICS_LATENCY_FETCH_FIRST_BYTE] = "fetch_first_byte",
};
static const char *const metrics_retrieve_names[] = { "retr", "top" };

/* An output buffer whose first error sticks; later appends do nothing. */
struct metrics_out {
	struct metrics	*m;
	struct buf	*b;
	int		 error;
};

static void metrics_printf(struct metrics_out *o, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

static void
metrics_printf(struct metrics_out *o, const char *fmt, ...)
{
	va_list	ap;

	if (o->error != 0)
		return;
	va_start(ap, fmt);
	o->error = buf_vappendf(o->b, fmt, ap);
	va_end(ap);
}

static void
metrics_family(struct metrics_out *o, const char *name, const char *type,
    const char *help)
{
	metrics_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/*
 * A family with one series per listener, or per listener and value of a
 * second label (label NULL: none). Slot of listener l, value v:
 * METRICS_L_<slot> + v.
 */
static void
metrics_listener_family(struct metrics_out *o, const char *name,
    const char *type, const char *help, unsigned int slot, const char *label,
    const char *const *values, unsigned int nvalues)
{
	unsigned int	l, v;
	uint64_t	n;

	metrics_family(o, name, type, help);
	for (l = 0; l < metrics_listener_count(o->m); l++) {
		for (v = 0; v < (label != NULL ? nvalues : 1); v++) {
			n = metrics_get(o->m,
			    METRICS_SLOT_LISTENER(l, slot + v));
			metrics_printf(o, "%s{listener=\"%s\"", name,
			    metrics_listener_label(o->m, l));
			if (label != NULL)
				metrics_printf(o, ",%s=\"%s\"", label,
				    values[v]);
			metrics_printf(o, "} %" PRIu64 "\n", n);
		}
	}
}

static void
metrics_render_sessions(struct metrics_out *o)
{
	unsigned int	l;
	uint64_t	n;

	metrics_family(o, "popgate_sessions_active", "gauge",
	    "POP3 connections open now.");
	for (l = 0; l < metrics_listener_count(o->m); l++) {
		n = metrics_get(o->m,
		    METRICS_SLOT_LISTENER(l, METRICS_L_ACTIVE));
		/* Starts and ends race with a scrape: never below 0. */
		metrics_printf(o, "popgate_sessions_active{listener=\"%s\"} %"
		    PRIu64 "\n", metrics_listener_label(o->m, l),
		    n > INT64_MAX ? 0 : n);
	}
	metrics_listener_family(o, "popgate_sessions_total", "counter",
	    "POP3 connections accepted, refused ones included.",
	    METRICS_L_SESSIONS, NULL, NULL, 0);
	metrics_listener_family(o, "popgate_sessions_refused_total", "counter",
	    "POP3 connections refused before the greeting, by reason.",
	    METRICS_L_REFUSED, "reason", metrics_refusal_names,
	    METRICS_REFUSED_COUNT);
	metrics_listener_family(o, "popgate_client_received_bytes_total",
	    "counter", "Octets received from POP3 clients, counted as "
	    "sessions end.", METRICS_L_BYTES_IN, NULL, NULL, 0);
	metrics_listener_family(o, "popgate_client_sent_bytes_total",
	    "counter", "Octets sent to POP3 clients, counted as sessions end.",
	    METRICS_L_BYTES_OUT, NULL, NULL, 0);
	metrics_listener_family(o, "popgate_messages_retrieved_total",
	    "counter", "Messages sent by RETR and TOP, counted as sessions "
	    "end.", METRICS_L_RETR, "command", metrics_retrieve_names, 2);
	metrics_listener_family(o, "popgate_messages_deleted_total",
	    "counter", "Messages deleted upstream by a committed QUIT.",
	    METRICS_L_DELE, NULL, NULL, 0);
	metrics_listener_family(o, "popgate_tls_handshakes_total", "counter",
	    "Client TLS handshakes completed, by protocol version.",
	    METRICS_L_TLS, "version", metrics_tls_names, METRICS_TLS_COUNT);
	metrics_listener_family(o, "popgate_tls_handshake_failures_total",
	    "counter", "Client TLS handshakes that failed.",
	    METRICS_L_TLS_FAILED, NULL, NULL, 0);
}

static void
metrics_render_upstream(struct metrics_out *o)
{
	unsigned int	m, r, e, w;
	uint64_t	n, cum, sum;
	size_t		b;

	metrics_family(o, "popgate_logins_total", "counter",
	    "POP3 logins, by method and result.");
	for (m = 0; m < METRICS_METHOD_COUNT; m++)
		for (r = 0; r < METRICS_LOGIN_COUNT; r++)
			metrics_printf(o, "popgate_logins_total{method=\"%s\","
			    "result=\"%s\"} %" PRIu64 "\n",
			    metrics_method_names[m], metrics_result_names[r],
			    metrics_get(o->m, METRICS_SLOT_LOGIN(m, r)));
	metrics_family(o, "popgate_upstream_errors_total", "counter",
	    "Upstream IMAP failures, by class.");
	for (e = 0; e < METRICS_UPSTREAM_ERROR_COUNT; e++)
		metrics_printf(o, "popgate_upstream_errors_total{class=\"%s\"} %"
		    PRIu64 "\n", metrics_upstream_names[e],
		    metrics_get(o->m, METRICS_SLOT_UPSTREAM(e)));
	metrics_family(o, "popgate_commits_resumed_total", "counter",
	    "Deletions a cut QUIT left, finished at the next login, by "
	    "result.");
	for (e = 0; e < METRICS_RESUME_COUNT; e++)
		metrics_printf(o, "popgate_commits_resumed_total{result=\"%s\"} %"
		    PRIu64 "\n", metrics_resume_names[e],
		    metrics_get(o->m, METRICS_SLOT_RESUME(e)));
	metrics_family(o, "popgate_upstream_latency_seconds", "histogram",
	    "Upstream IMAP latency: connect (TCP and TLS), login, and "
	    "first body octet of a fetch.");
	for (w = 0; w < METRICS_LATENCY_COUNT; w++) {
		cum = 0;
		for (b = 0; b <= METRICS_NBUCKETS; b++) {
			n = metrics_get(o->m, METRICS_SLOT_LATENCY(w, b));
			cum += n;
			metrics_printf(o, "popgate_upstream_latency_seconds_bucket"
			    "{stage=\"%s\",le=\"%s\"} %" PRIu64 "\n",
			    metrics_latency_names[w], b < METRICS_NBUCKETS ?
			    metrics_bucket_le[b] : "+Inf", cum);
		}
		sum = metrics_get(o->m, METRICS_SLOT_LATENCY(w, METRICS_H_SUM));
		metrics_printf(o, "popgate_upstream_latency_seconds_sum"
		    "{stage=\"%s\"} %" PRIu64 ".%06" PRIu64 "\n",
		    metrics_latency_names[w], sum / 1000000, sum % 1000000);
		metrics_printf(o, "popgate_upstream_latency_seconds_count"
		    "{stage=\"%s\"} %" PRIu64 "\n", metrics_latency_names[w],
		    cum);
	}
}

/* Seconds left on each source's access token, its refresh token, and
 * the tokens upstreams refused. */
static void
metrics_render_oauth2(struct metrics_out *o)
{
	metrics_oauth2_fn	*fn = o->m->oauth2;
	void			*arg = o->m->oauth2_arg;
	const char		*name;
	char			 label[2 * CONFIG_MAX_NAME];
	long			 expires_in;
	bool			 has_refresh;
	uint64_t		 refused;
	unsigned int		 i;

	if (fn == NULL)
		return;
	metrics_family(o, "popgate_oauth2_token_expiry_seconds", "gauge",
	    "Seconds until the source's access token expires; -1: none held.");
	for (i = 0; fn(arg, i, &name, &expires_in, &has_refresh, &refused);
	    i++) {
		metrics_escape_label(label, sizeof(label), name);
		metrics_printf(o, "popgate_oauth2_token_expiry_seconds"
		    "{source=\"%s\"} %ld\n", label, expires_in);
	}
	metrics_family(o, "popgate_oauth2_refresh_token", "gauge",
	    "1 if the source holds a refresh token (refresh_token grant).");
	for (i = 0; fn(arg, i, &name, &expires_in, &has_refresh, &refused);
	    i++) {
		metrics_escape_label(label, sizeof(label), name);
		metrics_printf(o, "popgate_oauth2_refresh_token{source=\"%s\"} "
		    "%d\n", label, has_refresh ? 1 : 0);
	}
	metrics_family(o, "popgate_oauth2_token_refusals_total", "counter",
	    "Upstream logins that refused the source's access token; the "
	    "first in a POP3 login renews it and tries again.");
	for (i = 0; fn(arg, i, &name, &expires_in, &has_refresh, &refused);
	    i++) {
		metrics_escape_label(label, sizeof(label), name);
		metrics_printf(o, "popgate_oauth2_token_refusals_total"
		    "{source=\"%s\"} %" PRIu64 "\n", label, refused);
	}
}

int
metrics_render(struct metrics *m, struct buf *out)
{
	struct metrics_out	o = { m, out, 0 };

	metrics_family(&o, "popgate_build_info", "gauge",
	    "Always 1; the version is a label.");
	metrics_printf(&o, "popgate_build_info{version=\"%s\"} 1\n",
	    POPGATE_VERSION);
	metrics_render_sessions(&o);
	metrics_render_upstream(&o);
	metrics_render_oauth2(&o);
	return o.error;
}
