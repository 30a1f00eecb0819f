/* SPDX-License-Identifier: MIT */
/*
 * imap_connect.c - the upstream connection's set-up: name lookup (skipped
 * for an IP literal), connect with a retry over the addresses, implicit
 * TLS, and the reads that feed the framer (cleartext reads land in it
 * without a copy; TLS reads go through imap_tls.c). Also the three ways a
 * client starts: login, SASL relay and capability probe.
 */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_client_int.h"
#include "imap_stream.h"
#include "sasl.h"

/* Cleartext reads land straight in the framer: no copy between socket and
 * parser. TLS reads land in the ciphertext buffer (imap_tls.c). */
static void
imap_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct imap_client	*c = h->data;
	size_t			 room = 0;

	(void)suggested;
	if (c->tls != NULL) {
		b->base = c->tls_rbuf;
		b->len = IMAP_READ_OCTETS;
		return;
	}
	b->base = imap_frame_reserve(&c->frame, IMAP_READ_OCTETS, &room);
	b->len = b->base != NULL ? room : 0;
}

static void
imap_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct imap_client	*c = s->data;

	if (nread == 0)
		return;
	if (nread == UV_ENOBUFS) {
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream response too large");
		return;
	}
	if (nread < 0) {
		c->read_eof = true;
		uv_read_stop(s);
		if (c->phase == IMAP_PHASE_LOGOUT) {
			imap_client_teardown(c);
			return;
		}
		imap_client_fail(c, IMAP_ERR_TEMP, imap_tls_handshaking(c) ?
		    "upstream closed the connection during the TLS "
		    "handshake" : nread == UV_EOF ?
		    "upstream closed the connection" :
		    "upstream connection error");
		return;
	}
	if (c->tls != NULL) {
		imap_tls_on_read(c, b->base, (size_t)nread);
		return;
	}
	imap_frame_commit(&c->frame, (size_t)nread);
	if (c->ncmds > 0)
		imap_client_arm_timer(c);
	imap_client_dispatch(c);
}

static bool
imap_client_stream_open(struct imap_client *c)
{
	c->imap = mailimap_new(0, NULL);
	if (c->imap == NULL)
		return false;
	c->stream = imap_stream_new(&c->frame);
	return c->stream != NULL;
}

static void imap_client_try_connect(struct imap_client *c);

static void
imap_retry_close_cb(uv_handle_t *h)
{
	struct imap_client	*c = h->data;

	c->tcp_open = false;
	c->open_handles--;
	if (c->phase == IMAP_PHASE_CLOSING) {
		imap_client_teardown(c);
		return;
	}
	imap_client_try_connect(c);
}

static void
imap_connect_cb(uv_connect_t *req, int status)
{
	struct imap_client	*c = req->data;

	c->pending_reqs--;
	if (c->phase == IMAP_PHASE_CLOSING) {
		imap_client_teardown(c);
		return;
	}
	if (status < 0) {
		if (c->addr_next != NULL) {
			/* Try the next address once this handle has closed
			 * (localhost may resolve to ::1 and 127.0.0.1). */
			uv_close((uv_handle_t *)&c->tcp, imap_retry_close_cb);
			return;
		}
		c->fail_detail = uv_strerror(status);
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream connect failed");
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, 60);
	c->phase = IMAP_PHASE_GREETING;
	/* Implicit TLS: the handshake runs under the connect timeout, which
	 * keeps running until the greeting has come through it. */
	if (c->config.tls_mode == IMAP_TLS_IMPLICIT && !imap_tls_begin(c))
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, imap_alloc_cb,
	    imap_read_cb) < 0)
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream read failed");
}

static void
imap_client_try_connect(struct imap_client *c)
{
	struct addrinfo	*ai = c->addr_next;
	int		 r;

	c->addr_next = ai->ai_next;
	r = uv_tcp_init(c->loop, &c->tcp);
	if (r < 0) {
		imap_client_fail(c, IMAP_ERR_TEMP, "socket setup failed");
		return;
	}
	c->tcp.data = c;
	c->tcp_open = true;
	c->open_handles++;
	c->connect_req.data = c;
	r = uv_tcp_connect(&c->connect_req, &c->tcp, ai->ai_addr,
	    imap_connect_cb);
	if (r < 0) {
		c->fail_detail = uv_strerror(r);
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream connect failed");
		return;
	}
	c->pending_reqs++;
	c->phase = IMAP_PHASE_CONNECTING;
}

static void
imap_resolve_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct imap_client	*c = req->data;

	c->pending_reqs--;
	c->resolving = false;
	c->addrs = res;
	if (c->phase == IMAP_PHASE_CLOSING) {
		imap_client_teardown(c);
		return;
	}
	if (status < 0 || res == NULL) {
		c->fail_detail = uv_strerror(status);
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream name lookup failed");
		return;
	}
	c->addr_next = res;
	imap_client_try_connect(c);
}

