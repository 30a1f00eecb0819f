/* SPDX-License-Identifier: MIT */
/*
 * proxy_proto.c - strict parsing of PROXY protocol v1 and v2 headers.
 * Pure: no I/O, no allocation; never reads past len or past
 * PROXY_MAX_OCTETS.
 */
#include "proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

/* Spec sec. 2.1: the v1 line and its protocol words. */
#define PROXY_V1_PREFIX		"PROXY "
#define PROXY_V1_PREFIX_LEN	(sizeof(PROXY_V1_PREFIX) - 1)
/* "65535": ports are 0..65535 in decimal. */
#define PROXY_V1_PORT_DIGITS	5
#define PROXY_PORT_MAX		65535

/* Spec sec. 2.2: the v2 header. */
#define PROXY_V2_SIG_LEN	12
#define PROXY_V2_VER_CMD	12	/* offset: version << 4 | command */
#define PROXY_V2_FAM		13	/* offset: family << 4 | transport */
#define PROXY_V2_LEN		14	/* offset: block length, big-endian */
#define PROXY_V2_FIXED		16	/* octets before the block */
#define PROXY_V2_VERSION	0x2
#define PROXY_V2_CMD_LOCAL	0x0
#define PROXY_V2_CMD_PROXY	0x1
/* The seven family/transport bytes the spec defines; others are invalid. */
#define PROXY_V2_UNSPEC		0x00
#define PROXY_V2_TCP4		0x11
#define PROXY_V2_UDP4		0x12
#define PROXY_V2_TCP6		0x21
#define PROXY_V2_UDP6		0x22
#define PROXY_V2_UNIX_STREAM	0x31
#define PROXY_V2_UNIX_DGRAM	0x32
/* Address blocks: two addresses, then two ports. */
#define PROXY_IN4_OCTETS	4
#define PROXY_IN6_OCTETS	16
#define PROXY_PORT_OCTETS	2
#define PROXY_V2_INET_OCTETS	(2 * PROXY_IN4_OCTETS + 2 * PROXY_PORT_OCTETS)
#define PROXY_V2_INET6_OCTETS	(2 * PROXY_IN6_OCTETS + 2 * PROXY_PORT_OCTETS)
/* Spec sec. 2.2.7: type, then a big-endian 16-bit value length. */
#define PROXY_V2_TLV_HEAD	3
#define PROXY_V2_MAX_BLOCK	(PROXY_MAX_OCTETS - PROXY_V2_FIXED)

static const unsigned char proxy_v2_sig[PROXY_V2_SIG_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static const char proxy_not_proxy[] = "not a PROXY protocol header";

enum proxy_v1_word {
	PROXY_V1_UNSURE,	/* not all of the word has arrived */
	PROXY_V1_TCP4,
	PROXY_V1_TCP6,
	PROXY_V1_UNKNOWN,
	PROXY_V1_BAD
};

static const struct {
	const char		*name;
	enum proxy_v1_word	 word;
} proxy_v1_words[] = {
	{ "TCP4", PROXY_V1_TCP4 },
	{ "TCP6", PROXY_V1_TCP6 },
	{ "UNKNOWN", PROXY_V1_UNKNOWN },
};

static enum proxy_result
proxy_fail(const char **why, const char *reason)
{
	*why = reason;
	return PROXY_ERROR;
}

/* Fills *ss from raw network-order address and port octets. */
static void
proxy_set_addr(struct sockaddr_storage *ss, int family,
    const unsigned char *addr, const unsigned char *port)
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, addr, PROXY_IN4_OCTETS);
		memcpy(&sin.sin_port, port, PROXY_PORT_OCTETS);
		memcpy(ss, &sin, sizeof(sin));
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, addr, PROXY_IN6_OCTETS);
		memcpy(&sin6.sin6_port, port, PROXY_PORT_OCTETS);
		memcpy(ss, &sin6, sizeof(sin6));
	}
}

/*
 * The protocol word at p, which follows "PROXY ". n octets of the line
 * are known; complete says the line ends there (a CR follows). The word
 * ends at the first SP or at the end of a complete line; before that it
 * is UNSURE while it can still grow into a known word.
 */
