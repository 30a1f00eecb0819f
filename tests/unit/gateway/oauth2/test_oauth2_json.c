/* SPDX-License-Identifier: MIT */
/*
 * test_oauth2_json.c - gateway/oauth2/oauth2_json.c: token answers
 * (types, defaults, bounds, duplicates, error objects), device authorization
 * answers (Google's verification_url, interval default and bounds), form
 * encoding, log escaping and fingerprints; and net/http_client.c's
 * URL rule (https anywhere, http only to loopback).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_client.h"
#include "oauth2_json.h"

static struct oauth2_token_response	tok;
static struct oauth2_device_response	dev;
static struct oauth2_error_response	err;
static char				why[128];

static enum oauth2_json_result
token(const char *json)
{
	return oauth2_json_token(json, strlen(json), &tok, &err, why,
	    sizeof(why));
}

static enum oauth2_json_result
device(const char *json)
{
	return oauth2_json_device(json, strlen(json), &dev, &err, why,
	    sizeof(why));
}

static void
test_token_ok(void **state)
{
	(void)state;
	assert_int_equal(token("{\"access_token\":\"at-1\",\"token_type\":"
	    "\"Bearer\",\"expires_in\":3599,\"refresh_token\":\"rt-2\","
	    "\"scope\":\"https://outlook.office.com/IMAP.AccessAsUser.All "
	    "offline_access\"}"), OAUTH2_JSON_TOKEN);
	assert_string_equal(tok.access_token, "at-1");
	assert_int_equal(tok.access_token_len, 4);
	assert_string_equal(tok.refresh_token, "rt-2");
	assert_int_equal(tok.refresh_token_len, 4);
	assert_int_equal(tok.expires_in, 3599);
	assert_string_equal(tok.scope, "https://outlook.office.com/"
	    "IMAP.AccessAsUser.All offline_access");
	/* No refresh token, no scope, no lifetime: defaults. */
	assert_int_equal(token("{\"access_token\":\"ya29.x\",\"token_type\":"
	    "\"bearer\"}"), OAUTH2_JSON_TOKEN);
	assert_int_equal(tok.refresh_token_len, 0);
	assert_string_equal(tok.refresh_token, "");
	assert_string_equal(tok.scope, "");
	assert_int_equal(tok.expires_in, OAUTH2_DEFAULT_EXPIRES_IN);
	/* Microsoft's v1 endpoint: lifetimes as strings. Whitespace around
	 * the object is fine. */
	assert_int_equal(token(" {\"access_token\":\"a\",\"token_type\":"
	    "\"BEARER\",\"expires_in\":\"3600\",\"ext_expires_in\":\"x\"}\n"),
	    OAUTH2_JSON_TOKEN);
	assert_int_equal(tok.expires_in, 3600);
	/* Null members count as absent. */
	assert_int_equal(token("{\"access_token\":\"a\",\"token_type\":"
	    "\"Bearer\",\"refresh_token\":null,\"expires_in\":null}"),
	    OAUTH2_JSON_TOKEN);
	assert_int_equal(tok.expires_in, OAUTH2_DEFAULT_EXPIRES_IN);
	/* Very long lifetimes are capped, not overflowed. */
	assert_int_equal(token("{\"access_token\":\"a\",\"token_type\":"
	    "\"Bearer\",\"expires_in\":9223372036854775807}"),
	    OAUTH2_JSON_TOKEN);
	assert_int_equal(tok.expires_in, OAUTH2_MAX_EXPIRES_IN);
}

