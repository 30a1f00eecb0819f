/* SPDX-License-Identifier: MIT */
/*
 * command.c - command sources: the COMMAND step of a refresh runs the
 * source's command under /bin/sh in its own process group, with a
 * timeout, and takes the first line it prints as the token.
 */
#include "oauth2_int.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct oauth2_child {
	struct oauth2_mgr	*mgr;
	struct oauth2_source	*src;		/* NULL once detached */
	uv_process_t		 proc;
	uv_pipe_t		 out;
	uv_pipe_t		 err;
	uv_timer_t		 timer;
	unsigned int		 open;		/* handles not closed yet */
	bool			 exited;
	bool			 out_done;
	bool			 err_done;
	bool			 finished;
	bool			 timed_out;
	bool			 overflow;
	bool			 err_cut;
	int64_t			 status;
	int			 term_signal;
	size_t			 outlen;
	size_t			 errlen;
	char			 readbuf[4096];
	char			 outbuf[OAUTH2_COMMAND_MAX_STDOUT + 1];
	char			 errbuf[OAUTH2_COMMAND_MAX_STDERR];
};

static void
oauth2_child_closed(uv_handle_t *h)
{
	struct oauth2_child	*ch = h->data;
	struct oauth2_mgr	*m = ch->mgr;

	if (--ch->open > 0)
		return;
	oauth2_json_wipe(ch, sizeof(*ch));
	free(ch);
	m->pending--;
	oauth2_mgr_maybe_done(m);
}

static void
oauth2_child_close(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, oauth2_child_closed);
}

/*
 * Kills the command and everything it started (its own process group).
 * After the shell exited, a member still holding its stdout or stderr
 * open keeps the group id from being reused, so the group is still ours
 * to kill; once both are closed too, nothing of it is left.
 */
static void
oauth2_child_kill(struct oauth2_child *ch)
{
	if (ch->proc.pid > 0 && (!ch->exited || !ch->out_done ||
	    !ch->err_done))
		uv_kill(-ch->proc.pid, SIGKILL);
}

/* True if stderr shows (part of) the token: all of it, its first 16
 * octets, or, when stderr was cut, a start of it at the very end. */
static bool
oauth2_child_leaks(const struct oauth2_child *ch, const char *token,
    size_t len)
{
	size_t	head = len < 16 ? len : 16, k;

	if (len == 0)
		return false;
	if (memmem(ch->errbuf, ch->errlen, token, head) != NULL)
		return true;
	for (k = 1; ch->err_cut && k < head && k <= ch->errlen; k++)
		if (memcmp(ch->errbuf + ch->errlen - k, token, k) == 0)
			return true;
	return false;
}

/* The command's stderr as one log line, unless it holds the token. */
static void
oauth2_child_log_stderr(struct oauth2_child *ch, const char *name,
    const char *token, size_t len, bool failed)
{
	char	text[512];
	size_t	n = ch->errlen;

	/* The final newline is no news. */
	while (n > 0 && (ch->errbuf[n - 1] == '\n' ||
	    ch->errbuf[n - 1] == '\r' || ch->errbuf[n - 1] == ' '))
		n--;
	if (n == 0)
		return;
	if (oauth2_child_leaks(ch, token, len)) {
		log_warn("oauth2-command", "source=%s stderr=withheld "
		    "reason=\"it contains the token\"", name);
		return;
	}
	oauth2_escape(text, sizeof(text), ch->errbuf, n);
	log_event(failed ? CONFIG_LOG_WARN : CONFIG_LOG_INFO,
	    "oauth2-command", "source=%s stderr=\"%s%s\"", name, text,
	    ch->err_cut ? "..." : "");
}

