/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - counters, their Prometheus text exposition, and the small
 * HTTP/1.x server that serves it.
 *
 * Counters live in one flat array of relaxed atomics, indexed by slot, so
 * counting is one atomic add and zeroing is one loop. A scrape reads each
 * slot once; series may be a few events apart from each other, never
 * torn. A histogram keeps per-bucket counts and renders them cumulatively
 * with _count equal to the +Inf bucket.
 *
 * The server is a single instance on one loop: a fixed pool of
 * METRICS_MAX_CONNECTIONS connection slots (no allocation besides the
 * response), a small pool of handles for connections closed at accept,
 * and a "pending accept" flag for the moment both are busy (libuv then
 * holds the connection and pauses the listener until a slot is free).
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "http_request.h"
#include "stream.h"

/* ---- counters ---- */

/* Histogram bounds in microseconds, 1 ms to 30 s, and as labels. */
static const uint64_t metrics_bucket_us[] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000,
};
static const char *const metrics_bucket_le[] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "5", "10", "30",
};
#define METRICS_NBUCKETS	\
	(sizeof(metrics_bucket_us) / sizeof(metrics_bucket_us[0]))

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

static atomic_uint_fast64_t	metrics_slots[METRICS_NSLOTS];
static char			metrics_listener_label[CONFIG_MAX_LISTENERS]
				    [METRICS_LABEL_OCTETS];
static unsigned int		metrics_nlisteners;

