/* SPDX-License-Identifier: MIT */
/*
 * test_http_request.c - unit tests for proto/http_request.c: good heads,
 * every malformed form, the size and field limits, and input arriving
 * octet by octet (every prefix of every input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_request.h"

/* What may follow a head on the wire: a body or a pipelined request. */
#define TEST_TAIL	"GET / HTTP/1.1\r\n"
#define TEST_TAIL_LEN	(sizeof(TEST_TAIL) - 1)

#define U(s)	((const unsigned char *)(s))

/*
 * head[0..len) is one valid head: every shorter prefix needs more, the
 * whole is DONE, and so is the whole followed by more octets, with the
 * same result. Returns the result.
 */
static void
parse_valid(const char *head, size_t len, struct http_request *req)
{
	struct http_request	 first;
	const char		*why = "unset";
	char			*buf;
	size_t			 i;

	buf = malloc(len + TEST_TAIL_LEN);
	assert_non_null(buf);
	memcpy(buf, head, len);
	memcpy(buf + len, TEST_TAIL, TEST_TAIL_LEN);
	for (i = 0; i < len; i++) {
		assert_int_equal(http_request_parse(U(buf), i, req, &why),
		    HTTP_REQUEST_NEED_MORE);
		assert_null(why);
	}
	assert_int_equal(http_request_parse(U(buf), len, &first, &why),
	    HTTP_REQUEST_DONE);
	assert_null(why);
	assert_int_equal(first.head_octets, len);
	for (i = len; i <= len + TEST_TAIL_LEN; i++) {
		assert_int_equal(http_request_parse(U(buf), i, req, &why),
		    HTTP_REQUEST_DONE);
		assert_memory_equal(req, &first, sizeof(first));
	}
	free(buf);
}

static void
parse_valid_str(const char *head, struct http_request *req)
{
	parse_valid(head, strlen(head), req);
}

/*
 * in[0..len) is refused with want: every prefix is NEED_MORE until the
 * first answer, which is want, and stays want (with a reason) from there
 * on; the request is left zeroed.
 */
static void
parse_invalid(const char *in, size_t len, enum http_request_result want)
{
	struct http_request	 req, zero;
	enum http_request_result r;
	const char		*why;
	size_t			 i;
	bool			 answered = false;

	memset(&zero, 0, sizeof(zero));
	for (i = 0; i <= len; i++) {
		why = "unset";
		r = http_request_parse(U(in), i, &req, &why);
		assert_memory_equal(&req, &zero, sizeof(req));
		if (r == HTTP_REQUEST_NEED_MORE) {
			assert_false(answered);
			assert_null(why);
			continue;
		}
		if (r != want)
			fail_msg("\"%.60s\" at %zu: got %d, want %d", in, i,
			    (int)r, (int)want);
		assert_non_null(why);
		assert_true(why[0] != '\0');
		answered = true;
	}
	if (!answered)
		fail_msg("\"%.60s\": no answer", in);
}

static void
parse_invalid_str(const char *in, enum http_request_result want)
{
	parse_invalid(in, strlen(in), want);
}

static void
test_empty(void **state)
{
	struct http_request	 req;
	const char		*why = "unset";

	(void)state;
	assert_int_equal(http_request_parse(NULL, 0, &req, &why),
	    HTTP_REQUEST_NEED_MORE);
	assert_null(why);
	/* why may be NULL. */
	assert_int_equal(http_request_parse(U("G"), 1, &req, NULL),
	    HTTP_REQUEST_NEED_MORE);
	assert_int_equal(http_request_parse(U("\x16"), 1, &req, NULL),
	    HTTP_REQUEST_BAD);
}

static void
test_get_http11(void **state)
{
	static const char	 head[] = "GET /metrics HTTP/1.1\r\n"
	    "Host: 127.0.0.1:9100\r\n"
	    "User-Agent: Prometheus/2.51.0\r\n"
	    "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n"
	    "\r\n";
	struct http_request	 req;

	(void)state;
	parse_valid_str(head, &req);
	assert_int_equal(req.method_len, 3);
	assert_int_equal(req.target_off, 4);
	assert_int_equal(req.target_len, 8);
	assert_memory_equal(head + req.target_off, "/metrics", 8);
	assert_int_equal(req.version_minor, 1);
	assert_int_equal(req.nfields, 3);
	assert_false(req.has_content_length);
	assert_false(req.has_transfer_encoding);
}

