/* SPDX-License-Identifier: MIT */
/*
 * accounts.c - the device accounts file: parsed line by line into one
 * array in file order plus an open-addressing table of names. The checks
 * of the secrets it holds are gateway/auth/'s.
 */
#include "accounts.h"
#include "config_int.h"

#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACCOUNTS_OPTIONS	"upstream, user, password, token, networks, apop"

struct accounts {
	struct account	*list;		/* count used, cap allocated */
	size_t		 count;
	size_t		 cap;
	uint32_t	*slots;		/* index + 1 into list; 0 = free */
	size_t		 nslots;	/* a power of two, > 2 * cap */
	bool		 any_apop;
};

struct accounts_parser {
	struct accounts		*a;
	struct config_errors	*errs;
	const char		*origin;
	unsigned int		 line;
	bool			 too_many;	/* reported once */
	struct account		*acct;		/* the line being parsed */
	char			*value;		/* a decoded value */
};

/* Option bits, for "each at most once". */
#define ACCOUNTS_OPT_UPSTREAM	0x01u
#define ACCOUNTS_OPT_USER	0x02u
#define ACCOUNTS_OPT_PASSWORD	0x04u
#define ACCOUNTS_OPT_TOKEN	0x08u
#define ACCOUNTS_OPT_NETWORKS	0x10u
#define ACCOUNTS_OPT_APOP	0x20u

static const struct {
	const char	*key;
	unsigned int	 bit;
} accounts_options[] = {
	{ "upstream",	ACCOUNTS_OPT_UPSTREAM },
	{ "user",	ACCOUNTS_OPT_USER },
	{ "password",	ACCOUNTS_OPT_PASSWORD },
	{ "token",	ACCOUNTS_OPT_TOKEN },
	{ "networks",	ACCOUNTS_OPT_NETWORKS },
	{ "apop",	ACCOUNTS_OPT_APOP },
};

