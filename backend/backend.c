/* SPDX-License-Identifier: MIT */
/*
 * backend.c - the one door to every kind of upstream: picks the ops at
 * creation, then passes each request to them.
 */
#include "backend_impl.h"

struct backend *
backend_new(uv_loop_t *loop, const struct backend_config *config,
    const struct backend_callbacks *cb, void *arg)
{
	switch (config->kind) {
	case BACKEND_IMAP:
		return imap_backend_new(loop, config, cb, arg);
	}
	return NULL;
}

void
backend_login(struct backend *b, const char *user, const char *password,
    size_t password_len)
{
	b->ops->login(b, user, password, password_len);
}

void
backend_login_sasl(struct backend *b, const char *mech, const char *user,
    const unsigned char *msg, size_t len)
{
	b->ops->login_sasl(b, mech, user, msg, len);
}

void
backend_probe(struct backend *b)
{
	b->ops->probe(b);
}

bool
backend_is_ready(const struct backend *b)
{
	return b->ops->is_ready(b);
}

bool
backend_is_read_only(const struct backend *b)
{
	return b->ops->is_read_only(b);
}

void
backend_lock_done(struct backend *b, enum backend_result result)
{
	b->ops->lock_done(b, result);
}

bool
backend_tls_info(const struct backend *b, const char **version,
    const char **cipher)
{
	return b->ops->tls_info(b, version, cipher);
}

void
backend_fetch(struct backend *b, uint32_t uid, uint64_t size, bool is_top,
    size_t low_water, uint32_t ahead_uid, uint64_t ahead_size)
{
	b->ops->fetch(b, uid, size, is_top, low_water, ahead_uid, ahead_size);
}

void
backend_resume(struct backend *b)
{
	b->ops->resume(b);
}

void
backend_fetch_stop(struct backend *b)
{
	b->ops->fetch_stop(b);
}

void
backend_commit(struct backend *b, const struct pop3_maildrop *md,
    const struct backend_policy *policy)
{
	b->ops->commit(b, md, policy);
}

void
backend_close(struct backend *b, const struct pop3_maildrop *md)
{
	b->ops->close(b, md);
}

void
backend_abort(struct backend *b)
{
	b->ops->abort(b);
}

const char *
backend_result_name(enum backend_result result)
{
	static const char *const names[] = {
		[BACKEND_OK] = "ok",
		[BACKEND_ERR_AUTH] = "auth",
		[BACKEND_ERR_TEMP] = "temp",
		[BACKEND_ERR_PERM] = "perm",
		[BACKEND_ERR_IN_USE] = "in-use",
		[BACKEND_ERR_GONE] = "gone",
	};
	_Static_assert(sizeof(names) / sizeof(names[0]) ==
	    BACKEND_RESULT_COUNT, "every result needs a name");

	return (unsigned int)result < BACKEND_RESULT_COUNT ? names[result] :
	    "?";
}
