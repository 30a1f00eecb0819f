/* SPDX-License-Identifier: MIT */
/*
 * http_request.c - HTTP/1.x request head parser. Pure: no I/O.
 * One pass over the octets with a small state machine; every call starts
 * from the first octet, so the caller only keeps the bytes.
 */
#include "http_request.h"

#include <string.h>

/* The version the request line must end with, bar its last digit. */
#define HTTP_VERSION_PREFIX	"HTTP/1."
#define HTTP_VERSION_PREFIX_LEN	(sizeof(HTTP_VERSION_PREFIX) - 1)
/* Digits of the largest Content-Length we take: below 10^19 < 2^64. */
#define HTTP_MAX_LENGTH_DIGITS	19

enum http_state {
	HTTP_ST_METHOD,
	HTTP_ST_TARGET,
	HTTP_ST_VERSION,	/* "HTTP/1.x", then CR */
	HTTP_ST_LINE_LF,
	HTTP_ST_FIELD_START,
	HTTP_ST_FIELD_NAME,
	HTTP_ST_FIELD_VALUE,
	HTTP_ST_FIELD_LF,
	HTTP_ST_HEAD_LF,
};

/* Scanner state that outlives one octet. */
struct http_scan {
	struct http_request	 r;
	enum http_state		 state;
	size_t			 version_pos;	/* octets of the version seen */
	size_t			 name_off;	/* current field's name */
	size_t			 name_len;
	size_t			 value_off;	/* its value, after the colon */
	unsigned int		 nhost;
};

/* RFC 9110 sec. 5.6.2: tchar. */
static bool
http_is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 sec. 5.5: field-vchar, SP, HTAB. */
static bool
http_is_value_octet(unsigned char c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

bool
http_token_equal(const unsigned char *data, size_t len, const char *lower)
{
	size_t		i;
	unsigned char	c;

	if (strlen(lower) != len)
		return false;
	for (i = 0; i < len; i++) {
		c = data[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)lower[i])
			return false;
	}
	return true;
}

/* Content-Length = 1*DIGIT (a list, even of equal values, is refused). */
static bool
http_parse_length(const unsigned char *p, size_t n, uint64_t *value)
{
	uint64_t	v = 0;
	size_t		i;

	if (n == 0 || n > HTTP_MAX_LENGTH_DIGITS)
		return false;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*value = v;
	return true;
}

/* A complete field line: the value is data[value_off..end), OWS around
 * it dropped. Returns NULL or why it is refused. */
static const char *
http_field_done(struct http_scan *s, const unsigned char *data, size_t end)
{
	const unsigned char	*name = data + s->name_off;
	size_t			 off = s->value_off;
	uint64_t		 v;

	while (off < end && (data[off] == ' ' || data[off] == '\t'))
		off++;
	while (end > off && (data[end - 1] == ' ' || data[end - 1] == '\t'))
		end--;
	if (http_token_equal(name, s->name_len, "host")) {
		s->nhost++;
	} else if (http_token_equal(name, s->name_len, "content-length")) {
		if (!http_parse_length(data + off, end - off, &v))
			return "bad Content-Length";
		if (s->r.has_content_length && s->r.content_length != v)
			return "conflicting Content-Length";
		s->r.has_content_length = true;
		s->r.content_length = v;
	} else if (http_token_equal(name, s->name_len, "transfer-encoding")) {
		s->r.has_transfer_encoding = true;
	}
	return NULL;
}

/* The empty line arrived: checks that need the whole head. */
static const char *
http_head_done(const struct http_scan *s)
{
	if (s->r.version_minor == 1 && s->nhost != 1)
		return s->nhost == 0 ? "no Host field" : "more than one Host";
	if (s->nhost > 1)
		return "more than one Host";
	if (s->r.has_transfer_encoding && s->r.version_minor == 0)
		return "Transfer-Encoding in HTTP/1.0";
	if (s->r.has_transfer_encoding && s->r.has_content_length)
		return "Transfer-Encoding with Content-Length";
	return NULL;
}

/*
 * Feeds octet i. Returns NULL to go on, or an error reason. Sets *done
 * when the head is complete. Long: one switch over the scanner's states,
 * each case a few lines; split up, the states would be read out of order.
 */
