/* SPDX-License-Identifier: MIT */
/*
 * pop3_load.c - POP3 load generator on libuv, for bench/run.py.
 * Drives whole sessions (login, STAT, UIDL, RETR all, QUIT) against a server on
 * loopback only, with a fixed number in flight; prints one JSON line.
 * With --tls every session is POP3S (RFC 8314 implicit TLS): a full
 * handshake, never resumed, through gateway/tls_channel over memory BIOs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "buf.h"
#include "tls_channel.h"

/* Per-connection read buffer: libuv's suggested read size, enough for
 * loopback; a multi-line reply streams through it. */
#define LOAD_READ_BUFFER_BYTES	(64 * 1024)
/* RFC 2449 sec. 4: a status line is at most 512 octets with its CRLF. */
#define LOAD_STATUS_LINE_MAX_OCTETS	512
/* Command buffer: "PASS " + a password of at most LOAD_NAME_MAX_OCTETS. */
#define LOAD_COMMAND_MAX_OCTETS	256
/* User prefix and password lengths, so a command always fits. */
#define LOAD_NAME_MAX_OCTETS	200
/* Errors printed to stderr; the rest are only counted. */
#define LOAD_ERRORS_PRINTED	5
/* Sanity cap on STAT's message count: a benchmark maildrop is small. */
#define LOAD_MAX_MESSAGES	1000000u
/* Hard caps on options, to keep arithmetic and allocations bounded. */
#define LOAD_MAX_CONCURRENCY	10000
#define LOAD_MAX_THREADS	64
/* Decrypted bytes waiting to be parsed: the plain path's read buffer size. */
#define LOAD_TLS_PLAIN_MAX_BYTES	LOAD_READ_BUFFER_BYTES
/* Ciphertext queued for the server: a handshake flight or one command's
 * record (plus an alert) is far smaller. */
#define LOAD_TLS_CIPHER_MAX_BYTES	(16 * 1024)
/* RFC 1035 sec. 2.3.4: a host name is at most 255 octets. */
#define LOAD_TLS_NAME_MAX_OCTETS	255
/* Room for the negotiated version and cipher names in the report. */
#define LOAD_TLS_LABEL_MAX_OCTETS	64

#define LOAD_PRINTF(fmt_index, first_arg) \
	__attribute__((format(printf, fmt_index, first_arg)))

enum load_mode {
	LOAD_MODE_FULL,		/* USER, PASS, STAT, UIDL, RETR 1..n, QUIT */
	LOAD_MODE_RETR1,	/* USER, PASS, RETR 1, QUIT */
};

enum load_state {
	LOAD_STATE_IDLE,
	LOAD_STATE_CONNECTING,
	LOAD_STATE_GREETING,
	LOAD_STATE_USER,
	LOAD_STATE_PASS,
	LOAD_STATE_STAT,
	LOAD_STATE_UIDL_STATUS,
	LOAD_STATE_UIDL_DATA,
	LOAD_STATE_RETR_STATUS,
	LOAD_STATE_RETR_DATA,
	LOAD_STATE_QUIT,
	LOAD_STATE_CLOSING,
	LOAD_STATE_COUNT
};

static const char *const load_state_names[] = {
	"idle", "connect", "greeting", "USER", "PASS", "STAT", "UIDL",
	"UIDL data", "RETR", "RETR data", "QUIT", "closing",
};
_Static_assert(sizeof(load_state_names) / sizeof(load_state_names[0]) ==
    LOAD_STATE_COUNT, "load_state_names matches enum load_state");

struct load_options {
	struct sockaddr_storage	 address;
	const char		*host;
	int			 port;
	const char		*user_prefix;
	const char		*password;
	unsigned		 users;
	unsigned		 concurrency;
	unsigned		 threads;
	double			 duration_s;	/* 0: use sessions */
	uint64_t		 sessions;	/* 0: use duration */
	uint64_t		 timeout_ms;
	uint64_t		 max_errors;
	int64_t			 expect_bytes;	/* -1: unchecked */
	uint64_t		 expect_digest;
	bool			 want_digest;
	enum load_mode		 mode;
	bool			 want_tls;
	const char		*tls_ca_file;	/* NULL: system store */
	const char		*tls_name;	/* certificate name and SNI */
};

/* The only state shared between worker threads: options and atomics. */
struct load_context {
	struct load_options	 options;
	uint64_t		 start_ns;
	uint64_t		 deadline_ns;	/* duration mode only */
	atomic_uint_fast64_t	 sessions_claimed;
	atomic_uint_fast64_t	 errors;
};

struct load_worker;

/*
 * TLS state of one slot (--tls only). The channel is per session; the
 * buffers live for the whole run. One write in flight, from writing[].
 */
struct load_tls {
	struct tls_channel	*channel;
	struct buf		 plain_in;	/* decrypted, not yet parsed */
	struct buf		 cipher_out;	/* ciphertext not yet written */
	bool			 is_writing;
	char			 writing[LOAD_TLS_CIPHER_MAX_BYTES];
};

