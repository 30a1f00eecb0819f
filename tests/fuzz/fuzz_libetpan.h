/* SPDX-License-Identifier: MIT */
/*
 * fuzz_libetpan.h - for the targets that run libetpan's parser: include it
 * in exactly one file of the target.
 *
 * libetpan 1.9.4's parser leaks small structs on some malformed input (for
 * example a bad BODY[section] spec: mailimap_section_spec_new). Those leaks
 * are libetpan's, bounded by one failed response per upstream connection
 * (the client closes on a parse error); they are suppressed so the fuzzer
 * keeps looking for crashes and memory errors.
 */
#ifndef POPGATE_FUZZ_LIBETPAN_H
#define POPGATE_FUZZ_LIBETPAN_H

const char *__lsan_default_suppressions(void);

__attribute__((visibility("default"))) const char *
__lsan_default_suppressions(void)
{
	return "leak:libetpan.so\n";
}

#endif
