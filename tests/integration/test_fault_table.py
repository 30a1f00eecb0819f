#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The fault table: one upstream fault at one step of a POP3 session, for
every step and every fault that can happen there, played by
tests/support/fake_imapd.py (its `fault_on` knob and the older ones).

Steps: greeting, CAPABILITY, STARTTLS and CAPABILITY under TLS (through a
gateway with imap+starttls://), LOGIN, AUTHENTICATE PLAIN, SELECT, the snapshot (UID FETCH of
sizes and flags), the tail probe, the first and a later chunk of RETR of
a 600 KiB message, UID STORE \\Deleted and \\Seen, UID EXPUNGE, the verify
(UID SEARCH) and LOGOUT.  Faults: drop, hang, BYE, garbage, a huge literal
and a 10 MiB line everywhere; a wrong UID and a wrong size where FETCH
data is read; a drop inside a body literal; the commit's STORE or EXPUNGE
taking effect with its answer lost; a STARTTLS without handshake or with
bytes injected after its OK.

Each case drives one session (USER/PASS, UIDL, DELE 1, RETR of UID 2,
QUIT) and then checks the invariants:
- nothing is expunged unless it was DELE'd and QUIT answered +OK (a commit
  cut after its STORE or EXPUNGE may remove or flag \\Deleted the DELE'd
  UID, never another one), before and after the next login;
- no \\Seen on a message whose RETR did not end with the terminator;
- RETR data is a prefix of the message the client was told (by UIDL) it
  is, and the terminator comes only after all of it;
- the session ends (its session-end log line) and the upstream connection
  is closed within a time bound, and popgate holds no more file
  descriptors than before;
