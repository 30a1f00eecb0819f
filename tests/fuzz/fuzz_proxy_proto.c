/* SPDX-License-Identifier: MIT */
/*
 * fuzz_proxy_proto.c - libFuzzer target for proto/proxy_proto.c. The input
 * is what a connection sends first; it is parsed whole and at every prefix
 * length. Oracles: no crash and no read past len (ASan); NEED_MORE only
 * below PROXY_MAX_OCTETS (and below the v1 limit for a v1 start); as the
 * prefix grows the answer goes NEED_MORE... then stays ERROR or stays DONE
 * with the same result, first DONE exactly at header_octets; a DONE header
 * is framed as its version says, carries AF_INET or AF_INET6 addresses of
 * the family it names, or is local with zeroed addresses; a result with
 * addresses survives being written back as a v1 and a v2 header and parsed
 * again.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy_proto.h"
#include "fuzz_util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_V2_FIXED	16

#define FUZZ_CHECK(cond)	do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_proxy_proto: %s:%d: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

static const unsigned char fuzz_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static bool
fuzz_same(const struct proxy_info *a, const struct proxy_info *b)
{
	return a->version == b->version && a->local == b->local &&
	    a->header_octets == b->header_octets &&
	    memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
	    memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

/* Address octets and network-order port of a parsed sockaddr. */
static size_t
fuzz_addr(const struct sockaddr_storage *ss, unsigned char *addr,
    unsigned char *port)
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;

	if (ss->ss_family == AF_INET) {
		memcpy(&sin, ss, sizeof(sin));
		memcpy(addr, &sin.sin_addr, 4);
		memcpy(port, &sin.sin_port, 2);
		FUZZ_CHECK(fuzz_zero((const unsigned char *)ss + sizeof(sin),
		    sizeof(*ss) - sizeof(sin)));
		return 4;
	}
	memcpy(&sin6, ss, sizeof(sin6));
	memcpy(addr, &sin6.sin6_addr, 16);
	memcpy(port, &sin6.sin6_port, 2);
	FUZZ_CHECK(sin6.sin6_flowinfo == 0 && sin6.sin6_scope_id == 0);
	return 16;
}

/* Writes info's addresses back as a v1 line and a v2 header; both must
 * parse to the same addresses. */
static void
fuzz_roundtrip(const struct proxy_info *info)
{
	unsigned char		 src[16], dst[16], sport[2], dport[2];
	unsigned char		 v2[FUZZ_V2_FIXED + 36];
	char			 stext[INET6_ADDRSTRLEN], dtext[INET6_ADDRSTRLEN];
	char			 v1[PROXY_V1_MAX_OCTETS + 1];
	struct proxy_info	 again;
	size_t			 alen;
	int			 n, family = info->src.ss_family;

	alen = fuzz_addr(&info->src, src, sport);
	FUZZ_CHECK(fuzz_addr(&info->dst, dst, dport) == alen);
	FUZZ_CHECK(inet_ntop(family, src, stext, sizeof(stext)) != NULL);
	FUZZ_CHECK(inet_ntop(family, dst, dtext, sizeof(dtext)) != NULL);
	n = snprintf(v1, sizeof(v1), "PROXY %s %s %s %u %u\r\n",
	    family == AF_INET ? "TCP4" : "TCP6", stext, dtext,
	    (unsigned int)(sport[0] << 8 | sport[1]),
	    (unsigned int)(dport[0] << 8 | dport[1]));
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(v1));
	FUZZ_CHECK(proxy_parse((const unsigned char *)v1, (size_t)n, &again,
	    NULL) == PROXY_DONE);
	FUZZ_CHECK(again.version == 1 && !again.local &&
	    again.header_octets == (size_t)n);
	FUZZ_CHECK(memcmp(&again.src, &info->src, sizeof(again.src)) == 0);
	FUZZ_CHECK(memcmp(&again.dst, &info->dst, sizeof(again.dst)) == 0);

	memcpy(v2, fuzz_v2_sig, sizeof(fuzz_v2_sig));
	v2[12] = 0x21;
	v2[13] = family == AF_INET ? 0x11 : 0x21;
	v2[14] = 0;
	v2[15] = (unsigned char)(2 * alen + 4);
	memcpy(v2 + FUZZ_V2_FIXED, src, alen);
	memcpy(v2 + FUZZ_V2_FIXED + alen, dst, alen);
	memcpy(v2 + FUZZ_V2_FIXED + 2 * alen, sport, 2);
	memcpy(v2 + FUZZ_V2_FIXED + 2 * alen + 2, dport, 2);
	FUZZ_CHECK(proxy_parse(v2, FUZZ_V2_FIXED + 2 * alen + 4, &again,
	    NULL) == PROXY_DONE);
	FUZZ_CHECK(again.version == 2 && !again.local &&
	    again.header_octets == FUZZ_V2_FIXED + 2 * alen + 4);
	FUZZ_CHECK(memcmp(&again.src, &info->src, sizeof(again.src)) == 0);
	FUZZ_CHECK(memcmp(&again.dst, &info->dst, sizeof(again.dst)) == 0);
}

