/* SPDX-License-Identifier: MIT */
/*
 * upstream_caps.c - per-upstream SASL mechanisms: written by every login
 * and start-up probe on any worker, read when a session sets what it may
 * offer.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"
#include "upstream_caps.h"

_Static_assert(CONFIG_MAX_UPSTREAMS <= 32, "relayable is a 32-bit mask");

#define UPSTREAM_CAPS_BEARER \
	((1u << SASL_MECH_XOAUTH2) | (1u << SASL_MECH_OAUTHBEARER))
#define UPSTREAM_CAPS_PASSWORD \
	((1u << SASL_MECH_PLAIN) | (1u << SASL_MECH_LOGIN))

/*
 * One table per struct upstream_caps, which main builds and hands to the
 * workers (struct shared). An entry keeps the URL
 * it was read from: after a reload the same index may name another
 * server, whose mechanisms are then unknown until read.
 */
struct upstream_caps_entry {
	char		 url[sizeof(((struct config_upstream *)0)->url)];
	unsigned int	 mechs;
};

struct upstream_caps {
	pthread_mutex_t			mutex;
	struct upstream_caps_entry	table[CONFIG_MAX_UPSTREAMS];
};

struct upstream_caps *
upstream_caps_new(void)
{
	struct upstream_caps	*uc;

	if ((uc = calloc(1, sizeof(*uc))) == NULL)
		return NULL;
	if (pthread_mutex_init(&uc->mutex, NULL) != 0) {
		free(uc);
		return NULL;
	}
	return uc;
}

void
upstream_caps_free(struct upstream_caps *uc)
{
	if (uc == NULL)
		return;
	pthread_mutex_destroy(&uc->mutex);
	free(uc);
}

static unsigned int
upstream_caps_locked(struct upstream_caps *uc, const struct config *c,
    unsigned int index)
{
	const struct upstream_caps_entry	*e = &uc->table[index];

	if (e->mechs == 0 || strcmp(e->url, c->upstreams[index].url) != 0)
		return 0;
	return e->mechs;
}

void
upstream_caps_set(struct upstream_caps *uc, const struct config *c,
    unsigned int index, unsigned int mechs)
{
	struct upstream_caps_entry	*e;

	if (index >= c->nupstreams)
		return;
	e = &uc->table[index];
	pthread_mutex_lock(&uc->mutex);
	snprintf(e->url, sizeof(e->url), "%s", c->upstreams[index].url);
	e->mechs = mechs | UPSTREAM_CAPS_KNOWN;
	pthread_mutex_unlock(&uc->mutex);
}

unsigned int
upstream_caps_get(struct upstream_caps *uc, const struct config *c,
    unsigned int index)
{
	unsigned int	m;

	if (index >= c->nupstreams)
		return 0;
	pthread_mutex_lock(&uc->mutex);
	m = upstream_caps_locked(uc, c, index);
	pthread_mutex_unlock(&uc->mutex);
	return m;
}

/* Adds the upstream a route names, if pass-through logins may go there. */
static void
upstream_caps_add(const struct config *c, const char *name, uint32_t *mask)
{
	const struct config_upstream	*u = config_find_upstream(c, name);

	if (u != NULL && u->passthrough)
		*mask |= 1u << (unsigned int)(u - c->upstreams);
}

/* The upstreams config_route() can return: each route's, or "default"
 * without a [routes] section. */
uint32_t
upstream_caps_relayable(const struct config *c)
{
	uint32_t	mask = 0;
	unsigned int	i;

	if (c->nroutes == 0)
		upstream_caps_add(c, "default", &mask);
	for (i = 0; i < c->nroutes; i++)
		upstream_caps_add(c, c->routes[i].upstream, &mask);
	return mask;
}

void
upstream_caps_sasl(struct upstream_caps *uc, const struct config *c,
    uint32_t relayable, unsigned int *listed, unsigned int *accepted)
{
	unsigned int	all = UPSTREAM_CAPS_BEARER, any = 0, m, i;
	bool		password = relayable == 0;

	pthread_mutex_lock(&uc->mutex);
	for (i = 0; i < c->nupstreams; i++) {
		if (!(relayable & (1u << i)))
			continue;
		m = upstream_caps_locked(uc, c, i);
		/* Until its list was read, an upstream offers no bearer
		 * mechanism and may take a password. */
		all &= m;
		any |= m & UPSTREAM_CAPS_BEARER;
		if (m == 0 || (m & UPSTREAM_CAPS_PASSWORD))
			password = true;
	}
	pthread_mutex_unlock(&uc->mutex);
	if (relayable == 0)
		all = 0;
	*listed = (all & UPSTREAM_CAPS_BEARER) |
	    (password ? UPSTREAM_CAPS_PASSWORD : 0);
	*accepted = *listed | any;
}

void
upstream_caps_reset(struct upstream_caps *uc)
{
	pthread_mutex_lock(&uc->mutex);
	memset(uc->table, 0, sizeof(uc->table));
	pthread_mutex_unlock(&uc->mutex);
}
