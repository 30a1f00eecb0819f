/* SPDX-License-Identifier: MIT */
/*
 * config.c - INI settings (config/ini.c) validated into struct config.
 * Errors name the file and line; values are never trusted.
 */
#include "config.h"
#include "config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A partial fetch of 16 KiB .. 4 MiB; the framer's group limit is 8 MiB. */
#define CONFIG_MIN_CHUNK	(16 * 1024)
#define CONFIG_MAX_CHUNK	(4 * 1024 * 1024)
#define CONFIG_MAX_WINDOW	8
/* Command input allowed before login (login_max_octets); below 1 KiB
 * an ordinary login could not fit. */
#define CONFIG_MIN_LOGIN_OCTETS	1024
#define CONFIG_MAX_LOGIN_OCTETS	(16 * 1024 * 1024)

void
config_errors_add(struct config_errors *errs, const char *fmt, ...)
{
	va_list	ap;

	if (errs->count < CONFIG_MAX_ERRORS) {
		va_start(ap, fmt);
		vsnprintf(errs->text[errs->count], CONFIG_MAX_ERROR_TEXT, fmt,
		    ap);
		va_end(ap);
	}
	errs->count++;
}

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	config_keys_defaults(c, CONFIG_SCOPE_CONFIG);
}

int
config_parse_uint(const char *value, unsigned long min, unsigned long max,
    unsigned long *out)
{
	char		*end;
	unsigned long	 v;

	if (*value < '0' || *value > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int
config_parse_bool(const char *value, bool *out)
{
	if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "true") == 0 ||
	    strcmp(value, "1") == 0 || strcasecmp(value, "on") == 0)
		*out = true;
	else if (strcasecmp(value, "no") == 0 ||
	    strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0 ||
	    strcasecmp(value, "off") == 0)
		*out = false;
	else
		return -EINVAL;
	return 0;
}

int
config_parse_address(const char *text, struct sockaddr_storage *ss,
    socklen_t *len)
{
	char		 host[CONFIG_MAX_HOST];
	const char	*colon, *port_text;
	size_t		 hostlen;
	unsigned long	 port;
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (text[0] == '[') {
		colon = strstr(text, "]:");
		if (colon == NULL)
			return -EINVAL;
		hostlen = (size_t)(colon - text - 1);
		port_text = colon + 2;
		text++;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL)
			return -EINVAL;
		hostlen = (size_t)(colon - text);
		port_text = colon + 1;
	}
	if (hostlen == 0 || hostlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hostlen);
	host[hostlen] = '\0';
	if (config_parse_uint(port_text, 1, 65535, &port) != 0)
		return -EINVAL;
	if (strcmp(host, "*") == 0)
		snprintf(host, sizeof(host), "0.0.0.0");
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

int
config_set_path(char *field, size_t size, const char *value, char *err,
    size_t errlen)
{
	if (*value == '\0' || strlen(value) >= size) {
		snprintf(err, errlen, "bad file name (empty or longer than %zu)",
		    size - 1);
		return -EINVAL;
	}
	snprintf(field, size, "%s", value);
	return 0;
}

int
config_parse_network(const char *text, struct config_network *net)
{
	char			 host[INET6_ADDRSTRLEN + 1];
	const char		*slash = strchr(text, '/');
	size_t			 len = slash ? (size_t)(slash - text) : strlen(text);
	unsigned long		 bits;
	unsigned int		 max, i;
	unsigned char		*bytes;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&net->addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&net->addr;

	memset(net, 0, sizeof(*net));
	if (len == 0 || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, len);
	host[len] = '\0';
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		max = 32;
		bytes = (unsigned char *)&sin->sin_addr;
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		max = 128;
		bytes = (unsigned char *)&sin6->sin6_addr;
	} else
		return -EINVAL;
	bits = max;
	if (slash != NULL && config_parse_uint(slash + 1, 0, max, &bits) != 0)
		return -EINVAL;
	net->prefix = (unsigned int)bits;
	/* Keep the network address only, so matching is a masked compare. */
	for (i = 0; i < max / 8; i++) {
		unsigned int	keep = net->prefix > i * 8 ?
		    net->prefix - i * 8 : 0;

		if (keep < 8)
			bytes[i] &= (unsigned char)(0xff << (8 - keep));
	}
	return 0;
}

