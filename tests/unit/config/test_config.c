/* SPDX-License-Identifier: MIT */
/*
 * test_config.c - config/: INI loading, every error with file and line,
 * command-line style setters, addresses and upstream URLs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "session.h"

static char *
write_temp(const char *text)
{
	char	*path = strdup("/tmp/popgate-config-XXXXXX");
	int	 fd = mkstemp(path);
	FILE	*fp = fdopen(fd, "w");

	fputs(text, fp);
	fclose(fp);
	return path;
}

static void
test_good_file(void **state)
{
	struct config		c;
	struct config_errors	errs;
	char			*path;

	(void)state;
	memset(&errs, 0, sizeof(errs));
	path = write_temp(
	    "; comment\n"
	    "[global]\nworkers = 3\nlog_level = debug\n\n"
	    "[listener pop3]\naddress = 127.0.0.1:11110\n"
	    "[listener v6]\naddress = [::1]:11111\n"
	    "[upstream]\nurl = imap://imap.example.org:1143\nmailbox = Scans\n"
	    "seen_on_retr = no\nuidl_template = {uidvalidity}.{uid}\n"
	    "connect_timeout = 5\ncommand_timeout = 60\n"
	    "[session]\nidle_timeout = 900\n");
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, &errs), 0);
	assert_int_equal(config_validate(&c, path, &errs), 0);
	assert_int_equal(errs.count, 0);
	assert_int_equal(c.workers, 3);
	assert_int_equal(c.log_level, CONFIG_LOG_DEBUG);
	assert_int_equal(c.nlisteners, 2);
	assert_string_equal(c.listeners[0].name, "pop3");
	assert_int_equal(c.listeners[1].addr.ss_family, AF_INET6);
	assert_string_equal(c.upstreams[0].host, "imap.example.org");
	assert_string_equal(c.upstreams[0].port, "1143");
	assert_string_equal(c.upstreams[0].mailbox, "Scans");
	assert_false(c.seen_on_retr);
	assert_int_equal(c.connect_timeout_ms, 5000);
	assert_int_equal(c.idle_timeout_ms, 900000);
	unlink(path);
	free(path);
}

static void
test_every_error_has_file_and_line(void **state)
{
	struct config		c;
	struct config_errors	errs;
	char			*path, want[256];

	(void)state;
	memset(&errs, 0, sizeof(errs));
	path = write_temp(
	    "[global]\n"
	    "workers = lots\n"			/* line 2 */
	    "[listener pop3]\n"
	    "address = 127.0.0.1\n"		/* line 4: no port */
	    "[upstream]\n"
	    "url = http://x\n"			/* line 6 */
	    "bogus = 1\n"			/* line 7 */
	    "[nonsense]\n"
	    "key = value\n");			/* line 9 */
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, &errs), -EINVAL);
	assert_int_equal(errs.count, 5);
	snprintf(want, sizeof(want), "%s:2: ", path);
	assert_non_null(strstr(errs.text[0], want));
	snprintf(want, sizeof(want), "%s:4: ", path);
	assert_non_null(strstr(errs.text[1], want));
	snprintf(want, sizeof(want), "%s:6: ", path);
	assert_non_null(strstr(errs.text[2], want));
	snprintf(want, sizeof(want), "%s:7: ", path);
	assert_non_null(strstr(errs.text[3], want));
	assert_non_null(strstr(errs.text[3], "bogus"));
	snprintf(want, sizeof(want), "%s:9: ", path);
	assert_non_null(strstr(errs.text[4], want));
	unlink(path);
	free(path);
}

static void
test_missing_file_and_missing_sections(void **state)
{
	struct config		c;
	struct config_errors	errs;

	(void)state;
	memset(&errs, 0, sizeof(errs));
	config_defaults(&c);
	assert_true(config_load_file(&c, "/nonexistent/popgate.conf",
	    &errs) < 0);
	assert_non_null(strstr(errs.text[0], "/nonexistent/popgate.conf"));
	memset(&errs, 0, sizeof(errs));
	assert_int_equal(config_validate(&c, "x.conf", &errs), -EINVAL);
	assert_int_equal(errs.count, 2);	/* no listener, no upstream */
}