/* One slot keeps one session in flight; its buffers live for the whole run. */
struct load_conn {
	struct load_worker	*worker;
	uv_tcp_t		 tcp;
	uv_connect_t		 connect_req;
	uv_write_t		 write_req;
	uv_timer_t		 timer;
	unsigned		 slot;		/* global slot number */
	unsigned		 round;		/* sessions started here */
	unsigned		 user;
	enum load_state		 state;
	uint64_t		 started_ns;
	uint32_t		 message_count;
	uint64_t		 maildrop_octets;
	uint32_t		 msn;		/* message being retrieved */
	uint32_t		 uidl_lines;
	uint64_t		 data_octets;	/* unstuffed RETR bytes */
	uint64_t		 digest;
	bool			 is_line_start;
	bool			 was_cr;	/* last data byte was CR */
	size_t			 read_len;
	char			 command[LOAD_COMMAND_MAX_OCTETS];
	size_t			 command_len;
	struct load_tls		*tls;		/* NULL: plain POP3 */
	/* Plain: POP3 bytes. TLS: ciphertext, handed to the channel at once. */
	char			 read_buffer[LOAD_READ_BUFFER_BYTES];
};

struct load_worker {
	struct load_context	*context;
	uv_loop_t		 loop;
	uv_thread_t		 thread;
	struct load_conn	*conns;
	unsigned		 conn_count;
	unsigned		 first_slot;
	uint64_t		 sessions;
	uint64_t		 bytes;
	uint64_t		 last_finish_ns;
	uint64_t		*latencies_ns;
	size_t			 latency_count;
	size_t			 latency_cap;
	bool			 is_out_of_memory;
	struct tls_profile	*tls_profile;	/* one per loop thread */
	char			 tls_version[LOAD_TLS_LABEL_MAX_OCTETS];
	char			 tls_cipher[LOAD_TLS_LABEL_MAX_OCTETS];
};

static void	load_session_start(struct load_conn *);
static void	load_conn_fail(struct load_conn *, const char *, ...)
		    LOAD_PRINTF(2, 3);

/* FNV-1a, 64 bit: cheap, and only computed with --verify-digest. */
#define LOAD_FNV_OFFSET	UINT64_C(0xcbf29ce484222325)
#define LOAD_FNV_PRIME	UINT64_C(0x100000001b3)

static uint64_t
load_digest_update(uint64_t h, const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= LOAD_FNV_PRIME;
	}
	return h;
}

static void
load_usage(FILE *f)
{
	fprintf(f,
	    "usage: pop3_load [--host 127.0.0.1] --port PORT\n"
	    "    [--user-prefix bench] [--users K] [--password P]\n"
	    "    [--concurrency C] [--duration SECS | --sessions N]\n"
	    "    [--mode full|retr1] [--timeout SECS] [--threads T]\n"
	    "    [--max-errors N] [--expect-bytes N] [--verify-digest HEX]\n"
	    "    [--tls [--tls-ca FILE] [--tls-name NAME]]\n"
	    "Prints one JSON line. Sessions use users PREFIX0..PREFIX(K-1);\n"
	    "concurrent sessions never share a user (needs K >= C).\n"
	    "--expect-bytes: every session must RETR exactly N octets.\n"
	    "--verify-digest: FNV-1a 64 of each session's RETR data.\n"
	    "--tls: implicit TLS (POP3S); each session does a full handshake,\n"
	    "verifying the certificate against --tls-ca (default: the system\n"
	    "store) for --tls-name (default localhost).\n");
}

static bool
load_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char			*end;
	unsigned long long	 v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
load_parse_seconds(const char *s, double *out)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) ||
	    v <= 0 || v > 86400)
		return false;
	*out = v;
	return true;
}

/* Loopback only: 127.0.0.0/8 or ::1, numeric. */
static bool
load_parse_host(const char *host, int port, struct sockaddr_storage *out)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)out;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (uv_ip4_addr(host, port, sin) == 0) {
		const unsigned char *a =
		    (const unsigned char *)&sin->sin_addr.s_addr;
		return a[0] == 127;
	}
	if (uv_ip6_addr(host, port, sin6) == 0)
		return memcmp(&sin6->sin6_addr, &in6addr_loopback,
		    sizeof(in6addr_loopback)) == 0;
	return false;
}

