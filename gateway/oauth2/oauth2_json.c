/* SPDX-License-Identifier: MIT */
/*
 * oauth2_json.c - token and device answers through jansson, with every
 * field checked for type and size before it is copied into the caller's
 * fixed buffers; form encoding; log escaping; token fingerprints.
 */
#include "oauth2_json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

/* Results of oauth2_json_string(). */
#define OAUTH2_FIELD_OK		0
#define OAUTH2_FIELD_ABSENT	1
#define OAUTH2_FIELD_BAD	(-1)

static void
oauth2_why(char *why, size_t whylen, const char *text)
{
	if (whylen > 0)
		snprintf(why, whylen, "%s", text);
}

/*
 * Copies the string member key of o into dst (size dstsize, NUL added).
 * A member that is not a string, or is longer than dstsize - 1 when cut
 * is false, is BAD; jansson refuses "\u0000" by default, so no value
 * carries a NUL.
 */
static int
oauth2_json_string(json_t *o, const char *key, char *dst, size_t dstsize,
    bool cut, size_t *lenp)
{
	json_t	*v = json_object_get(o, key);
	size_t	 n;

	dst[0] = '\0';
	if (lenp != NULL)
		*lenp = 0;
	if (v == NULL || json_is_null(v))
		return OAUTH2_FIELD_ABSENT;
	if (!json_is_string(v))
		return OAUTH2_FIELD_BAD;
	n = json_string_length(v);
	if (n >= dstsize) {
		if (!cut)
			return OAUTH2_FIELD_BAD;
		n = dstsize - 1;
	}
	memcpy(dst, json_string_value(v), n);
	dst[n] = '\0';
	if (lenp != NULL)
		*lenp = n;
	return OAUTH2_FIELD_OK;
}

/* A lifetime or interval: a JSON integer or a string of 1-10 digits
 * (Microsoft's v1 endpoint sends "3599"). */
static int
oauth2_json_seconds(json_t *o, const char *key, long *out)
{
	json_t		*v = json_object_get(o, key);
	const char	*s;
	json_int_t	 i;
	size_t		 n, k;

	if (v == NULL || json_is_null(v))
		return OAUTH2_FIELD_ABSENT;
	if (json_is_integer(v)) {
		i = json_integer_value(v);
		if (i < 0)
			return OAUTH2_FIELD_BAD;
		*out = i > OAUTH2_MAX_EXPIRES_IN ? OAUTH2_MAX_EXPIRES_IN :
		    (long)i;
		return OAUTH2_FIELD_OK;
	}
	if (!json_is_string(v))
		return OAUTH2_FIELD_BAD;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > 10)
		return OAUTH2_FIELD_BAD;
	for (k = 0; k < n; k++)
		if (s[k] < '0' || s[k] > '9')
			return OAUTH2_FIELD_BAD;
	i = strtoll(s, NULL, 10);
	*out = i > OAUTH2_MAX_EXPIRES_IN ? OAUTH2_MAX_EXPIRES_IN : (long)i;
	return OAUTH2_FIELD_OK;
}

static bool
oauth2_printable(const char *p, bool space)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p < (space ? 0x20 : 0x21) ||
		    (unsigned char)*p > 0x7e)
			return false;
	return true;
}

bool
oauth2_token_ok(const char *p, size_t n)
{
	size_t	i;

	if (n == 0 || n > OAUTH2_MAX_TOKEN)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
			return false;
	return true;
}