static void
test_token_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"\"access_token\"",
		"{",
		"{\"access_token\":\"a\"}",			/* no type */
		"{\"access_token\":\"a\",\"token_type\":\"mac\"}",
		"{\"access_token\":\"a\",\"token_type\":1}",
		"{\"access_token\":\"\",\"token_type\":\"Bearer\"}",
		"{\"access_token\":7,\"token_type\":\"Bearer\"}",
		"{\"access_token\":\"a b\",\"token_type\":\"Bearer\"}",
		"{\"access_token\":\"a\\n\",\"token_type\":\"Bearer\"}",
		"{\"access_token\":\"a\\u0000b\",\"token_type\":\"Bearer\"}",
		"{\"access_token\":\"\\u00e9\",\"token_type\":\"Bearer\"}",
		"{\"access_token\":\"a\",\"token_type\":\"Bearer\","
		    "\"expires_in\":0}",
		"{\"access_token\":\"a\",\"token_type\":\"Bearer\","
		    "\"expires_in\":-5}",
		"{\"access_token\":\"a\",\"token_type\":\"Bearer\","
		    "\"expires_in\":\"12a\"}",
		"{\"access_token\":\"a\",\"token_type\":\"Bearer\","
		    "\"expires_in\":\"\"}",
		"{\"access_token\":\"a\",\"token_type\":\"Bearer\","
		    "\"expires_in\":\"99999999999\"}",
		"{\"access_token\":\"a\",\"token_type\":\"Bearer\","
		    "\"expires_in\":1.5}",
		"{\"access_token\":\"a\",\"token_type\":\"Bearer\","
		    "\"refresh_token\":\"\"}",
		"{\"access_token\":\"a\",\"token_type\":\"Bearer\","
		    "\"refresh_token\":[\"x\"]}",
		/* Two access tokens: which one? Neither. */
		"{\"access_token\":\"a\",\"access_token\":\"b\","
		    "\"token_type\":\"Bearer\"}",
		"{\"access_token\":\"a\",\"token_type\":\"Bearer\"} {}",
		"{\"error\":\"\"}",
		"{\"error\":42}",
		"{\"error\":\"bad code\"}",
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (token(bad[i]) != OAUTH2_JSON_INVALID)
			fail_msg("accepted: %s", bad[i]);
		assert_true(why[0] != '\0');
		/* Nothing of a refused answer is left behind. */
		assert_int_equal(tok.access_token_len, 0);
		assert_string_equal(tok.access_token, "");
	}
	/* Embedded NUL in the body itself. */
	assert_int_equal(oauth2_json_token("{\"a\":1}\0{}", 10, &tok, &err,
	    why, sizeof(why)), OAUTH2_JSON_INVALID);
	/* The reason never quotes the body (it could hold a token). */
	assert_int_equal(token("{\"access_token\":\"SECRET-TOKEN\","
	    "\"token_type\":\"Bearer\",}"), OAUTH2_JSON_INVALID);
	assert_null(strstr(why, "SECRET"));
	assert_int_equal(token("SECRET-TOKEN"), OAUTH2_JSON_INVALID);
	assert_null(strstr(why, "SECRET"));
}

static void
test_token_bounds(void **state)
{
	char	*json, *at;
	size_t	 n;

	(void)state;
	at = malloc(OAUTH2_MAX_TOKEN + 2);
	json = malloc(OAUTH2_MAX_TOKEN + 128);
	assert_non_null(at);
	assert_non_null(json);
	memset(at, 'x', OAUTH2_MAX_TOKEN + 1);
	/* Exactly the limit is fine. */
	at[OAUTH2_MAX_TOKEN] = '\0';
	n = (size_t)snprintf(json, OAUTH2_MAX_TOKEN + 128, "{\"access_token\":"
	    "\"%s\",\"token_type\":\"Bearer\",\"refresh_token\":\"%s\"}", at,
	    "r");
	assert_int_equal(oauth2_json_token(json, n, &tok, &err, why,
	    sizeof(why)), OAUTH2_JSON_TOKEN);
	assert_int_equal(tok.access_token_len, OAUTH2_MAX_TOKEN);
	/* One more octet is not. */
	at[OAUTH2_MAX_TOKEN] = 'x';
	at[OAUTH2_MAX_TOKEN + 1] = '\0';
	n = (size_t)snprintf(json, OAUTH2_MAX_TOKEN + 128, "{\"access_token\":"
	    "\"%s\",\"token_type\":\"Bearer\"}", at);
	assert_int_equal(oauth2_json_token(json, n, &tok, &err, why,
	    sizeof(why)), OAUTH2_JSON_INVALID);
	/* The same for a refresh token. */
	n = (size_t)snprintf(json, OAUTH2_MAX_TOKEN + 128, "{\"access_token\":"
	    "\"a\",\"token_type\":\"Bearer\",\"refresh_token\":\"%s\"}", at);
	assert_int_equal(oauth2_json_token(json, n, &tok, &err, why,
	    sizeof(why)), OAUTH2_JSON_INVALID);
	/* A long scope is informational: cut, not refused. */
	at[OAUTH2_MAX_SCOPE + 10] = '\0';
	n = (size_t)snprintf(json, OAUTH2_MAX_TOKEN + 128, "{\"access_token\":"
	    "\"a\",\"token_type\":\"Bearer\",\"scope\":\"%s\"}", at);
	assert_int_equal(oauth2_json_token(json, n, &tok, &err, why,
	    sizeof(why)), OAUTH2_JSON_TOKEN);
	assert_int_equal(strlen(tok.scope), OAUTH2_MAX_SCOPE);
	/* Bodies over the HTTP cap are not parsed at all. */
	assert_int_equal(oauth2_json_token(json, OAUTH2_MAX_RESPONSE + 1,
	    &tok, &err, why, sizeof(why)), OAUTH2_JSON_INVALID);
	free(at);
	free(json);
}

