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

Every skip goes through skip() (or skip_unless_popgate() for the dovecot-pop3
mode).  Under CI (CI=true, or POPGATE_NO_SKIP=1 as tests/run.sh exports) a
skip is a failure that names its reason, and main() fails a file in which
any test was skipped for another reason than that mode.
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
from popgate import Popgate, sanitizer_report  # noqa: E402
from fake_imapd import FakeImapd  # noqa: E402
from pki import limit_tls_versions  # noqa: E402

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


DOVECOT_MODE_SKIP = ' (POPGATE_TARGET=dovecot-pop3)'


def dovecot_mode():
    """True when the tests run against Dovecot's POP3 instead of popgate."""
    return TARGET == 'dovecot-pop3'


def no_skip():
    """True under CI, where nothing may be skipped: .ci/run sets CI=true,
    tests/run.sh exports POPGATE_NO_SKIP=1 (0 turns it off) and, as before,
    POPGATE_DEPS_INSTALLED=1 says every tool was installed."""
    explicit = os.environ.get('POPGATE_NO_SKIP')
    if explicit is not None and explicit != '':
        return explicit == '1'
    return (os.environ.get('CI') == 'true'
            or os.environ.get('POPGATE_DEPS_INSTALLED') == '1')


def skip(reason):
    """Skip the calling test, class or module (raise from it), or fail it
    under CI (no_skip()), with the reason either way."""
    if no_skip():
        raise AssertionError('not skipped under CI (CI=true or POPGATE_NO_SKIP=1): '
                             + reason)
    raise unittest.SkipTest(reason)


def skip_in_dovecot_mode(reason):
    """Skip (from a test, class or module) what has no Dovecot POP3
    equivalent; only in POPGATE_TARGET=dovecot-pop3 mode, where it is no
    CI failure."""
    if dovecot_mode():
        raise unittest.SkipTest(reason + DOVECOT_MODE_SKIP)


def skip_unless_popgate(reason='popgate-only behaviour'):
    """Decorator form of skip_in_dovecot_mode() for a test or class."""
    return unittest.skipIf(dovecot_mode(), reason + DOVECOT_MODE_SKIP)


