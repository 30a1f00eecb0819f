/* SPDX-License-Identifier: MIT */
/*
 * tls_channel.h - TLS as a byte transformer over two memory BIOs, for the
 * POP3 listeners and the IMAP upstream alike. Never sees a socket.
 */
#ifndef POPGATE_TLS_CHANNEL_H
#define POPGATE_TLS_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/*
 * Settings a profile is built from; borrowed only during
 * tls_profile_new_*(). Start from tls_profile_settings_init().
 *  - cert_file/key_file: PEM chain and key; required on the server side,
 *    optional (client certificate) on the client side.
 *  - min_version/max_version: "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3";
 *    NULL means TLSv1.2 for min and "highest supported" for max.
 *  - ciphers (TLS <= 1.2) and ciphersuites (TLS 1.3): OpenSSL syntax, NULL
 *    keeps the default. With security_level 0 and no cipher list,
 *    "DEFAULT:@SECLEVEL=0" is used, which TLS 1.0/1.1 need on OpenSSL 3.
 *  - security_level: 0-5, or -1 for the OpenSSL default.
 *  - ca_file: client side trust anchors; NULL uses the system store.
 *  - verify_peer: client side; verify the server certificate (and its
 *    host name when the channel is given one). Ignored on the server side.
 */
struct tls_profile_settings {
	const char	*cert_file;
	const char	*key_file;
	const char	*min_version;
	const char	*max_version;
	const char	*ciphers;
	const char	*ciphersuites;
	int		 security_level;
	const char	*ca_file;
	bool		 verify_peer;
};

struct tls_profile;
struct tls_channel;

/* Fills in the defaults: everything NULL, security_level -1, verify on. */
void	tls_profile_settings_init(struct tls_profile_settings *settings);

/*
 * Build an immutable profile (an SSL_CTX). On failure return NULL and write
 * a one-line reason naming the file or setting, with the OpenSSL reason,
 * into err (errlen bytes, always NUL-terminated when errlen > 0). A profile
 * may be shared by any number of channels on one thread.
 */
struct tls_profile	*tls_profile_new_server(
			    const struct tls_profile_settings *settings,
			    char *err, size_t errlen);
struct tls_profile	*tls_profile_new_client(
			    const struct tls_profile_settings *settings,
			    char *err, size_t errlen);
/* NULL is a no-op. Channels made from the profile stay valid: each one holds
 * its own reference to the OpenSSL context. */
void	tls_profile_free(struct tls_profile *profile);

/*
 * New channels, or NULL when memory runs out. server_name (copied; NULL
 * allowed) is sent as SNI unless it is an IP literal, and is the name the
 * certificate must match when the profile verifies.
 */
struct tls_channel	*tls_channel_new_server(struct tls_profile *profile);
struct tls_channel	*tls_channel_new_client(struct tls_profile *profile,
			    const char *server_name);
/* NULL is a no-op. Sends nothing: call tls_channel_shutdown() first for an
 * orderly close. */
void	tls_channel_free(struct tls_channel *chan);

/*
 * Client side: appends the ClientHello to cipher_out. The server side
 * starts on its first tls_channel_feed(). Returns 0 or a negative errno as
 * tls_channel_feed() does.
 */
int	tls_channel_start(struct tls_channel *chan, struct buf *cipher_out);

/*
 * Feeds len bytes of ciphertext read from the socket (cipher may be NULL
 * when len is 0). Decrypted application data is appended to plain_out, and
 * any ciphertext OpenSSL wants to send (handshake, alerts) to cipher_out.
 * Returns:
 *   0		progress made, or more input needed;
 *   1		the peer sent close_notify (again on every later call);
 *   -EPROTO	TLS failure, including a refused certificate or a
 *		renegotiation attempt; tls_channel_error() says why, and an
 *		alert for the peer may have been appended to cipher_out;
 *   -ENOBUFS	cipher_out cannot take the ciphertext produced;
 *   -ENOMEM	out of memory.
 * Every error is final: later calls return -EPROTO.
 * Backpressure: when plain_out reaches its max, reading stops and the rest
 * stays inside the channel; nothing is lost. tls_channel_pending() then
 * returns true, and the caller calls tls_channel_feed(chan, NULL, 0, ...)
 * again once it has consumed from plain_out.
 */
int	tls_channel_feed(struct tls_channel *chan, const char *cipher,
	    size_t len, struct buf *plain_out, struct buf *cipher_out);

/* True when plaintext may be waiting that a feed without new input would
 * deliver, i.e. the last feed stopped because plain_out was full. */
bool	tls_channel_pending(const struct tls_channel *chan);

/* True once the handshake completed (and the certificate was accepted). */
bool	tls_channel_handshake_done(const struct tls_channel *chan);

/*
 * Encrypts len bytes of application data, all or nothing, and appends the
 * records to cipher_out. Nothing is queued inside the channel: before the
 * handshake completed it returns -EAGAIN and the caller keeps its data.
 * Otherwise 0, -EPIPE after close_notify was sent, or -EPROTO, -ENOBUFS,
 * -ENOMEM as for tls_channel_feed().
 */
int	tls_channel_write(struct tls_channel *chan, const char *plain,
	    size_t len, struct buf *cipher_out);

/*
 * Appends a close_notify alert to cipher_out. Returns 0, -ENOTCONN when the
 * handshake has not completed (just close the socket), or an error as for
 * tls_channel_feed(). Repeated calls send nothing more.
 */
int	tls_channel_shutdown(struct tls_channel *chan,
	    struct buf *cipher_out);

/*
 * For logs; borrowed strings valid until tls_channel_free(). Version is
 * "TLSv1" ... "TLSv1.3" and cipher the OpenSSL name, both NULL before the
 * handshake completed. sni is the name the client asked for (server side)
 * or the one sent (client side), or NULL. error is the reason of the
 * failure (OpenSSL reason or certificate verification result; never key
 * material), or "" when there was none.
 */
const char	*tls_channel_version(const struct tls_channel *chan);
const char	*tls_channel_cipher(const struct tls_channel *chan);
const char	*tls_channel_sni(const struct tls_channel *chan);
const char	*tls_channel_error(const struct tls_channel *chan);

#endif
