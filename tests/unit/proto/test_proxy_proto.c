/* SPDX-License-Identifier: MIT */
/*
 * test_proxy_proto.c - unit tests for proto/proxy_proto.c: PROXY protocol
 * v1 and v2 headers, valid and malformed, whole and octet by octet.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "proxy_proto.h"

/* What a POP3 client sends right after the header. */
#define TEST_POP3_TAIL		"CAPA\r\n"
#define TEST_POP3_TAIL_LEN	(sizeof(TEST_POP3_TAIL) - 1)
/* Room for the largest header we accept plus the tail. */
#define TEST_BUF_OCTETS		(PROXY_MAX_OCTETS + 64)
#define TEST_V2_FIXED		16

static const unsigned char test_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* Builds a v2 header with the given block; returns its length. */
static size_t
v2_header(unsigned char *out, unsigned char ver_cmd, unsigned char fam,
    const void *block, size_t block_len)
{
	memcpy(out, test_v2_sig, sizeof(test_v2_sig));
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (unsigned char)(block_len >> 8);
	out[15] = (unsigned char)(block_len & 0xff);
	if (block_len > 0)
		memcpy(out + TEST_V2_FIXED, block, block_len);
	return TEST_V2_FIXED + block_len;
}

/*
 * hdr[0..len) is one valid header: every shorter prefix needs more, the
 * whole parses, and so does the whole followed by POP3 octets, which are
 * not consumed. Returns the info of the last parse.
 */
static void
parse_valid(const void *hdr, size_t len, struct proxy_info *info)
{
	unsigned char		 buf[TEST_BUF_OCTETS];
	struct proxy_info	 first;
	const char		*why = "unset";
	size_t			 i;

	assert_true(len + TEST_POP3_TAIL_LEN <= sizeof(buf));
	memcpy(buf, hdr, len);
	memcpy(buf + len, TEST_POP3_TAIL, TEST_POP3_TAIL_LEN);
	for (i = 0; i < len; i++) {
		assert_int_equal(proxy_parse(buf, i, info, &why),
		    PROXY_NEED_MORE);
		assert_null(why);
	}
	assert_int_equal(proxy_parse(buf, len, &first, &why), PROXY_DONE);
	assert_null(why);
	assert_int_equal(first.header_octets, len);
	for (i = len; i <= len + TEST_POP3_TAIL_LEN; i++) {
		assert_int_equal(proxy_parse(buf, i, info, &why), PROXY_DONE);
		assert_int_equal(info->header_octets, len);
		assert_memory_equal(info, &first, sizeof(first));
	}
}

static void
parse_valid_str(const char *hdr, struct proxy_info *info)
{
	parse_valid(hdr, strlen(hdr), info);
}

/* hdr[0..len) is an error, and stays one with more octets after it. */
static void
parse_error(const void *hdr, size_t len)
{
	unsigned char		 buf[TEST_BUF_OCTETS];
	struct proxy_info	 info;
	const char		*why = NULL;

	assert_true(len + TEST_POP3_TAIL_LEN <= sizeof(buf));
	memcpy(buf, hdr, len);
	memcpy(buf + len, TEST_POP3_TAIL, TEST_POP3_TAIL_LEN);
	memset(&info, 0xa5, sizeof(info));
	assert_int_equal(proxy_parse(buf, len, &info, &why), PROXY_ERROR);
	assert_non_null(why);
	assert_true(why[0] != '\0');
	assert_int_equal(info.version, 0);
	assert_int_equal(info.header_octets, 0);
	assert_int_equal(proxy_parse(buf, len + TEST_POP3_TAIL_LEN, &info,
	    &why), PROXY_ERROR);
}

static void
parse_error_str(const char *hdr)
{
	parse_error(hdr, strlen(hdr));
}

/* Exactly the first len octets of hdr are needed to see the error. */
static void
parse_error_at(const void *hdr, size_t len)
{
	struct proxy_info	info;

	assert_true(len > 0);
	assert_int_equal(proxy_parse(hdr, len - 1, &info, NULL),
	    PROXY_NEED_MORE);
	parse_error(hdr, len);
}

