/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http_request.c - libFuzzer target for proto/http_request.c. The
 * input is what a client sends first. Oracles: no crash and no read past
 * len (ASan); the answer only ever goes NEED_MORE ... then stays one error
 * or stays DONE with the same result, first DONE exactly at head_octets
 * (checked at every prefix of short inputs, and by a binary search for
 * the first answer plus a sample of prefixes for long ones); NEED_MORE
 * only below HTTP_REQUEST_MAX_OCTETS; an error has a reason and a zeroed
 * request; and DONE agrees with a line-by-line reference check of the
 * grammar written independently here: the parser says DONE exactly when
 * the reference accepts a head ending at the first CRLF CRLF.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"
#include "fuzz_util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs up to this long are checked at every prefix. */
#define FUZZ_ALL_PREFIXES	256
#define FUZZ_SAMPLE_STRIDE	97

#define FUZZ_CHECK(cond)	do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_http_request: %s:%d: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

struct fuzz_answer {
	enum http_request_result	r;
	struct http_request		req;
};

static struct fuzz_answer
fuzz_parse(const uint8_t *data, size_t len)
{
	struct fuzz_answer	 a;
	const char		*why = "unset";

	a.r = http_request_parse(data, len, &a.req, &why);
	FUZZ_CHECK(a.r == HTTP_REQUEST_NEED_MORE || a.r == HTTP_REQUEST_DONE ||
	    a.r == HTTP_REQUEST_BAD || a.r == HTTP_REQUEST_FIELDS_TOO_LARGE);
	if (a.r == HTTP_REQUEST_DONE || a.r == HTTP_REQUEST_NEED_MORE)
		FUZZ_CHECK(why == NULL);
	else
		FUZZ_CHECK(why != NULL && why[0] != '\0');
	if (a.r != HTTP_REQUEST_DONE)
		FUZZ_CHECK(fuzz_zero(&a.req, sizeof(a.req)));
	if (a.r == HTTP_REQUEST_NEED_MORE)
		FUZZ_CHECK(len < HTTP_REQUEST_MAX_OCTETS);
	if (a.r == HTTP_REQUEST_DONE)
		FUZZ_CHECK(a.req.head_octets <= len &&
		    a.req.head_octets <= HTTP_REQUEST_MAX_OCTETS);
	return a;
}

/* Field by field: padding is not compared. */
static bool
fuzz_req_equal(const struct http_request *a, const struct http_request *b)
{
	return a->method_len == b->method_len &&
	    a->target_off == b->target_off && a->target_len == b->target_len &&
	    a->version_minor == b->version_minor && a->nfields == b->nfields &&
	    a->has_content_length == b->has_content_length &&
	    a->content_length == b->content_length &&
	    a->has_transfer_encoding == b->has_transfer_encoding &&
	    a->head_octets == b->head_octets;
}

static bool
fuzz_same(const struct fuzz_answer *a, const struct fuzz_answer *b)
{
	return a->r == b->r && fuzz_req_equal(&a->req, &b->req);
}

/* ---- the reference: one line at a time ---- */

static bool
ref_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

static bool
ref_name_is(const uint8_t *p, size_t n, const char *lower)
{
	size_t	i;

	if (n != strlen(lower))
		return false;
	for (i = 0; i < n; i++)
		if ((p[i] | 0x20) != (uint8_t)lower[i])
			return false;
	return true;
}

