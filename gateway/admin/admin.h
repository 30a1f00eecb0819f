/* SPDX-License-Identifier: MIT */
/*
 * admin.h - "popgate -c FILE account ..." commands (admin.c).
 */
#ifndef POPGATE_ADMIN_H
#define POPGATE_ADMIN_H

#include "worker.h"

/* argv[0] is "account". Returns the process exit status. */
int	admin_main(const struct config_ref *ref, int argc, char **argv);

#endif
