# SPDX-License-Identifier: MIT
"""Common pieces of the integration tests.

* main(): takes `--popgate PATH` out of argv, arms a watchdog, runs unittest.
* A module fixture: one private Dovecot per test file (setup_module() from
  setUpModule; teardown is registered with unittest.addModuleCleanup, so it
  also runs when setUpModule fails half way).
* Temp dirs under /tmp, removed at the end (kept with POPGATE_KEEP_TMP=1).
* POP3Strict: a raw-socket POP3 client that checks the wire format.

POPGATE_TARGET=dovecot-pop3 points the POP3 side at Dovecot's own POP3
service instead of popgate.  It proves that the tests themselves are right:
tests of popgate-only behaviour skip themselves or switch to Dovecot's
documented behaviour (see dovecot_mode()).
"""

import faulthandler
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dovecot import Dovecot, free_port  # noqa: E402,F401 (harness.free_port is API)
from popgate import Popgate  # noqa: E402
from fake_imapd import FakeImapd  # noqa: E402

DEFAULT_POPGATE = '/tmp/build-main/popgate'
POPGATE = os.environ.get('POPGATE_BINARY', DEFAULT_POPGATE)
TARGET = os.environ.get('POPGATE_TARGET', 'popgate')
FILE_TIME_LIMIT = float(os.environ.get('POPGATE_TEST_TIME_LIMIT', '175'))
SOCKET_TIMEOUT = 15.0
KEEP_TMP = os.environ.get('POPGATE_KEEP_TMP') == '1'

_tmp_dirs = []
_tmp_roots = []     # every dir mkdtemp() ever made (the watchdog removes all)
_log_tails = []
_extra_killers = []   # callables run by the watchdog (e.g. fake IMAP servers)


def dovecot_mode():
    """True when the tests run against Dovecot's POP3 instead of popgate."""
    return TARGET == 'dovecot-pop3'


def skip_unless_popgate(reason='popgate-only behaviour'):
    return unittest.skipIf(dovecot_mode(), '%s (POPGATE_TARGET=dovecot-pop3)' % reason)


# -- temp dirs --------------------------------------------------------------

def mkdtemp(prefix='popgate-it-'):
    d = tempfile.mkdtemp(prefix=prefix, dir='/tmp')
    os.chmod(d, 0o711)
    _tmp_dirs.append(d)
    _tmp_roots.append(d)
    return d


def _remove_tmp_dirs():
    if _dying.is_set():
        _tmp_dirs[:] = list(_tmp_roots)
    while _tmp_dirs:
        d = _tmp_dirs.pop()
        if KEEP_TMP:
            sys.stderr.write('harness: keeping %s\n' % d)
        else:
            shutil.rmtree(d, ignore_errors=True)


# -- watchdog ---------------------------------------------------------------

_tools = set()      # Popen objects of client tools running right now


def run_tool(argv, timeout, **kw):
    """subprocess.run() for client tools (curl, fetchmail, mpop, popgate -t):
    stdout and stderr captured, killed after timeout seconds, and killed by
    the watchdog too.  Returns subprocess.CompletedProcess."""
    kw.setdefault('stdin', subprocess.DEVNULL)
    kw.setdefault('stdout', subprocess.PIPE)
    kw.setdefault('stderr', subprocess.PIPE)
    with subprocess.Popen(argv, **kw) as p:
        _tools.add(p)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise
        finally:
            _tools.discard(p)
        return subprocess.CompletedProcess(argv, p.returncode, out, err)


def kill_everything():
    for p in list(_tools):
        try:
            p.kill()
        except OSError:
            pass
    for p in list(Popgate.live):
        p.kill_now()
    for d in list(Dovecot.live):
        d.kill_now()
    for f in list(FakeImapd.live):
        f.stop()
    for k in list(_extra_killers):
        try:
            k()
        except Exception:
            pass


_dying = threading.Event()


