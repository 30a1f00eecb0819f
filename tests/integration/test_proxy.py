#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PROXY protocol (v1 and v2) behind a real HAProxy.

One HAProxy (`haproxy -f CFG -db`, a child of this script, stopped by PID)
with four TCP frontends on 127.0.0.1:

* rr:    balance roundrobin over pg1 and pg2, send-proxy-v2;
* v1:    pg2 alone, send-proxy (v1 text header);
* limit: pg3 alone (max_sessions_per_address = 2), send-proxy-v2;
* flood: pg4 alone (max_connection_rate_per_address = 5), send-proxy-v2.

Every popgate has proxy_protocol = yes, proxy_networks = 127.0.0.1/32 and
workers = 1, in front of this file's Dovecot.  Clients bind to 127.0.0.2,
.3, .4 and .5 and connect to HAProxy; popgate must log and police them by
the address in the header (peer=127.0.0.2:PORT via=127.0.0.1:PORT), not by
HAProxy's 127.0.0.1.  Hand-made headers go straight to pg1: from 127.0.0.1
(a configured load balancer) they are honoured, from 127.0.0.6 (not one)
the connection is closed with no reply; plain POP3 and a broken header are
refused too.

Skips when `haproxy` is not installed and in POPGATE_TARGET=dovecot-pop3
mode (a popgate-only feature).
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from harness import POP3TLS, dovecot_mode, log_events, pop3_form, wait_until  # noqa: E402

USERS = {u: 'secret-' + u for u in ('alice', 'bob', 'carol', 'dave', 'erin')}
ERR_LIMIT = '-ERR [SYS/TEMP] Too many connections, try again later.'
FLOOD_RATE = 5          # max_connection_rate_per_address of pg4
FLOOD_N = 30

FIX = None
ITEMS = {}              # user -> seeded items
PG = {}                 # 'pg1'.. -> Popgate
PORTS = {}              # 'rr', 'v1', 'limit', 'flood' -> HAProxy frontend port
PG1_STRICT_PORT = None  # pg1's second listener: plaintext_auth = no
HAPROXY = None


def haproxy_binary():
    return shutil.which('haproxy') or next(
        (p for p in ('/usr/sbin/haproxy', '/usr/local/sbin/haproxy') if os.access(p, os.X_OK)),
        None)


# -- PROXY headers ----------------------------------------------------------

V2_SIG = b'\r\n\r\n\x00\r\nQUIT\n'


def proxy_v2(src, sport, dst='127.0.0.1', dport=110):
    """A PROXY protocol v2 header: PROXY command, TCP over IPv4."""
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!HH', sport, dport)
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack('!H', len(body)) + body


def proxy_v1(src, sport, dst='127.0.0.1', dport=110, family='TCP4'):
    return ('PROXY %s %s %s %d %d\r\n' % (family, src, dst, sport, dport)).encode('ascii')


# -- HAProxy ----------------------------------------------------------------

def listening(port):
    """True if something listens on 127.0.0.1:port (read from /proc, so no
    connection is made: one through HAProxy would reach a popgate)."""
    want = '0100007F:%04X' % port
    try:
        with open('/proc/net/tcp') as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if len(parts) > 3 and parts[1] == want and parts[3] == '0A':
                    return True
    except OSError:
        pass
    return False


