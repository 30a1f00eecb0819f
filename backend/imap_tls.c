/* SPDX-License-Identifier: MIT */
/*
 * imap_tls.c - the upstream TLS transport (doc/libetpan.md sec. 8):
 * net/tls_channel between the socket and the framer. Ciphertext read
 * from the socket is decrypted into a bounded buffer and copied into the
 * framer; commands are sealed from the command queue and written by
 * net/stream.c, as cleartext is.
 * Implicit TLS starts right after the TCP connect; STARTTLS (imap_login.c)
 * starts it after the tagged OK. Certificate checks are the profile's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imap_client_int.h"
#include "tls_channel.h"

/* The channel's reason, without the step it prefixes (our detail says
 * "handshake" already). Never key material. */
static const char *
imap_tls_reason(const struct imap_client *c)
{
	static const char	 prefix[] = "handshake: ";
	const char		*e = tls_channel_error(c->tls);

	if (strncmp(e, prefix, sizeof(prefix) - 1) == 0)
		e += sizeof(prefix) - 1;
	return e[0] != '\0' ? e : "unknown error";
}

/* Every TLS failure is temporary for the POP3 client; the log gets the
 * reason, e.g. "certificate verify failed: hostname mismatch". */
void
imap_tls_fail(struct imap_client *c, int error)
{
	c->fail_detail = error == -ENOMEM ? "out of memory" :
	    imap_tls_reason(c);
	imap_client_fail_as(c, IMAP_FAIL_TLS, IMAP_ERR_TEMP, c->tls_up ?
	    "upstream TLS error" :
	    "upstream TLS handshake failed");
}

bool
imap_tls_handshaking(const struct imap_client *c)
{
	return c->tls != NULL && !c->tls_up;
}

bool
imap_tls_begin(struct imap_client *c)
{
	const char	*name = c->config.tls_server_name != NULL ?
			    c->config.tls_server_name : c->config.host;
	int		 r;

	c->tls_rbuf = malloc(IMAP_READ_OCTETS);
	c->tls = tls_channel_new_client(c->config.tls_profile, name);
	if (c->tls_rbuf == NULL || c->tls == NULL) {
		imap_client_fail(c, IMAP_ERR_TEMP, "out of memory");
		return false;
	}
	r = stream_start_tls(&c->wr, c->tls, true);
	if (r < 0) {
		imap_tls_fail(c, r);
		return false;
	}
	imap_client_flush(c);
	return c->phase != IMAP_PHASE_CLOSING;
}

/* Moves decrypted bytes into the framer, dispatching as responses
 * complete. The framer's limit is the plain path's: when it cannot take
 * more even after a dispatch, the response is too large. */
static bool
imap_tls_deliver(struct imap_client *c)
{
	size_t	 room;
	char	*p;

	while (c->tls_plain.len > 0) {
		if (c->phase == IMAP_PHASE_CLOSING)
			return false;
		p = imap_frame_reserve(&c->frame, c->tls_plain.len, &room);
		if (p == NULL) {
			imap_client_fail(c, IMAP_ERR_TEMP,
			    "upstream response too large");
			return false;
		}
		memcpy(p, c->tls_plain.data, room);
		imap_frame_commit(&c->frame, room);
		buf_consume(&c->tls_plain, room);
		imap_client_dispatch(c);
	}
	return c->phase != IMAP_PHASE_CLOSING;
}

void
imap_tls_on_read(struct imap_client *c, const char *data, size_t len)
{
	int	r;

	if (c->ncmds > 0)
		imap_client_arm_timer(c);
	r = stream_tls_feed(&c->wr, data, len, &c->tls_plain);
	for (;;) {
		if (r < 0) {
			imap_tls_fail(c, r);
			return;
		}
		if (!c->tls_up && tls_channel_handshake_done(c->tls)) {
			c->tls_up = true;
			if (c->phase == IMAP_PHASE_STARTTLS)
				imap_client_on_tls_up(c);
			if (c->phase == IMAP_PHASE_CLOSING)
				return;
		}
		if (!imap_tls_deliver(c))
			return;
		/* Backpressure: what did not fit waits inside the channel. */
		if (r == 1 || !tls_channel_pending(c->tls))
			break;
		r = stream_tls_feed(&c->wr, NULL, 0, &c->tls_plain);
	}
	if (r == 1) {
		/* close_notify: as an EOF (after LOGOUT, the normal end). */
		c->read_eof = true;
		uv_read_stop((uv_stream_t *)&c->tcp);
		imap_client_fail(c, IMAP_ERR_TEMP,
		    "upstream closed the connection");
		return;
	}
	imap_client_flush(c);	/* handshake messages, alerts */
}

void
imap_tls_free(struct imap_client *c)
{
	tls_channel_free(c->tls);
	c->tls = NULL;
	free(c->tls_rbuf);
	c->tls_rbuf = NULL;
	buf_deinit(&c->tls_plain);
}

bool
imap_client_tls_info(const struct imap_client *c, const char **version,
    const char **cipher)
{
	const char	*v, *ci;

	if (c->tls == NULL || !c->tls_up)
		return false;
	v = tls_channel_version(c->tls);
	ci = tls_channel_cipher(c->tls);
	if (v == NULL)
		return false;
	if (version != NULL)
		*version = v;
	if (cipher != NULL)
		*cipher = ci != NULL ? ci : "";
	return true;
}
