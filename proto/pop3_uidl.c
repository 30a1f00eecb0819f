/* SPDX-License-Identifier: MIT */
/*
 * pop3_uidl.c - compiles a UIDL template once (at configuration time) and
 * formats unique-ids from it. Pure: no I/O, no allocation.
 */
#include "pop3_uidl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Digits of UINT32_MAX (4294967295) in decimal and in hex. */
#define POP3_UIDL_MAX_DEC_DIGITS	10
#define POP3_UIDL_MAX_HEX_DIGITS	8
/* Widest zero-padding a field may ask for ("{uid:010d}"). */
#define POP3_UIDL_MAX_WIDTH		10

/* RFC 1939 sec. 7: unique-id characters are 0x21..0x7E. */
static bool
pop3_uidl_char_ok(char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/* Longest output of one part, for the 70-octet check. */
static size_t
pop3_uidl_part_max(const struct pop3_uidl_part *p)
{
	size_t	digits;

	if (p->type == POP3_UIDL_LITERAL)
		return strlen(p->text);
	digits = p->conv == 'x' ? POP3_UIDL_MAX_HEX_DIGITS :
	    POP3_UIDL_MAX_DEC_DIGITS;
	return p->width > digits ? p->width : digits;
}

/*
 * Parses the inside of "{...}": a field name and an optional format, "x",
 * "d", or '0' + width (1..10) + 'x' or 'd'. A width without the '0' would
 * pad with spaces, which a unique-id must not contain.
 */
static bool
pop3_uidl_parse_field(struct pop3_uidl_part *p, const char *s, size_t len)
{
	const char	*colon;
	size_t		 name_len, i;
	unsigned int	 width = 0;

	colon = memchr(s, ':', len);
	name_len = colon != NULL ? (size_t)(colon - s) : len;
	if (name_len == 3 && memcmp(s, "uid", 3) == 0)
		p->type = POP3_UIDL_UID;
	else if (name_len == 11 && memcmp(s, "uidvalidity", 11) == 0)
		p->type = POP3_UIDL_UIDVALIDITY;
	else
		return false;
	p->conv = 'd';
	p->width = 0;
	if (colon == NULL)
		return true;

	s = colon + 1;
	len -= name_len + 1;
	if (len == 0 || (s[len - 1] != 'x' && s[len - 1] != 'd'))
		return false;
	p->conv = s[len - 1];
	if (len == 1)
		return true;
	/* '0', then 1 or 2 width digits, then the conversion. */
	if (s[0] != '0' || len < 3 || len > 4)
		return false;
	for (i = 1; i < len - 1; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		width = width * 10 + (unsigned int)(s[i] - '0');
	}
	if (width < 1 || width > POP3_UIDL_MAX_WIDTH)
		return false;
	p->width = width;
	return true;
}

/* Appends one literal octet, opening a new literal part when needed. */
static bool
pop3_uidl_add_literal(struct pop3_uidl_template *t, char c)
{
	struct pop3_uidl_part	*p;
	size_t			 len;

	p = t->nparts > 0 ? &t->parts[t->nparts - 1] : NULL;
	if (p == NULL || p->type != POP3_UIDL_LITERAL) {
		if (t->nparts == POP3_UIDL_MAX_PARTS)
			return false;
		p = &t->parts[t->nparts++];
		memset(p, 0, sizeof(*p));
		p->type = POP3_UIDL_LITERAL;
	}
	len = strlen(p->text);
	if (len == POP3_UIDL_MAX_OCTETS)
		return false;
	p->text[len] = c;
	p->text[len + 1] = '\0';
	return true;
}

static int
pop3_uidl_fail(struct pop3_uidl_template *t, const char **error_out,
    const char *error)
{
	memset(t, 0, sizeof(*t));
	if (error_out != NULL)
		*error_out = error;
	return -EINVAL;
}

/* Checks the compiled parts: a {uid} field and at most 70 octets of output. */
static int
pop3_uidl_check(struct pop3_uidl_template *t, const char **error_out)
{
	size_t		total = 0;
	unsigned int	i;
	bool		has_uid = false;

	for (i = 0; i < t->nparts; i++) {
		total += pop3_uidl_part_max(&t->parts[i]);
		if (t->parts[i].type == POP3_UIDL_UID)
			has_uid = true;
	}
	if (!has_uid)
		return pop3_uidl_fail(t, error_out,
		    "UIDL template needs a {uid} field (ids must be unique)");
	if (total > POP3_UIDL_MAX_OCTETS)
		return pop3_uidl_fail(t, error_out,
		    "UIDL template can produce more than 70 octets (RFC 1939)");
	return 0;
}

int
pop3_uidl_compile(struct pop3_uidl_template *t, const char *text,
    const char **error_out)
{
	const char	*close;
	size_t		 i, len;

	memset(t, 0, sizeof(*t));
	if (text == NULL)
		return pop3_uidl_fail(t, error_out, "UIDL template is missing");
	len = strlen(text);
	for (i = 0; i < len; i++) {
		if ((text[i] == '{' || text[i] == '}') && i + 1 < len &&
		    text[i + 1] == text[i]) {
			/* "{{" and "}}" are literal braces. */
			if (!pop3_uidl_add_literal(t, text[i]))
				return pop3_uidl_fail(t, error_out,
				    "UIDL template is too long");
			i++;
		} else if (text[i] == '{') {
			close = memchr(text + i + 1, '}', len - i - 1);
			if (close == NULL)
				return pop3_uidl_fail(t, error_out,
				    "UIDL template has an unclosed '{'");
			if (t->nparts == POP3_UIDL_MAX_PARTS)
				return pop3_uidl_fail(t, error_out,
				    "UIDL template has too many parts");
			memset(&t->parts[t->nparts], 0, sizeof(t->parts[0]));
			if (!pop3_uidl_parse_field(&t->parts[t->nparts],
			    text + i + 1, (size_t)(close - text) - i - 1))
				return pop3_uidl_fail(t, error_out,
				    "UIDL template has an unknown field or "
				    "format (use {uid}, {uidvalidity}, "
				    ":x, :d, :08x, :010d)");
			t->nparts++;
			i = (size_t)(close - text);
		} else if (text[i] == '}') {
			return pop3_uidl_fail(t, error_out,
			    "UIDL template has a lone '}' (write '}}')");
		} else if (!pop3_uidl_char_ok(text[i])) {
			return pop3_uidl_fail(t, error_out,
			    "UIDL template may only hold octets 0x21..0x7E");
		} else if (!pop3_uidl_add_literal(t, text[i])) {
			return pop3_uidl_fail(t, error_out,
			    "UIDL template is too long");
		}
	}
	return pop3_uidl_check(t, error_out);
}

size_t
pop3_uidl_format(const struct pop3_uidl_template *t, uint32_t uid,
    uint32_t uidvalidity, char *out)
{
	const struct pop3_uidl_part	*p;
	size_t				 len = 0;
	uint32_t			 value;
	unsigned int			 i;
	int				 n;

	for (i = 0; i < t->nparts; i++) {
		p = &t->parts[i];
		if (p->type == POP3_UIDL_LITERAL) {
			n = snprintf(out + len, POP3_UIDL_MAX_OCTETS + 1 - len,
			    "%s", p->text);
		} else {
			value = p->type == POP3_UIDL_UID ? uid : uidvalidity;
			/* Lowercase hex, as Dovecot prints it
			 * (doc/imap-mapping.md sec. 7.1): uppercase would
			 * change every id. */
			n = snprintf(out + len, POP3_UIDL_MAX_OCTETS + 1 - len,
			    p->conv == 'x' ? "%0*" PRIx32 : "%0*" PRIu32,
			    (int)p->width, value);
		}
		/* compile() bounded the total; a miss here is a corrupt t. */
		if (n < 0 || (size_t)n > POP3_UIDL_MAX_OCTETS - len)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	return len;
}