- popgate still runs and serves a fresh client (login, STAT, QUIT).
"""

import copy
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import imaplib  # noqa: E402
import mailseed  # noqa: E402
from fake_imapd import FakeImapd, tls_server_context  # noqa: E402
from harness import ConnectionClosed, POP3Strict, dovecot_mode, pop3_form  # noqa: E402
from pki import TestPKI  # noqa: E402

USER, PASSWORD = 'alice', 'secret'
UIDVALIDITY = 1700100000
COMMAND_TIMEOUT = 2
LOGOUT_WAIT = 5         # popgate's wait for the LOGOUT answer
SLACK = 8               # seconds allowed beyond a timeout (busy machine)
CHUNK = 262144          # popgate's default fetch_chunk
DELE_UID, RETR_UID = 1, 2

FIX = None
FAKE = None
GATEWAYS = {}           # 'plain' / 'tls' -> Popgate
FD_BASELINE = {}        # 'plain' / 'tls' -> open descriptors when idle
TIMES = []              # (seconds, case name, what the client saw)
T_START = time.monotonic()


def corpus():
    return [mailseed.simple_corpus(1, 'table')[0][1],
            mailseed.big_message(600 * 1024, seed=13, name='table-big'),
            mailseed.standard_corpus()[1][1]]       # dot-torture


def wire_form(raw):
    """RETR data on the wire: CRLF line ends, dot-stuffed, no terminator."""
    return b''.join(b'.' + l if l.startswith(b'.') else l
                    for l in pop3_form(raw).splitlines(keepends=True))


# -- the table ---------------------------------------------------------------

ANY = ('drop', 'hang', 'bye', 'garbage', 'huge_literal', 'long_line')

# step -> (gateway, fault_on step, when, other faults the step needs)
STEPS = {
    'greeting': ('plain', 'GREETING', None, {}),
    'capability': ('plain', 'CAPABILITY', None,
                   {'greeting': '* OK fake imapd ready.\r\n'}),
    'starttls': ('tls', 'STARTTLS', None, {}),
    'capability_tls': ('tls', 'CAPABILITY', None, {}),
    'login': ('plain', 'LOGIN', None, {}),
    'authenticate': ('plain', 'AUTHENTICATE', None,
                     {'caps_pre': 'IMAP4rev1 SASL-IR AUTH=PLAIN LOGINDISABLED'}),
    'select': ('plain', 'SELECT', None, {}),
    'snapshot': ('plain', 'FETCH-SNAPSHOT', None, {}),
    'probe': ('plain', 'FETCH-PROBE', None, {}),
    'chunk_first': ('plain', 'FETCH-BODY', 0, {}),
    'chunk_later': ('plain', 'FETCH-BODY', CHUNK, {}),
    'store_deleted': ('plain', 'UID STORE', '\\Deleted', {}),
    'store_seen': ('plain', 'UID STORE', '\\Seen', {}),
    'expunge': ('plain', 'UID EXPUNGE', None, {}),
    'verify': ('plain', 'UID SEARCH', None, {}),
    'logout': ('plain', 'LOGOUT', None, {}),
}

# Steps after the commit's first write: the DELE'd UID may be flagged or
# gone even when QUIT did not get +OK.
COMMIT_STEPS = {'store_deleted', 'store_seen', 'expunge', 'verify', 'logout'}

# (step, fault, faults, evidence in the fake's log) beyond ANY x STEPS:
# data faults where FETCH data is read, and the older knobs.
EXTRA = [
    ('snapshot', 'wrong_uid', None, None),
    ('snapshot', 'wrong_size', {'size_lie': {RETR_UID: 5000}}, 'size of UID 2'),
    ('probe', 'wrong_uid', None, None),
    ('probe', 'wrong_size', None, None),
    ('chunk_first', 'wrong_uid', {'foreign_body': {RETR_UID: (3, 0)}}, 'sent as UID 3'),
    ('chunk_later', 'wrong_uid', {'foreign_body': {RETR_UID: (3, CHUNK)}}, 'sent as UID 3'),
    ('chunk_first', 'wrong_size', None, None),
    ('chunk_later', 'wrong_size', None, None),
    ('chunk_first', 'drop_mid_literal',
     {'drop_mid_literal_uid': RETR_UID, 'drop_at': 1000}, 'dropped at'),
    ('chunk_later', 'drop_mid_literal',
     {'drop_mid_literal_uid': RETR_UID, 'drop_at': CHUNK + 1000}, 'dropped at'),
    ('store_deleted', 'drop_after', None, None),
    ('expunge', 'drop_after', None, None),
    ('starttls', 'no_handshake', {'starttls_hang': True}, 'no TLS handshake'),
    ('starttls', 'injected', {'starttls_inject': '* OK injected\r\n'}, 'injected after'),
]


def make_case(step, fault, faults=None, evidence=None):
    gw, key, when, base = STEPS[step]
    if faults is None:
        faults = {'fault_on': {key: fault if when is None else (fault, when)}}
        evidence = '* fault: %s on %s' % (fault, key)
    return {'name': '%s_%s' % (step, fault), 'step': step, 'fault': fault, 'gw': gw,
            'faults': dict(base, **faults), 'evidence': evidence}


CASES = [make_case(s, f) for s in STEPS for f in ANY] + [make_case(*e) for e in EXTRA]


# -- module set-up -------------------------------------------------------------

def gateway(url, ca_file=None):
    lines = ['[global]', 'workers = 1', '',
             '[listener pop3]', 'address = 127.0.0.1:{port}', '',
             '[upstream]', 'url = %s' % url,
             'connect_timeout = %d' % COMMAND_TIMEOUT,
             'command_timeout = %d' % COMMAND_TIMEOUT]
    if ca_file is not None:
        lines.append('ca_file = %s' % ca_file)
    lines += ['', '[session]', 'auth_failure_delay = 0ms', '']
    pg = FIX.pop3_server(config_text='\n'.join(lines), upstream_port=FAKE.port)
    if not harness.wait_until(lambda: 'upstream-probe' in pg.log_text(), 20):
        raise AssertionError('no upstream-probe line:\n' + pg.log_tail())
    return pg


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def open_fds(pg):
    try:
        return len(os.listdir('/proc/%d/fd' % pg.pid))
    except OSError:
        return -1


def print_times():
    if not TIMES:
        return
    sys.stderr.write('\n%-30s %5s  %s\n' % ('case', 'secs', 'PASS / RETR / QUIT'))
    for t, n, seen in TIMES:
        sys.stderr.write('%-30s %5.1f  %s\n' % (n, t, seen))
    sys.stderr.write('fault table: %d cases in %.1fs (file %.1fs)\n'
                     % (len(TIMES), sum(t for t, _, _ in TIMES), time.monotonic() - T_START))


def setUpModule():
    global FIX, FAKE
    FIX = harness.setup_module(dovecot=False)
    pki = TestPKI(FIX.subdir('pki'))
    cert, key = pki.cert('localhost')
    FAKE = FakeImapd(users={USER: PASSWORD}, messages=corpus(), uidvalidity=UIDVALIDITY,
                     tls_context=tls_server_context(cert, key))
    unittest.addModuleCleanup(FAKE.stop)
    FAKE.start()
    unittest.addModuleCleanup(print_times)
    if dovecot_mode():
        return
    GATEWAYS['plain'] = gateway('imap://127.0.0.1:%d' % FAKE.port)
    GATEWAYS['tls'] = gateway('imap+starttls://localhost:%d' % FAKE.port, pki.ca_cert)


# -- the cases -------------------------------------------------------------------

class FakeFaultKnobs(unittest.TestCase):
    """fault_on does what the table relies on, seen by imaplib (runs in
    both modes)."""

    def setUp(self):
        FAKE.reset(corpus(), uidvalidity=UIDVALIDITY)

    def imap(self):
        m = imaplib.IMAP4('127.0.0.1', FAKE.port, timeout=5)
        self.addCleanup(m.shutdown)
        m.login(USER, PASSWORD)
        m.select('INBOX')
        return m

    def test_steps_and_conditions(self):
        FAKE.faults['fault_on'] = {'FETCH-BODY': ('bye', 100),
                                   'UID STORE': ('drop_after', '\\Deleted')}
        m = self.imap()
        typ, data = m.uid('FETCH', '2', '(RFC822.SIZE)')    # the snapshot step
        self.assertEqual(typ, 'OK')
        typ, data = m.uid('FETCH', '2', '(BODY.PEEK[]<0.100>)')     # before offset 100
        self.assertEqual(data[0][1], corpus()[1][:100])
        typ, data = m.uid('STORE', '3', '+FLAGS.SILENT', r'(\Seen)')    # no \Deleted
        self.assertEqual(typ, 'OK')
        with self.assertRaises((imaplib.IMAP4.abort, OSError)):
            m.uid('FETCH', '2', '(BODY.PEEK[]<100.100>)')
        self.assertIn('* fault: bye on FETCH-BODY', [l for _, l in FAKE.log])
        m = self.imap()
        with self.assertRaises((imaplib.IMAP4.abort, OSError)):
            m.uid('STORE', '1', '+FLAGS.SILENT', r'(\Deleted)')
        self.assertEqual(FAKE.flags(1), {'\\Deleted'}, 'drop_after: the STORE took effect')
        self.assertEqual(FAKE.flags(3), {'\\Seen'})

    def test_data_faults(self):
        FAKE.faults['fault_on'] = {'FETCH-SNAPSHOT': 'wrong_size', 'FETCH-BODY': 'wrong_uid'}
        m = self.imap()
        typ, data = m.uid('FETCH', '1', '(UID RFC822.SIZE)')
        self.assertIn(b'RFC822.SIZE %d' % (len(corpus()[0]) + 5000), data[0])
        typ, data = m.uid('FETCH', '1', '(BODY.PEEK[])')
        self.assertRegex(data[0][0], rb'UID 2 BODY\[\]')


@harness.skip_unless_popgate('popgate in front of the scripted upstream')
class FaultTable(unittest.TestCase):
    """One generated test per case of CASES (test_<step>_<fault>)."""

    case_no = 0

    def run_case(self, case):
        t0 = time.monotonic()
        FaultTable.case_no += 1
        # A new UIDVALIDITY per case: no state from an earlier case (tail
        # cache, pending deletions) applies, so every step is reached.
        FAKE.reset(corpus(), uidvalidity=UIDVALIDITY + FaultTable.case_no)
        before = dict(zip(FAKE.uids(), corpus()))
        pg = GATEWAYS[case['gw']]
        FAKE.faults.update(copy.deepcopy(case['faults']))
        self.addCleanup(FAKE.faults.clear)
        t1 = time.monotonic()
        o = self.session(pg, before)
        bound = COMMAND_TIMEOUT * 2 + SLACK
        self.assertLess(time.monotonic() - t1, bound, 'the session took longer than '
                        'two command timeouts and %ds' % SLACK)
        # LOGOUT may reach the fake after the client saw QUIT's answer.
        self.assertTrue(harness.wait_until(lambda: any(
            l.startswith('* fault') and case['evidence'] in l for _, l in FAKE.log), SLACK),
            'the fault was not played (%r); fake log: %s'
            % (case['evidence'], [l for _, l in FAKE.log][-12:]))
        self.check_retr(o, before)
        self.check_mailbox(case, o, before, 'after the faulty session')
        self.check_freed(case, pg, o)
        FAKE.faults.clear()
        self.check_fresh_client(pg)
        self.check_mailbox(case, o, before, 'after the next session')
        retr = o['retr'] and '%s %d' % (o['retr'][0], len(o['retr'][1]))
        TIMES.append((time.monotonic() - t0, case['name'], ' / '.join(
            str(x)[:24] for x in (o['pass'], retr or '-', o['quit']))))

    def session(self, pg, before):
        """USER/PASS, UIDL, DELE 1, RETR of UID 2, QUIT, as far as popgate
        lets it go; what the client was told."""
        o = {'pass': None, 'uids': {}, 'dele': None, 'retr': None, 'retr_uid': None,
             'quit': None}
        c = POP3Strict(pg.port, timeout=COMMAND_TIMEOUT + LOGOUT_WAIT + SLACK)
        self.addCleanup(c.close)
        o['port'] = c.sock.getsockname()[1]
        try:
            c.ok('USER %s' % USER)
            o['pass'] = c.cmd('PASS %s' % PASSWORD)
            if o['pass'].startswith('+OK'):
                self.transaction(c, o)
            else:
                self.assertRegex(o['pass'], r'^-ERR \[SYS/(TEMP|PERM)\]')
            o['quit'] = c.quit()
            self.assertTrue(c.expect_eof(SLACK), 'connection open after QUIT')
        except ConnectionClosed:
            pass        # popgate may close a session whose upstream failed
        c.close()
        return o

    def transaction(self, c, o):
        for n, uidl in c.uidl():
            self.assertEqual(int(uidl[8:], 16), UIDVALIDITY + FaultTable.case_no, uidl)
            o['uids'][n] = int(uidl[:8], 16)
        if c.cmd('DELE 1').startswith('+OK'):
            o['dele'] = o['uids'][1]
        n = [k for k, u in o['uids'].items() if u == RETR_UID]
        n = n[0] if n else 2
        o['retr_uid'] = o['uids'].get(n)
        st = c.cmd('RETR %d' % n)
        if not st.startswith('+OK'):
            self.assertRegex(st, r'^-ERR')
            return
        try:
            c.read_data()
            o['retr'] = ('complete', c.last_raw)
        except ConnectionClosed as e:
            o['retr'] = ('cut', e.partial)
            raise

    def check_retr(self, o, before):
        if o['retr'] is None:
            return
        how, data = o['retr']
        self.assertIn(o['retr_uid'], before, 'RETR sent data for an unknown UID')
        want = wire_form(before[o['retr_uid']])
        if how == 'complete':
            self.assertTrue(data == want + b'.\r\n', 'RETR ended with the terminator '
                            'after %d octets that are not UID %d (%d octets, first '
                            'difference at %d)' % (len(data) - 3, o['retr_uid'], len(want),
                                                   first_difference(data, want)))
        else:
            self.assertFalse(data.endswith(b'\r\n.\r\n'), 'terminator after a cut')
            self.assertTrue(want.startswith(data), 'RETR data (%d octets) is not a '
                            'prefix of UID %d' % (len(data), o['retr_uid']))

    def check_mailbox(self, case, o, before, when):
        quit_ok = o['dele'] is not None and (o['quit'] or '').startswith('+OK')
        gone = set(before) - set(FAKE.uids())
        commit = case['step'] in COMMIT_STEPS and o['dele'] is not None
        if quit_ok:
            self.assertEqual(gone, {o['dele']}, 'QUIT +OK, DELE\'d UID %s (%s)'
                             % (o['dele'], when))
        elif commit:
            self.assertLessEqual(gone, {o['dele']}, 'expunged %s: %s' % (when, gone))
        else:
            self.assertEqual(gone, set(), 'expunged without a successful QUIT (%s)' % when)
        retr_done = o['retr'] is not None and o['retr'][0] == 'complete'
        for uid in FAKE.uids():
            flags = FAKE.flags(uid)
            if '\\Deleted' in flags:
                self.assertTrue(commit and uid == o['dele'],
                                'UID %d flagged \\Deleted %s' % (uid, when))
            if '\\Seen' in flags:
                self.assertTrue(retr_done and uid == o['retr_uid'],
                                'UID %d flagged \\Seen without a whole RETR (%s)' % (uid, when))

    def check_freed(self, case, pg, o):
        peer = re.compile(r'event=session-end .*peer=127\.0\.0\.1:%d ' % o['port'])
        bound = COMMAND_TIMEOUT * 2 + SLACK
        self.assertTrue(harness.wait_until(lambda: peer.search(pg.log_text()), bound),
                        'no session-end within %ds for port %d:\n%s'
                        % (bound, o['port'], pg.log_tail()))
        bound = COMMAND_TIMEOUT + LOGOUT_WAIT + SLACK
        self.assertTrue(harness.wait_until(lambda: FAKE.open_connections() == 0, bound),
                        'the upstream connection is still open after %ds' % bound)
        base = FD_BASELINE[case['gw']]
        self.assertTrue(harness.wait_until(lambda: open_fds(pg) <= base, bound),
                        'popgate holds %d descriptors, %d when idle'
                        % (open_fds(pg), base))

    def check_fresh_client(self, pg):
        self.assertTrue(pg.running(), 'popgate exited:\n' + pg.log_tail())
        c = POP3Strict(pg.port, timeout=COMMAND_TIMEOUT + SLACK)
        try:
            c.login(USER, PASSWORD)
            count, _ = c.stat()
            self.assertTrue(c.quit().startswith('+OK'))
        finally:
            c.close()
        self.assertEqual(count, len(FAKE.uids()), 'STAT after the fault')


def _baseline(gw):
    """A healthy session on gw, then the descriptors popgate holds idle."""
    pg = GATEWAYS[gw]
    FAKE.reset(corpus(), uidvalidity=UIDVALIDITY)
    c = POP3Strict(pg.port)
    try:
        c.login(USER, PASSWORD)
        for n, raw in enumerate(corpus(), 1):
            if c.retr(n) != pop3_form(raw):
                raise AssertionError('healthy RETR %d differs' % n)
        c.quit()
    finally:
        c.close()
    harness.wait_until(lambda: FAKE.open_connections() == 0, LOGOUT_WAIT + SLACK)
    FD_BASELINE[gw] = open_fds(pg)
    if FD_BASELINE[gw] <= 0:
        raise AssertionError('cannot count the descriptors of popgate %s' % pg.pid)


def _healthy(self, gw):
    """The scenario without a fault: everything the invariants allow at
    most happens (the checks can tell a commit from none)."""
    if gw not in FD_BASELINE:
        _baseline(gw)
    FaultTable.case_no += 1
    FAKE.reset(corpus(), uidvalidity=UIDVALIDITY + FaultTable.case_no)
    before = dict(zip(FAKE.uids(), corpus()))
    o = self.session(GATEWAYS[gw], before)
    self.assertTrue(o['quit'].startswith('+OK'), o)
    self.assertEqual(o['retr'][0], 'complete')
    self.check_retr(o, before)
    self.assertEqual(FAKE.uids(), [2, 3])
    self.assertEqual(FAKE.flags(RETR_UID), {'\\Seen'})
    self.check_freed({'gw': gw}, GATEWAYS[gw], o)


FaultTable.test_0_healthy_plain = lambda self: _healthy(self, 'plain')
FaultTable.test_0_healthy_tls = lambda self: _healthy(self, 'tls')


def _case_method(case):
    def test(self):
        for gw in GATEWAYS:
            if gw not in FD_BASELINE:
                _baseline(gw)
        self.run_case(case)
    test.__doc__ = '%s at step %s' % (case['fault'], case['step'])
    return test


for _case in CASES:
    _name = 'test_%s' % _case['name']
    assert not hasattr(FaultTable, _name), _name
    setattr(FaultTable, _name, _case_method(_case))


if __name__ == '__main__':
    harness.main()