static void
assert_in4(const struct sockaddr_storage *ss, const char *addr,
    uint16_t port)
{
	struct sockaddr_in	sin;
	struct in_addr		want;

	assert_int_equal(ss->ss_family, AF_INET);
	memcpy(&sin, ss, sizeof(sin));
	assert_int_equal(inet_pton(AF_INET, addr, &want), 1);
	assert_memory_equal(&sin.sin_addr, &want, sizeof(want));
	assert_int_equal(ntohs(sin.sin_port), port);
}

static void
assert_in6(const struct sockaddr_storage *ss, const char *addr,
    uint16_t port)
{
	struct sockaddr_in6	sin6;
	struct in6_addr		want;

	assert_int_equal(ss->ss_family, AF_INET6);
	memcpy(&sin6, ss, sizeof(sin6));
	assert_int_equal(inet_pton(AF_INET6, addr, &want), 1);
	assert_memory_equal(&sin6.sin6_addr, &want, sizeof(want));
	assert_int_equal(ntohs(sin6.sin6_port), port);
}

static void
assert_local(const struct proxy_info *info, int version)
{
	assert_int_equal(info->version, version);
	assert_true(info->local);
	assert_int_equal(info->src.ss_family, AF_UNSPEC);
	assert_int_equal(info->dst.ss_family, AF_UNSPEC);
}

static void
test_empty(void **state)
{
	struct proxy_info	 info;
	const char		*why = "unset";

	(void)state;
	assert_int_equal(proxy_parse(NULL, 0, &info, &why), PROXY_NEED_MORE);
	assert_null(why);
	assert_int_equal(proxy_parse(NULL, 0, &info, NULL), PROXY_NEED_MORE);
}