def _watchdog_fire(limit):
    _dying.set()
    sys.stderr.write('\nharness: WATCHDOG: this test file ran for more than %.0fs; '
                     'dumping threads and killing everything it started\n' % limit)
    faulthandler.dump_traceback(all_threads=True)
    for p in list(Popgate.live):
        sys.stderr.write('--- popgate log tail (%s) ---\n%s\n' % (p.workdir, p.log_tail()))
    kill_everything()
    _remove_tmp_dirs()
    time.sleep(0.5)     # the main thread may still be creating things
    kill_everything()
    _remove_tmp_dirs()
    sys.stderr.flush()
    os._exit(70)


def arm_watchdog(limit=FILE_TIME_LIMIT):
    t = threading.Timer(limit, _watchdog_fire, args=(limit,))
    t.daemon = True
    t.start()
    return t


# -- command line -----------------------------------------------------------

def parse_argv(argv):
    """Remove `--popgate PATH` / `--popgate=PATH` from argv; return the rest."""
    global POPGATE
    rest = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == '--popgate' and i + 1 < len(argv):
            POPGATE = argv[i + 1]
            i += 2
            continue
        if a.startswith('--popgate='):
            POPGATE = a.split('=', 1)[1]
            i += 1
            continue
        rest.append(a)
        i += 1
    return rest


def main():
    rest = parse_argv(sys.argv[1:])
    if not dovecot_mode() and not os.access(POPGATE, os.X_OK):
        sys.stderr.write('harness: popgate binary %r is not executable\n' % POPGATE)
    arm_watchdog()

    def on_term(signum, frame):
        kill_everything()
        _remove_tmp_dirs()
        os._exit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    try:
        prog = unittest.main(module='__main__', argv=[sys.argv[0]] + rest,
                             verbosity=2, exit=False)
    finally:
        while _dying.is_set():      # the watchdog owns the exit
            time.sleep(1)
        kill_everything()
        _remove_tmp_dirs()
    ok = prog.result.wasSuccessful()
    if not ok and _log_tails:
        for title, text in _log_tails:
            sys.stderr.write('\n--- %s ---\n%s\n' % (title, text))
    sys.exit(0 if ok else 1)


# -- module fixture ---------------------------------------------------------

class Fixture:
    """One Dovecot per test file plus whatever POP3 servers the tests start."""

    def __init__(self, users=None, extra_conf=None, dovecot=True):
        self.root = mkdtemp()
        self.dovecot = None
        if dovecot:
            self.dovecot = Dovecot(os.path.join(self.root, 'dovecot'), users=users,
                                   extra_conf=extra_conf)
        self.servers = []
        self._n = 0

    def start(self):
        if self.dovecot is not None:
            self.dovecot.start()
        return self

    def subdir(self, name):
        self._n += 1
        d = os.path.join(self.root, '%s-%d' % (name, self._n))
        os.mkdir(d)
        os.chmod(d, 0o711)
        return d

    def pop3_server(self, extra_args=(), config_text=None, upstream_port=None):
        """Start a POP3 server for the tests: popgate in front of this file's
        Dovecot IMAP (or Dovecot's own POP3 in dovecot mode)."""
        if dovecot_mode():
            if extra_args or config_text:
                raise unittest.SkipTest('popgate options %r have no Dovecot equivalent'
                                        % (list(extra_args),))
            srv = DovecotPop3(self.dovecot)
        else:
            srv = Popgate(POPGATE, self.subdir('popgate'),
                          upstream_port or self.dovecot.imap_port,
                          extra_args=extra_args, config_text=config_text)
            srv.start()
        self.servers.append(srv)
        return srv

    def imap(self, user='alice'):
        return self.dovecot.imap(user)

    def stop(self):
        for srv in self.servers:
            if isinstance(srv, Popgate):
                _log_tails.append(('popgate log tail (%s)' % ' '.join(srv.argv or []),
                                   srv.log_tail(60)))
                srv.stop()
        if self.dovecot is not None:
            _log_tails.append(('dovecot log tail', self.dovecot.log_tail(30)))
            self.dovecot.stop()


