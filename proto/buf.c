/* SPDX-License-Identifier: MIT */
/*
 * buf.c - bounded byte buffer. Pure: no I/O.
 * Storage grows geometrically up to the buffer's max and never beyond it.
 */
#include "buf.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * First allocation, in bytes: big enough for a typical reply line or command
 * so that small buffers allocate once; smaller if max is smaller.
 */
#define BUF_MIN_ALLOC_BYTES	256

/* Stack scratch for buf_vappendf(): most formatted lines fit in one pass. */
#define BUF_FORMAT_SCRATCH_BYTES	512

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->sensitive = false;
}

void
buf_set_sensitive(struct buf *b)
{
	b->sensitive = true;
}

void
buf_deinit(struct buf *b)
{
	if (b->data != NULL) {
		/* A sensitive buffer leaves no password in the heap. */
		if (b->sensitive)
			explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/*
 * Makes cap at least want (want may exceed max by the one byte vsnprintf
 * needs for its NUL). Grows by doubling, capped at max. Returns 0 or -ENOMEM.
 */
static int
buf_grow_storage(struct buf *b, size_t want)
{
	size_t	 new_cap;
	char	*p;

	if (b->data != NULL && want <= b->cap)
		return 0;
	new_cap = b->cap < BUF_MIN_ALLOC_BYTES ? BUF_MIN_ALLOC_BYTES : b->cap;
	while (new_cap < want && new_cap <= SIZE_MAX / 2)
		new_cap *= 2;
	if (new_cap > b->max)
		new_cap = b->max;
	if (new_cap < want)
		new_cap = want;
	if (new_cap == 0)
		new_cap = 1;	/* malloc(0) may return NULL */

	if (!b->sensitive) {
		if ((p = realloc(b->data, new_cap)) == NULL)
			return -ENOMEM;
		b->data = p;
		b->cap = new_cap;
		return 0;
	}
	/*
	 * Not realloc(): the old block may hold a password, and realloc would
	 * free it without wiping. Growth is rare (geometric), so the copy is
	 * cheap.
	 */
	if ((p = malloc(new_cap)) == NULL)
		return -ENOMEM;
	if (b->data != NULL) {
		memcpy(p, b->data, b->len);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = new_cap;
	return 0;
}

char *
buf_reserve(struct buf *b, size_t n)
{
	if (n > b->max - b->len)
		return NULL;
	if (buf_grow_storage(b, b->len + n) != 0)
		return NULL;
	return b->data + b->len;
}

void
buf_commit(struct buf *b, size_t n)
{
	assert(n <= b->cap - b->len);
	assert(n <= b->max - b->len);
	b->len += n;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	int	error;

	if (n == 0)
		return 0;
	if (n > b->max - b->len)
		return -ENOBUFS;
	if ((error = buf_grow_storage(b, b->len + n)) != 0)
		return error;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	error;

	va_start(ap, fmt);
	error = buf_vappendf(b, fmt, ap);
	va_end(ap);
	return error;
}

int
buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
	char	 scratch[BUF_FORMAT_SCRATCH_BYTES];
	va_list	 ap2;
	size_t	 n;
	int	 r, error;

	va_copy(ap2, ap);
	r = vsnprintf(scratch, sizeof(scratch), fmt, ap2);
	va_end(ap2);
	if (r < 0)
		return -EINVAL;
	n = (size_t)r;
	if (n < sizeof(scratch))
		return buf_append(b, scratch, n);

	/* Too long for the scratch: format straight into the buffer. */
	if (n > b->max - b->len)
		return -ENOBUFS;
	if ((error = buf_grow_storage(b, b->len + n + 1)) != 0)
		return error;
	va_copy(ap2, ap);
	r = vsnprintf(b->data + b->len, n + 1, fmt, ap2);
	va_end(ap2);
	if (r < 0 || (size_t)r != n)
		return -EINVAL;
	b->len += n;
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	assert(n <= b->len);
	if (n == b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
}

void
buf_wipe(struct buf *b)
{
	/*
	 * The whole allocation, not only [0, len): buf_consume() leaves stale
	 * copies of consumed bytes behind len.
	 */
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	b->len = 0;
}
