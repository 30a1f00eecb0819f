/* SPDX-License-Identifier: MIT */
/*
 * upstream.c - the IMAP servers popgate logs in to ([upstream NAME]), the
 * routing table that picks one for a login ([routes]) and the OAuth2 token
 * sources ([oauth2 NAME]), with the provider presets that fill in hosts,
 * endpoints and scopes.
 */
#include "config.h"
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * Provider presets. Microsoft: Exchange Online IMAP with OAuth2, v2.0
 * endpoints of the tenant; delegated access needs IMAP.AccessAsUser.All
 * and offline_access (for refresh tokens), app-only access (client
 * credentials) the .default scope of the resource. Google: Gmail IMAP, one
 * scope for both.
 */
#define CONFIG_MS365_URL	"imaps://outlook.office365.com:993"
#define CONFIG_MS365_LOGIN	"https://login.microsoftonline.com/"
#define CONFIG_MS365_SCOPE \
	"https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
#define CONFIG_MS365_APP_SCOPE	"https://outlook.office365.com/.default"
#define CONFIG_GOOGLE_URL	"imaps://imap.gmail.com:993"
#define CONFIG_GOOGLE_TOKEN	"https://oauth2.googleapis.com/token"
#define CONFIG_GOOGLE_DEVICE	"https://oauth2.googleapis.com/device/code"
#define CONFIG_GOOGLE_SCOPE	"https://mail.google.com/"

static const char *const config_provider_names[] = {
	[CONFIG_PROVIDER_GENERIC] = "generic",
	[CONFIG_PROVIDER_MICROSOFT365] = "microsoft365",
	[CONFIG_PROVIDER_GOOGLE] = "google",
};

const char *
config_provider_name(enum config_provider p)
{
	return config_provider_names[p];
}

