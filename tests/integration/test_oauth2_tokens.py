#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The OAuth2 token manager against a local authorization server
(tests/support/oauth2_server.py), driven by tests/tools/oauth2_probe: one
manager on the probe's main loop, worker threads with a client each, the
way the daemon runs it.

* 20 concurrent gets over 4 workers for a source with no token, or an
  expired one, cause exactly one refresh at the server; a token within
  the refresh margin is still handed out while a new one is fetched.
* A rotated refresh token is in the file (mode 0600) before the access
  token is used, the old one is refused by the server, and a new probe
  process started later works from the file.
* Server down: FAILED, then FAILED at once during the back-off without a
  request, then READY once the server is back, in the same process.
* invalid_grant tells the admin to run the bootstrap; a rejected token is
  dropped from the cache; server errors are logged with their code.
* client_credentials; command sources (token, lifetime, stderr logged
  unless it holds the token, a hanging command killed with what it
  started, a failing one); the RFC 8628 device bootstrap; fetch-once.
* No access token, refresh token, device code or client secret appears
  in anything the probe prints (stdout or its log on stderr).

popgate-only: skipped with POPGATE_TARGET=dovecot-pop3.
"""

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
from oauth2_server import OAuth2Server  # noqa: E402

FIX = None
PROBE = None
CLIENT_ID = 'popgate'
CLIENT_SECRET = 'cs-Very-Secret-4711'
PROBE_TIMEOUT = 90


def fp(token):
    """The probe's name for a token: 8 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode('ascii')).hexdigest()[:8]


def setUpModule():
    global FIX, PROBE
    harness.skip_in_dovecot_mode('popgate-only')
    FIX = harness.setup_module(dovecot=False)
    PROBE = os.path.join(os.path.dirname(os.path.abspath(harness.POPGATE)),
                         'tests', 'oauth2_probe')
    if not os.access(PROBE, os.X_OK):
        raise AssertionError('%s is not built (the oauth2_probe target, next to '
                             'the popgate binary under tests/)' % PROBE)


class ProbeRun:
    """One finished probe run: returncode, stdout, stderr (text)."""

    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def lines(self, prefix=None):
        return [ln for ln in self.out.splitlines()
                if prefix is None or ln.startswith(prefix)]

    def results(self):
        """READY/FAILED lines, in order."""
        return [ln for ln in self.out.splitlines()
                if ln.startswith('READY ') or ln.startswith('FAILED ')]

    def gets(self):
        """The GET summary lines as dicts (name, ready, failed, ms)."""
        out = []
        for ln in self.lines('GET '):
            parts = ln.split()
            d = {'name': parts[1]}
            for kv in parts[2:]:
                k, v = kv.split('=', 1)
                d[k] = int(v)
            out.append(d)
        return out

    def events(self, event=None):
        return harness.log_events(self.err, event)