static enum proxy_v1_word
proxy_v1_word(const unsigned char *p, size_t n, bool complete,
    size_t *word_len)
{
	const unsigned char	*sp;
	size_t			 i, wlen;

	sp = memchr(p, ' ', n);
	wlen = sp != NULL ? (size_t)(sp - p) : n;
	*word_len = wlen;
	for (i = 0; i < sizeof(proxy_v1_words) / sizeof(proxy_v1_words[0]);
	    i++) {
		const char	*name = proxy_v1_words[i].name;

		if (sp != NULL || complete) {
			if (strlen(name) == wlen &&
			    memcmp(name, p, wlen) == 0)
				return proxy_v1_words[i].word;
		} else if (wlen <= strlen(name) &&
		    memcmp(name, p, wlen) == 0)
			return PROXY_V1_UNSURE;
	}
	return PROXY_V1_BAD;
}

/* After "TCP4"/"TCP6": only what addresses, ports and SP are made of. */
static bool
proxy_v1_tcp_chars_ok(const unsigned char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		    (p[i] >= 'a' && p[i] <= 'f') ||
		    (p[i] >= 'A' && p[i] <= 'F') ||
		    p[i] == '.' || p[i] == ':' || p[i] == ' '))
			return false;
	return true;
}

/* Decimal 0..65535 without leading zeros, into two network-order octets. */
static bool
proxy_v1_port(const unsigned char *p, size_t n, unsigned char port[2])
{
	uint32_t	v = 0;
	size_t		i;

	if (n == 0 || n > PROXY_V1_PORT_DIGITS || (p[0] == '0' && n > 1))
		return false;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(p[i] - '0');
	}
	if (v > PROXY_PORT_MAX)
		return false;
	port[0] = (unsigned char)(v >> 8);
	port[1] = (unsigned char)(v & 0xff);
	return true;
}

/* An address of the given family, as inet_pton() reads it. */
static bool
proxy_v1_addr(const unsigned char *p, size_t n, int family,
    unsigned char addr[PROXY_IN6_OCTETS])
{
	char	text[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(text))
		return false;
	memcpy(text, p, n);
	text[n] = '\0';
	return inet_pton(family, text, addr) == 1;
}

/*
 * "src SP dst SP sport SP dport" in p[0..n), the part of a TCP4/TCP6
 * line between the SP after the word and the CR.
 */
static enum proxy_result
proxy_v1_tcp(const unsigned char *p, size_t n, int family,
    struct proxy_info *info, const char **why)
{
	enum { SRC, DST, SPORT, DPORT, NFIELDS };
	const unsigned char	*field[NFIELDS], *end = p + n;
	size_t			 flen[NFIELDS], i;
	unsigned char		 src[PROXY_IN6_OCTETS], dst[PROXY_IN6_OCTETS];
	unsigned char		 sport[PROXY_PORT_OCTETS];
	unsigned char		 dport[PROXY_PORT_OCTETS];

	/* Exactly four non-empty fields and three single SPs. */
	for (i = 0; i < NFIELDS; i++) {
		field[i] = p;
		while (p < end && *p != ' ')
			p++;
		flen[i] = (size_t)(p - field[i]);
		if (flen[i] == 0)
			return proxy_fail(why, "v1 empty field");
		if (i + 1 < NFIELDS) {
			if (p == end)
				return proxy_fail(why, "v1 too few fields");
			p++;
		} else if (p != end)
			return proxy_fail(why, "v1 too many fields");
	}
	if (!proxy_v1_addr(field[SRC], flen[SRC], family, src) ||
	    !proxy_v1_addr(field[DST], flen[DST], family, dst))
		return proxy_fail(why, "v1 bad address");
	if (!proxy_v1_port(field[SPORT], flen[SPORT], sport) ||
	    !proxy_v1_port(field[DPORT], flen[DPORT], dport))
		return proxy_fail(why, "v1 bad port");
	proxy_set_addr(&info->src, family, src, sport);
	proxy_set_addr(&info->dst, family, dst, dport);
	return PROXY_DONE;
}