static void
test_token_error(void **state)
{
	char	 json[1024], *longdesc;

	(void)state;
	assert_int_equal(token("{\"error\":\"invalid_grant\","
	    "\"error_description\":\"AADSTS70000: The provided grant has "
	    "expired\"}"), OAUTH2_JSON_ERROR);
	assert_string_equal(err.error, "invalid_grant");
	assert_string_equal(err.description, "AADSTS70000: The provided "
	    "grant has expired");
	/* Without a description, and with members of other types. */
	assert_int_equal(token("{\"error\":\"invalid_client\","
	    "\"error_description\":5,\"error_uri\":\"x\"}"), OAUTH2_JSON_ERROR);
	assert_string_equal(err.error, "invalid_client");
	assert_string_equal(err.description, "");
	/* "error" wins over a token in the same object. */
	assert_int_equal(token("{\"error\":\"temporarily_unavailable\","
	    "\"access_token\":\"a\",\"token_type\":\"Bearer\"}"),
	    OAUTH2_JSON_ERROR);
	assert_int_equal(tok.access_token_len, 0);
	/* A long description is cut to its bound. */
	longdesc = malloc(600);
	assert_non_null(longdesc);
	memset(longdesc, 'd', 599);
	longdesc[599] = '\0';
	snprintf(json, sizeof(json), "{\"error\":\"server_error\","
	    "\"error_description\":\"%s\"}", longdesc);
	assert_int_equal(token(json), OAUTH2_JSON_ERROR);
	assert_int_equal(strlen(err.description), OAUTH2_MAX_DESCRIPTION);
	free(longdesc);
	/* A code longer than its bound makes the answer invalid. */
	memset(json, 0, sizeof(json));
	snprintf(json, sizeof(json), "{\"error\":\"%0*d\"}",
	    OAUTH2_MAX_ERROR + 1, 0);
	assert_int_equal(token(json), OAUTH2_JSON_INVALID);
}