/* "METHOD SP TARGET SP HTTP/1.x" without its CRLF. */
static bool
ref_request_line(const uint8_t *p, size_t n, struct http_request *r)
{
	size_t	i = 0, t;

	while (i < n && ref_tchar(p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return false;
	r->method_len = i;
	t = ++i;
	while (i < n && p[i] >= 0x21 && p[i] <= 0x7e)
		i++;
	if (i == t || i >= n || p[i] != ' ')
		return false;
	r->target_off = t;
	r->target_len = i - t;
	i++;
	if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 ||
	    (p[i + 7] != '0' && p[i + 7] != '1'))
		return false;
	r->version_minor = (unsigned int)(p[i + 7] - '0');
	return true;
}

/* One field line without its CRLF. Returns false if malformed. */
static bool
ref_field(const uint8_t *p, size_t n, struct http_request *r,
    unsigned int *nhost, bool *bad_semantics)
{
	size_t		i = 0, v, e;
	uint64_t	len = 0;

	while (i < n && ref_tchar(p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ':')
		return false;
	for (v = i + 1; v < n; v++)
		if (!(p[v] == ' ' || p[v] == '\t' || (p[v] >= 0x21 &&
		    p[v] != 0x7f)))
			return false;
	if (ref_name_is(p, i, "host"))
		(*nhost)++;
	if (ref_name_is(p, i, "transfer-encoding"))
		r->has_transfer_encoding = true;
	if (!ref_name_is(p, i, "content-length"))
		return true;
	v = i + 1;
	e = n;
	while (v < e && (p[v] == ' ' || p[v] == '\t'))
		v++;
	while (e > v && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	if (e == v || e - v > 19) {
		*bad_semantics = true;
		return true;
	}
	for (; v < e; v++) {
		if (p[v] < '0' || p[v] > '9') {
			*bad_semantics = true;
			return true;
		}
		len = len * 10 + (uint64_t)(p[v] - '0');
	}
	if (r->has_content_length && r->content_length != len)
		*bad_semantics = true;
	r->has_content_length = true;
	r->content_length = len;
	return true;
}

/*
 * Whether data[0..size) starts with a valid head, judged line by line:
 * the head ends at the first CRLF CRLF, every line in it ends in CRLF
 * with no other CR or LF, and the limits hold. Fills *r when it does.
 */
static bool
ref_accepts(const uint8_t *data, size_t size, struct http_request *r)
{
	const uint8_t	*end = NULL, *p, *eol;
	size_t		 i, head;
	unsigned int	 nhost = 0;
	bool		 bad = false;

	memset(r, 0, sizeof(*r));
	for (i = 0; i + 4 <= size; i++)
		if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
			end = data + i;
			break;
		}
	if (end == NULL)
		return false;
	head = (size_t)(end - data) + 4;
	if (head > HTTP_REQUEST_MAX_OCTETS)
		return false;
	/* No CR or LF except as CRLF line ends. */
	for (i = 0; i < head; i++) {
		if (data[i] == '\r' && (i + 1 >= head || data[i + 1] != '\n'))
			return false;
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			return false;
	}
	eol = memchr(data, '\r', head);
	if (!ref_request_line(data, (size_t)(eol - data), r))
		return false;
	for (p = eol + 2; p < end + 2; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(data + head - p));
		if (++r->nfields > HTTP_REQUEST_MAX_FIELDS)
			return false;
		if (!ref_field(p, (size_t)(eol - p), r, &nhost, &bad))
			return false;
	}
	if (bad || nhost > 1 || (r->version_minor == 1 && nhost != 1))
		return false;
	if (r->has_transfer_encoding && (r->version_minor == 0 ||
	    r->has_content_length))
		return false;
	r->head_octets = head;
	return true;
}

/* ---- driver ---- */

static void
fuzz_check_prefix(const uint8_t *data, size_t len, size_t first,
    const struct fuzz_answer *final)
{
	struct fuzz_answer	a = fuzz_parse(data, len);

	if (len < first)
		FUZZ_CHECK(a.r == HTTP_REQUEST_NEED_MORE);
	else
		FUZZ_CHECK(fuzz_same(&a, final));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_answer	 final, a;
	struct http_request	 ref;
	size_t			 lo, hi, mid, first, len, last;
	bool			 accepted;

	final = fuzz_parse(data, size);
	accepted = ref_accepts(data, size, &ref);
	FUZZ_CHECK(accepted == (final.r == HTTP_REQUEST_DONE));
	if (accepted)
		FUZZ_CHECK(fuzz_req_equal(&ref, &final.req));

	/* The first prefix with an answer: all before need more, all from
	 * there on give the final answer. */
	last = size < HTTP_REQUEST_MAX_OCTETS ? size : HTTP_REQUEST_MAX_OCTETS;
	if (final.r == HTTP_REQUEST_NEED_MORE) {
		first = size + 1;
	} else {
		lo = 0;
		hi = last;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			a = fuzz_parse(data, mid);
			if (a.r == HTTP_REQUEST_NEED_MORE)
				lo = mid + 1;
			else
				hi = mid;
		}
		first = lo;
		a = fuzz_parse(data, first);
		FUZZ_CHECK(fuzz_same(&a, &final));
		if (final.r == HTTP_REQUEST_DONE)
			FUZZ_CHECK(first == final.req.head_octets);
		if (first > 0)
			fuzz_check_prefix(data, first - 1, first, &final);
	}
	for (len = 0; len <= last; len++) {
		if (size > FUZZ_ALL_PREFIXES && len > 64 &&
		    len % FUZZ_SAMPLE_STRIDE != 0 &&
		    (len + 2 < first || len > first + 2))
			continue;
		fuzz_check_prefix(data, len, first, &final);
	}
	return 0;
}