static void
test_setters(void **state)
{
	struct config	c;
	char		err[200];

	(void)state;
	config_defaults(&c);
	assert_true(c.seen_on_retr);
	assert_int_equal(c.idle_timeout_ms, 600000);	/* RFC 1939 sec. 3 */
	assert_int_equal(config_set(&c, "upstream", "url", "imap://[::1]:143",
	    err, sizeof(err)), 0);
	assert_string_equal(c.upstreams[0].host, "::1");
	assert_int_equal(config_set(&c, "upstream", "url", "imap://host",
	    err, sizeof(err)), 0);
	assert_string_equal(c.upstreams[0].port, "143");
	assert_int_not_equal(config_set(&c, "upstream", "url",
	    "imap://host:99999", err, sizeof(err)), 0);
	assert_int_not_equal(config_set(&c, "upstream", "url",
	    "imap://host:143/INBOX", err, sizeof(err)), 0);
	assert_int_not_equal(config_set(&c, "upstream", "uidl_template",
	    "{nope}", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "uidl_template"));
	assert_int_not_equal(config_set(&c, "upstream", "mailbox", "a\"b",
	    err, sizeof(err)), 0);
	assert_int_not_equal(config_set(&c, "session", "idle_timeout", "-1",
	    err, sizeof(err)), 0);
	/* The cap on input before login: octets, within bounds. */
	assert_int_equal(c.login_max_octets, 65536);
	assert_int_equal(config_set(&c, "session", "login_max_octets", "8192",
	    err, sizeof(err)), 0);
	assert_int_equal(c.login_max_octets, 8192);
	assert_int_equal(config_set(&c, "session", "login_max_octets", "100",
	    err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "login_max_octets"));
	assert_int_equal(config_set(&c, "session", "login_max_octets",
	    "99999999", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_set(&c, "session", "login_max_octets", "64K",
	    err, sizeof(err)), -EINVAL);
	assert_int_equal(c.login_max_octets, 8192);
	assert_int_not_equal(config_set(&c, "global", "log_level", "loud",
	    err, sizeof(err)), 0);
}

static void
test_addresses(void **state)
{
	struct sockaddr_storage	ss;
	socklen_t		len;

	(void)state;
	assert_int_equal(config_parse_address("127.0.0.1:110", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(config_parse_address("[::1]:995", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(config_parse_address("*:110", &ss, &len), 0);
	assert_int_not_equal(config_parse_address("localhost:110", &ss, &len),
	    0);
	assert_int_not_equal(config_parse_address("127.0.0.1:0", &ss, &len), 0);
	assert_int_not_equal(config_parse_address("127.0.0.1:", &ss, &len), 0);
	assert_int_not_equal(config_parse_address(":110", &ss, &len), 0);
	assert_int_not_equal(config_parse_address("[::1]110", &ss, &len), 0);
}

static void
test_tls_settings(void **state)
{
	struct config		 c;
	struct config_errors	 errs;
	char			*path, *certs, text[1024];

	(void)state;
	memset(&errs, 0, sizeof(errs));
	certs = write_temp("not really a certificate, but readable\n");
	snprintf(text, sizeof(text),
	    "[tls_profile default]\ncert = %s\nkey = %s\n"
	    "[tls_profile legacy]\ncert = %s\nkey = %s\n"
	    "min_version = TLSv1\nsecurity_level = 0\n"
	    "[listener pop3s]\naddress = 127.0.0.1:995\ntls = implicit\n"
	    "[listener pop3]\naddress = 127.0.0.1:110\ntls = starttls\n"
	    "tls_profile = legacy\nplaintext_auth = yes\n"
	    "trusted_networks = 10.1.0.0/16, ::1 192.168.7.7\n"
	    "[upstream]\nurl = imaps://imap.example.org\nverify = no\n",
	    certs, certs, certs, certs);
	path = write_temp(text);
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, &errs), 0);
	assert_int_equal(config_validate(&c, path, &errs), 0);
	assert_int_equal(c.nprofiles, 2);
	assert_int_equal(c.profiles[0].min_version, CONFIG_TLS_1_2);
	assert_int_equal(c.profiles[1].min_version, CONFIG_TLS_1_0);
	assert_int_equal(c.profiles[1].security_level, 0);
	assert_int_equal(c.listeners[0].tls, CONFIG_LISTENER_TLS_IMPLICIT);
	assert_string_equal(c.listeners[0].tls_profile, "default");
	assert_false(c.listeners[0].plaintext_auth);
	assert_int_equal(c.listeners[0].ntrusted, 2);	/* loopback default */
	assert_int_equal(c.listeners[1].ntrusted, 3);
	assert_true(c.listeners[1].plaintext_auth);
	assert_int_equal(c.upstreams[0].tls, CONFIG_UPSTREAM_IMPLICIT);
	assert_string_equal(c.upstreams[0].port, "993");
	assert_false(c.upstreams[0].verify);
	unlink(path);
	free(path);
	unlink(certs);
	free(certs);
}

/* Writes text to a file that must load without error; its path. */
static char *
load_text(struct config *c, const char *text)
{
	struct config_errors	 errs;
	char			*path;

	memset(&errs, 0, sizeof(errs));
	path = write_temp(text);
	config_defaults(c);
	assert_int_equal(config_load_file(c, path, &errs), 0);
	assert_int_equal(errs.count, 0);
	return path;
}

/* The same, and the result must validate too. */
static char *
load_valid(struct config *c, const char *text)
{
	struct config_errors	 errs;
	char			*path = load_text(c, text);

	memset(&errs, 0, sizeof(errs));
	assert_int_equal(config_validate(c, path, &errs), 0);
	return path;
}

/* Named upstreams, presets, routes and token sources. */
static void
test_upstreams_and_routes(void **state)
{
	const struct config_upstream	*u;
	const struct config_oauth2	*o;
	struct config			 c;
	char				*path;

	(void)state;
	path = load_valid(&c,
	    "[global]\nstate_directory = /var/lib/pg\n"
	    "[listener a]\naddress = 127.0.0.1:110\napop = no\n"
	    "[upstream]\nseen_on_retr = no\n"
	    "[upstream m365]\nprovider = microsoft365\n"
	    "[upstream dc]\nurl = imap://127.0.0.1:1143\nmailbox = Scans\n"
	    "sasl = oauthbearer\n"
	    "[routes]\nAlice@Example.NET = dc\n@example.com = m365\n"
	    "example.org = dc\n* = dc\n"
	    "[oauth2 scans]\nprovider = microsoft365\ntenant = contoso.com\n"
	    "client_id = abc\n"
	    "[oauth2 app]\ngrant = client_credentials\nprovider = google\n"
	    "client_id = id\nclient_secret = s3cret\n"
	    "[oauth2 cmd]\ngrant = command\ncommand = /bin/echo tok\n"
	    "command_timeout = 500ms\n");
	assert_false(c.seen_on_retr);
	assert_false(c.listeners[0].apop);
	assert_int_equal(c.nupstreams, 2);	/* no "default": no url */
	u = config_find_upstream(&c, "m365");
	assert_non_null(u);
	assert_string_equal(u->host, "outlook.office365.com");
	assert_string_equal(u->port, "993");
	assert_int_equal(u->tls, CONFIG_UPSTREAM_IMPLICIT);
	assert_false(u->passthrough);		/* presets take no passwords */
	u = config_find_upstream(&c, "dc");
	assert_true(u->passthrough);
	assert_string_equal(u->mailbox, "Scans");
	assert_int_equal(u->bearer, CONFIG_BEARER_OAUTHBEARER);
	assert_string_equal(config_route(&c, "alice@example.net")->name, "dc");
	assert_string_equal(config_route(&c, "bob@EXAMPLE.com")->name, "m365");
	assert_string_equal(config_route(&c, "x@example.org")->name, "dc");
	assert_string_equal(config_route(&c, "nobody")->name, "dc");
	o = config_find_oauth2(&c, "scans");
	assert_non_null(o);
	assert_int_equal(o->grant, CONFIG_OAUTH2_REFRESH_TOKEN);
	assert_string_equal(o->token_url, "https://login.microsoftonline.com/"
	    "contoso.com/oauth2/v2.0/token");
	assert_string_equal(o->device_url, "https://login.microsoftonline.com/"
	    "contoso.com/oauth2/v2.0/devicecode");
	assert_non_null(strstr(o->scope, "IMAP.AccessAsUser.All"));
	assert_string_equal(o->refresh_token_file, "/var/lib/pg/scans.refresh");
	o = config_find_oauth2(&c, "app");
	assert_string_equal(o->token_url, "https://oauth2.googleapis.com/token");
	assert_string_equal(o->scope, "https://mail.google.com/");
	o = config_find_oauth2(&c, "cmd");
	assert_int_equal(o->grant, CONFIG_OAUTH2_COMMAND);
	assert_int_equal(o->command_timeout_ms, 500);
	unlink(path);
	free(path);

	/* Two sources, one refresh token file: refused. */
	{
		struct config_errors	errs;

		memset(&errs, 0, sizeof(errs));
		path = write_temp("[listener a]\naddress = 127.0.0.1:110\n"
		    "[upstream]\nurl = imap://h\n"
		    "[oauth2 a]\ntoken_url = https://t/\nclient_id = x\n"
		    "refresh_token_file = /var/lib/pg/one\n"
		    "[oauth2 b]\ntoken_url = https://t/\nclient_id = x\n"
		    "refresh_token_file = /var/lib/pg/one\n");
		config_defaults(&c);
		assert_int_equal(config_load_file(&c, path, &errs), 0);
		assert_int_equal(config_validate(&c, path, &errs), -EINVAL);
		assert_int_equal(errs.count, 1);
		assert_non_null(strstr(errs.text[0], "share refresh_token_file"));
	}
	unlink(path);
	free(path);

	/* No "*": an unknown domain has no route. */
	path = load_valid(&c, "[listener a]\naddress = 127.0.0.1:110\n"
	    "[upstream]\nurl = imap://h\n[routes]\nexample.com = default\n");
	assert_null(config_route(&c, "a@example.net"));
	assert_null(config_route(&c, "plain"));
	assert_non_null(config_route(&c, "a@example.com"));
	unlink(path);
	free(path);
}

/* Each mistake is named with its line; secrets never appear. */
static void
test_upstream_errors(void **state)
{
	struct config		c;
	struct config_errors	errs;
	char			*path;
	unsigned int		i;

	(void)state;
	memset(&errs, 0, sizeof(errs));
	path = write_temp(
	    "[listener a]\naddress = 127.0.0.1:110\n"
	    "[upstream x]\nseen_on_retr = no\n"			/* 4 */
	    "[upstream b@d]\nurl = imap://h\n"			/* 6 */
	    "[routes]\nexample.com = nowhere\n"			/* 8 */
	    "a*b = x\n"						/* 9 */
	    "example.com = x\n"					/* 10 */
	    "[oauth2 t]\nclient_secret = TopSecret1\ngrant = magic\n" /* 13 */
	    "token_url = http://example.com/token\n");
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, &errs), -EINVAL);
	assert_int_equal(errs.count, 5);
	assert_non_null(strstr(errs.text[0], ":4: "));
	assert_non_null(strstr(errs.text[0], "belongs in [upstream]"));
	assert_non_null(strstr(errs.text[1], ":6: bad upstream name"));
	assert_non_null(strstr(errs.text[2], ":9: bad route"));
	assert_non_null(strstr(errs.text[3], ":10: route"));
	assert_non_null(strstr(errs.text[4], ":13: grant must be"));
	memset(&errs, 0, sizeof(errs));
	assert_int_equal(config_validate(&c, path, &errs), -EINVAL);
	/* no upstream at all (neither section made one); a route to an
	 * undefined upstream; t: http:// to a remote host, no client_id */
	assert_int_equal(errs.count, 4);
	for (i = 0; i < errs.count; i++)
		assert_null(strstr(errs.text[i], "TopSecret1"));
	unlink(path);
	free(path);
}

static void
test_tls_errors(void **state)
{
	struct config		c;
	struct config_errors	errs;
	char			*path;

	(void)state;
	memset(&errs, 0, sizeof(errs));
	path = write_temp(
	    "[tls_profile p]\ncert = /nonexistent/cert.pem\n"
	    "min_version = TLSv1.3\nmax_version = TLSv1.2\n"
	    "[listener a]\naddress = 127.0.0.1:995\ntls = implicit\n"
	    "tls_profile = missing\n"
	    "[upstream]\nurl = imap+starttls://h\nclient_cert = /etc/hostname\n");
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, &errs), 0);
	assert_int_equal(c.upstreams[0].tls, CONFIG_UPSTREAM_STARTTLS);
	assert_string_equal(c.upstreams[0].port, "143");
	assert_int_equal(config_validate(&c, path, &errs), -EINVAL);
	/* no key; unreadable cert; max < min; unknown profile; lone cert */
	assert_int_equal(errs.count, 5);
	unlink(path);
	free(path);
}

