/* SPDX-License-Identifier: MIT */
/*
 * addrkey.h - a client's IP address as a fixed 16-octet key (IPv4 mapped
 * into ::ffff:0:0/96, the port left out), for the per-address tables.
 */
#ifndef POPGATE_ADDRKEY_H
#define POPGATE_ADDRKEY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* False for anything but AF_INET and AF_INET6. */
bool		addr_key(const struct sockaddr *sa, uint8_t key[16]);
/* FNV-1a of the key, reduced to 0 .. slots - 1. */
unsigned int	addr_key_hash(const uint8_t key[16], unsigned int slots);

#endif
