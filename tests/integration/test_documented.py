#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Behaviour the README and the man pages promise, each checked end to end:

* exit status 2 for usage errors (popgate(8) EXIT STATUS);
* an upstream failure answers -ERR [SYS/TEMP] at once, without the
  failed-login delay that a wrong password gets;
* max_sessions counts the whole process, on plain and implicit-TLS
  listeners alike (-ERR [SYS/TEMP] on the one, a silent close on the other);
* values from clients are escaped in the log (a hostile USER and SNI): one
  line per event, no control characters, no forged key=value;
* SIGHUP with a new certificate: new sessions get it, sessions already open
  keep theirs;
* QUIT's verify step: a message that survives UID EXPUNGE makes QUIT -ERR;
* \\Seen after a dropped connection (set for RETR, not TOP, not DELE'd);
* mailbox = another folder, and a folder that does not exist;
* fetch_ahead = no: RETR still byte-exact, and no pair fetch upstream;
* the 256K-message snapshot cap (one more is -ERR [SYS/TEMP]; exactly that
  many serve, with the longest UIDL listing whole), and the 24 MiB output
  cap holding with the largest fetch window while a client stops reading.

Dovecot is the upstream wherever it can be; tests/support/fake_imapd.py
plays the faults and the huge mailbox it cannot.  popgate-only: skipped
with POPGATE_TARGET=dovecot-pop3.
"""

import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import fake_imapd  # noqa: E402
import harness  # noqa: E402
import mailseed  # noqa: E402
from fake_imapd import FakeImapd  # noqa: E402
from harness import POP3TLS, ConnectionClosed, POP3Strict, pop3_form  # noqa: E402
from pki import TestPKI  # noqa: E402

USER, PASSWORD = 'dora', 'D0cumented-pw'
USERS = {USER: PASSWORD, 'eve': 'Ev3-pw', 'finn': 'F1nn-pw'}
ERR_LIMIT = '-ERR [SYS/TEMP] Too many connections, try again later.'
FIX = None
PKI = None


def setUpModule():
    global FIX, PKI
    FIX = harness.setup_module(users=USERS)
    if not harness.dovecot_mode():
        PKI = TestPKI(FIX.subdir('pki'))


def conf_text(*sections):
    return harness.popgate_conf(list(sections))


def upstream(port, **more):
    return ('upstream', dict(url='imap://127.0.0.1:%d' % port, **more))


def start_fake(messages=(), session_class=None):
    fake = FakeImapd(users={USER: PASSWORD}, messages=messages)
    fake.session_class = session_class
    fake.start()
    unittest.addModuleCleanup(fake.stop)
    return fake


def log_bytes(pg):
    with open(pg.log_path, 'rb') as f:
        return f.read()


def fingerprint(sock):
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


@harness.skip_unless_popgate('popgate command line')
class UsageErrors(unittest.TestCase):
    def run_popgate(self, *args):
        return harness.run_tool([harness.POPGATE] + list(args), timeout=20)

    def test_usage_errors_exit_2(self):
        conf = os.path.join(FIX.subdir('usage'), 'popgate.conf')
        with open(conf, 'w') as f:
            f.write(conf_text(('listener pop3', harness.listener(harness.free_port(), 'none')),
                              upstream(FIX.dovecot.imap_port)))
        ok = self.run_popgate('-t', '-c', conf)
        self.assertEqual(ok.returncode, 0, ok.stderr)     # the file itself is fine
        cases = {
            'unknown option': ['--no-such-option'],
            'unknown short option': ['-Z'],
            'missing option argument': ['-c', conf, '--idle-timeout'],
            'missing argument of -c': ['-c'],
            'extra argument': ['-c', conf, 'frobnicate'],
            'bad account subcommand': ['-c', conf, 'account', 'frobnicate'],
            'too many options': ['-c', conf] + ['--idle-timeout=600'] * 65,
        }
        for what, argv in cases.items():
            r = self.run_popgate(*argv)
            self.assertEqual(r.returncode, 2, '%s %r: exit %d, stderr %r'
                             % (what, argv[:4], r.returncode, r.stderr[-300:]))
            self.assertTrue(r.stderr.strip(), '%s: nothing on stderr' % what)


@harness.skip_unless_popgate('popgate auth_failure_delay')
class UpstreamFailureAnsweredAtOnce(unittest.TestCase):
    DELAY = 3.0

    def pass_reply(self, pg, password):
        c = POP3Strict(pg.port, timeout=30)
        try:
            c.ok('USER %s' % USER)
            t0 = time.monotonic()
            st = c.cmd('PASS %s' % password)
            return st, time.monotonic() - t0
        finally:
            c.close()

    def test_sys_temp_without_the_delay(self):
        dead = harness.free_port()      # nothing listens there
        pg = FIX.pop3_server(upstream_port=dead, extra_args=[
            '--auth-failure-delay', '%ds' % self.DELAY])
        # Three in a row from one address: a delay (doubling) would show.
        for i in range(3):
            st, dt = self.pass_reply(pg, PASSWORD)
            self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
            self.assertLess(dt, self.DELAY / 3, 'upstream down: PASS %d answered '
                            'after %.2fs (auth_failure_delay %.0fs)' % (i + 1, dt, self.DELAY))
        # The control: a wrong password through a live upstream waits.
        pg2 = FIX.pop3_server(extra_args=['--auth-failure-delay', '%ds' % self.DELAY])
        st, dt = self.pass_reply(pg2, 'wrong-password')
        self.assertTrue(st.startswith('-ERR [AUTH]'), st)
        self.assertGreater(dt, self.DELAY * 0.9, 'wrong password answered in %.2fs' % dt)


@harness.skip_unless_popgate('popgate max_sessions')
class MaxSessions(unittest.TestCase):
    def test_whole_process_limit_on_plain_and_implicit_tls(self):
        cert, key = PKI.cert('localhost')
        plain, pop3s = harness.free_ports(2)
        pg = harness.start_configured_popgate('maxsess', conf_text(
            ('global', dict(workers=2, max_sessions=2)),
            ('tls_profile default', harness.tls_profile(cert, key)),
            ('listener plain', harness.listener(plain, 'none')),
            ('listener pop3s', harness.listener(pop3s, 'implicit')),
            upstream(FIX.dovecot.imap_port)), plain)
        ctx = harness.client_tls_context(PKI.ca_cert)
        mark = len(pg.log_text())
        held = [POP3Strict(plain), POP3TLS(pop3s, tls=ctx)]
        for c in held:
            self.addCleanup(c.close)
            self.assertTrue(c.greeting.startswith('+OK'), c.greeting)
        # Two workers: a limit per worker would let some of these in.
        for i in range(4):
            with socket.create_connection(('127.0.0.1', plain), timeout=10) as s:
                c = POP3Strict.from_bytes(self.read_to_eof(s), greeting=True)
                self.assertEqual(c.greeting, ERR_LIMIT, 'plain connection %d' % i)
            with socket.create_connection(('127.0.0.1', pop3s), timeout=10) as s:
                # Refused: closed at once, no reply, no handshake.
                self.assertEqual(self.read_to_eof(s), b'', 'pop3s connection %d' % i)
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            POP3TLS(pop3s, tls=ctx, timeout=10)
        ends = harness.wait_until(lambda: [e for e in harness.log_events(
            pg.log_text()[mark:], 'session-end') if e.get('reason') == 'session limit'], 10)
        self.assertGreaterEqual(len(ends), 9, pg.log_tail(12))
        # A slot freed on the plain listener serves the TLS one.
        held[0].quit()
        self.assertTrue(harness.wait_until(lambda: self.open_sessions(pg, mark) == 1, 10))
        c = POP3TLS(pop3s, tls=ctx)
        self.addCleanup(c.close)
        self.assertTrue(c.greeting.startswith('+OK'), c.greeting)
        c.login(USER, PASSWORD)
        self.assertTrue(c.quit().startswith('+OK'))

    @staticmethod
    def read_to_eof(sock):
        data = b''
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    return data
                data += chunk
        except ConnectionResetError:
            return data

    @staticmethod
    def open_sessions(pg, mark):
        ev = harness.log_events(pg.log_text()[mark:])
        started = sum(1 for e in ev if e.get('event') == 'session-start')
        ended = sum(1 for e in ev if e.get('event') == 'session-end')
        return started - ended


@harness.skip_unless_popgate('popgate log format')
class LogEscaping(unittest.TestCase):
    # USER refuses control octets and spaces; 8-bit octets, quotes and '='
    # pass.  A SASL name (UTF-8 without controls) carries spaces too.
    USER_8BIT = b'ev\xff\xfe\xc3\x28"q"=x'
    SASL_USER = b'sasl \xc3\xa9 "x"=y level=error event=forged-user'
    LINE = re.compile(rb'^popgate\[\d+\]: level=(debug|info|warn|error) event=[a-z0-9-]+'
                      rb'( [a-z_0-9]+=("[\x20-\x7e]*"|[\x21-\x7e]*))*$')

    def assert_clean_log(self, data):
        self.assertNotIn(b'event=forged', data)
        for line in data.split(b'\n')[:-1]:
            self.assertRegex(line, self.LINE, 'not one escaped event line')

    def test_hostile_user_and_sni(self):
        cert, key = PKI.cert('localhost')
        plain, pop3s = harness.free_ports(2)
        pg = harness.start_configured_popgate('logesc', conf_text(
            ('global', dict(workers=1)),
            ('tls_profile default', harness.tls_profile(cert, key)),
            ('listener plain', harness.listener(plain, 'none')),
            ('listener pop3s', harness.listener(pop3s, 'implicit')),
            upstream(FIX.dovecot.imap_port), ('session', dict(auth_failure_delay=0))), plain)
        c = POP3Strict(plain)
        c.send(b'USER ' + self.USER_8BIT + b'\r\n')
        self.assertTrue(c.status().startswith('+OK'))
        self.assertTrue(c.cmd('PASS not-the-password').startswith('-ERR'))
        self.assertTrue(c.cmd('AUTH PLAIN ' + harness.b64(
            b'\0' + self.SASL_USER + b'\0not-the-password')).startswith('-ERR'))
        c.send(b'USER a\x1bb\rc\r\n')        # refused, not logged
        self.assertTrue(c.status().startswith('-ERR'))
        c.quit()
        c.close()
        sni = b'sn\x1b[2J\xff\xfei "x"=y\r\nlevel=error event=forged-sni a.example'
        r = harness.run_tool(['openssl', 's_client', '-connect', '127.0.0.1:%d' % pop3s,
                              '-servername', sni, '-quiet'], timeout=30, input=b'QUIT\r\n')
        self.assertIn(b'+OK', r.stdout, r.stderr[-400:])
        harness.wait_until(lambda: log_bytes(pg).count(b'event=session-end') >= 3, 10)
        data = log_bytes(pg)
        self.assert_clean_log(data)
        logins = [e for e in harness.log_events(data.decode('latin-1'), 'login')
                  if e.get('result') != 'ok']
        self.assertEqual([e['user'] for e in logins],
                         ['ev???(?q??x', 'sasl?????x??y?level?error?event?forged-user'])
        tls = harness.log_events(data.decode('latin-1'), 'tls')
        self.assertEqual(len(tls), 1, data[-800:])
        self.assertRegex(tls[0]['sni'], r'^sn\?\[2J\?\?i\?\?x\?\?y\?\?level\?error'
                         r'\?event\?forged-sni\?a\.example$')


@harness.skip_unless_popgate('popgate SIGHUP')
class CertificateReload(unittest.TestCase):
    def test_new_sessions_get_the_new_certificate_open_ones_keep_theirs(self):
        live_dir = FIX.subdir('certs')
        pair = {}
        for name in ('old', 'new'):     # same name, new key: as a renewal
            crt, key = PKI.cert('localhost')
            pair[name] = (os.path.join(live_dir, name + '.pem'),
                          os.path.join(live_dir, name + '.key'))
            shutil.copy(crt, pair[name][0])
            shutil.copy(key, pair[name][1])
        live = (os.path.join(live_dir, 'cert.pem'), os.path.join(live_dir, 'key.pem'))
        self.install(pair['old'], live)
        stls, pop3s = harness.free_ports(2)
        pg = harness.start_configured_popgate('certreload', conf_text(
            ('global', dict(workers=2)),
            ('tls_profile default', harness.tls_profile(*live)),
            ('listener pop3', harness.listener(stls, 'starttls')),
            ('listener pop3s', harness.listener(pop3s, 'implicit')),
            upstream(FIX.dovecot.imap_port)), stls)
        ctx = harness.client_tls_context(PKI.ca_cert)
        fp = {}
        for name in ('old', 'new'):
            with open(pair[name][0]) as f:
                der = ssl.PEM_cert_to_DER_cert(f.read())
            fp[name] = hashlib.sha256(der).hexdigest()
        before = POP3TLS(pop3s, tls=ctx)
        self.addCleanup(before.close)
        before.login(USER, PASSWORD)
        self.assertEqual(fingerprint(before.sock), fp['old'])
        pending = POP3TLS(stls)         # connected, STLS only after the reload
        self.addCleanup(pending.close)
        mark = len(pg.log_text())
        self.install(pair['new'], live)
        pg.proc.send_signal(signal.SIGHUP)
        self.assertTrue(harness.wait_until(
            lambda: 'event=reload result=ok' in pg.log_text()[mark:], 10), pg.log_tail())
        for port, implicit in ((pop3s, True), (stls, False)):
            self.assertEqual(self.new_session_fp(port, ctx, implicit), fp['new'],
                             'a session after the reload, port %d' % port)
        pending.stls(ctx)
        self.assertEqual(fingerprint(pending.sock), fp['old'],
                         'a session accepted before the reload starts TLS after it')
        pending.login('eve', USERS['eve'])
        self.assertTrue(pending.quit().startswith('+OK'))
        # The open TLS session goes on, on its own certificate.
        self.assertEqual(before.stat()[0], 0)
        self.assertEqual(fingerprint(before.sock), fp['old'])
        self.assertTrue(before.quit().startswith('+OK'))

    @staticmethod
    def install(src, dst):
        for s, d in zip(src, dst):
            shutil.copy(s, d + '.tmp')
            os.chmod(d + '.tmp', 0o644)
            os.replace(d + '.tmp', d)

    @staticmethod
    def new_session_fp(port, ctx, implicit):
        if implicit:
            c = POP3TLS(port, tls=ctx)
        else:
            c = POP3TLS(port)
            c.stls(ctx)
        try:
            return fingerprint(c.sock)
        finally:
            c.close()


@harness.skip_unless_popgate('popgate against the scripted upstream')
class QuitVerify(unittest.TestCase):
    def test_message_surviving_uid_expunge_fails_quit(self):
        raws = [raw for _, raw in mailseed.simple_corpus(3, 'verify')]
        fake = start_fake(raws)
        # An upstream that says OK to UID EXPUNGE and removes nothing.
        fake.faults['reply_on'] = {'UID EXPUNGE': '{tag} OK Expunge completed.\r\n'}
        pg = FIX.pop3_server(upstream_port=fake.port)
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.login(USER, PASSWORD)
        self.assertTrue(c.cmd('DELE 2').startswith('+OK'))
        st = c.quit()
        self.assertEqual(st, '-ERR [SYS/TEMP] Some deleted messages were not removed')
        self.assertTrue(c.expect_eof(5))
        cmds = fake.commands()
        expunge = [i for i, l in enumerate(cmds) if re.match(r'(?i)^UID EXPUNGE 2$', l)]
        verify = [i for i, l in enumerate(cmds) if re.match(r'(?i)^UID SEARCH UID 2$', l)]
        self.assertTrue(expunge and verify and verify[0] > expunge[0], cmds)
        self.assertEqual(fake.uids(), [1, 2, 3])
        ends = harness.wait_until(lambda: [e for e in harness.log_events(
            pg.log_text(), 'commit') if e.get('result') != 'ok'], 5)
        self.assertTrue(ends, pg.log_tail())


@harness.skip_unless_popgate('popgate \\Seen after a drop')
class SeenAfterDrop(unittest.TestCase):
    def test_dropped_session_flags_only_what_retr_read(self):
        imap = FIX.imap('finn')
        self.addCleanup(imap.logout)
        items = mailseed.seed(imap, mailseed.simple_corpus(4, 'seen'))
        uids = [i['uid'] for i in items]
        pg = FIX.pop3_server()
        c = POP3Strict(pg.port)
        c.login('finn', USERS['finn'])
        self.assertEqual(c.retr(1), pop3_form(items[0]['stored']))
        c.top(2, 1)
        c.retr(3)
        self.assertTrue(c.cmd('DELE 3').startswith('+OK'))
        c.retr(4)
        self.assertTrue(c.cmd('NOOP').startswith('+OK'))
        c.abort()           # no QUIT: a reset connection
        self.assertTrue(harness.wait_until(
            lambda: 'event=session-end' in pg.log_text().split('user=finn method', 1)[-1],
            10), pg.log_tail())
        imap.noop()
        self.assertEqual(mailseed.uids(imap), uids, 'a drop deletes nothing')
        flags = {u: mailseed.flags(imap, u) for u in uids}
        want = {uids[0]: True, uids[1]: False, uids[2]: False, uids[3]: True}
        for u, seen in want.items():
            self.assertEqual('\\Seen' in flags[u], seen, 'UID %d: %s' % (u, flags[u]))
            self.assertNotIn('\\Deleted', flags[u])


@harness.skip_unless_popgate('popgate --mailbox')
class OtherMailbox(unittest.TestCase):
    def test_other_folder_is_the_maildrop(self):
        imap = FIX.imap('eve')
        self.addCleanup(imap.logout)
        self.assertEqual(imap.create('Scans')[0], 'OK')
        inbox = mailseed.seed(imap, mailseed.simple_corpus(3, 'inbox'))
        scans = mailseed.seed(imap, mailseed.simple_corpus(2, 'scan'), mailbox='Scans')
        pg = FIX.pop3_server(extra_args=['--mailbox', 'Scans'])
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.login('eve', USERS['eve'])
        self.assertEqual(c.stat(), (2, sum(len(pop3_form(i['stored'])) for i in scans)))
        for n, item in enumerate(scans, 1):
            self.assertEqual(c.retr(n), pop3_form(item['stored']))
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        self.assertTrue(c.quit().startswith('+OK'))
        self.assertTrue(c.expect_eof(5))
        imap.noop()
        self.assertEqual(mailseed.uids(imap, 'Scans'), [scans[1]['uid']])
        self.assertEqual(mailseed.uids(imap, 'INBOX'), [i['uid'] for i in inbox])

    def test_missing_folder_is_sys_perm(self):
        pg = FIX.pop3_server(extra_args=['--mailbox', 'No-Such-Folder'])
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.ok('USER %s' % USER)
        t0 = time.monotonic()
        st = c.cmd('PASS %s' % PASSWORD)
        # A configuration problem, not a passing one (README: [SYS/PERM]).
        self.assertTrue(st.startswith('-ERR [SYS/PERM]'), st)
        self.assertLess(time.monotonic() - t0, 1.5, 'answered without the failure delay')
        ev = harness.wait_until(lambda: [e for e in harness.log_events(
            pg.log_text(), 'login') if e.get('result') not in (None, 'ok')], 5)
        self.assertTrue(ev, pg.log_tail())
        self.assertIn('mailbox', ev[0]['_line'])


@harness.skip_unless_popgate('popgate fetch_ahead')
class FetchAhead(unittest.TestCase):
    def session(self, fetch_ahead, raws):
        fake = start_fake(raws)
        port = harness.free_port()
        pg = harness.start_configured_popgate('fa-' + fetch_ahead, conf_text(
            ('global', dict(workers=1)),
            ('listener pop3', harness.listener(port, 'none')),
            upstream(fake.port, fetch_ahead=fetch_ahead)), port)
        del fake.log[:]
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.login(USER, PASSWORD)
        for n, raw in enumerate(raws, 1):
            self.assertEqual(c.retr(n), pop3_form(raw), 'RETR %d' % n)
        self.assertTrue(c.quit().startswith('+OK'))
        return [l for l in fake.commands() if 'BODY' in l.upper() and '<' not in l]

    def test_fetch_ahead_no_fetches_one_message_at_a_time(self):
        raws = [raw for _, raw in mailseed.simple_corpus(3, 'ahead')] + \
            [mailseed.standard_corpus()[1][1]]
        fetches = self.session('no', raws)
        self.assertEqual(fetches, ['UID FETCH %d (BODY.PEEK[])' % u for u in (1, 2, 3, 4)])
        # The control: the same RETRs with fetch_ahead = yes use pairs.
        fetches = self.session('yes', raws)
        self.assertTrue(any(re.match(r'UID FETCH \d+,\d+ ', l) for l in fetches), fetches)


SNAPSHOT_CAP = 256 * 1024      # POP3_MAILDROP_MAX_MESSAGES
OUTPUT_CAP = 24 * 1024 * 1024   # SESSION_OUT_MAX_OCTETS


class HugeMailbox(fake_imapd._Session):
    """A mailbox of srv.huge empty messages, UIDs 1..huge, that costs no
    Message objects: SELECT and the snapshot's UID FETCH ranges are
    answered from arithmetic (empty messages need no tail probe)."""

    def cmd_select(self, tag, args, readonly=False):
        self.need_auth()
        n = self.srv.huge
        self.selected = True
        self.send('* FLAGS (\\Seen \\Deleted)\r\n* %d EXISTS\r\n* 0 RECENT\r\n'
                  '* OK [UIDVALIDITY %d] ok\r\n* OK [UIDNEXT %d] ok\r\n'
                  '%s OK [READ-WRITE] SELECT completed\r\n'
                  % (n, self.srv.uidvalidity, n + 1, tag))

    def cmd_uid_fetch(self, tag, args):
        self.need_selected()
        m = re.match(r'^(\d+):(\d+|\*)$', args[0])
        if not m or 'BODY' in ' '.join(args).upper():
            raise ValueError('only snapshot ranges here')
        hi = self.srv.huge if m.group(2) == '*' else min(int(m.group(2)), self.srv.huge)
        lines = ['* %d FETCH (UID %d RFC822.SIZE 0 FLAGS ())\r\n' % (u, u)
                 for u in range(int(m.group(1)), hi + 1)]
        self.send(''.join(lines) + '%s OK Fetch completed.\r\n' % tag)


@harness.skip_unless_popgate('popgate limits')
class Limits(unittest.TestCase):
    # 70 characters, the longest unique-id RFC 1939 allows: the longest
    # UIDL listing a snapshot can have.
    TEMPLATE = 'u' * 50 + '{uid:010d}{uidvalidity:010d}'

    def huge_gateway(self):
        fake = start_fake(session_class=HugeMailbox)
        port = harness.free_port()
        pg = harness.start_configured_popgate('huge', conf_text(
            ('global', dict(workers=1)),
            ('listener pop3', harness.listener(port, 'none')),
            upstream(fake.port, uidl_template=self.TEMPLATE, command_timeout=60)), port)
        return fake, pg

    def test_snapshot_cap(self):
        fake, pg = self.huge_gateway()
        fake.huge = SNAPSHOT_CAP + 1
        c = POP3Strict(pg.port, timeout=120)
        self.addCleanup(c.close)
        c.ok('USER %s' % USER)
        st = c.cmd('PASS %s' % PASSWORD)
        self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
        self.assertTrue(harness.wait_until(
            lambda: 'snapshot too large' in pg.log_text(), 5), pg.log_tail())
        c.close()
        fake.huge = SNAPSHOT_CAP
        c = POP3Strict(pg.port, timeout=120)
        self.addCleanup(c.close)
        c.login(USER, PASSWORD)
        self.assertEqual(c.stat(), (SNAPSHOT_CAP, 0))
        # The longest listing there can be: whole, under the output cap.
        st, data = c.multi('UIDL')
        self.assertTrue(st.startswith('+OK'), st)
        lines = data.split(b'\r\n')[:-1]
        self.assertEqual(len(lines), SNAPSHOT_CAP)
        self.assertEqual(lines[-1], b'%d %s%010d%010d' % (SNAPSHOT_CAP, b'u' * 50,
                                                          SNAPSHOT_CAP, fake.uidvalidity))
        size = sum(len(b'%d ' % n) + 72 for n in range(1, SNAPSHOT_CAP + 1)) + 3
        self.assertEqual(len(c.last_raw), size)
        self.assertLess(size, OUTPUT_CAP)
        self.assertTrue(c.quit().startswith('+OK'))

    def test_output_cap_holds_for_a_client_that_stops_reading(self):
        """fetch_chunk and fetch_window at their maximum, a 40 MiB message
        and a client that reads nothing for a while: the chunks in flight
        must fit the output cap, so the RETR is whole when it reads again."""
        line = b'%s\r\n' % (b'0123456789abcdef' * 4)
        raw = b'Subject: big\r\n\r\n' + line * (40 * 1024 * 1024 // len(line))
        fake = start_fake([raw])
        port = harness.free_port()
        pg = harness.start_configured_popgate('outcap', conf_text(
            ('global', dict(workers=1)),
            ('listener pop3', harness.listener(port, 'none')),
            upstream(fake.port, fetch_chunk=4194304, fetch_window=8)), port)
        c = POP3Strict(pg.port, timeout=60)
        self.addCleanup(c.close)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.login(USER, PASSWORD)
        c.send('RETR 1\r\n')
        chunks = lambda: [l for l in fake.commands() if re.search(r'BODY\.PEEK\[\]<\d+\.4194304>', l)]
        self.assertTrue(harness.wait_until(chunks, 10), fake.commands())
        # What was asked for arrives at loopback speed; give it time.
        time.sleep(4)
        self.assertNotIn('overflow', pg.log_text())
        self.assertEqual(c.status()[:3], '+OK')
        self.assertEqual(c.read_data(), pop3_form(raw))
        self.assertTrue(c.quit().startswith('+OK'))


if __name__ == '__main__':
    harness.main()
