/* SPDX-License-Identifier: MIT */
/*
 * fuzz_check.h - FUZZ_CHECK(cond): an oracle of a fuzz target. A false
 * condition prints where it failed and aborts, which libFuzzer reports as
 * a crash with the input that caused it.
 */
#ifndef POPGATE_FUZZ_CHECK_H
#define POPGATE_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)	do {					\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

#endif
