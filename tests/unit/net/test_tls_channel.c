/* SPDX-License-Identifier: MIT */
/*
 * test_tls_channel.c - unit tests for net/tls_channel.c: a client and a
 * server channel pump bytes into each other in memory, against a test PKI
 * made at startup with the openssl CLI in a temporary directory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "tls_channel.h"

/* The temporary directory, and paths of files in it. */
#define TEST_DIR_MAX		128
#define TEST_PATH_MAX		256
/* One openssl command line. */
#define TEST_COMMAND_MAX	1024
/* Profile error text. */
#define TEST_ERR_MAX		512
/* Plaintext a test end may hold; big enough for the bulk payload. */
#define TEST_PLAIN_MAX		(2 * 1024 * 1024)
/* A receiver smaller than a TLS record, to exercise backpressure. */
#define TEST_SMALL_PLAIN_MAX	5000
/* Ciphertext a test end may queue. */
#define TEST_CIPHER_MAX		(4 * 1024 * 1024)
/* Handshakes take a handful of flights; more means a livelock. */
#define TEST_PUMP_ROUNDS	32
/* Bulk payload and the odd piece sizes it is written and fed in. */
#define TEST_BULK_OCTETS	(1024 * 1024)
#define TEST_WRITE_PIECE	7919
#define TEST_FEED_PIECE		1237

/* Minimal openssl.cnf so the host's config adds nothing. */
static const char test_openssl_cnf[] =
    "[req]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[dn]\n"
    "CN = unused\n"
    "[v3_ca]\n"
    "basicConstraints = critical,CA:TRUE\n"
    "keyUsage = critical,keyCertSign,cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "[v3_localhost]\n"
    "basicConstraints = CA:FALSE\n"
    "subjectAltName = DNS:localhost,IP:127.0.0.1\n"
    "[v3_wrong]\n"
    "basicConstraints = CA:FALSE\n"
    "subjectAltName = DNS:wrong.example\n";

struct test_pki {
	char	dir[TEST_DIR_MAX];
	char	path[TEST_PATH_MAX];	/* test_pki_path() result */
};

struct test_end {
	struct tls_channel	*chan;
	struct buf		 plain;
	struct buf		 cipher_out;
	int			 rc;	/* last non-zero feed result */
};

static const char *
test_pki_path(struct test_pki *pki, const char *name)
{
	snprintf(pki->path, sizeof(pki->path), "%s/%s", pki->dir, name);
	return pki->path;
}

static void
test_run(const char *fmt, ...)
{
	char	 command[TEST_COMMAND_MAX];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(command, sizeof(command), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(command));
	assert_int_equal(system(command), 0);
}

/* A CA (name) and leaf (leaf, signed by ca) with an EC P-256 key. */
static void
test_pki_ca(const char *dir, const char *name)
{
	test_run("openssl req -config %s/openssl.cnf -x509 -newkey ec "
	    "-pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
	    "-subj '/CN=popgate test %s' -extensions v3_ca "
	    "-keyout %s/%s.key -out %s/%s.crt 2>/dev/null",
	    dir, name, dir, name, dir, name);
}

static void
test_pki_leaf(const char *dir, const char *leaf, const char *cn,
    const char *ca, int serial)
{
	test_run("openssl req -config %s/openssl.cnf -new -newkey ec "
	    "-pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=%s' "
	    "-keyout %s/%s.key -out %s/%s.csr 2>/dev/null", dir, cn, dir,
	    leaf, dir, leaf);
	test_run("openssl x509 -req -in %s/%s.csr -CA %s/%s.crt "
	    "-CAkey %s/%s.key -set_serial %d -days 2 -extfile %s/openssl.cnf "
	    "-extensions v3_%s -out %s/%s.crt 2>/dev/null", dir, leaf, dir,
	    ca, dir, ca, serial, dir, leaf, dir, leaf);
}

