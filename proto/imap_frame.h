/* SPDX-License-Identifier: MIT */
/*
 * imap_frame.h - incremental framer for IMAP server output (RFC 3501 sec. 2.2,
 * 4.3, 7; RFC 9051). Pure: no I/O.
 *
 * The framer buffers bytes from the server and decides where each response
 * ends, so that libetpan's parser is only ever run on complete responses.
 * A "logical line" is a physical line plus any {N} / {N+} / ~{N} literals it
 * announces and the lines that follow them. Classification by first octet:
 *   - the very first logical line is the greeting: a complete response;
 *   - '+' : a command continuation request. It is cut out of the buffer and
 *           reported to the caller (libetpan never sees it);
 *   - '*' : untagged data; it accumulates in the current group;
 *   - anything else: a tagged completion. It closes the group: everything
 *           buffered up to and including it becomes "ready" for the parser.
 * Limits: a physical line longer than max_line octets, a literal larger than
 * max_group, or a group larger than max_group is a protocol error. So is a
 * malformed PERMANENTFLAGS list, which crashes libetpan 1.9.4's parser.
 */
#ifndef POPGATE_IMAP_FRAME_H
#define POPGATE_IMAP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imap_frame_event {
	IMAP_FRAME_NONE,		/* need more input */
	IMAP_FRAME_GREETING,		/* greeting is ready for the parser */
	IMAP_FRAME_CONTINUATION,	/* a '+' line; see ev->text */
	IMAP_FRAME_TAGGED,		/* a group ending in a tagged line is ready */
	IMAP_FRAME_ERROR,		/* limit exceeded or bad syntax; ev->text says which */
};

struct imap_frame_ev {
	enum imap_frame_event	 type;
	/* CONTINUATION: the text after "+ " (or after "+"), without CRLF.
	 * TAGGED: the tag. ERROR: a static description.
	 * Borrowed: valid until the next call on the framer. */
	const char		*text;
	size_t			 text_len;
};

struct imap_frame {
	char		*data;		/* buffered server bytes */
	size_t		 len;		/* bytes in data */
	size_t		 cap;
	size_t		 rd;		/* parser read position, rd <= ready */
	size_t		 ready;		/* [rd, ready) belongs to complete responses */
	size_t		 group_start;	/* start of the group being accumulated */
	size_t		 line_start;	/* start of the logical line being scanned */
	size_t		 phys_start;	/* start of the physical line being scanned */
	size_t		 scan;		/* next byte to examine */
	uint64_t	 literal_left;	/* octets of literal still to skip */
	size_t		 max_line;	/* octets in one physical line, CRLF
					   included, literal octets excluded */
	size_t		 max_group;	/* octets in one response group */
	size_t		 peak;		/* largest len seen (for metrics/tests) */
	bool		 greeting_seen;
	bool		 failed;
};

/* Default limits: a line of 64 KiB, a group of 8 MiB. */
#define IMAP_FRAME_MAX_LINE_OCTETS	(64 * 1024)
#define IMAP_FRAME_MAX_GROUP_OCTETS	(8 * 1024 * 1024)

void	imap_frame_init(struct imap_frame *f, size_t max_line, size_t max_group);
void	imap_frame_deinit(struct imap_frame *f);
/* Copies len bytes from the server in. Returns 0, -ENOMEM, or -ENOBUFS when
 * the unconsumed data would exceed max_group plus max_line. */
int	imap_frame_append(struct imap_frame *f, const char *p, size_t len);
/* Room to read up to n bytes straight into the framer (no copy): returns
 * where to write and sets *room_out (1..n), or returns NULL when unread data
 * is at its limit or memory ran out. Then imap_frame_commit() what arrived. */
char	*imap_frame_reserve(struct imap_frame *f, size_t n, size_t *room_out);
void	 imap_frame_commit(struct imap_frame *f, size_t n);
/* Scans buffered input and returns the next event (NONE when more input is
 * needed). Call it until it returns NONE; after GREETING or TAGGED, let the
 * parser consume [rd, ready) through imap_frame_read() before calling again,
 * or at least before compacting. After ERROR the framer stays failed. */
void	imap_frame_next(struct imap_frame *f, struct imap_frame_ev *ev);
/* Copies up to n ready bytes for the parser. Returns the count (0 if none). */
size_t	imap_frame_read(struct imap_frame *f, void *dst, size_t n);
/* Bytes ready but not yet read by the parser. */
size_t	imap_frame_ready_unread(const struct imap_frame *f);
/* Bytes buffered beyond the ready region (not yet framed into a complete
 * response). Used after STARTTLS: must be 0, or the server injected data. */
size_t	imap_frame_pending(const struct imap_frame *f);
/* Drops bytes already read by the parser, moving the rest to the front. */
void	imap_frame_compact(struct imap_frame *f);
/* Discards everything (used after STARTTLS). */
void	imap_frame_reset(struct imap_frame *f);

#endif