static void
test_networks(void **state)
{
	struct config_network	net[2];
	struct sockaddr_in	a4;
	struct sockaddr_in6	a6;

	(void)state;
	assert_int_equal(config_parse_network("127.0.0.0/8", &net[0]), 0);
	assert_int_equal(config_parse_network("2001:db8::/33", &net[1]), 0);
	memset(&a4, 0, sizeof(a4));
	a4.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.2", &a4.sin_addr);
	assert_true(session_peer_in(net, 2, (struct sockaddr *)&a4));
	inet_pton(AF_INET, "128.0.0.1", &a4.sin_addr);
	assert_false(session_peer_in(net, 2, (struct sockaddr *)&a4));
	memset(&a6, 0, sizeof(a6));
	a6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:7fff::1", &a6.sin6_addr);
	assert_true(session_peer_in(net, 2, (struct sockaddr *)&a6));
	inet_pton(AF_INET6, "2001:db8:8000::1", &a6.sin6_addr);
	assert_false(session_peer_in(net, 2, (struct sockaddr *)&a6));
	/* A dual-stack listener's IPv4 client: ::ffff:a.b.c.d. */
	inet_pton(AF_INET6, "::ffff:127.0.0.2", &a6.sin6_addr);
	assert_true(session_peer_in(net, 2, (struct sockaddr *)&a6));
	inet_pton(AF_INET6, "::ffff:128.0.0.1", &a6.sin6_addr);
	assert_false(session_peer_in(net, 2, (struct sockaddr *)&a6));
	assert_int_equal(config_parse_network("127.0.0.1/32", &net[0]), 0);
	inet_pton(AF_INET, "127.0.0.2", &a4.sin_addr);
	assert_false(session_peer_in(net, 1, (struct sockaddr *)&a4));
	assert_int_equal(config_parse_network("0.0.0.0/0", &net[0]), 0);
	assert_true(session_peer_in(net, 1, (struct sockaddr *)&a4));
	assert_int_not_equal(config_parse_network("10.0.0.0/33", &net[0]), 0);
	assert_int_not_equal(config_parse_network("host.example/8", &net[0]), 0);
	assert_int_not_equal(config_parse_network("/8", &net[0]), 0);
}