/* Applies one option; returns false on a bad value. */
static bool
load_parse_option(int ch, const char *arg, struct load_options *o)
{
	uint64_t	v;
	double		d;
	char		*end;

	switch (ch) {
	case 'h':
		o->host = arg;
		return true;
	case 'p':
		if (!load_parse_u64(arg, 1, 65535, &v))
			return false;
		o->port = (int)v;
		return true;
	case 'u':
		o->user_prefix = arg;
		return strlen(arg) <= LOAD_NAME_MAX_OCTETS &&
		    strpbrk(arg, " \r\n") == NULL;
	case 'k':
		if (!load_parse_u64(arg, 1, UINT_MAX, &v))
			return false;
		o->users = (unsigned)v;
		return true;
	case 'w':
		o->password = arg;
		return strlen(arg) <= LOAD_NAME_MAX_OCTETS &&
		    strpbrk(arg, "\r\n") == NULL;
	case 'c':
		if (!load_parse_u64(arg, 1, LOAD_MAX_CONCURRENCY, &v))
			return false;
		o->concurrency = (unsigned)v;
		return true;
	case 'd':
		return load_parse_seconds(arg, &o->duration_s);
	case 'n':
		return load_parse_u64(arg, 1, UINT64_C(1) << 40, &o->sessions);
	case 'm':
		if (strcmp(arg, "full") == 0)
			o->mode = LOAD_MODE_FULL;
		else if (strcmp(arg, "retr1") == 0)
			o->mode = LOAD_MODE_RETR1;
		else
			return false;
		return true;
	case 't':
		if (!load_parse_seconds(arg, &d))
			return false;
		o->timeout_ms = (uint64_t)(d * 1000.0);
		return true;
	case 'T':
		if (!load_parse_u64(arg, 1, LOAD_MAX_THREADS, &v))
			return false;
		o->threads = (unsigned)v;
		return true;
	case 'E':
		return load_parse_u64(arg, 1, UINT64_MAX, &o->max_errors);
	case 'B':
		if (!load_parse_u64(arg, 0, INT64_MAX, &v))
			return false;
		o->expect_bytes = (int64_t)v;
		return true;
	case 'D':
		errno = 0;
		o->expect_digest = strtoull(arg, &end, 16);
		o->want_digest = true;
		return errno == 0 && end != arg && *end == '\0';
	case 'S':
		o->want_tls = true;
		return true;
	case 'A':
		o->tls_ca_file = arg;
		return *arg != '\0';
	case 'N':
		o->tls_name = arg;
		return *arg != '\0' && strlen(arg) <= LOAD_TLS_NAME_MAX_OCTETS;
	default:
		return false;
	}
}

/* Checks the options as a whole; returns -1 after printing why. */
static int
load_check_options(struct load_options *o)
{
	if (o->port == 0) {
		fprintf(stderr, "pop3_load: --port is required\n");
		return -1;
	}
	if (!load_parse_host(o->host, o->port, &o->address)) {
		fprintf(stderr, "pop3_load: refusing non-loopback host %s "
		    "(only 127.0.0.0/8 and ::1)\n", o->host);
		return -1;
	}
	if (o->duration_s > 0 && o->sessions > 0) {
		fprintf(stderr, "pop3_load: give --duration or --sessions, "
		    "not both\n");
		return -1;
	}
	if (o->duration_s == 0 && o->sessions == 0)
		o->duration_s = 10;
	if (o->users < o->concurrency) {
		fprintf(stderr, "pop3_load: --users (%u) must be >= "
		    "--concurrency (%u): one session per mailbox\n",
		    o->users, o->concurrency);
		return -1;
	}
	if (o->threads > o->concurrency)
		o->threads = o->concurrency;
	if (!o->want_tls && (o->tls_ca_file != NULL || o->tls_name != NULL)) {
		fprintf(stderr, "pop3_load: --tls-ca and --tls-name need "
		    "--tls\n");
		return -1;
	}
	if (o->tls_name == NULL)
		o->tls_name = "localhost";
	return 0;
}

static int
load_parse_options(int argc, char **argv, struct load_options *o)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "user-prefix", required_argument, NULL, 'u' },
		{ "users", required_argument, NULL, 'k' },
		{ "password", required_argument, NULL, 'w' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "sessions", required_argument, NULL, 'n' },
		{ "mode", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'T' },
		{ "max-errors", required_argument, NULL, 'E' },
		{ "expect-bytes", required_argument, NULL, 'B' },
		{ "verify-digest", required_argument, NULL, 'D' },
		{ "tls", no_argument, NULL, 'S' },
		{ "tls-ca", required_argument, NULL, 'A' },
		{ "tls-name", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int	ch, option_index;

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->user_prefix = "bench";
	o->password = "bench";
	o->users = 1;
	o->concurrency = 1;
	o->threads = 1;
	o->timeout_ms = 60 * 1000;
	o->max_errors = 1000;
	o->expect_bytes = -1;
	o->mode = LOAD_MODE_FULL;

	while ((ch = getopt_long(argc, argv, "", longopts,
	    &option_index)) != -1) {
		if (ch == 'H') {
			load_usage(stdout);
			exit(0);
		}
		if (ch == '?' || ch == ':') {
			load_usage(stderr);
			return -1;
		}
		if (!load_parse_option(ch, optarg, o)) {
			fprintf(stderr, "pop3_load: bad value for --%s: %s\n",
			    longopts[option_index].name, optarg);
			return -1;
		}
	}
	if (optind != argc) {
		load_usage(stderr);
		return -1;
	}
	return load_check_options(o);
}

static bool
load_claim_allowed(struct load_context *ctx)
{
	const struct load_options *o = &ctx->options;

	if (atomic_load(&ctx->errors) >= o->max_errors)
		return false;
	if (o->sessions > 0)
		return atomic_fetch_add(&ctx->sessions_claimed, 1) <
		    o->sessions;
	return uv_hrtime() < ctx->deadline_ns;
}

static void
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

static void
load_tcp_close_cb(uv_handle_t *handle)
{
	struct load_conn *c = handle->data;

	c->state = LOAD_STATE_IDLE;
	if (c->tls != NULL) {
		tls_channel_free(c->tls->channel);
		c->tls->channel = NULL;
	}
	if (load_claim_allowed(c->worker->context))
		load_session_start(c);
	else
		uv_close((uv_handle_t *)&c->timer, NULL);
}

