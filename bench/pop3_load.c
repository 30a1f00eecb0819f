/* SPDX-License-Identifier: MIT */
/*
 * pop3_load.c - POP3 load generator on libuv, for bench/run.py.
 * Drives whole sessions (login, STAT, UIDL, RETR all, QUIT) against a server on
 * loopback only, with a fixed number in flight; prints one JSON line.
 * With --tls every session is POP3S (RFC 8314 implicit TLS): a full
 * handshake, never resumed, through net/tls_channel over memory BIOs.
 * This file holds the connections and threads; the writer is net/stream.c.
 */
#include <errno.h>
#include <inttypes.h>
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
#include "pop3_load.h"
#include "stream.h"
#include "tls_channel.h"

static const char *const load_state_names[] = {
	"idle", "connect", "greeting", "USER", "PASS", "STAT", "UIDL",
	"UIDL data", "RETR", "RETR data", "QUIT", "closing",
};
_Static_assert(sizeof(load_state_names) / sizeof(load_state_names[0]) ==
    LOAD_STATE_COUNT, "load_state_names matches enum load_state");

static void	load_session_start(struct load_conn *);

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

void
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

void
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

static void	load_flush(struct load_conn *);

static void
load_written(void *arg, size_t n, int status)
{
	struct load_conn *c = arg;

	(void)n;
	if (status < 0) {
		if (status != UV_ECANCELED)
			load_conn_fail(c, "write: %s", uv_strerror(status));
		return;
	}
	if (c->state != LOAD_STATE_CLOSING)
		load_flush(c);	/* TLS: what the handshake queued meanwhile */
}

static const struct stream_callbacks load_stream_cb = {
	.written = load_written,
};

/* Writes what is queued: the command, or under TLS its records and what
 * the handshake queued. */
static void
load_flush(struct load_conn *c)
{
	ssize_t	n;

	n = stream_flush(&c->wr);
	if (n >= 0)
		return;
	if (stream_failed_in_tls(&c->wr))
		load_conn_fail(c, "TLS write: %s (%s)", strerror((int)-n),
		    tls_channel_error(c->tls->channel));
	else
		load_conn_fail(c, "write: %s", uv_strerror((int)n));
}

/* Sends one command; one at a time, so one write in flight is enough. */
void
load_send(struct load_conn *c, enum load_state next, const char *fmt, ...)
{
	va_list	ap;
	int	r;

	buf_reset(&c->out);
	va_start(ap, fmt);
	r = buf_vappendf(&c->out, fmt, ap);
	va_end(ap);
	if (r != 0) {
		load_conn_fail(c, "command too long");
		return;
	}
	c->command_len = c->out.len;
	c->state = next;
	load_flush(c);
}

static void
load_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct load_conn *c = handle->data;

	(void)suggested;
	*buf = uv_buf_init(c->read_buffer + c->read_len,
	    (unsigned)(sizeof(c->read_buffer) - c->read_len));
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
		r = stream_tls_feed(&c->wr, in, n, &t->plain_in);
		in = NULL;
		n = 0;
		if (r < 0) {
			/* The stream sent the alert, if any. */
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
	load_flush(c);
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
		r = stream_start_tls(&c->wr, c->tls->channel, true);
		if (r < 0) {
			load_conn_fail(c, "TLS start: %s (%s)", strerror(-r),
			    tls_channel_error(c->tls->channel));
			return;
		}
		load_flush(c);
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
	buf_reset(&c->out);
	stream_reset(&c->wr);
	if (c->tls != NULL) {
		/* A fresh SSL each time and no SSL_set_session(): a full
		 * handshake per session, never a resumption. */
		buf_reset(&c->tls->plain_in);
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
		buf_init(&c->out, LOAD_COMMAND_MAX_OCTETS);
		stream_init(&c->wr, (uv_stream_t *)&c->tcp, &c->out,
		    LOAD_TLS_CIPHER_MAX_BYTES, 0, &load_stream_cb, c);
		uv_timer_init(&w->loop, &c->timer);
		c->timer.data = c;
		if (load_claim_allowed(w->context))
			load_session_start(c);
		else
			uv_close((uv_handle_t *)&c->timer, NULL);
	}
	uv_run(&w->loop, UV_RUN_DEFAULT);
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
		w->conns[i].tls = t;
	}
	return 0;
}

/* After the run: the slots' buffers, TLS states and the profile. */
static void
load_worker_free(struct load_worker *w)
{
	for (unsigned i = 0; w->conns != NULL && i < w->conn_count; i++) {
		struct load_conn	*c = &w->conns[i];
		struct load_tls		*t = c->tls;

		stream_deinit(&c->wr);
		buf_deinit(&c->out);
		if (t == NULL)
			continue;
		tls_channel_free(t->channel);
		buf_deinit(&t->plain_in);
		free(t);
	}
	tls_profile_free(w->tls_profile);
	free(w->conns);
	free(w->latencies_ns);
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
		load_worker_free(&workers[t]);
	}
	free(workers);
	return rc;
}
