/* SPDX-License-Identifier: MIT */
/*
 * metrics_http.c - the metrics endpoint: which requests get the
 * exposition (exposition.c), served by net/http_server.c on the main
 * loop. A single instance.
 */
#include "metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "http_server.h"

#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

static struct http_server	*metrics_srv;

/* GET or HEAD /metrics, from the counters arg; the server has answered
 * malformed heads. */
static void
metrics_handle(void *arg, struct http_conn *c, const unsigned char *method,
    size_t method_len, const unsigned char *target, size_t target_len)
{
	const unsigned char	*path;
	size_t			 plen;
	struct metrics		*m = arg;
	bool			 head;

	head = method_len == 4 && memcmp(method, "HEAD", 4) == 0;
	if (!head && !(method_len == 3 && memcmp(method, "GET", 3) == 0)) {
		http_conn_error(c, 405, true);
		return;
	}
	if (!http_target_path(target, target_len, &path, &plen)) {
		http_conn_error(c, 400, !head);
		return;
	}
	if (plen != 8 || memcmp(path, "/metrics", 8) != 0) {
		http_conn_error(c, 404, !head);
		return;
	}
	if (metrics_render(m, http_conn_body(c)) != 0) {
		http_conn_error(c, 500, !head);
		return;
	}
	http_conn_reply(c, 200, METRICS_CONTENT_TYPE, !head);
}

int
metrics_start(uv_loop_t *loop, const struct config *c, struct metrics *m)
{
	struct http_server_config	cfg;

	if (c->metrics_addrlen == 0)
		return 0;
	if (metrics_srv != NULL)
		return UV_EBUSY;
	memset(&cfg, 0, sizeof(cfg));
	cfg.addr = (const struct sockaddr *)&c->metrics_addr;
	cfg.max_connections = METRICS_MAX_CONNECTIONS;
	cfg.timeout_ms = METRICS_TIMEOUT_MS;
	cfg.max_body_octets = METRICS_MAX_BODY_OCTETS;
	cfg.allow = "GET, HEAD";
	cfg.handler = metrics_handle;
	cfg.arg = m;
	return http_server_start(loop, &cfg, &metrics_srv);
}

int
metrics_sockname(struct sockaddr_storage *ss, int *len)
{
	if (metrics_srv == NULL)
		return UV_EINVAL;
	return http_server_sockname(metrics_srv, ss, len);
}

void
metrics_stop(void)
{
	http_server_stop(metrics_srv);
	metrics_srv = NULL;
}