const struct config_tls_profile *
config_find_profile(const struct config *c, const char *name)
{
	unsigned int	i;

	for (i = 0; i < c->nprofiles; i++)
		if (strcmp(c->profiles[i].name, name) == 0)
			return &c->profiles[i];
	return NULL;
}

/*
 * A duration: a number with an optional unit, "500ms", "2s", "1m"; a bare
 * number is seconds (what the timeouts always took). Result in ms, within
 * min_ms..max_s seconds.
 */
int
config_set_duration(unsigned int *field_ms, const char *value,
    unsigned long min_ms, unsigned long max_s, char *err, size_t errlen)
{
	char		 num[24];
	const char	*unit;
	unsigned long	 v, scale = 1000;
	size_t		 n;

	n = strspn(value, "0123456789");
	unit = value + n;
	if (strcmp(unit, "ms") == 0)
		scale = 1;
	else if (strcmp(unit, "m") == 0)
		scale = 60 * 1000;
	else if (*unit != '\0' && strcmp(unit, "s") != 0)
		n = 0;
	if (n == 0 || n >= sizeof(num))
		goto bad;
	memcpy(num, value, n);
	num[n] = '\0';
	if (config_parse_uint(num, 0, max_s * 1000, &v) != 0 ||
	    v > max_s * 1000 / scale || v * scale < min_ms)
		goto bad;
	*field_ms = (unsigned int)(v * scale);
	return 0;
bad:
	snprintf(err, errlen, "expected a duration from %lums to %lus (\"500ms\", "
	    "\"2s\", \"1m\"; a bare number is seconds), got \"%.40s\"", min_ms,
	    max_s, value);
	return -EINVAL;
}

/* "ADDR/BITS, ADDR, ..." into nets (at most CONFIG_MAX_NETWORKS). */
static int
config_set_networks(const char *key, const char *value,
    struct config_network *nets, unsigned int *count, char *err,
    size_t errlen)
{
	char		 item[INET6_ADDRSTRLEN + 8];
	const char	*p = value;
	size_t		 n;

	*count = 0;
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ", ");
		if (n == 0)
			break;
		if (n >= sizeof(item) || *count == CONFIG_MAX_NETWORKS) {
			snprintf(err, errlen, "%s: too many or too long entries "
			    "(max %d)", key, CONFIG_MAX_NETWORKS);
			return -EINVAL;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		if (config_parse_network(item, &nets[*count]) != 0) {
			snprintf(err, errlen, "%s: bad network \"%.60s\" (want "
			    "ADDR/BITS)", key, item);
			return -EINVAL;
		}
		(*count)++;
		p += n;
	}
	return 0;
}

int
config_listener_trusted(void *base, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct config_listener	*l = base;

	return config_set_networks(key, value, l->trusted, &l->ntrusted, err,
	    errlen);
}

int
config_listener_proxy_from(void *base, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct config_listener	*l = base;

	return config_set_networks(key, value, l->proxy_from, &l->nproxy_from,
	    err, errlen);
}

int
config_listener_profile(void *base, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct config_listener	*l = base;

	(void)key;
	if (*value == '\0' || strlen(value) >= sizeof(l->tls_profile)) {
		snprintf(err, errlen, "bad tls_profile name");
		return -EINVAL;
	}
	snprintf(l->tls_profile, sizeof(l->tls_profile), "%s", value);
	return 0;
}

/* The address as written stays for the log and for reload's compare. */
int
config_listener_address(void *base, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct config_listener	*l = base;

	(void)key;
	if (strlen(value) >= sizeof(l->address) ||
	    config_parse_address(value, &l->addr, &l->addrlen) != 0) {
		snprintf(err, errlen, "bad address \"%.80s\" (want "
		    "IP:PORT or [IPv6]:PORT)", value);
		return -EINVAL;
	}
	snprintf(l->address, sizeof(l->address), "%s", value);
	return 0;
}

