/* SPDX-License-Identifier: MIT */
/*
 * device_flow.c - RFC 8628 device authorization, for the admin command
 * "popgate account bootstrap" only: it blocks, so it never runs on a
 * daemon loop.
 */
#include "oauth2_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_client.h"

/* POSTs form to url and parses the answer as a token answer. */
static enum oauth2_json_result
oauth2_sync_token(const struct config_oauth2 *src, const char *url,
    struct oauth2_form *f, bool device, struct oauth2_token_response *tok,
    struct oauth2_device_response *dev, struct oauth2_error_response *eresp,
    long *status, char *err, size_t errlen)
{
	enum oauth2_json_result	 r;
	const char		*body = oauth2_form_body(f);
	char			*answer;
	size_t			 len;

	memset(eresp, 0, sizeof(*eresp));
	*status = 0;	/* no HTTP answer: what every early return means */
	if (body == NULL) {
		snprintf(err, errlen, "out of memory");
		return OAUTH2_JSON_INVALID;
	}
	if (http_post_form_sync(url, body, src->ca_file,
	    OAUTH2_DEFAULT_HTTP_TIMEOUT_MS, status, &answer, &len, err,
	    errlen) != 0)
		return OAUTH2_JSON_INVALID;
	if (device)
		r = oauth2_json_device(answer, len, dev, eresp, err, errlen);
	else
		r = oauth2_json_token(answer, len, tok, eresp, err, errlen);
	if (r == OAUTH2_JSON_TOKEN && *status != 200) {
		snprintf(err, errlen, "HTTP status %ld", *status);
		r = OAUTH2_JSON_INVALID;
	} else if (r == OAUTH2_JSON_INVALID && *status != 200)
		snprintf(err, errlen, "HTTP status %ld", *status);
	oauth2_json_wipe(answer, len);
	free(answer);
	return r;
}

