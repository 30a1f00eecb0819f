/* SPDX-License-Identifier: MIT */
/*
 * stream.c - the one socket writer (stream.h): uv_try_write() first, then
 * one uv_write() in flight, TLS records sealed from the owner's queue,
 * secrets wiped once they left, close_notify on an orderly end.
 */
#include <errno.h>
#include <string.h>

#include "stream.h"
#include "tls_channel.h"

/* Plaintext handed to OpenSSL per call: one full TLS record. */
#define STREAM_TLS_RECORD_OCTETS	16384
/* Upper bound of a record's overhead (header, explicit IV, MAC or tag,
 * padding), for the room check before sealing. */
#define STREAM_TLS_RECORD_OVERHEAD	256

static void	stream_write_cb(uv_write_t *req, int status);

void
stream_init(struct stream *st, uv_stream_t *handle, struct buf *out,
    size_t cipher_max, size_t headroom, const struct stream_callbacks *cb,
    void *owner)
{
	memset(st, 0, sizeof(*st));
	st->handle = handle;
	st->out = out;
	st->cb = cb;
	st->owner = owner;
	st->headroom = headroom;
	buf_init(&st->cq, cipher_max);
	buf_init(&st->wbuf, out->max > cipher_max ? out->max : cipher_max);
	if (out->sensitive)
		buf_set_sensitive(&st->wbuf);
}

void
stream_deinit(struct stream *st)
{
	if (st->wsecret)
		buf_wipe(&st->wbuf);
	buf_deinit(&st->wbuf);
	buf_deinit(&st->cq);
}

void
stream_reset(struct stream *st)
{
	buf_reset(&st->cq);
	if (st->wsecret)
		buf_wipe(&st->wbuf);
	buf_reset(&st->wbuf);
	st->woff = 0;
	st->tls = NULL;
	st->writing = st->secret = st->wsecret = false;
	st->ending = st->shut = st->closed = false;
	st->failed = st->tls_error = false;
}

void
stream_set_watermarks(struct stream *st, size_t low, size_t high)
{
	st->low = low;
	st->high = high;
}

size_t
stream_backlog(const struct stream *st)
{
	return st->out->len + st->cq.len + st->wbuf.len;
}

bool
stream_full(const struct stream *st)
{
	return stream_backlog(st) >= st->high;
}

bool
stream_low(const struct stream *st)
{
	return stream_backlog(st) < st->low;
}

bool
stream_busy(const struct stream *st)
{
	return st->writing;
}

void
stream_mark_secret(struct stream *st)
{
	st->secret = true;
}

bool
stream_failed_in_tls(const struct stream *st)
{
	return st->tls_error;
}

static int
stream_fail(struct stream *st, int error)
{
	st->failed = true;
	return error;
}

/* A TLS failure: the alert OpenSSL queued goes out if the socket takes it
 * at once; the peer learns why, and we do not wait for it. */
static int
stream_tls_fail(struct stream *st, int error)
{
	uv_buf_t	b;

	st->tls_error = true;
	if (!st->writing && st->cq.len > 0) {
		b = uv_buf_init(st->cq.data, (unsigned int)st->cq.len);
		(void)uv_try_write(st->handle, &b, 1);
	}
	buf_reset(&st->cq);
	return stream_fail(st, error);
}

/*
 * Seals the whole queue into records, or nothing: before the handshake
 * completed, or while the records would not leave the headroom (sealed
 * once the socket has taken some; the channel fails rather than split a
 * record). Then close_notify, when the owner ended the stream.
 */
static int
stream_seal(struct stream *st)
{
	struct buf	*out = st->out;
	size_t		 off, n, need;
	int		 r = 0;

	if (!tls_channel_handshake_done(st->tls))
		return 0;
	if (out->len > 0) {
		need = out->len + (out->len / STREAM_TLS_RECORD_OCTETS + 1) *
		    STREAM_TLS_RECORD_OVERHEAD;
		if (st->cq.len + need + st->headroom > st->cq.max)
			return 0;
		for (off = 0; off < out->len && r == 0; off += n) {
			n = out->len - off;
			if (n > STREAM_TLS_RECORD_OCTETS)
				n = STREAM_TLS_RECORD_OCTETS;
			r = tls_channel_write(st->tls, out->data + off, n,
			    &st->cq);
		}
		/* The plaintext (perhaps a password) goes now; the records
		 * carry it. */
		if (st->secret)
			buf_wipe(out);
		else
			buf_reset(out);
		st->secret = false;
		if (r != 0)
			return stream_tls_fail(st, r);
	}
	if (st->ending && !st->shut) {
		st->shut = true;
		(void)tls_channel_shutdown(st->tls, &st->cq);
	}
	return 0;
}