/* Ends the session; is_success counts it. The slot restarts on close. */
static void
load_conn_finish(struct load_conn *c, bool is_success)
{
	struct load_worker	*w = c->worker;
	struct load_context	*ctx = w->context;
	uint64_t		 now = uv_hrtime();

	if (c->state == LOAD_STATE_CLOSING)
		return;
	c->state = LOAD_STATE_CLOSING;
	uv_timer_stop(&c->timer);
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_close((uv_handle_t *)&c->tcp, load_tcp_close_cb);
	if (now > w->last_finish_ns)
		w->last_finish_ns = now;
	if (!is_success)
		return;
	/* Duration mode counts sessions that ended inside the window. */
	if (ctx->options.sessions == 0 && now > ctx->deadline_ns)
		return;
	w->sessions++;
	w->bytes += c->data_octets;
	load_record_latency(w, now - c->started_ns);
}

static void
load_conn_fail(struct load_conn *c, const char *fmt, ...)
{
	struct load_context	*ctx = c->worker->context;
	uint_fast64_t		 n;
	char			 reason[LOAD_STATUS_LINE_MAX_OCTETS + 64];
	va_list			 ap;

	if (c->state == LOAD_STATE_CLOSING)
		return;
	n = atomic_fetch_add(&ctx->errors, 1);
	if (n < LOAD_ERRORS_PRINTED) {
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
		if (c->state == LOAD_STATE_RETR_STATUS ||
		    c->state == LOAD_STATE_RETR_DATA)
			fprintf(stderr, "pop3_load: error: %s%u: %s %" PRIu32
			    ": %s\n", ctx->options.user_prefix, c->user,
			    load_state_names[c->state], c->msn, reason);
		else
			fprintf(stderr, "pop3_load: error: %s%u: %s: %s\n",
			    ctx->options.user_prefix, c->user,
			    load_state_names[c->state], reason);
	} else if (n == LOAD_ERRORS_PRINTED)
		fprintf(stderr, "pop3_load: further errors only counted\n");
	load_conn_finish(c, false);
}

static void
load_write_cb(uv_write_t *req, int status)
{
	struct load_conn *c = req->data;

	if (status < 0 && status != UV_ECANCELED)
		load_conn_fail(c, "write: %s", uv_strerror(status));
}

static void	load_tls_flush(struct load_conn *);

static void
load_tls_write_cb(uv_write_t *req, int status)
{
	struct load_conn *c = req->data;

	c->tls->is_writing = false;
	if (status < 0) {
		if (status != UV_ECANCELED)
			load_conn_fail(c, "write: %s", uv_strerror(status));
		return;
	}
	if (c->state != LOAD_STATE_CLOSING)
		load_tls_flush(c);
}

/*
 * Writes the queued ciphertext: directly when the socket takes it, else
 * the rest moves to writing[] for the one uv_write in flight, so cipher_out
 * may grow meanwhile without moving bytes libuv still points to.
 */
static void
load_tls_flush(struct load_conn *c)
{
	struct load_tls	*t = c->tls;
	uv_buf_t	 buf;
	int		 n;

	if (t->is_writing || t->cipher_out.len == 0)
		return;
	buf = uv_buf_init(t->cipher_out.data, (unsigned)t->cipher_out.len);
	n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
	if (n < 0 && n != UV_EAGAIN) {
		load_conn_fail(c, "write: %s", uv_strerror(n));
		return;
	}
	if (n > 0)
		buf_consume(&t->cipher_out, (size_t)n);
	if (t->cipher_out.len == 0)
		return;
	/* cipher_out.max == sizeof(writing): it always fits. */
	memcpy(t->writing, t->cipher_out.data, t->cipher_out.len);
	buf = uv_buf_init(t->writing, (unsigned)t->cipher_out.len);
	buf_reset(&t->cipher_out);
	t->is_writing = true;
	n = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1,
	    load_tls_write_cb);
	if (n < 0) {
		t->is_writing = false;
		load_conn_fail(c, "write: %s", uv_strerror(n));
	}
}

/* Encrypts the command in c->command and queues it. */
static void
load_tls_send(struct load_conn *c)
{
	int	r;

	r = tls_channel_write(c->tls->channel, c->command, c->command_len,
	    &c->tls->cipher_out);
	if (r < 0) {
		load_conn_fail(c, "TLS write: %s (%s)", strerror(-r),
		    tls_channel_error(c->tls->channel));
		return;
	}
	load_tls_flush(c);
}

static void
load_send(struct load_conn *c, enum load_state next, const char *fmt, ...)
    LOAD_PRINTF(3, 4);

/* Sends one command; one at a time, so one write request is enough. */
static void
load_send(struct load_conn *c, enum load_state next, const char *fmt, ...)
{
	va_list	ap;
	uv_buf_t buf;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(c->command, sizeof(c->command), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(c->command)) {
		load_conn_fail(c, "command too long");
		return;
	}
	c->command_len = (size_t)n;
	c->state = next;
	if (c->tls != NULL) {
		load_tls_send(c);
		return;
	}
	buf = uv_buf_init(c->command, (unsigned)n);
	n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
	if (n == (int)c->command_len)
		return;
	if (n < 0 && n != UV_EAGAIN) {
		load_conn_fail(c, "write: %s", uv_strerror(n));
		return;
	}
	if (n > 0)
		buf = uv_buf_init(c->command + n, (unsigned)(c->command_len -
		    (size_t)n));
	n = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1,
	    load_write_cb);
	if (n < 0)
		load_conn_fail(c, "write: %s", uv_strerror(n));
}