/* An IP address needs no resolver: skip the thread-pool round trip that
 * uv_getaddrinfo() costs on every login. The port is a number from 1 to
 * 65535: config/upstream.c checked it. */
static bool
imap_client_numeric_host(struct imap_client *c)
{
	struct addrinfo	*ai;
	int		 port = (int)strtol(c->config.port, NULL, 10);

	ai = calloc(1, sizeof(*ai) + sizeof(struct sockaddr_storage));
	if (ai == NULL)
		return false;
	ai->ai_addr = (struct sockaddr *)(ai + 1);
	if (uv_ip4_addr(c->config.host, port,
	    (struct sockaddr_in *)ai->ai_addr) == 0)
		ai->ai_addrlen = sizeof(struct sockaddr_in);
	else if (uv_ip6_addr(c->config.host, port,
	    (struct sockaddr_in6 *)ai->ai_addr) == 0)
		ai->ai_addrlen = sizeof(struct sockaddr_in6);
	else {
		free(ai);
		return false;
	}
	c->numeric_addr = ai;
	c->addr_next = ai;
	imap_client_try_connect(c);
	return true;
}

/* Resolves and connects; the greeting continues in imap_login.c. */
static void
imap_client_start(struct imap_client *c)
{
	struct addrinfo	hints;
	int		r;

	c->t_start = uv_hrtime();
	if (c->config.tls_mode != IMAP_TLS_NONE &&
	    c->config.tls_profile == NULL) {
		imap_client_fail_as(c, IMAP_FAIL_TLS, IMAP_ERR_PERM,
		    "upstream TLS wanted but "
		    "no TLS profile configured");
		return;
	}
	if (!imap_client_stream_open(c)) {
		imap_client_fail(c, IMAP_ERR_TEMP, "out of memory");
		return;
	}
	c->phase = IMAP_PHASE_RESOLVING;
	uv_timer_start(&c->timer, imap_timer_cb, c->config.connect_timeout_ms,
	    0);
	if (imap_client_numeric_host(c))
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	c->resolver.data = c;
	r = uv_getaddrinfo(c->loop, &c->resolver, imap_resolve_cb,
	    c->config.host, c->config.port, &hints);
	if (r < 0) {
		c->fail_detail = uv_strerror(r);
		imap_client_fail(c, IMAP_ERR_TEMP, "upstream name lookup failed");
		return;
	}
	c->pending_reqs++;
	c->resolving = true;
}

void
imap_client_login(struct imap_client *c, const char *user,
    const char *password, size_t password_len)
{
	assert(c->phase == IMAP_PHASE_IDLE);
	if (strlen(user) > IMAP_MAX_CREDENTIAL ||
	    password_len > IMAP_MAX_CREDENTIAL) {
		imap_client_fail(c, IMAP_ERR_AUTH, "credentials too long");
		return;
	}
	snprintf(c->user, sizeof(c->user), "%s", user);
	c->password = malloc(password_len + 1);
	if (c->password == NULL) {
		imap_client_fail(c, IMAP_ERR_TEMP, "out of memory");
		return;
	}
	memcpy(c->password, password, password_len);
	c->password[password_len] = '\0';
	c->password_len = password_len;
	imap_client_start(c);
}

/* RFC 4422 sec. 3.1: mechanism names are upper-case letters, digits, "-"
 * and "_" (matched case-insensitively, so lower case is let through). */
static bool
imap_sasl_mech_valid(const char *mech)
{
	size_t	i, n = strlen(mech);

	if (n == 0 || n > IMAP_SASL_MECH_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char	ch = (unsigned char)mech[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

void
imap_client_login_sasl(struct imap_client *c, const char *mech,
    const char *user, const unsigned char *msg, size_t len)
{
	size_t	i;

	assert(c->phase == IMAP_PHASE_IDLE);
	if (!imap_sasl_mech_valid(mech)) {
		imap_client_fail(c, IMAP_ERR_AUTH, "bad SASL mechanism name");
		return;
	}
	if (strlen(user) > IMAP_MAX_CREDENTIAL ||
	    len > SASL_MAX_TOKEN_OCTETS) {
		imap_client_fail(c, IMAP_ERR_AUTH, "credentials too long");
		return;
	}
	snprintf(c->user, sizeof(c->user), "%s", user);
	for (i = 0; mech[i] != '\0'; i++)
		c->sasl_mech[i] = (char)toupper((unsigned char)mech[i]);
	c->sasl_mech[i] = '\0';
	c->sasl = true;
	c->sasl_msg = malloc(len > 0 ? len : 1);
	if (c->sasl_msg == NULL) {
		imap_client_fail(c, IMAP_ERR_TEMP, "out of memory");
		return;
	}
	if (len > 0)
		memcpy(c->sasl_msg, msg, len);
	c->sasl_len = len;
	imap_client_start(c);
}

void
imap_client_probe(struct imap_client *c)
{
	assert(c->phase == IMAP_PHASE_IDLE);
	c->probe_only = true;
	imap_client_start(c);
}