class OAuth2Tokens(unittest.TestCase):

    def setUp(self):
        self.srv = OAuth2Server(lifetime=3600).start()
        self.srv.add_client(CLIENT_ID, CLIENT_SECRET)
        self.dir = FIX.subdir('oauth2')
        self.runs = []
        self.extra_secrets = []

    def tearDown(self):
        try:
            self.assert_no_secrets()
        finally:
            self.srv.stop()

    # -- helpers --------------------------------------------------------
    def assert_no_secrets(self):
        srv = self.srv
        with srv._lock:     # the server's own records of what it issued
            secrets = set(srv._refresh) | set(srv._rotated) | set(srv._access) \
                | set(srv._devices)
            secrets |= {c['secret'] for c in srv._clients.values() if c['secret']}
        secrets |= set(self.extra_secrets)
        for run in self.runs:
            for s in secrets:
                for name, text in (('stdout', run.out), ('stderr', run.err)):
                    self.assertNotIn(s, text, 'a secret (%s...) in the probe\'s %s'
                                     % (s[:6], name))

    def refresh_file(self, name, user='alice', token=None):
        path = os.path.join(self.dir, name + '.refresh')
        if token is None:
            token = self.srv.issue_refresh_token(CLIENT_ID, user)
        with open(path, 'w') as f:
            f.write(token + '\n')
        os.chmod(path, 0o600)
        return path, token

    def rt_source(self, name, path, secret=CLIENT_SECRET):
        return ['--source', name, '--grant', 'refresh_token',
                '--token-url', self.srv.token_url, '--device-url', self.srv.device_url,
                '--client-id', CLIENT_ID, '--client-secret', secret,
                '--refresh-token-file', path]

    def cmd_source(self, name, command, timeout_ms=3000, lifetime_s=300):
        return ['--source', name, '--grant', 'command', '--command', command,
                '--command-timeout-ms', str(timeout_ms),
                '--command-lifetime-s', str(lifetime_s)]

    def probe(self, args, timeout=PROBE_TIMEOUT):
        p = harness.run_tool([PROBE] + list(args), timeout=timeout, text=True)
        run = ProbeRun(p.returncode, p.stdout, p.stderr)
        self.runs.append(run)
        return run

    def assertAllReady(self, run, n, same=True):
        res = run.results()
        self.assertEqual(len(res), n, run.out + run.err)
        for ln in res:
            self.assertTrue(ln.startswith('READY '), run.out + run.err)
        if same:
            self.assertEqual(len({ln.split()[1] for ln in res}), 1, run.out)

    def post_token(self, form):
        """A direct /token request; (status, JSON answer)."""
        data = urllib.parse.urlencode(form).encode('ascii')
        req = urllib.request.Request(self.srv.token_url, data=data)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def assertFreshLifetime(self, pattern, out):
        """The expires_in that pattern captures in out is that of a token
        the server issued (3600 s) during this run: a busy machine may
        take seconds between issue and report, but never an hour."""
        m = re.search(pattern, out)
        self.assertIsNotNone(m, out)
        self.assertLessEqual(int(m.group(1)), 3600, out)
        self.assertGreaterEqual(int(m.group(1)), 3600 - 120, out)

    def issued_access_tokens(self):
        with self.srv._lock:
            return {fp(t): rec['user'] for t, rec in self.srv._access.items()}

    # -- refresh_token sources -----------------------------------------
    def test_concurrent_gets_one_refresh(self):
        path, _ = self.refresh_file('a')
        run = self.probe(['--workers', '4'] + self.rt_source('a', path)
                         + ['--get', 'a', '--count', '20', '--status', 'a'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        self.assertAllReady(run, 20)
        self.assertEqual(self.srv.refreshes('alice'), 1)
        self.assertEqual(len(self.srv.token_requests()), 1)
        tok_fp = run.results()[0].split()[1]
        self.assertEqual(self.issued_access_tokens().get(tok_fp), 'alice')
        self.assertFreshLifetime(r'STATUS a expires_in=(-?\d+) refresh=yes', run.out)
        ev = run.events('oauth2-refresh')
        self.assertEqual(len(ev), 1, run.err)
        self.assertEqual(ev[0]['result'], 'ok')
        self.assertEqual(ev[0]['rotated'], 'yes')
        self.assertEqual(ev[0]['persisted'], 'yes')
        # Gets that came after the answer were served from the cache.
        self.assertGreaterEqual(int(ev[0]['waiters']), 1)
        self.assertEqual(ev[0]['grant'], 'refresh_token')

    def test_expired_refreshed_once_and_refresh_ahead(self):
        # lifetime 2 s: margin = 1 s (half the lifetime), so after 2.3 s
        # the token is gone and 20 gets share one refresh again.
        self.srv.lifetime = 2
        path, _ = self.refresh_file('a')
        run = self.probe(['--workers', '4'] + self.rt_source('a', path)
                         + ['--get', 'a', '--count', '20', '--sleep', '2300',
                            '--get', 'a', '--count', '20'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        res = run.results()
        self.assertEqual(len(res), 40)
        self.assertEqual(len({ln.split()[1] for ln in res[:20]}), 1)
        self.assertEqual(len({ln.split()[1] for ln in res[20:]}), 1)
        self.assertNotEqual(res[0], res[20])
        self.assertEqual(self.srv.refreshes('alice'), 2)

        # lifetime 6 s, margin 3 s: at 3.3 s the cached token is handed
        # out at once and a refresh runs behind it; the next get has the
        # new token, with no third refresh.
        self.srv.lifetime = 6
        run = self.probe(['--workers', '2'] + self.rt_source('a', path)
                         + ['--get', 'a', '--sleep', '3300', '--get', 'a', '--count', '4',
                            '--sleep', '500', '--get', 'a', '--count', '4'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        res = run.results()
        first = res[0].split()[1]
        self.assertTrue(all(ln.split()[1] == first for ln in res[1:5]), run.out)
        second = res[5].split()[1]
        self.assertNotEqual(first, second)
        self.assertTrue(all(ln.split()[1] == second for ln in res[5:9]), run.out)
        self.assertLess(run.gets()[1]['ms'], 500, 'refresh ahead made gets wait')
        self.assertEqual(self.srv.refreshes('alice'), 4)

    def test_rotation_persisted_and_survives_restart(self):
        path, first_rt = self.refresh_file('a')
        os.chmod(path, 0o644)   # loose: warned about, and tightened by the rewrite
        run = self.probe(self.rt_source('a', path) + ['--get', 'a'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        self.assertTrue(run.events('oauth2-refresh-file'), run.err)
        with open(path) as f:
            stored = f.read()
        current = self.srv.current_refresh_token(CLIENT_ID, 'alice')
        self.assertEqual(stored, current + '\n')
        self.assertNotEqual(current, first_rt)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual([n for n in os.listdir(self.dir) if n.startswith('.')], [],
                         'temp file left behind')
        # The old one is spent: the server refuses it.
        status, answer = self.post_token({'grant_type': 'refresh_token',
                                          'refresh_token': first_rt,
                                          'client_id': CLIENT_ID,
                                          'client_secret': CLIENT_SECRET})
        self.assertEqual((status, answer['error']), (400, 'invalid_grant'))

        # A new process (a restart) works from the file.
        run2 = self.probe(self.rt_source('a', path) + ['--get', 'a'])
        self.assertEqual(run2.rc, 0, run2.out + run2.err)
        self.assertAllReady(run2, 1)
        self.assertEqual(self.srv.refreshes('alice'), 2)
        ok = [r for r in self.srv.token_requests() if r['grant_type'] == 'refresh_token']
        self.assertEqual([r['ok'] for r in ok], [True, False, True])   # probe, check, probe
        with open(path) as f:
            self.assertEqual(f.read(), self.srv.current_refresh_token(CLIENT_ID, 'alice') + '\n')

    def test_reload(self):
        # Unchanged: the cache stays (no refresh). Changed: a fresh source
        # that reads the (rotated) file again. Removed: unknown.
        path, _ = self.refresh_file('a')
        path_b, _ = self.refresh_file('b', user='bob')
        run = self.probe(self.rt_source('a', path) + self.rt_source('b', path_b)
                         + ['--get', 'a', '--get', 'b', '--reload', '--get', 'a', '--get', 'b',
                            '--reload-scope', 'a=mail other', '--get', 'a', '--get', 'b',
                            '--reload-drop', 'b', '--get', 'b', '--get', 'a'])
        self.assertEqual(run.lines('RELOAD'), ['RELOAD rc=0'] * 3)
        res = run.results()
        self.assertEqual(len(res), 8, run.out + run.err)
        a1, b1, a2, b2, a3, b3, b4, a4 = [ln.split(' ', 1)[1] for ln in res]
        self.assertEqual((a1, b1), (a2, b2))
        self.assertNotEqual(a3, a1)
        self.assertEqual(b3, b1)
        self.assertEqual(b4, 'unknown token source b')
        self.assertEqual(a4, a3)
        self.assertEqual(self.srv.refreshes('alice'), 2)
        self.assertEqual(self.srv.refreshes('bob'), 1)
        with open(path) as f:
            self.assertEqual(f.read(), self.srv.current_refresh_token(CLIENT_ID, 'alice') + '\n')

    def test_reload_during_refresh(self):
        # A refresh is in flight when the scope changes: its rotated
        # refresh token is kept and saved, and the waiters get a token
        # asked for with the new settings (a second refresh), never the
        # spent refresh token again.
        path, _ = self.refresh_file('a')
        self.srv.delay = 1.0
        run = self.probe(self.rt_source('a', path)
                         + ['--start', 'a', '--count', '3', '--sleep', '400',
                            '--reload-scope', 'a=mail new', '--wait'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        self.assertAllReady(run, 3)
        self.assertEqual(self.srv.refreshes('alice'), 2)
        self.assertEqual([r['ok'] for r in self.srv.token_requests()], [True, True])
        with open(path) as f:
            self.assertEqual(f.read(), self.srv.current_refresh_token(CLIENT_ID, 'alice') + '\n')
        self.assertIn('stale=yes', run.err)

    def test_reload_to_another_file_during_refresh(self):
        # The source moves to another file (another account) while a
        # refresh runs: the old file still gets its rotated refresh token,
        # the waiters get a token of the new account.
        path_a, _ = self.refresh_file('a')
        path_b, _ = self.refresh_file('b', user='bob')
        self.srv.delay = 1.0
        run = self.probe(self.rt_source('a', path_a)
                         + ['--start', 'a', '--count', '2', '--sleep', '400',
                            '--reload-file', 'a=' + path_b, '--wait', '--sleep', '1000'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        self.assertAllReady(run, 2)
        self.assertEqual(self.issued_access_tokens().get(run.results()[0].split()[1]), 'bob')
        self.assertEqual((self.srv.refreshes('alice'), self.srv.refreshes('bob')), (1, 1))
        for path, user in ((path_a, 'alice'), (path_b, 'bob')):
            with open(path) as f:
                self.assertEqual(f.read(), self.srv.current_refresh_token(CLIENT_ID, user)
                                 + '\n')

    def test_manager_closed_before_clients(self):
        # The daemon's SIGTERM order: the manager goes first, the workers'
        # clients (draining sessions) after; gets then fail at once.
        path, _ = self.refresh_file('a')
        run = self.probe(['--manager-first'] + self.rt_source('a', path)
                         + ['--get', 'a', '--count', '4'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        self.assertAllReady(run, 4)
        self.assertIn('AFTER-CLOSE FAILED token manager is shutting down', run.out)

    def test_shutdown_during_refresh_keeps_rotated_token(self):
        # SIGTERM while a refresh is in flight: the server has rotated the
        # token, so the manager waits for the answer and saves it.
        path, _ = self.refresh_file('a')
        self.srv.delay = 0.6
        run = self.probe(['--manager-first'] + self.rt_source('a', path)
                         + ['--start', 'a', '--sleep', '300'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        self.assertEqual(self.srv.refreshes('alice'), 1)
        with open(path) as f:
            self.assertEqual(f.read(), self.srv.current_refresh_token(CLIENT_ID, 'alice')
                             + '\n')
        self.assertIn('event=oauth2-shutdown', run.err)

    def test_no_rotation(self):
        self.srv.rotate = False
        path, rt = self.refresh_file('a')
        run = self.probe(self.rt_source('a', path) + ['--get', 'a'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        self.assertEqual(run.events('oauth2-refresh')[0]['rotated'], 'no')
        with open(path) as f:
            self.assertEqual(f.read(), rt + '\n')

    def test_backoff_then_recovery(self):
        path, _ = self.refresh_file('a')
        self.srv.down()
        args = [PROBE, '--workers', '2', '--backoff-min-ms', '1500', '--backoff-max-ms', '3000',
                '--http-timeout-ms', '3000'] + self.rt_source('a', path) + [
            '--get', 'a', '--get', 'a', '--count', '5', '--pause',
            '--sleep', '2000', '--get', 'a', '--count', '3']
        # stderr to a file: nobody reads a pipe until the end; the watchdog
        # kills the probe if it never pauses.
        err_file = tempfile.TemporaryFile(mode='w+')
        p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=err_file, text=True)
        harness._tools.add(p)
        try:
            head = []
            while True:
                ln = p.stdout.readline()
                self.assertTrue(ln, 'probe ended before PAUSED: %r' % head)
                head.append(ln)
                if ln.strip() == 'PAUSED':
                    break
            self.assertEqual(self.srv.token_requests(), [])
            self.srv.up()
            p.stdin.write('\n')
            p.stdin.flush()
            rest, _ = p.communicate(timeout=PROBE_TIMEOUT)
        finally:
            harness._tools.discard(p)
            if p.poll() is None:
                p.kill()
                p.communicate()
            err_file.seek(0)
            err = err_file.read()
            err_file.close()
        run = ProbeRun(p.returncode, ''.join(head) + rest, err)
        self.runs.append(run)
        res = run.results()
        self.assertEqual(len(res), 9, run.out + run.err)
        self.assertTrue(res[0].startswith('FAILED token endpoint unreachable, retry in '),
                        res[0])
        for ln in res[1:6]:
            self.assertRegex(ln, r'^FAILED token endpoint unreachable, retry in [12] s$')
        gets = run.gets()
        self.assertLess(gets[1]['ms'], 500, 'back-off did not fail fast')
        for ln in res[6:]:
            self.assertTrue(ln.startswith('READY '), run.out + run.err)
        self.assertEqual(run.rc, 1)     # some gets failed, as they should
        self.assertEqual(self.srv.refreshes('alice'), 1)
        self.assertEqual(len(self.srv.token_requests()), 1)
        ev = run.events('oauth2-refresh')
        self.assertEqual([e['result'] for e in ev], ['failed', 'ok'], run.err)
        self.assertEqual(ev[0]['status'], '0')
        self.assertGreaterEqual(int(ev[0]['retry_in_ms']), 1500)
        self.assertLessEqual(int(ev[0]['retry_in_ms']), 3000)

    def test_server_error_logged(self):
        path, _ = self.refresh_file('a')
        self.srv.fail_next(1, status=503)
        run = self.probe(['--backoff-min-ms', '300'] + self.rt_source('a', path)
                         + ['--get', 'a', '--sleep', '500', '--get', 'a'])
        res = run.results()
        self.assertEqual(res[0].split(', retry')[0],
                         'FAILED token endpoint refused: temporarily_unavailable')
        self.assertTrue(res[1].startswith('READY '), run.out + run.err)
        ev = run.events('oauth2-refresh')
        self.assertEqual(ev[0]['status'], '503')
        self.assertEqual(ev[0]['error'], 'temporarily_unavailable')
        self.assertEqual(ev[0]['description'], 'injected failure (fail_next)')
        self.assertEqual(ev[1]['result'], 'ok')

    def test_invalid_grant_asks_for_bootstrap(self):
        path, _ = self.refresh_file('a')
        self.srv.revoke_refresh('alice')
        run = self.probe(['--backoff-min-ms', '200'] + self.rt_source('a', path)
                         + ['--get', 'a', '--sleep', '400', '--get', 'a', '--status', 'a'])
        self.assertEqual(run.rc, 1)
        res = run.results()
        self.assertEqual(len(res), 2)
        for ln in res:
            self.assertIn('invalid_grant', ln)
            self.assertIn('popgate account bootstrap a', ln)
        # The second attempt re-read the file, found the same dead token
        # and did not send it again.
        self.assertEqual(len(self.srv.token_requests()), 1)
        ev = run.events('oauth2-refresh')
        self.assertEqual(ev[0]['level'], 'error')
        self.assertEqual(ev[0]['error'], 'invalid_grant')
        self.assertIn('bootstrap', ev[0]['note'])
        self.assertIn('STATUS a expires_in=-1 refresh=no', run.out)

    def test_reject_drops_cached_token(self):
        path, _ = self.refresh_file('a')
        run = self.probe(self.rt_source('a', path)
                         + ['--get', 'a', '--get', 'a', '--reject', 'a', '--get', 'a'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        res = [ln.split()[1] for ln in run.results()]
        self.assertEqual(res[0], res[1])
        self.assertNotEqual(res[1], res[2])
        self.assertEqual(self.srv.refreshes('alice'), 2)
        self.assertEqual(run.events('oauth2-reject')[0]['result'], 'dropped')

    def test_missing_file(self):
        run = self.probe(['--backoff-min-ms', '100'] + self.rt_source(
            'a', os.path.join(self.dir, 'nonexistent.refresh')) + ['--sleep', '200',
                                                                   '--get', 'a'])
        self.assertEqual(run.rc, 1)
        self.assertTrue(run.results()[0].startswith('FAILED no usable refresh token file'),
                        run.out)
        ev = run.events('oauth2-refresh')
        self.assertIn('nonexistent.refresh', ev[0]['note'])
        self.assertEqual(self.srv.token_requests(), [])

    def test_fifo_as_refresh_file_does_not_hang(self):
        # A FIFO in the file's place must not hold a pool thread forever.
        path = os.path.join(self.dir, 'fifo.refresh')
        os.mkfifo(path, 0o600)
        run = self.probe(['--backoff-min-ms', '100'] + self.rt_source('a', path)
                         + ['--get', 'a'], timeout=20)
        self.assertEqual(run.rc, 1, run.out + run.err)
        self.assertTrue(run.results()[0].startswith('FAILED no usable refresh token file'),
                        run.out)
        self.assertIn('not a regular file', run.events('oauth2-refresh')[0]['note'])

    def test_fetch_once(self):
        path, _ = self.refresh_file('a')
        run = self.probe(self.rt_source('a', path) + ['--fetch-once', 'a'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        self.assertFreshLifetime(r'FETCH a READY [0-9a-f]{8} expires_in=(-?\d+)', run.out)
        with open(path) as f:
            self.assertEqual(f.read(), self.srv.current_refresh_token(CLIENT_ID, 'alice') + '\n')

    def test_plain_http_only_to_loopback(self):
        run = self.probe(['--source', 'x', '--grant', 'client_credentials',
                          '--token-url', 'http://oauth2.example.invalid/token',
                          '--client-id', CLIENT_ID, '--client-secret', CLIENT_SECRET,
                          '--get', 'x'])
        self.assertEqual(run.rc, 2)
        self.assertIn('loopback', run.err)

    # -- client_credentials ----------------------------------------------
    def test_client_credentials(self):
        self.srv.add_client('app', 'app-Secret-99', cc_user='bob')
        self.extra_secrets.append('app-Secret-99')
        src = ['--source', 'cc', '--grant', 'client_credentials', '--token-url',
               self.srv.token_url, '--client-id', 'app', '--client-secret', 'app-Secret-99',
               '--scope', 'https://outlook.office365.com/.default',
               '--source', 'bad', '--grant', 'client_credentials', '--token-url',
               self.srv.token_url, '--client-id', 'app', '--client-secret', 'wrong-Secret-1']
        self.extra_secrets.append('wrong-Secret-1')
        run = self.probe(['--workers', '3'] + src + ['--get', 'cc', '--count', '6',
                                                     '--get', 'bad'])
        res = run.results()
        self.assertTrue(all(ln.startswith('READY ') for ln in res[:6]), run.out + run.err)
        self.assertEqual(self.issued_access_tokens().get(res[0].split()[1]), 'bob')
        self.assertEqual(self.srv.cc_grants('app'), 1)
        self.assertTrue(res[6].startswith('FAILED token endpoint refused: invalid_client'),
                        res[6])
        ev = [e for e in run.events('oauth2-refresh') if e['source'] == 'bad']
        self.assertEqual((ev[0]['status'], ev[0]['level']), ('401', 'error'))

    # -- command sources -------------------------------------------------
    def test_command_token(self):
        counter = os.path.join(self.dir, 'runs')
        tok = 'cmd-Token-7f3a9'
        self.extra_secrets.append(tok)
        cmd = ("echo run >> %s; printf '\\n  %s-%%s  \\n' $(wc -l < %s); "
               "echo 'getting a token for alice' >&2" % (counter, tok, counter))
        run = self.probe(['--workers', '2'] + self.cmd_source('c', cmd, lifetime_s=2)
                         + ['--get', 'c', '--count', '6', '--sleep', '2200',
                            '--get', 'c'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        res = [ln.split()[1] for ln in run.results()]
        self.assertEqual(res[:6], [fp(tok + '-1')] * 6)
        self.assertEqual(res[6], fp(tok + '-2'))
        with open(counter) as f:
            self.assertEqual(len(f.readlines()), 2)
        ev = run.events('oauth2-command')
        self.assertEqual(ev[0]['stderr'], 'getting a token for alice')
        self.assertEqual(run.events('oauth2-refresh')[0]['grant'], 'command')

    def test_command_stderr_with_token_withheld(self):
        tok = 'cmd-Token-Leaky-123456789'
        self.extra_secrets.append(tok)
        run = self.probe(self.cmd_source('c', 'echo %s; echo "debug: got %s" >&2'
                                         % (tok, tok)) + ['--get', 'c'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        self.assertEqual(run.results(), ['READY ' + fp(tok)])
        self.assertEqual(run.events('oauth2-command')[0]['stderr'], 'withheld')

    def test_command_timeout_kills(self):
        pidfile = os.path.join(self.dir, 'pid')
        cmd = 'sleep 30 & echo $! > %s; wait; echo too-late' % pidfile
        run = self.probe(['--backoff-min-ms', '100'] + self.cmd_source('c', cmd, timeout_ms=500)
                         + ['--get', 'c'])
        self.assertEqual(run.rc, 1)
        self.assertRegex(run.results()[0],
                         r'^FAILED token command timed out after 500 ms, retry in 1 s$')
        self.assertLess(run.gets()[0]['ms'], 3000)
        with open(pidfile) as f:
            pid = int(f.read())

        def gone():
            try:
                with open('/proc/%d/stat' % pid) as f:
                    return f.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
            except FileNotFoundError:
                return True
        self.assertTrue(harness.wait_until(gone, 5), 'the command\'s child survived')

    def test_command_failure(self):
        run = self.probe(self.cmd_source('c', "echo 'no such account' >&2; exit 3")
                         + self.cmd_source('e', 'true')
                         + self.cmd_source('n', 'echo "not a token"')
                         + ['--get', 'c', '--get', 'e', '--get', 'n'])
        self.assertEqual(run.rc, 1)
        res = run.results()
        self.assertTrue(res[0].startswith('FAILED token command exited with status 3, retry'),
                        res[0])
        self.assertTrue(res[1].startswith('FAILED token command printed no token'), res[1])
        self.assertTrue(res[2].startswith('FAILED token command printed something that is '
                                          'not a token'), res[2])
        ev = run.events('oauth2-command')
        self.assertEqual((ev[0]['source'], ev[0]['stderr'], ev[0]['level']),
                         ('c', 'no such account', 'warn'))

    # -- device bootstrap ----------------------------------------------
    def test_device_bootstrap(self):
        self.srv.device_user = 'carol'
        self.srv.device_pending_polls = 1
        self.srv.device_interval = 1
        path = os.path.join(self.dir, 'd.refresh')
        run = self.probe(['--backoff-min-ms', '100'] + self.rt_source('d', path)
                         + ['--scope', 'mail offline_access', '--bootstrap', 'd', '--get', 'd'])
        self.assertEqual(run.rc, 0, run.out + run.err)
        self.assertRegex(run.out, r'open %s/device\nand enter the code: [A-Z]{4}-[A-Z]{4}'
                         % self.srv.url)
        self.assertIn('BOOTSTRAP d ok', run.out)
        self.assertEqual(self.srv.device_grants(), 1)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        # The get that followed used the stored token (and rotated it).
        self.assertTrue(run.results()[0].startswith('READY '), run.out)
        self.assertEqual(self.srv.refreshes('carol'), 1)
        with open(path) as f:
            self.assertEqual(f.read(), self.srv.current_refresh_token(CLIENT_ID, 'carol') + '\n')
        polls = [r for r in self.srv.token_requests()
                 if r['grant_type'] == 'urn:ietf:params:oauth:grant-type:device_code']
        self.assertEqual([r['error'] for r in polls], ['authorization_pending', None])

    def test_device_bootstrap_denied(self):
        self.srv.device_interval = 1
        self.srv.device_code_lifetime = 2      # nobody approves: it expires
        path = os.path.join(self.dir, 'd.refresh')
        run = self.probe(self.rt_source('d', path) + ['--bootstrap', 'd'])
        self.assertEqual(run.rc, 1)
        self.assertRegex(run.out, r'BOOTSTRAP d failed .*(expired)')
        self.assertFalse(os.path.exists(path))


if __name__ == '__main__':
    harness.main()
