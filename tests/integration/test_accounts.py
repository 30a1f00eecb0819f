#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Device accounts, routing and OAuth2 token sources (issue 4), end to end:

* a local OAuth2 authorization server (tests/support/oauth2_server.py:
  refresh_token and client_credentials grants, short-lived tokens, rotating
  refresh tokens, device codes, introspection) and a private Dovecot whose
  oauth2 passdb validates bearer tokens against it;
* popgate with an accounts file: devices log in with their own secret (or
  APOP), popgate logs in upstream with XOAUTH2 and the account's token;
  Dovecot sees only OAuth2 logins for those mailboxes;
* token expiry under many sessions costs one refresh per source; a rotated
  refresh token is on disk (0600) and survives a restart; the token server
  down gives -ERR [SYS/TEMP] and popgate recovers by itself;
* a device outside its networks, a wrong secret and an unknown domain get
  the same -ERR [AUTH] after the same delay;
* APOP with fetchmail and mpop, only where an APOP secret exists;
* the admin commands (list, add, test, bootstrap);
* no secret, token or refresh token in any log or command output.
"""

import concurrent.futures
import os
import pwd
import re
import socket
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from clients import Fetchmail, Mpop  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from harness import POP3Strict  # noqa: E402
from oauth2_server import OAuth2Server  # noqa: E402
from popgate import Popgate  # noqa: E402

USERS = {'alice': 'Alice-Upstream-Pw-1', 'bob': 'Bob-Upstream-Pw-2',
         'carol': 'Carol-Upstream-Pw-3'}
SECRETS = {'printer1': 'Printer1-Local-Secret', 'printer2': 'Printer2-Local-Secret',
           'scanner': 'Scanner-Local-Secret', 'legacy': 'Legacy-Local-Secret',
           'fax': 'Fax-Local-Secret', 'newdev': 'Newdev-Local-Secret'}
APOP_SECRET = 'Apop-Shared-Secret-7'
CLIENT_ID = 'popgate-test'
CLIENT_SECRET = 'Client-Secret-Of-Popgate-9'
LIFETIME = 4            # access tokens live this long (seconds)
DELAY_MS = 400          # auth_failure_delay
MESSAGES = 4            # per mailbox

FIX = None
AS = None               # the authorization server
DC = None               # Dovecot with the oauth2 passdb
STATE = None            # state_directory (refresh tokens)
ACCOUNTS = None         # the accounts file
CONF = None             # popgate.conf text
PG = None               # the running popgate
OUTPUTS = []            # admin command outputs, for the hygiene check
ALL_LOGS = []           # every popgate log file this file used


def nobody():
    pw = pwd.getpwnam('nobody')
    return pw.pw_uid, pw.pw_gid


METRICS_PORT = harness.free_ports(1)[0]


def config_text(pop3_port, apop_off_port):
    oauth = dict(token_url=AS.token_url, client_id=CLIENT_ID,
                 client_secret=CLIENT_SECRET, scope='mail')
    sections = [
        ('global', dict(workers=2, accounts_file=ACCOUNTS, state_directory=STATE,
                        metrics_address='127.0.0.1:%d' % METRICS_PORT,
                        oauth2_refresh_margin='1s', oauth2_retry_min='300ms',
                        oauth2_retry_max='1s', oauth2_http_timeout='3s')),
        ('listener pop3', dict(address='127.0.0.1:%d' % pop3_port)),
        ('listener noapop', dict(address='127.0.0.1:%d' % apop_off_port, apop='no')),
        ('upstream', dict(url='imap://127.0.0.1:%d' % DC.imap_port,
                          connect_timeout=5, command_timeout=10)),
        ('upstream dc2', dict(url='imap://127.0.0.1:%d' % DC.imap_port,
                              sasl='oauthbearer')),
        # Pass-through logins: only these domains; no "*".
        ('routes', {'example.com': 'default'}),
        ('oauth2 alice', dict(oauth, refresh_token_file=os.path.join(STATE, 'alice.refresh'),
                              device_url=AS.device_url)),
        ('oauth2 alice-boot', dict(oauth, device_url=AS.device_url)),
        ('oauth2 bob', dict(oauth, grant='client_credentials')),
        ('session', dict(auth_failure_delay='%dms' % DELAY_MS,
                         auth_failure_delay_max='5s')),
    ]
    return harness.popgate_conf(sections)


def popgate_cmd(*args, stdin=None):
    """popgate -c CONF ARGS...: (exit status, stdout + stderr)."""
    r = harness.run_tool([harness.POPGATE, '-c', PG.conf_path] + list(args),
                         timeout=60, input=(stdin or '').encode(),
                         stderr=subprocess.STDOUT)
    out = r.stdout.decode('utf-8', 'replace')
    OUTPUTS.append(out)
    return r.returncode, out


def start_popgate():
    global PG
    ports = harness.free_ports(2)
    pg = Popgate(harness.POPGATE, FIX.subdir('popgate'), DC.imap_port,
                 config_text=CONF or config_text(*ports), port=None)
    FIX.servers.append(pg)
    pg.start()
    ALL_LOGS.append(pg.log_path)
    PG = pg
    return pg


def add_account(name, *options, more_stdin=''):
    rc, out = popgate_cmd('account', 'add', name, *options,
                          stdin=SECRETS[name] + '\n' + more_stdin)
    if rc != 0:
        raise AssertionError('account add %s: %s' % (name, out))


DIRECT_IMAP = [0]       # password logins of alice or bob not by popgate


def password_logins():
    return len([l for l in DC.login_lines()
                if re.search(r'user=<(alice|bob)>', l)
                and not re.search(r'method=(XOAUTH2|OAUTHBEARER)', l)])


def imap(user):
    if user in ('alice', 'bob'):
        DIRECT_IMAP[0] += 1
    return DC.imap(user)


def setUpModule():
    global FIX, AS, DC, STATE, ACCOUNTS, CONF
    FIX = harness.setup_module(dovecot=False)
    AS = OAuth2Server(lifetime=LIFETIME, rotate=True)
    AS.start()
    unittest.addModuleCleanup(AS.stop)
    AS.add_client(CLIENT_ID, CLIENT_SECRET, cc_user='bob')
    AS.device_user = 'alice'
    DC = Dovecot(os.path.join(FIX.root, 'dovecot'), users=USERS, pop3=False,
                 oauth2_introspection_port=AS.port)
    unittest.addModuleCleanup(DC.stop)
    DC.start()
    for user in USERS:
        m = imap(user)
        try:
            for _, raw in mailseed.simple_corpus(MESSAGES, 'acct-' + user):
                mailseed.append(m, 'INBOX', raw)
        finally:
            m.logout()
    DIRECT_IMAP[0] = password_logins()      # seeding (and Dovecot's own check)
    uid, gid = nobody()
    STATE = FIX.subdir('state')
    os.chown(STATE, uid, gid)
    os.chmod(STATE, 0o700)
    path = os.path.join(STATE, 'alice.refresh')
    with open(path, 'w') as f:
        f.write(AS.issue_refresh_token(CLIENT_ID, 'alice') + '\n')
    os.chown(path, uid, gid)
    os.chmod(path, 0o600)
    d = FIX.subdir('etc')
    ACCOUNTS = os.path.join(d, 'accounts')
    with open(ACCOUNTS, 'w') as f:
        f.write('# devices\n')
    # As in production: root:popgate 0640; here the group is nobody's.
    os.chown(ACCOUNTS, 0, gid)
    os.chmod(ACCOUNTS, 0o640)
    ports = harness.free_ports(2)
    CONF = config_text(*ports)
    pg = start_popgate()
    add_account('printer1', 'upstream=default', 'user=alice', 'token=alice',
                'networks=127.0.0.0/8', 'apop=' + APOP_SECRET)
    add_account('printer2', 'upstream=default', 'user=alice', 'token=alice',
                'networks=127.0.0.2/32')
    add_account('scanner', 'upstream=dc2', 'user=bob', 'token=bob')
    # password=-: the upstream password from stdin, not the command line
    add_account('legacy', 'upstream=default', 'user=carol', 'password=-',
                more_stdin=USERS['carol'] + '\n')
    # An account whose upstream password is wrong: SYS/TEMP for the device.
    add_account('fax', 'upstream=default', 'user=carol', 'password=not-carols')
    os.kill(pg.pid, 1)          # SIGHUP: the new accounts
    if not harness.wait_until(lambda: 'accounts=5' in pg.log_text(), 10):
        raise AssertionError('the reload with 5 accounts was not logged:\n'
                             + pg.log_tail())


def pop3(port=None, source=None, timeout=30):
    """A POP3Strict to popgate, from the loopback address `source`."""
    if source is None:
        return POP3Strict(port or PG.port, timeout=timeout)
    s = socket.create_connection(('127.0.0.1', port or PG.port), timeout=timeout,
                                 source_address=(source, 0))
    c = POP3Strict.__new__(POP3Strict)
    c._attach(s, True)
    return c


def login(user, secret, source=None):
    """(reply to PASS, seconds it took, the connection)."""
    c = pop3(source=source)
    c.ok('USER %s' % user)
    t0 = time.monotonic()
    st = c.cmd('PASS %s' % secret)
    return st, time.monotonic() - t0, c


def bye(c):
    """QUIT, then close our end."""
    try:
        c.quit()
    finally:
        c.close()


def expire_tokens():
    time.sleep(LIFETIME + 0.3)


def concurrent_logins(n):
    """n logins at once, printer1 and scanner in turn: [(user, reply)]."""
    def one(i):
        user = ('printer1', 'scanner')[i % 2]
        st, _, c = login(user, SECRETS[user])
        try:
            if st.startswith('+OK'):
                bye(c)
        finally:
            c.close()
        return user, st

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        return list(ex.map(one, range(n)))


def login_until_ok(user, within=15):
    """Logs user in until +OK (a source may be backing off); the last reply."""
    deadline = time.monotonic() + within
    while True:
        st, _, c = login(user, SECRETS[user])
        if st.startswith('+OK'):
            bye(c)
            return st
        c.close()
        if time.monotonic() > deadline:
            return st
        time.sleep(0.3)


def token_refusals(source):
    """popgate_oauth2_token_refusals_total of source, or None."""
    import urllib.request
    body = urllib.request.urlopen('http://127.0.0.1:%d/metrics' % METRICS_PORT,
                                  timeout=10).read().decode()
    m = re.search(r'(?m)^popgate_oauth2_token_refusals_total\{source="%s"\} (\d+)$'
                  % re.escape(source), body)
    return int(m.group(1)) if m else None


class LongTokens:
    """Within: access tokens live long enough that no refresh ahead of
    expiry muddles a grant count. After: short ones again, which popgate
    then holds (the long ones are revoked and replaced)."""

    def __enter__(self):
        AS.lifetime = 120
        expire_tokens()         # the short ones popgate holds run out
        return self

    def __exit__(self, *exc):
        AS.lifetime = LIFETIME
        AS.revoke_access()
        for user in ('printer1', 'scanner'):
            login_until_ok(user)
        return False


@harness.skip_unless_popgate('device accounts are popgate configuration')
class DeviceLogins(unittest.TestCase):
    def test_device_reads_and_deletes_with_oauth2(self):
        before = [l for l in DC.login_lines()]
        st, _, c = login('scanner', SECRETS['scanner'])
        self.assertTrue(st.startswith('+OK'), st)
        m = imap('bob')
        try:
            uids = mailseed.uids(m)
            want = [mailseed.fetch_raw(m, u) for u in uids]
        finally:
            m.logout()
        self.assertEqual(c.stat()[0], len(uids))
        self.assertEqual(c.retr(1), harness.pop3_form(want[0]))
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        self.assertTrue(c.quit().startswith('+OK'))
        m = imap('bob')
        try:
            self.assertEqual(mailseed.uids(m), uids[1:])
        finally:
            m.logout()
        # Dovecot saw an OAUTHBEARER login for bob (this upstream's sasl).
        new = DC.login_lines()[len(before):]
        self.assertTrue(any('user=<bob>' in l and 'method=OAUTHBEARER' in l
                            for l in new), new)
        st, _, c = login('printer1', SECRETS['printer1'])
        self.assertTrue(st.startswith('+OK'), st)
        self.assertEqual(c.stat()[0], MESSAGES)
        bye(c)
        self.assertTrue(any('user=<alice>' in l and 'method=XOAUTH2' in l
                            for l in DC.login_lines()))

    def test_password_account(self):
        st, _, c = login('legacy', SECRETS['legacy'])
        self.assertTrue(st.startswith('+OK'), st)
        self.assertEqual(c.stat()[0], MESSAGES)
        bye(c)


@harness.skip_unless_popgate('token sources are popgate configuration')
class Tokens(unittest.TestCase):
    def test_a_one_refresh_per_source_under_expiry(self):
        # Warm both sources, let the tokens expire, then many sessions.
        for user in ('printer1', 'scanner'):
            st, _, c = login(user, SECRETS[user])
            self.assertTrue(st.startswith('+OK'), st)
            bye(c)
        expire_tokens()
        r0, cc0 = AS.refreshes('alice'), AS.cc_grants(CLIENT_ID)
        replies = [st for _, st in concurrent_logins(24)]
        for st in replies:
            # one session per mailbox at a time: the others are IN-USE
            self.assertRegex(st, r'^(\+OK|-ERR \[IN-USE\])', replies)
        self.assertTrue(any(st.startswith('+OK') for st in replies))
        self.assertEqual(AS.refreshes('alice') - r0, 1)
        self.assertEqual(AS.cc_grants(CLIENT_ID) - cc0, 1)

    def test_b_rotated_token_on_disk_and_after_restart(self):
        global PG
        st, _, c = login('printer1', SECRETS['printer1'])
        self.assertTrue(st.startswith('+OK'), st)
        bye(c)
        path = os.path.join(STATE, 'alice.refresh')
        with open(path) as f:
            self.assertEqual(f.read().strip(), AS.current_refresh_token(CLIENT_ID, 'alice'))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        # A new process starts from the file: no stale token is offered.
        PG.stop()
        start_popgate()
        expire_tokens()
        r0, n0 = AS.refreshes('alice'), len(AS.token_requests())
        st, _, c = login('printer1', SECRETS['printer1'])
        self.assertTrue(st.startswith('+OK'), st)
        bye(c)
        self.assertEqual(AS.refreshes('alice') - r0, 1)
        self.assertFalse([r for r in AS.token_requests()[n0:]
                          if r.get('user') == 'alice' and not r.get('ok')])
        with open(path) as f:
            self.assertEqual(f.read().strip(), AS.current_refresh_token(CLIENT_ID, 'alice'))

    def test_c_token_server_down_then_back(self):
        AS.down()
        try:
            expire_tokens()
            t0 = time.monotonic()
            st, dt, c = login('printer1', SECRETS['printer1'])
            c.close()
            self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
            self.assertLess(dt, 5)
        finally:
            AS.up()
        # No admin action: a later login works once the back-off is over.
        deadline = time.monotonic() + 10
        while True:
            st, _, c = login('printer1', SECRETS['printer1'])
            if st.startswith('+OK'):
                bye(c)
                break
            c.close()
            self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
            self.assertLess(time.monotonic(), deadline, 'no recovery')
            time.sleep(0.3)
        self.assertIn('event=oauth2-refresh', PG.log_text())
        del t0

    def test_d_revoked_token_renewed_in_the_same_login(self):
        # The upstream refuses a token before its time (revoked): popgate
        # renews it and logs in again, and the device never notices.
        with LongTokens():
            st, _, c = login('printer1', SECRETS['printer1'])
            self.assertTrue(st.startswith('+OK'), st)
            bye(c)
            r0, n0 = AS.refreshes('alice'), len(PG.log_text())
            f0 = token_refusals('alice')
            self.assertGreaterEqual(AS.revoke_access('alice'), 1)
            st, _, c = login('printer1', SECRETS['printer1'])
            self.assertTrue(st.startswith('+OK'), st)
            self.assertEqual(c.stat()[0], MESSAGES)
            bye(c)
            self.assertEqual(AS.refreshes('alice') - r0, 1)
            self.assertIsNotNone(f0)
            self.assertEqual(token_refusals('alice'), f0 + 1)
            renewed = harness.log_events(PG.log_text()[n0:], 'oauth2-renewed')
            self.assertEqual(len(renewed), 1, PG.log_tail())
            self.assertEqual(renewed[0]['source'], 'alice')
            self.assertNotEqual(renewed[0]['refused_fp'], renewed[0]['token_fp'])

    def test_e_many_logins_after_one_revocation_one_grant(self):
        # Every login in flight holds the revoked token and is refused;
        # each source still asks for one new token, and nobody hears
        # SYS/TEMP (one session per mailbox, the others IN-USE).
        with LongTokens():
            for user in ('printer1', 'scanner'):
                st, _, c = login(user, SECRETS[user])
                self.assertTrue(st.startswith('+OK'), st)
                bye(c)
            r0, cc0 = AS.refreshes('alice'), AS.cc_grants(CLIENT_ID)
            f0 = token_refusals('alice')
            self.assertGreaterEqual(AS.revoke_access(), 2)
            replies = concurrent_logins(16)
            for _, st in replies:
                self.assertRegex(st, r'^(\+OK|-ERR \[IN-USE\])', replies)
            for user in ('printer1', 'scanner'):
                self.assertTrue(any(u == user and st.startswith('+OK')
                                    for u, st in replies), replies)
            self.assertEqual(AS.refreshes('alice') - r0, 1)
            self.assertEqual(AS.cc_grants(CLIENT_ID) - cc0, 1)
            # Each printer1 login that held the revoked token, no more.
            self.assertIn(token_refusals('alice') - f0, range(1, 9))

    def test_f_revoked_token_and_token_endpoint_failing_is_sys_temp(self):
        with LongTokens():
            st, _, c = login('printer1', SECRETS['printer1'])
            self.assertTrue(st.startswith('+OK'), st)
            bye(c)
            n0, t0 = len(PG.log_text()), len(AS.token_requests())
            f0 = token_refusals('alice')
            AS.revoke_access('alice')
            # The token endpoint fails; not the whole server, which also
            # answers Dovecot's introspection.
            AS.fail_next(1, 503)
            st, dt, c = login('printer1', SECRETS['printer1'])
            c.close()
            self.assertEqual([r['status'] for r in AS.token_requests()[t0:]], [503])
            # The device's own secret was right: not [AUTH], and at once.
            self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
            self.assertLess(dt, 5)
            fails = [e for e in harness.log_events(PG.log_text()[n0:], 'login')
                     if e.get('user') == 'printer1']
            self.assertEqual(len(fails), 1, fails)
            self.assertEqual(fails[0]['result'], 'temp', fails)
            self.assertIn('upstream refused the OAuth2 token, no new one',
                          fails[0]['reason'])
            self.assertEqual(token_refusals('alice'), f0 + 1)
            # Once the source's back-off is over, it recovers by itself.
            self.assertTrue(login_until_ok('printer1').startswith('+OK'))


@harness.skip_unless_popgate('device accounts are popgate configuration')
class SecondAttempt(unittest.TestCase):
    def test_device_state_does_not_carry_over(self):
        # A device whose upstream refuses its credential hears SYS/TEMP;
        # a pass-through attempt after it on the same connection must be
        # judged on its own: AUTH, after the failure delay.
        c = pop3(source='127.0.0.7')
        try:
            c.ok('USER fax')
            st = c.cmd('PASS %s' % SECRETS['fax'])
            self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
            c.ok('USER alice@example.com')
            t0 = time.monotonic()
            st = c.cmd('PASS wrong-guess')
            dt = time.monotonic() - t0
            self.assertTrue(st.startswith('-ERR [AUTH]'), st)
            self.assertGreaterEqual(dt, DELAY_MS / 1000.0 - 0.02)
        finally:
            c.close()
        self.assertRegex(PG.log_text(), r'event=login .*user=alice@example.com method=USER '
                         r'result=auth delay_ms=%d upstream=default' % DELAY_MS)


@harness.skip_unless_popgate('metrics are popgate\'s')
class TokenMetrics(unittest.TestCase):
    def test_seconds_until_expiry_per_source(self):
        st, _, c = login('printer1', SECRETS['printer1'])
        self.assertTrue(st.startswith('+OK'), st)
        bye(c)
        import urllib.request
        body = urllib.request.urlopen('http://127.0.0.1:%d/metrics' % METRICS_PORT,
                                      timeout=10).read().decode()
        m = re.search(r'^popgate_oauth2_token_expiry_seconds\{source="alice"\} (-?\d+)$',
                      body, re.M)
        self.assertIsNotNone(m, body)
        self.assertGreater(int(m.group(1)), 0)
        self.assertLessEqual(int(m.group(1)), LIFETIME)
        self.assertRegex(body, r'(?m)^popgate_oauth2_refresh_token\{source="alice"\} 1$')
        self.assertRegex(body, r'(?m)^popgate_oauth2_refresh_token\{source="bob"\} 0$')


@harness.skip_unless_popgate('device accounts are popgate configuration')
class SameRefusal(unittest.TestCase):
    def test_outside_network_wrong_secret_unknown_domain_alike(self):
        cases = [('printer2', SECRETS['printer2'], '127.0.0.3'),     # outside 127.0.0.2/32
                 ('printer1', 'not-the-secret', '127.0.0.4'),
                 ('someone@unknown.example', 'whatever', '127.0.0.5'),
                 ('nosuchdevice', 'whatever', '127.0.0.6')]
        # Two rounds, each address once per round: the n-th failure from
        # an address waits DELAY_MS * 2^(n-1).  What a case takes beyond
        # that is its own work (a hash, a lookup); its least excess over
        # the rounds is free of most scheduling noise of a busy machine.
        replies, excess = [], [[] for _ in cases]
        for rnd in range(2):
            delay = DELAY_MS / 1000.0 * 2 ** rnd
            for i, (user, secret, source) in enumerate(cases):
                st, dt, c = login(user, secret, source=source)
                c.close()
                replies.append(st)
                excess[i].append(dt - delay)
        least = [min(e) for e in excess]
        sys.stderr.write('refusal time beyond the delay (outside network, wrong secret, '
                         'unknown domain, unknown name): %s\n'
                         % ', '.join('%.3f s' % t for t in least))
        self.assertEqual(len(set(replies)), 1, replies)
        self.assertTrue(replies[0].startswith('-ERR [AUTH]'), replies)
        for e in excess:
            self.assertGreaterEqual(min(e), -0.02, 'a refusal came before its delay: %r'
                                    % excess)
        # Alike: no case costs noticeably more than another, and none as
        # much as the delay itself (no second delay, no upstream wait).
        self.assertLess(max(least) - min(least), 0.2, least)
        self.assertLess(max(least), DELAY_MS / 1000.0, least)
        # From inside its network printer2 gets in.
        st, _, c = login('printer2', SECRETS['printer2'], source='127.0.0.2')
        self.assertTrue(st.startswith('+OK'), st)
        bye(c)


@harness.skip_unless_popgate('APOP is offered for device accounts only')
class Apop(unittest.TestCase):
    def test_greeting_timestamp_only_where_offered(self):
        c = pop3()
        self.assertRegex(c.greeting, r'^\+OK .*<\d+\.[0-9a-f]{16}@[^>]+>$')
        c.close()
        port = int(re.search(r'listener noapop\]\naddress = 127\.0\.0\.1:(\d+)',
                             CONF).group(1))
        c = pop3(port=port)
        self.assertNotIn('<', c.greeting)
        self.assertTrue(c.cmd('APOP printer1 ' + '0' * 32).startswith('-ERR'))
        c.close()

    def test_mpop_apop(self):
        mp = Mpop(FIX.subdir('mpop'), '127.0.0.1', PG.port, 'printer1', APOP_SECRET,
                  auth='apop')
        rc, out = mp.run()
        OUTPUTS.append(out)
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(mp.delivered()), MESSAGES)
        self.assertRegex(PG.log_text(), r'event=login .*user=printer1 method=APOP result=ok')
        import urllib.request
        body = urllib.request.urlopen('http://127.0.0.1:%d/metrics' % METRICS_PORT,
                                      timeout=10).read().decode()
        m = re.search(r'(?m)^popgate_logins_total\{method="apop",result="ok"\} (\d+)$', body)
        self.assertIsNotNone(m, body)
        self.assertGreaterEqual(int(m.group(1)), 1)

    def test_fetchmail_apop(self):
        fm = Fetchmail(FIX.subdir('fetchmail'), '127.0.0.1', PG.port, 'printer1',
                       APOP_SECRET, '', proto='APOP')
        rc, out = fm.run()
        OUTPUTS.append(out)
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(fm.delivered()), MESSAGES)

    def test_wrong_apop_secret_refused(self):
        mp = Mpop(FIX.subdir('mpop-bad'), '127.0.0.1', PG.port, 'printer1',
                  'wrong-apop', auth='apop')
        rc, out = mp.run()
        OUTPUTS.append(out)
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(mp.delivered(), [])


@harness.skip_unless_popgate('admin commands')
class Admin(unittest.TestCase):
    def test_list_shows_no_secrets(self):
        rc, out = popgate_cmd('account', 'list')
        self.assertEqual(rc, 0, out)
        for name in ('printer1', 'printer2', 'scanner', 'legacy'):
            self.assertIn(name, out)
        self.assertIn('oauth2:alice', out)
        self.assertNotIn(USERS['carol'], out)
        self.assertNotIn('$y$', out)

    def test_test_prints_each_step(self):
        rc, out = popgate_cmd('account', 'test', 'printer1')
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r'token from \[oauth2 alice\]: ok')
        self.assertRegex(out, r'login and SELECT INBOX: ok, \d+ messages')
        rc, out = popgate_cmd('account', 'test', 'nosuch')
        self.assertNotEqual(rc, 0, out)

    def test_add_then_reload(self):
        n = len(harness.log_events(PG.log_text(), 'reload'))
        add_account('newdev', 'upstream=default', 'user=carol',
                    'password=' + USERS['carol'])
        rc, out = popgate_cmd('account', 'add', 'newdev', 'user=carol',
                              'password=x', stdin='again\n')
        self.assertNotEqual(rc, 0, out)            # exists already
        with open(ACCOUNTS) as f:
            before = f.read()
        for bad in (['pasword=x'], ['token=nosuchsource'], ['upstream=nowhere', 'password=x'],
                    ['password=x']):                # the last: no user=
            args = ['user=carol'] + bad if bad != ['password=x'] else bad
            rc, out = popgate_cmd('account', 'add', 'typo', *args, stdin='s3cret\n')
            self.assertNotEqual(rc, 0, out)
            self.assertIn('not added', out)
        # A name the file would read as a comment, or as two fields.
        for name in ('#typo', 'ty po'):
            rc, out = popgate_cmd('account', 'add', name, 'user=carol', 'password=x',
                                  stdin='s3cret\n')
            self.assertNotEqual(rc, 0, out)
            self.assertIn('bad account name', out)
        with open(ACCOUNTS) as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(stat.S_IMODE(os.stat(ACCOUNTS).st_mode), 0o640)
        os.kill(PG.pid, 1)
        self.assertTrue(harness.wait_until(
            lambda: len(harness.log_events(PG.log_text(), 'reload')) > n, 10), PG.log_tail())
        st, _, c = login('newdev', SECRETS['newdev'])
        self.assertTrue(st.startswith('+OK'), st)
        bye(c)

    def test_bootstrap_device_code(self):
        path = os.path.join(STATE, 'alice-boot.refresh')
        rc, out = popgate_cmd('account', 'bootstrap', 'alice-boot')
        self.assertEqual(rc, 0, out)
        self.assertIn(AS.url + '/device', out)
        with open(path) as f:
            self.assertTrue(f.read().strip().startswith('rt-'))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

    def test_world_readable_accounts_file_refused(self):
        os.chmod(ACCOUNTS, 0o644)
        try:
            rc, out = popgate_cmd('-t')
            self.assertNotEqual(rc, 0, out)
            self.assertIn('world-readable', out)
        finally:
            os.chmod(ACCOUNTS, 0o640)


@harness.run_last
@harness.skip_unless_popgate('popgate logs')
class WholeRun(unittest.TestCase):
    """Checks over everything the other classes did."""

    def test_dovecot_saw_only_oauth2_for_token_accounts(self):
        # Every password login of alice or bob is one of this file's own
        # IMAP connections (seeding, checks); popgate used bearer tokens.
        lines = [l for l in DC.login_lines()
                 if 'user=<alice>' in l or 'user=<bob>' in l]
        bearer = [l for l in lines if re.search(r'method=(XOAUTH2|OAUTHBEARER)', l)]
        self.assertGreaterEqual(len(bearer), 3, lines)
        self.assertEqual(len(lines) - len(bearer), DIRECT_IMAP[0], lines)

    def test_no_secret_or_token_anywhere(self):
        secrets = set(SECRETS.values()) | set(USERS.values()) | {APOP_SECRET, CLIENT_SECRET}
        secrets |= AS.issued_tokens()
        self.assertGreater(len(secrets), 20)
        texts = list(OUTPUTS)
        for path in ALL_LOGS:
            with open(path, errors='replace') as f:
                texts.append(f.read())
        for text in texts:
            for s in secrets:
                self.assertNotIn(s, text)


if __name__ == '__main__':
    harness.main()
