/* SPDX-License-Identifier: MIT */
/*
 * tls_channel.c - OpenSSL over two memory BIOs: ciphertext in, plaintext
 * out and back. No sockets, no event loop; the transport moves the bytes.
 */
#include "tls_channel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"

/* Largest TLS plaintext record (RFC 8446 sec. 5.1): one SSL_read's worth. */
#define TLS_READ_CHUNK_BYTES	16384
/* Ciphertext moved from the write BIO per BIO_read. */
#define TLS_DRAIN_CHUNK_BYTES	16384
/* Room for one failure reason; OpenSSL reasons are short. */
#define TLS_ERROR_MAX_OCTETS	256
/* Buffer large enough for an IPv6 address, to tell IP literals from names. */
#define TLS_ADDR_MAX_OCTETS	16
/* Used when no min_version is configured (RFC 8314 sec. 4.1). */
#define TLS_DEFAULT_MIN_VERSION	TLS1_2_VERSION
/* The OpenSSL 3 floor for TLS 1.0/1.1: MD5-SHA1 and SHA1 signatures. */
#define TLS_LEGACY_CIPHERS	"DEFAULT:@SECLEVEL=0"
/* Highest security level OpenSSL defines. */
#define TLS_SECURITY_LEVEL_MAX	5

struct tls_profile {
	SSL_CTX	*ctx;
	bool	 is_server;
	bool	 want_verify;
};

struct tls_channel {
	SSL	*ssl;
	BIO	*rbio;	/* ciphertext from the peer; ssl owns it */
	BIO	*wbio;	/* ciphertext to the peer; ssl owns it */
	bool	 is_server;
	bool	 is_established;
	bool	 is_peer_closed;
	bool	 is_shutdown_sent;
	bool	 is_failed;
	bool	 has_unread;	/* last feed stopped before WANT_READ */
	bool	 is_renegotiating;
	char	 error[TLS_ERROR_MAX_OCTETS];
};

static const struct {
	const char	*name;
	int		 version;
} tls_versions[] = {
	{ "TLSv1",	TLS1_VERSION },
	{ "TLSv1.1",	TLS1_1_VERSION },
	{ "TLSv1.2",	TLS1_2_VERSION },
	{ "TLSv1.3",	TLS1_3_VERSION },
};

void
tls_profile_settings_init(struct tls_profile_settings *settings)
{
	memset(settings, 0, sizeof(*settings));
	settings->security_level = -1;
	settings->verify_peer = true;
}

/* The most specific reason in OpenSSL's queue (the first one queued). */
static const char *
tls_openssl_reason(void)
{
	const char	*reason;
	unsigned long	 code;

	code = ERR_peek_error();
	if (code == 0)
		return "unknown error";
	reason = ERR_reason_error_string(code);
	return reason != NULL ? reason : "unknown error";
}

static void
tls_profile_error(char *err, size_t errlen, const char *what,
    const char *arg)
{
	if (errlen > 0)
		snprintf(err, errlen, "tls: %s%s%s: %s", what,
		    arg != NULL ? " " : "", arg != NULL ? arg : "",
		    tls_openssl_reason());
	ERR_clear_error();
}

static int
tls_parse_version(const char *name, int *version_out)
{
	size_t	 i;

	for (i = 0; i < sizeof(tls_versions) / sizeof(tls_versions[0]); i++) {
		if (strcmp(name, tls_versions[i].name) == 0) {
			*version_out = tls_versions[i].version;
			return 0;
		}
	}
	return -EINVAL;
}

