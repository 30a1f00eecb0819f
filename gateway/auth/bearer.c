/* SPDX-License-Identifier: MIT */
/*
 * bearer.c - XOAUTH2 and OAUTHBEARER initial responses.
 */
#include "bearer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 7628 sec. 3.1 saslname: ',' and '=' escaped. 0 if it does not fit. */
static size_t
bearer_saslname(char *dst, size_t size, const char *user)
{
	size_t	n = 0;

	for (; *user != '\0'; user++) {
		const char	*esc = *user == ',' ? "=2C" :
		    *user == '=' ? "=3D" : NULL;
		size_t		 k = esc != NULL ? 3 : 1;

		if (n + k >= size)
			return 0;
		if (esc != NULL)
			memcpy(dst + n, esc, 3);
		else
			dst[n] = *user;
		n += k;
	}
	dst[n] = '\0';
	return n;
}

/*
 * XOAUTH2 unless the upstream says sasl = oauthbearer: it is what Microsoft
 * and Google document for IMAP, and Dovecot takes both.
 */
int
bearer_message(const struct config_upstream *u, const char *user,
    const char *token, size_t token_len, unsigned char **msg, size_t *len,
    const char **mech)
{
	char		 name[3 * 256];
	unsigned char	*m;
	size_t		 cap;
	int		 n;
	bool		 oauthbearer = u->bearer == CONFIG_BEARER_OAUTHBEARER;

	if (oauthbearer && bearer_saslname(name, sizeof(name), user) == 0)
		return -ENAMETOOLONG;
	cap = token_len + strlen(user) * 3 + CONFIG_MAX_HOST + 64;
	if ((m = malloc(cap)) == NULL)
		return -ENOMEM;
	if (oauthbearer)
		n = snprintf((char *)m, cap, "n,a=%s,\001host=%s\001port=%s"
		    "\001auth=Bearer ", name, u->host, u->port);
	else
		n = snprintf((char *)m, cap, "user=%s\001auth=Bearer ", user);
	if (n < 0 || (size_t)n + token_len + 2 >= cap) {
		free(m);
		return -ENAMETOOLONG;
	}
	memcpy(m + n, token, token_len);
	*len = (size_t)n + token_len;
	m[(*len)++] = '\001';
	m[(*len)++] = '\001';
	*msg = m;
	*mech = oauthbearer ? "OAUTHBEARER" : "XOAUTH2";
	return 0;
}