static void
test_durations(void **state)
{
	struct config	c;
	char		err[256];

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.auth_failure_delay_ms, 2000);
	assert_int_equal(c.auth_failure_delay_max_ms, 15000);
	assert_int_equal(config_set(&c, "session", "auth_failure_delay", "300ms",
	    err, sizeof(err)), 0);
	assert_int_equal(c.auth_failure_delay_ms, 300);
	assert_int_equal(config_set(&c, "session", "auth_failure_delay_max",
	    "1m", err, sizeof(err)), 0);
	assert_int_equal(c.auth_failure_delay_max_ms, 60000);
	assert_int_equal(config_set(&c, "session", "auth_failure_delay", "0",
	    err, sizeof(err)), 0);
	assert_int_equal(c.auth_failure_delay_ms, 0);
	/* Bare numbers stay seconds, as the timeouts always took them. */
	assert_int_equal(config_set(&c, "session", "idle_timeout", "90", err,
	    sizeof(err)), 0);
	assert_int_equal(c.idle_timeout_ms, 90000);
	assert_int_equal(config_set(&c, "session", "idle_timeout", "2m", err,
	    sizeof(err)), 0);
	assert_int_equal(c.idle_timeout_ms, 120000);
	/* Below the minimum of one second, unknown units, junk, too big. */
	assert_int_equal(config_set(&c, "session", "idle_timeout", "500ms", err,
	    sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "500ms"));
	assert_int_equal(config_set(&c, "session", "auth_failure_delay", "2h",
	    err, sizeof(err)), -EINVAL);
	assert_int_equal(config_set(&c, "session", "auth_failure_delay", "s",
	    err, sizeof(err)), -EINVAL);
	assert_int_equal(config_set(&c, "session", "auth_failure_delay", "-1",
	    err, sizeof(err)), -EINVAL);
	assert_int_equal(config_set(&c, "session", "auth_failure_delay",
	    "301s", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_set(&c, "session", "auth_failure_delay",
	    "99999999999999999999ms", err, sizeof(err)), -EINVAL);
	assert_int_equal(c.auth_failure_delay_ms, 0);
}

