/* SPDX-License-Identifier: MIT */
/*
 * bearer.h - the SASL message that presents an OAuth2 access token to an
 * IMAP server: XOAUTH2 (Google's and Microsoft's) or OAUTHBEARER (RFC 7628).
 */
#ifndef POPGATE_BEARER_H
#define POPGATE_BEARER_H

#include <stddef.h>

#include "config.h"

/*
 * Builds the initial response for user and token in a new buffer (*msg,
 * *len; the caller wipes and frees it) and names the mechanism (*mech).
 * Returns 0, -ENOMEM, or -ENAMETOOLONG when user cannot be encoded.
 */
int	bearer_message(const struct config_upstream *u, const char *user,
	    const char *token, size_t token_len, unsigned char **msg,
	    size_t *len, const char **mech);

#endif
