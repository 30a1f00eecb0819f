/* SPDX-License-Identifier: MIT */
/*
 * load_pop3.c - the POP3 dialogue of one pop3_load session (RFC 1939):
 * status lines, multi-line replies unstuffed and counted (and digested
 * with --verify-digest), the next command. Bytes in, commands out through
 * load_send(); the connection is pop3_load.c's.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pop3_load.h"

#define LOAD_FNV_PRIME	UINT64_C(0x100000001b3)

static uint64_t
load_digest_update(uint64_t h, const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= LOAD_FNV_PRIME;
	}
	return h;
}

/* Parses "+OK nn mm" (RFC 1939 sec. 5, STAT). */
static bool
load_parse_stat(const char *line, size_t len, uint32_t *count_out,
    uint64_t *octets_out)
{
	const char	*p = line + 3, *end = line + len;
	uint64_t	 v[2];

	for (int i = 0; i < 2; i++) {
		if (p == end || *p != ' ')
			return false;
		p++;
		if (p == end || *p < '0' || *p > '9')
			return false;
		v[i] = 0;
		while (p < end && *p >= '0' && *p <= '9') {
			if (v[i] > (UINT64_MAX - 9) / 10)
				return false;
			v[i] = v[i] * 10 + (uint64_t)(*p - '0');
			p++;
		}
	}
	if (p != end && *p != ' ')
		return false;
	if (v[0] > LOAD_MAX_MESSAGES)
		return false;
	*count_out = (uint32_t)v[0];
	*octets_out = v[1];
	return true;
}

static void
load_begin_multiline(struct load_conn *c, enum load_state next)
{
	c->state = next;
	c->is_line_start = true;
	c->was_cr = false;
}

static void
load_next_retr_or_quit(struct load_conn *c)
{
	if (c->msn < c->message_count) {
		c->msn++;
		load_send(c, LOAD_STATE_RETR_STATUS, "RETR %" PRIu32 "\r\n",
		    c->msn);
		return;
	}
	load_send(c, LOAD_STATE_QUIT, "QUIT\r\n");
}

/* Checks the totals of a finished session before QUIT. */
static bool
load_check_totals(struct load_conn *c)
{
	const struct load_options *o = &c->worker->context->options;

	if (o->mode == LOAD_MODE_FULL && c->data_octets != c->maildrop_octets) {
		load_conn_fail(c, "RETR total %" PRIu64 " octets, STAT said %"
		    PRIu64, c->data_octets, c->maildrop_octets);
		return false;
	}
	if (o->expect_bytes >= 0 &&
	    c->data_octets != (uint64_t)o->expect_bytes) {
		load_conn_fail(c, "RETR total %" PRIu64 " octets, expected %"
		    PRId64, c->data_octets, o->expect_bytes);
		return false;
	}
	if (o->want_digest && c->digest != o->expect_digest) {
		load_conn_fail(c, "RETR digest %016" PRIx64 ", expected %016"
		    PRIx64, c->digest, o->expect_digest);
		return false;
	}
	return true;
}

/* Handles one complete status line (without CRLF) in the current state. */
static void
load_status_line(struct load_conn *c, const char *line, size_t len)
{
	const struct load_options *o = &c->worker->context->options;

	if (len >= 4 && memcmp(line, "-ERR", 4) == 0 &&
	    (len == 4 || line[4] == ' ')) {
		load_conn_fail(c, "%.*s", (int)len, line);
		return;
	}
	if (len < 3 || memcmp(line, "+OK", 3) != 0 ||
	    (len > 3 && line[3] != ' ')) {
		load_conn_fail(c, "protocol violation: status line \"%.*s\"",
		    (int)(len > 80 ? 80 : len), line);
		return;
	}
	switch (c->state) {
	case LOAD_STATE_GREETING:
		load_send(c, LOAD_STATE_USER, "USER %s%u\r\n", o->user_prefix,
		    c->user);
		break;
	case LOAD_STATE_USER:
		load_send(c, LOAD_STATE_PASS, "PASS %s\r\n", o->password);
		break;
	case LOAD_STATE_PASS:
		if (o->mode == LOAD_MODE_RETR1) {
			c->message_count = 1;
			load_next_retr_or_quit(c);
		} else
			load_send(c, LOAD_STATE_STAT, "STAT\r\n");
		break;
	case LOAD_STATE_STAT:
		if (!load_parse_stat(line, len, &c->message_count,
		    &c->maildrop_octets)) {
			load_conn_fail(c, "protocol violation: STAT \"%.*s\"",
			    (int)(len > 80 ? 80 : len), line);
			return;
		}
		load_send(c, LOAD_STATE_UIDL_STATUS, "UIDL\r\n");
		break;
	case LOAD_STATE_UIDL_STATUS:
		load_begin_multiline(c, LOAD_STATE_UIDL_DATA);
		break;
	case LOAD_STATE_RETR_STATUS:
		load_begin_multiline(c, LOAD_STATE_RETR_DATA);
		break;
	case LOAD_STATE_QUIT:
		load_conn_finish(c, true);
		break;
	default:
		load_conn_fail(c, "internal: status line in state %d",
		    (int)c->state);
		break;
	}
}