/* Parses "+OK nn mm" (RFC 1939 sec. 5, STAT). */
static bool
load_parse_stat(const char *line, size_t len, uint32_t *count_out,
    uint64_t *octets_out)
{
	const char	*p = line + 3, *end = line + len;
	uint64_t	 v[2];

	for (int i = 0; i < 2; i++) {
		if (p == end || *p != ' ')
			return false;
		p++;
		if (p == end || *p < '0' || *p > '9')
			return false;
		v[i] = 0;
		while (p < end && *p >= '0' && *p <= '9') {
			if (v[i] > (UINT64_MAX - 9) / 10)
				return false;
			v[i] = v[i] * 10 + (uint64_t)(*p - '0');
			p++;
		}
	}
	if (p != end && *p != ' ')
		return false;
	if (v[0] > LOAD_MAX_MESSAGES)
		return false;
	*count_out = (uint32_t)v[0];
	*octets_out = v[1];
	return true;
}

static void
load_begin_multiline(struct load_conn *c, enum load_state next)
{
	c->state = next;
	c->is_line_start = true;
	c->was_cr = false;
}

static void
load_next_retr_or_quit(struct load_conn *c)
{
	if (c->msn < c->message_count) {
		c->msn++;
		load_send(c, LOAD_STATE_RETR_STATUS, "RETR %" PRIu32 "\r\n",
		    c->msn);
		return;
	}
	load_send(c, LOAD_STATE_QUIT, "QUIT\r\n");
}

/* Checks the totals of a finished session before QUIT. */
static bool
load_check_totals(struct load_conn *c)
{
	const struct load_options *o = &c->worker->context->options;

	if (o->mode == LOAD_MODE_FULL && c->data_octets != c->maildrop_octets) {
		load_conn_fail(c, "RETR total %" PRIu64 " octets, STAT said %"
		    PRIu64, c->data_octets, c->maildrop_octets);
		return false;
	}
	if (o->expect_bytes >= 0 &&
	    c->data_octets != (uint64_t)o->expect_bytes) {
		load_conn_fail(c, "RETR total %" PRIu64 " octets, expected %"
		    PRId64, c->data_octets, o->expect_bytes);
		return false;
	}
	if (o->want_digest && c->digest != o->expect_digest) {
		load_conn_fail(c, "RETR digest %016" PRIx64 ", expected %016"
		    PRIx64, c->digest, o->expect_digest);
		return false;
	}
	return true;
}

/* Handles one complete status line (without CRLF) in the current state. */
static void
load_status_line(struct load_conn *c, const char *line, size_t len)
{
	const struct load_options *o = &c->worker->context->options;

	if (len >= 4 && memcmp(line, "-ERR", 4) == 0 &&
	    (len == 4 || line[4] == ' ')) {
		load_conn_fail(c, "%.*s", (int)len, line);
		return;
	}
	if (len < 3 || memcmp(line, "+OK", 3) != 0 ||
	    (len > 3 && line[3] != ' ')) {
		load_conn_fail(c, "protocol violation: status line \"%.*s\"",
		    (int)(len > 80 ? 80 : len), line);
		return;
	}
	switch (c->state) {
	case LOAD_STATE_GREETING:
		load_send(c, LOAD_STATE_USER, "USER %s%u\r\n", o->user_prefix,
		    c->user);
		break;
	case LOAD_STATE_USER:
		load_send(c, LOAD_STATE_PASS, "PASS %s\r\n", o->password);
		break;
	case LOAD_STATE_PASS:
		if (o->mode == LOAD_MODE_RETR1) {
			c->message_count = 1;
			load_next_retr_or_quit(c);
		} else
			load_send(c, LOAD_STATE_STAT, "STAT\r\n");
		break;
	case LOAD_STATE_STAT:
		if (!load_parse_stat(line, len, &c->message_count,
		    &c->maildrop_octets)) {
			load_conn_fail(c, "protocol violation: STAT \"%.*s\"",
			    (int)(len > 80 ? 80 : len), line);
			return;
		}
		load_send(c, LOAD_STATE_UIDL_STATUS, "UIDL\r\n");
		break;
	case LOAD_STATE_UIDL_STATUS:
		load_begin_multiline(c, LOAD_STATE_UIDL_DATA);
		break;
	case LOAD_STATE_RETR_STATUS:
		load_begin_multiline(c, LOAD_STATE_RETR_DATA);
		break;
	case LOAD_STATE_QUIT:
		load_conn_finish(c, true);
		break;
	default:
		load_conn_fail(c, "internal: status line in state %d",
		    (int)c->state);
		break;
	}
}

/* Called when the "." line of a multi-line response has been read. */
static void
load_multiline_done(struct load_conn *c)
{
	if (c->state == LOAD_STATE_UIDL_DATA) {
		if (c->uidl_lines != c->message_count) {
			load_conn_fail(c, "UIDL listed %" PRIu32 " messages, "
			    "STAT said %" PRIu32, c->uidl_lines,
			    c->message_count);
			return;
		}
		load_next_retr_or_quit(c);
		return;
	}
	if (c->msn == c->message_count && !load_check_totals(c))
		return;
	load_next_retr_or_quit(c);
}