def skip_unless(cond, reason):
    """Decorator: run the test or class only if cond holds, else skip()
    (a failure under CI)."""
    def wrap(obj):
        if cond:
            return obj
        if isinstance(obj, type):
            def setUpClass(cls):
                skip(reason)
            obj.setUpClass = classmethod(setUpClass)
            return obj

        def test(*a, **k):
            skip(reason)
        test.__name__ = obj.__name__
        test.__doc__ = obj.__doc__
        return test
    return wrap


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
    the watchdog too.  input: bytes for its stdin.  Returns
    subprocess.CompletedProcess."""
    data = kw.pop('input', None)
    kw.setdefault('stdin', subprocess.DEVNULL if data is None else subprocess.PIPE)
    kw.setdefault('stdout', subprocess.PIPE)
    kw.setdefault('stderr', subprocess.PIPE)
    with subprocess.Popen(argv, **kw) as p:
        _tools.add(p)
        try:
            out, err = p.communicate(input=data, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise
        finally:
            _tools.discard(p)
    # popgate -t, popgate account, the test tools: built with the
    # sanitizers in the ASan pass, and their reports count too.
    for name, data in (('stdout', out), ('stderr', err)):
        if isinstance(data, bytes):
            report = sanitizer_report(data.decode('utf-8', 'replace'))
            if report:
                Popgate.findings.append('%s: sanitizer report on %s:\n%s'
                                        % (' '.join(map(str, argv)), name, report))
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


# -- test order -------------------------------------------------------------

def run_last(cls):
    """Class decorator: run this TestCase class after every other class of
    the file, whatever its name (checks over the whole run, such as no
    password in any log)."""
    cls.harness_run_last = True
    return cls


class _Loader(unittest.TestLoader):
    """The standard loader; classes marked run_last go to the end."""

    def loadTestsFromModule(self, module, *args, **kw):
        suite = super().loadTestsFromModule(module, *args, **kw)

        def last(s):
            tests = list(s) if isinstance(s, unittest.TestSuite) else [s]
            return any(getattr(t, 'harness_run_last', False) for t in tests)
        parts = list(suite)
        return self.suiteClass([s for s in parts if not last(s)] +
                               [s for s in parts if last(s)])


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
                             verbosity=2, exit=False, testLoader=_Loader())
    finally:
        while _dying.is_set():      # the watchdog owns the exit
            time.sleep(1)
        kill_everything()
        _remove_tmp_dirs()
    sys.exit(_verdict(prog.result))


# Exit status of a file whose tests all skipped outside CI; CTest shows it
# as Skipped instead of Passed (SKIP_RETURN_CODE in tests/CMakeLists.txt).
EXIT_ALL_SKIPPED = 77


def _verdict(result):
    """The exit status of the test file: its unittest result, plus what
    the popgate processes did (Popgate.findings) and, under CI, any skip
    that the dovecot-pop3 mode does not explain."""
    ok = result.wasSuccessful()
    if not ok and _log_tails:
        for title, text in _log_tails:
            sys.stderr.write('\n--- %s ---\n%s\n' % (title, text))
    if Popgate.findings:
        sys.stderr.write('\nharness: FAILED: %d finding(s) about popgate processes '
                         '(exit status, kill, sanitizer):\n' % len(Popgate.findings))
        for f in Popgate.findings:
            sys.stderr.write('--- %s\n' % f)
        ok = False
    skipped = [(t, why) for t, why in result.skipped if not why.endswith(DOVECOT_MODE_SKIP)]
    if skipped and no_skip():
        sys.stderr.write('\nharness: FAILED: %d test(s) skipped under CI:\n' % len(skipped))
        for t, why in skipped:
            sys.stderr.write('  %s: %s\n' % (t, why))
        ok = False
    if not ok:
        return 1
    # A skipped module or class runs none of its tests and counts one skip.
    skipped_tests = sum(1 for t, _ in result.skipped if isinstance(t, unittest.TestCase))
    if result.skipped and result.testsRun == skipped_tests:
        sys.stderr.write('harness: every test of this file was skipped\n')
        return EXIT_ALL_SKIPPED
    return 0


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
                skip_in_dovecot_mode('popgate options %r have no Dovecot equivalent'
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
        """Stops every server; an AssertionError from a popgate's stop()
        (status, kill, sanitizer) is raised once all are stopped."""
        failed = []
        for srv in self.servers:
            if isinstance(srv, Popgate):
                _log_tails.append(('popgate log tail (%s)' % ' '.join(srv.argv or []),
                                   srv.log_tail(60)))
                failed += stop_checked(srv)
        if self.dovecot is not None:
            _log_tails.append(('dovecot log tail', self.dovecot.log_tail(30)))
            self.dovecot.stop()
        if failed:
            raise AssertionError('\n'.join(failed))


def stop_checked(pg):
    """pg.stop(), its AssertionError as a list of messages."""
    try:
        pg.stop()
    except AssertionError as e:
        return [str(e)]
    return []


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
    failed = []
    try:
        if fix is not None:
            try:
                fix.stop()
            except AssertionError as e:
                failed.append(str(e))
        # A popgate a test started and left running gets the same
        # checked stop, not just the SIGKILL of kill_everything().
        for pg in list(Popgate.live):
            failed += stop_checked(pg)
    finally:
        kill_everything()
        _remove_tmp_dirs()
    if failed:
        raise AssertionError('\n'.join(failed))


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
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(timeout)
        self._attach(sock, greeting)

    def _attach(self, sock, greeting, data=b''):
        """Start reading from sock (None: only `data`, the bytes already
        received); read the greeting if asked to."""
        self.sock = sock
        self.buf = bytearray(data)
        self.pos = 0
        self.last_raw = b''
        self.greeting = None
        if greeting:
            self.greeting = self.status()

    @classmethod
    def from_bytes(cls, data, greeting):
        """A client over recorded server output (no socket): the replies
        are parsed as strictly as live ones, and EOF ends the data."""
        c = cls.__new__(cls)
        c._fill = lambda: False
        c._attach(None, greeting, data)
        return c

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


def tool_missing(what):
    """A tool tests/install-deps.sh installs is missing: a skip on a
    workstation, a failure under CI, so CI cannot go green on a broken
    install."""
    skip('%s is not installed (see tests/install-deps.sh)' % what)


def wait_readable(sock, timeout=10.0):
    """True once sock has bytes (or EOF) to read: the server has started
    its reply.  Reads nothing."""
    import select
    r, _, _ = select.select([sock], [], [], timeout)
    return bool(r)


def wait_until(pred, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(interval)


# -- TLS, source addresses, SASL and log helpers (test_pop3_tls.py, test_auth.py)

def client_tls_context(cafile, minimum=None, maximum=None, ciphers=None):
    """An ssl.SSLContext that verifies against cafile (hostname checked).
    minimum/maximum: ssl.TLSVersion values; ciphers: an OpenSSL cipher string."""
    import ssl
    ctx = limit_tls_versions(ssl.create_default_context(cafile=cafile), minimum, maximum)
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


class POP3TLS(POP3Strict):
    """POP3Strict that can connect from a given source address (`source`,
    e.g. '127.0.0.2'), start with implicit TLS (`tls` = an SSLContext) and
    switch to TLS with stls()."""

    def __init__(self, port, host='127.0.0.1', timeout=SOCKET_TIMEOUT, greeting=True,
                 tls=None, server_hostname='localhost', source=None):
        src = (source, 0) if source else None
        sock = socket.create_connection((host, port), timeout=timeout, source_address=src)
        sock.settimeout(timeout)
        if tls is not None:
            try:
                sock = tls.wrap_socket(sock, server_hostname=server_hostname)
            except BaseException:
                sock.close()
                raise
        self._attach(sock, greeting)

    def start_tls(self, ctx, server_hostname='localhost'):
        """Handshake on the current connection (after a +OK to STLS).
        Plaintext bytes the server sent after that +OK are an error."""
        if self.pending():
            raise ProtocolError('plaintext after the STLS reply, before TLS: %r'
                                % self.pending()[:80])
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        self.buf = bytearray()
        self.pos = 0

    def stls(self, ctx, server_hostname='localhost'):
        """STLS and the handshake; returns the STLS status line."""
        st = self.cmd('STLS')
        if not st.startswith('+OK'):
            raise AssertionError('STLS: expected +OK, got %r' % st)
        self.start_tls(ctx, server_hostname)
        return st

    def capa(self):
        """CAPA as a list of lines (str, without CRLF)."""
        st, data = self.multi('CAPA')
        if data is None:
            raise AssertionError('CAPA: %r' % st)
        return [l for l in data.decode('latin-1').split('\r\n') if l]

    def tls_version(self):
        v = getattr(self.sock, 'version', None)
        return v() if v is not None else None

    def expect_eof(self, timeout=5.0):
        import ssl
        try:
            return POP3Strict.expect_eof(self, timeout)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            return True
        except ssl.SSLError as e:
            if 'EOF' in str(e) or 'closed' in str(e):
                return True
            raise

    def silent_for(self, seconds):
        """True if the server sends nothing (and does not close) for
        `seconds`; otherwise the bytes (b'' for EOF)."""
        import ssl
        if self.pending():
            return self.pending()
        old = self.sock.gettimeout()
        self.sock.settimeout(seconds)
        try:
            chunk = self.sock.recv(4096)
        except socket.timeout:
            return True
        except (ssl.SSLError, ConnectionResetError):
            return b''
        finally:
            try:
                self.sock.settimeout(old)
            except OSError:
                pass
        self.buf += chunk
        return chunk


def loopback_alias_ok(addr):
    """True if this host can bind a client socket to addr (e.g. 127.0.0.2)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((addr, 0))
        return True
    except OSError:
        return False


