/* SPDX-License-Identifier: MIT */
/*
 * tls_setup.h - the TLS profiles a worker needs, built from the config:
 * one server profile per TLS listener and the upstream client profile.
 * Each worker builds its own set, so no OpenSSL context is shared between
 * threads; main builds one set up front so that -t and start-up report a
 * bad certificate or key with its file name.
 */
#ifndef POPGATE_TLS_SETUP_H
#define POPGATE_TLS_SETUP_H

#include <stddef.h>

#include "config.h"

struct tls_profile;

struct tls_setup {
	/* per config listener, NULL when the listener has no TLS */
	struct tls_profile	*listener[CONFIG_MAX_LISTENERS];
	/* per config upstream, NULL for a plain imap:// one */
	struct tls_profile	*upstream[CONFIG_MAX_UPSTREAMS];
};

/* Builds every profile. Returns 0, or -EINVAL with "ORIGIN[:LINE]: where:
 * why" in err (nothing is left allocated then). origin is the config file
 * name or "command line". */
int	tls_setup_build(struct tls_setup *t, const struct config *c,
	    const char *origin, char *err, size_t errlen);
void	tls_setup_free(struct tls_setup *t);

#endif