static void
load_count_data(struct load_conn *c, const char *p, size_t n)
{
	if (c->state != LOAD_STATE_RETR_DATA)
		return;
	c->data_octets += n;
	if (c->worker->context->options.want_digest)
		c->digest = load_digest_update(c->digest, p, n);
}

/*
 * Scans multi-line data (RFC 1939 sec. 3): unstuffs leading dots, counts
 * lines and octets, stops after CRLF "." CRLF. Returns the octets consumed;
 * fewer than n means a line head is cut and more input is needed.
 */
static size_t
load_scan_multiline(struct load_conn *c, const char *buf, size_t n)
{
	const char	*p = buf, *end = buf + n, *nl;

	while (p < end) {
		if (c->is_line_start) {
			if (*p == '.') {
				if (end - p < 2)
					break;
				if (p[1] == '\r') {
					if (end - p < 3)
						break;
					if (p[2] != '\n') {
						load_conn_fail(c, "protocol "
						    "violation: \".\\r\" line");
						return n;
					}
					p += 3;
					load_multiline_done(c);
					if (p < end &&
					    c->state != LOAD_STATE_CLOSING)
						load_conn_fail(c, "protocol "
						    "violation: unsolicited "
						    "data after \".\"");
					return (size_t)(p - buf);
				}
				if (p[1] != '.') {
					load_conn_fail(c, "protocol violation:"
					    " line starting with a lone dot");
					return n;
				}
				p++;	/* the stuffed dot */
			}
			c->is_line_start = false;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			load_count_data(c, p, (size_t)(end - p));
			c->was_cr = end[-1] == '\r';
			p = end;
			break;
		}
		if (nl > p ? nl[-1] != '\r' : !c->was_cr) {
			load_conn_fail(c, "protocol violation: bare LF in "
			    "multi-line response");
			return n;
		}
		load_count_data(c, p, (size_t)(nl + 1 - p));
		if (c->state == LOAD_STATE_UIDL_DATA)
			c->uidl_lines++;
		c->is_line_start = true;
		c->was_cr = false;
		p = nl + 1;
	}
	return (size_t)(p - buf);
}

/* Consumes what it can of buf; returns octets consumed (0: need more). */
static size_t
load_process(struct load_conn *c, const char *buf, size_t n)
{
	const char	*nl;
	size_t		 line_len;

	if (c->state == LOAD_STATE_UIDL_DATA ||
	    c->state == LOAD_STATE_RETR_DATA)
		return load_scan_multiline(c, buf, n);
	if (c->state == LOAD_STATE_CLOSING)
		return n;
	if (c->state != LOAD_STATE_GREETING && c->command_len == 0) {
		load_conn_fail(c, "protocol violation: data before command");
		return n;
	}
	nl = memchr(buf, '\n', n);
	if (nl == NULL) {
		if (n >= LOAD_STATUS_LINE_MAX_OCTETS)
			load_conn_fail(c, "protocol violation: status line "
			    "over %d octets", LOAD_STATUS_LINE_MAX_OCTETS);
		return 0;
	}
	line_len = (size_t)(nl - buf);
	if (line_len == 0 || buf[line_len - 1] != '\r') {
		load_conn_fail(c, "protocol violation: status line without "
		    "CRLF");
		return n;
	}
	if (line_len + 1 > LOAD_STATUS_LINE_MAX_OCTETS) {
		load_conn_fail(c, "protocol violation: status line over %d "
		    "octets", LOAD_STATUS_LINE_MAX_OCTETS);
		return n;
	}
	load_status_line(c, buf, line_len - 1);
	/* Replies come one per command: nothing may follow a single line. */
	if (c->state != LOAD_STATE_UIDL_DATA &&
	    c->state != LOAD_STATE_RETR_DATA &&
	    c->state != LOAD_STATE_CLOSING && line_len + 1 < n)
		load_conn_fail(c, "protocol violation: unsolicited data after "
		    "a status line");
	return line_len + 1;
}

static void
load_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct load_conn *c = handle->data;

	(void)suggested;
	*buf = uv_buf_init(c->read_buffer + c->read_len,
	    (unsigned)(sizeof(c->read_buffer) - c->read_len));
}

