/* SPDX-License-Identifier: MIT */
/*
 * http_request.h - the head of an HTTP/1.0 or HTTP/1.1 request (RFC 9112
 * sec. 2-6): request line, header fields, empty line. Pure: looks at the
 * octets received so far and says whether they hold a complete, valid
 * head, need more, or are not one. No I/O, no allocation. Written for the
 * metrics endpoint, so it is strict rather than lenient.
 *
 * Strictness. The request line is method SP request-target SP version
 * CRLF with single spaces: the method is a token, the target one or more
 * visible ASCII octets (0x21-0x7e), the version exactly "HTTP/1.0" or
 * "HTTP/1.1". No empty lines before it. A field line is a token, ':', then
 * a value of SP, HTAB, visible ASCII and obs-text (0x80-0xff); no space
 * before the colon, no obs-fold (a line starting with SP or HTAB). Every
 * line ends in CRLF: a bare LF, or a CR not followed by LF, is an error,
 * and so is NUL or any other control octet. At the end of the head:
 * HTTP/1.1 needs exactly one Host field, HTTP/1.0 at most one;
 * Content-Length must be digits only, repeated only with the same value;
 * Transfer-Encoding is refused in HTTP/1.0 and together with
 * Content-Length.
 *
 * Early answers. A wrong octet is an error as soon as it arrives. As the
 * input grows the answer goes NEED_MORE ... NEED_MORE, then stays the same
 * error, or stays DONE with the same result; DONE first comes when len
 * reaches head_octets. NEED_MORE only while len < HTTP_REQUEST_MAX_OCTETS.
 */
#ifndef POPGATE_HTTP_REQUEST_H
#define POPGATE_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest head accepted, request line and final CRLF included. */
#define HTTP_REQUEST_MAX_OCTETS	8192
/* Most header fields accepted in one head. */
#define HTTP_REQUEST_MAX_FIELDS	64

enum http_request_result {
	HTTP_REQUEST_NEED_MORE = 0,
	HTTP_REQUEST_DONE = 1,
	/* Malformed, or a request line that leaves no room within
	 * HTTP_REQUEST_MAX_OCTETS for a field or the end of the head:
	 * answer 400. */
	HTTP_REQUEST_BAD = -1,
	/* The request line was fine but its fields pass
	 * HTTP_REQUEST_MAX_OCTETS or HTTP_REQUEST_MAX_FIELDS: answer 431. */
	HTTP_REQUEST_FIELDS_TOO_LARGE = -2,
};

/* Offsets and lengths index the data given to http_request_parse(). */
struct http_request {
	size_t		method_len;		/* the method starts at 0 */
	size_t		target_off;
	size_t		target_len;
	unsigned int	version_minor;		/* 0 or 1: HTTP/1.x */
	unsigned int	nfields;
	bool		has_content_length;
	uint64_t	content_length;		/* when has_content_length */
	bool		has_transfer_encoding;
	/* Octets of the whole head, final CRLF included; a body or the next
	 * request follows. */
	size_t		head_octets;
};

/*
 * Looks at the first len octets of a connection (data may be NULL when len
 * is 0). Returns:
 * - HTTP_REQUEST_NEED_MORE: no verdict yet; call again with more.
 * - HTTP_REQUEST_DONE: *req is filled; req->head_octets <= len and
 *   <= HTTP_REQUEST_MAX_OCTETS.
 * - HTTP_REQUEST_BAD or HTTP_REQUEST_FIELDS_TOO_LARGE: *why is a short
 *   static reason.
 * *req is zeroed first whatever the result, and left so unless DONE. *why
 * is set to NULL unless the result is an error; why itself may be NULL.
 */
enum http_request_result http_request_parse(const unsigned char *data,
			    size_t len, struct http_request *req,
			    const char **why);

/* True if data[0..len) equals the lower-case ASCII word, ignoring case. */
bool	http_token_equal(const unsigned char *data, size_t len,
	    const char *lower);

#endif