static const char *
http_step(struct http_scan *s, const unsigned char *data, size_t i,
    bool *done, enum http_request_result *err)
{
	unsigned char	c = data[i];
	const char	*why;

	*err = HTTP_REQUEST_BAD;
	switch (s->state) {
	case HTTP_ST_METHOD:
		if (http_is_tchar(c))
			return NULL;
		if (c != ' ' || i == 0)
			return "bad method";
		s->r.method_len = i;
		s->r.target_off = i + 1;
		s->state = HTTP_ST_TARGET;
		return NULL;
	case HTTP_ST_TARGET:
		if (c >= 0x21 && c <= 0x7e)
			return NULL;
		if (c != ' ' || i == s->r.target_off)
			return "bad request target";
		s->r.target_len = i - s->r.target_off;
		s->state = HTTP_ST_VERSION;
		return NULL;
	case HTTP_ST_VERSION:
		if (s->version_pos < HTTP_VERSION_PREFIX_LEN) {
			if (c != (unsigned char)HTTP_VERSION_PREFIX[
			    s->version_pos])
				return "bad version";
		} else if (s->version_pos == HTTP_VERSION_PREFIX_LEN) {
			if (c != '0' && c != '1')
				return "bad version";
			s->r.version_minor = (unsigned int)(c - '0');
		} else {
			if (c != '\r')
				return "bad request line end";
			s->state = HTTP_ST_LINE_LF;
		}
		s->version_pos++;
		return NULL;
	case HTTP_ST_LINE_LF:
	case HTTP_ST_FIELD_LF:
	case HTTP_ST_HEAD_LF:
		if (c != '\n')
			return "CR without LF";
		if (s->state == HTTP_ST_FIELD_LF) {
			/* The value ended at the CR before this LF. */
			if ((why = http_field_done(s, data, i - 1)) != NULL)
				return why;
		} else if (s->state == HTTP_ST_HEAD_LF) {
			if ((why = http_head_done(s)) != NULL)
				return why;
			s->r.head_octets = i + 1;
			*done = true;
			return NULL;
		}
		s->state = HTTP_ST_FIELD_START;
		return NULL;
	case HTTP_ST_FIELD_START:
		if (c == '\r') {
			s->state = HTTP_ST_HEAD_LF;
			return NULL;
		}
		if (c == ' ' || c == '\t')
			return "obsolete line folding";
		if (!http_is_tchar(c))
			return "bad field name";
		if (s->r.nfields == HTTP_REQUEST_MAX_FIELDS) {
			*err = HTTP_REQUEST_FIELDS_TOO_LARGE;
			return "too many fields";
		}
		s->r.nfields++;
		s->name_off = i;
		s->state = HTTP_ST_FIELD_NAME;
		return NULL;
	case HTTP_ST_FIELD_NAME:
		if (http_is_tchar(c))
			return NULL;
		if (c != ':')
			return "bad field name";
		s->name_len = i - s->name_off;
		s->value_off = i + 1;
		s->state = HTTP_ST_FIELD_VALUE;
		return NULL;
	case HTTP_ST_FIELD_VALUE:
		if (http_is_value_octet(c))
			return NULL;
		if (c != '\r')
			return "bad field value";
		s->state = HTTP_ST_FIELD_LF;
		return NULL;
	}
	return "bad state";
}

enum http_request_result
http_request_parse(const unsigned char *data, size_t len,
    struct http_request *req, const char **why)
{
	struct http_scan		 s;
	enum http_request_result	 err;
	const char			*reason;
	size_t				 i, lim;
	bool				 done = false;

	memset(req, 0, sizeof(*req));
	if (why != NULL)
		*why = NULL;
	memset(&s, 0, sizeof(s));
	s.state = HTTP_ST_METHOD;
	lim = len < HTTP_REQUEST_MAX_OCTETS ? len : HTTP_REQUEST_MAX_OCTETS;
	for (i = 0; i < lim; i++) {
		reason = http_step(&s, data, i, &done, &err);
		if (reason != NULL) {
			if (why != NULL)
				*why = reason;
			return err;
		}
		if (done) {
			*req = s.r;
			return HTTP_REQUEST_DONE;
		}
	}
	if (lim < HTTP_REQUEST_MAX_OCTETS)
		return HTTP_REQUEST_NEED_MORE;
	/* No field started: the request line is what left no room. */
	if (s.state <= HTTP_ST_LINE_LF || s.r.nfields == 0) {
		if (why != NULL)
			*why = "request line too long";
		return HTTP_REQUEST_BAD;
	}
	if (why != NULL)
		*why = "header fields too large";
	return HTTP_REQUEST_FIELDS_TOO_LARGE;
}
