/* SPDX-License-Identifier: MIT */
/*
 * tls_setup.c - config TLS profiles -> tls_channel profiles.
 */
#include "tls_setup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tls_channel.h"

static const char *
tls_setup_version(enum config_tls_version v)
{
	switch (v) {
	case CONFIG_TLS_1_0:
		return "TLSv1";
	case CONFIG_TLS_1_1:
		return "TLSv1.1";
	case CONFIG_TLS_1_2:
		return "TLSv1.2";
	case CONFIG_TLS_1_3:
		return "TLSv1.3";
	case CONFIG_TLS_ANY:
		break;
	}
	return NULL;
}

static struct tls_profile *
tls_setup_server(const struct config_tls_profile *p, char *err, size_t errlen)
{
	struct tls_profile_settings	ts;

	tls_profile_settings_init(&ts);
	ts.cert_file = p->cert;
	ts.key_file = p->key;
	ts.min_version = tls_setup_version(p->min_version);
	ts.max_version = tls_setup_version(p->max_version);
	ts.ciphers = p->ciphers[0] != '\0' ? p->ciphers : NULL;
	ts.ciphersuites = p->ciphersuites[0] != '\0' ? p->ciphersuites : NULL;
	ts.security_level = p->security_level;
	return tls_profile_new_server(&ts, err, errlen);
}

/* RFC 8314 sec. 4.1 and the issue: TLS 1.2 minimum, certificate and host
 * name verified unless the admin says verify = no. */
static struct tls_profile *
tls_setup_client(const struct config_upstream *u, char *err, size_t errlen)
{
	struct tls_profile_settings	ts;

	tls_profile_settings_init(&ts);
	ts.min_version = "TLSv1.2";
	ts.ca_file = u->ca_file[0] != '\0' ? u->ca_file : NULL;
	ts.verify_peer = u->verify;
	if (u->client_cert[0] != '\0') {
		ts.cert_file = u->client_cert;
		ts.key_file = u->client_key;
	}
	return tls_profile_new_client(&ts, err, errlen);
}

int
tls_setup_build(struct tls_setup *t, const struct config *c,
    const char *origin, char *err, size_t errlen)
{
	const struct config_tls_profile	*p;
	char				 why[256];
	unsigned int			 i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < c->nlisteners; i++) {
		const struct config_listener	*l = &c->listeners[i];

		if (l->tls == CONFIG_LISTENER_TLS_NONE)
			continue;
		p = config_find_profile(c, l->tls_profile);
		if (p == NULL) {
			snprintf(err, errlen, "%s: [listener %s]: tls_profile %s "
			    "is not defined", origin, l->name, l->tls_profile);
			goto fail;
		}
		t->listener[i] = tls_setup_server(p, why, sizeof(why));
		if (t->listener[i] == NULL) {
			if (p->line > 0)
				snprintf(err, errlen, "%s:%u: [tls_profile %s]: %s",
				    origin, p->line, p->name, why);
			else
				snprintf(err, errlen, "%s: [tls_profile %s]: %s",
				    origin, p->name, why);
			goto fail;
		}
	}
	for (i = 0; i < c->nupstreams; i++) {
		const struct config_upstream	*u = &c->upstreams[i];

		if (u->tls == CONFIG_UPSTREAM_PLAIN)
			continue;
		t->upstream[i] = tls_setup_client(u, why, sizeof(why));
		if (t->upstream[i] == NULL) {
			snprintf(err, errlen, "%s: [upstream %s]: %s", origin,
			    u->name, why);
			goto fail;
		}
	}
	return 0;
fail:
	tls_setup_free(t);
	return -EINVAL;
}

void
tls_setup_free(struct tls_setup *t)
{
	unsigned int	i;

	for (i = 0; i < CONFIG_MAX_LISTENERS; i++) {
		tls_profile_free(t->listener[i]);
		t->listener[i] = NULL;
	}
	for (i = 0; i < CONFIG_MAX_UPSTREAMS; i++) {
		tls_profile_free(t->upstream[i]);
		t->upstream[i] = NULL;
	}
}