static void
test_get_http10(void **state)
{
	static const char	 head[] = "HEAD /metrics?x=1&y HTTP/1.0\r\n\r\n";
	struct http_request	 req;

	(void)state;
	parse_valid_str(head, &req);
	assert_int_equal(req.method_len, 4);
	assert_int_equal(req.target_off, 5);
	assert_int_equal(req.target_len, strlen("/metrics?x=1&y"));
	assert_int_equal(req.version_minor, 0);
	assert_int_equal(req.nfields, 0);
	/* HTTP/1.0 may carry one Host. */
	parse_valid_str("GET / HTTP/1.0\r\nHost: a\r\n\r\n", &req);
	assert_int_equal(req.nfields, 1);
}

static void
test_fields(void **state)
{
	struct http_request	req;

	(void)state;
	/* OWS around values, empty values, obs-text, any-case names,
	 * every tchar in a method and a name. */
	parse_valid_str("GET http://h/metrics HTTP/1.1\r\nhOsT:\t h \t\r\n"
	    "X-Empty:\r\nX-8bit: caf\xc3\xa9 \x80\xff\r\n"
	    "!#$%&'*+-.^_`|~09az:v\r\n\r\n", &req);
	assert_int_equal(req.nfields, 4);
	parse_valid_str("!#$%&'*+-.^_`|~09AZ * HTTP/1.1\r\nHost:\r\n\r\n",
	    &req);
	assert_int_equal(req.method_len, 19);
	assert_int_equal(req.target_len, 1);
	/* Content-Length, with OWS, repeated with the same value. */
	parse_valid_str("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length:  12 "
	    "\r\ncontent-length: 12\r\n\r\n", &req);
	assert_true(req.has_content_length);
	assert_int_equal(req.content_length, 12);
	parse_valid_str("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: "
	    "9999999999999999999\r\n\r\n", &req);
	assert_true(req.content_length == UINT64_C(9999999999999999999));
	parse_valid_str("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n", &req);
	assert_true(req.has_transfer_encoding);
	assert_false(req.has_content_length);
}