/* Parses what it can of len POP3 bytes; returns the octets consumed. */
static size_t
load_consume(struct load_conn *c, const char *data, size_t len)
{
	size_t	done = 0, n;

	while (done < len && c->state != LOAD_STATE_CLOSING) {
		n = load_process(c, data + done, len - done);
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

/* Notes the negotiated version and cipher once per thread, for the report. */
static void
load_tls_note_handshake(struct load_conn *c)
{
	struct load_worker	*w = c->worker;
	const char		*version, *cipher;

	if (w->tls_version[0] != '\0')
		return;
	version = tls_channel_version(c->tls->channel);
	cipher = tls_channel_cipher(c->tls->channel);
	snprintf(w->tls_version, sizeof(w->tls_version), "%s",
	    version != NULL ? version : "?");
	snprintf(w->tls_cipher, sizeof(w->tls_cipher), "%s",
	    cipher != NULL ? cipher : "?");
}

/*
 * Hands n octets of ciphertext (in read_buffer) to the channel and parses
 * the plaintext. plain_in is bounded: when it fills, the channel keeps the
 * rest and is fed again, without new input, once the parser made room.
 */
static void
load_tls_read(struct load_conn *c, size_t n)
{
	struct load_tls	*t = c->tls;
	const char	*in = c->read_buffer;
	size_t		 done;
	int		 r;

	do {
		r = tls_channel_feed(t->channel, in, n, &t->plain_in,
		    &t->cipher_out);
		in = NULL;
		n = 0;
		if (r < 0) {
			load_tls_flush(c);	/* the alert, if any */
			load_conn_fail(c, "TLS: %s (%s)", strerror(-r),
			    tls_channel_error(t->channel));
			return;
		}
		if (tls_channel_handshake_done(t->channel))
			load_tls_note_handshake(c);
		done = load_consume(c, t->plain_in.data, t->plain_in.len);
		if (c->state == LOAD_STATE_CLOSING)
			return;
		if (done == 0 && t->plain_in.len == t->plain_in.max) {
			load_conn_fail(c, "plaintext buffer full");
			return;
		}
		buf_consume(&t->plain_in, done);
		if (r == 1) {
			load_conn_fail(c, "TLS close_notify from server");
			return;
		}
	} while (tls_channel_pending(t->channel));
	load_tls_flush(c);
}

static void
load_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct load_conn	*c = stream->data;
	size_t			 done;

	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		if (nread == UV_EOF)
			load_conn_fail(c, "connection closed by server");
		else
			load_conn_fail(c, "read: %s", uv_strerror((int)nread));
		return;
	}
	if (c->tls != NULL) {
		load_tls_read(c, (size_t)nread);
		return;
	}
	c->read_len += (size_t)nread;
	done = load_consume(c, c->read_buffer, c->read_len);
	if (c->state == LOAD_STATE_CLOSING) {
		c->read_len = 0;
		return;
	}
	if (done > 0 && done < c->read_len)
		memmove(c->read_buffer, c->read_buffer + done,
		    c->read_len - done);
	c->read_len -= done;
}

static void
load_connect_cb(uv_connect_t *req, int status)
{
	struct load_conn	*c = req->data;
	int			 r;

	if (c->state != LOAD_STATE_CONNECTING)
		return;		/* closed meanwhile (timeout) */
	if (status < 0) {
		load_conn_fail(c, "%s", uv_strerror(status));
		return;
	}
	c->state = LOAD_STATE_GREETING;
	(void)uv_tcp_nodelay(&c->tcp, 1);
	r = uv_read_start((uv_stream_t *)&c->tcp, load_alloc_cb, load_read_cb);
	if (r < 0) {
		load_conn_fail(c, "read_start: %s", uv_strerror(r));
		return;
	}
	if (c->tls != NULL) {
		/* Implicit TLS: the ClientHello is the first byte sent. */
		r = tls_channel_start(c->tls->channel, &c->tls->cipher_out);
		if (r < 0) {
			load_conn_fail(c, "TLS start: %s (%s)", strerror(-r),
			    tls_channel_error(c->tls->channel));
			return;
		}
		load_tls_flush(c);
	}
}

static void
load_timeout_cb(uv_timer_t *timer)
{
	struct load_conn *c = timer->data;

	load_conn_fail(c, "timeout after %" PRIu64 " ms",
	    c->worker->context->options.timeout_ms);
}

/* Slot s only uses users s, s+C, s+2C, ... < K: no two in flight share one. */
static unsigned
load_pick_user(const struct load_options *o, unsigned slot, unsigned round)
{
	unsigned per_slot = (o->users - slot + o->concurrency - 1) /
	    o->concurrency;

	return slot + (round % per_slot) * o->concurrency;
}

static void
load_session_start(struct load_conn *c)
{
	struct load_worker	*w = c->worker;
	const struct load_options *o = &w->context->options;
	int			 r;

	c->user = load_pick_user(o, c->slot, c->round++);
	c->started_ns = uv_hrtime();
	c->message_count = 0;
	c->maildrop_octets = 0;
	c->msn = 0;
	c->uidl_lines = 0;
	c->data_octets = 0;
	c->digest = LOAD_FNV_OFFSET;
	c->read_len = 0;
	c->command_len = 0;
	c->state = LOAD_STATE_CONNECTING;
	if (c->tls != NULL) {
		/* A fresh SSL each time and no SSL_set_session(): a full
		 * handshake per session, never a resumption. */
		buf_reset(&c->tls->plain_in);
		buf_reset(&c->tls->cipher_out);
		c->tls->is_writing = false;
		c->tls->channel = tls_channel_new_client(w->tls_profile,
		    o->tls_name);
		if (c->tls->channel == NULL) {
			fprintf(stderr, "pop3_load: out of memory for a TLS "
			    "channel\n");
			atomic_fetch_add(&w->context->errors, 1);
			c->state = LOAD_STATE_IDLE;
			uv_close((uv_handle_t *)&c->timer, NULL);
			return;
		}
	}

	r = uv_tcp_init(&w->loop, &c->tcp);
	if (r < 0) {
		fprintf(stderr, "pop3_load: uv_tcp_init: %s\n", uv_strerror(r));
		atomic_fetch_add(&w->context->errors, 1);
		c->state = LOAD_STATE_IDLE;
		if (c->tls != NULL) {
			tls_channel_free(c->tls->channel);
			c->tls->channel = NULL;
		}
		uv_close((uv_handle_t *)&c->timer, NULL);
		return;
	}
	c->tcp.data = c;
	c->connect_req.data = c;
	c->write_req.data = c;
	uv_timer_start(&c->timer, load_timeout_cb, o->timeout_ms, 0);
	r = uv_tcp_connect(&c->connect_req, &c->tcp,
	    (const struct sockaddr *)&o->address, load_connect_cb);
	if (r < 0)
		load_conn_fail(c, "%s", uv_strerror(r));
}