static const char *const metrics_refusal_names[METRICS_REFUSED_COUNT] = {
	[METRICS_REFUSED_SESSION_LIMIT] = "session_limit",
	[METRICS_REFUSED_ADDRESS_LIMIT] = "address_limit",
	[METRICS_REFUSED_ADDRESS_RATE] = "address_rate",
	[METRICS_REFUSED_PROXY] = "proxy",
};
static const char *const metrics_tls_names[METRICS_TLS_COUNT] = {
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

static void
metrics_add(size_t slot, uint64_t n)
{
	atomic_fetch_add_explicit(&metrics_slots[slot], n,
	    memory_order_relaxed);
}

static uint64_t
metrics_get(size_t slot)
{
	return atomic_load_explicit(&metrics_slots[slot], memory_order_relaxed);
}

/* Escapes per the text format: backslash, double quote and line feed. */
static void
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

void
metrics_init(const struct config *c)
{
	size_t		i;
	unsigned int	l;

	for (i = 0; i < METRICS_NSLOTS; i++)
		atomic_store_explicit(&metrics_slots[i], 0,
		    memory_order_relaxed);
	metrics_nlisteners = c->nlisteners < CONFIG_MAX_LISTENERS ?
	    c->nlisteners : CONFIG_MAX_LISTENERS;
	for (l = 0; l < metrics_nlisteners; l++)
		metrics_escape_label(metrics_listener_label[l],
		    sizeof(metrics_listener_label[l]), c->listeners[l].name);
}

void
metrics_session_start(unsigned int listener)
{
	if (listener >= CONFIG_MAX_LISTENERS)
		return;
	metrics_add(METRICS_SLOT_LISTENER(listener, METRICS_L_ACTIVE), 1);
	metrics_add(METRICS_SLOT_LISTENER(listener, METRICS_L_SESSIONS), 1);
}

void
metrics_session_end(unsigned int listener, uint64_t bytes_in,
    uint64_t bytes_out, uint32_t retr, uint32_t top, uint32_t dele_committed)
{
	if (listener >= CONFIG_MAX_LISTENERS)
		return;
	atomic_fetch_sub_explicit(&metrics_slots[METRICS_SLOT_LISTENER(listener,
	    METRICS_L_ACTIVE)], 1, memory_order_relaxed);
	metrics_add(METRICS_SLOT_LISTENER(listener, METRICS_L_BYTES_IN),
	    bytes_in);
	metrics_add(METRICS_SLOT_LISTENER(listener, METRICS_L_BYTES_OUT),
	    bytes_out);
	metrics_add(METRICS_SLOT_LISTENER(listener, METRICS_L_RETR), retr);
	metrics_add(METRICS_SLOT_LISTENER(listener, METRICS_L_TOP), top);
	metrics_add(METRICS_SLOT_LISTENER(listener, METRICS_L_DELE),
	    dele_committed);
}

void
metrics_session_refused(unsigned int listener, enum metrics_refusal why)
{
	if (listener >= CONFIG_MAX_LISTENERS ||
	    (unsigned int)why >= METRICS_REFUSED_COUNT)
		return;
	metrics_add(METRICS_SLOT_LISTENER(listener, METRICS_L_REFUSED + why),
	    1);
}

void
metrics_login(enum metrics_method m, enum metrics_login_result r)
{
	if ((unsigned int)m >= METRICS_METHOD_COUNT ||
	    (unsigned int)r >= METRICS_LOGIN_COUNT)
		return;
	metrics_add(METRICS_SLOT_LOGIN(m, r), 1);
}

void
metrics_tls_handshake(unsigned int listener, enum metrics_tls_version v)
{
	if (listener >= CONFIG_MAX_LISTENERS ||
	    (unsigned int)v >= METRICS_TLS_COUNT)
		return;
	metrics_add(METRICS_SLOT_LISTENER(listener, METRICS_L_TLS + v), 1);
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
metrics_tls_failed(unsigned int listener)
{
	if (listener >= CONFIG_MAX_LISTENERS)
		return;
	metrics_add(METRICS_SLOT_LISTENER(listener, METRICS_L_TLS_FAILED), 1);
}

void
metrics_upstream_error(enum metrics_upstream_error e)
{
	if ((unsigned int)e >= METRICS_UPSTREAM_ERROR_COUNT)
		return;
	metrics_add(METRICS_SLOT_UPSTREAM(e), 1);
}

void
metrics_commit_resumed(enum metrics_resume r)
{
	if ((unsigned int)r >= METRICS_RESUME_COUNT)
		return;
	metrics_add(METRICS_SLOT_RESUME(r), 1);
}

void
metrics_latency(enum metrics_latency which, uint64_t microseconds)
{
	size_t	b;

	if ((unsigned int)which >= METRICS_LATENCY_COUNT)
		return;
	for (b = 0; b < METRICS_NBUCKETS; b++)
		if (microseconds <= metrics_bucket_us[b])
			break;
	metrics_add(METRICS_SLOT_LATENCY(which, b), 1);
	metrics_add(METRICS_SLOT_LATENCY(which, METRICS_H_SUM), microseconds);
}

/* ---- exposition ---- */

/* An output buffer whose first error sticks; later appends do nothing. */
struct metrics_out {
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
	for (l = 0; l < metrics_nlisteners; l++) {
		for (v = 0; v < (label != NULL ? nvalues : 1); v++) {
			n = metrics_get(METRICS_SLOT_LISTENER(l, slot + v));
			metrics_printf(o, "%s{listener=\"%s\"", name,
			    metrics_listener_label[l]);
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
	for (l = 0; l < metrics_nlisteners; l++) {
		n = metrics_get(METRICS_SLOT_LISTENER(l, METRICS_L_ACTIVE));
		/* Starts and ends race with a scrape: never below 0. */
		metrics_printf(o, "popgate_sessions_active{listener=\"%s\"} %"
		    PRIu64 "\n", metrics_listener_label[l],
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
			    metrics_get(METRICS_SLOT_LOGIN(m, r)));
	metrics_family(o, "popgate_upstream_errors_total", "counter",
	    "Upstream IMAP failures, by class.");
	for (e = 0; e < METRICS_UPSTREAM_ERROR_COUNT; e++)
		metrics_printf(o, "popgate_upstream_errors_total{class=\"%s\"} %"
		    PRIu64 "\n", metrics_upstream_names[e],
		    metrics_get(METRICS_SLOT_UPSTREAM(e)));
	metrics_family(o, "popgate_commits_resumed_total", "counter",
	    "Deletions a cut QUIT left, finished at the next login, by "
	    "result.");
	for (e = 0; e < METRICS_RESUME_COUNT; e++)
		metrics_printf(o, "popgate_commits_resumed_total{result=\"%s\"} %"
		    PRIu64 "\n", metrics_resume_names[e],
		    metrics_get(METRICS_SLOT_RESUME(e)));
	metrics_family(o, "popgate_upstream_latency_seconds", "histogram",
	    "Upstream IMAP latency: connect (TCP and TLS), login, and "
	    "first body octet of a fetch.");
	for (w = 0; w < METRICS_LATENCY_COUNT; w++) {
		cum = 0;
		for (b = 0; b <= METRICS_NBUCKETS; b++) {
			n = metrics_get(METRICS_SLOT_LATENCY(w, b));
			cum += n;
			metrics_printf(o, "popgate_upstream_latency_seconds_bucket"
			    "{stage=\"%s\",le=\"%s\"} %" PRIu64 "\n",
			    metrics_latency_names[w], b < METRICS_NBUCKETS ?
			    metrics_bucket_le[b] : "+Inf", cum);
		}
		sum = metrics_get(METRICS_SLOT_LATENCY(w, METRICS_H_SUM));
		metrics_printf(o, "popgate_upstream_latency_seconds_sum"
		    "{stage=\"%s\"} %" PRIu64 ".%06" PRIu64 "\n",
		    metrics_latency_names[w], sum / 1000000, sum % 1000000);
		metrics_printf(o, "popgate_upstream_latency_seconds_count"
		    "{stage=\"%s\"} %" PRIu64 "\n", metrics_latency_names[w],
		    cum);
	}
}

static metrics_oauth2_fn	*metrics_oauth2;
static void			*metrics_oauth2_arg;

void
metrics_set_oauth2(metrics_oauth2_fn *fn, void *arg)
{
	metrics_oauth2 = fn;
	metrics_oauth2_arg = arg;
}

/* Seconds left on each source's access token, its refresh token, and
 * the tokens upstreams refused. */
static void
metrics_render_oauth2(struct metrics_out *o)
{
	const char	*name;
	char		 label[2 * CONFIG_MAX_NAME];
	long		 expires_in;
	bool		 has_refresh;
	uint64_t	 refused;
	unsigned int	 i;

	if (metrics_oauth2 == NULL)
		return;
	metrics_family(o, "popgate_oauth2_token_expiry_seconds", "gauge",
	    "Seconds until the source's access token expires; -1: none held.");
	for (i = 0; metrics_oauth2(metrics_oauth2_arg, i, &name, &expires_in,
	    &has_refresh, &refused); i++) {
		metrics_escape_label(label, sizeof(label), name);
		metrics_printf(o, "popgate_oauth2_token_expiry_seconds"
		    "{source=\"%s\"} %ld\n", label, expires_in);
	}
	metrics_family(o, "popgate_oauth2_refresh_token", "gauge",
	    "1 if the source holds a refresh token (refresh_token grant).");
	for (i = 0; metrics_oauth2(metrics_oauth2_arg, i, &name, &expires_in,
	    &has_refresh, &refused); i++) {
		metrics_escape_label(label, sizeof(label), name);
		metrics_printf(o, "popgate_oauth2_refresh_token{source=\"%s\"} "
		    "%d\n", label, has_refresh ? 1 : 0);
	}
	metrics_family(o, "popgate_oauth2_token_refusals_total", "counter",
	    "Upstream logins that refused the source's access token; the "
	    "first in a POP3 login renews it and tries again.");
	for (i = 0; metrics_oauth2(metrics_oauth2_arg, i, &name, &expires_in,
	    &has_refresh, &refused); i++) {
		metrics_escape_label(label, sizeof(label), name);
		metrics_printf(o, "popgate_oauth2_token_refusals_total"
		    "{source=\"%s\"} %" PRIu64 "\n", label, refused);
	}
}

int
metrics_render(struct buf *out)
{
	struct metrics_out	o = { out, 0 };

	metrics_family(&o, "popgate_build_info", "gauge",
	    "Always 1; the version is a label.");
	metrics_printf(&o, "popgate_build_info{version=\"%s\"} 1\n",
	    POPGATE_VERSION);
	metrics_render_sessions(&o);
	metrics_render_upstream(&o);
	metrics_render_oauth2(&o);
	return o.error;
}

/* ---- HTTP server ---- */

/* Closed-at-accept handles that may be closing at the same time. */
#define METRICS_REJECT_HANDLES	4
/* After the response, input is read and dropped (so the close does not
 * reset the connection under the reply) up to this much. */
#define METRICS_MAX_DISCARD_OCTETS	(64 * 1024)
#define METRICS_MAX_HEAD_OCTETS		512
#define METRICS_LISTEN_BACKLOG		32
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

struct metrics_conn {
	uv_tcp_t	tcp;
	uv_timer_t	timer;
	struct stream	wr;		/* writes head, then shuts down */
	uv_shutdown_t	shutdown;
	bool		in_use;
	bool		closing;
	bool		answered;	/* reply queued; input is dropped */
	bool		eof;
	bool		replied;	/* reply written and shut down */
	unsigned int	open_handles;
	size_t		inlen;
	size_t		discarded;
	struct buf	head;
	struct buf	body;
	unsigned char	in[HTTP_REQUEST_MAX_OCTETS];
};

struct metrics_server {
	uv_loop_t		*loop;
	uv_tcp_t		 listener;
	bool			 running;
	bool			 accept_pending;
	struct metrics_conn	 conns[METRICS_MAX_CONNECTIONS];
	uv_tcp_t		 reject[METRICS_REJECT_HANDLES];
	bool			 reject_busy[METRICS_REJECT_HANDLES];
};

static struct metrics_server	metrics_srv;

static void	metrics_on_connection(uv_stream_t *server, int status);

/* A slot or a reject handle came free: take a connection libuv holds. */
static void
metrics_resume_accept(void)
{
	if (metrics_srv.running && metrics_srv.accept_pending) {
		metrics_srv.accept_pending = false;
		metrics_on_connection((uv_stream_t *)&metrics_srv.listener, 0);
	}
}

static void
metrics_conn_closed(uv_handle_t *h)
{
	struct metrics_conn	*c = h->data;

	if (--c->open_handles > 0)
		return;
	stream_deinit(&c->wr);
	buf_deinit(&c->head);
	buf_deinit(&c->body);
	c->in_use = false;
	metrics_resume_accept();
}

static void
metrics_conn_close(struct metrics_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, metrics_conn_closed);
	uv_close((uv_handle_t *)&c->timer, metrics_conn_closed);
}

static void
metrics_on_timeout(uv_timer_t *t)
{
	metrics_conn_close(t->data);
}

static void
metrics_on_shutdown(uv_shutdown_t *req, int status)
{
	struct metrics_conn	*c = req->data;

	c->replied = true;
	/* Otherwise wait for the client's end of file (or the timer). */
	if (status < 0 || c->eof)
		metrics_conn_close(c);
}

/* Writes the reply; once it is all out, shuts the write side down. */
static void
metrics_flush(struct metrics_conn *c)
{
	if (stream_flush(&c->wr) < 0) {
		metrics_conn_close(c);
		return;
	}
	if (stream_busy(&c->wr))
		return;
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp,
	    metrics_on_shutdown) != 0)
		metrics_conn_close(c);
}

static void
metrics_on_written(void *arg, size_t n, int status)
{
	struct metrics_conn	*c = arg;

	(void)n;
	if (status < 0 || c->closing) {
		metrics_conn_close(c);
		return;
	}
	metrics_flush(c);
}

static const struct stream_callbacks metrics_stream_cb = {
	.written = metrics_on_written,
};

static const char *
metrics_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	default:
		return "Internal Server Error";
	}
}

