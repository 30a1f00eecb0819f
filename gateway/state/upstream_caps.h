/* SPDX-License-Identifier: MIT */
/*
 * upstream_caps.h - the SASL mechanisms each upstream offered, cached per
 * upstream (its index in the configuration), and what the POP3 side may
 * offer from them when [routes] send users to several upstreams.
 *
 * Mechanism sets are (1u << enum sasl_mech): XOAUTH2 and OAUTHBEARER when
 * the upstream announced AUTH=..., PLAIN and LOGIN when it takes a
 * password at all. Safe from any worker thread.
 */
#ifndef POPGATE_UPSTREAM_CAPS_H
#define POPGATE_UPSTREAM_CAPS_H

#include <stdint.h>

#include "config.h"

/* One table, shared by the workers it is handed to (struct shared). */
struct upstream_caps;

/* NULL if memory ran out. */
struct upstream_caps	*upstream_caps_new(void);
void			 upstream_caps_free(struct upstream_caps *uc);

/* In what upstream_caps_get() returns: a list was read. */
#define UPSTREAM_CAPS_KNOWN	(1u << 31)

/* Records what c->upstreams[index] offered in a capability list read over
 * a trusted channel (TLS, or any with imap://) before login. */
void		upstream_caps_set(struct upstream_caps *uc,
		    const struct config *c, unsigned int index,
		    unsigned int mechs);
/* What it offered, with UPSTREAM_CAPS_KNOWN; 0 when nothing was read from
 * it yet, or only from another URL (a reload changed this index). */
unsigned int	upstream_caps_get(struct upstream_caps *uc,
		    const struct config *c, unsigned int index);
/* Bit i: a pass-through login (the client's own credentials or SASL
 * message) can be routed to c->upstreams[i]. */
uint32_t	upstream_caps_relayable(const struct config *c);
/*
 * The SASL mechanisms for the POP3 side, before the client has named
 * itself (relayable: upstream_caps_relayable(c)). listed (CAPA, bare
 * AUTH): XOAUTH2 or OAUTHBEARER only if every relayable upstream is known
 * to offer it, since a mechanism one route cannot relay must not be
 * advertised; PLAIN and LOGIN unless every relayable upstream is known to
 * take no password (they also serve device accounts, like USER).
 * accepted (AUTH MECH), a superset: a bearer mechanism some relayable
 * upstream is known to offer. Once the message names the user, the relay
 * goes to that user's upstream, which refuses a mechanism it lacks.
 */
void		upstream_caps_sasl(struct upstream_caps *uc,
		    const struct config *c, uint32_t relayable,
		    unsigned int *listed, unsigned int *accepted);
/* Forgets everything (unit tests). */
void		upstream_caps_reset(struct upstream_caps *uc);

#endif