static void
load_worker_run(void *arg)
{
	struct load_worker	*w = arg;
	struct load_conn	*c;

	for (unsigned i = 0; i < w->conn_count; i++) {
		c = &w->conns[i];
		c->worker = w;
		c->slot = w->first_slot + i;
		uv_timer_init(&w->loop, &c->timer);
		c->timer.data = c;
		if (load_claim_allowed(w->context))
			load_session_start(c);
		else
			uv_close((uv_handle_t *)&c->timer, NULL);
	}
	uv_run(&w->loop, UV_RUN_DEFAULT);
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

static int
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

/* --tls: a client profile per thread and a TLS state per slot. */
static int
load_worker_tls_init(struct load_worker *w, const struct load_options *o)
{
	struct tls_profile_settings	 settings;
	char				 err[256];

	tls_profile_settings_init(&settings);
	settings.ca_file = o->tls_ca_file;
	settings.verify_peer = true;
	w->tls_profile = tls_profile_new_client(&settings, err, sizeof(err));
	if (w->tls_profile == NULL) {
		fprintf(stderr, "pop3_load: %s\n", err);
		return -1;
	}
	for (unsigned i = 0; i < w->conn_count; i++) {
		struct load_tls *t = calloc(1, sizeof(*t));

		if (t == NULL) {
			fprintf(stderr, "pop3_load: out of memory\n");
			return -1;
		}
		buf_init(&t->plain_in, LOAD_TLS_PLAIN_MAX_BYTES);
		buf_init(&t->cipher_out, sizeof(t->writing));
		w->conns[i].tls = t;
	}
	return 0;
}

static void
load_worker_tls_free(struct load_worker *w)
{
	for (unsigned i = 0; w->conns != NULL && i < w->conn_count; i++) {
		struct load_tls *t = w->conns[i].tls;

		if (t == NULL)
			continue;
		tls_channel_free(t->channel);
		buf_deinit(&t->plain_in);
		buf_deinit(&t->cipher_out);
		free(t);
	}
	tls_profile_free(w->tls_profile);
}

int
main(int argc, char **argv)
{
	struct load_context	 ctx;
	struct load_worker	*workers;
	unsigned		 next_slot = 0, share;
	int			 rc = 0, r;

	memset(&ctx, 0, sizeof(ctx));
	if (load_parse_options(argc, argv, &ctx.options) < 0)
		return 2;
	atomic_init(&ctx.sessions_claimed, 0);
	atomic_init(&ctx.errors, 0);
	signal(SIGPIPE, SIG_IGN);

	workers = calloc(ctx.options.threads, sizeof(*workers));
	if (workers == NULL) {
		fprintf(stderr, "pop3_load: out of memory\n");
		return 2;
	}
	for (unsigned t = 0; t < ctx.options.threads; t++) {
		struct load_worker *w = &workers[t];

		share = ctx.options.concurrency / ctx.options.threads +
		    (t < ctx.options.concurrency % ctx.options.threads);
		w->context = &ctx;
		w->first_slot = next_slot;
		w->conn_count = share;
		next_slot += share;
		w->conns = calloc(share, sizeof(*w->conns));
		if (w->conns == NULL || uv_loop_init(&w->loop) < 0) {
			fprintf(stderr, "pop3_load: out of memory\n");
			exit(2);
		}
		if (ctx.options.want_tls &&
		    load_worker_tls_init(w, &ctx.options) < 0)
			exit(2);
	}

	ctx.start_ns = uv_hrtime();
	ctx.deadline_ns = ctx.start_ns +
	    (uint64_t)(ctx.options.duration_s * 1e9);
	if (ctx.options.threads == 1)
		load_worker_run(&workers[0]);
	else {
		for (unsigned t = 0; t < ctx.options.threads; t++) {
			r = uv_thread_create(&workers[t].thread,
			    load_worker_run, &workers[t]);
			if (r < 0) {
				fprintf(stderr, "pop3_load: thread: %s\n",
				    uv_strerror(r));
				return 2;
			}
		}
		for (unsigned t = 0; t < ctx.options.threads; t++)
			uv_thread_join(&workers[t].thread);
	}

	if (load_report(&ctx, workers) < 0)
		rc = 2;
	else if (atomic_load(&ctx.errors) > 0)
		rc = 1;
	for (unsigned t = 0; t < ctx.options.threads; t++) {
		uv_loop_close(&workers[t].loop);
		load_worker_tls_free(&workers[t]);
		free(workers[t].conns);
		free(workers[t].latencies_ns);
	}
	free(workers);
	return rc;
}