/* load_text(), then the file goes. */
static void
load_free(struct config *c, const char *text)
{
	char	*path = load_text(c, text);

	unlink(path);
	free(path);
}

/* True if net is exactly what text parses to. */
static bool
network_is(const struct config_network *net, const char *text)
{
	struct config_network	want;

	assert_int_equal(config_parse_network(text, &want), 0);
	return net->prefix == want.prefix &&
	    memcmp(&net->addr, &want.addr, sizeof(want.addr)) == 0;
}

/*
 * A line far longer than the 200-octet buffer of Debian's libinih: all 32
 * networks arrive, and the key on the next line is read as itself (inih
 * cut such a line into pieces and parsed each as a line of its own).
 */
static void
test_long_trusted_networks(void **state)
{
	const struct config_listener	*l;
	struct config			 c;
	char				 text[4096], nets[32][48];
	size_t				 n, start;
	int				 i;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text), "[listener pop3]\n");
	start = n;
	n += (size_t)snprintf(text + n, sizeof(text) - n, "trusted_networks =");
	for (i = 0; i < 32; i++) {
		if (i % 2 == 0)
			snprintf(nets[i], sizeof(nets[i]), "100.100.%d.128/25",
			    i);
		else
			snprintf(nets[i], sizeof(nets[i]),
			    "2001:0db8:%04x:0000:0000:0000:0000:0000/112", i);
		n += (size_t)snprintf(text + n, sizeof(text) - n, " %s%s",
		    nets[i], i < 31 ? "," : "");
	}
	assert_true(n - start >= 1000);
	snprintf(text + n, sizeof(text) - n,
	    "\naddress = 127.0.0.1:110\nplaintext_auth = yes\n");
	load_free(&c, text);
	l = &c.listeners[0];
	assert_int_equal(l->ntrusted, 32);
	for (i = 0; i < 32; i++)
		assert_true(network_is(&l->trusted[i], nets[i]));
	assert_int_equal(l->addrlen, sizeof(struct sockaddr_in));
	assert_true(l->plaintext_auth);

	/* 33 do not fit, and the error says so. */
	{
		struct config_errors	 errs;
		char			*path;

		memset(&errs, 0, sizeof(errs));
		snprintf(text + n, sizeof(text) - n, ", 192.0.2.0/24\n");
		path = write_temp(text);
		config_defaults(&c);
		assert_int_equal(config_load_file(&c, path, &errs), -EINVAL);
		assert_int_equal(errs.count, 1);
		assert_non_null(strstr(errs.text[0], ":2: trusted_networks: "
		    "too many"));
		unlink(path);
		free(path);
	}
}