/* The first line of stdout that is not blank, trimmed: [*a, *b). */
static bool
oauth2_child_line(const struct oauth2_child *ch, size_t *ap, size_t *bp)
{
	const char	*o = ch->outbuf;
	size_t		 a, b, e;

	for (a = 0; a < ch->outlen; a = e + 1) {
		for (e = a; e < ch->outlen && o[e] != '\n'; e++)
			;
		b = e;
		while (a < b && (o[a] == ' ' || o[a] == '\t' || o[a] == '\r'))
			a++;
		while (b > a && (o[b - 1] == ' ' || o[b - 1] == '\t' ||
		    o[b - 1] == '\r'))
			b--;
		if (b > a) {
			*ap = a;
			*bp = b;
			return true;
		}
	}
	*ap = *bp = 0;
	return false;
}

/* The command is over (or has to be): report to the source, once. */
static void
oauth2_child_finish(struct oauth2_child *ch)
{
	struct oauth2_source	*s = ch->src;
	char			 reason[OAUTH2_MAX_DETAIL];
	size_t			 a, b;
	unsigned int		 timeout;
	bool			 line;

	if (ch->finished)
		return;
	ch->finished = true;
	uv_timer_stop(&ch->timer);
	oauth2_child_close((uv_handle_t *)&ch->timer);
	oauth2_child_close((uv_handle_t *)&ch->out);
	oauth2_child_close((uv_handle_t *)&ch->err);
	if (s == NULL)
		return;
	ch->src = NULL;
	s->child = NULL;
	s->op = OAUTH2_OP_NONE;
	timeout = s->cfg.command_timeout_ms != 0 ? s->cfg.command_timeout_ms :
	    OAUTH2_DEFAULT_COMMAND_TIMEOUT_MS;
	/* Even a failed command may have printed its token. */
	line = oauth2_child_line(ch, &a, &b);
	oauth2_child_log_stderr(ch, s->cfg.name, ch->outbuf + a, b - a,
	    !line || ch->timed_out || ch->overflow || ch->status != 0 ||
	    ch->term_signal != 0);
	if (ch->timed_out)
		snprintf(reason, sizeof(reason), "token command timed out "
		    "after %u ms", timeout);
	else if (ch->overflow)
		snprintf(reason, sizeof(reason), "token command printed more "
		    "than %d octets", OAUTH2_COMMAND_MAX_STDOUT);
	else if (ch->term_signal != 0)
		snprintf(reason, sizeof(reason), "token command killed by "
		    "signal %d", ch->term_signal);
	else if (ch->status != 0)
		snprintf(reason, sizeof(reason), "token command exited with "
		    "status %lld", (long long)ch->status);
	else if (!line)
		snprintf(reason, sizeof(reason), "token command printed no "
		    "token");
	else if (!oauth2_token_ok(ch->outbuf + a, b - a))
		snprintf(reason, sizeof(reason), "token command printed "
		    "something that is not a token");
	else {
		oauth2_source_succeeded(s, ch->outbuf + a, b - a,
		    s->cfg.command_lifetime_s != 0 ?
		    (long)s->cfg.command_lifetime_s :
		    OAUTH2_DEFAULT_COMMAND_LIFETIME_S, false, NULL);
		return;
	}
	oauth2_source_failed(s, 0, NULL, NULL, reason, NULL, false);
}

static void
oauth2_child_check(struct oauth2_child *ch)
{
	if (ch->exited && ch->out_done && ch->err_done)
		oauth2_child_finish(ch);
}

static void
oauth2_child_on_exit(uv_process_t *p, int64_t status, int term_signal)
{
	struct oauth2_child	*ch = p->data;

	ch->exited = true;
	ch->status = status;
	ch->term_signal = term_signal;
	oauth2_child_close((uv_handle_t *)p);
	oauth2_child_check(ch);
}

static void
oauth2_child_on_timeout(uv_timer_t *t)
{
	struct oauth2_child	*ch = t->data;

	ch->timed_out = true;
	oauth2_child_kill(ch);
	oauth2_child_finish(ch);
}

static void
oauth2_child_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct oauth2_child	*ch = h->data;

	(void)suggested;
	*buf = uv_buf_init(ch->readbuf, sizeof(ch->readbuf));
}

