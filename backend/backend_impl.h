/* SPDX-License-Identifier: MIT */
/*
 * backend_impl.h - what a kind of upstream provides behind backend.h: one
 * ops table, and a struct backend at the start of its own object. Only the
 * implementations and backend.c include it.
 */
#ifndef POPGATE_BACKEND_IMPL_H
#define POPGATE_BACKEND_IMPL_H

#include "backend.h"

/* One slot per request of backend.h, with the same contract. */
struct backend_ops {
	void	(*login)(struct backend *b, const char *user,
		    const char *password, size_t password_len);
	void	(*login_sasl)(struct backend *b, const char *mech,
		    const char *user, const unsigned char *msg, size_t len);
	void	(*probe)(struct backend *b);
	bool	(*is_ready)(const struct backend *b);
	bool	(*is_read_only)(const struct backend *b);
	void	(*lock_done)(struct backend *b, enum backend_result result);
	bool	(*tls_info)(const struct backend *b, const char **version,
		    const char **cipher);
	void	(*fetch)(struct backend *b, uint32_t uid, uint64_t size,
		    bool is_top, size_t low_water, uint32_t ahead_uid,
		    uint64_t ahead_size);
	void	(*resume)(struct backend *b);
	void	(*fetch_stop)(struct backend *b);
	void	(*commit)(struct backend *b, const struct pop3_maildrop *md,
		    const struct backend_policy *policy);
	void	(*close)(struct backend *b, const struct pop3_maildrop *md);
	void	(*abort)(struct backend *b);
};

struct backend {
	const struct backend_ops	*ops;
	const struct backend_callbacks	*cb;	/* the owner's */
	void				*arg;
};

/* imap_backend.c */
struct backend *imap_backend_new(uv_loop_t *loop,
	    const struct backend_config *config,
	    const struct backend_callbacks *cb, void *arg);

#endif