/* The top-level object of body, or NULL with why set. */
static json_t *
oauth2_json_load(const char *body, size_t len, char *why, size_t whylen)
{
	json_error_t	 jerr;
	json_t		*o;

	if (body == NULL || len == 0) {
		oauth2_why(why, whylen, "empty body");
		return NULL;
	}
	if (len > OAUTH2_MAX_RESPONSE) {
		oauth2_why(why, whylen, "body too large");
		return NULL;
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL) {
		/* jerr.text may quote the input: give the position only. */
		if (whylen > 0)
			snprintf(why, whylen, "not JSON (line %d column %d)",
			    jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		oauth2_why(why, whylen, "not a JSON object");
		return NULL;
	}
	return o;
}

/* If o is an error object, fills err and returns true. BAD error members
 * make it INVALID (*bad set). */
static bool
oauth2_json_error(json_t *o, struct oauth2_error_response *err, bool *bad)
{
	int	r;

	*bad = false;
	memset(err, 0, sizeof(*err));
	r = oauth2_json_string(o, "error", err->error, sizeof(err->error),
	    false, NULL);
	if (r == OAUTH2_FIELD_ABSENT)
		return false;
	if (r != OAUTH2_FIELD_OK || err->error[0] == '\0' ||
	    !oauth2_printable(err->error, false)) {
		*bad = true;
		err->error[0] = '\0';
		return true;
	}
	if (oauth2_json_string(o, "error_description", err->description,
	    sizeof(err->description), true, NULL) == OAUTH2_FIELD_BAD)
		err->description[0] = '\0';
	return true;
}

/*
 * An answer's JSON object, or NULL with *res set: INVALID (why says how)
 * or ERROR (err filled in, RFC 6749 sec. 5.2).
 */
static json_t *
oauth2_json_begin(const char *body, size_t len,
    struct oauth2_error_response *err, enum oauth2_json_result *res,
    char *why, size_t whylen)
{
	json_t	*o;
	bool	 bad;

	*res = OAUTH2_JSON_INVALID;
	oauth2_why(why, whylen, "");
	if ((o = oauth2_json_load(body, len, why, whylen)) == NULL) {
		memset(err, 0, sizeof(*err));
		return NULL;
	}
	if (!oauth2_json_error(o, err, &bad))
		return o;
	if (bad)
		oauth2_why(why, whylen, "malformed \"error\"");
	else
		*res = OAUTH2_JSON_ERROR;
	json_decref(o);
	return NULL;
}

enum oauth2_json_result
oauth2_json_token(const char *body, size_t len,
    struct oauth2_token_response *tok, struct oauth2_error_response *err,
    char *why, size_t whylen)
{
	enum oauth2_json_result	 res = OAUTH2_JSON_INVALID;
	char			 type[16];
	json_t			*o;
	int			 r;

	/* Whatever an earlier answer left here goes first. */
	oauth2_json_wipe(tok, sizeof(*tok));
	if ((o = oauth2_json_begin(body, len, err, &res, why, whylen)) == NULL)
		return res;
	if (oauth2_json_string(o, "access_token", tok->access_token,
	    sizeof(tok->access_token), false, &tok->access_token_len) !=
	    OAUTH2_FIELD_OK ||
	    !oauth2_token_ok(tok->access_token, tok->access_token_len)) {
		oauth2_why(why, whylen, "no valid \"access_token\"");
		goto done;
	}
	if (oauth2_json_string(o, "token_type", type, sizeof(type), false,
	    NULL) != OAUTH2_FIELD_OK || strcasecmp(type, "bearer") != 0) {
		oauth2_why(why, whylen, "\"token_type\" is not Bearer");
		goto done;
	}
	r = oauth2_json_seconds(o, "expires_in", &tok->expires_in);
	if (r == OAUTH2_FIELD_ABSENT)
		tok->expires_in = OAUTH2_DEFAULT_EXPIRES_IN;
	else if (r != OAUTH2_FIELD_OK || tok->expires_in < 1) {
		oauth2_why(why, whylen, "bad \"expires_in\"");
		goto done;
	}
	r = oauth2_json_string(o, "refresh_token", tok->refresh_token,
	    sizeof(tok->refresh_token), false, &tok->refresh_token_len);
	if (r == OAUTH2_FIELD_BAD || (r == OAUTH2_FIELD_OK &&
	    !oauth2_token_ok(tok->refresh_token, tok->refresh_token_len))) {
		oauth2_why(why, whylen, "bad \"refresh_token\"");
		goto done;
	}
	if (oauth2_json_string(o, "scope", tok->scope, sizeof(tok->scope),
	    true, NULL) == OAUTH2_FIELD_BAD || !oauth2_printable(tok->scope,
	    true))
		tok->scope[0] = '\0';
	res = OAUTH2_JSON_TOKEN;
done:
	json_decref(o);
	if (res != OAUTH2_JSON_TOKEN)
		oauth2_json_wipe(tok, sizeof(*tok));
	return res;
}

enum oauth2_json_result
oauth2_json_device(const char *body, size_t len,
    struct oauth2_device_response *dev, struct oauth2_error_response *err,
    char *why, size_t whylen)
{
	enum oauth2_json_result	 res = OAUTH2_JSON_INVALID;
	json_t			*o;
	size_t			 n;
	int			 r;

	memset(dev, 0, sizeof(*dev));
	if ((o = oauth2_json_begin(body, len, err, &res, why, whylen)) == NULL)
		return res;
	if (oauth2_json_string(o, "device_code", dev->device_code,
	    sizeof(dev->device_code), false, &n) != OAUTH2_FIELD_OK ||
	    !oauth2_token_ok(dev->device_code, n)) {
		oauth2_why(why, whylen, "no valid \"device_code\"");
		goto done;
	}
	if (oauth2_json_string(o, "user_code", dev->user_code,
	    sizeof(dev->user_code), false, NULL) != OAUTH2_FIELD_OK ||
	    dev->user_code[0] == '\0' ||
	    !oauth2_printable(dev->user_code, true)) {
		oauth2_why(why, whylen, "no valid \"user_code\"");
		goto done;
	}
	r = oauth2_json_string(o, "verification_uri", dev->verification_uri,
	    sizeof(dev->verification_uri), false, NULL);
	if (r == OAUTH2_FIELD_ABSENT)
		r = oauth2_json_string(o, "verification_url",
		    dev->verification_uri, sizeof(dev->verification_uri),
		    false, NULL);
	if (r != OAUTH2_FIELD_OK || dev->verification_uri[0] == '\0' ||
	    !oauth2_printable(dev->verification_uri, false)) {
		oauth2_why(why, whylen, "no valid \"verification_uri\"");
		goto done;
	}
	if (oauth2_json_string(o, "verification_uri_complete",
	    dev->verification_uri_complete,
	    sizeof(dev->verification_uri_complete), false, NULL) ==
	    OAUTH2_FIELD_BAD ||
	    !oauth2_printable(dev->verification_uri_complete, false))
		dev->verification_uri_complete[0] = '\0';
	r = oauth2_json_seconds(o, "expires_in", &dev->expires_in);
	if (r == OAUTH2_FIELD_ABSENT)
		dev->expires_in = OAUTH2_DEFAULT_DEVICE_EXPIRES_IN;
	else if (r != OAUTH2_FIELD_OK || dev->expires_in < 1) {
		oauth2_why(why, whylen, "bad \"expires_in\"");
		goto done;
	}
	r = oauth2_json_seconds(o, "interval", &dev->interval);
	if (r == OAUTH2_FIELD_ABSENT)
		dev->interval = OAUTH2_DEFAULT_INTERVAL;
	else if (r != OAUTH2_FIELD_OK) {
		oauth2_why(why, whylen, "bad \"interval\"");
		goto done;
	}
	if (dev->interval < 1)
		dev->interval = 1;
	if (dev->interval > OAUTH2_MAX_INTERVAL)
		dev->interval = OAUTH2_MAX_INTERVAL;
	res = OAUTH2_JSON_TOKEN;
done:
	json_decref(o);
	if (res != OAUTH2_JSON_TOKEN)
		oauth2_json_wipe(dev, sizeof(*dev));
	return res;
}

void
oauth2_json_wipe(void *p, size_t n)
{
	/* explicit_bzero is not optimised away like a memset before free. */
	explicit_bzero(p, n);
}

/* RFC 3986 unreserved characters. */
static bool
oauth2_unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
	    ch == '~';
}