static int
config_parse_provider(const char *value, enum config_provider *out)
{
	size_t	i;

	for (i = 0; i < sizeof(config_provider_names) /
	    sizeof(config_provider_names[0]); i++) {
		if (strcasecmp(value, config_provider_names[i]) == 0) {
			*out = (enum config_provider)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Section names are the words of the config: no spaces, no quotes. */
bool
config_name_ok(const char *name, size_t size)
{
	const char	*p;

	if (*name == '\0' || strlen(name) >= size)
		return false;
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("_.-", *p) == NULL)
			return false;
	return true;
}

void *
config_upstream_section(struct config *c, const char *name, char *err,
    size_t errlen)
{
	struct config_upstream	*u;

	if ((u = (struct config_upstream *)config_find_upstream(c, name)) !=
	    NULL)
		return u;
	if (!config_name_ok(name, sizeof(u->name))) {
		snprintf(err, errlen, "bad upstream name \"%.60s\" (letters, "
		    "digits, '_', '.', '-')", name);
		return NULL;
	}
	if (c->nupstreams == CONFIG_MAX_UPSTREAMS) {
		snprintf(err, errlen, "too many upstreams (max %d)",
		    CONFIG_MAX_UPSTREAMS);
		return NULL;
	}
	u = &c->upstreams[c->nupstreams++];
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	config_keys_defaults(u, CONFIG_SCOPE_UPSTREAM);
	return u;
}

/* imap://, imaps:// (implicit TLS, RFC 8314) or imap+starttls://, then
 * HOST[:PORT]. */
static int
config_parse_url(struct config_upstream *u, const char *url, char *err,
    size_t errlen)
{
	const char		*rest, *colon, *end;
	size_t			 hostlen;
	unsigned long		 port;
	enum config_upstream_tls tls;

	if (strncasecmp(url, "imaps://", 8) == 0) {
		tls = CONFIG_UPSTREAM_IMPLICIT;
		port = 993;
		rest = url + 8;
	} else if (strncasecmp(url, "imap+starttls://", 16) == 0) {
		tls = CONFIG_UPSTREAM_STARTTLS;
		port = 143;
		rest = url + 16;
	} else if (strncasecmp(url, "imap://", 7) == 0) {
		tls = CONFIG_UPSTREAM_PLAIN;
		port = 143;
		rest = url + 7;
	} else {
		snprintf(err, errlen, "upstream URL must start with imaps://, "
		    "imap+starttls:// or imap:// (got \"%.80s\")", url);
		return -EINVAL;
	}
	if (strlen(url) >= sizeof(u->url))
		goto bad;
	end = rest + strcspn(rest, "/");
	if (*end == '/' && end[1] != '\0') {
		snprintf(err, errlen, "upstream URL must not have a path");
		return -EINVAL;
	}
	if (*rest == '[') {
		colon = memchr(rest, ']', (size_t)(end - rest));
		if (colon == NULL) {
			snprintf(err, errlen, "bad IPv6 address in URL");
			return -EINVAL;
		}
		hostlen = (size_t)(colon - rest - 1);
		if (hostlen == 0 || hostlen >= sizeof(u->host))
			goto bad;
		memcpy(u->host, rest + 1, hostlen);
		u->host[hostlen] = '\0';
		colon = colon[1] == ':' ? colon + 1 : NULL;
	} else {
		colon = memchr(rest, ':', (size_t)(end - rest));
		hostlen = (size_t)((colon != NULL ? colon : end) - rest);
		if (hostlen == 0 || hostlen >= sizeof(u->host))
			goto bad;
		memcpy(u->host, rest, hostlen);
		u->host[hostlen] = '\0';
	}
	if (colon != NULL) {
		char	 port_text[8];
		size_t	 plen = (size_t)(end - colon - 1);

		if (plen == 0 || plen >= sizeof(port_text))
			goto bad;
		memcpy(port_text, colon + 1, plen);
		port_text[plen] = '\0';
		if (config_parse_uint(port_text, 1, 65535, &port) != 0)
			goto bad;
	}
	snprintf(u->port, sizeof(u->port), "%lu", port);
	snprintf(u->url, sizeof(u->url), "%s", url);
	u->tls = tls;
	return 0;
bad:
	snprintf(err, errlen, "bad upstream URL \"%.80s\" (want imap://HOST:PORT)",
	    url);
	return -EINVAL;
}

int
config_upstream_url(void *base, const char *key, const char *value,
    char *err, size_t errlen)
{
	(void)key;
	return config_parse_url(base, value, err, errlen);
}

/* The name goes into a quoted IMAP string: no quotes, no line ends. */
int
config_upstream_mailbox(void *base, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct config_upstream	*u = base;

	(void)key;
	if (*value == '\0' || strlen(value) >= sizeof(u->mailbox) ||
	    strpbrk(value, "\"\\\r\n") != NULL) {
		snprintf(err, errlen, "bad mailbox name");
		return -EINVAL;
	}
	snprintf(u->mailbox, sizeof(u->mailbox), "%s", value);
	return 0;
}

/* Lower-cases src into dst (size octets). */
static int
config_lower(char *dst, size_t size, const char *src)
{
	size_t	i, n = strlen(src);

	if (n == 0 || n >= size)
		return -EINVAL;
	for (i = 0; i <= n; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	return 0;
}

int
config_route_set(void *base, const char *key, const char *value, char *err,
    size_t errlen)
{
	struct config		*c = base;
	struct config_route	*r;
	const char		*match = key, *at;
	unsigned int		 i;

	if (c->nroutes == CONFIG_MAX_ROUTES) {
		snprintf(err, errlen, "too many routes (max %d)",
		    CONFIG_MAX_ROUTES);
		return -EINVAL;
	}
	r = &c->routes[c->nroutes];
	memset(r, 0, sizeof(*r));
	if (*match == '@')
		match++;		/* "@example.com": a domain */
	at = strrchr(match, '@');
	r->is_user = at != NULL;
	if (config_lower(r->match, sizeof(r->match), match) != 0 ||
	    strpbrk(match, " \t\"") != NULL || (at != NULL &&
	    (at == match || at[1] == '\0')) ||
	    (strchr(match, '*') != NULL && strcmp(match, "*") != 0)) {
		snprintf(err, errlen, "bad route \"%.60s\" (want user@domain, "
		    "domain, @domain or *)", key);
		return -EINVAL;
	}
	for (i = 0; i < c->nroutes; i++) {
		if (strcmp(c->routes[i].match, r->match) == 0 &&
		    c->routes[i].is_user == r->is_user) {
			snprintf(err, errlen, "route \"%.60s\" is given twice",
			    key);
			return -EINVAL;
		}
	}
	if (!config_name_ok(value, sizeof(r->upstream))) {
		snprintf(err, errlen, "route \"%.60s\": bad upstream name", key);
		return -EINVAL;
	}
	snprintf(r->upstream, sizeof(r->upstream), "%s", value);
	c->nroutes++;
	return 0;
}

void *
config_oauth2_section(struct config *c, const char *name, char *err,
    size_t errlen)
{
	struct config_oauth2	*o;

	if ((o = (struct config_oauth2 *)config_find_oauth2(c, name)) != NULL)
		return o;
	if (!config_name_ok(name, sizeof(o->name))) {
		snprintf(err, errlen, "bad oauth2 source name \"%.60s\" "
		    "(letters, digits, '_', '.', '-')", name);
		return NULL;
	}
	if (c->noauth2 == CONFIG_MAX_OAUTH2) {
		snprintf(err, errlen, "too many oauth2 sources (max %d)",
		    CONFIG_MAX_OAUTH2);
		return NULL;
	}
	o = &c->oauth2[c->noauth2++];
	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "%s", name);
	config_keys_defaults(o, CONFIG_SCOPE_OAUTH2);
	return o;
}

/* A secret from a file (first line), so the config itself may stay
 * readable; the file is read here, at load time, before any privilege
 * drop. */
int
config_oauth2_secret_file(void *base, const char *key, const char *path,
    char *err, size_t errlen)
{
	struct config_oauth2	*o = base;
	char			*field = o->client_secret;
	size_t			 size = sizeof(o->client_secret), n;
	FILE			*fp;

	(void)key;
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "client_secret_file %.200s: %s", path,
		    strerror(errno));
		return -EINVAL;
	}
	if (fgets(field, (int)size, fp) == NULL)
		field[0] = '\0';
	fclose(fp);
	n = strcspn(field, "\r\n");
	field[n] = '\0';
	while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\t'))
		field[--n] = '\0';
	if (n == 0 || n >= size - 1) {
		snprintf(err, errlen, "client_secret_file %.200s: empty or too "
		    "long", path);
		return -EINVAL;
	}
	return 0;
}

