/* SPDX-License-Identifier: MIT */
/*
 * pop3_load.h - the load generator's parts: options (load_options.c), the
 * POP3 dialogue of one session (load_pop3.c), the report
 * (load_report.c), and the connections and threads (pop3_load.c).
 */
#ifndef POPGATE_POP3_LOAD_H
#define POPGATE_POP3_LOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "buf.h"
#include "stream.h"

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
 * buffer lives for the whole run. The slot's stream writes the records.
 */
struct load_tls {
	struct tls_channel	*channel;
	struct buf		 plain_in;	/* decrypted, not yet parsed */
};

/* One slot keeps one session in flight; its buffers live for the whole run. */
struct load_conn {
	struct load_worker	*worker;
	uv_tcp_t		 tcp;
	uv_connect_t		 connect_req;
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
	struct buf		 out;		/* the command being sent */
	struct stream		 wr;		/* writes it (net/stream.c) */
	size_t			 command_len;	/* 0: none sent yet */
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

/* FNV-1a, 64 bit: cheap, and only computed with --verify-digest
 * (load_pop3.c). */
#define LOAD_FNV_OFFSET	UINT64_C(0xcbf29ce484222325)

/* load_options.c: the command line; 0, or -1 after a message. */
int	load_parse_options(int argc, char **argv, struct load_options *o);

/* load_pop3.c: parses what it can of len POP3 bytes; returns the octets
 * consumed. */
size_t	load_consume(struct load_conn *c, const char *data, size_t len);

/* load_report.c */
void	load_record_latency(struct load_worker *w, uint64_t ns);
/* Prints the JSON line; -1 when memory ran out. */
int	load_report(struct load_context *ctx, struct load_worker *workers);

/* pop3_load.c: the connection under the dialogue. */
void	load_send(struct load_conn *c, enum load_state next, const char *fmt,
	    ...) LOAD_PRINTF(3, 4);
/* Ends the session; is_success counts it. The slot restarts on close. */
void	load_conn_finish(struct load_conn *c, bool is_success);
void	load_conn_fail(struct load_conn *c, const char *fmt, ...)
	    LOAD_PRINTF(2, 3);

#endif
