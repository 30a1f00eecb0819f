/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c - libFuzzer target for the configuration loader: the input
 * is a whole popgate.conf, written to a memfd and read through
 * config_load_file() (the INI reader of config/ini.c and every value
 * parser behind config_set()), then config_validate(). Oracles: no crash,
 * no leak, no undefined behaviour (ASan, UBSan); the answers are 0 or
 * -EINVAL, and errors are counted exactly when the answer is -EINVAL;
 * every message from the loader names the file, and is printable; a
 * second load of the same text gives the same answer and the same
 * messages; on success every count is within its array and every string
 * is terminated inside its field, and the UIDL template formats to 1..70
 * printable octets.
 */
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_check.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TERMINATED(field)						\
	FUZZ_CHECK(strnlen((field), sizeof(field)) < sizeof(field))

/* Two of each: loaded twice to compare. */
static struct config		fuzz_conf[2];
static struct config_errors	fuzz_errs[2];

/* A generated "client_secret_file = /dev/stdin" must not wait. */
static void
fuzz_quiet_stdin(void)
{
	static int	done;
	int		fd;

	if (done++ > 0)
		return;
	if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
		dup2(fd, STDIN_FILENO);
		if (fd != STDIN_FILENO)
			close(fd);
	}
}

static void
fuzz_check_errors(const struct config_errors *errs, const char *path,
    size_t from)
{
	const char	*t;
	unsigned int	 i;

	for (i = (unsigned int)from; i < errs->count && i < CONFIG_MAX_ERRORS;
	    i++) {
		t = errs->text[i];
		FUZZ_CHECK(strnlen(t, CONFIG_MAX_ERROR_TEXT) <
		    CONFIG_MAX_ERROR_TEXT);
		FUZZ_CHECK(strncmp(t, path, strlen(path)) == 0);
		FUZZ_CHECK(t[strlen(path)] == ':');
	}
}

static void
fuzz_check_config(const struct config *c)
{
	unsigned int	i;
	char		uidl[POP3_UIDL_MAX_OCTETS + 1];
	size_t		n, k;

	FUZZ_CHECK(c->nlisteners >= 1 && c->nlisteners <= CONFIG_MAX_LISTENERS);
	for (i = 0; i < c->nlisteners; i++) {
		const struct config_listener	*l = &c->listeners[i];

		FUZZ_TERMINATED(l->name);
		FUZZ_TERMINATED(l->address);
		FUZZ_TERMINATED(l->tls_profile);
		FUZZ_CHECK(l->addrlen > 0 && l->addrlen <= sizeof(l->addr));
		FUZZ_CHECK(l->ntrusted <= CONFIG_MAX_NETWORKS);
		FUZZ_CHECK(l->nproxy_from <= CONFIG_MAX_NETWORKS);
		FUZZ_CHECK(!l->proxy_protocol || l->nproxy_from > 0);
	}
	FUZZ_CHECK(c->nprofiles <= CONFIG_MAX_PROFILES);
	for (i = 0; i < c->nprofiles; i++) {
		FUZZ_TERMINATED(c->profiles[i].name);
		FUZZ_TERMINATED(c->profiles[i].ciphers);
		FUZZ_TERMINATED(c->profiles[i].ciphersuites);
	}
	FUZZ_CHECK(c->nupstreams <= CONFIG_MAX_UPSTREAMS);
	for (i = 0; i < c->nupstreams; i++) {
		FUZZ_TERMINATED(c->upstreams[i].name);
		FUZZ_TERMINATED(c->upstreams[i].host);
		FUZZ_TERMINATED(c->upstreams[i].mailbox);
	}
	FUZZ_CHECK(c->nroutes <= CONFIG_MAX_ROUTES);
	FUZZ_CHECK(c->noauth2 <= CONFIG_MAX_OAUTH2);
	for (i = 0; i < c->noauth2; i++) {
		FUZZ_TERMINATED(c->oauth2[i].name);
		FUZZ_TERMINATED(c->oauth2[i].command);
	}
	FUZZ_TERMINATED(c->uidl_text);
	n = pop3_uidl_format(&c->uidl, 0xffffffffu, 0xfffffffeu, uidl);
	FUZZ_CHECK(n >= 1 && n <= POP3_UIDL_MAX_OCTETS && n == strlen(uidl));
	for (k = 0; k < n; k++)
		FUZZ_CHECK(uidl[k] >= 0x21 && uidl[k] <= 0x7e);
}

/* Loads the text of fd into fuzz_conf[i]: config_load_file()'s answer. */
static int
fuzz_load(int i, const char *path)
{
	int	r;

	config_defaults(&fuzz_conf[i]);
	memset(&fuzz_errs[i], 0, sizeof(fuzz_errs[i]));
	r = config_load_file(&fuzz_conf[i], path, &fuzz_errs[i]);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK((r == 0) == (fuzz_errs[i].count == 0));
	fuzz_check_errors(&fuzz_errs[i], path, 0);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		path[64];
	unsigned int	i, before;
	int		fd, r;

	if (size > 64 * 1024)
		return 0;
	fuzz_quiet_stdin();
	fd = memfd_create("fuzz_config", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	r = fuzz_load(0, path);
	FUZZ_CHECK(fuzz_load(1, path) == r);
	FUZZ_CHECK(fuzz_errs[1].count == fuzz_errs[0].count);
	for (i = 0; i < fuzz_errs[0].count && i < CONFIG_MAX_ERRORS; i++)
		FUZZ_CHECK(strcmp(fuzz_errs[0].text[i],
		    fuzz_errs[1].text[i]) == 0);
	if (r == 0) {
		before = fuzz_errs[0].count;
		r = config_validate(&fuzz_conf[0], path, &fuzz_errs[0]);
		FUZZ_CHECK(r == 0 || r == -EINVAL);
		FUZZ_CHECK((r == 0) == (fuzz_errs[0].count == before));
		fuzz_check_errors(&fuzz_errs[0], path, before);
		if (r == 0)
			fuzz_check_config(&fuzz_conf[0]);
	}
	close(fd);
	return 0;
}