/* "tenant" lives in the token source but only shapes its URLs. */
int
config_oauth2_tenant(void *base, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct config_oauth2	*o = base;
	char			 url[CONFIG_MAX_URL];
	int			 n;

	(void)key;
	if (!config_name_ok(value, 128)) {
		snprintf(err, errlen, "bad tenant (a domain or an id)");
		return -EINVAL;
	}
	n = snprintf(url, sizeof(url), CONFIG_MS365_LOGIN
	    "%s/oauth2/v2.0/token", value);
	if (n < 0 || (size_t)n >= sizeof(url))
		return -EINVAL;
	if (o->token_url[0] == '\0')
		snprintf(o->token_url, sizeof(o->token_url), "%s", url);
	n = snprintf(url, sizeof(url), CONFIG_MS365_LOGIN
	    "%s/oauth2/v2.0/devicecode", value);
	if (n < 0 || (size_t)n >= sizeof(url))
		return -EINVAL;
	if (o->device_url[0] == '\0')
		snprintf(o->device_url, sizeof(o->device_url), "%s", url);
	return 0;
}

/* Google's endpoints are fixed; Microsoft's need the tenant. */
int
config_oauth2_provider(void *base, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct config_oauth2	*o = base;
	enum config_provider	 p;

	(void)key;
	if (config_parse_provider(value, &p) != 0) {
		snprintf(err, errlen, "provider must be generic, "
		    "microsoft365 or google");
		return -EINVAL;
	}
	if (p == CONFIG_PROVIDER_GOOGLE) {
		if (o->token_url[0] == '\0')
			snprintf(o->token_url, sizeof(o->token_url), "%s",
			    CONFIG_GOOGLE_TOKEN);
		if (o->device_url[0] == '\0')
			snprintf(o->device_url, sizeof(o->device_url), "%s",
			    CONFIG_GOOGLE_DEVICE);
	}
	o->provider = p;
	return 0;
}

