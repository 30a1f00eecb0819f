/* SPDX-License-Identifier: MIT */
/*
 * http_client.c - libcurl's multi interface on a libuv loop.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
 * to call it back (CURLMOPT_TIMERFUNCTION); we keep one uv_poll_t per
 * socket and one uv_timer_t, and hand their events to
 * curl_multi_socket_action(). Finished transfers are collected after each
 * action, outside curl's callbacks, so a done callback may start, cancel
 * or free anything. Request bodies and responses carry secrets: they are
 * wiped before they are freed.
 */
#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <curl/curl.h>

struct http_socket {
	uv_poll_t		 poll;
	curl_socket_t		 fd;
	struct http_client	*client;
	LIST_ENTRY(http_socket)	 entry;
};

struct http_request {
	struct http_client	*client;	/* NULL: a blocking request */
	CURL			*easy;
	CURLU			*url;
	char			*form;
	size_t			 formlen;
	char			*body;		/* HTTP_MAX_BODY + 1 octets */
	size_t			 len;
	bool			 too_big;
	unsigned int		 timeout_ms;
	char			 errbuf[CURL_ERROR_SIZE];
	http_done_cb		*cb;
	void			*arg;
	TAILQ_ENTRY(http_request) entry;
};

struct http_client {
	uv_loop_t		*loop;
	CURLM			*multi;
	uv_timer_t		 timer;
	struct curl_slist	*headers;
	TAILQ_HEAD(, http_request) requests;
	LIST_HEAD(, http_socket) sockets;
	unsigned int		 open_handles;	/* timer and polls */
	unsigned int		 depth;		/* in http_client_check() */
	bool			 closing;
	bool			 torn_down;
	void			(*done)(void *);
	void			*done_arg;
};

static pthread_once_t	http_client_once = PTHREAD_ONCE_INIT;
static CURLcode		http_client_init_result = CURLE_FAILED_INIT;

