/* SPDX-License-Identifier: MIT */
/*
 * pop3_uidl.h - UIDL template: turns (uid, uidvalidity) into a POP3 unique-id
 * (RFC 1939 sec. 7: 1..70 octets in 0x21..0x7E). Pure.
 *
 * Template syntax: literal characters (0x21..0x7E, except '{' and '}'), and
 * fields "{uid}" / "{uidvalidity}" with an optional format: "{uid:08x}"
 * (zero-padded lowercase hex, width 1..10), "{uid:x}", "{uid:d}",
 * "{uid:010d}". "{{" and "}}" are literal braces.
 * Default: "{uid:08x}{uidvalidity:08x}", Dovecot's default pop3_uidl_format,
 * so devices moving from a Dovecot POP3 server keep their UIDLs.
 * Other presets: Cyrus "{uidvalidity}.{uid}", Courier "{uidvalidity}-{uid}",
 * UW "{uidvalidity:08x}{uid:08x}".
 */
#ifndef POPGATE_POP3_UIDL_H
#define POPGATE_POP3_UIDL_H

#include <stddef.h>
#include <stdint.h>

#define POP3_UIDL_DEFAULT_TEMPLATE	"{uid:08x}{uidvalidity:08x}"
/* RFC 1939 sec. 7: a unique-id is 1 to 70 characters. */
#define POP3_UIDL_MAX_OCTETS	70
#define POP3_UIDL_MAX_PARTS	16

enum pop3_uidl_part_type {
	POP3_UIDL_LITERAL,
	POP3_UIDL_UID,
	POP3_UIDL_UIDVALIDITY,
};

struct pop3_uidl_part {
	enum pop3_uidl_part_type type;
	char		 text[POP3_UIDL_MAX_OCTETS + 1];	/* LITERAL */
	unsigned int	 width;		/* zero-pad width, 0 = none */
	char		 conv;		/* 'x' or 'd' */
};

struct pop3_uidl_template {
	struct pop3_uidl_part	parts[POP3_UIDL_MAX_PARTS];
	unsigned int		nparts;
};

/* Compiles a template. Returns 0, or -EINVAL with *error_out set to a static
 * description. Rejects templates whose longest output (10-digit fields)
 * exceeds 70 octets, and templates with no {uid} field (ids must be unique). */
int	pop3_uidl_compile(struct pop3_uidl_template *t, const char *text,
	    const char **error_out);
/* Writes the unique-id, NUL-terminated, into out (at least 71 bytes).
 * Returns its length. */
size_t	pop3_uidl_format(const struct pop3_uidl_template *t, uint32_t uid,
	    uint32_t uidvalidity, char *out);

#endif
