/* SPDX-License-Identifier: MIT */
/*
 * addr.h - a peer's IP address: as a fixed 16-octet key (IPv4 mapped into
 * ::ffff:0:0/96, the port left out) for the per-address tables, matched
 * against a network (trusted_networks, proxy_networks, an account's
 * networks), and printed for the logs.
 */
#ifndef POPGATE_ADDR_H
#define POPGATE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest addr_format() text: "[" IPv6 "]:" port, and its NUL. */
#define ADDR_TEXT_MAX	(46 + 9)

/* False for anything but AF_INET and AF_INET6. */
bool		addr_key(const struct sockaddr *sa, uint8_t key[16]);
/* FNV-1a of the key, reduced to 0 .. slots - 1. */
unsigned int	addr_key_hash(const uint8_t key[16], unsigned int slots);
/*
 * "192.0.2.1:110" or "[2001:db8::1]:110" (an IPv4-mapped address as IPv6
 * shows it: that is what the socket saw), "unknown" for another family.
 * Truncated to len - 1 octets, always NUL-terminated when len > 0.
 */
void		addr_format(const struct sockaddr *sa, char *buf, size_t len);
/*
 * True if peer lies in the network whose address is net (AF_INET or
 * AF_INET6; the bits past the prefix are ignored) and whose length is
 * prefix bits. An IPv4-mapped IPv6 peer (::ffff:a.b.c.d, how a
 * dual-stack listener sees an IPv4 client) lies in the IPv4 networks
 * that hold a.b.c.d as well as in the IPv6 ones; an IPv4 peer lies in
 * IPv4 networks only. False for any other family, or a prefix longer
 * than the network's address.
 */
bool		addr_in_network(const struct sockaddr *peer,
		    const struct sockaddr *net, unsigned int prefix);

#endif