static void
http_client_global_init(void)
{
	http_client_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool
http_client_ready(void)
{
	pthread_once(&http_client_once, http_client_global_init);
	return http_client_init_result == CURLE_OK;
}

/* ---- URLs ---- */

static bool
http_host_loopback(const char *host)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;
	char		 buf[64];
	size_t		 n = strlen(host);

	if (strcasecmp(host, "localhost") == 0 ||
	    strcasecmp(host, "localhost.") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	/* curl gives IPv6 hosts in brackets. */
	if (n >= 2 && n < sizeof(buf) && host[0] == '[' && host[n - 1] == ']') {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* Parses url with curl's own parser (the transfer then uses exactly what
 * was checked). *plain is set for an http:// URL. */
static CURLU *
http_url_parse(const char *url, bool *plain, char *err, size_t errlen)
{
	CURLU	*u;
	char	*scheme = NULL, *host = NULL;
	bool	 ok = false;

	*plain = false;
	if ((u = curl_url()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		snprintf(err, errlen, "not a valid URL");
		goto done;
	}
	if (strcmp(scheme, "https") == 0)
		ok = true;
	else if (strcmp(scheme, "http") == 0) {
		*plain = true;
		ok = http_host_loopback(host);
		if (!ok)
			snprintf(err, errlen, "http:// is allowed only to a "
			    "loopback host (127.0.0.0/8, ::1, localhost); use "
			    "https://");
	} else
		snprintf(err, errlen, "unsupported URL scheme (only https)");
done:
	curl_free(scheme);
	curl_free(host);
	if (!ok) {
		curl_url_cleanup(u);
		return NULL;
	}
	return u;
}

int
http_url_check(const char *url, char *err, size_t errlen)
{
	CURLU	*u;
	bool	 plain;

	if ((u = http_url_parse(url, &plain, err, errlen)) == NULL)
		return -1;
	curl_url_cleanup(u);
	return 0;
}

/* ---- requests ---- */

static size_t
http_request_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_request	*r = userp;
	size_t			 n = size * nmemb;

	if (n > HTTP_MAX_BODY - r->len) {
		r->too_big = true;
		return 0;	/* curl aborts with CURLE_WRITE_ERROR */
	}
	if (r->body == NULL && (r->body = malloc(HTTP_MAX_BODY + 1)) == NULL)
		return 0;
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static void
http_request_free(struct http_request *r)
{
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	if (r->url != NULL)
		curl_url_cleanup(r->url);
	if (r->form != NULL) {
		explicit_bzero(r->form, r->formlen);
		free(r->form);
	}
	if (r->body != NULL) {
		explicit_bzero(r->body, r->len);
		free(r->body);
	}
	free(r);
}

#define HTTP_SETOPT(h, opt, val)	do {				\
	if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK)		\
		goto fail;						\
} while (0)

/* A request for url with its easy handle set up; NULL with err set. */
static struct http_request *
http_request_new(const char *url, const char *form_body, const char *ca_file,
    unsigned int timeout_ms, struct curl_slist *headers, char *err,
    size_t errlen)
{
	struct http_request	*r;
	bool			 plain;

	if (!http_client_ready()) {
		snprintf(err, errlen, "libcurl could not be initialised");
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((r->url = http_url_parse(url, &plain, err, errlen)) == NULL) {
		free(r);
		return NULL;
	}
	r->formlen = strlen(form_body);
	r->timeout_ms = timeout_ms;
	if ((r->form = strdup(form_body)) == NULL ||
	    (r->easy = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "out of memory");
		http_request_free(r);
		return NULL;
	}
	HTTP_SETOPT(r->easy, CURLOPT_CURLU, r->url);
	HTTP_SETOPT(r->easy, CURLOPT_PROTOCOLS_STR, "https,http");
	HTTP_SETOPT(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	HTTP_SETOPT(r->easy, CURLOPT_NOSIGNAL, 1L);
	HTTP_SETOPT(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	HTTP_SETOPT(r->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	HTTP_SETOPT(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	HTTP_SETOPT(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_file != NULL && ca_file[0] != '\0')
		HTTP_SETOPT(r->easy, CURLOPT_CAINFO, ca_file);
	/* A proxy from the environment must not see loopback test traffic. */
	if (plain)
		HTTP_SETOPT(r->easy, CURLOPT_PROXY, "");
	HTTP_SETOPT(r->easy, CURLOPT_POST, 1L);
	HTTP_SETOPT(r->easy, CURLOPT_POSTFIELDS, r->form);
	HTTP_SETOPT(r->easy, CURLOPT_POSTFIELDSIZE, (long)r->formlen);
	if (headers != NULL)
		HTTP_SETOPT(r->easy, CURLOPT_HTTPHEADER, headers);
	HTTP_SETOPT(r->easy, CURLOPT_USERAGENT, "popgate/" POPGATE_VERSION);
	HTTP_SETOPT(r->easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)HTTP_MAX_BODY);
	HTTP_SETOPT(r->easy, CURLOPT_WRITEFUNCTION, http_request_write);
	HTTP_SETOPT(r->easy, CURLOPT_WRITEDATA, r);
	HTTP_SETOPT(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	HTTP_SETOPT(r->easy, CURLOPT_PRIVATE, r);
	return r;
fail:
	snprintf(err, errlen, "libcurl refused an option (too old?)");
	http_request_free(r);
	return NULL;
}

/* The error text of a finished transfer, or NULL for an answer. */
static const char *
http_request_error(struct http_request *r, CURLcode result, char *buf,
    size_t buflen)
{
	if (result == CURLE_OK)
		return NULL;
	if (r->too_big || result == CURLE_FILESIZE_EXCEEDED)
		snprintf(buf, buflen, "response body over %d octets",
		    HTTP_MAX_BODY);
	else if (result == CURLE_OPERATION_TIMEDOUT)
		snprintf(buf, buflen, "no answer within %u ms", r->timeout_ms);
	else
		snprintf(buf, buflen, "%s", r->errbuf[0] != '\0' ? r->errbuf :
		    curl_easy_strerror(result));
	return buf;
}

/* ---- the loop binding ---- */

static void	http_client_check(struct http_client *c);
static void	http_client_teardown(struct http_client *c);

/* One of the client's handles is closed; the last one frees it. */
static void
http_client_release(struct http_client *c)
{
	void	(*done)(void *);
	void	*arg;

	if (--c->open_handles > 0 || !c->torn_down)
		return;
	done = c->done;
	arg = c->done_arg;
	curl_slist_free_all(c->headers);
	free(c);
	if (done != NULL)
		done(arg);
}

static void
http_client_timer_closed(uv_handle_t *h)
{
	http_client_release(h->data);
}

static void
http_socket_closed(uv_handle_t *h)
{
	struct http_socket	*hs = h->data;
	struct http_client	*c = hs->client;

	free(hs);
	http_client_release(c);
}

static void
http_socket_close(struct http_socket *hs)
{
	uv_poll_stop(&hs->poll);
	LIST_REMOVE(hs, entry);
	uv_close((uv_handle_t *)&hs->poll, http_socket_closed);
}

static void
http_client_on_poll(uv_poll_t *p, int status, int events)
{
	struct http_socket	*hs = p->data;
	struct http_client	*c = hs->client;
	int			 flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	curl_multi_socket_action(c->multi, hs->fd, flags, &running);
	http_client_check(c);
}

static int
http_client_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
	struct http_client	*c = userp;
	struct http_socket	*hs = socketp;
	int			 events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		/* curl forgets the socket itself; no curl_multi_assign. */
		if (hs != NULL)
			http_socket_close(hs);
		return 0;
	}
	if (c->torn_down)
		return 0;
	if (hs == NULL) {
		if ((hs = calloc(1, sizeof(*hs))) == NULL)
			return -1;
		if (uv_poll_init_socket(c->loop, &hs->poll, s) != 0) {
			free(hs);
			return -1;
		}
		hs->fd = s;
		hs->client = c;
		hs->poll.data = hs;
		c->open_handles++;
		LIST_INSERT_HEAD(&c->sockets, hs, entry);
		curl_multi_assign(c->multi, s, hs);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&hs->poll, events, http_client_on_poll);
	return 0;
}

static void
http_client_on_timer(uv_timer_t *t)
{
	struct http_client	*c = t->data;
	int			 running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_client_check(c);
}

static int
http_client_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client	*c = userp;

	(void)multi;
	if (c->torn_down)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, http_client_on_timer,
		    (uint64_t)timeout_ms, 0);
	return 0;
}

/* Detaches a request from its client (and curl's multi handle). */
static void
http_request_detach(struct http_request *r)
{
	struct http_client	*c = r->client;

	TAILQ_REMOVE(&c->requests, r, entry);
	curl_multi_remove_handle(c->multi, r->easy);
}

static void
http_client_check(struct http_client *c)
{
	struct http_request	*r;
	CURLMsg			*msg;
	CURLcode		 result;
	const char		*error;
	char			 ebuf[HTTP_MAX_ERROR];
	long			 status;
	int			 left;

	c->depth++;
	while (!c->closing &&
	    (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg dies with the removal: read it first. */
		result = msg->data.result;
		r = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&r);
		if (r == NULL)
			continue;
		status = 0;
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		http_request_detach(r);
		error = http_request_error(r, result, ebuf, sizeof(ebuf));
		if (error != NULL && !r->too_big)
			status = 0;
		r->cb(r->arg, status, r->body != NULL ? r->body : "",
		    error != NULL ? 0 : r->len, error);
		http_request_free(r);
	}
	c->depth--;
	if (c->depth == 0 && c->closing && !c->torn_down)
		http_client_teardown(c);
}

struct http_client *
http_client_new(uv_loop_t *loop)
{
	struct http_client	*c;

	if (!http_client_ready())
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	TAILQ_INIT(&c->requests);
	LIST_INIT(&c->sockets);
	if ((c->multi = curl_multi_init()) == NULL) {
		free(c);
		return NULL;
	}
	c->headers = curl_slist_append(NULL, "Accept: application/json");
	if (c->headers == NULL) {
		curl_multi_cleanup(c->multi);
		free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION,
	    http_client_socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION,
	    http_client_timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->open_handles = 1;
	return c;
}

static void
http_client_teardown(struct http_client *c)
{
	struct http_request	*r;
	struct http_socket	*hs;

	/* cancel() unlinks r from c->requests (r->client is c): the analyzer
	 * cannot see that through TAILQ_REMOVE and calls the next round a
	 * use after free. */
	while ((r = TAILQ_FIRST(&c->requests)) != NULL)
		http_request_cancel(r);	/* NOLINT(clang-analyzer-unix.Malloc) */
	c->torn_down = true;
	/* Closing cached connections may still report removals. */
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	while ((hs = LIST_FIRST(&c->sockets)) != NULL)
		http_socket_close(hs);
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, http_client_timer_closed);
}

void
http_client_free(struct http_client *c, void (*done)(void *), void *arg)
{
	if (c == NULL || c->closing)
		return;
	c->closing = true;
	c->done = done;
	c->done_arg = arg;
	if (c->depth == 0)
		http_client_teardown(c);
}

struct http_request *
http_post_form(struct http_client *c, const char *url, const char *form_body,
    const char *ca_file, unsigned int timeout_ms, http_done_cb *cb, void *arg,
    char *err, size_t errlen)
{
	struct http_request	*r;

	if (c->closing) {
		snprintf(err, errlen, "HTTP client is shutting down");
		return NULL;
	}
	r = http_request_new(url, form_body, ca_file, timeout_ms, c->headers,
	    err, errlen);
	if (r == NULL)
		return NULL;
	r->client = c;
	r->cb = cb;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&c->requests, r, entry);
	if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
		TAILQ_REMOVE(&c->requests, r, entry);
		http_request_free(r);
		snprintf(err, errlen, "libcurl refused the transfer");
		return NULL;
	}
	return r;
}