static void
test_device(void **state)
{
	(void)state;
	assert_int_equal(device("{\"device_code\":\"dc-1\",\"user_code\":"
	    "\"BCDF-GHJK\",\"verification_uri\":\"https://microsoft.com/"
	    "devicelogin\",\"verification_uri_complete\":\"https://x/?c=1\","
	    "\"expires_in\":900,\"interval\":2}"), OAUTH2_JSON_TOKEN);
	assert_string_equal(dev.device_code, "dc-1");
	assert_string_equal(dev.user_code, "BCDF-GHJK");
	assert_string_equal(dev.verification_uri,
	    "https://microsoft.com/devicelogin");
	assert_string_equal(dev.verification_uri_complete, "https://x/?c=1");
	assert_int_equal(dev.expires_in, 900);
	assert_int_equal(dev.interval, 2);
	/* Google: verification_url; interval defaults to 5. */
	assert_int_equal(device("{\"device_code\":\"dc\",\"user_code\":"
	    "\"ABC-DEF-GHI\",\"verification_url\":\"https://www.google.com/"
	    "device\",\"expires_in\":\"1800\"}"), OAUTH2_JSON_TOKEN);
	assert_string_equal(dev.verification_uri,
	    "https://www.google.com/device");
	assert_string_equal(dev.verification_uri_complete, "");
	assert_int_equal(dev.interval, OAUTH2_DEFAULT_INTERVAL);
	assert_int_equal(dev.expires_in, 1800);
	/* Intervals are kept within 1 .. OAUTH2_MAX_INTERVAL. */
	assert_int_equal(device("{\"device_code\":\"dc\",\"user_code\":\"U\","
	    "\"verification_uri\":\"https://v\",\"interval\":0}"),
	    OAUTH2_JSON_TOKEN);
	assert_int_equal(dev.interval, 1);
	assert_int_equal(dev.expires_in, OAUTH2_DEFAULT_DEVICE_EXPIRES_IN);
	assert_int_equal(device("{\"device_code\":\"dc\",\"user_code\":\"U\","
	    "\"verification_uri\":\"https://v\",\"interval\":100000}"),
	    OAUTH2_JSON_TOKEN);
	assert_int_equal(dev.interval, OAUTH2_MAX_INTERVAL);
	/* Missing or bad members. */
	assert_int_equal(device("{\"user_code\":\"U\",\"verification_uri\":"
	    "\"https://v\"}"), OAUTH2_JSON_INVALID);
	assert_int_equal(device("{\"device_code\":\"dc\",\"verification_uri\":"
	    "\"https://v\"}"), OAUTH2_JSON_INVALID);
	assert_int_equal(device("{\"device_code\":\"dc\",\"user_code\":\"U\"}"),
	    OAUTH2_JSON_INVALID);
	assert_int_equal(device("{\"device_code\":\"dc\",\"user_code\":\"U\","
	    "\"verification_uri\":\"https://v\\u0001\"}"), OAUTH2_JSON_INVALID);
	assert_int_equal(device("{\"device_code\":\"dc\",\"user_code\":\"U\","
	    "\"verification_uri\":\"https://v\",\"interval\":\"x\"}"),
	    OAUTH2_JSON_INVALID);
	assert_string_equal(dev.device_code, "");
	/* Errors, e.g. a client not allowed to use the flow. */
	assert_int_equal(device("{\"error\":\"unauthorized_client\"}"),
	    OAUTH2_JSON_ERROR);
	assert_string_equal(err.error, "unauthorized_client");
}

static void
test_form(void **state)
{
	struct oauth2_form	 f;
	char			 buf[64];
	size_t			 n;

	(void)state;
	n = oauth2_form_encode(buf, sizeof(buf), "aZ09-._~", 8);
	assert_int_equal(n, 8);
	assert_string_equal(buf, "aZ09-._~");
	n = oauth2_form_encode(buf, sizeof(buf), "a b+c&d=e/\xc3\xa9", 12);
	assert_string_equal(buf, "a%20b%2Bc%26d%3De%2F%C3%A9");
	assert_int_equal(n, strlen(buf));
	/* NUL octets in the middle are encoded too. */
	n = oauth2_form_encode(buf, sizeof(buf), "a\0b", 3);
	assert_string_equal(buf, "a%00b");
	/* Cut: the length needed comes back, and no half escape. */
	n = oauth2_form_encode(buf, 5, "ab cd", 5);
	assert_int_equal(n, 7);
	assert_string_equal(buf, "ab");
	n = oauth2_form_encode(buf, 6, "ab cd", 5);
	assert_string_equal(buf, "ab%20");
	n = oauth2_form_encode(NULL, 0, "a b", 3);
	assert_int_equal(n, 5);

	oauth2_form_init(&f);
	assert_string_equal(oauth2_form_body(&f), "");
	oauth2_form_add(&f, "grant_type", "refresh_token");
	oauth2_form_add(&f, "refresh_token", "0.A/b+c=");
	oauth2_form_add(&f, "scope", "https://outlook.office.com/"
	    "IMAP.AccessAsUser.All offline_access");
	assert_string_equal(oauth2_form_body(&f), "grant_type=refresh_token&"
	    "refresh_token=0.A%2Fb%2Bc%3D&scope=https%3A%2F%2Foutlook.office."
	    "com%2FIMAP.AccessAsUser.All%20offline_access");
	oauth2_form_free(&f);
	assert_null(f.buf);
}