static enum proxy_result
proxy_v1(const unsigned char *data, size_t len, struct proxy_info *info,
    const char **why)
{
	enum proxy_v1_word	 word;
	enum proxy_result	 r;
	size_t			 window, cr, wlen, n;
	const unsigned char	*rest;

	n = len < PROXY_V1_PREFIX_LEN ? len : PROXY_V1_PREFIX_LEN;
	if (memcmp(data, PROXY_V1_PREFIX, n) != 0)
		return proxy_fail(why, proxy_not_proxy);
	if (len < PROXY_V1_PREFIX_LEN)
		return PROXY_NEED_MORE;

	/* The line ends in the first CR, which must be within the limit and
	 * be followed by LF. A LF before it is a bare LF. */
	window = len < PROXY_V1_MAX_OCTETS ? len : PROXY_V1_MAX_OCTETS;
	for (cr = PROXY_V1_PREFIX_LEN; cr < window; cr++) {
		if (data[cr] == '\n')
			return proxy_fail(why, "v1 line ends in a bare LF");
		if (data[cr] == '\r')
			break;
	}

	/* Judge what has arrived of the line before waiting for the rest. */
	rest = data + PROXY_V1_PREFIX_LEN;
	n = cr - PROXY_V1_PREFIX_LEN;
	word = proxy_v1_word(rest, n, cr < window, &wlen);
	if (word == PROXY_V1_BAD)
		return proxy_fail(why, "v1 unknown protocol");
	if ((word == PROXY_V1_TCP4 || word == PROXY_V1_TCP6) &&
	    !proxy_v1_tcp_chars_ok(rest + wlen, n - wlen))
		return proxy_fail(why, "v1 bad character");

	if (cr == window)
		return len >= PROXY_V1_MAX_OCTETS ?
		    proxy_fail(why, "v1 line too long") : PROXY_NEED_MORE;
	if (cr + 2 > PROXY_V1_MAX_OCTETS)
		return proxy_fail(why, "v1 line too long");
	if (cr + 1 == len)
		return PROXY_NEED_MORE;
	if (data[cr + 1] != '\n')
		return proxy_fail(why, "v1 CR without LF");

	if (word == PROXY_V1_UNKNOWN) {
		/* Spec sec. 2.1: whatever follows UNKNOWN is ignored. */
		info->local = true;
	} else {
		/* "TCP4" alone, or "TCP4" SP ...: the SP must be there. */
		if (wlen == n)
			return proxy_fail(why, "v1 too few fields");
		r = proxy_v1_tcp(rest + wlen + 1, n - wlen - 1,
		    word == PROXY_V1_TCP4 ? AF_INET : AF_INET6, info, why);
		if (r != PROXY_DONE)
			return r;
	}
	info->version = 1;
	info->header_octets = cr + 2;
	return PROXY_DONE;
}

/*
 * Walks the TLVs of a block part of n octets of which avail (possibly
 * fewer, possibly more) have arrived. False as soon as a TLV is known not
 * to end exactly within the n octets.
 */
static bool
proxy_v2_tlvs_ok(const unsigned char *p, size_t n, size_t avail)
{
	size_t	off = 0, vlen;

	while (off < n) {
		if (n - off < PROXY_V2_TLV_HEAD)
			return false;
		if (avail < off + PROXY_V2_TLV_HEAD)
			return true;	/* not known yet */
		vlen = (size_t)p[off + 1] << 8 | p[off + 2];
		off += PROXY_V2_TLV_HEAD;
		if (vlen > n - off)
			return false;
		off += vlen;
	}
	return true;
}

/*
 * The binary v2 header (the PROXY protocol specification, section 2.2):
 * signature, version and command, family, length, addresses, TLVs. Long:
 * each field is checked in wire order, one early return per refusal, which
 * reads better than helpers passing the offset around.
 */
