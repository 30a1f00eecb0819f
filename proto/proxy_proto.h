/* SPDX-License-Identifier: MIT */
/*
 * proxy_proto.h - the PROXY protocol header that a load balancer puts in
 * front of a connection (HAProxy's "The PROXY protocol", versions 1 and 2).
 * Pure: looks at the octets received so far and says whether they hold a
 * complete, valid header, need more, or are not one. No I/O, no allocation.
 *
 * Strictness. v1 is "PROXY" SP ("TCP4" / "TCP6") SP src SP dst SP sport SP
 * dport CRLF with single spaces, inet_pton() addresses of the named family
 * and decimal ports without leading zeros; "PROXY UNKNOWN" may carry
 * anything (no CR, no LF) up to its CRLF. A bare LF, or a CR that is not
 * followed by LF, is an error. v2 needs the 12-octet signature, version 2,
 * command LOCAL or PROXY and one of the family/transport bytes the spec
 * defines. A PROXY command with TCP over IPv4 or IPv6 gives the addresses;
 * with AF_UNSPEC it counts as local; with UDP or a UNIX socket it is
 * refused. A LOCAL command ignores its family and the whole block after
 * the first 16 octets. For a PROXY command, the TLVs that follow the
 * addresses must be framed exactly to the end of the block; their
 * contents are skipped.
 *
 * Early answers. A wrong octet is an error as soon as it arrives: a first
 * octet that starts neither signature, a signature or "PROXY " mismatch, an
 * unknown v1 protocol word, a v2 version, command or family we refuse, or a
 * v2 length that is too long or too short, all without waiting for the
 * rest. So a plain POP3 client that talks to a PROXY listener fails on its
 * first octet. As the input grows, the answer goes NEED_MORE ... NEED_MORE,
 * then stays ERROR, or stays DONE with the same result; DONE first comes
 * when len reaches header_octets.
 */
#ifndef POPGATE_PROXY_PROTO_H
#define POPGATE_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Spec sec. 2.1: a v1 line is at most 107 octets including CRLF. */
#define PROXY_V1_MAX_OCTETS	107
/*
 * What popgate accepts: a v2 block (addresses and TLVs) of at most 536
 * octets, the receive buffer the spec recommends (sec. 2.2). A longer
 * length field is an error, so a caller never needs to buffer more.
 */
#define PROXY_MAX_OCTETS	(16 + 536)

enum proxy_result {
	PROXY_NEED_MORE = 0,
	PROXY_DONE = 1,
	PROXY_ERROR = -1
};

struct proxy_info {
	int			version;	/* 1 or 2 */
	/* v2 LOCAL, v2 AF_UNSPEC or v1 "UNKNOWN": no addresses, use the
	 * connection's own; src and dst are then all zero. */
	bool			local;
	/* Valid when !local: both AF_INET or both AF_INET6, ports in
	 * network order as in any sockaddr. */
	struct sockaddr_storage	src, dst;
	/* Octets the header took; the caller drops them, the rest is
	 * POP3. */
	size_t			header_octets;
};

/*
 * Looks at the first len octets received on a connection (data may be
 * NULL when len is 0). Returns:
 * - PROXY_NEED_MORE: no verdict yet; call again with more. Only returned
 *   while len < PROXY_MAX_OCTETS.
 * - PROXY_DONE: *info is filled; info->header_octets <= len.
 * - PROXY_ERROR: not a valid PROXY header, including a connection that
 *   does not start with one. *why is a short static reason.
 * *info is zeroed first whatever the result. *why is set to NULL unless
 * the result is an error; why itself may be NULL.
 */
enum proxy_result	proxy_parse(const unsigned char *data, size_t len,
			    struct proxy_info *info, const char **why);

#endif
