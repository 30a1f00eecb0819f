/* SPDX-License-Identifier: MIT */
/*
 * imap_stream.h - a libetpan mailstream whose reads are served from an
 * imap_frame: libetpan only ever sees bytes of complete responses, so its
 * blocking-style parser never waits for the network (doc/libetpan.md sec. 3).
 */
#ifndef POPGATE_IMAP_STREAM_H
#define POPGATE_IMAP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libetpan/libetpan.h>

#include "imap_frame.h"

/* libetpan's own read buffer in front of the framer. Small on purpose:
 * mailstream_read() copies reads larger than it straight from the driver
 * into the parser's buffer, so literal octets skip one copy. */
#define IMAP_STREAM_BUFFER_OCTETS	(4 * 1024)

/* Returns a stream reading from f (borrowed; must outlive the stream), or
 * NULL. Writes through it are dropped: popgate writes its commands itself. */
mailstream	*imap_stream_new(struct imap_frame *f);
/* True when the ready greeting is a BYE ("* BYE", any spacing or case).
 * libetpan 1.9.4 leaks the greeting struct of a BYE, so callers refuse such
 * a greeting before parsing it. */
bool		 imap_stream_greeting_is_bye(const struct imap_frame *f);
/* Blanks the '[' of any greeting response code but CAPABILITY, which
 * libetpan 1.9.4 might crash on (see imap_stream.c). Returns how many. */
unsigned int	 imap_stream_greeting_defuse(struct imap_frame *f);
/* Parses a numeric tag as popgate sends them ("1".."999999999"). */
bool		 imap_stream_tag_number(const char *text, size_t len,
		    uint32_t *tag);
/* Frees a mailimap session without the LOGOUT that mailimap_free() would try
 * over a live stream (doc/libetpan.md sec. 5, teardown order). */
void		 imap_stream_free_session(mailimap *imap);

#endif