def sasl_plain(user, password, authzid=''):
    """base64 of the SASL PLAIN message authzid NUL user NUL password (UTF-8)."""
    import base64

    def b(x):
        return x.encode('utf-8') if isinstance(x, str) else x
    return base64.b64encode(b(authzid) + b'\0' + b(user) + b'\0' + b(password)).decode('ascii')


def b64(x):
    import base64
    return base64.b64encode(x.encode('utf-8') if isinstance(x, str) else x).decode('ascii')


_LOG_KV = re.compile(r'([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def log_events(text, event=None):
    """popgate log lines `popgate[PID]: level=L event=E k=v k="v w" ...` as
    dicts (quotes removed); only those of `event` if given."""
    out = []
    for line in text.splitlines():
        i = line.find(': ')
        if not line.startswith('popgate[') or i < 0:
            continue
        d = {}
        for k, v in _LOG_KV.findall(line[i + 2:]):
            if v.startswith('"') and v.endswith('"') and len(v) >= 2:
                v = v[1:-1]
            d.setdefault(k, v)
        d['_line'] = line
        if event is None or d.get('event') == event:
            out.append(d)
    return out


def openssl_s_client(args, stdin_text, timeout=30):
    """Run `openssl s_client ARGS -quiet` with stdin_text (bytes, sent as is)
    and return the CompletedProcess (stdout and stderr as bytes).  -quiet
    implies -ign_eof, so it runs until the server closes the connection."""
    import tempfile as _tf
    with _tf.TemporaryFile() as f:
        f.write(stdin_text)
        f.seek(0)
        return run_tool(['openssl', 's_client'] + list(args) + ['-quiet'],
                        timeout=timeout, stdin=f)


class WatchServers:
    """unittest mixin: a test during which a Popgate of `watched_servers()`
    died fails in tearDown with the tail of its log (so the test that
    killed the daemon is named, not only the ones after it)."""

    def watched_servers(self):
        return [s for s in (FIX.servers if FIX is not None else []) if isinstance(s, Popgate)]

    def setUp(self):
        super().setUp()
        self._alive_before = [s for s in self.watched_servers() if s.running()]

    def tearDown(self):
        dead = [s for s in getattr(self, '_alive_before', []) if not s.running()]
        super().tearDown()
        if dead:
            raise AssertionError('popgate died during this test (exit status %s):\n%s'
                                 % (dead[0].proc.returncode if dead[0].proc else
                                    dead[0].returncode, dead[0].log_tail(15)))


# -- popgate with a config file of the test's own (test_pop3_tls.py, test_auth.py)

def free_ports(n):
    """n distinct free loopback ports, ascending."""
    ports = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def popgate_conf(sections):
    """popgate.conf text from [(section header, {key: value})], in order;
    e.g. [('listener pop3', listener(110, 'starttls'))]."""
    lines = []
    for header, settings in sections:
        lines.append('[%s]' % header)
        lines += ['%s = %s' % (k, v) for k, v in settings.items()]
        lines.append('')
    return '\n'.join(lines) + '\n'


def tls_profile(cert, key, **more):
    """The settings of a [tls_profile NAME] section."""
    return dict(cert=cert, key=key, **more)


def listener(port, tls, **more):
    """The settings of a [listener NAME] on 127.0.0.1:port with tls = tls
    (starttls, implicit or none)."""
    return dict(address='127.0.0.1:%d' % port, tls=tls, **more)


def start_configured_popgate(name, config_text, port, upstream_port=None):
    """popgate -c (config_text) in FIX.subdir('popgate-NAME'), registered
    with the fixture (stopped and its log tail shown at the end); `port` is
    the listener that the start-up check connects to.  Returns once the
    session of that check is logged, so a log mark taken afterwards sees
    only the tests' own sessions."""
    pg = Popgate(POPGATE, FIX.subdir('popgate-' + name), upstream_port,
                 config_text=config_text, port=port)
    FIX.servers.append(pg)
    pg.start()
    if not wait_until(lambda: 'event=session-end' in pg.log_text(), 5):
        raise AssertionError('popgate %s: its start-up check left no session-end:\n%s'
                             % (name, pg.log_tail()))
    return pg


class LoggedGateway:
    """The POP3 endpoints of one popgate (`pg`; None in dovecot mode, where
    the log is empty): log(), mark() and events() since a mark."""

    def __init__(self, pg=None):
        self.pg = pg

    def log(self):
        return self.pg.log_text() if self.pg is not None else ''

    def mark(self):
        return len(self.log())

    def events(self, mark=0, event=None):
        return log_events(self.log()[mark:], event)


class GatewayCache:
    """LoggedGateways shared by the tests of a file, started on first use:
    get(key, start) calls start() for a key not seen yet, or whose popgate
    has died (in an earlier test).  An exception from start() is kept and
    fails every test that asks for that key."""

    def __init__(self):
        self._gateways = {}

    def get(self, key, start):
        g = self._gateways.get(key)
        if isinstance(g, LoggedGateway) and g.pg is not None and not g.pg.running():
            del self._gateways[key]
        if key not in self._gateways:
            try:
                self._gateways[key] = start()
            except Exception as e:      # noqa: BLE001 (reported by every test that needs it)
                self._gateways[key] = e
        g = self._gateways[key]
        if isinstance(g, Exception):
            raise AssertionError('popgate (%s) did not start: %s' % (key, g))
        return g
