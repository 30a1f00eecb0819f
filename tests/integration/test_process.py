#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The popgate process: --version, --help, config checking (-t -c), serving
from a config file, SIGTERM (sessions not logged in end at once, logged-in
ones may still QUIT until drain_timeout, a second SIGTERM ends it, exit
status 0), and the log (session-end lines; no password ever, checked over
every popgate log of this file's run).

All popgate-only: skipped with POPGATE_TARGET=dovecot-pop3.
"""

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from fake_imapd import FakeImapd  # noqa: E402
from harness import POP3Strict  # noqa: E402
from popgate import Popgate  # noqa: E402

FIX = None
ITEMS = None
USERS = {'carol': 'S3cr3t-Pw!', 'dave': 'Zq9#unique-pass', 'erin': 'Dr41n-pw'}
WRONG = 'Wr0ng-Pw!#x'
SECRETS = list(USERS.values()) + [WRONG, 'secret']
RUN_TIMEOUT = 10
LOG_LINE = re.compile(r'^popgate\[(\d+)\]: (.*)$')

GOOD_CONF = """\
[global]
workers = 1
log_level = info

[listener pop3]
address = 127.0.0.1:{port}

[upstream]
url = imap://127.0.0.1:{upstream_port}
mailbox = INBOX
seen_on_retr = yes
uidl_template = {uid:08x}{uidvalidity:08x}
connect_timeout = 30
command_timeout = 120

[session]
idle_timeout = 600
"""


def setUpModule():
    global FIX, ITEMS
    harness.skip_in_dovecot_mode('popgate process tests')
    FIX = harness.setup_module(users=USERS)
    for user in USERS:
        imap = FIX.imap(user)
        try:
            ITEMS = mailseed.seed(imap, mailseed.simple_corpus(3, user))
        finally:
            imap.logout()


def run(argv, timeout=RUN_TIMEOUT):
    return harness.run_tool(argv, timeout=timeout)


def parse_fields(text):
    """key=value pairs of a log line (values may be "quoted")."""
    return dict((m.group(1), m.group(2) if m.group(2) is not None else m.group(3))
                for m in re.finditer(r'([A-Za-z0-9_.-]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))', text))


def session_ends(pg):
    return harness.log_events(pg.log_text(), 'session-end')


def start_popgate(extra_args=(), config_text=None, user='carol'):
    return FIX.pop3_server(extra_args=extra_args, config_text=config_text)


class CommandLine(unittest.TestCase):
    def test_version(self):
        r = run([harness.POPGATE, '--version'])
        out = (r.stdout + r.stderr).decode(errors='replace')
        self.assertEqual(r.returncode, 0, out)
        self.assertRegex(out, r'\d+\.\d+(\.\d+)?', 'no version number in %r' % out)

    def test_help(self):
        r = run([harness.POPGATE, '--help'])
        out = (r.stdout + r.stderr).decode(errors='replace')
        self.assertEqual(r.returncode, 0, out)
        self.assertIn('--listen', out)
        self.assertIn('--upstream', out)

    def test_unknown_option_fails(self):
        r = run([harness.POPGATE, '--no-such-option'])
        self.assertNotEqual(r.returncode, 0)


class ConfigCheck(unittest.TestCase):
    def write(self, name, text):
        d = FIX.subdir('conf')
        path = os.path.join(d, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def test_good_config(self):
        path = self.write('good.conf', GOOD_CONF.replace('{port}', '11110')
                          .replace('{upstream_port}', '1143'))
        r = run([harness.POPGATE, '-t', '-c', path])
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors='replace'))

    def bad(self, name, text, line):
        path = self.write(name, text)
        r = run([harness.POPGATE, '-t', '-c', path])
        err = r.stderr.decode(errors='replace')
        self.assertNotEqual(r.returncode, 0, '%s accepted; stderr %r' % (name, err))
        self.assertEqual(r.returncode, 1, 'config error exit status; stderr %r' % err)
        self.assertIn('%s:%d:' % (path, line), err,
                      'stderr must name FILE:LINE (%s:%d): %r' % (path, line, err))

    def good_lines(self):
        return GOOD_CONF.replace('{port}', '11110').replace('{upstream_port}', '1143') \
            .splitlines()

    def with_line(self, index, text, replace=True):
        lines = self.good_lines()
        if replace:
            lines[index] = text
        else:
            lines.insert(index, text)
        return '\n'.join(lines) + '\n'

    def test_unknown_key(self):
        # inserted as line 3 of [global]
        self.bad('unknown-key.conf', self.with_line(2, 'frobnicate = yes', replace=False), 3)

    def test_bad_address(self):
        i = self.good_lines().index('address = 127.0.0.1:11110')
        self.bad('bad-address.conf', self.with_line(i, 'address = 127.0.0.1:notaport'), i + 1)

    def test_bad_address_port_range(self):
        i = self.good_lines().index('address = 127.0.0.1:11110')
        self.bad('bad-port.conf', self.with_line(i, 'address = 127.0.0.1:99999'), i + 1)

    def test_bad_url(self):
        i = self.good_lines().index('url = imap://127.0.0.1:1143')
        self.bad('bad-url.conf', self.with_line(i, 'url = gopher://127.0.0.1:1143'), i + 1)

    def test_bad_number(self):
        i = self.good_lines().index('idle_timeout = 600')
        self.bad('bad-number.conf', self.with_line(i, 'idle_timeout = soon'), i + 1)

    def test_missing_file(self):
        r = run([harness.POPGATE, '-t', '-c', '/nonexistent/popgate.conf'])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('/nonexistent/popgate.conf', r.stderr.decode(errors='replace'))


class Serving(unittest.TestCase):
    def test_config_file_serves_a_session(self):
        pg = start_popgate(config_text=GOOD_CONF)
        try:
            c = POP3Strict(pg.port)
            try:
                c.login('dave', USERS['dave'])
                self.assertEqual(c.stat()[0], 3)
                self.assertEqual(mailseed.message_id(c.retr(1)), '<dave-1.simple@popgate.test>')
                self.assertTrue(c.quit().startswith('+OK'))
            finally:
                c.close()
        finally:
            pg.stop()

    def test_drain_timeout_closes_a_busy_session(self):
        """SIGTERM lets a session in the middle of a command finish, but
        only for drain_timeout; then it is closed and the process exits."""
        fake = FakeImapd(users={'carol': USERS['carol']})
        self.addCleanup(fake.stop)
        fake.start()
        fake.faults['hang_on'] = {'LOGIN', 'AUTHENTICATE'}
        pg = FIX.pop3_server(upstream_port=fake.port, config_text=(
            '[global]\nworkers = 1\ndrain_timeout = 1500ms\n'
            '[listener pop3]\naddress = 127.0.0.1:{port}\n'
            '[upstream]\nurl = imap://127.0.0.1:{upstream_port}\n'
            'command_timeout = 60\n'))
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.ok('USER carol')
        c.send(('PASS %s\r\n' % USERS['carol']).encode())
        self.assertTrue(harness.wait_until(
            lambda: any(l.startswith('LOGIN') for l in fake.commands()), 5),
            'the login never reached the upstream')
        t0 = time.monotonic()
        pg.proc.send_signal(signal.SIGTERM)
        try:
            pg.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        dt = time.monotonic() - t0
        rc, _ = pg.stop()
        self.assertEqual(rc, 0, pg.log_tail())
        # It waited for the busy session, then gave up at the limit.
        self.assertGreaterEqual(dt, 1.3, pg.log_tail())
        self.assertLess(dt, 6, pg.log_tail())
        log = pg.log_text()
        self.assertIn('event=drain-timeout', log)
        self.assertRegex(log, r'event=session-end .*user=carol reason="shutdown"')


DRAIN_CONF = (
    '[global]\nworkers = 2\ndrain_timeout = {drain}\n'
    '[listener pop3]\naddress = 127.0.0.1:{port}\n'
    '[upstream]\nurl = imap://127.0.0.1:{upstream_port}\n')


class Drain(unittest.TestCase):
    """SIGTERM: sessions that have not logged in end at once; logged-in
    ones may go on until QUIT (so a printer's DELEs are committed) or until
    drain_timeout; a second SIGTERM ends everything at once; the exit
    status is 0 in every case."""

    def start(self, drain):
        pg = start_popgate(config_text=DRAIN_CONF.replace('{drain}', drain))
        self.addCleanup(pg.stop)
        return pg

    def client(self, pg, user='erin'):
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        if user is not None:
            c.login(user, USERS[user])
        return c

    def signal_and_wait_for_drain(self, pg, sig=signal.SIGTERM):
        mark = len(pg.log_text())
        pg.proc.send_signal(sig)
        self.assertTrue(harness.wait_until(
            lambda: 'event=shutdown' in pg.log_text()[mark:], 10),
            'no event=shutdown after the signal:\n' + pg.log_tail())
        return time.monotonic()

    def wait_exit(self, pg, timeout):
        try:
            return pg.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail('popgate still running %ss into the drain:\n%s'
                      % (timeout, pg.log_tail()))

    def erin_state(self):
        imap = FIX.imap('erin')
        try:
            uids = mailseed.uids(imap)
            return uids, [mailseed.flags(imap, u) for u in uids]
        finally:
            imap.logout()

    def test_logged_in_session_dele_and_quit_after_sigterm(self):
        """The printer case: RETR, then the restart, then DELE and QUIT.
        The DELE is committed; a session still in AUTHORIZATION was
        closed at once meanwhile."""
        imap = FIX.imap('erin')
        try:
            mailseed.append(imap, 'INBOX', mailseed.simple_corpus(1, 'erin-job')[0][1])
        finally:
            imap.logout()
        before, _ = self.erin_state()
        pg = self.start('30s')
        c = self.client(pg)
        n = c.stat()[0]
        self.assertEqual(mailseed.message_id(c.retr(n)), '<erin-job-1.simple@popgate.test>')
        waiting = self.client(pg, user=None)
        waiting.ok('USER erin')
        self.signal_and_wait_for_drain(pg)
        self.assertTrue(waiting.expect_eof(5),
                        'a session in AUTHORIZATION was not closed at SIGTERM')
        self.assertIsNone(pg.proc.poll(), 'popgate left before the logged-in session ended')
        self.assertTrue(c.cmd('DELE %d' % n).startswith('+OK'))
        self.assertTrue(c.quit().startswith('+OK'), 'QUIT during the drain')
        t0 = time.monotonic()
        self.assertEqual(self.wait_exit(pg, 10), 0, pg.log_tail())
        self.assertLess(time.monotonic() - t0, 5, 'the drain outlived its last session')
        after, _ = self.erin_state()
        self.assertEqual(after, before[:-1], 'the DELE sent during the drain')
        self.assertRegex(pg.log_text(), r'event=session-end .*user=erin reason="quit" '
                         r'.*retr=1 .*deleted=1')

    def test_idle_logged_in_session_ends_at_drain_timeout(self):
        """A session that says nothing more is closed at drain_timeout,
        without UPDATE; then popgate exits with 0."""
        before, _ = self.erin_state()
        pg = self.start('2s')
        c = self.client(pg)
        c.ok('DELE 1')
        t0 = self.signal_and_wait_for_drain(pg)
        c.settimeout(1)
        try:
            got = c.sock.recv(100)
            self.fail('the idle session ended at once: %r' % got)
        except socket.timeout:
            pass
        self.assertTrue(c.expect_eof(10), 'the session outlived drain_timeout')
        dt = time.monotonic() - t0
        self.assertEqual(self.wait_exit(pg, 10), 0, pg.log_tail())
        self.assertGreaterEqual(dt, 1.5, pg.log_tail())
        self.assertLess(dt, 8, pg.log_tail())
        self.assertIn('event=drain-timeout', pg.log_text())
        self.assertRegex(pg.log_text(), r'event=session-end .*user=erin reason="shutdown"')
        after, flags = self.erin_state()
        self.assertEqual(after, before, 'SIGTERM must not enter UPDATE')
        for f in flags:
            self.assertNotIn('\\Deleted', f)

    def test_second_sigterm_exits_at_once(self):
        before, _ = self.erin_state()
        pg = self.start('60s')
        c = self.client(pg)
        c.ok('DELE 1')
        self.signal_and_wait_for_drain(pg)
        time.sleep(0.5)
        self.assertIsNone(pg.proc.poll(), 'popgate did not wait for the logged-in session')
        t0 = time.monotonic()
        pg.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.wait_exit(pg, 10), 0, pg.log_tail())
        self.assertLess(time.monotonic() - t0, 3, pg.log_tail())
        self.assertTrue(c.expect_eof(5))
        self.assertIn('event=shutdown-now', pg.log_text())
        self.assertEqual(self.erin_state()[0], before, 'a DELE without QUIT was committed')

    def test_sigterm_as_soon_as_the_port_accepts_exits_zero(self):
        # Popgate.start() returns once the port accepts, which is before
        # the workers run: the TERM must wait for the loop, not kill the
        # process by its default action (seen under ASan in CI).
        for n in range(10):
            pg = Popgate(harness.POPGATE, FIX.subdir('popgate-early-term-%d' % n),
                         FIX.dovecot.imap_port)
            pg.start()
            rc, clean = pg.stop()
            self.assertEqual((rc, clean), (0, True), pg.log_tail())

    def test_exit_status_zero_after_sigterm_and_sigint(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            pg = self.start('30s')
            c = self.client(pg, user='dave')
            self.assertTrue(c.quit().startswith('+OK'))
            self.signal_and_wait_for_drain(pg, sig)
            self.assertEqual(self.wait_exit(pg, 10), 0,
                             'exit status after %s:\n%s' % (sig.name, pg.log_tail()))


class SecondInstance(unittest.TestCase):
    """SO_REUSEPORT (one socket per worker) must not let a second popgate
    bind an address the first serves and take part of its connections."""

    def test_second_instance_on_the_same_address_fails(self):
        first = start_popgate(config_text=DRAIN_CONF.replace('{drain}', '5s'))
        self.addCleanup(first.stop)
        second = subprocess.Popen(first.argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def stop_second():
            if second.poll() is None:
                second.kill()
            second.wait(5)
            second.stderr.close()
        self.addCleanup(stop_second)
        # Either it has failed by now, or it serves: then connections split.
        harness.wait_until(lambda: second.poll() is not None, 3)
        mark = len(first.log_text())
        for _ in range(20):
            c = POP3Strict(first.port)
            c.close()
        # (a short wait: connections a second process took never show up)
        harness.wait_until(
            lambda: first.log_text()[mark:].count('event=session-start') >= 20, 5)
        served = first.log_text()[mark:].count('event=session-start')
        self.assertEqual(served, 20, 'the first instance served %d of 20 connections' % served)
        try:
            rc = second.wait(5)
        except subprocess.TimeoutExpired:
            self.fail('the second popgate is still running')
        err = second.stderr.read().decode(errors='replace')
        self.assertNotEqual(rc, 0, err)
        self.assertIn('address in use by another process', err)
        self.assertIsNone(first.proc.poll(), 'the first instance went away')


@harness.skip_unless(os.geteuid() == 0, 'privilege tests need to start as root')
class Privileges(unittest.TestCase):
    """Started as root, popgate binds and loads keys, then becomes the
    configured user; without one it refuses to keep running as root."""

    def test_root_without_user_is_refused(self):
        pg = Popgate(harness.POPGATE, FIX.subdir('popgate-root'), FIX.dovecot.imap_port,
                     extra_args=['--user', ''])
        # The listeners are bound before the user check, so the port may
        # accept for a moment before popgate exits: either way it ends by
        # itself, with status 1 (a TERM from stop() waits for a loop that
        # never runs).
        try:
            pg.start()
        except Exception:
            pass
        rc, clean = pg.stop(expect_status=1)
        self.assertEqual((rc, clean), (1, True))
        self.assertIn('refusing to run as root', pg.log_text())

    def test_allow_root_keeps_root(self):
        pg = Popgate(harness.POPGATE, FIX.subdir('popgate-allow-root'),
                     FIX.dovecot.imap_port, extra_args=['--allow-root'])
        pg.start()
        try:
            self.assertEqual(self.ids(pg.pid), ({0}, {0}))
        finally:
            pg.stop()

    def test_drops_to_the_user_and_still_serves(self):
        pg = start_popgate(extra_args=['--user', 'nobody'])
        try:
            import pwd
            nobody = pwd.getpwnam('nobody')
            uids, gids = self.ids(pg.pid)
            self.assertEqual(uids, {nobody.pw_uid}, 'real, effective, saved and fs uid')
            self.assertEqual(gids, {nobody.pw_gid})
            with open('/proc/%d/status' % pg.pid) as f:
                groups = [l for l in f if l.startswith('Groups:')][0].split()[1:]
            self.assertNotIn('0', groups)
            self.assertRegex(pg.log_text(), r'event=privileges user=nobody uid=%d'
                             % nobody.pw_uid)
            c = POP3Strict(pg.port)
            try:
                c.login('dave', USERS['dave'])
                self.assertEqual(c.stat()[0], 3)
                self.assertTrue(c.quit().startswith('+OK'))
            finally:
                c.close()
        finally:
            pg.stop()

    def test_unknown_user_is_a_config_error(self):
        r = run([harness.POPGATE, '-t', '--listen', '127.0.0.1:1', '--upstream',
                 'imap://127.0.0.1:1', '--user', 'no-such-user-popgate'])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'user no-such-user-popgate does not exist', r.stderr + r.stdout)

    @staticmethod
    def ids(pid):
        """({uids}, {gids}) of a process: real, effective, saved, fs."""
        with open('/proc/%d/status' % pid) as f:
            lines = {l.split(':')[0]: l.split()[1:] for l in f}
        return {int(x) for x in lines['Uid']}, {int(x) for x in lines['Gid']}


@harness.skip_unless(os.geteuid() == 0, 'the syslog test mounts over /dev/log: needs root')
class Syslog(unittest.TestCase):
    """log_target = syslog: the same key=value lines go to /dev/log with
    the facility and a priority from the level, and none to stderr.
    popgate runs in a mount namespace of its own in which the test's socket
    is bind-mounted on /dev/log, so a system syslog socket there (or none)
    makes no difference, and the system logger never sees the test."""

    def devlog_mount_point(self):
        """/dev/log must exist to mount on; if there is none, an empty file
        stands in until the test ends."""
        try:
            fd = os.open('/dev/log', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return
        os.close(fd)
        self.addCleanup(os.unlink, '/dev/log')

    def test_lines_go_to_syslog(self):
        import socket as socket_mod
        r = run(['unshare', '--mount', '--propagation', 'private', 'true'])
        if r.returncode != 0:
            harness.skip('cannot make a mount namespace (unshare --mount): %r' % r.stderr)
        path = os.path.join(FIX.subdir('syslog'), 'log.sock')
        sock = socket_mod.socket(socket_mod.AF_UNIX, socket_mod.SOCK_DGRAM)
        sock.bind(path)
        self.addCleanup(sock.close)
        os.chmod(path, 0o666)       # popgate writes after dropping root
        sock.settimeout(5)
        self.devlog_mount_point()
        pg = Popgate(harness.POPGATE, FIX.subdir('popgate-syslog'), FIX.dovecot.imap_port,
                     config_text=(
                         '[global]\nworkers = 1\nlog_target = syslog\nlog_facility = local3\n'
                         '[listener pop3]\naddress = 127.0.0.1:{port}\n'
                         '[upstream]\nurl = imap://127.0.0.1:{upstream_port}\n'),
                     wrapper=['unshare', '--mount', '--propagation', 'private', '--',
                              'sh', '-c', 'mount --bind "$0" /dev/log && exec "$@"', path])
        FIX.servers.append(pg)
        pg.start()
        c = POP3Strict(pg.port)
        try:
            c.login('dave', USERS['dave'])
            self.assertTrue(c.quit().startswith('+OK'))
        finally:
            c.close()
        got = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(b'reason="quit"' in g for g in got):
            try:
                got.append(sock.recv(4096))
            except socket_mod.timeout:
                break
        text = b'\n'.join(got).decode(errors='replace')
        # local3 = 19, info = 6: <158>
        self.assertRegex(text, r'<158>.*popgate\[%d\]: level=info event=login .*user=dave'
                         % pg.pid)
        self.assertRegex(text, r'<158>.*event=session-end .*reason="quit"')
        self.assertNotIn(USERS['dave'], text)
        self.assertNotIn('event=login', pg.log_text(), 'stderr must stay quiet')


@harness.skip_unless_popgate('popgate readiness notification')
class Notify(unittest.TestCase):
    """Type=notify: READY=1 once serving, RELOADING=1 then READY=1 around a
    SIGHUP, STOPPING=1 at SIGTERM, on the socket in $NOTIFY_SOCKET."""

    def test_sd_notify_states(self):
        import socket as socket_mod
        path = os.path.join(FIX.subdir('notify'), 'notify.sock')
        sock = socket_mod.socket(socket_mod.AF_UNIX, socket_mod.SOCK_DGRAM)
        sock.bind(path)
        os.chmod(path, 0o666)       # popgate sends after dropping root
        self.addCleanup(sock.close)
        sock.settimeout(10)
        os.environ['NOTIFY_SOCKET'] = path
        try:
            pg = start_popgate(config_text=GOOD_CONF)
        finally:
            del os.environ['NOTIFY_SOCKET']
        self.addCleanup(pg.stop)
        self.assertIn(b'READY=1', sock.recv(4096))
        self.assertIn('event=listening', pg.log_text(), 'READY before listening')
        pg.proc.send_signal(signal.SIGHUP)
        self.assertEqual(sock.recv(4096), b'RELOADING=1')
        self.assertEqual(sock.recv(4096), b'READY=1')
        self.assertIn('event=reload result=ok', pg.log_text())
        pg.proc.send_signal(signal.SIGTERM)
        # drain_timeout (30 s) and 5 s to exit, past a shorter TimeoutStopSec
        self.assertEqual(sock.recv(4096), b'STOPPING=1\nEXTEND_TIMEOUT_USEC=35000000')


class Logging(unittest.TestCase):
    """Sessions of every kind on a debug-level popgate, then its log."""

    @classmethod
    def setUpClass(cls):
        cls.pg = start_popgate(extra_args=['--log-level', 'debug'])
        port = cls.pg.port
        # 1. normal session with QUIT
        c = POP3Strict(port)
        c.login('carol', USERS['carol'])
        c.retr(1)
        c.top(2, 0)
        c.cmd('QUIT')
        c.expect_eof(5)
        c.close()
        # 2. wrong password
        c = POP3Strict(port)
        c.cmd('USER carol')
        cls.wrong_reply = c.cmd('PASS %s' % WRONG)
        c.close()
        # 3. SASL PLAIN (if offered) with initial response, then dropped
        c = POP3Strict(port)
        ir = base64.b64encode(b'\0dave\0' + USERS['dave'].encode()).decode()
        cls.auth_reply = c.cmd('AUTH PLAIN %s' % ir)
        c.close()
        # 4. login, then drop the TCP connection
        time.sleep(0.2)
        c = POP3Strict(port)
        c.login('dave', USERS['dave'])
        c.stat()
        c.abort()
        harness.wait_until(lambda: any(e.get('user') == 'dave' for e in session_ends(cls.pg)),
                           timeout=5)

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    def test_wrong_password_is_auth(self):
        self.assertTrue(self.wrong_reply.startswith('-ERR [AUTH]'), self.wrong_reply)

    def test_log_lines_are_key_value(self):
        lines = [l for l in self.pg.log_text().splitlines() if l.strip()]
        self.assertTrue(lines, 'popgate logged nothing')
        for line in lines:
            m = LOG_LINE.match(line)
            self.assertTrue(m, 'log line without "popgate[PID]: ": %r' % line)
            self.assertEqual(int(m.group(1)), self.pg.proc.pid)
            fields = parse_fields(m.group(2))
            self.assertIn('level', fields, line)
            self.assertIn('event', fields, line)
            # nothing but key=value / key="quoted value" tokens: a value
            # with a space must be quoted or the line is ambiguous
            rest = re.sub(r'[A-Za-z0-9_.-]+=(?:"(?:[^"\\]|\\.)*"|\S*)', '', m.group(2))
            self.assertEqual(rest.strip(), '', 'bare words in log line %r' % line)

    def test_session_end_lines(self):
        ends = session_ends(self.pg)
        carol = [e for e in ends if e.get('user') == 'carol' and e.get('retr') == '1']
        dave = [e for e in ends if e.get('user') == 'dave']
        self.assertTrue(carol, 'no session-end with user=carol retr=1 in:\n' + self.pg.log_tail())
        self.assertTrue(dave, 'no session-end with user=dave in:\n' + self.pg.log_tail())
        for e in carol + dave:
            self.assertTrue(e.get('reason'), 'session-end without reason=: %r' % e)
            self.assertIn('sid', e)
            self.assertRegex(e.get('peer', ''), r'^127\.0\.0\.1:\d+$')
        self.assertEqual(carol[0].get('top'), '1')
        # what an admin needs from one line: where it came in, how it was
        # protected, where it went
        for e in carol + dave:
            self.assertTrue(e.get('listener'), e)
            self.assertEqual(e.get('tls'), '-', e)
            self.assertRegex(e.get('upstream', ''), r'^127\.0\.0\.1:\d+$')
            self.assertIn('deleted', e)
        # a QUIT and a dropped connection are told apart
        self.assertNotEqual(carol[0]['reason'], dave[-1]['reason'])



@harness.run_last
class Passwords(unittest.TestCase):
    """Every popgate log of this file, after all the other classes."""

    def test_no_password_in_any_log(self):
        logs = [(s.log_path, s.log_text()) for s in FIX.servers if isinstance(s, Popgate)]
        self.assertTrue(logs)
        ir = base64.b64encode(b'\0dave\0' + USERS['dave'].encode()).decode()
        for path, text in logs:
            for secret in SECRETS + [ir]:
                self.assertNotIn(secret, text, 'password %r appears in %s' % (secret, path))


if __name__ == '__main__':
    harness.main()