static enum proxy_result
proxy_v2(const unsigned char *data, size_t len, struct proxy_info *info,
    const char **why)
{
	const unsigned char	*a;
	size_t			 n, block, addr_len, avail, alen;
	unsigned int		 cmd;
	int			 family = AF_UNSPEC;

	n = len < PROXY_V2_SIG_LEN ? len : PROXY_V2_SIG_LEN;
	if (memcmp(data, proxy_v2_sig, n) != 0)
		return proxy_fail(why, proxy_not_proxy);
	if (len <= PROXY_V2_VER_CMD)
		return PROXY_NEED_MORE;

	if (data[PROXY_V2_VER_CMD] >> 4 != PROXY_V2_VERSION)
		return proxy_fail(why, "unsupported v2 version");
	cmd = data[PROXY_V2_VER_CMD] & 0x0f;
	if (cmd != PROXY_V2_CMD_LOCAL && cmd != PROXY_V2_CMD_PROXY)
		return proxy_fail(why, "unknown v2 command");
	if (len <= PROXY_V2_FAM)
		return PROXY_NEED_MORE;

	/* Spec sec. 2.2: LOCAL ignores the family, but an undefined byte
	 * is invalid whatever the command. */
	switch (data[PROXY_V2_FAM]) {
	case PROXY_V2_UNSPEC:
		addr_len = 0;
		break;
	case PROXY_V2_TCP4:
		family = AF_INET;
		addr_len = PROXY_V2_INET_OCTETS;
		break;
	case PROXY_V2_TCP6:
		family = AF_INET6;
		addr_len = PROXY_V2_INET6_OCTETS;
		break;
	case PROXY_V2_UDP4:
	case PROXY_V2_UDP6:
	case PROXY_V2_UNIX_STREAM:
	case PROXY_V2_UNIX_DGRAM:
		if (cmd == PROXY_V2_CMD_PROXY)
			return proxy_fail(why, "unsupported address family");
		addr_len = 0;
		break;
	default:
		return proxy_fail(why, "invalid v2 address family");
	}
	if (cmd == PROXY_V2_CMD_LOCAL) {
		family = AF_UNSPEC;
		addr_len = 0;
	}
	if (len < PROXY_V2_FIXED)
		return PROXY_NEED_MORE;

	block = (size_t)data[PROXY_V2_LEN] << 8 | data[PROXY_V2_LEN + 1];
	if (block > PROXY_V2_MAX_BLOCK)
		return proxy_fail(why, "v2 header too long");
	if (block < addr_len)
		return proxy_fail(why, "v2 length too short for addresses");
	if (cmd == PROXY_V2_CMD_PROXY) {
		avail = len - PROXY_V2_FIXED;
		if (avail > block)
			avail = block;
		alen = avail > addr_len ? avail - addr_len : 0;
		if (!proxy_v2_tlvs_ok(data + PROXY_V2_FIXED + addr_len,
		    block - addr_len, alen))
			return proxy_fail(why, "malformed v2 TLV");
	}
	if (len - PROXY_V2_FIXED < block)
		return PROXY_NEED_MORE;

	info->version = 2;
	info->header_octets = PROXY_V2_FIXED + block;
	a = data + PROXY_V2_FIXED;
	if (family == AF_INET) {
		proxy_set_addr(&info->src, AF_INET, a,
		    a + 2 * PROXY_IN4_OCTETS);
		proxy_set_addr(&info->dst, AF_INET, a + PROXY_IN4_OCTETS,
		    a + 2 * PROXY_IN4_OCTETS + PROXY_PORT_OCTETS);
	} else if (family == AF_INET6) {
		proxy_set_addr(&info->src, AF_INET6, a,
		    a + 2 * PROXY_IN6_OCTETS);
		proxy_set_addr(&info->dst, AF_INET6, a + PROXY_IN6_OCTETS,
		    a + 2 * PROXY_IN6_OCTETS + PROXY_PORT_OCTETS);
	} else
		info->local = true;
	return PROXY_DONE;
}

enum proxy_result
proxy_parse(const unsigned char *data, size_t len, struct proxy_info *info,
    const char **why)
{
	enum proxy_result	 r;
	const char		*reason = NULL;

	memset(info, 0, sizeof(*info));
	if (len == 0)
		r = PROXY_NEED_MORE;
	else if (data[0] == (unsigned char)PROXY_V1_PREFIX[0])
		r = proxy_v1(data, len, info, &reason);
	else if (data[0] == proxy_v2_sig[0])
		r = proxy_v2(data, len, info, &reason);
	else
		r = proxy_fail(&reason, proxy_not_proxy);
	if (r != PROXY_DONE)
		memset(info, 0, sizeof(*info));
	if (why != NULL)
		*why = r == PROXY_ERROR ? reason : NULL;
	return r;
}