/* Long ciphers and command values, a long comment, CRLF line ends. */
static void
test_long_values(void **state)
{
	const struct config_oauth2	*o;
	struct config			 c;
	char				 text[4096], ciphers[512], cmd[512];
	size_t				 n = 0;

	(void)state;
	while (n + 32 < sizeof(ciphers))
		n += (size_t)snprintf(ciphers + n, sizeof(ciphers) - n, "%s%s",
		    n > 0 ? ":" : "", n % 3 ? "ECDHE-RSA-AES256-GCM-SHA384" :
		    "ECDHE-ECDSA-CHACHA20-POLY1305");
	snprintf(cmd, sizeof(cmd), "/usr/lib/popgate/token-helper --tenant "
	    "contoso.example --client 00000000-1111-2222-3333-444444444444 "
	    "--scope 'https://outlook.office.com/IMAP.AccessAsUser.All "
	    "offline_access' --cache /var/lib/popgate/cache/scans.json "
	    "--log-file /var/log/popgate/token-helper.log --timeout 30 "
	    "--user scans@contoso.example --verbose");
	assert_true(strlen(ciphers) > 400 && strlen(cmd) > 300);
	snprintf(text, sizeof(text),
	    "# %s %s\r\n"
	    "[tls_profile default]\r\nciphers = %s   ; TLS 1.2 only\r\n"
	    "ciphersuites = TLS_AES_256_GCM_SHA384\r\n"
	    "[oauth2 cmd]\ngrant = command\ncommand = %s\n"
	    "command_timeout = 500ms\n", ciphers, cmd, ciphers, cmd);
	load_free(&c, text);
	assert_string_equal(c.profiles[0].ciphers, ciphers);
	assert_string_equal(c.profiles[0].ciphersuites,
	    "TLS_AES_256_GCM_SHA384");
	o = config_find_oauth2(&c, "cmd");
	assert_non_null(o);
	assert_string_equal(o->command, cmd);
	assert_int_equal(o->command_timeout_ms, 500);
}