/* Queues the response; c->body holds the body already. */
static void
metrics_reply(struct metrics_conn *c, int status, bool send_body)
{
	c->answered = true;
	if (buf_appendf(&c->head, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s"
	    "Cache-Control: no-store\r\n"
	    "Connection: close\r\n"
	    "\r\n", status, metrics_status_text(status),
	    status == 200 ? METRICS_CONTENT_TYPE : "text/plain; charset=utf-8",
	    c->body.len, status == 405 ? "Allow: GET, HEAD\r\n" : "") != 0) {
		metrics_conn_close(c);
		return;
	}
	/* One copy of a scrape's body buys one writer for every socket. */
	if (send_body && buf_append(&c->head, c->body.data, c->body.len) != 0) {
		metrics_conn_close(c);
		return;
	}
	metrics_flush(c);
}

static void
metrics_reply_error(struct metrics_conn *c, int status, bool send_body)
{
	buf_reset(&c->body);
	if (buf_appendf(&c->body, "%s\n", metrics_status_text(status)) != 0) {
		metrics_conn_close(c);
		return;
	}
	metrics_reply(c, status, send_body);
}

/*
 * The path of a request target: origin-form "/p?q" gives "/p";
 * absolute-form "http://host/p?q" too (RFC 9112 sec. 3.2.2). Returns
 * false for any other form.
 */
