/* SPDX-License-Identifier: MIT */
/*
 * imap_fetch_line.h - the one FETCH response line that lets a body literal
 * be passed on as it is parsed. Pure: no I/O, no allocation.
 *
 * Body data may count for a message only once its UID is known (RFC 3501
 * sec. 7.4.2 fixes no order of the items, so the UID may follow the
 * literal). When the line that opens the literal reads exactly
 *
 *	* <seq> FETCH (UID <uid> BODY[]<origin> {<octets>}CRLF
 *
 * (the "<origin>" part optional), the UID came first, in this response,
 * and the literal is the whole-message section asked for: the parser has
 * accepted the line, so "* ... FETCH (" can only be the start of a new
 * response. Any other spelling takes the slow path (the literal is kept
 * until the whole response is parsed).
 */
#ifndef POPGATE_IMAP_FETCH_LINE_H
#define POPGATE_IMAP_FETCH_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* text[0..end) ends with the line that opens a literal (its CRLF
 * included). true, with *uid and *origin (0 when absent), if that line is
 * the form above; false otherwise. */
bool	imap_fetch_line_uid(const char *text, size_t end, uint32_t *uid,
	    uint32_t *origin);

#endif
