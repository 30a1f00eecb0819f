#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The metrics endpoint, scraped during a run: the counters move by exactly
what the test did (sessions by listener, logins by method and result, TLS
handshakes by version, retrieved and deleted messages, bytes, refusals,
upstream errors and latency histograms), and the HTTP side answers like a
small, strict server.

popgate-only: skipped with POPGATE_TARGET=dovecot-pop3.
"""

import os
import re
import socket
import ssl
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from harness import POP3Strict  # noqa: E402
from pki import TestPKI  # noqa: E402

FIX = None
PG = None
METRICS = None
PLAIN = POP3S = None
CA = None
USERS = {'erin': 'Metr1cs-pw', 'frank': 'Other-pw-2'}


def setUpModule():
    global FIX, PG, METRICS, PLAIN, POP3S, CA
    FIX = harness.setup_module(users=USERS)
    for user in USERS:
        m = FIX.imap(user)
        try:
            for _, raw in mailseed.simple_corpus(3, user):
                mailseed.append(m, 'INBOX', raw)
        finally:
            m.logout()
    if harness.dovecot_mode():
        return
    pki = TestPKI(FIX.subdir('pki'))
    cert, key = pki.cert('localhost')
    CA = pki.ca_cert
    METRICS, PLAIN, POP3S = harness.free_ports(3)
    PG = harness.start_configured_popgate('metrics', harness.popgate_conf([
        ('global', dict(workers=2, metrics_address='127.0.0.1:%d' % METRICS)),
        ('tls_profile default', harness.tls_profile(cert, key)),
        ('listener plain', harness.listener(PLAIN, 'none')),
        ('listener pop3s', harness.listener(POP3S, 'implicit')),
        ('upstream', dict(url='imap://127.0.0.1:%d' % FIX.dovecot.imap_port)),
        ('session', dict(auth_failure_delay='0ms')),
    ]), PLAIN)


def scrape():
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % METRICS, timeout=10) as r:
        assert r.status == 200
        assert r.headers['Content-Type'].startswith('text/plain; version=0.0.4')
        return r.read().decode()


def samples(text):
    """{'name{labels}': value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        key, value = line.rsplit(' ', 1)
        out[key] = float(value)
    return out


def delta(before, after, key):
    return after.get(key, 0.0) - before.get(key, 0.0)


@harness.skip_unless_popgate('popgate metrics endpoint')
class Counters(unittest.TestCase):
    def wait_idle(self):
        """Sessions end asynchronously: wait until none is active."""
        ok = harness.wait_until(lambda: all(
            v == 0 for k, v in samples(scrape()).items()
            if k.startswith('popgate_sessions_active')), 5)
        self.assertTrue(ok, scrape())

    def test_counters_follow_what_the_clients_did(self):
        self.wait_idle()
        before = samples(scrape())
        # 1: plain, RETR 1 and 2, DELE 3, QUIT.
        c = POP3Strict(PLAIN)
        c.login('erin', USERS['erin'])
        c.retr(1)
        c.retr(2)
        c.ok('DELE 3')
        self.assertTrue(c.quit().startswith('+OK'))
        c.close()
        # 2: plain, wrong password, then QUIT.
        c = POP3Strict(PLAIN)
        c.ok('USER frank')
        self.assertTrue(c.cmd('PASS wrong').startswith('-ERR [AUTH]'))
        c.cmd('QUIT')
        c.close()
        # 3: POP3S with TLS 1.3, AUTH PLAIN, TOP 1 0, QUIT.
        ctx = ssl.create_default_context(cafile=CA)
        with socket.create_connection(('127.0.0.1', POP3S), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname='localhost') as s:
                self.assertEqual(s.version(), 'TLSv1.3')
                f = s.makefile('rwb')
                self.assertTrue(f.readline().startswith(b'+OK'))
                import base64
                tok = base64.b64encode(b'\0frank\0' + USERS['frank'].encode())
                f.write(b'AUTH PLAIN ' + tok + b'\r\n')
                f.flush()
                self.assertTrue(f.readline().startswith(b'+OK'), 'AUTH PLAIN')
                f.write(b'TOP 1 0\r\n')
                f.flush()
                while True:
                    line = f.readline()
                    self.assertTrue(line, 'EOF inside the TOP reply')
                    if line == b'.\r\n':
                        break
                f.write(b'QUIT\r\n')
                f.flush()
                self.assertTrue(f.readline().startswith(b'+OK'))
        self.wait_idle()
        after = samples(scrape())
        d = lambda k: delta(before, after, k)  # noqa: E731
        self.assertEqual(d('popgate_sessions_total{listener="plain"}'), 2)
        self.assertEqual(d('popgate_sessions_total{listener="pop3s"}'), 1)
        self.assertEqual(d('popgate_logins_total{method="user",result="ok"}'), 1)
        self.assertEqual(d('popgate_logins_total{method="user",result="auth"}'), 1)
        self.assertEqual(d('popgate_logins_total{method="plain",result="ok"}'), 1)
        self.assertEqual(
            d('popgate_tls_handshakes_total{listener="pop3s",version="TLSv1.3"}'), 1)
        self.assertEqual(
            d('popgate_messages_retrieved_total{listener="plain",command="retr"}'), 2)
        self.assertEqual(
            d('popgate_messages_retrieved_total{listener="pop3s",command="top"}'), 1)
        self.assertEqual(d('popgate_messages_deleted_total{listener="plain"}'), 1)
        self.assertGreater(d('popgate_client_sent_bytes_total{listener="plain"}'), 300)
        # Three upstream logins were timed (two ok, one refused).
        self.assertEqual(d('popgate_upstream_latency_seconds_count{stage="login"}'), 3)
        # Every RETR and TOP is timed, also the one answered from the
        # message fetched ahead.
        self.assertEqual(
            d('popgate_upstream_latency_seconds_count{stage="fetch_first_byte"}'), 3)

    def test_refusals_and_upstream_errors(self):
        port, metrics = harness.free_ports(2)
        pg = harness.start_configured_popgate('metrics-limits', harness.popgate_conf([
            ('global', dict(workers=1, max_sessions_per_address=1,
                            metrics_address='127.0.0.1:%d' % metrics)),
            ('listener plain', harness.listener(port, 'none')),
            ('upstream', dict(url='imap://127.0.0.1:%d' % harness.free_ports(1)[0])),
        ]), port)
        one = POP3Strict(port)
        self.addCleanup(one.close)
        two = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.addCleanup(two.close)
        self.assertTrue(two.recv(200).startswith(b'-ERR [SYS/TEMP]'))
        one.ok('USER erin')
        self.assertTrue(one.cmd('PASS x').startswith('-ERR [SYS/TEMP]'))
        url = 'http://127.0.0.1:%d/metrics' % metrics
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        s = samples(text)
        self.assertEqual(
            s['popgate_sessions_refused_total{listener="plain",reason="address_limit"}'], 1,
            text)
        # The start-up probe and the login both found the port closed.
        self.assertGreaterEqual(s['popgate_upstream_errors_total{class="connect"}'], 1, text)
        self.assertEqual(s['popgate_logins_total{method="user",result="temp"}'], 1)
        pg.stop()


@harness.skip_unless_popgate('popgate metrics endpoint')
class Http(unittest.TestCase):
    def raw(self, request):
        with socket.create_connection(('127.0.0.1', METRICS), timeout=10) as s:
            s.sendall(request)
            data = b''
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return data
                data += chunk

    def test_status_codes(self):
        self.assertRegex(self.raw(b'GET /metrics HTTP/1.0\r\n\r\n'), rb'^HTTP/1\.[01] 200 ')
        head = self.raw(b'HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
        self.assertRegex(head, rb'^HTTP/1\.1 200 ')
        self.assertTrue(head.endswith(b'\r\n\r\n'), 'HEAD has no body')
        self.assertRegex(self.raw(b'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n'), rb'^HTTP/1\.1 404 ')
        self.assertRegex(self.raw(b'POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n'),
                         rb'^HTTP/1\.1 405 ')
        self.assertRegex(self.raw(b'GARBAGE\r\n\r\n'), rb'^HTTP/1\.[01] 400 ')
        with self.assertRaises(urllib.error.HTTPError):
            urllib.request.urlopen('http://127.0.0.1:%d/' % METRICS, timeout=10)

    def test_exposition_is_well_formed(self):
        text = scrape()
        for line in text.splitlines():
            self.assertRegex(line, r'^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [-+0-9.eE]+|'
                             r'\w+(\{[^}]*\})? \+Inf)$')
        self.assertIn('# TYPE popgate_sessions_total counter', text)
        self.assertIn('# TYPE popgate_upstream_latency_seconds histogram', text)
        self.assertTrue(re.search(r'popgate_upstream_latency_seconds_bucket\{stage="login",'
                                  r'le="\+Inf"\}', text), text[:3000])


if __name__ == '__main__':
    harness.main()