static bool
metrics_target_path(const unsigned char *t, size_t n, const unsigned char **p,
    size_t *plen)
{
	const unsigned char	*q, *end = t + n;
	size_t			 skip;

	if (n > 7 && http_token_equal(t, 7, "http://"))
		skip = 7;
	else if (n > 8 && http_token_equal(t, 8, "https://"))
		skip = 8;
	else
		skip = 0;
	if (skip > 0) {
		q = memchr(t + skip, '/', n - skip);
		if (q == NULL) {
			*p = (const unsigned char *)"/";
			*plen = 1;
			return true;
		}
		t = q;
	}
	if (t == end || *t != '/')
		return false;
	q = memchr(t, '?', (size_t)(end - t));
	*p = t;
	*plen = (size_t)((q != NULL ? q : end) - t);
	return true;
}

static void
metrics_answer(struct metrics_conn *c, enum http_request_result r,
    const struct http_request *req)
{
	const unsigned char	*path;
	size_t			 plen;
	bool			 head;

	if (r == HTTP_REQUEST_FIELDS_TOO_LARGE) {
		metrics_reply_error(c, 431, true);
		return;
	}
	if (r != HTTP_REQUEST_DONE) {
		metrics_reply_error(c, 400, true);
		return;
	}
	head = req->method_len == 4 && memcmp(c->in, "HEAD", 4) == 0;
	if (!head && !(req->method_len == 3 && memcmp(c->in, "GET", 3) == 0)) {
		metrics_reply_error(c, 405, true);
		return;
	}
	if (!metrics_target_path(c->in + req->target_off, req->target_len,
	    &path, &plen)) {
		metrics_reply_error(c, 400, !head);
		return;
	}
	if (plen != 8 || memcmp(path, "/metrics", 8) != 0) {
		metrics_reply_error(c, 404, !head);
		return;
	}
	if (metrics_render(&c->body) != 0) {
		metrics_reply_error(c, 500, !head);
		return;
	}
	metrics_reply(c, 200, !head);
}