static void
test_not_proxy(void **state)
{
	(void)state;
	/* A plain POP3 client fails on its first octet. */
	parse_error_at("USER bob\r\n", 1);
	parse_error_at("CAPA\r\n", 1);
	parse_error_at("\n", 1);
	parse_error_at("\0", 1);
	parse_error_at("p", 1);
	parse_error_at(" PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 1);
	/* Or as soon as it leaves either signature. */
	parse_error_at("PUSH", 2);
	parse_error_at("PROXy", 5);
	parse_error_at("PROXY\r\n", 6);
	parse_error_at("\r\nUSER", 3);
	parse_error_at("\r\n\r\n\r", 5);
	parse_error_at("\r\n\r\n\0\r\nQUIT\r\n", 12);
}

static void
test_v1_tcp4(void **state)
{
	struct proxy_info	info;

	(void)state;
	parse_valid_str("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	    &info);
	assert_int_equal(info.version, 1);
	assert_false(info.local);
	assert_in4(&info.src, "192.168.0.1", 56324);
	assert_in4(&info.dst, "192.168.0.11", 443);

	parse_valid_str("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
	    &info);
	assert_in4(&info.src, "0.0.0.0", 0);
	assert_in4(&info.dst, "255.255.255.255", 65535);
}

static void
test_v1_tcp6(void **state)
{
	static const char	longest[] = "PROXY TCP6 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	struct proxy_info	info;

	(void)state;
	parse_valid_str("PROXY TCP6 2001:db8::1 ::1 110 995\r\n", &info);
	assert_int_equal(info.version, 1);
	assert_false(info.local);
	assert_in6(&info.src, "2001:db8::1", 110);
	assert_in6(&info.dst, "::1", 995);

	parse_valid_str("PROXY TCP6 ::ffff:10.0.0.1 FE80::A 1 9\r\n", &info);
	assert_in6(&info.src, "::ffff:10.0.0.1", 1);
	assert_in6(&info.dst, "fe80::a", 9);

	/* Spec sec. 2.1: the longest TCP6 line is 104 octets. */
	assert_int_equal(strlen(longest), 104);
	parse_valid_str(longest, &info);
	assert_in6(&info.src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    65535);
}

static void
test_v1_unknown(void **state)
{
	char			line[PROXY_V1_MAX_OCTETS + 1];
	struct proxy_info	info;

	(void)state;
	parse_valid_str("PROXY UNKNOWN\r\n", &info);
	assert_local(&info, 1);
	parse_valid_str("PROXY UNKNOWN ffff:f::1 ::1 1 2\r\n", &info);
	assert_local(&info, 1);
	/* Anything up to the CRLF, even what TCP4 would refuse. */
	parse_valid_str("PROXY UNKNOWN  x\tyz\x01\x7f\xff\r\n", &info);
	assert_local(&info, 1);
	parse_valid("PROXY UNKNOWN \0\r\n", 17, &info);
	assert_local(&info, 1);

	/* Exactly 107 octets including CRLF is still fine. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + PROXY_V1_MAX_OCTETS - 2, "\r\n", 2);
	parse_valid(line, PROXY_V1_MAX_OCTETS, &info);
	assert_local(&info, 1);
}

static void
test_v1_malformed(void **state)
{
	static const char	*bad[] = {
		/* spaces */
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
		/* fields */
		"PROXY\r\n",
		"PROXY \r\n",
		"PROXY TCP4\r\n",
		"PROXY TCP4 \r\n",
		"PROXY TCP4 1.2.3.4\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		/* protocol word */
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP44 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY UNKNOW\r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		/* ports */
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 000001 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1.0 2\r\n",
		/* addresses */
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
		"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n",
		"PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 localhost 5.6.7.8 1 2\r\n",
		"PROXY TCP6 2001:db8:::1 ::1 1 2\r\n",
		"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
		"PROXY TCP6 [::1] ::1 1 2\r\n",
		"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
		"PROXY TCP6 12345::1 ::1 1 2\r\n",
		/* address of the other family */
		"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 ::ffff:5.6.7.8 1 2\r\n",
		"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP6 ::1 5.6.7.8 1 2\r\n",
		/* terminators */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8\n1 2\r\n",
		"PROXY UNKNOWN\n",
		"PROXY UNKNOWN\r\r\n",
		"PROXY UNKNOWN a\nb\r\n",
		"PROXY\n",
	};
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("%s\n", bad[i]);
		parse_error_str(bad[i]);
	}
	/* A NUL inside a TCP line. */
	parse_error("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 33);
}

static void
test_v1_too_long(void **state)
{
	char			 line[PROXY_V1_MAX_OCTETS + 2];
	struct proxy_info	 info;
	const char		*why;

	(void)state;
	/* 106 octets without CR: the CRLF could still fit. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	assert_int_equal(proxy_parse((unsigned char *)line,
	    PROXY_V1_MAX_OCTETS - 1, &info, &why), PROXY_NEED_MORE);
	/* CR as octet 107: the LF would be octet 108. */
	line[PROXY_V1_MAX_OCTETS - 1] = '\r';
	parse_error_at(line, PROXY_V1_MAX_OCTETS);
	/* 107 octets and no CR. */
	line[PROXY_V1_MAX_OCTETS - 1] = 'x';
	parse_error_at(line, PROXY_V1_MAX_OCTETS);
	assert_int_equal(proxy_parse((unsigned char *)line, sizeof(line),
	    &info, &why), PROXY_ERROR);
	/* The same for a TCP6 line padded with a long port. */
	memset(line, '1', sizeof(line));
	memcpy(line, "PROXY TCP6 ::1 ::1 1 ", 21);
	parse_error_at(line, PROXY_V1_MAX_OCTETS);
}

static void
test_v1_early(void **state)
{
	struct proxy_info	info;

	(void)state;
	/* Errors seen before the CRLF arrives. */
	parse_error_at("PROXY X", 7);
	parse_error_at("PROXY  ", 7);
	parse_error_at("PROXY TCP7", 10);
	parse_error_at("PROXY UNKNOWNX", 14);
	parse_error_at("PROXY TCP4X", 11);
	parse_error_at("PROXY TCP4 1.2.3.4 g", 20);
	parse_error_at("PROXY TCP6 ::1\t", 15);
	parse_error_at("PROXY TCP4 1.2.3.4\n", 19);
	/* A prefix of a valid line waits. */
	assert_int_equal(proxy_parse((const unsigned char *)"PROXY TCP", 9,
	    &info, NULL), PROXY_NEED_MORE);
	assert_int_equal(proxy_parse((const unsigned char *)"PROXY UNKNOWN",
	    13, &info, NULL), PROXY_NEED_MORE);
	assert_int_equal(proxy_parse((const unsigned char *)
	    "PROXY UNKNOWN x\r", 16, &info, NULL), PROXY_NEED_MORE);
}

static void
test_v2_tcp4(void **state)
{
	static const unsigned char	addrs[12] = {
		192, 0, 2, 1,  198, 51, 100, 7,  0xdc, 0x04,  0x00, 0x6e
	};
	unsigned char			block[64], hdr[TEST_BUF_OCTETS];
	struct proxy_info		info;
	size_t				n;

	(void)state;
	n = v2_header(hdr, 0x21, 0x11, addrs, sizeof(addrs));
	parse_valid(hdr, n, &info);
	assert_int_equal(info.version, 2);
	assert_false(info.local);
	assert_in4(&info.src, "192.0.2.1", 56324);
	assert_in4(&info.dst, "198.51.100.7", 110);

	/* With TLVs: ALPN "pop3", an empty NOOP, an authority. */
	memcpy(block, addrs, sizeof(addrs));
	memcpy(block + 12, "\x01\x00\x04pop3\x04\x00\x00\x02\x00\x03mx1",
	    16);
	n = v2_header(hdr, 0x21, 0x11, block, 28);
	parse_valid(hdr, n, &info);
	assert_int_equal(info.header_octets, 44);
	assert_in4(&info.src, "192.0.2.1", 56324);
	assert_in4(&info.dst, "198.51.100.7", 110);
}

static void
test_v2_tcp6(void **state)
{
	unsigned char		block[64], hdr[TEST_BUF_OCTETS];
	struct proxy_info	info;
	size_t			n;

	(void)state;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", block), 1);
	assert_int_equal(inet_pton(AF_INET6, "::1", block + 16), 1);
	memcpy(block + 32, "\x00\x00\xff\xff", 4);
	n = v2_header(hdr, 0x21, 0x21, block, 36);
	parse_valid(hdr, n, &info);
	assert_int_equal(info.version, 2);
	assert_false(info.local);
	assert_in6(&info.src, "2001:db8::1", 0);
	assert_in6(&info.dst, "::1", 65535);

	/* With a CRC32C TLV. */
	memcpy(block + 36, "\x03\x00\x04\xde\xad\xbe\xef", 7);
	n = v2_header(hdr, 0x21, 0x21, block, 43);
	parse_valid(hdr, n, &info);
	assert_in6(&info.src, "2001:db8::1", 0);
	assert_in6(&info.dst, "::1", 65535);
}

static void
test_v2_local(void **state)
{
	static const unsigned char	fams[] = {
		0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32
	};
	unsigned char			block[300], hdr[TEST_BUF_OCTETS];
	struct proxy_info		info;
	size_t				i, n;

	(void)state;
	n = v2_header(hdr, 0x20, 0x00, NULL, 0);
	parse_valid(hdr, n, &info);
	assert_local(&info, 2);

	/* LOCAL ignores the family and the whole block, even one too
	 * short for the addresses or not framed as TLVs. */
	memset(block, 0xee, sizeof(block));
	for (i = 0; i < sizeof(fams); i++) {
		n = v2_header(hdr, 0x20, fams[i], block, 3);
		parse_valid(hdr, n, &info);
		assert_local(&info, 2);
		n = v2_header(hdr, 0x20, fams[i], block, 216);
		parse_valid(hdr, n, &info);
		assert_local(&info, 2);
	}
}

static void
test_v2_unspec(void **state)
{
	unsigned char		hdr[TEST_BUF_OCTETS];
	struct proxy_info	info;
	size_t			n;

	(void)state;
	/* PROXY with AF_UNSPEC: no addresses, use the connection's. */
	n = v2_header(hdr, 0x21, 0x00, NULL, 0);
	parse_valid(hdr, n, &info);
	assert_local(&info, 2);
	n = v2_header(hdr, 0x21, 0x00, "\x04\x00\x01z", 4);
	parse_valid(hdr, n, &info);
	assert_local(&info, 2);
	/* Its block is TLVs only, and they must be well framed. */
	n = v2_header(hdr, 0x21, 0x00, "\x04\x00\x02z", 4);
	parse_error(hdr, n);
}

static void
test_v2_unsupported(void **state)
{
	static const unsigned char	fams[] = { 0x12, 0x22, 0x31, 0x32 };
	unsigned char			block[216], hdr[TEST_BUF_OCTETS];
	size_t				i;

	(void)state;
	/* UDP and UNIX: refused at the family octet. */
	memset(block, 0, sizeof(block));
	for (i = 0; i < sizeof(fams); i++) {
		v2_header(hdr, 0x21, fams[i], block, sizeof(block));
		parse_error_at(hdr, 14);
	}
}

static void
test_v2_bad_header(void **state)
{
	static const unsigned char	bad_fams[] = {
		0x01, 0x02, 0x10, 0x13, 0x20, 0x23, 0x30, 0x33, 0x41, 0xff
	};
	static const unsigned char	bad_ver_cmd[] = {
		0x01, 0x10, 0x11, 0x31, 0xf1, 0x22, 0x2f, 0x12
	};
	unsigned char			addrs[12] = { 0 };
	unsigned char			hdr[TEST_BUF_OCTETS];
	size_t				i;

	(void)state;
	/* Version and command: refused at octet 13. */
	for (i = 0; i < sizeof(bad_ver_cmd); i++) {
		v2_header(hdr, bad_ver_cmd[i], 0x11, addrs, sizeof(addrs));
		parse_error_at(hdr, 13);
	}
	/* Undefined family/transport bytes, for both commands. */
	for (i = 0; i < sizeof(bad_fams); i++) {
		v2_header(hdr, 0x21, bad_fams[i], addrs, sizeof(addrs));
		parse_error_at(hdr, 14);
		v2_header(hdr, 0x20, bad_fams[i], addrs, sizeof(addrs));
		parse_error_at(hdr, 14);
	}
	/* A wrong signature octet, at every position. */
	for (i = 1; i < sizeof(test_v2_sig); i++) {
		v2_header(hdr, 0x21, 0x11, addrs, sizeof(addrs));
		hdr[i] ^= 0x20;
		parse_error_at(hdr, i + 1);
	}
}

static void
test_v2_length(void **state)
{
	unsigned char		block[PROXY_MAX_OCTETS];
	unsigned char		hdr[TEST_BUF_OCTETS];
	struct proxy_info	info;
	size_t			n, tlv;

	(void)state;
	memset(block, 0, sizeof(block));
	/* Too short for the addresses: refused at the length field. */
	v2_header(hdr, 0x21, 0x11, block, 11);
	parse_error_at(hdr, 16);
	v2_header(hdr, 0x21, 0x21, block, 35);
	parse_error_at(hdr, 16);
	v2_header(hdr, 0x21, 0x21, block, 12);
	parse_error_at(hdr, 16);

	/* The largest block we take: addresses, one TLV filling it. */
	tlv = PROXY_MAX_OCTETS - TEST_V2_FIXED - 12 - 3;
	block[12] = 0xe0;
	block[13] = (unsigned char)(tlv >> 8);
	block[14] = (unsigned char)(tlv & 0xff);
	n = v2_header(hdr, 0x21, 0x11, block, 12 + 3 + tlv);
	assert_int_equal(n, PROXY_MAX_OCTETS);
	parse_valid(hdr, n, &info);
	assert_int_equal(info.header_octets, PROXY_MAX_OCTETS);

	/* One more octet: refused at the length field. */
	hdr[15]++;
	parse_error_at(hdr, 16);
	v2_header(hdr, 0x20, 0x00, NULL, 0);
	hdr[14] = 0xff;
	hdr[15] = 0xff;
	parse_error_at(hdr, 16);
	hdr[14] = 0x02;
	hdr[15] = 0x19;		/* 537 */
	parse_error_at(hdr, 16);
}

static void
test_v2_bad_tlv(void **state)
{
	unsigned char		block[64], hdr[TEST_BUF_OCTETS];
	size_t			n;

	(void)state;
	memset(block, 0, sizeof(block));
	/* Two octets after the addresses cannot be a TLV: known at the
	 * length field. */
	v2_header(hdr, 0x21, 0x11, block, 14);
	parse_error_at(hdr, 16);
	/* A TLV longer than the block: known at its length. */
	memcpy(block + 12, "\x01\x00\x05pop3", 7);
	v2_header(hdr, 0x21, 0x11, block, 19);
	parse_error_at(hdr, 16 + 15);
	/* A good TLV, then a stray octet: known once the first TLV's
	 * length has arrived. */
	memcpy(block + 12, "\x01\x00\x04pop3\x00", 8);
	v2_header(hdr, 0x21, 0x11, block, 20);
	parse_error_at(hdr, 16 + 15);
	/* A TLV whose length runs past the block by one. */
	memcpy(block + 36, "\x02\x00\x02x", 4);
	n = v2_header(hdr, 0x21, 0x21, block, 40);
	parse_error_at(hdr, 16 + 39);
	/* The same, framed right, is fine. */
	memcpy(block + 36, "\x02\x00\x01x", 4);
	n = v2_header(hdr, 0x21, 0x21, block, 40);
	parse_valid(hdr, n, &(struct proxy_info){ 0 });
}

static void
test_tail_not_consumed(void **state)
{
	static const char	v1[] = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"
	    "USER bob\r\nPASS x\r\n";
	unsigned char		hdr[TEST_BUF_OCTETS];
	struct proxy_info	info;
	size_t			n;

	(void)state;
	assert_int_equal(proxy_parse((const unsigned char *)v1,
	    sizeof(v1) - 1, &info, NULL), PROXY_DONE);
	assert_int_equal(info.header_octets, 32);
	assert_memory_equal(v1 + info.header_octets, "USER bob", 8);

	/* A v2 header followed by a POP3 command that looks like v1. */
	n = v2_header(hdr, 0x21, 0x00, NULL, 0);
	memcpy(hdr + n, "PROXY UNKNOWN\r\n", 15);
	assert_int_equal(proxy_parse(hdr, n + 15, &info, NULL), PROXY_DONE);
	assert_int_equal(info.header_octets, n);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_not_proxy),
		cmocka_unit_test(test_v1_tcp4),
		cmocka_unit_test(test_v1_tcp6),
		cmocka_unit_test(test_v1_unknown),
		cmocka_unit_test(test_v1_malformed),
		cmocka_unit_test(test_v1_too_long),
		cmocka_unit_test(test_v1_early),
		cmocka_unit_test(test_v2_tcp4),
		cmocka_unit_test(test_v2_tcp6),
		cmocka_unit_test(test_v2_local),
		cmocka_unit_test(test_v2_unspec),
		cmocka_unit_test(test_v2_unsupported),
		cmocka_unit_test(test_v2_bad_header),
		cmocka_unit_test(test_v2_length),
		cmocka_unit_test(test_v2_bad_tlv),
		cmocka_unit_test(test_tail_not_consumed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