static void
test_malformed_request_line(void **state)
{
	static const char *const bad[] = {
		" GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /  HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
		"GET /\tx HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET\r\n\r\n",
		"GET /\r\n\r\n",
		"GET / \r\n\r\n",
		"GET / HTTP/1.2\r\nHost: h\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.10\r\nHost: h\r\n\r\n",
		"GET / HTTP/1\r\nHost: h\r\n\r\n",
		"GET / http/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\rHost: h\r\n\r\n",
		"GE(T / HTTP/1.1\r\nHost: h\r\n\r\n",
		"/ HTTP/1.1\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		"USER alice\r\n",
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		parse_invalid_str(bad[i], HTTP_REQUEST_BAD);
	/* NUL anywhere in the request line. */
	parse_invalid("G\0ET / HTTP/1.1\r\n", 17, HTTP_REQUEST_BAD);
	parse_invalid("GET /\0 HTTP/1.1\r\n", 17, HTTP_REQUEST_BAD);
}

static void
test_malformed_fields(void **state)
{
	static const char *const bad[] = {
		/* space before the colon (RFC 9112 sec. 5.1) */
		"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
		/* obs-fold */
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\tb\r\n\r\n",
		/* no colon, empty name, bad name octets */
		"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX[1]: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX\x80: x\r\n\r\n",
		/* control octets in a value, bare LF, CR without LF */
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01" "b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\rX",
		/* Host: none or two in 1.1, two in 1.0 */
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nX: y\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
		/* Content-Length */
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: "
		    "10000000000000000000\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
		    "Content-Length: 2\r\n\r\n",
		/* Transfer-Encoding with Content-Length, or in 1.0 */
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		parse_invalid_str(bad[i], HTTP_REQUEST_BAD);
	parse_invalid("GET / HTTP/1.1\r\nHost: \0\r\n\r\n", 26,
	    HTTP_REQUEST_BAD);
}

/* Appends "X-Fill: " plus filler and CRLF so the line is n octets. */
static size_t
fill_field(char *p, size_t n)
{
	assert_true(n >= 10);
	memcpy(p, "X-Fill: ", 8);
	memset(p + 8, 'a', n - 10);
	memcpy(p + n - 2, "\r\n", 2);
	return n;
}

static void
test_size_limit(void **state)
{
	static const char	 line[] = "GET / HTTP/1.1\r\nHost: h\r\n";
	struct http_request	 req;
	char			*buf;
	size_t			 n, max = HTTP_REQUEST_MAX_OCTETS;

	(void)state;
	buf = malloc(max + 64);
	assert_non_null(buf);
	/* Exactly the limit: accepted. */
	n = strlen(line);
	memcpy(buf, line, n);
	n += fill_field(buf + n, max - n - 2);
	memcpy(buf + n, "\r\n", 2);
	n += 2;
	assert_int_equal(n, max);
	parse_valid(buf, n, &req);
	assert_int_equal(req.head_octets, max);
	/* One octet more: the fields are too large, answered when the
	 * limit is reached. */
	n = strlen(line);
	n += fill_field(buf + n, max - n - 1);
	memcpy(buf + n, "\r\n", 2);
	n += 2;
	assert_int_equal(n, max + 1);
	parse_invalid(buf, n, HTTP_REQUEST_FIELDS_TOO_LARGE);
	assert_int_equal(http_request_parse(U(buf), max - 1, &req, NULL),
	    HTTP_REQUEST_NEED_MORE);
	/* A request line that does not end within the limit: 400. */
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', max + 10);
	parse_invalid(buf, max + 15, HTTP_REQUEST_BAD);
	/* Nor one that ends right at the limit, leaving no room for the end
	 * of the head. */
	n = max - strlen(" HTTP/1.1\r\n");
	memcpy(buf + n, " HTTP/1.1\r\n", strlen(" HTTP/1.1\r\n"));
	parse_invalid(buf, max, HTTP_REQUEST_BAD);
	free(buf);
}

static void
test_field_count_limit(void **state)
{
	struct http_request	 req;
	char			*buf;
	size_t			 n;
	unsigned int		 i;

	(void)state;
	buf = malloc(HTTP_REQUEST_MAX_OCTETS);
	assert_non_null(buf);
	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP_REQUEST_MAX_FIELDS; i++)
		n += (size_t)sprintf(buf + n, "%s\r\n", i == 0 ? "Host: h" :
		    "X: 1");
	memcpy(buf + n, "\r\n", 2);
	parse_valid(buf, n + 2, &req);
	assert_int_equal(req.nfields, HTTP_REQUEST_MAX_FIELDS);
	/* One field more is refused as it starts. */
	memcpy(buf + n, "Y: 2\r\n\r\n", 8);
	parse_invalid(buf, n + 8, HTTP_REQUEST_FIELDS_TOO_LARGE);
	assert_int_equal(http_request_parse(U(buf), n + 1, &req, NULL),
	    HTTP_REQUEST_FIELDS_TOO_LARGE);
	assert_int_equal(http_request_parse(U(buf), n, &req, NULL),
	    HTTP_REQUEST_NEED_MORE);
	free(buf);
}

/* The answer comes at the first wrong octet, not at the end of the
 * line or the head. */
static void
test_early_answer(void **state)
{
	struct http_request	req;

	(void)state;
	assert_int_equal(http_request_parse(U("GET /  "), 7, &req, NULL),
	    HTTP_REQUEST_BAD);
	assert_int_equal(http_request_parse(U("GET / HTTX"), 10, &req, NULL),
	    HTTP_REQUEST_BAD);
	assert_int_equal(http_request_parse(U("GET / HTTP/1.1\r\nA B"), 18,
	    &req, NULL), HTTP_REQUEST_BAD);
	assert_int_equal(http_request_parse(U("GET / HTTP/1.1\r\nA B"), 17,
	    &req, NULL), HTTP_REQUEST_NEED_MORE);
}

/* Input split in two at every point, parsed as the two parts arrive,
 * gives the same answer as the whole (the caller keeps the octets). */
static void
test_split_input(void **state)
{
	static const char	 good[] = "GET /metrics HTTP/1.1\r\nHost: h\r\n"
	    "Accept: */*\r\n\r\n";
	static const char	 bad[] = "GET /metrics HTTP/1.1\r\nHost: h\r\n"
	    "Accept : */*\r\n\r\n";
	struct http_request	 whole, part;
	size_t			 cut, n = sizeof(good) - 1;

	(void)state;
	assert_int_equal(http_request_parse(U(good), n, &whole, NULL),
	    HTTP_REQUEST_DONE);
	for (cut = 0; cut < n; cut++) {
		assert_int_equal(http_request_parse(U(good), cut, &part, NULL),
		    HTTP_REQUEST_NEED_MORE);
		assert_int_equal(http_request_parse(U(good), n, &part, NULL),
		    HTTP_REQUEST_DONE);
		assert_memory_equal(&part, &whole, sizeof(whole));
	}
	parse_invalid(bad, sizeof(bad) - 1, HTTP_REQUEST_BAD);
}

static void
test_token_equal(void **state)
{
	(void)state;
	assert_true(http_token_equal(U("HoSt"), 4, "host"));
	assert_false(http_token_equal(U("Hos"), 3, "host"));
	assert_false(http_token_equal(U("Hosts"), 5, "host"));
	assert_false(http_token_equal(U("H\xefst"), 4, "host"));
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_get_http11),
		cmocka_unit_test(test_get_http10),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_malformed_request_line),
		cmocka_unit_test(test_malformed_fields),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_field_count_limit),
		cmocka_unit_test(test_early_answer),
		cmocka_unit_test(test_split_input),
		cmocka_unit_test(test_token_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
