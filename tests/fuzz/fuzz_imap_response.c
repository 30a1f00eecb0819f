/* SPDX-License-Identifier: MIT */
/*
 * fuzz_imap_response.c - server bytes through proto/imap_frame and then
 * libetpan's parser, the way backend/imap_client.c drives them: the parser
 * runs only on what the framer marked complete. The first input byte picks
 * the chunk size and whether a body handler streams literals.
 * Oracles: no crash, no leak, no read past the framed bytes (ASan), the
 * framer never holds more than its limits allow, and each complete response
 * is consumed by the parser or the input is rejected.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "fuzz_libetpan.h"
#include "imap_frame.h"
#include "imap_stream.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small limits so the fuzzer reaches them. */
#define FUZZ_MAX_LINE	256
#define FUZZ_MAX_GROUP	4096

static bool
fuzz_body_handler(int type, struct mailimap_msg_att_body_section *section,
    const char *bytes, size_t len, void *arg)
{
	size_t	*total = arg;

	(void)type;
	(void)section;
	if (len > 0 && bytes == NULL)
		abort();
	*total += len;
	return true;
}

/* Returns false once the session is unusable (as the client would close). */
static bool
fuzz_event(mailimap *imap, mailstream **stream, struct imap_frame *f,
    const struct imap_frame_ev *ev)
{
	struct mailimap_response	*resp = NULL;
	uint32_t			 tag;
	int				 r;

	switch (ev->type) {
	case IMAP_FRAME_GREETING:
		/* libetpan 1.9.4 leaks the greeting struct of a BYE greeting;
		 * the client refuses those before parsing, and so do we. */
		if (imap_stream_greeting_is_bye(f))
			return false;
		(void)imap_stream_greeting_defuse(f);
		r = mailimap_connect(imap, *stream);
		*stream = NULL;
		return r == MAILIMAP_NO_ERROR_NON_AUTHENTICATED ||
		    r == MAILIMAP_NO_ERROR_AUTHENTICATED;
	case IMAP_FRAME_TAGGED:
		if (imap->imap_stream == NULL || !imap_stream_tag_number(
		    ev->text, ev->text_len, &tag))
			return false;
		imap->imap_tag = (int)tag;
		if (imap->imap_selection_info == NULL)
			imap->imap_selection_info =
			    mailimap_selection_info_new();
		if (mailimap_read_line(imap) == NULL)
			return false;
		r = mailimap_parse_response(imap, &resp);
		if (resp != NULL)
			mailimap_response_free(resp);
		return r == MAILIMAP_NO_ERROR;
	case IMAP_FRAME_CONTINUATION:
		return true;
	case IMAP_FRAME_ERROR:
	case IMAP_FRAME_NONE:
		break;
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_frame	 f;
	struct imap_frame_ev	 ev;
	mailimap		*imap;
	mailstream		*stream;
	size_t			 chunk, pos = 1, body_total = 0;
	bool			 alive = true;

	if (size < 1)
		return 0;
	chunk = (size_t)(data[0] & 0x3f) + 1;
	imap_frame_init(&f, FUZZ_MAX_LINE, FUZZ_MAX_GROUP);
	imap = mailimap_new(0, NULL);
	stream = imap_stream_new(&f);
	if (imap == NULL || stream == NULL)
		abort();
	if (data[0] & 0x40)
		mailimap_set_msg_body_handler(imap, fuzz_body_handler,
		    &body_total);
	while (alive && pos < size) {
		size_t	n = size - pos < chunk ? size - pos : chunk;

		if (imap_frame_append(&f, (const char *)data + pos, n) != 0)
			break;
		pos += n;
		for (;;) {
			imap_frame_next(&f, &ev);
			if (ev.type == IMAP_FRAME_NONE)
				break;
			alive = fuzz_event(imap, &stream, &f, &ev);
			if (!alive)
				break;
			imap_frame_compact(&f);
		}
		if (f.len > FUZZ_MAX_GROUP + FUZZ_MAX_LINE + chunk)
			abort();
	}
	if (stream != NULL)
		mailstream_close(stream);
	imap_stream_free_session(imap);
	imap_frame_deinit(&f);
	return 0;
}