static void
oauth2_child_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct oauth2_child	*ch = stream->data;
	size_t			 n, room;

	(void)buf;
	if (nread < 0) {
		if (stream == (uv_stream_t *)&ch->out)
			ch->out_done = true;
		else
			ch->err_done = true;
		oauth2_child_close((uv_handle_t *)stream);
		oauth2_child_check(ch);
		return;
	}
	n = (size_t)nread;
	if (stream == (uv_stream_t *)&ch->out) {
		if (n > OAUTH2_COMMAND_MAX_STDOUT - ch->outlen) {
			ch->overflow = true;
			oauth2_child_kill(ch);
			oauth2_child_finish(ch);
			return;
		}
		memcpy(ch->outbuf + ch->outlen, ch->readbuf, n);
		ch->outlen += n;
	} else {
		room = sizeof(ch->errbuf) - ch->errlen;
		if (n > room) {
			ch->err_cut = true;
			n = room;
		}
		memcpy(ch->errbuf + ch->errlen, ch->readbuf, n);
		ch->errlen += n;
	}
	oauth2_json_wipe(ch->readbuf, (size_t)nread);
}

void
oauth2_source_spawn(struct oauth2_source *s)
{
	struct oauth2_mgr	*m = s->mgr;
	struct oauth2_child	*ch;
	uv_process_options_t	 opt;
	uv_stdio_container_t	 stdio[3];
	char			*args[4];
	char			 why[128];
	unsigned int		 timeout = s->cfg.command_timeout_ms;
	int			 r;

	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		oauth2_source_failed(s, 0, NULL, NULL,
		    "cannot start the token command", "out of memory", true);
		return;
	}
	ch->mgr = m;
	uv_pipe_init(m->loop, &ch->out, 0);
	uv_pipe_init(m->loop, &ch->err, 0);
	uv_timer_init(m->loop, &ch->timer);
	ch->out.data = ch->err.data = ch->timer.data = ch;
	ch->open = 3;
	m->pending++;

	args[0] = "/bin/sh";
	args[1] = "-c";
	args[2] = s->cfg.command;
	args[3] = NULL;
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE;	/* /dev/null */
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&ch->out;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&ch->err;
	memset(&opt, 0, sizeof(opt));
	opt.file = args[0];
	opt.args = args;
	opt.exit_cb = oauth2_child_on_exit;
	opt.stdio = stdio;
	opt.stdio_count = 3;
	/* Its own session, so the timeout kills what it started too. */
	opt.flags = UV_PROCESS_DETACHED;
	r = uv_spawn(m->loop, &ch->proc, &opt);
	ch->proc.data = ch;
	ch->open++;	/* the process handle, started or not */
	if (r != 0) {
		ch->finished = true;
		oauth2_child_close((uv_handle_t *)&ch->proc);
		oauth2_child_close((uv_handle_t *)&ch->timer);
		oauth2_child_close((uv_handle_t *)&ch->out);
		oauth2_child_close((uv_handle_t *)&ch->err);
		snprintf(why, sizeof(why), "%s", uv_strerror(r));
		oauth2_source_failed(s, 0, NULL, NULL,
		    "cannot start the token command", why, true);
		return;
	}
	ch->src = s;
	s->child = ch;
	s->op = OAUTH2_OP_COMMAND;
	uv_read_start((uv_stream_t *)&ch->out, oauth2_child_alloc,
	    oauth2_child_on_read);
	uv_read_start((uv_stream_t *)&ch->err, oauth2_child_alloc,
	    oauth2_child_on_read);
	uv_timer_start(&ch->timer, oauth2_child_on_timeout, timeout != 0 ?
	    timeout : OAUTH2_DEFAULT_COMMAND_TIMEOUT_MS, 0);
}

/* Kills s's command, if one runs, and reports it to s no more. */
void
oauth2_command_stop(struct oauth2_source *s)
{
	struct oauth2_child	*ch;

	if ((ch = s->child) != NULL) {
		s->child = NULL;
		ch->src = NULL;
		oauth2_child_kill(ch);
		oauth2_child_finish(ch);
	}
}
