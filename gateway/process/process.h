/* SPDX-License-Identifier: MIT */
/*
 * process.h - the process's own parts, inside gateway/process/: the command
 * line (cli.c), loading and reloading the configuration (load.c), the
 * privilege drop (privdrop.c), and main.c, which starts the workers and
 * owns the signals.
 */
#ifndef POPGATE_PROCESS_H
#define POPGATE_PROCESS_H

#include <stdbool.h>
#include <stdio.h>

#include <uv.h>

#include "config.h"
#include "shared.h"
#include "worker.h"

/* Command-line settings, applied after the file so they override it. */
struct cli_setting {
	const char	*section;
	const char	*key;
	const char	*value;
	const char	*listener_tls;
};

#define CLI_MAX_SETTINGS	64

/* What the command line asked for. */
struct cli {
	const char		*file;		/* -c, or NULL */
	struct cli_setting	 set[CLI_MAX_SETTINGS];
	unsigned int		 nset;
	bool			 test;		/* -t */
	int			 first_word;	/* argv index of "account" */
};

/* main's loop: the workers, the configuration in force, the signals. */
struct process {
	struct worker	*workers;
	unsigned int	 nworkers;
	/* how to load the configuration again on SIGHUP */
	const char	*file;
	const struct cli_setting *set;
	unsigned int	 nset;
	struct config_ref *current;
	struct oauth2_mgr *oauth2;	/* token sources, on this loop */
	struct shared	 shared;	/* handed to every worker */
	uv_signal_t	 sigterm;
	uv_signal_t	 sigint;
	uv_signal_t	 sighup;
	uv_async_t	 workers_done;	/* a worker's loop has ended */
	bool		 stopping;
};

void	cli_usage(FILE *fp);
int	cli_parse(struct cli *cl, int argc, char **argv);
int	cli_apply(struct config *c, const struct cli_setting *set,
	    unsigned int n, struct config_errors *errs);

struct config_ref *load_config(const char *file, const struct cli_setting *set,
	    unsigned int nset, struct config_errors *errs, bool quiet);
void	load_again(struct process *m);

void	privdrop_check_user(const struct config *c, const char *origin,
	    struct config_errors *errs);
int	privdrop(const struct config *c);

#endif