static int
test_pki_setup(void **state)
{
	struct test_pki	*pki;
	FILE		*f;

	pki = calloc(1, sizeof(*pki));
	assert_non_null(pki);
	snprintf(pki->dir, sizeof(pki->dir), "%s/popgate-tls-XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(pki->dir));
	f = fopen(test_pki_path(pki, "openssl.cnf"), "w");
	assert_non_null(f);
	assert_int_equal(fputs(test_openssl_cnf, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	test_pki_ca(pki->dir, "ca");
	test_pki_ca(pki->dir, "ca2");
	test_pki_leaf(pki->dir, "localhost", "localhost", "ca", 2);
	test_pki_leaf(pki->dir, "wrong", "wrong.example", "ca", 3);
	*state = pki;
	return 0;
}

static int
test_pki_teardown(void **state)
{
	struct test_pki	*pki = *state;

	test_run("rm -rf '%s'", pki->dir);
	free(pki);
	return 0;
}

static struct tls_profile *
test_server_profile(struct test_pki *pki, const char *leaf,
    const char *min_version, int security_level)
{
	struct tls_profile_settings	 s;
	struct tls_profile		*profile;
	char				 cert[TEST_PATH_MAX];
	char				 key[TEST_PATH_MAX];
	char				 err[TEST_ERR_MAX];

	snprintf(cert, sizeof(cert), "%s/%s.crt", pki->dir, leaf);
	snprintf(key, sizeof(key), "%s/%s.key", pki->dir, leaf);
	tls_profile_settings_init(&s);
	s.cert_file = cert;
	s.key_file = key;
	s.min_version = min_version;
	s.security_level = security_level;
	profile = tls_profile_new_server(&s, err, sizeof(err));
	if (profile == NULL)
		fail_msg("server profile: %s", err);
	return profile;
}

static struct tls_profile *
test_client_profile(struct test_pki *pki, const char *ca, bool verify,
    const char *max_version, int security_level)
{
	struct tls_profile_settings	 s;
	struct tls_profile		*profile;
	char				 ca_file[TEST_PATH_MAX];
	char				 err[TEST_ERR_MAX];

	snprintf(ca_file, sizeof(ca_file), "%s/%s.crt", pki->dir, ca);
	tls_profile_settings_init(&s);
	s.ca_file = ca_file;
	s.verify_peer = verify;
	if (max_version != NULL) {
		s.min_version = "TLSv1";
		s.max_version = max_version;
	}
	s.security_level = security_level;
	profile = tls_profile_new_client(&s, err, sizeof(err));
	if (profile == NULL)
		fail_msg("client profile: %s", err);
	return profile;
}

static void
test_end_init(struct test_end *end, struct tls_channel *chan,
    size_t plain_max)
{
	assert_non_null(chan);
	end->chan = chan;
	end->rc = 0;
	buf_init(&end->plain, plain_max);
	buf_init(&end->cipher_out, TEST_CIPHER_MAX);
}

static void
test_end_deinit(struct test_end *end)
{
	tls_channel_free(end->chan);
	buf_deinit(&end->plain);
	buf_deinit(&end->cipher_out);
}

/* Hands everything from queued for the peer to to. */
static int
test_transfer(struct test_end *from, struct test_end *to)
{
	int	 rc;

	if (from->cipher_out.len == 0)
		return 0;
	rc = tls_channel_feed(to->chan, from->cipher_out.data,
	    from->cipher_out.len, &to->plain, &to->cipher_out);
	buf_reset(&from->cipher_out);
	if (rc != 0)
		to->rc = rc;
	return rc < 0 ? rc : 0;
}

/* Moves bytes both ways until both are quiet; the first error stops it. */
static int
test_pump(struct test_end *a, struct test_end *b)
{
	int	 i, rc;

	for (i = 0; i < TEST_PUMP_ROUNDS; i++) {
		if (a->cipher_out.len == 0 && b->cipher_out.len == 0)
			return 0;
		if ((rc = test_transfer(a, b)) != 0 ||
		    (rc = test_transfer(b, a)) != 0)
			return rc;
	}
	fail_msg("pump did not settle");
	return -EIO;
}

static int
test_connect(struct tls_profile *client_profile, const char *server_name,
    struct tls_profile *server_profile, struct test_end *client,
    struct test_end *server)
{
	test_end_init(client, tls_channel_new_client(client_profile,
	    server_name), TEST_PLAIN_MAX);
	test_end_init(server, tls_channel_new_server(server_profile),
	    TEST_PLAIN_MAX);
	assert_int_equal(tls_channel_start(client->chan, &client->cipher_out),
	    0);
	assert_true(client->cipher_out.len > 0);
	return test_pump(client, server);
}

static unsigned char
test_bulk_byte(size_t i)
{
	return (unsigned char)(i * 31 + i / 251);
}

/* Checks and consumes what arrived; *seen counts bulk bytes so far. */
static void
test_bulk_take(struct test_end *to, size_t *seen)
{
	size_t	 i;

	for (i = 0; i < to->plain.len; i++) {
		if ((unsigned char)to->plain.data[i] != test_bulk_byte(*seen +
		    i))
			fail_msg("bulk byte %zu differs", *seen + i);
	}
	*seen += to->plain.len;
	buf_reset(&to->plain);
}

/*
 * Sends TEST_BULK_OCTETS in odd-sized writes and feeds the ciphertext in
 * odd-sized pieces into a receiver whose plaintext buffer is smaller than
 * one record, so the backpressure path runs on almost every piece.
 */
static void
test_bulk(struct test_end *from, struct test_end *to)
{
	struct buf	 small;
	char		*piece;
	size_t		 off, n, i, seen = 0;

	piece = malloc(TEST_WRITE_PIECE);
	assert_non_null(piece);
	for (off = 0; off < TEST_BULK_OCTETS; off += n) {
		n = TEST_BULK_OCTETS - off < TEST_WRITE_PIECE ?
		    TEST_BULK_OCTETS - off : TEST_WRITE_PIECE;
		for (i = 0; i < n; i++)
			piece[i] = (char)test_bulk_byte(off + i);
		assert_int_equal(tls_channel_write(from->chan, piece, n,
		    &from->cipher_out), 0);
	}
	free(piece);
	buf_init(&small, TEST_SMALL_PLAIN_MAX);
	for (off = 0; off < from->cipher_out.len; off += n) {
		n = from->cipher_out.len - off < TEST_FEED_PIECE ?
		    from->cipher_out.len - off : TEST_FEED_PIECE;
		assert_int_equal(tls_channel_feed(to->chan,
		    from->cipher_out.data + off, n, &small, &to->cipher_out),
		    0);
		for (;;) {
			assert_true(small.len <= TEST_SMALL_PLAIN_MAX);
			for (i = 0; i < small.len; i++) {
				if ((unsigned char)small.data[i] !=
				    test_bulk_byte(seen + i))
					fail_msg("bulk byte %zu differs",
					    seen + i);
			}
			seen += small.len;
			buf_reset(&small);
			if (!tls_channel_pending(to->chan))
				break;
			assert_int_equal(tls_channel_feed(to->chan, NULL, 0,
			    &small, &to->cipher_out), 0);
		}
	}
	buf_reset(&from->cipher_out);
	buf_deinit(&small);
	assert_int_equal(seen, TEST_BULK_OCTETS);
	test_bulk_take(to, &seen);
}

static void
test_handshake_exchange_close(void **state)
{
	struct test_pki		*pki = *state;
	struct tls_profile	*cp, *sp;
	struct test_end		 c, s;
	struct buf		 tiny;

	sp = test_server_profile(pki, "localhost", NULL, -1);
	cp = test_client_profile(pki, "ca", true, NULL, -1);
	/* Before the handshake nothing can be sent or closed. */
	test_end_init(&c, tls_channel_new_client(cp, "localhost"),
	    TEST_PLAIN_MAX);
	assert_false(tls_channel_handshake_done(c.chan));
	assert_null(tls_channel_version(c.chan));
	assert_int_equal(tls_channel_write(c.chan, "x", 1, &c.cipher_out),
	    -EAGAIN);
	assert_int_equal(tls_channel_shutdown(c.chan, &c.cipher_out),
	    -ENOTCONN);
	test_end_deinit(&c);

	assert_int_equal(test_connect(cp, "localhost", sp, &c, &s), 0);
	assert_true(tls_channel_handshake_done(c.chan));
	assert_true(tls_channel_handshake_done(s.chan));
	assert_string_equal(tls_channel_version(c.chan), "TLSv1.3");
	assert_string_equal(tls_channel_version(s.chan), "TLSv1.3");
	assert_non_null(tls_channel_cipher(c.chan));
	assert_string_equal(tls_channel_cipher(c.chan),
	    tls_channel_cipher(s.chan));
	assert_memory_equal(tls_channel_cipher(s.chan), "TLS_", 4);
	assert_string_equal(tls_channel_error(c.chan), "");

	/* Small messages both ways. */
	assert_int_equal(tls_channel_write(s.chan, "+OK popgate\r\n", 13,
	    &s.cipher_out), 0);
	assert_int_equal(tls_channel_write(c.chan, "CAPA\r\n", 6,
	    &c.cipher_out), 0);
	assert_int_equal(test_pump(&c, &s), 0);
	assert_int_equal(c.plain.len, 13);
	assert_memory_equal(c.plain.data, "+OK popgate\r\n", 13);
	assert_int_equal(s.plain.len, 6);
	assert_memory_equal(s.plain.data, "CAPA\r\n", 6);
	buf_reset(&c.plain);
	buf_reset(&s.plain);

	/* 1 MiB each way, odd pieces, a receiver smaller than a record. */
	test_bulk(&s, &c);
	test_bulk(&c, &s);

	/* close_notify from the client reaches the server as 1. */
	assert_int_equal(tls_channel_shutdown(c.chan, &c.cipher_out), 0);
	assert_true(c.cipher_out.len > 0);
	assert_int_equal(tls_channel_shutdown(c.chan, &c.cipher_out), 0);
	assert_int_equal(tls_channel_write(c.chan, "x", 1, &c.cipher_out),
	    -EPIPE);
	assert_int_equal(test_transfer(&c, &s), 0);
	assert_int_equal(s.rc, 1);
	assert_int_equal(tls_channel_feed(s.chan, NULL, 0, &s.plain,
	    &s.cipher_out), 1);

	/* A cipher_out that cannot take the record is a clean, final error. */
	buf_init(&tiny, 10);
	assert_int_equal(tls_channel_write(s.chan, "+OK bye\r\n", 9, &tiny),
	    -ENOBUFS);
	assert_int_equal(tiny.len, 0);
	assert_int_equal(tls_channel_write(s.chan, "+OK bye\r\n", 9,
	    &s.cipher_out), -EPROTO);
	buf_deinit(&tiny);

	test_end_deinit(&c);
	test_end_deinit(&s);
	tls_profile_free(cp);
	tls_profile_free(sp);
}

static void
test_hostname_mismatch(void **state)
{
	struct test_pki		*pki = *state;
	struct tls_profile	*cp, *sp;
	struct test_end		 c, s;

	sp = test_server_profile(pki, "wrong", NULL, -1);
	cp = test_client_profile(pki, "ca", true, NULL, -1);
	assert_int_equal(test_connect(cp, "localhost", sp, &c, &s), -EPROTO);
	assert_int_equal(c.rc, -EPROTO);
	assert_false(tls_channel_handshake_done(c.chan));
	assert_non_null(strstr(tls_channel_error(c.chan),
	    "certificate verify failed: hostname mismatch"));
	/* The failure is final. */
	assert_int_equal(tls_channel_feed(c.chan, NULL, 0, &c.plain,
	    &c.cipher_out), -EPROTO);
	test_end_deinit(&c);
	test_end_deinit(&s);
	tls_profile_free(cp);

	/* With verification off the same server is accepted. */
	cp = test_client_profile(pki, "ca", false, NULL, -1);
	assert_int_equal(test_connect(cp, "localhost", sp, &c, &s), 0);
	assert_true(tls_channel_handshake_done(c.chan));
	assert_true(tls_channel_handshake_done(s.chan));
	test_end_deinit(&c);
	test_end_deinit(&s);
	tls_profile_free(cp);
	tls_profile_free(sp);
}

static void
test_unknown_ca(void **state)
{
	struct test_pki		*pki = *state;
	struct tls_profile	*cp, *sp;
	struct test_end		 c, s;

	sp = test_server_profile(pki, "localhost", NULL, -1);
	cp = test_client_profile(pki, "ca2", true, NULL, -1);
	assert_int_equal(test_connect(cp, "localhost", sp, &c, &s), -EPROTO);
	assert_int_equal(c.rc, -EPROTO);
	assert_non_null(strstr(tls_channel_error(c.chan),
	    "certificate verify failed"));
	assert_false(tls_channel_handshake_done(c.chan));
	test_end_deinit(&c);
	test_end_deinit(&s);
	tls_profile_free(cp);
	tls_profile_free(sp);
}

static void
test_version_floor(void **state)
{
	struct test_pki		*pki = *state;
	struct tls_profile	*cp, *sp, *legacy;
	struct test_end		 c, s;

	sp = test_server_profile(pki, "localhost", NULL, -1);
	legacy = test_server_profile(pki, "localhost", "TLSv1", 0);
	cp = test_client_profile(pki, "ca", true, "TLSv1", 0);

	/* The default server (TLS 1.2+) refuses a TLS 1.0 client. */
	assert_int_equal(test_connect(cp, "localhost", sp, &c, &s), -EPROTO);
	assert_int_equal(s.rc, -EPROTO);
	assert_false(tls_channel_handshake_done(s.chan));
	assert_string_not_equal(tls_channel_error(s.chan), "");
	test_end_deinit(&c);
	test_end_deinit(&s);

	/* A legacy profile accepts it, and says so for the logs. */
	assert_int_equal(test_connect(cp, "localhost", legacy, &c, &s), 0);
	assert_true(tls_channel_handshake_done(c.chan));
	assert_true(tls_channel_handshake_done(s.chan));
	assert_string_equal(tls_channel_version(s.chan), "TLSv1");
	assert_string_equal(tls_channel_version(c.chan), "TLSv1");
	assert_int_equal(tls_channel_write(c.chan, "STAT\r\n", 6,
	    &c.cipher_out), 0);
	assert_int_equal(test_pump(&c, &s), 0);
	assert_int_equal(s.plain.len, 6);
	assert_memory_equal(s.plain.data, "STAT\r\n", 6);
	test_end_deinit(&c);
	test_end_deinit(&s);

	tls_profile_free(cp);
	tls_profile_free(legacy);
	tls_profile_free(sp);
}

static void
test_sni(void **state)
{
	struct test_pki		*pki = *state;
	struct tls_profile	*cp, *sp;
	struct test_end		 c, s;

	sp = test_server_profile(pki, "localhost", NULL, -1);
	cp = test_client_profile(pki, "ca", true, NULL, -1);
	assert_int_equal(test_connect(cp, "localhost", sp, &c, &s), 0);
	assert_string_equal(tls_channel_sni(s.chan), "localhost");
	test_end_deinit(&c);
	test_end_deinit(&s);

	/* An IP literal is verified against the IP SAN but not sent. */
	assert_int_equal(test_connect(cp, "127.0.0.1", sp, &c, &s), 0);
	assert_null(tls_channel_sni(s.chan));
	test_end_deinit(&c);
	test_end_deinit(&s);
	tls_profile_free(cp);

	cp = test_client_profile(pki, "ca", false, NULL, -1);
	assert_int_equal(test_connect(cp, NULL, sp, &c, &s), 0);
	assert_null(tls_channel_sni(s.chan));
	test_end_deinit(&c);
	test_end_deinit(&s);
	tls_profile_free(cp);
	tls_profile_free(sp);
}

static void
test_garbage(void **state)
{
	static const char	 http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	/* A 28-byte handshake record holding a truncated ClientHello. */
	static const char	 record[] = "\x16\x03\x01\x00\x1c"
				     "\x01\x00\x00\x18\x03\x03"
				     "garbage inside a hello";
	struct test_pki		*pki = *state;
	struct tls_profile	*sp;
	struct test_end		 s;

	sp = test_server_profile(pki, "localhost", NULL, -1);
	test_end_init(&s, tls_channel_new_server(sp), TEST_PLAIN_MAX);
	assert_int_equal(tls_channel_feed(s.chan, http, sizeof(http) - 1,
	    &s.plain, &s.cipher_out), -EPROTO);
	assert_string_not_equal(tls_channel_error(s.chan), "");
	assert_int_equal(s.plain.len, 0);
	assert_int_equal(tls_channel_feed(s.chan, http, sizeof(http) - 1,
	    &s.plain, &s.cipher_out), -EPROTO);
	test_end_deinit(&s);

	/* A well-framed record with a broken ClientHello inside. */
	test_end_init(&s, tls_channel_new_server(sp), TEST_PLAIN_MAX);
	assert_int_equal(sizeof(record) - 1, 5 + 0x1c);
	assert_int_equal(tls_channel_feed(s.chan, record, sizeof(record) - 1,
	    &s.plain, &s.cipher_out), -EPROTO);
	assert_false(tls_channel_pending(s.chan));
	assert_false(tls_channel_handshake_done(s.chan));
	test_end_deinit(&s);
	tls_profile_free(sp);
}

static void
test_bad_profiles(void **state)
{
	struct test_pki			*pki = *state;
	struct tls_profile_settings	 set;
	char				 cert[TEST_PATH_MAX];
	char				 key[TEST_PATH_MAX];
	char				 err[TEST_ERR_MAX];

	snprintf(cert, sizeof(cert), "%s/localhost.crt", pki->dir);
	snprintf(key, sizeof(key), "%s/localhost.key", pki->dir);

	tls_profile_settings_init(&set);
	set.cert_file = "/nonexistent/popgate.crt";
	set.key_file = key;
	assert_null(tls_profile_new_server(&set, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/popgate.crt"));

	/* Key of another certificate. */
	set.cert_file = cert;
	set.key_file = test_pki_path(pki, "wrong.key");
	assert_null(tls_profile_new_server(&set, err, sizeof(err)));
	assert_non_null(strstr(err, "wrong.key"));
	assert_non_null(strstr(err, "mismatch"));

	/* A server needs a key pair. */
	tls_profile_settings_init(&set);
	assert_null(tls_profile_new_server(&set, err, sizeof(err)));
	assert_non_null(strstr(err, "cert_file"));

	tls_profile_settings_init(&set);
	set.cert_file = cert;
	set.key_file = key;
	set.min_version = "TLSv1.4";
	assert_null(tls_profile_new_server(&set, err, sizeof(err)));
	assert_non_null(strstr(err, "min_version \"TLSv1.4\""));

	set.min_version = "TLSv1.3";
	set.max_version = "TLSv1.2";
	assert_null(tls_profile_new_server(&set, err, sizeof(err)));
	assert_non_null(strstr(err, "max_version"));

	set.min_version = NULL;
	set.max_version = NULL;
	set.ciphers = "NO-SUCH-CIPHER";
	assert_null(tls_profile_new_server(&set, err, sizeof(err)));
	assert_non_null(strstr(err, "NO-SUCH-CIPHER"));

	set.ciphers = NULL;
	set.security_level = 9;
	assert_null(tls_profile_new_server(&set, err, sizeof(err)));
	assert_non_null(strstr(err, "security_level"));

	tls_profile_settings_init(&set);
	set.ca_file = "/nonexistent/ca.pem";
	assert_null(tls_profile_new_client(&set, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));

	/* The system store is the client default. */
	tls_profile_settings_init(&set);
	tls_profile_free(tls_profile_new_client(&set, err, sizeof(err)));
	tls_profile_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_exchange_close),
		cmocka_unit_test(test_hostname_mismatch),
		cmocka_unit_test(test_unknown_ca),
		cmocka_unit_test(test_version_floor),
		cmocka_unit_test(test_sni),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_bad_profiles),
	};

	return cmocka_run_group_tests(tests, test_pki_setup,
	    test_pki_teardown);
}
