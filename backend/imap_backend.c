/* SPDX-License-Identifier: MIT */
/*
 * imap_backend.c - the IMAP client behind backend.h. Requests go straight
 * to imap_client.h; its callbacks come back here, are put in the backend's
 * terms and passed on. Body data passes through as the client hands it
 * over: one more call per chunk, no copy.
 */
#include <stdlib.h>

#include "backend_impl.h"
#include "imap_client.h"

struct imap_backend {
	struct backend		 b;	/* first: what the owner holds */
	struct imap_client	*c;
};

#define IB(x)	((struct imap_backend *)(void *)(x))
#define CIB(x)	((const struct imap_backend *)(const void *)(x))

static enum backend_result
imap_backend_result(enum imap_result r)
{
	static const enum backend_result	map[] = {
		[IMAP_OK] = BACKEND_OK,
		[IMAP_ERR_AUTH] = BACKEND_ERR_AUTH,
		[IMAP_ERR_TEMP] = BACKEND_ERR_TEMP,
		[IMAP_ERR_PERM] = BACKEND_ERR_PERM,
		[IMAP_ERR_IN_USE] = BACKEND_ERR_IN_USE,
		[IMAP_ERR_GONE] = BACKEND_ERR_GONE,
	};
	_Static_assert(sizeof(map) / sizeof(map[0]) == IMAP_RESULT_COUNT,
	    "every IMAP result needs a backend result");

	return map[r];
}

/* ---- the client's callbacks, passed on ---- */

static void
ib_login_done(void *arg, enum imap_result r, struct pop3_maildrop *md,
    const char *detail)
{
	struct backend	*b = arg;

	if (b->cb->login_done != NULL)
		b->cb->login_done(b->arg, imap_backend_result(r), md, detail);
}

static void
ib_lock(void *arg, const char *identity)
{
	struct backend	*b = arg;

	if (b->cb->lock == NULL)
		imap_client_lock_done(IB(b)->c, IMAP_OK);
	else
		b->cb->lock(b->arg, identity);
}

static void
ib_body_begin(void *arg)
{
	struct backend	*b = arg;

	b->cb->body_begin(b->arg);
}

static int
ib_body_data(void *arg, const char *data, size_t len)
{
	struct backend	*b = arg;

	return b->cb->body_data(b->arg, data, len);
}

static void
ib_body_end(void *arg, enum imap_result r, const char *detail)
{
	struct backend	*b = arg;

	b->cb->body_end(b->arg, imap_backend_result(r), detail);
}

static size_t
ib_client_backlog(void *arg)
{
	struct backend	*b = arg;

	return b->cb->client_backlog != NULL ?
	    b->cb->client_backlog(b->arg) : 0;
}

static void
ib_expunged(void *arg, uint32_t uid)
{
	struct backend	*b = arg;

	if (b->cb->expunged != NULL)
		b->cb->expunged(b->arg, uid);
}

static void
ib_commit_done(void *arg, enum imap_result r, const char *detail)
{
	struct backend	*b = arg;

	b->cb->commit_done(b->arg, imap_backend_result(r), detail);
}

static void
ib_lost(void *arg, const char *detail)
{
	struct backend	*b = arg;

	if (b->cb->lost != NULL)
		b->cb->lost(b->arg, detail);
}

/* The client frees itself after this returns; its wrapper goes now. */
static void
ib_closed(void *arg, struct imap_client *c)
{
	struct backend	*b = arg;

	(void)c;
	if (b->cb->closed != NULL)
		b->cb->closed(b->arg, b);
	free(IB(b));
}

static void
ib_timing(void *arg, enum imap_stage stage, uint64_t usec)
{
	static const enum backend_stage	map[] = {
		[IMAP_STAGE_CONNECT] = BACKEND_STAGE_CONNECT,
		[IMAP_STAGE_LOGIN] = BACKEND_STAGE_LOGIN,
		[IMAP_STAGE_FIRST_BYTE] = BACKEND_STAGE_FIRST_BYTE,
	};
	struct backend			*b = arg;

	if (b->cb->timing != NULL)
		b->cb->timing(b->arg, map[stage], usec);
}

static void
ib_failed(void *arg, enum imap_fail_class why)
{
	static const enum backend_fail_class	map[] = {
		[IMAP_FAIL_CONNECT] = BACKEND_FAIL_CONNECT,
		[IMAP_FAIL_TLS] = BACKEND_FAIL_TLS,
		[IMAP_FAIL_TIMEOUT] = BACKEND_FAIL_TIMEOUT,
		[IMAP_FAIL_PROTOCOL] = BACKEND_FAIL_PROTOCOL,
		[IMAP_FAIL_CLOSED] = BACKEND_FAIL_CLOSED,
	};
	struct backend				*b = arg;

	if (b->cb->failed != NULL)
		b->cb->failed(b->arg, map[why]);
}

static void
ib_body_dropped(void *arg, uint32_t uid, uint32_t got, const char *why)
{
	struct backend	*b = arg;

	if (b->cb->body_dropped != NULL)
		b->cb->body_dropped(b->arg, uid, got, why);
}

static void
ib_caps(void *arg, unsigned int mechs)
{
	struct backend	*b = arg;

	if (b->cb->caps != NULL)
		b->cb->caps(b->arg, mechs);
}

