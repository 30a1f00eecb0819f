/* SPDX-License-Identifier: MIT */
/*
 * load_options.c - pop3_load's command line: every option checked and
 * bounded before a thread starts.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_load.h"

static void
load_usage(FILE *f)
{
	fprintf(f,
	    "usage: pop3_load [--host 127.0.0.1] --port PORT\n"
	    "    [--user-prefix bench] [--users K] [--password P]\n"
	    "    [--concurrency C] [--duration SECS | --sessions N]\n"
	    "    [--mode full|retr1] [--timeout SECS] [--threads T]\n"
	    "    [--max-errors N] [--expect-bytes N] [--verify-digest HEX]\n"
	    "    [--tls [--tls-ca FILE] [--tls-name NAME]]\n"
	    "Prints one JSON line. Sessions use users PREFIX0..PREFIX(K-1);\n"
	    "concurrent sessions never share a user (needs K >= C).\n"
	    "--expect-bytes: every session must RETR exactly N octets.\n"
	    "--verify-digest: FNV-1a 64 of each session's RETR data.\n"
	    "--tls: implicit TLS (POP3S); each session does a full handshake,\n"
	    "verifying the certificate against --tls-ca (default: the system\n"
	    "store) for --tls-name (default localhost).\n");
}

static bool
load_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char			*end;
	unsigned long long	 v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
load_parse_seconds(const char *s, double *out)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) ||
	    v <= 0 || v > 86400)
		return false;
	*out = v;
	return true;
}

/* Loopback only: 127.0.0.0/8 or ::1, numeric. */
static bool
load_parse_host(const char *host, int port, struct sockaddr_storage *out)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)out;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (uv_ip4_addr(host, port, sin) == 0) {
		const unsigned char *a =
		    (const unsigned char *)&sin->sin_addr.s_addr;
		return a[0] == 127;
	}
	if (uv_ip6_addr(host, port, sin6) == 0)
		return memcmp(&sin6->sin6_addr, &in6addr_loopback,
		    sizeof(in6addr_loopback)) == 0;
	return false;
}

/* Applies one option; returns false on a bad value. */
static bool
load_parse_option(int ch, const char *arg, struct load_options *o)
{
	uint64_t	v;
	double		d;
	char		*end;

	switch (ch) {
	case 'h':
		o->host = arg;
		return true;
	case 'p':
		if (!load_parse_u64(arg, 1, 65535, &v))
			return false;
		o->port = (int)v;
		return true;
	case 'u':
		o->user_prefix = arg;
		return strlen(arg) <= LOAD_NAME_MAX_OCTETS &&
		    strpbrk(arg, " \r\n") == NULL;
	case 'k':
		if (!load_parse_u64(arg, 1, UINT_MAX, &v))
			return false;
		o->users = (unsigned)v;
		return true;
	case 'w':
		o->password = arg;
		return strlen(arg) <= LOAD_NAME_MAX_OCTETS &&
		    strpbrk(arg, "\r\n") == NULL;
	case 'c':
		if (!load_parse_u64(arg, 1, LOAD_MAX_CONCURRENCY, &v))
			return false;
		o->concurrency = (unsigned)v;
		return true;
	case 'd':
		return load_parse_seconds(arg, &o->duration_s);
	case 'n':
		return load_parse_u64(arg, 1, UINT64_C(1) << 40, &o->sessions);
	case 'm':
		if (strcmp(arg, "full") == 0)
			o->mode = LOAD_MODE_FULL;
		else if (strcmp(arg, "retr1") == 0)
			o->mode = LOAD_MODE_RETR1;
		else
			return false;
		return true;
	case 't':
		if (!load_parse_seconds(arg, &d))
			return false;
		o->timeout_ms = (uint64_t)(d * 1000.0);
		return true;
	case 'T':
		if (!load_parse_u64(arg, 1, LOAD_MAX_THREADS, &v))
			return false;
		o->threads = (unsigned)v;
		return true;
	case 'E':
		return load_parse_u64(arg, 1, UINT64_MAX, &o->max_errors);
	case 'B':
		if (!load_parse_u64(arg, 0, INT64_MAX, &v))
			return false;
		o->expect_bytes = (int64_t)v;
		return true;
	case 'D':
		errno = 0;
		o->expect_digest = strtoull(arg, &end, 16);
		o->want_digest = true;
		return errno == 0 && end != arg && *end == '\0';
	case 'S':
		o->want_tls = true;
		return true;
	case 'A':
		o->tls_ca_file = arg;
		return *arg != '\0';
	case 'N':
		o->tls_name = arg;
		return *arg != '\0' && strlen(arg) <= LOAD_TLS_NAME_MAX_OCTETS;
	default:
		return false;
	}
}

/* Checks the options as a whole; returns -1 after printing why. */
static int
load_check_options(struct load_options *o)
{
	if (o->port == 0) {
		fprintf(stderr, "pop3_load: --port is required\n");
		return -1;
	}
	if (!load_parse_host(o->host, o->port, &o->address)) {
		fprintf(stderr, "pop3_load: refusing non-loopback host %s "
		    "(only 127.0.0.0/8 and ::1)\n", o->host);
		return -1;
	}
	if (o->duration_s > 0 && o->sessions > 0) {
		fprintf(stderr, "pop3_load: give --duration or --sessions, "
		    "not both\n");
		return -1;
	}
	if (o->duration_s == 0 && o->sessions == 0)
		o->duration_s = 10;
	if (o->users < o->concurrency) {
		fprintf(stderr, "pop3_load: --users (%u) must be >= "
		    "--concurrency (%u): one session per mailbox\n",
		    o->users, o->concurrency);
		return -1;
	}
	if (o->threads > o->concurrency)
		o->threads = o->concurrency;
	if (!o->want_tls && (o->tls_ca_file != NULL || o->tls_name != NULL)) {
		fprintf(stderr, "pop3_load: --tls-ca and --tls-name need "
		    "--tls\n");
		return -1;
	}
	if (o->tls_name == NULL)
		o->tls_name = "localhost";
	return 0;
}

int
load_parse_options(int argc, char **argv, struct load_options *o)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "user-prefix", required_argument, NULL, 'u' },
		{ "users", required_argument, NULL, 'k' },
		{ "password", required_argument, NULL, 'w' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "sessions", required_argument, NULL, 'n' },
		{ "mode", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'T' },
		{ "max-errors", required_argument, NULL, 'E' },
		{ "expect-bytes", required_argument, NULL, 'B' },
		{ "verify-digest", required_argument, NULL, 'D' },
		{ "tls", no_argument, NULL, 'S' },
		{ "tls-ca", required_argument, NULL, 'A' },
		{ "tls-name", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int	ch, option_index;

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->user_prefix = "bench";
	o->password = "bench";
	o->users = 1;
	o->concurrency = 1;
	o->threads = 1;
	o->timeout_ms = 60 * 1000;
	o->max_errors = 1000;
	o->expect_bytes = -1;
	o->mode = LOAD_MODE_FULL;

	while ((ch = getopt_long(argc, argv, "", longopts,
	    &option_index)) != -1) {
		if (ch == 'H') {
			load_usage(stdout);
			exit(0);
		}
		if (ch == '?' || ch == ':') {
			load_usage(stderr);
			return -1;
		}
		if (!load_parse_option(ch, optarg, o)) {
			fprintf(stderr, "pop3_load: bad value for --%s: %s\n",
			    longopts[option_index].name, optarg);
			return -1;
		}
	}
	if (optind != argc) {
		load_usage(stderr);
		return -1;
	}
	return load_check_options(o);
}
