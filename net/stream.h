/* SPDX-License-Identifier: MIT */
/*
 * stream.h - the one socket writer over libuv, for the POP3 sessions, the
 * upstream IMAP client, the metrics server and the load generator.
 *
 * The owner appends to its own plaintext queue (borrowed by the stream)
 * and calls stream_flush(). The stream tries uv_try_write() first and
 * keeps at most one uv_write() in flight, from a second buffer whose
 * storage it swaps with the queue's: no copy, and no allocation once both
 * buffers have grown. With a TLS channel (borrowed too) the queue is
 * sealed into records first. Nothing here calls the owner back from
 * inside a call the owner made: stream_flush() returns what happened, and
 * only the end of the write in flight is a callback.
 */
#ifndef POPGATE_STREAM_H
#define POPGATE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <uv.h>

#include "buf.h"

struct tls_channel;

struct stream_callbacks {
	/*
	 * The write in flight ended: n octets of it left for the kernel
	 * (all that uv_write() was given, as libuv does not say less),
	 * status 0 or a libuv error (UV_ECANCELED when the handle closed).
	 * The buffer was already reset, or wiped when it held a secret.
	 * The owner flushes again from here if it wants.
	 */
	void	(*written)(void *owner, size_t n, int status);
};

struct stream {
	uv_stream_t			*handle;
	struct buf			*out;	/* owner's plaintext queue */
	struct tls_channel		*tls;	/* owner's, or NULL */
	const struct stream_callbacks	*cb;
	void				*owner;
	struct buf			 cq;	/* TLS: records not yet written */
	struct buf			 wbuf;	/* the write in flight */
	size_t				 woff;	/* of wbuf, taken by try_write */
	size_t				 headroom;	/* kept free in cq */
	size_t				 low;	/* watermarks of the backlog */
	size_t				 high;
	uv_write_t			 req;
	bool				 writing;
	bool				 secret;	/* out holds a secret */
	bool				 wsecret;	/* so does wbuf */
	bool				 ending;	/* close_notify after out */
	bool				 shut;		/* close_notify queued */
	bool				 closed;	/* stream_close() was called */
	bool				 failed;
	bool				 tls_error;	/* the failure was TLS's */
};

/*
 * Sets up a stream writing to handle from the owner's queue out (the two
 * outlive the stream). cipher_max bounds the TLS record queue (unused in
 * cleartext); headroom is the part of it that sealing leaves free for what
 * reading produces (handshake messages, alerts, key updates), 0 when the
 * owner never reads while output waits. A sensitive out makes the write
 * buffer sensitive too. Allocates nothing.
 */
void	stream_init(struct stream *st, uv_stream_t *handle, struct buf *out,
	    size_t cipher_max, size_t headroom,
	    const struct stream_callbacks *cb, void *owner);
/* Frees the buffers (wiped when sensitive); the handle must be closed or
 * no write be in flight. */
void	stream_deinit(struct stream *st);
/* For a stream used again on the same handle memory (a new connection):
 * empties its queues, forgets TLS and failure, keeps the storage. */
void	stream_reset(struct stream *st);

/* Watermarks of stream_backlog(): see stream_full() and stream_low(). */
void	stream_set_watermarks(struct stream *st, size_t low, size_t high);
/* Octets not yet handed to the kernel: the queue, the records and the
 * write in flight. */
size_t	stream_backlog(const struct stream *st);
/* At or above the high watermark: the owner stops producing. */
bool	stream_full(const struct stream *st);
/* Below the low watermark: the owner produces again. */
bool	stream_low(const struct stream *st);
/* A uv_write() is in flight: its callback is still owed. */
bool	stream_busy(const struct stream *st);

/* What the queue holds now is a secret (a password, a token): wipe it
 * once it left, instead of leaving it in freed or reused storage. */
void	stream_mark_secret(struct stream *st);

/*
 * Writes what is queued (sealed first under TLS). Returns the octets the
 * socket took at once (0 included: the rest waits for the write in flight
 * or, under TLS, for the handshake), or a negative error after which the
 * stream writes nothing more: a libuv error from the socket, or under TLS
 * the channel's (-EPROTO, -ENOBUFS, -ENOMEM, -EPIPE), which
 * stream_failed_in_tls() tells apart. A TLS failure sends the alert
 * OpenSSL queued, once, if the socket takes it at once.
 */
ssize_t	stream_flush(struct stream *st);
bool	stream_failed_in_tls(const struct stream *st);

/*
 * TLS from now on, through chan (the owner's; it frees it after the
 * stream is done). A client sends its ClientHello with the next flush.
 * Returns 0 or an error as tls_channel_start() does.
 */
int	stream_start_tls(struct stream *st, struct tls_channel *chan,
	    bool client);
/*
 * Ciphertext read from the socket (NULL, 0: what the channel held back):
 * decrypted into plain, and what TLS answers queued for the next flush.
 * Returns as tls_channel_feed() does; on an error the stream has failed
 * (and sent the alert, as above).
 */
int	stream_tls_feed(struct stream *st, const char *data, size_t len,
	    struct buf *plain);
/* TLS: once the queue is empty, follow the last octets with close_notify
 * (RFC 8446 sec. 6.1). No-op in cleartext. */
void	stream_end(struct stream *st);
/*
 * The owner closes the handle now: under TLS, close_notify (after a
 * completed handshake) and what TLS queued go out in one uv_try_write(),
 * without waiting; the queues are dropped. Nothing is written after.
 */
void	stream_close(struct stream *st);

#endif