static int
tls_profile_versions(SSL_CTX *ctx, const struct tls_profile_settings *s,
    char *err, size_t errlen)
{
	int	 min = TLS_DEFAULT_MIN_VERSION;
	int	 max = 0;	/* 0: the highest the library supports */

	if (s->min_version != NULL &&
	    tls_parse_version(s->min_version, &min) != 0) {
		snprintf(err, errlen, "tls: unknown min_version \"%s\" "
		    "(TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3)", s->min_version);
		return -EINVAL;
	}
	if (s->max_version != NULL &&
	    tls_parse_version(s->max_version, &max) != 0) {
		snprintf(err, errlen, "tls: unknown max_version \"%s\" "
		    "(TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3)", s->max_version);
		return -EINVAL;
	}
	if (max != 0 && max < min) {
		snprintf(err, errlen, "tls: max_version %s is below "
		    "min_version %s", s->max_version,
		    s->min_version != NULL ? s->min_version : "TLSv1.2");
		return -EINVAL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, max) != 1) {
		tls_profile_error(err, errlen, "cannot set protocol versions",
		    NULL);
		return -EINVAL;
	}
	return 0;
}

static int
tls_profile_ciphers(SSL_CTX *ctx, const struct tls_profile_settings *s,
    char *err, size_t errlen)
{
	const char	*ciphers = s->ciphers;

	if (s->security_level < -1 ||
	    s->security_level > TLS_SECURITY_LEVEL_MAX) {
		snprintf(err, errlen, "tls: security_level %d out of range "
		    "(-1 to %d)", s->security_level, TLS_SECURITY_LEVEL_MAX);
		return -EINVAL;
	}
	/*
	 * A cipher string carries its own @SECLEVEL, and the default one
	 * may come from openssl.cnf with a higher level: spell level 0 out
	 * so TLS 1.0/1.1 (SHA1 signatures) really become possible.
	 */
	if (ciphers == NULL && s->security_level == 0)
		ciphers = TLS_LEGACY_CIPHERS;
	if (ciphers != NULL && SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		tls_profile_error(err, errlen, "bad cipher list", ciphers);
		return -EINVAL;
	}
	if (s->ciphersuites != NULL &&
	    SSL_CTX_set_ciphersuites(ctx, s->ciphersuites) != 1) {
		tls_profile_error(err, errlen, "bad ciphersuites",
		    s->ciphersuites);
		return -EINVAL;
	}
	if (s->security_level >= 0)
		SSL_CTX_set_security_level(ctx, s->security_level);
	return 0;
}

static int
tls_profile_keypair(SSL_CTX *ctx, const struct tls_profile_settings *s,
    char *err, size_t errlen)
{
	if (s->cert_file == NULL || s->key_file == NULL) {
		snprintf(err, errlen, "tls: cert_file and key_file must be "
		    "given together");
		return -EINVAL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, s->cert_file) != 1) {
		tls_profile_error(err, errlen,
		    "cannot load certificate chain from", s->cert_file);
		return -EINVAL;
	}
	/* This also refuses a key that does not match the certificate. */
	if (SSL_CTX_use_PrivateKey_file(ctx, s->key_file,
	    SSL_FILETYPE_PEM) != 1) {
		tls_profile_error(err, errlen, "cannot use private key from",
		    s->key_file);
		return -EINVAL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_profile_error(err, errlen, "private key does not match "
		    "certificate", s->key_file);
		return -EINVAL;
	}
	return 0;
}

/* A second handshake (renegotiation) is a protocol error. */
static void
tls_channel_info_cb(const SSL *ssl, int where, int ret)
{
	struct tls_channel	*chan;

	(void)ret;
	chan = SSL_get_app_data(ssl);
	/* TLS 1.3 has no renegotiation; its post-handshake messages do not
	 * signal HANDSHAKE_START for established connections anyway. */
	if (chan != NULL && (where & SSL_CB_HANDSHAKE_START) != 0 &&
	    chan->is_established && SSL_version(ssl) < TLS1_3_VERSION)
		chan->is_renegotiating = true;
}