static void
metrics_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct metrics_conn	*c = h->data;

	(void)suggested;
	if (c->answered)
		*b = uv_buf_init((char *)c->in, sizeof(c->in));
	else
		*b = uv_buf_init((char *)c->in + c->inlen,
		    (unsigned int)(sizeof(c->in) - c->inlen));
}

static void
metrics_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct metrics_conn		*c = s->data;
	struct http_request		 req;
	enum http_request_result	 r;

	if (c->closing)
		return;
	if (nread < 0) {
		/* Before a reply the client gave up; after it, the close
		 * waits for the reply to be written. */
		c->eof = true;
		uv_read_stop(s);
		if (!c->answered || c->replied)
			metrics_conn_close(c);
		return;
	}
	if (c->answered) {
		c->discarded += (size_t)nread;
		if (c->discarded > METRICS_MAX_DISCARD_OCTETS)
			metrics_conn_close(c);
		return;
	}
	c->inlen += (size_t)nread;
	/* A verdict needs a new LF or a full buffer; skip the rescan of a
	 * head that trickles in without either. */
	if (nread == 0 || (memchr(b->base, '\n', (size_t)nread) == NULL &&
	    c->inlen < sizeof(c->in)))
		return;
	r = http_request_parse(c->in, c->inlen, &req, NULL);
	if (r != HTTP_REQUEST_NEED_MORE)
		metrics_answer(c, r, &req);
}