/*
 * A line over the limit is refused with its file and line, and the lines
 * after it are still read, each with its own number.
 */
static void
test_overlong_line(void **state)
{
	struct config		 c;
	struct config_errors	 errs;
	char			*path, *text, want[256];
	size_t			 n;

	(void)state;
	text = malloc(16384);
	assert_non_null(text);
	n = (size_t)snprintf(text, 16384, "[listener pop3]\n"
	    "trusted_networks = 10.0.0.0/8");
	while (n < 6000)
		n += (size_t)snprintf(text + n, 16384 - n, ", 10.0.0.0/8");
	snprintf(text + n, 16384 - n, "\naddress = 127.0.0.1:110\n"
	    "bogus = 1\n");
	memset(&errs, 0, sizeof(errs));
	path = write_temp(text);
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, &errs), -EINVAL);
	assert_int_equal(errs.count, 2);
	snprintf(want, sizeof(want), "%s:2: line longer than 4096 octets",
	    path);
	assert_string_equal(errs.text[0], want);
	snprintf(want, sizeof(want), "%s:4: ", path);
	assert_non_null(strstr(errs.text[1], want));
	assert_non_null(strstr(errs.text[1], "bogus"));
	assert_int_equal(c.listeners[0].addrlen, sizeof(struct sockaddr_in));
	assert_false(c.listeners[0].trusted_set);
	unlink(path);
	free(path);

	/* Exactly at the limit is fine. */
	n = (size_t)snprintf(text, 16384, "[global]\n");
	memset(text + n, ' ', 4096);
	memcpy(text + n, "workers = 2", 11);
	snprintf(text + n + 4096, 16384 - n - 4096, "\r\n");
	load_free(&c, text);
	assert_int_equal(c.workers, 2);
	free(text);
}

/* NUL octets, a header without ']', a line without '=': each reported at
 * its line; an indented line gives the previous key another value. */
static void
test_ini_syntax(void **state)
{
	static const char	 text[] = "[global]\nworkers = 2\0 3\n"
				    "[session\nnonsense\n"
				    "[listener a]\naddress = 127.0.0.1:110\n"
				    "trusted_networks = 10.0.0.0/8\n"
				    "    192.168.0.0/16 ; continued\n";
	struct config		 c;
	struct config_errors	 errs;
	char			 path[] = "/tmp/popgate-config-XXXXXX", want[256];
	int			 fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1),
	    (ssize_t)(sizeof(text) - 1));
	close(fd);
	memset(&errs, 0, sizeof(errs));
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, &errs), -EINVAL);
	assert_int_equal(errs.count, 3);
	snprintf(want, sizeof(want), "%s:2: NUL octet in line", path);
	assert_string_equal(errs.text[0], want);
	snprintf(want, sizeof(want), "%s:3: ", path);
	assert_non_null(strstr(errs.text[1], want));
	snprintf(want, sizeof(want), "%s:4: ", path);
	assert_non_null(strstr(errs.text[2], want));
	assert_int_equal(c.workers, 0);
	assert_int_equal(c.listeners[0].ntrusted, 1);
	assert_true(network_is(&c.listeners[0].trusted[0], "192.168.0.0/16"));
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_every_error_has_file_and_line),
		cmocka_unit_test(test_missing_file_and_missing_sections),
		cmocka_unit_test(test_setters),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_tls_settings),
		cmocka_unit_test(test_tls_errors),
		cmocka_unit_test(test_upstreams_and_routes),
		cmocka_unit_test(test_upstream_errors),
		cmocka_unit_test(test_networks),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_long_trusted_networks),
		cmocka_unit_test(test_long_values),
		cmocka_unit_test(test_overlong_line),
		cmocka_unit_test(test_ini_syntax),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
