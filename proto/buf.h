/* SPDX-License-Identifier: MIT */
/*
 * buf.h - bounded byte buffer used by every layer.
 * Pure: no I/O. A buffer never grows past its max; appends beyond it fail.
 */
#ifndef POPGATE_BUF_H
#define POPGATE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;	/* bytes in use, data[0..len) */
	size_t	 cap;	/* bytes allocated */
	size_t	 max;	/* hard limit on len */
	bool	 sensitive;	/* may hold a secret: wipe old blocks on growth */
};

/* Sets up an empty buffer that may hold at most max bytes. Allocates lazily. */
void	buf_init(struct buf *b, size_t max);
/* Marks a buffer that may hold a password or token: storage it outgrows is
 * wiped before it is freed. Others skip that cost on the byte path. */
void	buf_set_sensitive(struct buf *b);
/* Frees the storage (wiped first if sensitive); the buffer is empty and
 * usable again afterwards. */
void	buf_deinit(struct buf *b);
/* Appends n bytes. Returns 0, -ENOBUFS past max, or -ENOMEM. */
int	buf_append(struct buf *b, const void *p, size_t n);
/* Appends a string. Same returns as buf_append(). */
int	buf_append_str(struct buf *b, const char *s);
/* printf-style append. Same returns as buf_append(). */
int	buf_appendf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	buf_vappendf(struct buf *b, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));
/* Makes room for at least n more bytes without changing len; returns a
 * pointer to data + len, or NULL (max or memory). Commit with buf_commit(). */
char	*buf_reserve(struct buf *b, size_t n);
void	 buf_commit(struct buf *b, size_t n);
/* Removes the first n bytes (n <= len). */
void	buf_consume(struct buf *b, size_t n);
/* Empties the buffer, keeping its storage. */
void	buf_reset(struct buf *b);
/* Zeroes the used bytes with a store the compiler cannot elide, then resets. */
void	buf_wipe(struct buf *b);

#endif