static struct tls_profile *
tls_profile_new(const struct tls_profile_settings *s, bool is_server,
    char *err, size_t errlen)
{
	struct tls_profile	*profile;
	SSL_CTX			*ctx;

	if (errlen > 0)
		err[0] = '\0';
	ERR_clear_error();
	ctx = SSL_CTX_new(is_server ? TLS_server_method() :
	    TLS_client_method());
	if (ctx == NULL) {
		tls_profile_error(err, errlen, "cannot create context", NULL);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_info_callback(ctx, tls_channel_info_cb);
	if (tls_profile_versions(ctx, s, err, errlen) != 0 ||
	    tls_profile_ciphers(ctx, s, err, errlen) != 0)
		goto fail;
	if (is_server || s->cert_file != NULL || s->key_file != NULL) {
		if (tls_profile_keypair(ctx, s, err, errlen) != 0)
			goto fail;
	}
	if (!is_server) {
		if (s->ca_file != NULL) {
			if (SSL_CTX_load_verify_locations(ctx, s->ca_file,
			    NULL) != 1) {
				tls_profile_error(err, errlen,
				    "cannot load CA file", s->ca_file);
				goto fail;
			}
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			tls_profile_error(err, errlen,
			    "cannot load the system CA store", NULL);
			goto fail;
		}
		SSL_CTX_set_verify(ctx, s->verify_peer ? SSL_VERIFY_PEER :
		    SSL_VERIFY_NONE, NULL);
	}
	profile = calloc(1, sizeof(*profile));
	if (profile == NULL) {
		snprintf(err, errlen, "tls: out of memory");
		goto fail;
	}
	profile->ctx = ctx;
	profile->is_server = is_server;
	profile->want_verify = !is_server && s->verify_peer;
	return profile;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls_profile *
tls_profile_new_server(const struct tls_profile_settings *settings,
    char *err, size_t errlen)
{
	return tls_profile_new(settings, true, err, errlen);
}

struct tls_profile *
tls_profile_new_client(const struct tls_profile_settings *settings,
    char *err, size_t errlen)
{
	return tls_profile_new(settings, false, err, errlen);
}

void
tls_profile_free(struct tls_profile *profile)
{
	if (profile == NULL)
		return;
	SSL_CTX_free(profile->ctx);
	free(profile);
}

static struct tls_channel *
tls_channel_new(struct tls_profile *profile)
{
	struct tls_channel	*chan;

	chan = calloc(1, sizeof(*chan));
	if (chan == NULL)
		return NULL;
	chan->is_server = profile->is_server;
	chan->ssl = SSL_new(profile->ctx);
	chan->rbio = BIO_new(BIO_s_mem());
	chan->wbio = BIO_new(BIO_s_mem());
	if (chan->ssl == NULL || chan->rbio == NULL || chan->wbio == NULL) {
		BIO_free(chan->rbio);
		BIO_free(chan->wbio);
		SSL_free(chan->ssl);
		free(chan);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_bio(chan->ssl, chan->rbio, chan->wbio);
	SSL_set_app_data(chan->ssl, chan);
	if (profile->is_server)
		SSL_set_accept_state(chan->ssl);
	else
		SSL_set_connect_state(chan->ssl);
	return chan;
}

struct tls_channel *
tls_channel_new_server(struct tls_profile *profile)
{
	return tls_channel_new(profile);
}

struct tls_channel *
tls_channel_new_client(struct tls_profile *profile, const char *server_name)
{
	struct tls_channel	*chan;
	unsigned char		 addr[TLS_ADDR_MAX_OCTETS];
	bool			 is_ip;

	chan = tls_channel_new(profile);
	if (chan == NULL || server_name == NULL)
		return chan;
	is_ip = inet_pton(AF_INET, server_name, addr) == 1 ||
	    inet_pton(AF_INET6, server_name, addr) == 1;
	/* RFC 6066 sec. 3: literal IP addresses are not sent as SNI. */
	if (!is_ip && SSL_set_tlsext_host_name(chan->ssl, server_name) != 1)
		goto fail;
	/* SSL_set1_host() matches IP literals against iPAddress SANs. */
	if (profile->want_verify && SSL_set1_host(chan->ssl,
	    server_name) != 1)
		goto fail;
	return chan;
fail:
	ERR_clear_error();
	tls_channel_free(chan);
	return NULL;
}

void
tls_channel_free(struct tls_channel *chan)
{
	if (chan == NULL)
		return;
	SSL_free(chan->ssl);	/* frees both BIOs */
	free(chan);
}

/* Records why the channel failed, from the verify result or the queue. */
static int
tls_channel_fail(struct tls_channel *chan, const char *what)
{
	long	 verify;

	verify = SSL_get_verify_result(chan->ssl);
	if (!chan->is_server && verify != X509_V_OK)
		snprintf(chan->error, sizeof(chan->error),
		    "%s: certificate verify failed: %s", what,
		    X509_verify_cert_error_string(verify));
	else
		snprintf(chan->error, sizeof(chan->error), "%s: %s", what,
		    tls_openssl_reason());
	ERR_clear_error();
	chan->is_failed = true;
	return -EPROTO;
}

/*
 * Moves everything OpenSSL queued for the peer into cipher_out, all or
 * nothing: a partial record on the wire would be worse than a clean error.
 */
static int
tls_channel_drain(struct tls_channel *chan, struct buf *cipher_out)
{
	size_t	 pending, n;
	char	*p;

	pending = BIO_ctrl_pending(chan->wbio);
	if (pending == 0)
		return 0;
	if (pending > cipher_out->max - cipher_out->len) {
		snprintf(chan->error, sizeof(chan->error),
		    "ciphertext output buffer full");
		chan->is_failed = true;
		return -ENOBUFS;
	}
	while (pending > 0) {
		n = pending < TLS_DRAIN_CHUNK_BYTES ? pending :
		    TLS_DRAIN_CHUNK_BYTES;
		p = buf_reserve(cipher_out, n);
		if (p == NULL) {
			chan->is_failed = true;
			return -ENOMEM;
		}
		if (BIO_read_ex(chan->wbio, p, n, &n) != 1 || n == 0)
			return tls_channel_fail(chan, "write BIO");
		buf_commit(cipher_out, n);
		pending -= n;
	}
	return 0;
}

/* Classifies a failed SSL_* call; drains first so alerts reach the peer. */
static int
tls_channel_result(struct tls_channel *chan, int ret, const char *what,
    struct buf *cipher_out)
{
	int	 error, ssl_error;

	ssl_error = SSL_get_error(chan->ssl, ret);
	error = tls_channel_drain(chan, cipher_out);
	switch (ssl_error) {
	case SSL_ERROR_WANT_READ:
		ERR_clear_error();
		return error;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		chan->is_peer_closed = true;
		return error != 0 ? error : 1;
	default:
		if (error == -ENOMEM)
			return error;
		return tls_channel_fail(chan, what);
	}
}

int
tls_channel_start(struct tls_channel *chan, struct buf *cipher_out)
{
	int	 ret;

	if (chan->is_failed)
		return -EPROTO;
	ERR_clear_error();
	ret = SSL_do_handshake(chan->ssl);
	if (ret == 1) {
		chan->is_established = true;
		return tls_channel_drain(chan, cipher_out);
	}
	return tls_channel_result(chan, ret, "handshake", cipher_out);
}

static int
tls_channel_read_all(struct tls_channel *chan, struct buf *plain_out,
    struct buf *cipher_out)
{
	size_t	 room, n;
	char	*p;
	int	 ret, error;

	for (;;) {
		room = plain_out->max - plain_out->len;
		if (room == 0) {
			/* Backpressure: the rest waits in OpenSSL's buffers. */
			chan->has_unread = true;
			return 0;
		}
		n = room < TLS_READ_CHUNK_BYTES ? room : TLS_READ_CHUNK_BYTES;
		p = buf_reserve(plain_out, n);
		if (p == NULL) {
			chan->is_failed = true;
			return -ENOMEM;
		}
		ERR_clear_error();
		ret = SSL_read_ex(chan->ssl, p, n, &n);
		if (chan->is_renegotiating) {
			snprintf(chan->error, sizeof(chan->error),
			    "renegotiation refused");
			chan->is_failed = true;
			ERR_clear_error();
			(void)tls_channel_drain(chan, cipher_out);
			return -EPROTO;
		}
		if (ret != 1)
			break;
		buf_commit(plain_out, n);
		if ((error = tls_channel_drain(chan, cipher_out)) != 0)
			return error;
	}
	chan->has_unread = false;
	return tls_channel_result(chan, ret, "read", cipher_out);
}

int
tls_channel_feed(struct tls_channel *chan, const char *cipher, size_t len,
    struct buf *plain_out, struct buf *cipher_out)
{
	size_t	 written;
	int	 ret;

	if (chan->is_failed)
		return -EPROTO;
	if (chan->is_peer_closed)
		return 1;
	if (len > 0) {
		/* A memory BIO only fails to grow when memory runs out. */
		if (BIO_write_ex(chan->rbio, cipher, len, &written) != 1 ||
		    written != len) {
			ERR_clear_error();
			chan->is_failed = true;
			return -ENOMEM;
		}
	}
	/* Finish the handshake even while plain_out is full. */
	if (!chan->is_established) {
		ERR_clear_error();
		ret = SSL_do_handshake(chan->ssl);
		if (ret != 1)
			return tls_channel_result(chan, ret, "handshake",
			    cipher_out);
		chan->is_established = true;
	}
	return tls_channel_read_all(chan, plain_out, cipher_out);
}

bool
tls_channel_pending(const struct tls_channel *chan)
{
	return chan->has_unread && !chan->is_failed && !chan->is_peer_closed;
}

bool
tls_channel_handshake_done(const struct tls_channel *chan)
{
	return chan->is_established && !chan->is_failed;
}

int
tls_channel_write(struct tls_channel *chan, const char *plain, size_t len,
    struct buf *cipher_out)
{
	size_t	 written;
	int	 ret;

	if (chan->is_failed)
		return -EPROTO;
	if (!chan->is_established)
		return -EAGAIN;
	if (chan->is_shutdown_sent)
		return -EPIPE;
	if (len == 0)
		return 0;
	/* A memory wbio never pushes back, so this is all or an error. */
	ERR_clear_error();
	ret = SSL_write_ex(chan->ssl, plain, len, &written);
	if (ret != 1)
		return tls_channel_result(chan, ret, "write", cipher_out);
	return tls_channel_drain(chan, cipher_out);
}

int
tls_channel_shutdown(struct tls_channel *chan, struct buf *cipher_out)
{
	int	 ret;

	if (chan->is_failed)
		return -EPROTO;
	if (!chan->is_established)
		return -ENOTCONN;
	if (chan->is_shutdown_sent)
		return 0;
	chan->is_shutdown_sent = true;
	ERR_clear_error();
	/* 0 means "sent, peer's close_notify not seen yet": both are fine. */
	ret = SSL_shutdown(chan->ssl);
	if (ret < 0)
		return tls_channel_result(chan, ret, "shutdown", cipher_out);
	return tls_channel_drain(chan, cipher_out);
}

const char *
tls_channel_version(const struct tls_channel *chan)
{
	if (!chan->is_established)
		return NULL;
	return SSL_get_version(chan->ssl);
}

const char *
tls_channel_cipher(const struct tls_channel *chan)
{
	const SSL_CIPHER	*cipher;

	if (!chan->is_established)
		return NULL;
	cipher = SSL_get_current_cipher(chan->ssl);
	return cipher != NULL ? SSL_CIPHER_get_name(cipher) : NULL;
}

const char *
tls_channel_sni(const struct tls_channel *chan)
{
	return SSL_get_servername(chan->ssl, TLSEXT_NAMETYPE_host_name);
}

const char *
tls_channel_error(const struct tls_channel *chan)
{
	return chan->error;
}