/* Checks one answer for data[0..len) on its own. */
static void
fuzz_check_one(const uint8_t *data, size_t len, enum proxy_result r,
    const struct proxy_info *info, const char *why)
{
	size_t	h = info->header_octets;
	int	want = -1;

	FUZZ_CHECK(r == PROXY_NEED_MORE || r == PROXY_DONE ||
	    r == PROXY_ERROR);
	if (r == PROXY_ERROR) {
		FUZZ_CHECK(why != NULL && why[0] != '\0');
		FUZZ_CHECK(fuzz_zero(info, sizeof(*info)));
		return;
	}
	FUZZ_CHECK(why == NULL);
	/* Fail fast: only the two signatures' first octets may wait. */
	if (len > 0)
		FUZZ_CHECK(data[0] == 'P' || data[0] == '\r');
	if (r == PROXY_NEED_MORE) {
		FUZZ_CHECK(len < PROXY_MAX_OCTETS);
		FUZZ_CHECK(len == 0 || data[0] != 'P' ||
		    len < PROXY_V1_MAX_OCTETS);
		FUZZ_CHECK(fuzz_zero(info, sizeof(*info)));
		return;
	}

	FUZZ_CHECK(h >= 1 && h <= len && h <= PROXY_MAX_OCTETS);
	if (info->version == 1) {
		FUZZ_CHECK(h <= PROXY_V1_MAX_OCTETS && h >= 8);
		FUZZ_CHECK(memcmp(data, "PROXY ", 6) == 0);
		FUZZ_CHECK(data[h - 2] == '\r' && data[h - 1] == '\n');
		FUZZ_CHECK(memchr(data, '\n', h - 1) == NULL);
		if (info->local)
			FUZZ_CHECK(memcmp(data + 6, "UNKNOWN", 7) == 0);
		else
			want = memcmp(data + 6, "TCP4 ", 5) == 0 ? AF_INET :
			    memcmp(data + 6, "TCP6 ", 5) == 0 ? AF_INET6 : -1;
	} else {
		FUZZ_CHECK(info->version == 2);
		FUZZ_CHECK(h >= FUZZ_V2_FIXED);
		FUZZ_CHECK(memcmp(data, fuzz_v2_sig, sizeof(fuzz_v2_sig)) ==
		    0);
		FUZZ_CHECK(h == FUZZ_V2_FIXED +
		    ((size_t)data[14] << 8 | data[15]));
		FUZZ_CHECK(data[12] == 0x20 || data[12] == 0x21);
		if (info->local)
			FUZZ_CHECK(data[12] == 0x20 || data[13] == 0x00);
		else
			want = data[12] == 0x21 && data[13] == 0x11 ?
			    AF_INET : data[12] == 0x21 && data[13] == 0x21 ?
			    AF_INET6 : -1;
	}
	if (info->local) {
		FUZZ_CHECK(fuzz_zero(&info->src, sizeof(info->src)));
		FUZZ_CHECK(fuzz_zero(&info->dst, sizeof(info->dst)));
		return;
	}
	FUZZ_CHECK(want == AF_INET || want == AF_INET6);
	FUZZ_CHECK(info->src.ss_family == want &&
	    info->dst.ss_family == want);
	fuzz_roundtrip(info);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_info	 info, done;
	enum proxy_result	 r, prev = PROXY_NEED_MORE;
	const char		*why;
	size_t			 len, last;

	/* Past PROXY_MAX_OCTETS the answer is settled; the whole input is
	 * parsed once more at the end. */
	last = size < PROXY_MAX_OCTETS + 1 ? size : PROXY_MAX_OCTETS + 1;
	memset(&done, 0, sizeof(done));
	for (len = 0; len <= last; len++) {
		why = "unset";
		r = proxy_parse(data, len, &info, &why);
		fuzz_check_one(data, len, r, &info, why);
		if (prev == PROXY_ERROR)
			FUZZ_CHECK(r == PROXY_ERROR);
		else if (prev == PROXY_DONE)
			FUZZ_CHECK(r == PROXY_DONE && fuzz_same(&info, &done));
		else if (r == PROXY_DONE) {
			FUZZ_CHECK(info.header_octets == len);
			done = info;
		}
		prev = r;
	}
	FUZZ_CHECK(prev != PROXY_NEED_MORE || size < PROXY_MAX_OCTETS);
	if (size > last) {
		r = proxy_parse(data, size, &info, &why);
		fuzz_check_one(data, size, r, &info, why);
		FUZZ_CHECK(r == prev);
		if (r == PROXY_DONE)
			FUZZ_CHECK(fuzz_same(&info, &done));
	}
	return 0;
}
