/* SPDX-License-Identifier: MIT */
/*
 * upstream_caps.c - per-upstream SASL mechanisms: written by every login
 * and start-up probe on any worker, read when a session sets what it may
 * offer.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sasl.h"
#include "upstream_caps.h"

_Static_assert(CONFIG_MAX_UPSTREAMS <= 32, "relayable is a 32-bit mask");

#define UPSTREAM_CAPS_BEARER \
	((1u << SASL_MECH_XOAUTH2) | (1u << SASL_MECH_OAUTHBEARER))
#define UPSTREAM_CAPS_PASSWORD \
	((1u << SASL_MECH_PLAIN) | (1u << SASL_MECH_LOGIN))

/*
 * One table for the process, a global for now; it is meant to move into
 * the state main builds and hands to the workers. An entry keeps the URL
 * it was read from: after a reload the same index may name another
 * server, whose mechanisms are then unknown until read.
 */
struct upstream_caps_entry {
	char		 url[sizeof(((struct config_upstream *)0)->url)];
	unsigned int	 mechs;
};

static pthread_mutex_t			upstream_caps_mutex =
    PTHREAD_MUTEX_INITIALIZER;
static struct upstream_caps_entry	upstream_caps_table[CONFIG_MAX_UPSTREAMS];

static unsigned int
upstream_caps_locked(const struct config *c, unsigned int index)
{
	const struct upstream_caps_entry	*e = &upstream_caps_table[index];

	if (e->mechs == 0 || strcmp(e->url, c->upstreams[index].url) != 0)
		return 0;
	return e->mechs;
}

void
upstream_caps_set(const struct config *c, unsigned int index,
    unsigned int mechs)
{
	struct upstream_caps_entry	*e;

	if (index >= c->nupstreams)
		return;
	e = &upstream_caps_table[index];
	pthread_mutex_lock(&upstream_caps_mutex);
	snprintf(e->url, sizeof(e->url), "%s", c->upstreams[index].url);
	e->mechs = mechs | UPSTREAM_CAPS_KNOWN;
	pthread_mutex_unlock(&upstream_caps_mutex);
}

unsigned int
upstream_caps_get(const struct config *c, unsigned int index)
{
	unsigned int	m;

	if (index >= c->nupstreams)
		return 0;
	pthread_mutex_lock(&upstream_caps_mutex);
	m = upstream_caps_locked(c, index);
	pthread_mutex_unlock(&upstream_caps_mutex);
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
upstream_caps_sasl(const struct config *c, uint32_t relayable,
    unsigned int *listed, unsigned int *accepted)
{
	unsigned int	all = UPSTREAM_CAPS_BEARER, any = 0, m, i;
	bool		password = relayable == 0;

	pthread_mutex_lock(&upstream_caps_mutex);
	for (i = 0; i < c->nupstreams; i++) {
		if (!(relayable & (1u << i)))
			continue;
		m = upstream_caps_locked(c, i);
		/* Until its list was read, an upstream offers no bearer
		 * mechanism and may take a password. */
		all &= m;
		any |= m & UPSTREAM_CAPS_BEARER;
		if (m == 0 || (m & UPSTREAM_CAPS_PASSWORD))
			password = true;
	}
	pthread_mutex_unlock(&upstream_caps_mutex);
	if (relayable == 0)
		all = 0;
	*listed = (all & UPSTREAM_CAPS_BEARER) |
	    (password ? UPSTREAM_CAPS_PASSWORD : 0);
	*accepted = *listed | any;
}

void
upstream_caps_reset(void)
{
	pthread_mutex_lock(&upstream_caps_mutex);
	memset(upstream_caps_table, 0, sizeof(upstream_caps_table));
	pthread_mutex_unlock(&upstream_caps_mutex);
}
