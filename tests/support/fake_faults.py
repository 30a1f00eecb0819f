# SPDX-License-Identifier: MIT
"""The `fault_on` knob of tests/support/fake_imapd.py: one fault at one step
of a session, for the fault table (tests/integration/test_fault_table.py).

    faults['fault_on'] = {step: kind} or {step: (kind, when)}

Steps: 'GREETING', any command name ('CAPABILITY', 'STARTTLS', 'LOGIN',
'AUTHENTICATE', 'SELECT', 'UID STORE', 'UID EXPUNGE', 'UID SEARCH',
'LOGOUT', ...), and UID FETCH split by what it asks for: 'FETCH-SNAPSHOT'
(RFC822.SIZE), 'FETCH-PROBE' (a one-octet partial body) and 'FETCH-BODY'.

when: None (always), an int (only a body part starting at or after that
octet, e.g. a later RETR chunk) or a str (only a command line containing
it, e.g. '\\Deleted' for the STORE of a commit).

Kinds, played instead of the answer unless said otherwise:
    drop          close at once
    hang          never answer
    bye           an untagged BYE, then close
    garbage       the server's GARBAGE, then hang
    huge_literal  a FETCH response announcing a HUGE_LITERAL-octet literal,
                  64 KiB of it, then hang
    long_line     a LONG_LINE-octet untagged line, then the normal answer
    drop_after    the command takes effect, its answer is withheld, close
    wrong_uid     UID FETCH responses name another message's UID
    wrong_size    RFC822.SIZE 5000 octets too large, body literals 1000
                  octets short
Each fault played is logged as (conn, '* fault: KIND on STEP').
"""

import re
import socket
import time

HUGE_LITERAL = 10 ** 9
LONG_LINE = 10 << 20


class FaultSteps:
    """Mixed into the fake's session class, which provides srv, conn, n,
    send(), hang(), close_gracefully(), `garbage` (bytes) and `mute` (True:
    send() sends nothing)."""

    def send_long(self, data, limit=30):
        """Like send() for data too large for one sendall() within the
        socket timeout; gives up (closing) after limit seconds."""
        deadline = time.monotonic() + limit
        view = memoryview(data)
        while view:
            if self.srv._stop.is_set() or time.monotonic() > deadline:
                raise ConnectionAbortedError('fault: long line not taken')
            try:
                view = view[self.conn.send(view[:65536]):]
            except socket.timeout:
                continue

    @staticmethod
    def fault_step(cmd, args):
        """(fault_on step, body offset or None) of a command."""
        if cmd != 'UID FETCH':
            return cmd, None
        items = ' '.join(args[1:]).upper()
        if 'RFC822.SIZE' in items:
            return 'FETCH-SNAPSHOT', None
        m = re.search(r'\[\]<(\d+)\.(\d+)>', items)
        if m is None:
            return 'FETCH-BODY', None
        return ('FETCH-PROBE' if m.group(2) == '1' else 'FETCH-BODY'), int(m.group(1))

    def play_fault(self, step, line='', offset=None, args=()):
        """Plays faults['fault_on'][step] if its condition holds; returns
        the kind left for the caller (drop_after, wrong_uid, wrong_size)
        or None.  A drop raises ConnectionAbortedError."""
        spec = self.srv.faults.get('fault_on', {}).get(step)
        if spec is None:
            return None
        kind, when = (spec, None) if isinstance(spec, str) else spec
        if isinstance(when, int) and (offset or 0) < when:
            return None
        if isinstance(when, str) and when.lower() not in line.lower():
            return None
        self.srv.log.append((self.n, '* fault: %s on %s' % (kind, step)))
        if kind == 'drop':
            raise ConnectionAbortedError('fault: drop')
        if kind == 'hang':
            self.hang()
        if kind == 'bye':
            self.send('* BYE fault injected\r\n')
            self.close_gracefully()
        if kind == 'garbage':
            self.send(self.garbage)
            self.hang()
        if kind == 'huge_literal':
            m = re.match(r'\d+', args[0]) if step.startswith('FETCH') and args else None
            label = b'UID %s BODY[]' % (m.group(0).encode() if m else b'1')
            if offset is not None:
                label += b'<%d>' % offset
            self.send(b'* 1 FETCH (%s {%d}\r\n' % (label, HUGE_LITERAL) + b'x' * 65536)
            self.hang()
        if kind == 'long_line':
            self.send_long(b'* OK ' + b'x' * LONG_LINE + b'\r\n')
            return None
        if kind == 'drop_after':
            self.mute = True
        return kind
