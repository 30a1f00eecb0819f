#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Soak test: popgate (2 workers) in front of a private Dovecot under mixed
POP3 load for DURATION seconds, with SIGHUP reloads and upstream restarts.

    PYTHONPATH=tests/support python3 tests/support/soak.py --duration 3600 \
        --popgate /tmp/build-main/popgate

Every message delivered (IMAP APPEND, header X-Soak-Seq: N) is accounted
for.  A message is consumed when a session that RETR'd and DELE'd it got
+OK to QUIT.  It is duplicated if it is consumed twice, retrieved by a
session that started after it was consumed, or still in the mailbox after
that.  It is lost if, after the final drain, it was never consumed and is
not in the mailbox, unless a QUIT was sent for its DELE without a +OK
reply (the commit may or may not have happened; POP3 promises nothing
then).  A retrieval in a session that did not end with QUIT +OK consumes
nothing.  Every retrieved message is compared with what was appended.

Exit status 0 only if nothing was lost, duplicated or corrupted, no
reply broke the wire format, no session failed (a refusal or a cut
connection) except around an upstream restart, every reload was
confirmed in the log,
popgate stayed up and exited 0 without sanitizer reports, and after the
drain its RSS is at most 3x and its open descriptors at most FD_SLACK
above what they were before the load.
"""

import argparse
import imaplib
import os
import queue
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dovecot import Dovecot, DovecotError, free_port  # noqa: E402
from harness import ConnectionClosed, ProtocolError, client_tls_context  # noqa: E402
import mailseed  # noqa: E402
from pki import TestPKI  # noqa: E402
from popgate import Popgate  # noqa: E402
from soak_load import (CLIENT_TIMEOUT, DROPS, KINDS, PASSWORD, Broken,  # noqa: E402
                       Corrupt, Ledger, Pacer, Refused, client_loop, connect,
                       login, message, session_consume)

RESTART_GRACE = 5.0     # seconds after a restart whose session errors it explains
FD_SLACK = 8
RSS_FACTOR = 3.0

CONFIG = """[global]
workers = 2
log_level = info
metrics_address = 127.0.0.1:{metrics_port}
max_sessions_per_address = 0

[tls_profile default]
cert = {cert}
key = {key}

[listener pop3]
address = 127.0.0.1:{port}
tls = starttls

[upstream]
url = imap://127.0.0.1:{upstream_port}
fetch_chunk = 16384
fetch_ahead = {fetch_ahead}
connect_timeout = 10
command_timeout = 30