/* Exchanges the storage of two buffers; each keeps its limit and its
 * sensitivity, so the queue's bounds do not follow its bytes. */
static void
stream_swap(struct buf *a, struct buf *b)
{
	struct buf	tmp = *a;

	a->data = b->data;
	a->len = b->len;
	a->cap = b->cap;
	b->data = tmp.data;
	b->len = tmp.len;
	b->cap = tmp.cap;
}

/* Hands what the socket did not take (wire from offset off) to uv_write:
 * the bytes move to wbuf by swapping storage, and stay untouched there
 * until the callback while the queue fills again. */
static int
stream_write_rest(struct stream *st, struct buf *wire, size_t off,
    bool secret)
{
	uv_buf_t	b;
	int		r;

	stream_swap(&st->wbuf, wire);
	st->woff = off;
	st->wsecret = secret;
	if (wire == st->out)
		st->secret = false;
	b = uv_buf_init(st->wbuf.data + off,
	    (unsigned int)(st->wbuf.len - off));
	st->req.data = st;
	r = uv_write(&st->req, st->handle, &b, 1, stream_write_cb);
	if (r < 0) {
		if (secret)
			buf_wipe(&st->wbuf);
		buf_reset(&st->wbuf);
		st->wsecret = false;
		return stream_fail(st, r);
	}
	st->writing = true;
	return 0;
}

static void
stream_write_cb(uv_write_t *req, int status)
{
	struct stream	*st = req->data;
	size_t		 n = st->wbuf.len - st->woff;

	st->writing = false;
	if (st->wsecret)
		buf_wipe(&st->wbuf);
	else
		buf_reset(&st->wbuf);
	st->wsecret = false;
	st->woff = 0;
	if (status < 0)
		st->failed = true;
	st->cb->written(st->owner, n, status);
}

/*
 * uv_try_write() first: a completed uv_write() costs libuv a callback
 * turn and an epoll_ctl() per write, and most replies and commands fit the
 * socket buffer at once. Only a remainder goes through uv_write().
 */
ssize_t
stream_flush(struct stream *st)
{
	struct buf	*wire;
	uv_buf_t	 b;
	size_t		 total = 0;
	bool		 secret;
	int		 r;

	for (;;) {
		if (st->writing || st->failed || st->closed)
			break;
		if (st->tls != NULL && (r = stream_seal(st)) != 0)
			return r;
		wire = st->tls != NULL ? &st->cq : st->out;
		if (wire->len == 0)
			break;
		/* Records are no secret: sealing wiped the plaintext. */
		secret = wire == st->out && st->secret;
		b = uv_buf_init(wire->data, (unsigned int)wire->len);
		r = uv_try_write(st->handle, &b, 1);
		/* ENOTCONN: a connect still under way; uv_write() waits. */
		if (r < 0 && r != UV_EAGAIN && r != UV_ENOTCONN)
			return stream_fail(st, r);
		if (r < 0)
			r = 0;
		total += (size_t)r;
		if ((size_t)r < wire->len) {
			if ((r = stream_write_rest(st, wire, (size_t)r,
			    secret)) < 0)
				return r;
			break;
		}
		if (secret)
			buf_wipe(wire);
		else
			buf_reset(wire);
		if (wire == st->out)
			st->secret = false;
		/* Under TLS, plaintext waits behind the handshake or the
		 * headroom; cleartext output is all gone. */
		if (st->tls == NULL || st->out->len == 0)
			break;
	}
	return (ssize_t)total;
}

int
stream_start_tls(struct stream *st, struct tls_channel *chan, bool client)
{
	int	r;

	st->tls = chan;
	if (!client)
		return 0;
	r = tls_channel_start(chan, &st->cq);
	return r < 0 ? stream_tls_fail(st, r) : 0;
}

int
stream_tls_feed(struct stream *st, const char *data, size_t len,
    struct buf *plain)
{
	int	r;

	r = tls_channel_feed(st->tls, data, len, plain, &st->cq);
	return r < 0 ? stream_tls_fail(st, r) : r;
}

void
stream_end(struct stream *st)
{
	st->ending = true;
}

void
stream_close(struct stream *st)
{
	uv_buf_t	b;

	if (st->closed)
		return;
	st->closed = true;
	if (st->tls == NULL)
		return;
	/* RFC 8314 sec. 3.4; a failed channel may have queued an alert
	 * instead, which is worth sending too. */
	if (!st->shut && tls_channel_handshake_done(st->tls)) {
		st->shut = true;
		(void)tls_channel_shutdown(st->tls, &st->cq);
	}
	if (!st->writing && st->cq.len > 0) {
		b = uv_buf_init(st->cq.data, (unsigned int)st->cq.len);
		(void)uv_try_write(st->handle, &b, 1);	/* best effort */
	}
	buf_reset(&st->cq);
}