int
config_metrics_address(void *base, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct config	*c = base;

	(void)key;
	if (*value == '\0') {
		c->metrics_addrlen = 0;
		return 0;
	}
	if (config_parse_address(value, &c->metrics_addr,
	    &c->metrics_addrlen) != 0) {
		snprintf(err, errlen, "bad metrics_address \"%.80s\" "
		    "(want IP:PORT or [IPv6]:PORT)", value);
		return -EINVAL;
	}
	return 0;
}

int
config_uidl_template(void *base, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct config	*c = base;
	const char	*error;

	(void)key;
	if (strlen(value) >= sizeof(c->uidl_text) ||
	    pop3_uidl_compile(&c->uidl, value, &error) != 0) {
		snprintf(err, errlen, "bad uidl_template: %s",
		    strlen(value) >= sizeof(c->uidl_text) ? "too long" : error);
		return -EINVAL;
	}
	snprintf(c->uidl_text, sizeof(c->uidl_text), "%s", value);
	return 0;
}

static void *
config_listener_section(struct config *c, const char *name, char *err,
    size_t errlen)
{
	struct config_listener	*l;
	unsigned int		 i;

	for (i = 0; i < c->nlisteners; i++)
		if (strcmp(c->listeners[i].name, name) == 0)
			return &c->listeners[i];
	if (c->nlisteners == CONFIG_MAX_LISTENERS) {
		snprintf(err, errlen, "too many listeners (max %d)",
		    CONFIG_MAX_LISTENERS);
		return NULL;
	}
	if (strlen(name) >= sizeof(l->name)) {
		snprintf(err, errlen, "listener name too long");
		return NULL;
	}
	l = &c->listeners[c->nlisteners++];
	memset(l, 0, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "%s", name);
	config_keys_defaults(l, CONFIG_SCOPE_LISTENER);
	return l;
}