[session]
idle_timeout = 120
login_timeout = 60
"""


class Chaos:
    """SIGHUP reloads and upstream restarts, and the time windows in which
    the restarts excuse failed sessions."""

    def __init__(self, env):
        self.env = env
        self.lock = threading.Lock()
        self.windows = []
        self.fetch_ahead = True
        self.log_pos = 0
        self.reloads_seen = 0

    def overlaps(self, t0, t1):
        with self.lock:
            for start, end in self.windows:
                end = float('inf') if end is None else end + RESTART_GRACE
                if t0 <= end and t1 >= start - 0.5:
                    return True
        return False

    def reload(self):
        env = self.env
        if not env.pg.running():
            return
        self.fetch_ahead = not self.fetch_ahead
        env.write_config(self.fetch_ahead)
        before = self.reloads_logged()
        os.kill(env.pg.pid, signal.SIGHUP)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.reloads_logged() > before:
                env.ledger.count('reloads')
                return
            time.sleep(0.1)
        env.ledger.problem('reload', 'SIGHUP %d not confirmed by '
                           '"event=reload result=ok" within 15 s'
                           % (env.ledger.counts.get('reloads', 0) + 1))

    def reloads_logged(self):
        """Reloads logged so far; the log is read on from where it was
        read last, whole lines only."""
        with open(self.env.pg.log_path, 'rb') as f:
            f.seek(self.log_pos)
            data = f.read()
        end = data.rfind(b'\n') + 1
        self.log_pos += end
        self.reloads_seen += data[:end].count(b'event=reload result=ok')
        return self.reloads_seen

    def restart(self, rng):
        t = time.monotonic()
        with self.lock:
            self.windows.append([t, None])
        try:
            self.env.dc.restart(down=rng.uniform(0.2, 3.0))
        except DovecotError as e:
            self.env.ledger.problem('upstream', 'Dovecot did not come back: %s' % e)
            self.env.stop.set()
            return
        finally:
            with self.lock:
                self.windows[-1][1] = time.monotonic()
        self.env.ledger.count('upstream-restarts')

    def run(self, stop, reload_every, restart_every):
        rng = random.Random(7)
        now = time.monotonic()
        next_reload, next_restart = now + reload_every, now + restart_every
        while not stop.wait(0.2):
            now = time.monotonic()
            if reload_every and now >= next_reload:
                self.reload()
                next_reload = now + reload_every * rng.uniform(0.7, 1.3)
            if restart_every and now >= next_restart:
                self.restart(rng)
                next_restart = time.monotonic() + restart_every * rng.uniform(0.7, 1.3)


# -- the threads ---------------------------------------------------------

def deliver_one(env, conns, user):
    seq = env.ledger.new_seq(user)
    try:
        imap = conns.get(user)
        if imap is None:
            imap = conns[user] = env.dc.imap(user)
        mailseed.append(imap, 'INBOX', message(seq))
    except (OSError, imaplib.IMAP4.error, mailseed.SeedError):
        env.ledger.count('append failures')
        imap = conns.pop(user, None)
        if imap is not None:
            try:
                imap.shutdown()
            except OSError:
                pass
        return
    with env.ledger.lock:
        env.ledger.delivered.add(seq)


def deliver_loop(env, rate):
    rng = random.Random(99)
    pacer = Pacer(rate)
    conns = {}
    while pacer.wait(env.stop):
        deliver_one(env, conns, rng.choice(env.users))
    for imap in conns.values():
        try:
            imap.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def proc_usage(pid):
    """(VmRSS in kB, open descriptors) of pid."""
    rss = 0
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                rss = int(line.split()[1])
    return rss, len(os.listdir('/proc/%d/fd' % pid))


def sample_loop(env, every):
    while not env.stop.wait(every):
        if not env.pg.running():
            env.ledger.problem('died', 'popgate exited with status %s during '
                               'the run' % env.pg.proc.poll())
            env.stop.set()
            return
        env.sample('run')


def sessions_active(env):
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d/metrics'
                                    % env.metrics_port, timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    return sum(int(float(m.group(1))) for m in
               re.finditer(r'(?m)^popgate_sessions_active\{[^}]*\} (\S+)$', text))


# -- set-up, drain, verification and report ------------------------------

class Env:
    def __init__(self, args):
        self.args = args
        self.users = ['soak%02d' % i for i in range(args.mailboxes)]
        self.ledger = Ledger()
        self.chaos = Chaos(self)
        self.stop = threading.Event()
        self.free_users = queue.Queue()
        for user in random.Random(3).sample(self.users, len(self.users)):
            self.free_users.put(user)
        self.pacer = Pacer(args.rate)
        self.samples = []
        self.workdir = tempfile.mkdtemp(prefix='popgate-soak-', dir='/tmp')
        os.chmod(self.workdir, 0o711)
        self.dc = self.pg = None
        with open(args.popgate, 'rb') as f:
            self.asan = b'__asan_init' in f.read()
        self.t0 = time.monotonic()
        self.notes = open(os.path.join(self.workdir, 'sessions.log'), 'w',
                          buffering=1)

    def take_user(self, rng):
        try:
            return self.free_users.get(timeout=1)
        except queue.Empty:
            return None

    def write_config(self, fetch_ahead):
        text = CONFIG.format(metrics_port=self.metrics_port, cert=self.cert,
                             key=self.key, port=self.port,
                             upstream_port=self.dc.imap_port,
                             fetch_ahead='yes' if fetch_ahead else 'no')
        if self.pg is None:
            return text
        tmp = self.pg.conf_path + '.new'
        with open(tmp, 'w') as f:
            f.write(text)
        os.rename(tmp, self.pg.conf_path)
        return text

    def setup(self):
        pki = TestPKI(os.path.join(self.workdir, 'pki'))
        self.cert, self.key = pki.cert('localhost')
        os.chmod(self.key, 0o644)   # read again after popgate dropped root
        self.tls_ctx = client_tls_context(pki.ca_cert)
        self.dc = Dovecot(os.path.join(self.workdir, 'dovecot'),
                          users={u: PASSWORD for u in self.users})
        self.dc.start()
        conns = {}
        for user in self.users:
            for _ in range(self.args.seed_messages):
                deliver_one(self, conns, user)
        for imap in conns.values():
            imap.logout()
        taken = {self.dc.imap_port, self.dc.pop3_port}
        self.port = free_port()
        self.metrics_port = free_port()
        while self.port in taken or self.metrics_port in taken | {self.port}:
            self.port, self.metrics_port = free_port(), free_port()
        self.pg = Popgate(self.args.popgate, os.path.join(self.workdir, 'popgate'),
                          self.dc.imap_port, config_text=self.write_config(True),
                          port=self.port)
        self.pg.start()

    def note(self, kind, user, t0, what):
        """One line per session in sessions.log of the work directory."""
        now = time.monotonic()
        line = '%.3f %.3f %s %s %s\n' % (t0 - self.t0, now - t0, kind, user, what)
        with self.ledger.lock:
            self.notes.write(line)

    def sample(self, label):
        rss, fds = proc_usage(self.pg.pid)
        self.samples.append((time.monotonic(), label, rss, fds))
        return rss, fds


def drain_once(env, user, rng):
    """One consuming session that takes everything; the number of messages
    it took, or None if it has to be tried again."""
    led = env.ledger
    start = led.tick()
    c = None
    try:
        c = connect(env, False)
        login(c, user)
        before = led.counts.get('consumed', 0)
        session_consume(env, c, user, rng, start, limit=10 ** 9)
        n = led.counts.get('consumed', 0) - before
        led.count('drained', n)
        return n
    except Refused as e:
        led.count('drain refused ' + e.code)
    except ProtocolError as e:
        led.problem('protocol', 'drain %s: %s' % (user, e))
    except Corrupt as e:
        led.problem('corrupt', 'drain: %s' % e)
    except (ConnectionClosed, Broken, OSError) as e:
        led.unexplained.append('drain %s: %s: %s' % (user, type(e).__name__,
                                                      str(e)[:200]))
    finally:
        if c is not None:
            c.close()
    time.sleep(0.5)
    return None


def drain(env):
    """Consume what is left until a session finds each mailbox empty."""
    rng = random.Random(5)
    left = list(env.users)
    deadline = time.monotonic() + 180
    while left and time.monotonic() < deadline:
        user = left.pop(0)
        if drain_once(env, user, rng) != 0:
            left.append(user)
    if left:
        env.ledger.problem('drain', 'not emptied within 180 s: %s' % ' '.join(left))


def mailbox_seqs(imap):
    """{seq: uid} of the messages in the INBOX of a logged-in imaplib."""
    out = {}
    if not mailseed.uids(imap):
        return out
    typ, data = imap.uid('FETCH', '1:*', '(UID BODY.PEEK[HEADER.FIELDS (X-SOAK-SEQ)])')
    for item in data:
        if isinstance(item, tuple):
            m = re.search(rb'X-Soak-Seq: (\d+)', item[1])
            u = re.search(rb'UID (\d+)', item[0])
            if m and u:
                out[int(m.group(1))] = int(u.group(1))
    return out


def present_seqs(env):
    """{seq: user} of every message still in the mailboxes, by IMAP."""
    present = {}
    for user in env.users:
        imap = env.dc.imap(user)
        try:
            present.update((seq, user) for seq in mailbox_seqs(imap))
        finally:
            imap.logout()
    return present


def sabotage(env):
    """A check of the checks: behind popgate's back, expunge one message
    no client has consumed (it must be reported lost) and deliver a
    consumed one again (it must be reported duplicated)."""
    led = env.ledger
    user = env.free_users.get()
    try:
        conns = {}
        deliver_one(env, conns, user)   # so that there is one to lose
        imap = conns.get(user) or env.dc.imap(user)
        seqs = mailbox_seqs(imap)
        with led.lock:
            victims = [s for s in seqs if s not in led.consumed and
                       s not in led.uncertain and s in led.delivered]
            again = [s for s, u in led.attempted.items()
                     if u == user and s in led.consumed]
        if victims:
            imap.uid('STORE', str(seqs[victims[0]]), '+FLAGS.SILENT', '(\\Deleted)')
            imap.uid('EXPUNGE', str(seqs[victims[0]]))
        if again:
            mailseed.append(imap, 'INBOX', message(again[-1]))
        imap.logout()
    finally:
        env.free_users.put(user)
    sys.stderr.write('soak: sabotage in %s: expunged %s, delivered again %s\n'
                     % (user, victims[:1], again[-1:]))


def account(env):
    led = env.ledger
    present = present_seqs(env)
    with led.lock:
        consumed = set(led.consumed)
        delivered = set(led.delivered)
        unconfirmed = set(led.attempted) - delivered
        uncertain = set(led.uncertain)
    lost = sorted(delivered - consumed - set(present) - uncertain)
    for seq in lost:
        led.problem('lost', 'seq %d (%s): never consumed and not in the mailbox'
                    % (seq, led.attempted[seq]))
    for seq in sorted(consumed & set(present)):
        led.duplicate(seq, 'seq %d consumed but still in %s' % (seq, present[seq]))
    return {'present': len(present),
            'uncertain-gone': len(uncertain - consumed - set(present)),
            'unconfirmed': len(unconfirmed),
            'unconfirmed-stored': len(unconfirmed & (consumed | set(present)))}


def settle(env):
    """After the drain: wait for every session to be gone and the
    descriptors to come back, then the end sample."""
    start_fds = env.samples[0][3]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, fds = env.sample('settle')
        if sessions_active(env) == 0 and fds <= start_fds + FD_SLACK:
            break
        time.sleep(1)
    time.sleep(5)       # popgate trims its heap once a burst is over
    env.sample('end')


def timeline(samples, rows=20):
    """Up to `rows` samples spread over the run, always the first and last."""
    if len(samples) <= rows:
        return samples
    step = (len(samples) - 1) / (rows - 1)
    return [samples[round(i * step)] for i in range(rows)]


def verdict(env):
    led = env.ledger
    first, last = env.samples[0], env.samples[-1]
    fails = ['%s: %d' % (cls, len(v)) for cls, v in sorted(led.problems.items())]
    if led.unexplained:
        fails.append('session errors outside upstream restarts: %d'
                     % len(led.unexplained))
    if env.asan:
        pass    # ASan's allocator and quarantine: its RSS says nothing
    elif last[2] > RSS_FACTOR * first[2]:
        fails.append('RSS grew from %d kB to %d kB (more than %.0fx)'
                     % (first[2], last[2], RSS_FACTOR))
    if last[3] > first[3] + FD_SLACK:
        fails.append('descriptors grew from %d to %d (more than +%d)'
                     % (first[3], last[3], FD_SLACK))
    return fails


def report(env, load_s, extra):
    led = env.ledger
    c = led.counts
    t0 = env.samples[0][0]
    out = []
    say = out.append
    say('popgate soak: %.0f s of load, %d mailboxes, %d client threads, 2 workers'
        % (load_s, len(env.users), env.args.clients))
    drops = sum(c.get('kind ' + k, 0) for k in DROPS)
    say('sessions: %d completed (%.1f/s), %d dropped on purpose (%s)'
        % (c.get('sessions', 0), c.get('sessions', 0) / max(load_s, 1), drops,
           ', '.join('%s %d' % (k, c.get('kind ' + k, 0)) for k in sorted(DROPS))))
    say('  kinds: ' + ', '.join('%s %d' % (k, c.get('kind ' + k, 0))
                                for k, _ in KINDS if k not in DROPS))
    say('  refused at login: [IN-USE] %d, [SYS/TEMP] %d; cut by an upstream '
        'restart: %d' % (c.get('refused IN-USE', 0), c.get('refused SYS/TEMP', 0),
                         c.get('cut by upstream restart', 0)))
    say('reloads: %d confirmed; upstream restarts: %d'
        % (c.get('reloads', 0), c.get('upstream-restarts', 0)))
    say('messages: %d delivered (%d APPENDs failed, %d of them stored anyway), '
        '%d retrieved, %d consumed (%d in the drain), %d still present'
        % (len(led.delivered), extra['unconfirmed'], extra['unconfirmed-stored'],
           c.get('retrieved', 0), len(led.consumed), c.get('drained', 0),
           extra['present']))
    say('  removed by a QUIT whose reply the client did not read: %d'
        % extra['uncertain-gone'])
    say('lost: %d  duplicated: %d  corrupt: %d  protocol errors: %d'
        % tuple(len(led.problems.get(k, [])) for k in
                ('lost', 'duplicate', 'corrupt', 'protocol')))
    say('unexplained session errors (outside upstream restarts): %d'
        % len(led.unexplained))
    for text in led.unexplained[:10]:
        say('  ' + text)
    peak = max(env.samples, key=lambda s: s[2])
    peak_fds = max(s[3] for s in env.samples)
    first, last = env.samples[0], env.samples[-1]
    say('RSS kB: start %d, peak %d, end %d%s; fds: start %d, peak %d, end %d'
        % (first[2], peak[2], last[2], ' (ASan build: not bounded)' if env.asan
           else '', first[3], peak_fds, last[3]))
    say('  %8s %-7s %9s %5s' % ('t (s)', 'phase', 'RSS kB', 'fds'))
    for t, label, rss, fds in timeline(env.samples):
        say('  %8.0f %-7s %9d %5d' % (t - t0, label, rss, fds))
    for cls, texts in sorted(led.problems.items()):
        for text in texts[:10]:
            say('PROBLEM %s: %s' % (cls, text))
    fails = verdict(env)
    say('result: %s' % ('PASS' if not fails else 'FAIL (%s)' % '; '.join(fails)))
    print('\n'.join(out))
    sys.stdout.flush()
    return 1 if fails else 0


def run(env):
    args = env.args
    env.setup()
    env.sample('start')
    threads = [threading.Thread(target=client_loop, args=(env, i), daemon=True)
               for i in range(args.clients)]
    threads += [threading.Thread(target=deliver_loop, args=(env, args.deliver_rate),
                                 daemon=True),
                threading.Thread(target=env.chaos.run, daemon=True,
                                 args=(env.stop, args.reload_every, args.restart_every)),
                threading.Thread(target=sample_loop, args=(env, args.sample_every),
                                 daemon=True)]
    begin = time.monotonic()
    for t in threads:
        t.start()
    if args.sabotage and not env.stop.wait(args.duration / 2):
        sabotage(env)
    env.stop.wait(max(0.0, begin + args.duration - time.monotonic()))
    env.stop.set()
    for t in threads:
        t.join(CLIENT_TIMEOUT + 30)
    load_s = time.monotonic() - begin
    if not env.pg.running():
        if 'died' not in env.ledger.problems:
            env.ledger.problem('died', 'popgate exited with status %s'
                               % env.pg.proc.poll())
        try:
            env.pg.stop(expect_status=None)     # for the sanitizer report
        except AssertionError as e:
            env.ledger.problem('exit', str(e)[:3000])
        return report(env, load_s, {'present': 0, 'uncertain-gone': 0,
                                    'unconfirmed': 0, 'unconfirmed-stored': 0})
    if env.dc.proc is None:
        env.dc.restart()
    drain(env)
    extra = account(env)
    settle(env)
    try:
        env.pg.stop()
    except AssertionError as e:
        env.ledger.problem('exit', str(e)[:3000])
    return report(env, load_s, extra)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--duration', type=float, required=True, help='seconds of load')
    p.add_argument('--popgate', default=os.environ.get('POPGATE_BINARY',
                                                       '/tmp/build-main/popgate'))
    p.add_argument('--mailboxes', type=int, default=16)
    p.add_argument('--clients', type=int, default=6, help='client threads')
    p.add_argument('--rate', type=float, default=30, help='sessions per second at most')
    p.add_argument('--deliver-rate', type=float, default=12, help='APPENDs per second')
    p.add_argument('--seed-messages', type=int, default=5, help='per mailbox at start')
    p.add_argument('--reload-every', type=float, default=20, help='seconds, 0: never')
    p.add_argument('--restart-every', type=float, default=45,
                   help='seconds between upstream restarts, 0: never')
    p.add_argument('--sample-every', type=float, default=5, help='seconds')
    p.add_argument('--sabotage', action='store_true',
                   help='lose one message and duplicate one behind popgate\'s '
                   'back half way; the run must then FAIL')
    p.add_argument('--keep', action='store_true',
                   help='keep the work directory (it is kept anyway on failure)')
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    if not os.access(args.popgate, os.X_OK):
        sys.exit('soak: no popgate binary at %s (--popgate)' % args.popgate)
    if os.geteuid() != 0:
        sys.exit('soak: must run as root (Dovecot runs its mail as uid 5000)')
    env = Env(args)

    def on_term(signum, frame):
        raise KeyboardInterrupt('signal %d' % signum)

    signal.signal(signal.SIGTERM, on_term)

    def watchdog():
        sys.stderr.write('soak: watchdog: still running %.0f s after the load '
                         'should have ended; killing what it started\n' % 900)
        for obj in (env.pg, env.dc):
            if obj is not None:
                obj.kill_now()
        os._exit(70)

    dog = threading.Timer(args.duration + 900, watchdog)
    dog.daemon = True
    dog.start()
    rc = 1
    try:
        rc = run(env)
    finally:
        env.stop.set()
        if env.pg is not None and env.pg.running():
            env.pg.kill_now()
        if env.dc is not None:
            env.dc.stop()
        if rc == 0 and not args.keep:
            shutil.rmtree(env.workdir, ignore_errors=True)
        else:
            print('soak: work directory kept: %s (popgate/popgate.log, '
                  'dovecot/dovecot.log)' % env.workdir)
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