static void
metrics_reject_closed(uv_handle_t *h)
{
	size_t	i = (size_t)((uv_tcp_t *)h - metrics_srv.reject);

	metrics_srv.reject_busy[i] = false;
	metrics_resume_accept();
}

/* Over the connection limit: accept and close at once. */
static void
metrics_reject(uv_stream_t *server)
{
	size_t	i;

	for (i = 0; i < METRICS_REJECT_HANDLES; i++)
		if (!metrics_srv.reject_busy[i])
			break;
	if (i == METRICS_REJECT_HANDLES) {
		/* libuv keeps the connection and pauses the listener. */
		metrics_srv.accept_pending = true;
		return;
	}
	metrics_srv.reject_busy[i] = true;
	uv_tcp_init(metrics_srv.loop, &metrics_srv.reject[i]);
	(void)uv_accept(server, (uv_stream_t *)&metrics_srv.reject[i]);
	uv_close((uv_handle_t *)&metrics_srv.reject[i], metrics_reject_closed);
}

static void
metrics_on_connection(uv_stream_t *server, int status)
{
	struct metrics_conn	*c = NULL;
	size_t			 i;

	if (status < 0 || !metrics_srv.running)
		return;
	for (i = 0; i < METRICS_MAX_CONNECTIONS; i++)
		if (!metrics_srv.conns[i].in_use) {
			c = &metrics_srv.conns[i];
			break;
		}
	if (c == NULL) {
		metrics_reject(server);
		return;
	}
	memset(c, 0, offsetof(struct metrics_conn, in));
	c->in_use = true;
	c->open_handles = 2;
	buf_init(&c->head, METRICS_MAX_HEAD_OCTETS + METRICS_MAX_BODY_OCTETS);
	buf_init(&c->body, METRICS_MAX_BODY_OCTETS);
	uv_tcp_init(metrics_srv.loop, &c->tcp);
	stream_init(&c->wr, (uv_stream_t *)&c->tcp, &c->head, 0, 0,
	    &metrics_stream_cb, c);
	uv_timer_init(metrics_srv.loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, metrics_on_alloc,
	    metrics_on_read) != 0) {
		metrics_conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, metrics_on_timeout, METRICS_TIMEOUT_MS, 0);
}

int
metrics_start(uv_loop_t *loop, const struct config *c)
{
	unsigned int	flags = 0;
	int		r;

	if (c->metrics_addrlen == 0)
		return 0;
	if (metrics_srv.running)
		return UV_EBUSY;
	memset(&metrics_srv, 0, sizeof(metrics_srv));
	metrics_srv.loop = loop;
	if ((r = uv_tcp_init(loop, &metrics_srv.listener)) != 0)
		return r;
	if (c->metrics_addr.ss_family == AF_INET6)
		flags = UV_TCP_IPV6ONLY;
	r = uv_tcp_bind(&metrics_srv.listener,
	    (const struct sockaddr *)&c->metrics_addr, flags);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&metrics_srv.listener,
		    METRICS_LISTEN_BACKLOG, metrics_on_connection);
	if (r != 0) {
		uv_close((uv_handle_t *)&metrics_srv.listener, NULL);
		return r;
	}
	metrics_srv.running = true;
	return 0;
}

int
metrics_sockname(struct sockaddr_storage *ss, int *len)
{
	if (!metrics_srv.running)
		return UV_EINVAL;
	*len = (int)sizeof(*ss);
	return uv_tcp_getsockname(&metrics_srv.listener, (struct sockaddr *)ss,
	    len);
}

void
metrics_stop(void)
{
	size_t	i;

	if (!metrics_srv.running)
		return;
	metrics_srv.running = false;
	metrics_srv.accept_pending = false;
	uv_close((uv_handle_t *)&metrics_srv.listener, NULL);
	for (i = 0; i < METRICS_MAX_CONNECTIONS; i++)
		if (metrics_srv.conns[i].in_use)
			metrics_conn_close(&metrics_srv.conns[i]);
}