static bool
ib_pending(void *arg, uint32_t *uidvalidity, uint32_t **uids, uint32_t *n)
{
	struct backend	*b = arg;

	return b->cb->pending != NULL &&
	    b->cb->pending(b->arg, uidvalidity, uids, n);
}

static void
ib_resumed(void *arg, enum imap_result r, uint32_t n, const char *detail)
{
	struct backend	*b = arg;

	if (b->cb->resumed != NULL)
		b->cb->resumed(b->arg, imap_backend_result(r), n, detail);
}

static const struct imap_client_callbacks imap_backend_callbacks = {
	.login_done = ib_login_done,
	.lock = ib_lock,
	.body_begin = ib_body_begin,
	.body_data = ib_body_data,
	.body_end = ib_body_end,
	.client_backlog = ib_client_backlog,
	.expunged = ib_expunged,
	.commit_done = ib_commit_done,
	.lost = ib_lost,
	.closed = ib_closed,
	.timing = ib_timing,
	.failed = ib_failed,
	.body_dropped = ib_body_dropped,
	.caps = ib_caps,
	.pending = ib_pending,
	.resumed = ib_resumed,
};

/* ---- requests ---- */

static void
ib_login(struct backend *b, const char *user, const char *password,
    size_t password_len)
{
	imap_client_login(IB(b)->c, user, password, password_len);
}

static void
ib_login_sasl(struct backend *b, const char *mech, const char *user,
    const unsigned char *msg, size_t len)
{
	imap_client_login_sasl(IB(b)->c, mech, user, msg, len);
}

static void
ib_probe(struct backend *b)
{
	imap_client_probe(IB(b)->c);
}

static bool
ib_is_ready(const struct backend *b)
{
	return imap_client_is_ready(CIB(b)->c);
}

static bool
ib_is_read_only(const struct backend *b)
{
	return imap_client_is_read_only(CIB(b)->c);
}

static void
ib_lock_done(struct backend *b, enum backend_result r)
{
	imap_client_lock_done(IB(b)->c, r == BACKEND_OK ? IMAP_OK :
	    r == BACKEND_ERR_IN_USE ? IMAP_ERR_IN_USE : IMAP_ERR_TEMP);
}

static bool
ib_tls_info(const struct backend *b, const char **version,
    const char **cipher)
{
	return imap_client_tls_info(CIB(b)->c, version, cipher);
}

static void
ib_fetch(struct backend *b, uint32_t uid, uint64_t size, bool is_top,
    size_t low_water, uint32_t ahead_uid, uint64_t ahead_size)
{
	imap_client_fetch(IB(b)->c, uid, size, is_top, low_water, ahead_uid,
	    ahead_size);
}

static void
ib_resume(struct backend *b)
{
	imap_client_resume(IB(b)->c);
}

static void
ib_fetch_stop(struct backend *b)
{
	imap_client_fetch_stop(IB(b)->c);
}

/* Each deletion mode of struct backend_policy in IMAP terms
 * (doc/imap-mapping.md sec. 10-11). */
static void
ib_commit(struct backend *b, const struct pop3_maildrop *md,
    const struct backend_policy *policy)
{
	switch (policy->mode) {
	case BACKEND_DELETE_EXPUNGE:
		imap_client_commit(IB(b)->c, md);
		break;
	}
}

static void
ib_close(struct backend *b, const struct pop3_maildrop *md)
{
	imap_client_close(IB(b)->c, md);
}

static void
ib_abort(struct backend *b)
{
	imap_client_abort(IB(b)->c);
}

static const struct backend_ops imap_backend_ops = {
	.login = ib_login,
	.login_sasl = ib_login_sasl,
	.probe = ib_probe,
	.is_ready = ib_is_ready,
	.is_read_only = ib_is_read_only,
	.lock_done = ib_lock_done,
	.tls_info = ib_tls_info,
	.fetch = ib_fetch,
	.resume = ib_resume,
	.fetch_stop = ib_fetch_stop,
	.commit = ib_commit,
	.close = ib_close,
	.abort = ib_abort,
};

struct backend *
imap_backend_new(uv_loop_t *loop, const struct backend_config *config,
    const struct backend_callbacks *cb, void *arg)
{
	static const enum imap_tls_mode	 modes[] = {
		[BACKEND_TLS_NONE] = IMAP_TLS_NONE,
		[BACKEND_TLS_IMPLICIT] = IMAP_TLS_IMPLICIT,
		[BACKEND_TLS_STARTTLS] = IMAP_TLS_STARTTLS,
	};
	struct imap_client_config	 ic = {
		.host = config->host,
		.port = config->port,
		.mailbox = config->mailbox,
		.connect_timeout_ms = config->connect_timeout_ms,
		.command_timeout_ms = config->command_timeout_ms,
		.chunk_octets = config->chunk_octets,
		.window = config->window,
		.seen_on_retr = config->seen_on_retr,
		.fetch_ahead = config->fetch_ahead,
		.tls_mode = modes[config->tls],
		.tls_profile = config->tls_profile,
		.tls_server_name = config->tls_server_name,
	};
	struct imap_backend		*ib;

	if ((ib = calloc(1, sizeof(*ib))) == NULL)
		return NULL;
	ib->b.ops = &imap_backend_ops;
	ib->b.cb = cb;
	ib->b.arg = arg;
	ib->c = imap_client_new(loop, &ic, &imap_backend_callbacks, &ib->b);
	if (ib->c == NULL) {
		free(ib);
		return NULL;
	}
	return &ib->b;
}