static void
oauth2_sleep_s(long s)
{
	struct timespec	ts = { s, 0 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Polls the token endpoint for dev's code until the user approved it
 * (0, the answer in tok), or it expired or was refused (-1, why in err).
 */
static int
oauth2_device_poll(const struct config_oauth2 *src,
    const struct oauth2_device_response *dev,
    struct oauth2_token_response *tok, char *err, size_t errlen)
{
	struct oauth2_error_response	 eresp;
	enum oauth2_json_result		 r;
	struct oauth2_form		 f;
	char				 why[HTTP_MAX_ERROR];
	char				 desc[OAUTH2_LOG_TEXT];
	uint64_t			 deadline;
	long				 status, interval;

	deadline = oauth2_now_ms() + (uint64_t)dev->expires_in * 1000;
	interval = dev->interval;
	for (;;) {
		oauth2_sleep_s(interval);
		if (oauth2_now_ms() >= deadline) {
			snprintf(err, errlen, "the code expired before it was "
			    "approved");
			return -1;
		}
		oauth2_form_init(&f);
		oauth2_form_add(&f, "grant_type",
		    "urn:ietf:params:oauth:grant-type:device_code");
		oauth2_form_add(&f, "device_code", dev->device_code);
		oauth2_form_add(&f, "client_id", src->client_id);
		if (src->client_secret[0] != '\0')
			oauth2_form_add(&f, "client_secret",
			    src->client_secret);
		r = oauth2_sync_token(src, src->token_url, &f, false, tok,
		    NULL, &eresp, &status, why, sizeof(why));
		oauth2_form_free(&f);
		if (r == OAUTH2_JSON_TOKEN)
			return 0;
		if (r == OAUTH2_JSON_INVALID && status == 0)
			continue;	/* network trouble: until the deadline */
		if (r == OAUTH2_JSON_ERROR &&
		    strcmp(eresp.error, "authorization_pending") == 0)
			continue;
		if (r == OAUTH2_JSON_ERROR &&
		    strcmp(eresp.error, "slow_down") == 0) {
			/* RFC 8628 sec. 3.5: 5 s more from now on. */
			if (interval < OAUTH2_MAX_INTERVAL)
				interval += 5;
			continue;
		}
		if (r == OAUTH2_JSON_ERROR)
			snprintf(err, errlen, "authorization failed: %s: %s",
			    eresp.error, oauth2_escape(desc, sizeof(desc),
			    eresp.description, strlen(eresp.description)));
		else
			snprintf(err, errlen, "authorization failed: %s", why);
		return -1;
	}
}

/* What the device flow needs of a source, checked before any request. */
static int
oauth2_device_check(const struct config_oauth2 *src, char *err, size_t errlen)
{
	char	why[HTTP_MAX_ERROR];

	if (src->grant != CONFIG_OAUTH2_REFRESH_TOKEN) {
		snprintf(err, errlen, "source %s does not use refresh tokens",
		    src->name);
		return -1;
	}
	if (src->device_url[0] == '\0' || src->token_url[0] == '\0' ||
	    src->refresh_token_file[0] == '\0' || src->client_id[0] == '\0') {
		snprintf(err, errlen, "source %s needs device_url, token_url, "
		    "client_id and refresh_token_file", src->name);
		return -1;
	}
	if (http_url_check(src->device_url, why, sizeof(why)) != 0 ||
	    http_url_check(src->token_url, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	return 0;
}

/* RFC 8628 sec. 3.1-3.2: asks for a device code into *dev. */
static int
oauth2_device_request(const struct config_oauth2 *src,
    struct oauth2_device_response *dev, char *err, size_t errlen)
{
	struct oauth2_error_response	 eresp;
	enum oauth2_json_result		 r;
	struct oauth2_form		 f;
	char				 why[HTTP_MAX_ERROR];
	char				 desc[OAUTH2_LOG_TEXT];
	long				 status;

	/* RFC 8628 sec. 3.1: a confidential client authenticates here too. */
	oauth2_form_init(&f);
	oauth2_form_add(&f, "client_id", src->client_id);
	if (src->client_secret[0] != '\0')
		oauth2_form_add(&f, "client_secret", src->client_secret);
	if (src->scope[0] != '\0')
		oauth2_form_add(&f, "scope", src->scope);
	r = oauth2_sync_token(src, src->device_url, &f, true, NULL, dev,
	    &eresp, &status, why, sizeof(why));
	oauth2_form_free(&f);
	if (r == OAUTH2_JSON_TOKEN)
		return 0;
	if (r == OAUTH2_JSON_ERROR)
		snprintf(err, errlen, "device authorization refused: %s: %s",
		    eresp.error, oauth2_escape(desc, sizeof(desc),
		    eresp.description, strlen(eresp.description)));
	else
		snprintf(err, errlen, "device authorization failed: %s", why);
	return -1;
}

int
oauth2_bootstrap_device(const struct config_oauth2 *src, FILE *out, char *err,
    size_t errlen)
{
	struct oauth2_device_response	*dev = NULL;
	struct oauth2_token_response	*tok = NULL;
	char				 why[HTTP_MAX_ERROR], fp[9];
	int				 rc = -1;

	if (oauth2_device_check(src, err, errlen) != 0)
		return -1;
	if ((dev = malloc(sizeof(*dev))) == NULL ||
	    (tok = malloc(sizeof(*tok))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (oauth2_device_request(src, dev, err, errlen) != 0)
		goto done;
	fprintf(out, "To let popgate use %s, open %s\nand enter the code: %s\n",
	    src->name, dev->verification_uri, dev->user_code);
	if (dev->verification_uri_complete[0] != '\0')
		fprintf(out, "(or open %s)\n", dev->verification_uri_complete);
	fprintf(out, "The code expires in %ld s. Waiting...\n",
	    dev->expires_in);
	fflush(out);

	if (oauth2_device_poll(src, dev, tok, err, errlen) != 0)
		goto done;
	if (tok->refresh_token_len == 0) {
		snprintf(err, errlen, "the token endpoint issued no refresh "
		    "token (does the scope ask for offline access?)");
		goto done;
	}
	if (oauth2_refresh_store(src->refresh_token_file, tok->refresh_token,
	    tok->refresh_token_len, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "cannot store the refresh token: %s",
		    why);
		goto done;
	}
	oauth2_fingerprint(tok->refresh_token, tok->refresh_token_len, fp);
	fprintf(out, "Approved. Refresh token %s stored in %s.\n", fp,
	    src->refresh_token_file);
	fflush(out);
	rc = 0;
done:
	if (dev != NULL) {
		oauth2_json_wipe(dev, sizeof(*dev));
		free(dev);
	}
	if (tok != NULL) {
		oauth2_json_wipe(tok, sizeof(*tok));
		free(tok);
	}
	return rc;
}