class DovecotPop3:
    """Stands in for Popgate in dovecot mode: Dovecot's own POP3 service."""

    def __init__(self, dovecot):
        self.dovecot = dovecot
        self.port = dovecot.pop3_port
        self.argv = None

    def start(self):
        return self

    def stop(self, *a, **k):
        return 0, True

    def log_text(self):
        return ''

    def log_tail(self, n=30):
        return ''

    def running(self):
        return True


FIX = None


def setup_module(users=None, extra_conf=None, dovecot=True):
    """Call from setUpModule(): starts this file's Dovecot (unless
    dovecot=False); returns the Fixture (also in harness.FIX)."""
    global FIX
    unittest.addModuleCleanup(teardown_module)
    FIX = Fixture(users=users, extra_conf=extra_conf, dovecot=dovecot)
    FIX.start()
    return FIX


def teardown_module():
    global FIX
    fix, FIX = FIX, None
    try:
        if fix is not None:
            fix.stop()
    finally:
        kill_everything()
        _remove_tmp_dirs()


# -- POP3 ---------------------------------------------------------------

class ProtocolError(AssertionError):
    """The server broke the POP3 wire format."""


class ConnectionClosed(AssertionError):
    """EOF from the server; .partial holds the bytes of an unfinished line or
    response."""

    def __init__(self, msg, partial=b''):
        super().__init__(msg)
        self.partial = partial