static void
test_form_grows(void **state)
{
	struct oauth2_form	 f;
	char			*v;
	const char		*body;
	size_t			 i;

	(void)state;
	v = malloc(5001);
	assert_non_null(v);
	memset(v, ' ', 5000);
	v[5000] = '\0';
	oauth2_form_init(&f);
	for (i = 0; i < 3; i++)
		oauth2_form_add(&f, "k", v);
	body = oauth2_form_body(&f);
	assert_non_null(body);
	assert_int_equal(strlen(body), 3 * (2 + 15000) + 2);
	free(v);
	oauth2_form_free(&f);
}

static void
test_escape(void **state)
{
	char	buf[32];

	(void)state;
	assert_string_equal(oauth2_escape(buf, sizeof(buf), "plain text", 10),
	    "plain text");
	assert_string_equal(oauth2_escape(buf, sizeof(buf), "a\"b\\c\n\x01\xff",
	    8), "a\\x22b\\x5cc\\x0a\\x01\\xff");
	/* Cut with a mark, never past the buffer. */
	assert_string_equal(oauth2_escape(buf, 10, "0123456789abc", 13),
	    "012345...");
	assert_string_equal(oauth2_escape(buf, 10, "012345678", 9),
	    "012345678");
	assert_string_equal(oauth2_escape(buf, 10, "0123\n5678", 9),
	    "0123...");	/* never half an escape */
	assert_string_equal(oauth2_escape(buf, 4, "abcdef", 6), "...");
	assert_string_equal(oauth2_escape(buf, sizeof(buf), "", 0), "");
}

static void
test_fingerprint(void **state)
{
	char	fp[9];

	(void)state;
	/* SHA-256("abc") = ba7816bf... */
	oauth2_fingerprint("abc", 3, fp);
	assert_string_equal(fp, "ba7816bf");
	oauth2_fingerprint("", 0, fp);
	assert_string_equal(fp, "e3b0c442");
}

static void
test_token_ok_rule(void **state)
{
	(void)state;
	assert_true(oauth2_token_ok("eyJ0eXAi.eyJhdWQi.sig-_~+/=", 27));
	assert_false(oauth2_token_ok("", 0));
	assert_false(oauth2_token_ok("a b", 3));
	assert_false(oauth2_token_ok("a\x7f", 2));
	assert_false(oauth2_token_ok("a\0b", 3));
}

static void
test_url_rule(void **state)
{
	static const char *const good[] = {
		"https://login.microsoftonline.com/common/oauth2/v2.0/token",
		"https://oauth2.googleapis.com/token",
		"http://127.0.0.1:8080/token",
		"http://127.45.6.7/token",
		"http://[::1]:9/token",
		"http://localhost/token",
		"http://LOCALHOST:80/token",
		"HTTPS://example.com/",
	};
	static const char *const bad[] = {
		"http://example.com/token",
		"http://10.0.0.1/token",
		"http://128.0.0.1/token",
		"http://127.0.0.1.example.com/token",
		"http://localhost.example.com/token",
		"http://[::2]/token",
		"http://[::ffff:10.0.0.1]/token",
		"ftp://127.0.0.1/token",
		"file:///etc/passwd",
		"gopher://127.0.0.1/",
		"not a url",
		"",
	};
	char	e[HTTP_MAX_ERROR];
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (http_url_check(good[i], e, sizeof(e)) != 0)
			fail_msg("refused %s: %s", good[i], e);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e[0] = '\0';
		if (http_url_check(bad[i], e, sizeof(e)) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_true(e[0] != '\0');
	}
	assert_int_equal(http_url_check("http://example.com/", e, sizeof(e)),
	    -1);
	assert_non_null(strstr(e, "loopback"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_ok),
		cmocka_unit_test(test_token_invalid),
		cmocka_unit_test(test_token_bounds),
		cmocka_unit_test(test_token_error),
		cmocka_unit_test(test_device),
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_form_grows),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_token_ok_rule),
		cmocka_unit_test(test_url_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
