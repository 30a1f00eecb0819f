/* SPDX-License-Identifier: MIT */
/*
 * fuzz_util.h - small checks the fuzz targets share.
 */
#ifndef POPGATE_FUZZ_UTIL_H
#define POPGATE_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* True if all n octets at p are zero (an output left untouched). */
static inline bool
fuzz_zero(const void *p, size_t n)
{
	const unsigned char	*q = p;
	size_t			 i;

	for (i = 0; i < n; i++)
		if (q[i] != 0)
			return false;
	return true;
}

#endif