void
http_request_cancel(struct http_request *r)
{
	if (r == NULL)
		return;
	http_request_detach(r);
	http_request_free(r);
}

int
http_post_form_sync(const char *url, const char *form_body,
    const char *ca_file, unsigned int timeout_ms, long *status, char **body,
    size_t *len, char *err, size_t errlen)
{
	struct http_request	*r;
	struct curl_slist	*headers;
	CURLcode		 result;
	const char		*error;

	*body = NULL;
	*len = 0;
	*status = 0;
	if (!http_client_ready()) {
		snprintf(err, errlen, "libcurl could not be initialised");
		return -1;
	}
	if ((headers = curl_slist_append(NULL, "Accept: application/json")) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r = http_request_new(url, form_body, ca_file, timeout_ms, headers,
	    err, errlen);
	if (r == NULL) {
		curl_slist_free_all(headers);
		return -1;
	}
	result = curl_easy_perform(r->easy);
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, status);
	error = http_request_error(r, result, err, errlen);
	if (error == NULL) {
		if (r->body == NULL && (r->body = strdup("")) == NULL) {
			snprintf(err, errlen, "out of memory");
			error = err;
		} else {
			*body = r->body;
			*len = r->len;
			r->body = NULL;
		}
	}
	http_request_free(r);
	curl_slist_free_all(headers);
	return error != NULL ? -1 : 0;
}