static void *
config_profile_section(struct config *c, const char *name, char *err,
    size_t errlen)
{
	struct config_tls_profile	*p;

	p = (struct config_tls_profile *)config_find_profile(c, name);
	if (p != NULL)
		return p;
	if (c->nprofiles == CONFIG_MAX_PROFILES ||
	    strlen(name) >= sizeof(p->name)) {
		snprintf(err, errlen, "too many TLS profiles or name too long");
		return NULL;
	}
	p = &c->profiles[c->nprofiles++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	config_keys_defaults(p, CONFIG_SCOPE_PROFILE);
	/* OpenSSL's own level: no value of the key says that. */
	p->security_level = -1;
	return p;
}

/* The section table's maker for sections without a struct of their own;
 * its type is the table's, so err stays writable though unused. */
static void *
config_plain_section(struct config *c, const char *name,
    char *err, /* NOLINT(readability-non-const-parameter) */
    size_t errlen)
{
	(void)name;
	(void)err;
	(void)errlen;
	return c;
}

/*
 * The sections, by their first word. A named section's struct is made on
 * its first key (early) even if the key turns out unknown; [upstream]'s
 * only for a key of the server itself, as its other keys are shared by
 * every upstream and live in struct config.
 */
enum config_naming {
	CONFIG_UNNAMED,		/* [session] */
	CONFIG_NAME_OPTIONAL,	/* [upstream] is [upstream default] */
	CONFIG_NAME_REQUIRED,	/* [oauth2 NAME] */
};

static const struct config_section {
	const char		*word;
	enum config_naming	 naming;
	bool			 early;
	void			*(*section)(struct config *, const char *,
				    char *, size_t);
} config_sections[] = {
	{ "global", CONFIG_UNNAMED, false, config_plain_section },
	{ "listener", CONFIG_NAME_OPTIONAL, true, config_listener_section },
	{ "upstream", CONFIG_NAME_OPTIONAL, false, config_upstream_section },
	{ "routes", CONFIG_UNNAMED, false, config_plain_section },
	{ "oauth2", CONFIG_NAME_REQUIRED, true, config_oauth2_section },
	{ "session", CONFIG_UNNAMED, false, config_plain_section },
	{ "tls_profile", CONFIG_NAME_REQUIRED, true, config_profile_section },
};

/* The section of a header and the name in it ("default" when optional
 * and absent; NULL for an unnamed section). */
static const struct config_section *
config_section_find(const char *header, const char **name)
{
	const struct config_section	*s;
	size_t				 i, n;

	for (i = 0; i < sizeof(config_sections) / sizeof(config_sections[0]);
	    i++) {
		s = &config_sections[i];
		n = strlen(s->word);
		if (strncmp(header, s->word, n) != 0)
			continue;
		if (header[n] == '\0' && s->naming != CONFIG_NAME_REQUIRED) {
			*name = s->naming == CONFIG_UNNAMED ? NULL : "default";
			return s;
		}
		if (header[n] == ' ' && header[n + 1] != '\0' &&
		    s->naming != CONFIG_UNNAMED) {
			*name = header + n + 1;
			return s;
		}
	}
	return NULL;
}

/* [upstream] keys given in [upstream NAME] are pointed to their place. */
static int
config_unknown_key(const struct config_section *s, const char *name,
    const char *key, char *err, size_t errlen)
{
	const struct config_key	*k = config_key_find(s->word, key);
	bool			 upstream = s->section == config_upstream_section;

	if (name == NULL || (upstream && strcmp(name, "default") == 0))
		snprintf(err, errlen, "unknown key \"%.40s\" in [%s]", key,
		    s->word);
	else
		snprintf(err, errlen, "unknown key \"%.40s\" in [%s %s]%s", key,
		    s->word, name, upstream && k != NULL ?
		    " (it belongs in [upstream], for every upstream)" : "");
	return -EINVAL;
}

int
config_set(struct config *c, const char *section, const char *key,
    const char *value, char *err, size_t errlen)
{
	const struct config_section	*s;
	const struct config_key		*k;
	const char			*name;
	void				*base = NULL;

	if ((s = config_section_find(section, &name)) == NULL) {
		if (*section == '\0')
			snprintf(err, errlen, "key \"%.40s\" outside any "
			    "section", key);
		else
			snprintf(err, errlen, "unknown section [%.60s]",
			    section);
		return -EINVAL;
	}
	if (s->early && (base = s->section(c, name, err, errlen)) == NULL)
		return -EINVAL;
	k = config_key_find(s->word, key);
	/* A shared [upstream] key belongs to [upstream] only. */
	if (k == NULL || (k->scope == CONFIG_SCOPE_CONFIG && name != NULL &&
	    strcmp(name, "default") != 0))
		return config_unknown_key(s, name, key, err, errlen);
	if (k->scope == CONFIG_SCOPE_CONFIG)
		base = c;
	else if (base == NULL &&
	    (base = s->section(c, name, err, errlen)) == NULL)
		return -EINVAL;
	return config_key_set(base, k, key, value, err, errlen);
}

/* "tls_profile" alone is no header: an option means the "default" one. */
int
config_set_option(struct config *c, const char *section, const char *key,
    const char *value, char *err, size_t errlen)
{
	char		 header[64];
	const char	*name;

	if (config_section_find(section, &name) == NULL) {
		snprintf(header, sizeof(header), "%s default", section);
		section = header;
	}
	return config_set(c, section, key, value, err, errlen);
}

/*
 * Where a named section was declared, for errors found after loading: a
 * certificate that fails to load, a token source the manager refuses.
 */
static void
config_note_line(struct config *c, const char *section, unsigned int line)
{
	unsigned int	*at = NULL;

	if (strncmp(section, "tls_profile ", 12) == 0) {
		struct config_tls_profile	*p;

		p = (struct config_tls_profile *)config_find_profile(c,
		    section + 12);
		at = p != NULL ? &p->line : NULL;
	} else if (strncmp(section, "oauth2 ", 7) == 0) {
		struct config_oauth2	*o;

		o = (struct config_oauth2 *)config_find_oauth2(c, section + 7);
		at = o != NULL ? &o->line : NULL;
	}
	if (at != NULL && *at == 0)
		*at = line;
}

static int
config_ini_handler(void *arg, const char *section, const char *key,
    const char *value, unsigned int line, char *err, size_t errlen)
{
	struct config	*c = arg;

	if (config_set(c, section, key, value, err, errlen) != 0)
		return -EINVAL;
	config_note_line(c, section, line);
	return 0;
}

int
config_load_file(struct config *c, const char *path,
    struct config_errors *errs)
{
	FILE		*fp;
	unsigned int	 before = errs->count;
	int		 r;

	if ((fp = fopen(path, "r")) == NULL) {
		r = -errno;
		config_errors_add(errs, "%s: cannot open: %s", path,
		    strerror(-r));
		return r;
	}
	r = config_ini_parse(fp, path, config_ini_handler, c, errs);
	fclose(fp);
	if (r != 0)
		return r;
	return errs->count == before ? 0 : -EINVAL;
}

void
config_check_file(struct config_errors *errs, const char *origin,
    const char *what, const char *path)
{
	if (path[0] != '\0' && access(path, R_OK) != 0)
		config_errors_add(errs, "%s: %s %s: %s", origin, what, path,
		    strerror(errno));
}

/* Cross checks for TLS; listeners get loopback as their default trusted
 * networks (plaintext authentication allowed from there only). */
static void
config_validate_tls(struct config *c, const char *origin,
    struct config_errors *errs)
{
	const struct config_tls_profile	*p;
	unsigned int			 i;

	for (i = 0; i < c->nprofiles; i++) {
		p = &c->profiles[i];
		if (p->cert[0] == '\0' || p->key[0] == '\0')
			config_errors_add(errs, "%s: [tls_profile %s] needs cert "
			    "and key", origin, p->name);
		config_check_file(errs, origin, "certificate", p->cert);
		config_check_file(errs, origin, "key", p->key);
		if (p->max_version != CONFIG_TLS_ANY &&
		    p->max_version < p->min_version)
			config_errors_add(errs, "%s: [tls_profile %s] "
			    "max_version is below min_version", origin, p->name);
	}
	for (i = 0; i < c->nlisteners; i++) {
		struct config_listener	*l = &c->listeners[i];

		if (l->tls != CONFIG_LISTENER_TLS_NONE) {
			if (l->tls_profile[0] == '\0')
				snprintf(l->tls_profile, sizeof(l->tls_profile),
				    "default");
			if (config_find_profile(c, l->tls_profile) == NULL)
				config_errors_add(errs, "%s: [listener %s] uses "
				    "tls_profile %s, which is not defined", origin,
				    l->name, l->tls_profile);
		}
		if (l->proxy_protocol && l->nproxy_from == 0)
			config_errors_add(errs, "%s: [listener %s] has "
			    "proxy_protocol = yes but no proxy_networks (the load "
			    "balancers allowed to send the header)", origin,
			    l->name);
		if (!l->trusted_set) {
			config_parse_network("127.0.0.0/8", &l->trusted[0]);
			config_parse_network("::1", &l->trusted[1]);
			l->ntrusted = 2;
		}
	}
}

int
config_validate(struct config *c, const char *origin,
    struct config_errors *errs)
{
	unsigned int	before = errs->count, i;

	if (c->nlisteners == 0)
		config_errors_add(errs, "%s: no listener: add a [listener NAME] "
		    "section with address = IP:PORT", origin);
	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].addrlen == 0)
			config_errors_add(errs, "%s: [listener %s] has no "
			    "address", origin, c->listeners[i].name);
	config_validate_upstreams(c, origin, errs);
	if (c->oauth2_retry_max_ms < c->oauth2_retry_min_ms)
		config_errors_add(errs, "%s: [global] oauth2_retry_max is below "
		    "oauth2_retry_min", origin);
	config_validate_tls(c, origin, errs);
	return errs->count == before ? 0 : -EINVAL;
}

const char *
config_log_level_name(enum config_log_level level)
{
	switch (level) {
	case CONFIG_LOG_DEBUG:
		return "debug";
	case CONFIG_LOG_INFO:
		return "info";
	case CONFIG_LOG_WARN:
		return "warn";
	case CONFIG_LOG_ERROR:
		return "error";
	}
	return "?";
}
