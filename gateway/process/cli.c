/* SPDX-License-Identifier: MIT */
/*
 * cli.c - the command line: getopt's tables built from the settings table
 * (config/keys.c), --help, and the settings the options give, applied over
 * the file's.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "process.h"

void
cli_usage(FILE *fp)
{
	fprintf(fp,
"usage: popgate [-t] -c FILE\n"
"       popgate -c FILE account list | add NAME ... | bootstrap SRC | test NAME\n"
"       popgate [-t] --listen ADDR:PORT --upstream imap://HOST:PORT [options]\n"
"\n"
"POP3-to-IMAP gateway: serves POP3 clients from an upstream IMAP mailbox.\n"
"\n");
	config_keys_help(fp);
}

/* getopt's options come from config_keys: val is the row's index plus
 * this (short options are plain characters, below 128). */
#define CLI_KEY_BASE	1000
#define CLI_MAX_OPTIONS	64

/* Builds getopt's tables from config_keys; -1 if they do not fit. */
static int
cli_options(struct option *opts, size_t nopts, char *shorts, size_t size)
{
	size_t	i, n = 0, len = 0;

	shorts[len++] = '+';	/* options end at the first word ("account") */
	for (i = 0; i < config_nkeys; i++) {
		const struct config_key	*k = &config_keys[i];

		if (k->option == NULL)
			continue;
		if (n + 1 >= nopts || len + 3 >= size)
			return -1;
		opts[n].name = k->option;
		opts[n].has_arg = k->arg != NULL ? required_argument :
		    no_argument;
		opts[n].flag = NULL;
		opts[n].val = CLI_KEY_BASE + (int)i;
		n++;
		if (k->short_opt != '\0') {
			shorts[len++] = k->short_opt;
			if (k->arg != NULL)
				shorts[len++] = ':';
		}
	}
	memset(&opts[n], 0, sizeof(opts[n]));
	shorts[len] = '\0';
	return 0;
}

/* The config_keys row of what getopt returned, or NULL. */
static const struct config_key *
cli_option_key(int ch)
{
	size_t	i;

	if (ch >= CLI_KEY_BASE && (size_t)(ch - CLI_KEY_BASE) < config_nkeys)
		return &config_keys[ch - CLI_KEY_BASE];
	for (i = 0; ch > 0 && ch < 128 && i < config_nkeys; i++)
		if (config_keys[i].option != NULL &&
		    config_keys[i].short_opt == ch)
			return &config_keys[i];
	return NULL;
}

static int
cli_set(struct config *c, const char *section, const char *key,
    const char *value, struct config_errors *errs)
{
	char	err[CONFIG_MAX_ERROR_TEXT - 32];

	if (config_set_option(c, section, key, value, err, sizeof(err)) == 0)
		return 0;
	config_errors_add(errs, "command line: %s", err);
	return -EINVAL;
}

/*
 * Each --listen/--listen-tls becomes a [listener cliN]: implicit TLS for
 * --listen-tls, STLS on --listen when a certificate was given (a listener
 * that could do TLS always offers it), and --plaintext-auth on all of them.
 */
int
cli_apply(struct config *c, const struct cli_setting *set, unsigned int n,
    struct config_errors *errs)
{
	char		name[32];
	const char	*tls;
	unsigned int	i, listeners = 0;
	bool		cert = false, plaintext = false;
	int		rc = 0;

	for (i = 0; i < n; i++) {
		if (strcmp(set[i].section, "tls_profile") == 0)
			cert = true;
		if (strcmp(set[i].section, "cli") == 0)
			plaintext = true;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(set[i].section, "cli") == 0)
			continue;
		if (strcmp(set[i].section, "listener") != 0) {
			rc |= cli_set(c, set[i].section, set[i].key,
			    set[i].value, errs);
			continue;
		}
		snprintf(name, sizeof(name), "listener cli%u", listeners++);
		tls = set[i].listener_tls != NULL ? set[i].listener_tls :
		    cert ? "starttls" : "none";
		rc |= cli_set(c, name, "address", set[i].value, errs);
		rc |= cli_set(c, name, "tls", tls, errs);
		if (plaintext)
			rc |= cli_set(c, name, "plaintext_auth", "yes", errs);
	}
	return rc;
}

/*
 * Reads the options into cl. Returns -1 to go on, or the exit status when
 * there is nothing more to do (--help, --version, a usage error).
 */
int
cli_parse(struct cli *cl, int argc, char **argv)
{
	struct option		 opts[CLI_MAX_OPTIONS];
	char			 shorts[2 * CLI_MAX_OPTIONS];
	int			 ch;

	memset(cl, 0, sizeof(*cl));
	if (cli_options(opts, CLI_MAX_OPTIONS, shorts, sizeof(shorts)) != 0)
		abort();	/* CLI_MAX_OPTIONS is below the table */
	while ((ch = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		const struct config_key	*k = cli_option_key(ch);

		if (k == NULL) {
			cli_usage(stderr);
			return 2;
		}
		switch (k->short_opt) {
		case 'c':
			cl->file = optarg;
			continue;
		case 't':
			cl->test = true;
			continue;
		case 'V':
			printf("popgate %s\n", POPGATE_VERSION);
			return 0;
		case 'h':
			cli_usage(stdout);
			return 0;
		default:
			break;
		}
		if (cl->nset == CLI_MAX_SETTINGS) {
			fprintf(stderr, "popgate: too many options\n");
			return 2;
		}
		cl->set[cl->nset].section = k->section;
		cl->set[cl->nset].key = k->key;
		cl->set[cl->nset].value = k->fixed != NULL ? k->fixed : optarg;
		cl->set[cl->nset].listener_tls = k->listener_tls;
		cl->nset++;
	}
	if (optind != argc && strcmp(argv[optind], "account") != 0) {
		fprintf(stderr, "popgate: unexpected argument \"%s\"\n",
		    argv[optind]);
		cli_usage(stderr);
		return 2;
	}
	cl->first_word = optind;
	return -1;
}