static void	accounts_error(struct accounts_parser *p, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

static void
accounts_error(struct accounts_parser *p, const char *fmt, ...)
{
	char	msg[CONFIG_MAX_ERROR_TEXT];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_errors_add(p->errs, "%s:%u: %s", p->origin, p->line, msg);
}

static bool
accounts_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int
accounts_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes n octets at s into out (room for n + 1). Returns the
 * decoded length, -EINVAL for a bad escape, -EILSEQ for a decoded NUL, CR
 * or LF (they would cut or split the value where it is used).
 */
static ssize_t
accounts_decode(const char *s, size_t n, char *out)
{
	size_t	i, o = 0;
	int	hi, lo;
	char	c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '%') {
			if (n - i < 3 || (hi = accounts_hex(s[i + 1])) < 0 ||
			    (lo = accounts_hex(s[i + 2])) < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			if (c == '\0' || c == '\r' || c == '\n')
				return -EILSEQ;
			i += 2;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return (ssize_t)o;
}

static bool
accounts_has_control(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* A network as written is quoted in errors only if it looks like one, so
 * nothing else from the line ever lands in a log. */
static bool
accounts_quotable_network(const char *s, size_t n)
{
	return n > 0 && n <= INET6_ADDRSTRLEN + 4 &&
	    strspn(s, "0123456789abcdefABCDEF.:/") >= n;
}

static void
accounts_set_networks(struct accounts_parser *p, const char *v, size_t n)
{
	struct account	*acct = p->acct;
	char		 item[INET6_ADDRSTRLEN + 5];
	const char	*comma;
	size_t		 len;
	unsigned int	 k = 0;

	if (n == 0) {
		accounts_error(p, "networks= is empty (leave it out to allow "
		    "any address)");
		return;
	}
	for (;;) {
		comma = memchr(v, ',', n);
		len = comma != NULL ? (size_t)(comma - v) : n;
		k++;
		if (acct->nnetworks == ACCOUNT_MAX_NETWORKS) {
			accounts_error(p, "networks=: more than %d networks",
			    ACCOUNT_MAX_NETWORKS);
			return;
		}
		if (len == 0 || len >= sizeof(item)) {
			accounts_error(p, "networks=: bad network %u (want "
			    "ADDR/BITS or ADDR)", k);
			return;
		}
		memcpy(item, v, len);
		item[len] = '\0';
		if (config_parse_network(item,
		    &acct->networks[acct->nnetworks]) != 0) {
			if (accounts_quotable_network(item, len))
				accounts_error(p, "networks=: bad network "
				    "\"%s\" (want ADDR/BITS or ADDR)", item);
			else
				accounts_error(p, "networks=: bad network %u "
				    "(want ADDR/BITS or ADDR)", k);
			return;
		}
		acct->nnetworks++;
		if (comma == NULL)
			return;
		n -= len + 1;
		v = comma + 1;
	}
}

/* A string value of 1..size-1 octets (min 0 allows empty). */
static void
accounts_set_string(struct accounts_parser *p, const char *key, char *field,
    size_t size, const char *v, size_t n, size_t min)
{
	if (n < min || n >= size) {
		accounts_error(p, "%s= must be %zu..%zu octets", key, min,
		    size - 1);
		return;
	}
	memcpy(field, v, n);
	field[n] = '\0';
}

/* The decoded value (n octets in p->value) of the option bit. */
static void
accounts_option_value(struct accounts_parser *p, unsigned int bit,
    const char *key, size_t n)
{
	struct account	*acct = p->acct;

	switch (bit) {
	case ACCOUNTS_OPT_UPSTREAM:
		if (n > 0 && !config_name_ok(p->value, CONFIG_MAX_NAME)) {
			accounts_error(p, "upstream= must be an upstream name "
			    "(1..%d of A-Z a-z 0-9 _ . -)", CONFIG_MAX_NAME - 1);
			return;
		}
		memcpy(acct->upstream, p->value, n + 1);
		break;
	case ACCOUNTS_OPT_USER:
		/* It is framed by ^A in XOAUTH2 and OAUTHBEARER. */
		if (accounts_has_control(p->value, n)) {
			accounts_error(p, "user=: control characters are not "
			    "allowed");
			return;
		}
		accounts_set_string(p, key, acct->user, sizeof(acct->user),
		    p->value, n, 1);
		break;
	case ACCOUNTS_OPT_PASSWORD:
		acct->cred = ACCOUNT_CRED_PASSWORD;
		accounts_set_string(p, key, acct->password,
		    sizeof(acct->password), p->value, n, 1);
		break;
	case ACCOUNTS_OPT_TOKEN:
		acct->cred = ACCOUNT_CRED_TOKEN;
		if (!config_name_ok(p->value, CONFIG_MAX_NAME)) {
			accounts_error(p, "token= must be an oauth2 name "
			    "(1..%d of A-Z a-z 0-9 _ . -)", CONFIG_MAX_NAME - 1);
			return;
		}
		memcpy(acct->token, p->value, n + 1);
		break;
	case ACCOUNTS_OPT_NETWORKS:
		accounts_set_networks(p, p->value, n);
		break;
	case ACCOUNTS_OPT_APOP:
		accounts_set_string(p, key, acct->apop, sizeof(acct->apop),
		    p->value, n, 1);
		break;
	}
}

/* One key=value field; *seen collects the option bits. */
static void
accounts_option(struct accounts_parser *p, const char *f, size_t flen,
    unsigned int field, unsigned int *seen)
{
	const char	*eq = memchr(f, '=', flen), *key = NULL;
	size_t		 klen, i;
	ssize_t		 n;
	unsigned int	 bit = 0;

	if (eq == NULL || eq == f) {
		accounts_error(p, "field %u is not key=value", field);
		return;
	}
	klen = (size_t)(eq - f);
	for (i = 0; i < sizeof(accounts_options) / sizeof(accounts_options[0]);
	    i++) {
		if (strlen(accounts_options[i].key) == klen &&
		    memcmp(accounts_options[i].key, f, klen) == 0) {
			bit = accounts_options[i].bit;
			key = accounts_options[i].key;
			break;
		}
	}
	if (bit == 0) {
		/* Not quoted: a mistyped line may hold a secret here. */
		accounts_error(p, "field %u: unknown option (known: "
		    ACCOUNTS_OPTIONS ")", field);
		return;
	}
	if (*seen & bit) {
		accounts_error(p, "%s= given twice", key);
		return;
	}
	*seen |= bit;
	n = accounts_decode(eq + 1, flen - klen - 1, p->value);
	if (n == -EINVAL) {
		accounts_error(p, "%s=: bad %%XX escape", key);
		return;
	}
	if (n < 0) {
		accounts_error(p, "%s=: %%00, %%0D and %%0A are not allowed",
		    key);
		return;
	}
	accounts_option_value(p, bit, key, (size_t)n);
}

/* FNV-1a: the names come from the administrator's file, and a lookup of
 * any name stops at the first free slot, so no keyed hash is needed. */
static size_t
accounts_name_hash(const char *name, size_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ULL;
	}
	return (size_t)(h ^ (h >> 32));
}

/* The slot holding name, or the free slot where it would go. */
static size_t
accounts_slot(const struct accounts *a, const char *name, size_t len)
{
	size_t			 mask = a->nslots - 1;
	size_t			 i = accounts_name_hash(name, len) & mask;
	const struct account	*acct;

	while (a->slots[i] != 0) {
		acct = &a->list[a->slots[i] - 1];
		if (memcmp(acct->name, name, len) == 0 &&
		    acct->name[len] == '\0')
			break;
		i = (i + 1) & mask;
	}
	return i;
}

/* The HASH field (hlen octets at hash) into p->acct. */
static void
accounts_set_hash(struct accounts_parser *p, const char *hash, size_t hlen)
{
	struct account	*acct = p->acct;

	if (hlen == 0)
		accounts_error(p, "missing password hash field");
	else if (hlen == 1 && (*hash == '!' || *hash == '*'))
		acct->hash[0] = *hash;
	else if (hlen == 1 && *hash == '-')
		acct->hash[0] = '\0';
	else {
		if (hlen < sizeof(acct->hash)) {
			memcpy(acct->hash, hash, hlen);
			acct->hash[hlen] = '\0';
		}
		if (hlen >= sizeof(acct->hash) ||
		    !accounts_hash_is_strong(acct->hash)) {
			accounts_error(p, "password hash: %s",
			    accounts_hash_why(hash, hlen));
			memset(acct->hash, 0, sizeof(acct->hash));
		}
	}
}

/*
 * p->acct, whose name is namelen octets, into the set. Names are checked
 * for duplicates even on a line with other errors, so one pass reports
 * everything.
 */
static void
accounts_insert(struct accounts_parser *p, size_t namelen)
{
	struct account	*acct = p->acct;
	size_t		 slot;

	slot = accounts_slot(p->a, acct->name, namelen);
	if (p->a->slots[slot] != 0) {
		accounts_error(p, "duplicate account name (first on line %u)",
		    p->a->list[p->a->slots[slot] - 1].line);
		return;
	}
	if (p->a->count == ACCOUNTS_MAX_ACCOUNTS) {
		if (!p->too_many)
			accounts_error(p, "more than %d accounts",
			    ACCOUNTS_MAX_ACCOUNTS);
		p->too_many = true;
		return;
	}
	p->a->list[p->a->count] = *acct;
	if (acct->apop[0] != '\0')
		p->a->any_apop = true;
	p->a->count++;
	p->a->slots[slot] = (uint32_t)p->a->count;
}

/* One line that is neither blank nor a comment, s[0] not blank. */
static void
accounts_parse_line(struct accounts_parser *p, const char *s, size_t len)
{
	struct account	*acct = p->acct;
	const char	*end = s + len, *f, *hash;
	size_t		 flen, hlen, i;
	unsigned int	 seen = 0, field;

	for (i = 0; i < len; i++) {
		if (!accounts_is_blank(s[i]) && (s[i] < 0x21 || s[i] > 0x7e)) {
			accounts_error(p, "column %zu: control or non-ASCII "
			    "octet (write it as %%XX in a value)", i + 1);
			return;
		}
	}
	memset(acct, 0, sizeof(*acct));
	acct->line = p->line;

	/* NAME */
	for (flen = 0; flen < len && !accounts_is_blank(s[flen]); flen++)
		;
	if (flen >= sizeof(acct->name) || memchr(s, ':', flen) != NULL) {
		accounts_error(p, "bad account name (1..%zu printable octets, "
		    "no ':')", sizeof(acct->name) - 1);
		return;
	}
	memcpy(acct->name, s, flen);
	f = s + flen;

	/* HASH */
	while (f < end && accounts_is_blank(*f))
		f++;
	hash = f;
	while (f < end && !accounts_is_blank(*f))
		f++;
	hlen = (size_t)(f - hash);
	accounts_set_hash(p, hash, hlen);

	/* key=value ... */
	for (field = 3;; field++) {
		while (f < end && accounts_is_blank(*f))
			f++;
		if (f == end)
			break;
		s = f;
		while (f < end && !accounts_is_blank(*f))
			f++;
		accounts_option(p, s, (size_t)(f - s), field, &seen);
	}

	if (!(seen & ACCOUNTS_OPT_USER))
		accounts_error(p, "missing user=");
	if ((seen & ACCOUNTS_OPT_PASSWORD) && (seen & ACCOUNTS_OPT_TOKEN))
		accounts_error(p, "both password= and token=: give one");
	else if (!(seen & (ACCOUNTS_OPT_PASSWORD | ACCOUNTS_OPT_TOKEN)))
		accounts_error(p, "missing password= or token=");
	if (hlen == 1 && *hash == '-' && !(seen & ACCOUNTS_OPT_APOP))
		accounts_error(p, "hash \"-\" (APOP only) without apop=");

	accounts_insert(p, flen);
}

/*
 * The next line from *pos: start and length without its LF, and without
 * one CR before the LF. False at the end of text.
 */
static bool
accounts_next_line(const char *text, size_t len, size_t *pos,
    const char **line, size_t *linelen)
{
	const char	*nl;
	size_t		 n;

	if (*pos >= len)
		return false;
	*line = text + *pos;
	nl = memchr(*line, '\n', len - *pos);
	n = nl != NULL ? (size_t)(nl - *line) : len - *pos;
	*pos += n + (nl != NULL);
	if (n > 0 && (*line)[n - 1] == '\r')
		n--;
	*linelen = n;
	return true;
}

/* Skips leading blanks; false for a blank or comment line. */
static bool
accounts_content(const char **line, size_t *len)
{
	while (*len > 0 && accounts_is_blank(**line)) {
		(*line)++;
		(*len)--;
	}
	return *len > 0 && **line != '#';
}

void
accounts_free(struct accounts *a)
{
	if (a == NULL)
		return;
	if (a->list != NULL) {
		explicit_bzero(a->list, a->count * sizeof(*a->list));
		free(a->list);
	}
	free(a->slots);
	free(a);
}

/* An empty set with room for cap accounts. */
static struct accounts *
accounts_alloc(size_t cap)
{
	struct accounts	*a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->cap = cap;
	for (a->nslots = 16; a->nslots <= 2 * cap; a->nslots *= 2)
		;
	/* calloc: untouched pages of a large list cost nothing. */
	a->list = calloc(cap > 0 ? cap : 1, sizeof(*a->list));
	a->slots = calloc(a->nslots, sizeof(*a->slots));
	if (a->list == NULL || a->slots == NULL) {
		accounts_free(a);
		return NULL;
	}
	return a;
}

int
accounts_parse(const char *text, size_t len, const char *origin,
    struct accounts **out, struct config_errors *errs)
{
	struct accounts_parser	 p;
	const char		*line;
	size_t			 pos = 0, n, cap = 0;
	unsigned int		 before = errs->count;

	*out = NULL;
	if (origin == NULL)
		origin = "accounts";
	if (len > ACCOUNTS_MAX_FILE_OCTETS) {
		config_errors_add(errs, "%s: larger than %d MiB", origin,
		    ACCOUNTS_MAX_FILE_OCTETS / (1024 * 1024));
		return -EINVAL;
	}
	/* Size the list once: accounts never move, nothing to wipe twice. */
	while (accounts_next_line(text, len, &pos, &line, &n))
		if (accounts_content(&line, &n) && cap < ACCOUNTS_MAX_ACCOUNTS)
			cap++;

	memset(&p, 0, sizeof(p));
	p.errs = errs;
	p.origin = origin;
	p.a = accounts_alloc(cap);
	p.acct = malloc(sizeof(*p.acct));
	p.value = malloc(ACCOUNTS_MAX_LINE_OCTETS + 1);
	if (p.a == NULL || p.acct == NULL || p.value == NULL) {
		accounts_free(p.a);
		free(p.acct);
		free(p.value);
		config_errors_add(errs, "%s: out of memory", origin);
		return -ENOMEM;
	}
	pos = 0;
	while (accounts_next_line(text, len, &pos, &line, &n)) {
		p.line++;
		if (!accounts_content(&line, &n))
			continue;
		if (n > ACCOUNTS_MAX_LINE_OCTETS) {
			accounts_error(&p, "line longer than %d octets",
			    ACCOUNTS_MAX_LINE_OCTETS);
			continue;
		}
		accounts_parse_line(&p, line, n);
	}
	explicit_bzero(p.acct, sizeof(*p.acct));
	explicit_bzero(p.value, ACCOUNTS_MAX_LINE_OCTETS + 1);
	free(p.acct);
	free(p.value);
	if (errs->count != before) {
		accounts_free(p.a);
		return -EINVAL;
	}
	*out = p.a;
	return 0;
}

int
accounts_load(const char *path, struct accounts **out,
    struct config_errors *errs)
{
	struct stat	 st;
	char		*buf;
	size_t		 got = 0;
	ssize_t		 n;
	int		 fd, r;

	*out = NULL;
	/* O_NONBLOCK: a FIFO in its place is refused below, not waited on. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		r = -errno;
		config_errors_add(errs, "%s: cannot open: %s", path,
		    strerror(-r));
		return r;
	}
	if (fstat(fd, &st) == -1) {
		r = -errno;
		config_errors_add(errs, "%s: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		config_errors_add(errs, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_mode & 007) {
		config_errors_add(errs, "%s: mode %04o: must not be %s "
		    "(chmod 640)", path, (unsigned int)(st.st_mode & 07777),
		    (st.st_mode & 004) ? "world-readable" :
		    (st.st_mode & 002) ? "world-writable" :
		    "accessible to others");
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > ACCOUNTS_MAX_FILE_OCTETS) {
		config_errors_add(errs, "%s: larger than %d MiB", path,
		    ACCOUNTS_MAX_FILE_OCTETS / (1024 * 1024));
		close(fd);
		return -EINVAL;
	}
	/* One octet over the limit shows a file that grew meanwhile. */
	if ((buf = malloc(ACCOUNTS_MAX_FILE_OCTETS + 1)) == NULL) {
		close(fd);
		config_errors_add(errs, "%s: out of memory", path);
		return -ENOMEM;
	}
	while (got < ACCOUNTS_MAX_FILE_OCTETS + 1) {
		n = read(fd, buf + got, ACCOUNTS_MAX_FILE_OCTETS + 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = -errno;
			config_errors_add(errs, "%s: read: %s", path,
			    strerror(-r));
			explicit_bzero(buf, got);
			free(buf);
			close(fd);
			return r;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	r = accounts_parse(buf, got, path, out, errs);
	explicit_bzero(buf, got);
	free(buf);
	return r;
}

size_t
accounts_count(const struct accounts *a)
{
	return a != NULL ? a->count : 0;
}

const struct account *
accounts_at(const struct accounts *a, size_t i)
{
	return a != NULL && i < a->count ? &a->list[i] : NULL;
}

const struct account *
accounts_find(const struct accounts *a, const char *name)
{
	size_t	len, slot;

	if (a == NULL || name == NULL)
		return NULL;
	len = strnlen(name, sizeof(a->list[0].name));
	if (len == 0 || len >= sizeof(a->list[0].name))
		return NULL;
	slot = accounts_slot(a, name, len);
	return a->slots[slot] != 0 ? &a->list[a->slots[slot] - 1] : NULL;
}

bool
accounts_any_apop(const struct accounts *a)
{
	return a != NULL && a->any_apop;
}

const struct config_upstream *
account_upstream(const struct config *c, const struct account *a)
{
	return a->upstream[0] != '\0' ? config_find_upstream(c, a->upstream) :
	    config_route(c, a->user);
}

void
account_check_refs(const struct config *c, const struct account *a,
    const char *origin, struct config_errors *errs)
{
	if (account_upstream(c, a) == NULL) {
		if (a->upstream[0] != '\0')
			config_errors_add(errs, "%s:%u: account %s: upstream %s "
			    "is not defined", origin, a->line, a->name,
			    a->upstream);
		else
			config_errors_add(errs, "%s:%u: account %s: no route for "
			    "%s (add upstream=NAME or a [routes] entry)", origin,
			    a->line, a->name, a->user);
	}
	if (a->cred == ACCOUNT_CRED_TOKEN && config_find_oauth2(c, a->token) ==
	    NULL)
		config_errors_add(errs, "%s:%u: account %s: token source %s is "
		    "not defined (add [oauth2 %s])", origin, a->line, a->name,
		    a->token, a->token);
}
