#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""popgate demo: a private Dovecot on loopback with sample mail, popgate in
front of it, and a POP3 session printed line by line. Then popgate keeps
running so you can try it yourself with curl (Ctrl-C stops everything).

    python3 tests/demo.py --popgate build/popgate [--once] [--port 11110]
"""
import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'support'))

from dovecot import Dovecot, free_port  # noqa: E402
from popgate import Popgate  # noqa: E402
import mailseed  # noqa: E402

USER, PASSWORD = 'demo', 'demo-password'

SAMPLES = [
    b"From: Scanner <scanner@printer.example>\r\nTo: demo@example.org\r\n"
    b"Subject: Scan to email: invoice.pdf\r\nMessage-ID: <scan-1@demo>\r\n"
    b"Date: Thu, 26 Nov 2026 09:00:00 +0000\r\n\r\n"
    b"Your scanned document is attached (demo text instead of a PDF).\r\n",
    b"From: Alice <alice@example.org>\r\nTo: demo@example.org\r\n"
    b"Subject: Lines that start with a dot\r\nMessage-ID: <dots-1@demo>\r\n"
    b"Date: Thu, 26 Nov 2026 09:05:00 +0000\r\n\r\n"
    b"POP3 byte-stuffs these lines; the client un-stuffs them:\r\n"
    b".\r\n..\r\n.hidden\r\nThe end, without a final line break.",
    b"From: Fax gateway <fax@example.org>\r\nTo: demo@example.org\r\n"
    b"Subject: Fax received from +1 555 0100\r\nMessage-ID: <fax-1@demo>\r\n"
    b"Date: Thu, 26 Nov 2026 09:10:00 +0000\r\n\r\n"
    b"Page 1 of 1.\r\n",
]


class Transcript:
    """A POP3 client that prints both directions of the conversation."""

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=15)
        self.buf = b''

    def _line(self):
        while b'\r\n' not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError('connection closed')
            self.buf += chunk
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def show(self, multiline_max=None):
        line = self._line()
        print('S: ' + line.decode('utf-8', 'replace'))
        if multiline_max is not None and line.startswith(b'+OK'):
            shown = 0
            while True:
                data = self._line()
                if data == b'.':
                    print('S: .')
                    break
                if shown < multiline_max:
                    print('S: ' + data.decode('utf-8', 'replace'))
                elif shown == multiline_max:
                    print('S: ...')
                shown += 1
        return line

    def cmd(self, text, multiline_max=None, shown=None):
        print('C: ' + (shown or text))
        self.sock.sendall(text.encode() + b'\r\n')
        return self.show(multiline_max)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--popgate', required=True)
    ap.add_argument('--port', type=int, default=11110)
    ap.add_argument('--once', action='store_true',
                    help='exit after the printed session')
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix='popgate-demo-', dir='/tmp')
    os.chmod(work, 0o711)
    dovecot = gate = None
    try:
        dovecot = Dovecot(os.path.join(work, 'dovecot'), users={USER: PASSWORD})
        dovecot.start()
        imap = dovecot.imap(USER)
        for raw in SAMPLES:
            mailseed.append(imap, 'INBOX', raw)
        imap.logout()
        port = args.port
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            port = free_port()     # taken: pick another
        except OSError:
            pass
        gate = Popgate(os.path.abspath(args.popgate), os.path.join(work, 'popgate'),
                       dovecot.imap_port, port=port)
        gate.start()
        print('upstream: private Dovecot IMAP on 127.0.0.1:%d (user %s)'
              % (dovecot.imap_port, USER))
        print('popgate:  POP3 on 127.0.0.1:%d, log in %s\n'
              % (gate.port, gate.log_path))
        t = Transcript(gate.port)
        t.show()
        t.cmd('CAPA', multiline_max=20)
        t.cmd('USER ' + USER)
        t.cmd('PASS ' + PASSWORD, shown='PASS ********')
        t.cmd('STAT')
        t.cmd('LIST', multiline_max=20)
        t.cmd('UIDL', multiline_max=20)
        t.cmd('TOP 1 0', multiline_max=20)
        t.cmd('RETR 2', multiline_max=40)
        t.cmd('QUIT')
        print('\ntry it yourself:')
        print('  curl pop3://127.0.0.1:%d/ -u %s:%s' % (gate.port, USER, PASSWORD))
        print('  curl pop3://127.0.0.1:%d/2 -u %s:%s' % (gate.port, USER, PASSWORD))
        print("  curl pop3://127.0.0.1:%d/ -u %s:%s -X 'UIDL'"
              % (gate.port, USER, PASSWORD))
        # The session-end line is written as popgate closes the
        # connection, just after the QUIT reply: give it a moment.
        # (The readiness probe's own session-end is already there.)
        deadline = time.time() + 5
        while ('user=%s reason="quit"' % USER) not in gate.log_text() and \
                time.time() < deadline:
            time.sleep(0.05)
        print('\npopgate log:')
        print(gate.log_text().rstrip())
        if args.once:
            return 0
        print('\nrunning; Ctrl-C stops popgate and Dovecot')
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        while gate.running():
            time.sleep(1)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if gate is not None:
            gate.stop()
        if dovecot is not None:
            dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
