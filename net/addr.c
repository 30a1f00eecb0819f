/* SPDX-License-Identifier: MIT */
/*
 * addr.c - see addr.h.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

bool
addr_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

/* The tables are small and an attacker only controls the addresses it
 * holds, so a plain FNV-1a spreads them well enough. */
unsigned int
addr_key_hash(const uint8_t key[16], unsigned int slots)
{
	uint32_t	h = 2166136261u;
	unsigned int	i;

	for (i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 16777619u;
	}
	return h % slots;
}

void
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	const struct sockaddr_in	*sin = (const void *)sa;
	const struct sockaddr_in6	*sin6 = (const void *)sa;
	char				 host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET &&
	    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)) != NULL)
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	else if (sa->sa_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host)) != NULL)
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	else
		snprintf(buf, len, "unknown");
}

/* The address octets of sa and their number of bits; NULL for a family
 * that has none. */
static const uint8_t *
addr_octets(const struct sockaddr *sa, unsigned int *bits)
{
	if (sa->sa_family == AF_INET) {
		*bits = 32;
		return (const uint8_t *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	}
	if (sa->sa_family == AF_INET6) {
		*bits = 128;
		return ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	}
	return NULL;
}

/* The first prefix bits of a and b are equal. */
static bool
addr_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned int prefix)
{
	unsigned int	i;

	for (i = 0; prefix >= 8; i++, prefix -= 8)
		if (a[i] != b[i])
			return false;
	return prefix == 0 ||
	    ((a[i] ^ b[i]) & (uint8_t)(0xff << (8 - prefix))) == 0;
}

bool
addr_in_network(const struct sockaddr *peer, const struct sockaddr *net,
    unsigned int prefix)
{
	const uint8_t	*p, *n;
	unsigned int	 pbits = 0, nbits = 0;

	p = addr_octets(peer, &pbits);
	n = addr_octets(net, &nbits);
	if (p == NULL || n == NULL || prefix > nbits)
		return false;
	if (pbits == nbits)
		return addr_prefix_equal(p, n, prefix);
	/* A dual-stack listener ([::]) sees IPv4 clients as ::ffff:a.b.c.d:
	 * they lie in the IPv4 networks too. */
	if (nbits == 32 && IN6_IS_ADDR_V4MAPPED(
	    &((const struct sockaddr_in6 *)peer)->sin6_addr))
		return addr_prefix_equal(p + 12, n, prefix);
	return false;
}
