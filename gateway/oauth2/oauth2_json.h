/* SPDX-License-Identifier: MIT */
/*
 * oauth2_json.h - the wire side of OAuth2, without I/O: token endpoint
 * answers (RFC 6749 sec. 5.1 and 5.2), device authorization answers (RFC
 * 8628 sec. 3.2), form-urlencoded request bodies, and the few text helpers
 * that keep tokens out of logs. Every string is bounded; nothing here
 * keeps state between calls.
 */
#ifndef POPGATE_OAUTH2_JSON_H
#define POPGATE_OAUTH2_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Longest access token, refresh token or device code accepted. */
#define OAUTH2_MAX_TOKEN		16384
/* Longest "error" code kept; a longer one makes the answer invalid. */
#define OAUTH2_MAX_ERROR		64
/* "error_description" and "scope" are informational: cut, not refused. */
#define OAUTH2_MAX_DESCRIPTION		256
#define OAUTH2_MAX_SCOPE		1024
/* Device flow: what the user is shown. */
#define OAUTH2_MAX_USER_CODE		64
#define OAUTH2_MAX_URI			1024
/* Lifetime when "expires_in" is absent (RFC 6749 leaves it open; both
 * Microsoft and Google issue one-hour tokens). */
#define OAUTH2_DEFAULT_EXPIRES_IN	3600
/* Lifetimes above this are taken as this (no arithmetic overflows). */
#define OAUTH2_MAX_EXPIRES_IN		(366L * 24 * 3600)
/* RFC 8628 sec. 3.2: "If no value is provided, clients MUST use 5". */
#define OAUTH2_DEFAULT_INTERVAL		5
#define OAUTH2_MAX_INTERVAL		300
/* Device code lifetime when the server gives none. */
#define OAUTH2_DEFAULT_DEVICE_EXPIRES_IN 900
/* Largest token endpoint answer parsed (as http_client caps bodies). */
#define OAUTH2_MAX_RESPONSE		(64 * 1024)

enum oauth2_json_result {
	OAUTH2_JSON_TOKEN,	/* a usable answer: token or device codes */
	OAUTH2_JSON_ERROR,	/* an RFC 6749 sec. 5.2 error object */
	OAUTH2_JSON_INVALID,	/* neither; why says what is wrong */
};

/* A successful token answer. Holds secrets: clear it with
 * oauth2_json_wipe() when done. */
struct oauth2_token_response {
	char	access_token[OAUTH2_MAX_TOKEN + 1];
	size_t	access_token_len;
	char	refresh_token[OAUTH2_MAX_TOKEN + 1];
	size_t	refresh_token_len;	/* 0: none issued */
	char	scope[OAUTH2_MAX_SCOPE + 1];	/* "" if absent */
	long	expires_in;		/* seconds, >= 1 */
};

/* An error answer. error is a printable ASCII code ("invalid_grant"),
 * description may hold anything but NUL: escape it before logging. */
struct oauth2_error_response {
	char	error[OAUTH2_MAX_ERROR + 1];
	char	description[OAUTH2_MAX_DESCRIPTION + 1];
};

/* RFC 8628 device authorization answer. device_code is a secret. */
struct oauth2_device_response {
	char	device_code[OAUTH2_MAX_TOKEN + 1];
	char	user_code[OAUTH2_MAX_USER_CODE + 1];
	char	verification_uri[OAUTH2_MAX_URI + 1];
	char	verification_uri_complete[OAUTH2_MAX_URI + 1];	/* "" if none */
	long	expires_in;
	long	interval;		/* 1 .. OAUTH2_MAX_INTERVAL */
};

/*
 * Parses a token endpoint answer body (any octets, len of them). TOKEN
 * fills tok: access_token non-empty, token_type Bearer (any case),
 * expires_in an integer or a string of digits (absent: 3600). ERROR fills
 * err. INVALID writes a short reason, never quoting the body, to why.
 * Tokens must be visible ASCII (0x21-0x7e) and at most OAUTH2_MAX_TOKEN
 * octets. An object with "error" is an error whatever else it holds.
 */
enum oauth2_json_result oauth2_json_token(const char *body, size_t len,
		    struct oauth2_token_response *tok,
		    struct oauth2_error_response *err, char *why,
		    size_t whylen);
/* The same for a device authorization answer. verification_url (Google's
 * spelling) stands in for verification_uri; interval defaults to 5. */
enum oauth2_json_result oauth2_json_device(const char *body, size_t len,
		    struct oauth2_device_response *dev,
		    struct oauth2_error_response *err, char *why,
		    size_t whylen);
/* Overwrites n octets so that no secret stays in freed memory. */
void		oauth2_json_wipe(void *p, size_t n);

/* True if the n octets at p are a token as accepted above. */
bool		oauth2_token_ok(const char *p, size_t n);

/*
 * Percent-encodes n octets of src (application/x-www-form-urlencoded as
 * RFC 6749 appendix B asks: all but ALPHA DIGIT "-" "." "_" "~" become
 * %XX). Writes at most dstlen - 1 octets and a NUL; returns the length the
 * whole encoding needs (as snprintf), so a return >= dstlen means cut.
 */
size_t		oauth2_form_encode(char *dst, size_t dstlen, const char *src,
		    size_t n);

/* A request body being built: name=value pairs joined by '&'. */
struct oauth2_form {
	char	*buf;
	size_t	 len;
	size_t	 cap;
	bool	 failed;	/* out of memory: body() returns NULL */
};

void		oauth2_form_init(struct oauth2_form *f);
/* Appends name=value (both encoded). */
void		oauth2_form_add(struct oauth2_form *f, const char *name,
		    const char *value);
/* The NUL-terminated body, or NULL if an add failed. */
const char	*oauth2_form_body(const struct oauth2_form *f);
/* Wipes (the body holds secrets) and frees. */
void		oauth2_form_free(struct oauth2_form *f);

/*
 * Copies n octets of src into dst as one log value to be put between
 * double quotes: printable ASCII stays, '"' and '\' and everything else
 * become \xHH, and past dstlen the text is cut with "...". Always
 * NUL-terminates (dstlen >= 4). Returns dst.
 */
char		*oauth2_escape(char *dst, size_t dstlen, const char *src,
		    size_t n);

/* First 8 hex digits of SHA-256 of the n octets at p: names a token in a
 * log line or a test without revealing it. out gets 9 octets. */
void		oauth2_fingerprint(const char *p, size_t n, char out[9]);

#endif
