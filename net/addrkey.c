/* SPDX-License-Identifier: MIT */
/*
 * addrkey.c - see addrkey.h.
 */
#include "addrkey.h"

#include <netinet/in.h>
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