/* How long a command's token is used when it says nothing: seconds. */
int
config_oauth2_lifetime(void *base, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct config_oauth2	*o = base;
	unsigned int		 ms;

	(void)key;
	if (config_set_duration(&ms, value, 1000, CONFIG_MAX_TIMEOUT_S, err,
	    errlen) != 0)
		return -EINVAL;
	o->command_lifetime_s = ms / 1000;
	return 0;
}

const struct config_upstream *
config_find_upstream(const struct config *c, const char *name)
{
	unsigned int	i;

	for (i = 0; i < c->nupstreams; i++)
		if (strcmp(c->upstreams[i].name, name) == 0)
			return &c->upstreams[i];
	return NULL;
}

const struct config_oauth2 *
config_find_oauth2(const struct config *c, const char *name)
{
	unsigned int	i;

	for (i = 0; i < c->noauth2; i++)
		if (strcmp(c->oauth2[i].name, name) == 0)
			return &c->oauth2[i];
	return NULL;
}

const struct config_upstream *
config_route(const struct config *c, const char *user)
{
	const struct config_route	*domain = NULL, *any = NULL, *r;
	const char			*at = strrchr(user, '@');
	unsigned int			 i;

	if (c->nroutes == 0)
		return config_find_upstream(c, "default");
	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		if (r->is_user) {
			if (strcasecmp(r->match, user) == 0)
				return config_find_upstream(c, r->upstream);
		} else if (strcmp(r->match, "*") == 0)
			any = r;
		else if (at != NULL && strcasecmp(r->match, at + 1) == 0)
			domain = r;
	}
	r = domain != NULL ? domain : any;
	return r != NULL ? config_find_upstream(c, r->upstream) : NULL;
}

/* http:// only to this machine: a token must not cross a network in the
 * clear. */