size_t
oauth2_form_encode(char *dst, size_t dstlen, const char *src, size_t n)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 i, need = 0, put = 0;

	for (i = 0; i < n; i++) {
		unsigned char	ch = (unsigned char)src[i];
		size_t		w = oauth2_unreserved(ch) ? 1 : 3;

		/* Once something does not fit, nothing more is written:
		 * never half an escape, never a gap. */
		if (put == need && need + w < dstlen) {
			if (w == 1)
				dst[put++] = (char)ch;
			else {
				dst[put++] = '%';
				dst[put++] = hex[ch >> 4];
				dst[put++] = hex[ch & 0x0f];
			}
		}
		need += w;
	}
	if (dstlen > 0)
		dst[put] = '\0';
	return need;
}

void
oauth2_form_init(struct oauth2_form *f)
{
	memset(f, 0, sizeof(*f));
}

/* Room for extra more octets plus a NUL. */
static bool
oauth2_form_reserve(struct oauth2_form *f, size_t extra)
{
	size_t	 cap;
	char	*p;

	if (f->failed)
		return false;
	if (f->len + extra + 1 <= f->cap)
		return true;
	cap = f->cap == 0 ? 256 : f->cap;
	while (cap < f->len + extra + 1)
		cap *= 2;
	/* Not realloc: the old copy holds secrets and must be wiped. */
	if ((p = malloc(cap)) == NULL) {
		f->failed = true;
		return false;
	}
	if (f->buf != NULL) {
		memcpy(p, f->buf, f->len);
		oauth2_json_wipe(f->buf, f->cap);
		free(f->buf);
	}
	f->buf = p;
	f->cap = cap;
	return true;
}