/* Called when the "." line of a multi-line response has been read. */
static void
load_multiline_done(struct load_conn *c)
{
	if (c->state == LOAD_STATE_UIDL_DATA) {
		if (c->uidl_lines != c->message_count) {
			load_conn_fail(c, "UIDL listed %" PRIu32 " messages, "
			    "STAT said %" PRIu32, c->uidl_lines,
			    c->message_count);
			return;
		}
		load_next_retr_or_quit(c);
		return;
	}
	if (c->msn == c->message_count && !load_check_totals(c))
		return;
	load_next_retr_or_quit(c);
}

static void
load_count_data(struct load_conn *c, const char *p, size_t n)
{
	if (c->state != LOAD_STATE_RETR_DATA)
		return;
	c->data_octets += n;
	if (c->worker->context->options.want_digest)
		c->digest = load_digest_update(c->digest, p, n);
}

/*
 * Scans multi-line data (RFC 1939 sec. 3): unstuffs leading dots, counts
 * lines and octets, stops after CRLF "." CRLF. Returns the octets consumed;
 * fewer than n means a line head is cut and more input is needed.
 */
static size_t
load_scan_multiline(struct load_conn *c, const char *buf, size_t n)
{
	const char	*p = buf, *end = buf + n, *nl;

	while (p < end) {
		if (c->is_line_start) {
			if (*p == '.') {
				if (end - p < 2)
					break;
				if (p[1] == '\r') {
					if (end - p < 3)
						break;
					if (p[2] != '\n') {
						load_conn_fail(c, "protocol "
						    "violation: \".\\r\" line");
						return n;
					}
					p += 3;
					load_multiline_done(c);
					if (p < end &&
					    c->state != LOAD_STATE_CLOSING)
						load_conn_fail(c, "protocol "
						    "violation: unsolicited "
						    "data after \".\"");
					return (size_t)(p - buf);
				}
				if (p[1] != '.') {
					load_conn_fail(c, "protocol violation:"
					    " line starting with a lone dot");
					return n;
				}
				p++;	/* the stuffed dot */
			}
			c->is_line_start = false;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			load_count_data(c, p, (size_t)(end - p));
			c->was_cr = end[-1] == '\r';
			p = end;
			break;
		}
		if (nl > p ? nl[-1] != '\r' : !c->was_cr) {
			load_conn_fail(c, "protocol violation: bare LF in "
			    "multi-line response");
			return n;
		}
		load_count_data(c, p, (size_t)(nl + 1 - p));
		if (c->state == LOAD_STATE_UIDL_DATA)
			c->uidl_lines++;
		c->is_line_start = true;
		c->was_cr = false;
		p = nl + 1;
	}
	return (size_t)(p - buf);
}

/* Consumes what it can of buf; returns octets consumed (0: need more). */
static size_t
load_process(struct load_conn *c, const char *buf, size_t n)
{
	const char	*nl;
	size_t		 line_len;

	if (c->state == LOAD_STATE_UIDL_DATA ||
	    c->state == LOAD_STATE_RETR_DATA)
		return load_scan_multiline(c, buf, n);
	if (c->state == LOAD_STATE_CLOSING)
		return n;
	if (c->state != LOAD_STATE_GREETING && c->command_len == 0) {
		load_conn_fail(c, "protocol violation: data before command");
		return n;
	}
	nl = memchr(buf, '\n', n);
	if (nl == NULL) {
		if (n >= LOAD_STATUS_LINE_MAX_OCTETS)
			load_conn_fail(c, "protocol violation: status line "
			    "over %d octets", LOAD_STATUS_LINE_MAX_OCTETS);
		return 0;
	}
	line_len = (size_t)(nl - buf);
	if (line_len == 0 || buf[line_len - 1] != '\r') {
		load_conn_fail(c, "protocol violation: status line without "
		    "CRLF");
		return n;
	}
	if (line_len + 1 > LOAD_STATUS_LINE_MAX_OCTETS) {
		load_conn_fail(c, "protocol violation: status line over %d "
		    "octets", LOAD_STATUS_LINE_MAX_OCTETS);
		return n;
	}
	load_status_line(c, buf, line_len - 1);
	/* Replies come one per command: nothing may follow a single line. */
	if (c->state != LOAD_STATE_UIDL_DATA &&
	    c->state != LOAD_STATE_RETR_DATA &&
	    c->state != LOAD_STATE_CLOSING && line_len + 1 < n)
		load_conn_fail(c, "protocol violation: unsolicited data after "
		    "a status line");
	return line_len + 1;
}

/* Parses what it can of len POP3 bytes; returns the octets consumed. */
size_t
load_consume(struct load_conn *c, const char *data, size_t len)
{
	size_t	done = 0, n;

	while (done < len && c->state != LOAD_STATE_CLOSING) {
		n = load_process(c, data + done, len - done);
		if (n == 0)
			break;
		done += n;
	}
	return done;
}