static bool
config_url_ok(const char *url)
{
	static const char *const	 local[] = {
		"http://127.", "http://localhost:", "http://localhost/",
		"http://[::1]",
	};
	size_t				 i;

	if (strncasecmp(url, "https://", 8) == 0)
		return url[8] != '\0';
	for (i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (strncasecmp(url, local[i], strlen(local[i])) == 0)
			return true;
	return false;
}

static void
config_validate_oauth2(struct config *c, struct config_oauth2 *o,
    const char *origin, struct config_errors *errs)
{
	char		 path[CONFIG_MAX_PATH + CONFIG_MAX_NAME + 16];
	const char	*scope = NULL;
	int		 n;

	if (o->provider == CONFIG_PROVIDER_MICROSOFT365)
		scope = o->grant == CONFIG_OAUTH2_CLIENT_CREDENTIALS ?
		    CONFIG_MS365_APP_SCOPE : CONFIG_MS365_SCOPE;
	else if (o->provider == CONFIG_PROVIDER_GOOGLE)
		scope = CONFIG_GOOGLE_SCOPE;
	if (o->scope[0] == '\0' && scope != NULL)
		snprintf(o->scope, sizeof(o->scope), "%s", scope);
	if (o->grant == CONFIG_OAUTH2_COMMAND) {
		if (o->command[0] == '\0')
			config_errors_add(errs, "%s: [oauth2 %s] grant = command "
			    "needs command", origin, o->name);
		return;
	}
	if (o->token_url[0] == '\0')
		config_errors_add(errs, "%s: [oauth2 %s] needs token_url%s",
		    origin, o->name, o->provider == CONFIG_PROVIDER_MICROSOFT365 ?
		    " or tenant" : "");
	else if (!config_url_ok(o->token_url))
		config_errors_add(errs, "%s: [oauth2 %s] token_url must be "
		    "https:// (http:// only to loopback)", origin, o->name);
	if (o->device_url[0] != '\0' && !config_url_ok(o->device_url))
		config_errors_add(errs, "%s: [oauth2 %s] device_url must be "
		    "https:// (http:// only to loopback)", origin, o->name);
	if (o->client_id[0] == '\0')
		config_errors_add(errs, "%s: [oauth2 %s] needs client_id", origin,
		    o->name);
	if (o->grant == CONFIG_OAUTH2_CLIENT_CREDENTIALS &&
	    o->client_secret[0] == '\0')
		config_errors_add(errs, "%s: [oauth2 %s] grant = "
		    "client_credentials needs client_secret or "
		    "client_secret_file", origin, o->name);
	if (o->grant == CONFIG_OAUTH2_REFRESH_TOKEN &&
	    o->refresh_token_file[0] == '\0') {
		/* Built aside: the compiler cannot tell that the fields of
		 * c do not overlap. */
		n = snprintf(path, sizeof(path), "%s/%s.refresh",
		    c->state_directory, o->name);
		if (n < 0 || (size_t)n >= sizeof(o->refresh_token_file))
			config_errors_add(errs, "%s: [oauth2 %s] state_directory "
			    "is too long", origin, o->name);
		else
			memcpy(o->refresh_token_file, path, (size_t)n + 1);
	}
	config_check_file(errs, origin, "oauth2 ca_file", o->ca_file);
}

static void
config_validate_upstream(struct config_upstream *u, const char *origin,
    struct config_errors *errs)
{
	char		 err[CONFIG_MAX_ERROR_TEXT - 64];
	const char	*url = NULL;

	if (u->provider == CONFIG_PROVIDER_MICROSOFT365)
		url = CONFIG_MS365_URL;
	else if (u->provider == CONFIG_PROVIDER_GOOGLE)
		url = CONFIG_GOOGLE_URL;
	if (url != NULL) {
		if (u->url[0] == '\0' &&
		    config_parse_url(u, url, err, sizeof(err)) != 0)
			config_errors_add(errs, "%s: %s", origin, err);
		if (!u->passthrough_set)
			u->passthrough = false;
	}
	if (u->url[0] == '\0')
		config_errors_add(errs, "%s: [upstream%s%s] needs url = "
		    "imaps://HOST:PORT (or a provider)", origin,
		    strcmp(u->name, "default") == 0 ? "" : " ",
		    strcmp(u->name, "default") == 0 ? "" : u->name);
	config_check_file(errs, origin, "upstream ca_file", u->ca_file);
	config_check_file(errs, origin, "upstream client_cert",
	    u->client_cert);
	config_check_file(errs, origin, "upstream client_key", u->client_key);
	if ((u->client_cert[0] == '\0') != (u->client_key[0] == '\0'))
		config_errors_add(errs, "%s: [upstream %s] client_cert and "
		    "client_key go together", origin, u->name);
}

void
config_validate_upstreams(struct config *c, const char *origin,
    struct config_errors *errs)
{
	unsigned int	i, j;

	if (c->nupstreams == 0)
		config_errors_add(errs, "%s: no upstream: set url = "
		    "imaps://HOST:PORT in [upstream]", origin);
	for (i = 0; i < c->nupstreams; i++)
		config_validate_upstream(&c->upstreams[i], origin, errs);
	for (i = 0; i < c->nroutes; i++)
		if (config_find_upstream(c, c->routes[i].upstream) == NULL)
			config_errors_add(errs, "%s: [routes] %s goes to upstream "
			    "%s, which is not defined", origin,
			    c->routes[i].match, c->routes[i].upstream);
	if (c->nroutes == 0 && c->nupstreams > 0 &&
	    config_find_upstream(c, "default") == NULL)
		config_errors_add(errs, "%s: several upstreams and no [routes]: "
		    "add [routes] (\"* = NAME\" for a default) or an [upstream] "
		    "section", origin);
	for (i = 0; i < c->noauth2; i++)
		config_validate_oauth2(c, &c->oauth2[i], origin, errs);
	/* One refresh token, one source: two would spend it twice. */
	for (i = 0; i < c->noauth2; i++) {
		const struct config_oauth2	*a = &c->oauth2[i];

		if (a->grant != CONFIG_OAUTH2_REFRESH_TOKEN)
			continue;
		for (j = i + 1; j < c->noauth2; j++)
			if (c->oauth2[j].grant == CONFIG_OAUTH2_REFRESH_TOKEN &&
			    strcmp(a->refresh_token_file,
			    c->oauth2[j].refresh_token_file) == 0)
				config_errors_add(errs, "%s: [oauth2 %s] and "
				    "[oauth2 %s] share refresh_token_file %s",
				    origin, a->name, c->oauth2[j].name,
				    a->refresh_token_file);
	}
}