static void
oauth2_form_append(struct oauth2_form *f, const char *s)
{
	size_t	n = strlen(s), need = oauth2_form_encode(NULL, 0, s, n);

	if (!oauth2_form_reserve(f, need))
		return;
	oauth2_form_encode(f->buf + f->len, f->cap - f->len, s, n);
	f->len += need;
}

void
oauth2_form_add(struct oauth2_form *f, const char *name, const char *value)
{
	if (f->len > 0) {
		if (!oauth2_form_reserve(f, 1))
			return;
		f->buf[f->len++] = '&';
		f->buf[f->len] = '\0';
	}
	oauth2_form_append(f, name);
	if (!oauth2_form_reserve(f, 1))
		return;
	f->buf[f->len++] = '=';
	f->buf[f->len] = '\0';
	oauth2_form_append(f, value);
}

const char *
oauth2_form_body(const struct oauth2_form *f)
{
	if (f->failed)
		return NULL;
	return f->buf != NULL ? f->buf : "";
}

void
oauth2_form_free(struct oauth2_form *f)
{
	if (f->buf != NULL) {
		oauth2_json_wipe(f->buf, f->cap);
		free(f->buf);
	}
	memset(f, 0, sizeof(*f));
}

/* Octets that oauth2_escape() writes for ch. */
static size_t
oauth2_escape_width(unsigned char ch)
{
	return (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? 1 : 4;
}

char *
oauth2_escape(char *dst, size_t dstlen, const char *src, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, o = 0, total = 0, room;

	if (dstlen == 0)
		return dst;
	for (i = 0; i < n; i++)
		total += oauth2_escape_width((unsigned char)src[i]);
	room = dstlen - 1;
	if (total > room)	/* cut: leave room for "..." */
		room = room >= 3 ? room - 3 : 0;
	for (i = 0; i < n; i++) {
		unsigned char	ch = (unsigned char)src[i];

		if (o + oauth2_escape_width(ch) > room)
			break;
		if (oauth2_escape_width(ch) == 1)
			dst[o++] = (char)ch;
		else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 0x0f];
		}
	}
	if (total > dstlen - 1 && dstlen - 1 >= 3) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

void
oauth2_fingerprint(const char *p, size_t n, char out[9])
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		md[EVP_MAX_MD_SIZE];
	unsigned int		mdlen = 0, i;

	if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < 4) {
		memcpy(out, "????????", 9);
		return;
	}
	for (i = 0; i < 4; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[8] = '\0';
	explicit_bzero(md, sizeof(md));
}