class POP3Strict:
    """A strict raw-socket POP3 client.

    Status lines come back as str (latin-1), data as bytes: unstuffed, every
    line with its CRLF, the terminator removed.  It raises ProtocolError for
    a line that does not end in CRLF, an unstuffed data line starting with
    '.', a status line that is neither +OK nor -ERR or longer than 512
    octets; ConnectionClosed on EOF; socket.timeout if the server is silent
    for `timeout` seconds.
    """

    MAX_STATUS = 512

    def __init__(self, port, host='127.0.0.1', timeout=SOCKET_TIMEOUT, greeting=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.pos = 0
        self.last_raw = b''
        self.greeting = None
        if greeting:
            self.greeting = self.status()

    # -- raw I/O --
    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            return False
        if self.pos > 1 << 20:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk
        return True

    def readline(self):
        """One line including CRLF, as bytes.  Strict: must end in CRLF."""
        while True:
            i = self.buf.find(b'\n', self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i + 1])
                self.pos = i + 1
                if len(line) < 2 or line[-2:-1] != b'\r':
                    raise ProtocolError('line not terminated by CRLF: %r' % line[-80:])
                return line
            if not self._fill():
                partial = bytes(self.buf[self.pos:])
                self.pos = len(self.buf)
                raise ConnectionClosed('connection closed by server (partial line %r)'
                                       % partial[-80:], partial)

    def pending(self):
        """Bytes received but not consumed yet."""
        return bytes(self.buf[self.pos:])

    def status(self):
        line = self.readline()
        if len(line) > self.MAX_STATUS:
            raise ProtocolError('status line longer than 512 octets: %r' % line[:100])
        text = line[:-2].decode('latin-1')
        if not (text == '+OK' or text.startswith('+OK ') or text == '-ERR'
                or text.startswith('-ERR ') or text.startswith('+ ') or text == '+'):
            raise ProtocolError('not a POP3 status line: %r' % text)
        return text

    def read_data(self):
        """The data of a multi-line response (after its +OK line)."""
        out = []
        raw = []
        try:
            while True:
                line = self.readline()
                raw.append(line)
                if line == b'.\r\n':
                    break
                if line.startswith(b'.'):
                    if not line.startswith(b'..'):
                        raise ProtocolError('data line starts with an unstuffed ".": %r'
                                            % line[:80])
                    line = line[1:]
                out.append(line)
        except ConnectionClosed as e:
            self.last_raw = b''.join(raw)
            raise ConnectionClosed('connection closed inside multi-line data after '
                                   '%d octets' % len(self.last_raw),
                                   self.last_raw + e.partial)
        self.last_raw = b''.join(raw)
        return b''.join(out)

    # -- commands --
    def cmd(self, line):
        """Send one command, return its status line."""
        self.send(line + '\r\n')
        return self.status()

    def ok(self, line):
        st = self.cmd(line)
        if not st.startswith('+OK'):
            raise AssertionError('%s: expected +OK, got %r' % (line.split(' ')[0], st))
        return st

    def multi(self, line):
        """(status, data) for a multi-line command; data is None after -ERR."""
        st = self.cmd(line)
        if st.startswith('+OK'):
            return st, self.read_data()
        return st, None

    def login(self, user, password):
        self.ok('USER %s' % user)
        return self.ok('PASS %s' % password)

    def stat(self):
        st = self.cmd('STAT')
        m = re.match(r'^\+OK (\d+) (\d+)$', st)
        if not m:
            raise ProtocolError('bad STAT reply %r' % st)
        return int(m.group(1)), int(m.group(2))

    @staticmethod
    def parse_scan_lines(data, what):
        out = []
        for line in data.split(b'\r\n')[:-1]:
            m = re.match(rb'^(\d+) (\S+)$', line)
            if not m:
                raise ProtocolError('bad %s line %r' % (what, line))
            out.append((int(m.group(1)), m.group(2).decode('latin-1')))
        return out

    def list(self):
        """[(msgno, size)]"""
        st, data = self.multi('LIST')
        if data is None:
            raise AssertionError('LIST: %r' % st)
        return [(n, int(s)) for n, s in self.parse_scan_lines(data, 'LIST')]

    def list_one(self, n):
        st = self.cmd('LIST %d' % n)
        m = re.match(r'^\+OK (\d+) (\d+)$', st)
        if not m:
            raise ProtocolError('bad LIST %d reply %r' % (n, st))
        return int(m.group(1)), int(m.group(2))

    def uidl(self):
        """[(msgno, uid)]"""
        st, data = self.multi('UIDL')
        if data is None:
            raise AssertionError('UIDL: %r' % st)
        return self.parse_scan_lines(data, 'UIDL')

    def uidl_one(self, n):
        st = self.cmd('UIDL %d' % n)
        m = re.match(r'^\+OK (\d+) ([\x21-\x7e]+)$', st)
        if not m:
            raise ProtocolError('bad UIDL %d reply %r' % (n, st))
        return int(m.group(1)), m.group(2)

    def retr(self, n):
        st, data = self.multi('RETR %d' % n)
        if data is None:
            raise AssertionError('RETR %d: %r' % (n, st))
        return data

    def top(self, n, k):
        st, data = self.multi('TOP %d %d' % (n, k))
        if data is None:
            raise AssertionError('TOP %d %d: %r' % (n, k, st))
        return data

    def quit(self):
        st = self.cmd('QUIT')
        return st

    def expect_eof(self, timeout=5.0):
        """True if the server closes the connection within timeout (any
        unread bytes are an error)."""
        self.sock.settimeout(timeout)
        try:
            if self.pos < len(self.buf):
                raise ProtocolError('unexpected bytes before EOF: %r' % self.pending()[:80])
            chunk = self.sock.recv(4096)
            if chunk:
                raise ProtocolError('unexpected bytes before EOF: %r' % chunk[:80])
            return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Drop the TCP connection with a RST (SO_LINGER 0), no QUIT."""
        try:
            import struct
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack('ii', 1, 0))
        except OSError:
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# -- expectations -----------------------------------------------------------

def pop3_form(stored):
    """What RETR must send (unstuffed) for a message whose upstream bytes are
    `stored`: bare LF -> CRLF, and a CRLF added when it does not end in LF."""
    data = re.sub(rb'(?<!\r)\n', b'\r\n', stored)
    if not data.endswith(b'\n'):
        data += b'\r\n'
    return data


def expected_top(stored, k):
    """What TOP n k must send for a message whose upstream bytes are stored:
    the header, the blank line and the first k body lines of pop3_form()."""
    data = pop3_form(stored)
    i = data.find(b'\r\n\r\n')
    if i < 0 and data.startswith(b'\r\n'):
        i = -2
    if i < 0:
        return data     # header only: the whole message
    end = i + 4
    lines = data[end:].split(b'\r\n')[:-1]
    return data[:end] + b''.join(l + b'\r\n' for l in lines[:k])


def wait_until(pred, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(interval)