class HAProxy:
    """`haproxy -f CFG -db` in the foreground, a child of this script."""

    def __init__(self, binary, workdir, config_text, ports):
        self.binary = binary
        self.workdir = workdir
        self.cfg = os.path.join(workdir, 'haproxy.cfg')
        self.log_path = os.path.join(workdir, 'haproxy.log')
        self.ports = ports
        with open(self.cfg, 'w') as f:
            f.write(config_text)
        self.proc = None

    def start(self):
        log = open(self.log_path, 'ab')
        try:
            self.proc = subprocess.Popen([self.binary, '-f', self.cfg, '-db'],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         close_fds=True, cwd=self.workdir)
        finally:
            log.close()
        harness._extra_killers.append(self.kill_now)
        deadline = time.monotonic() + 10
        while not all(listening(p) for p in self.ports):
            if self.proc.poll() is not None:
                raise RuntimeError('haproxy exited with status %s:\n%s'
                                   % (self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError('haproxy did not listen on %r within 10s:\n%s'
                                   % (self.ports, self.log_tail()))
            time.sleep(0.05)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            except ProcessLookupError:
                pass
        harness._log_tails.append(('haproxy log tail', self.log_tail()))
        self.proc = None

    def kill_now(self):
        p = self.proc
        if p is not None and p.poll() is None:
            try:
                p.kill()
                p.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors='replace') as f:
                return '\n'.join(f.read().splitlines()[-n:])
        except OSError:
            return ''


def haproxy_config(fe, be):
    """fe: frontend name -> port; be: backend name -> [(server, port, option)]."""
    lines = ['global', '    nbthread 1', '    maxconn 512', '',
             'defaults', '    mode tcp', '    timeout connect 5s',
             '    timeout client 30s', '    timeout server 30s', '']
    for name, port in fe.items():
        lines += ['frontend fe_%s' % name, '    bind 127.0.0.1:%d' % port,
                  '    default_backend be_%s' % name, '']
        lines += ['backend be_%s' % name, '    balance roundrobin']
        lines += ['    server %s 127.0.0.1:%d %s' % s for s in be[name]]
        lines.append('')
    return '\n'.join(lines) + '\n'


def popgate_config(port, upstream_port, strict_port=None, **glob):
    sections = [('global', dict(workers=1, **glob)),
                ('listener pop3', harness.listener(port, 'none', plaintext_auth='yes',
                                                   proxy_protocol='yes',
                                                   proxy_networks='127.0.0.1/32'))]
    if strict_port is not None:
        # plaintext only from trusted_networks (the default, 127.0.0.0/8):
        # decided on the header's address
        sections.append(('listener strict', harness.listener(
            strict_port, 'none', plaintext_auth='no', proxy_protocol='yes',
            proxy_networks='127.0.0.1/32')))
    sections.append(('upstream', dict(url='imap://127.0.0.1:%d' % upstream_port)))
    return harness.popgate_conf(sections)


def setUpModule():
    global FIX, HAPROXY, PG1_STRICT_PORT
    harness.skip_in_dovecot_mode('PROXY protocol is popgate-only')
    binary = haproxy_binary()
    if binary is None:
        harness.tool_missing('haproxy (Debian package haproxy)')
    for a in ('127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'):
        if not harness.loopback_alias_ok(a):
            harness.skip('cannot bind a client socket to %s' % a)
    FIX = harness.setup_module(users=USERS)
    for user in USERS:
        m = FIX.dovecot.imap(user)
        try:
            ITEMS[user] = mailseed.seed(m, mailseed.simple_corpus(2, tag='proxy-' + user))
        finally:
            m.logout()
    up = FIX.dovecot.imap_port
    p = harness.free_ports(9)
    PG1_STRICT_PORT = p[8]
    specs = {'pg1': (p[0], dict(strict_port=PG1_STRICT_PORT)),
             'pg2': (p[1], {}),
             'pg3': (p[2], dict(max_sessions_per_address=2)),
             'pg4': (p[3], dict(max_connection_rate_per_address=FLOOD_RATE))}
    for name, (port, kw) in specs.items():
        strict = kw.pop('strict_port', None)
        pg = harness.Popgate(harness.POPGATE, FIX.subdir('popgate-' + name), up,
                             config_text=popgate_config(port, up, strict, **kw), port=port)
        FIX.servers.append(pg)
        PG[name] = pg
        pg.start()      # its readiness probe is a plain connect: refused, before any mark
    PORTS.update(rr=p[4], v1=p[5], limit=p[6], flood=p[7])
    be = {'rr': [('pg1', p[0], 'send-proxy-v2'), ('pg2', p[1], 'send-proxy-v2')],
          'v1': [('pg2v1', p[1], 'send-proxy')],
          'limit': [('pg3', p[2], 'send-proxy-v2')],
          'flood': [('pg4', p[3], 'send-proxy-v2')]}
    HAPROXY = HAProxy(binary, FIX.subdir('haproxy'), haproxy_config(PORTS, be),
                      list(PORTS.values()))
    unittest.addModuleCleanup(HAPROXY.stop)     # runs before the fixture's teardown
    HAPROXY.start()


# -- helpers ----------------------------------------------------------------

def mark(pg):
    return len(pg.log_text())


def events(pg, since, event):
    return log_events(pg.log_text()[since:], event)


def find(pg, since, event, **kv):
    return [e for e in events(pg, since, event)
            if all(e.get(k) == v for k, v in kv.items())]


def connect(port, source, greeting=True):
    return POP3TLS(port, source=source, greeting=greeting)


def local(c):
    """'ADDR:PORT' of the client end of c."""
    a, p = c.sock.getsockname()[:2]
    return '%s:%d' % (a, p)


def closed_silently(sock, timeout=5.0):
    """Read until EOF; returns the bytes received (b'' when the server
    closed without a reply).  Raises socket.timeout if it stays open."""
    sock.settimeout(timeout)
    got = b''
    while True:
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return got
        if not chunk:
            return got
        got += chunk


def raw_send(source, port, data):
    """Connect from source, send data (ignoring a reset: the server may have
    closed already); returns (socket, 'ADDR:PORT' of our end)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=harness.SOCKET_TIMEOUT,
                                 source_address=(source, 0))
    me = '%s:%d' % s.getsockname()[:2]
    try:
        s.sendall(data)
    except (ConnectionResetError, BrokenPipeError):
        pass
    return s, me


class ProxyCase(harness.WatchServers, unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        super().setUp()
        self.assertTrue(HAPROXY is not None and HAPROXY.running(),
                        'haproxy is not running:\n%s' % (HAPROXY.log_tail() if HAPROXY else ''))

    def session(self, c, user, quit=True):
        """Log in on a connected client, check STAT and RETR 1 byte-exact."""
        items = ITEMS[user]
        c.login(user, USERS[user])
        self.assertEqual(c.stat()[0], len(items), 'STAT for %s' % user)
        self.assertEqual(c.retr(1), pop3_form(items[0]['stored']),
                         'RETR 1 of %s must be byte-exact' % user)
        if quit:
            st = c.quit()
            self.assertTrue(st.startswith('+OK'), 'QUIT: %r' % st)
            c.close()

    def wait_event(self, pg, since, event, **kv):
        got = wait_until(lambda: find(pg, since, event, **kv), 5)
        self.assertTrue(got, 'no event=%s with %r in %s since the mark:\n%s'
                        % (event, kv, pg.workdir, pg.log_text()[since:][-3000:]))
        return got

    def assertRefused(self, pg, since, peer_addr, peer_port):
        """proxy-refused logged for the connection from peer_addr:peer_port
        (the peer may be logged with or without its port)."""
        def hit():
            return [e for e in events(pg, since, 'proxy-refused')
                    if e.get('peer') in ('%s:%d' % (peer_addr, peer_port), peer_addr)]
        got = wait_until(hit, 5)
        self.assertTrue(got, 'no event=proxy-refused peer=%s:%d in %s:\n%s'
                        % (peer_addr, peer_port, pg.workdir, pg.log_text()[since:][-3000:]))
        self.assertTrue(got[0].get('reason'), 'proxy-refused without a reason: %s'
                        % got[0]['_line'])
        return got


# -- 1. end to end through HAProxy, roundrobin over two popgates --------------

class EndToEnd(ProxyCase):

    def test_roundrobin_sessions_carry_the_client_address(self):
        pgs = [PG['pg1'], PG['pg2']]
        marks = [mark(pg) for pg in pgs]
        clients = []
        for src in ('127.0.0.2', '127.0.0.3', '127.0.0.2', '127.0.0.3'):
            c = connect(PORTS['rr'], src)
            self.assertTrue(c.greeting.startswith('+OK'), 'greeting through HAProxy: %r'
                            % c.greeting)
            me = local(c)
            self.session(c, 'alice')
            clients.append(me)
        served = {0: [], 1: []}
        for me in clients:
            def where_logged():
                return [i for i, pg in enumerate(pgs)
                        if find(pg, marks[i], 'session-start', peer=me)]
            where = wait_until(where_logged, 5)
            time.sleep(0.05)
            where = where_logged()      # both, if both logged it
            self.assertEqual(len(where), 1, 'session-start peer=%s must be logged by exactly '
                             'one popgate (found in %r)\n--- pg1 ---\n%s\n--- pg2 ---\n%s'
                             % (me, where, pgs[0].log_text()[marks[0]:][-2000:],
                                pgs[1].log_text()[marks[1]:][-2000:]))
            i = where[0]
            served[i].append(me)
            start = find(pgs[i], marks[i], 'session-start', peer=me)[0]
            via = start.get('via', '')
            self.assertRegex(via, r'^127\.0\.0\.1:\d+$',
                             'via= must be the load balancer: %s' % start['_line'])
            self.assertNotEqual(via, me)
            logins = self.wait_event(pgs[i], marks[i], 'login', peer=me, sid=start['sid'])
            self.assertEqual(logins[0].get('result'), 'ok', logins[0]['_line'])
            self.assertEqual(logins[0].get('user'), 'alice', logins[0]['_line'])
            self.wait_event(pgs[i], marks[i], 'session-end', peer=me, sid=start['sid'])
        self.assertTrue(served[0] and served[1],
                        'roundrobin: both popgates must serve sessions (pg1: %r, pg2: %r)'
                        % (served[0], served[1]))
        for i, pg in enumerate(pgs):
            for e in events(pg, marks[i], 'session-start'):
                self.assertFalse(e.get('peer', '').startswith('127.0.0.1:'),
                                 'a session logged with the load balancer as its peer: %s'
                                 % e['_line'])
            self.assertEqual(events(pg, marks[i], 'proxy-refused'), [],
                             "HAProxy's v2 headers must all be accepted")

    def test_haproxy_v1_header(self):
        pg = PG['pg2']
        m = mark(pg)
        c = connect(PORTS['v1'], '127.0.0.3')
        self.assertTrue(c.greeting.startswith('+OK'), 'greeting through HAProxy (send-proxy): %r'
                        % c.greeting)
        me = local(c)
        self.session(c, 'erin')
        start = self.wait_event(pg, m, 'session-start', peer=me)[0]
        self.assertRegex(start.get('via', ''), r'^127\.0\.0\.1:\d+$', start['_line'])
        self.wait_event(pg, m, 'login', peer=me, user='erin', result='ok')


# -- 2. per-address limits on the header's address ----------------------------

class AddressLimits(ProxyCase):

    def test_sessions_per_address(self):
        pg = PG['pg3']
        m = mark(pg)
        held = []
        try:
            for _ in range(2):
                c = connect(PORTS['limit'], '127.0.0.2')
                held.append(c)
                self.assertTrue(c.greeting.startswith('+OK'),
                                'session %d of 127.0.0.2 (limit 2): %r' % (len(held), c.greeting))
            c3 = connect(PORTS['limit'], '127.0.0.2', greeting=False)
            me3 = local(c3)
            try:
                st = c3.status()
                self.assertEqual(st, ERR_LIMIT, 'third session of 127.0.0.2')
                self.assertTrue(c3.expect_eof(5), 'connection must close after the refusal')
            finally:
                c3.close()
            start = self.wait_event(pg, m, 'session-start', peer=me3)[0]
            end = self.wait_event(pg, m, 'session-end', sid=start['sid'])[0]
            self.assertEqual(end.get('reason'), 'address session limit', end['_line'])
            # another client address behind the same load balancer still gets in
            c4 = connect(PORTS['limit'], '127.0.0.3')
            self.assertTrue(c4.greeting.startswith('+OK'),
                            '127.0.0.3 while 127.0.0.2 is at its limit: %r' % c4.greeting)
            self.session(c4, 'bob')
            # a slot of 127.0.0.2 freed: it gets in again
            first = held.pop(0)
            try:
                st = first.quit()
            finally:
                first.close()
            self.assertTrue(st.startswith('+OK'), 'QUIT: %r' % st)
            ok = wait_until(lambda: self._greets(PORTS['limit'], '127.0.0.2'), 5, 0.2)
            self.assertTrue(ok, '127.0.0.2 must get in again after one of its sessions ended')
        finally:
            for c in held:
                c.close()

    @staticmethod
    def _greets(port, src):
        c = connect(port, src, greeting=False)
        try:
            st = c.status()
            if st.startswith('+OK'):
                c.quit()
                return True
            return False
        except (harness.ConnectionClosed, OSError):
            return False
        finally:
            c.close()

    def test_connection_rate_flood(self):
        pg = PG['pg4']
        m = mark(pg)
        ok, refused, other = [], [], []
        bystander = None
        t0 = time.monotonic()
        for i in range(FLOOD_N):
            c = connect(PORTS['flood'], '127.0.0.4', greeting=False)
            me = local(c)
            try:
                st = c.status()
            except harness.ConnectionClosed as e:
                st = 'EOF %r' % e.partial
            if st.startswith('+OK'):
                ok.append(me)
            elif st == ERR_LIMIT:
                refused.append(me)
                self.assertTrue(c.expect_eof(5), 'flood connection %d must close after %r'
                                % (i, st))
            else:
                other.append((me, st))
            c.close()
            if i == FLOOD_N // 2:
                self.assertTrue(refused, 'after %d quick connections from 127.0.0.4 none was '
                                'refused (max_connection_rate_per_address = %d)'
                                % (i + 1, FLOOD_RATE))
                # another client behind the same load balancer, during the flood
                b = connect(PORTS['flood'], '127.0.0.5')
                self.assertTrue(b.greeting.startswith('+OK'),
                                '127.0.0.5 during the flood from 127.0.0.4: %r' % b.greeting)
                bystander = local(b)
                self.session(b, 'carol')
        elapsed = time.monotonic() - t0
        self.assertEqual(other, [], 'replies other than +OK and %r' % ERR_LIMIT)
        self.assertTrue(ok, 'the first connections of 127.0.0.4 must be served')
        self.assertTrue(refused, 'no flood connection was refused')
        self.assertLessEqual(len(ok), FLOOD_RATE * (int(elapsed) + 2),
                             '%d of %d connections in %.1fs accepted at %d/s'
                             % (len(ok), FLOOD_N, elapsed, FLOOD_RATE))
        start = self.wait_event(pg, m, 'session-start', peer=refused[0])[0]
        end = self.wait_event(pg, m, 'session-end', sid=start['sid'])[0]
        self.assertEqual(end.get('reason'), 'address connection rate', end['_line'])
        self.wait_event(pg, m, 'login', peer=bystander, user='carol', result='ok')


# -- 3. who may send a header ---------------------------------------------------

class HeaderSource(ProxyCase):

    def test_header_from_outside_proxy_networks_refused(self):
        pg = PG['pg1']
        port = pg.port
        for name, header in (('v2', proxy_v2('203.0.113.9', 4444, dport=port)),
                             ('v1', proxy_v1('203.0.113.10', 4445, dport=port))):
            m = mark(pg)
            s, me = raw_send('127.0.0.6', port, header)
            try:
                got = closed_silently(s)
            except socket.timeout:
                self.fail('%s header from 127.0.0.6 (not in proxy_networks): connection '
                          'still open after 5s' % name)
            finally:
                s.close()
            self.assertEqual(got, b'', '%s header from 127.0.0.6 must get no reply' % name)
            self.assertRefused(pg, m, '127.0.0.6', int(me.rsplit(':', 1)[1]))
            for e in events(pg, m, 'session-start'):
                self.assertNotIn('203.0.113.', e.get('peer', ''),
                                 'header of an untrusted sender honoured: %s' % e['_line'])

    def test_v2_header_from_load_balancer_no_greeting_before_it(self):
        pg = PG['pg1']
        m = mark(pg)
        c = connect(pg.port, '127.0.0.1', greeting=False)
        me = local(c)
        try:
            quiet = c.silent_for(0.5)
            self.assertIs(quiet, True, 'popgate sent %r before the PROXY header' % (quiet,))
            # the header in two segments
            h = proxy_v2('192.0.2.44', 40000, dport=pg.port)
            c.send(h[:9])
            time.sleep(0.2)
            c.send(h[9:])
            st = c.status()
            self.assertTrue(st.startswith('+OK'), 'greeting after a v2 header: %r' % st)
            self.session(c, 'dave', quit=False)
            self.assertTrue(c.quit().startswith('+OK'))
        finally:
            c.close()
        start = self.wait_event(pg, m, 'session-start', peer='192.0.2.44:40000')[0]
        self.assertEqual(start.get('via'), me, start['_line'])
        self.assertEqual(start.get('listener'), 'pop3', start['_line'])
        self.wait_event(pg, m, 'login', peer='192.0.2.44:40000', user='dave', result='ok')
        self.wait_event(pg, m, 'session-end', peer='192.0.2.44:40000', sid=start['sid'])

    def test_plain_pop3_and_broken_header_refused(self):
        pg = PG['pg1']
        for name, data in (('plain POP3', b'USER dave\r\nCAPA\r\n'),
                           ('broken v1', b'PROXY TCP4 198.51.100.7 nonsense\r\n'),
                           ('bad v2 version', V2_SIG + b'\x31\x11\x00\x0c' + b'\0' * 12)):
            m = mark(pg)
            s, me = raw_send('127.0.0.1', pg.port, data)
            try:
                got = closed_silently(s)
            except socket.timeout:
                self.fail('%s to a PROXY listener: connection still open after 5s' % name)
            finally:
                s.close()
            self.assertEqual(got, b'', '%s to a PROXY listener must get no reply' % name)
            self.assertRefused(pg, m, '127.0.0.1', int(me.rsplit(':', 1)[1]))

    def test_trusted_networks_use_header_address(self):
        pg = PG['pg1']
        # 127.0.0.7 is in the default trusted_networks (127.0.0.0/8), 198.51.100.8 is not
        for src, allowed in (('127.0.0.7', True), ('198.51.100.8', False)):
            m = mark(pg)
            c = connect(PG1_STRICT_PORT, '127.0.0.1', greeting=False)
            try:
                c.send(proxy_v2(src, 41000, dport=PG1_STRICT_PORT))
                self.assertTrue(c.status().startswith('+OK'))
                st = c.cmd('USER dave')
                if allowed:
                    self.assertTrue(st.startswith('+OK'), 'USER from trusted %s: %r' % (src, st))
                    self.assertTrue(c.cmd('PASS %s' % USERS['dave']).startswith('+OK'))
                else:
                    self.assertTrue(st.startswith('-ERR'), 'USER from untrusted %s over '
                                    'cleartext (plaintext_auth = no): %r' % (src, st))
                c.quit()
            finally:
                c.close()
            self.wait_event(pg, m, 'session-start', peer='%s:41000' % src, listener='strict')


# -- 4. hand-written v1 ------------------------------------------------------------

class HandV1(ProxyCase):

    def test_v1_tcp4(self):
        pg = PG['pg1']
        m = mark(pg)
        c = connect(pg.port, '127.0.0.1', greeting=False)
        me = local(c)
        try:
            c.send(b'PROXY TCP4 198.51.100.7 127.0.0.1 5555 110\r\n')
            st = c.status()
            self.assertTrue(st.startswith('+OK'), 'greeting after a v1 header: %r' % st)
            self.session(c, 'dave', quit=False)
            self.assertTrue(c.quit().startswith('+OK'))
        finally:
            c.close()
        start = self.wait_event(pg, m, 'session-start', peer='198.51.100.7:5555')[0]
        self.assertEqual(start.get('via'), me, start['_line'])
        self.wait_event(pg, m, 'login', peer='198.51.100.7:5555', user='dave', result='ok')

    def test_v1_tcp6(self):
        pg = PG['pg1']
        m = mark(pg)
        c = connect(pg.port, '127.0.0.1', greeting=False)
        try:
            c.send(proxy_v1('2001:db8::7', 5556, dst='2001:db8::1', family='TCP6'))
            st = c.status()
            self.assertTrue(st.startswith('+OK'), 'greeting after a v1 TCP6 header: %r' % st)
            self.assertTrue(c.quit().startswith('+OK'))
        finally:
            c.close()
        got = wait_until(lambda: [e for e in events(pg, m, 'session-start')
                                  if '2001:db8::7' in e.get('peer', '')
                                  and e.get('peer', '').endswith('5556')], 5)
        self.assertTrue(got, 'no session-start with peer 2001:db8::7 port 5556:\n%s'
                        % pg.log_text()[m:][-2000:])


if __name__ == '__main__':
    harness.main()
