# SPDX-License-Identifier: MIT
"""The POP3 side of the soak test (tests/support/soak.py): the messages it
delivers, the ledger that accounts for each of them, and the client
sessions, from a well-behaved consumer to clients that drop at random
points."""

import functools
import random
import re
import sys
import threading
import time
import traceback

from harness import (POP3TLS, ConnectionClosed, ProtocolError,
                     expected_top, pop3_form)

PASSWORD = 'soak-secret'
CLIENT_TIMEOUT = 60.0
MAX_RETR = 25           # messages a consuming session takes at most
SEQ_RE = re.compile(rb'\r\nX-Soak-Seq: (\d+)\r\n')

# Session kinds and their weights.
KINDS = (('consume', 38), ('consume-stls', 12), ('keep', 14),
         ('drop-mid-retr', 10), ('drop-after-dele', 10),
         ('drop-during-quit', 8), ('drop-early', 8))
DROPS = {k for k, _ in KINDS if k.startswith('drop-')}


@functools.lru_cache(maxsize=512)
def message(seq):
    """The bytes appended as message seq: mostly small, some of several
    fetch chunks, some near a megabyte; dot lines, empty lines, and now
    and then no final line end."""
    rng = random.Random(seq * 7919 + 17)
    r = rng.random()
    target = (rng.randint(300000, 900000) if r < 0.02 else
              rng.randint(17000, 120000) if r < 0.15 else rng.randint(300, 6000))
    head = ('From: soak <soak@example.org>\r\nTo: box@example.org\r\n'
            'Subject: soak message %d\r\nMessage-ID: <soak-%d@example.org>\r\n'
            'X-Soak-Seq: %d\r\n\r\n' % (seq, seq, seq)).encode()
    parts = [head]
    size = len(head)
    i = 0
    while size < target:
        k = rng.random()
        if k < 0.04:
            line = b'.'
        elif k < 0.08:
            line = b'..leading dots %d' % i
        elif k < 0.12:
            line = b''
        else:
            line = (b'%d:%d ' % (seq, i)) * rng.randint(1, 14)
        parts.append(line + b'\r\n')
        size += len(line) + 2
        i += 1
    data = b''.join(parts)
    if rng.random() < 0.05:
        data = data[:-2]
    return data


class Refused(Exception):
    """A login refusal the soak expects now and then ([IN-USE], [SYS/TEMP])."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class Broken(Exception):
    """A reply popgate should not have given."""


class Corrupt(Exception):
    """A retrieved message differs from what was appended."""


class Ledger:
    """What happened to every X-Soak-Seq, and the soak's counters."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clock = 0
        self.next_seq = 1
        self.attempted = {}     # seq -> user, APPEND sent
        self.delivered = set()  # APPEND answered OK
        self.consumed = {}      # seq -> clock of the QUIT +OK
        self.uncertain = set()  # DELE'd, QUIT sent, no +OK seen
        self.uidls = {}         # (user, uidl) -> seq
        self.duplicates = set()
        self.counts = {}
        self.problems = {}      # class -> [text]; every one fails the soak
        self.unexplained = []   # errors outside an upstream restart

    def tick(self):
        with self.lock:
            self.clock += 1
            return self.clock

    def count(self, name, n=1):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + n

    def problem(self, cls, text):
        with self.lock:
            self.problems.setdefault(cls, []).append(text)
        sys.stderr.write('soak: %s: %s\n' % (cls, text))

    def new_seq(self, user):
        with self.lock:
            seq = self.next_seq
            self.next_seq += 1
            self.attempted[seq] = user
            return seq

    def retrieved(self, user, uidl, data, start):
        """Checks one RETR's data; returns its seq."""
        m = SEQ_RE.search(data)
        if not m:
            raise Corrupt('%s: a message without X-Soak-Seq: %r' % (user, data[:120]))
        seq = int(m.group(1))
        with self.lock:
            owner = self.attempted.get(seq)
            was = self.uidls.setdefault((user, uidl), seq)
            at = self.consumed.get(seq)
        if owner != user:
            raise Corrupt('%s: seq %d was appended to %s' % (user, seq, owner))
        if data != pop3_form(message(seq)):
            raise Corrupt('%s: seq %d: %d octets differ from the %d appended'
                          % (user, seq, len(data), len(pop3_form(message(seq)))))
        if was != seq:
            self.problem('uidl', '%s: UIDL %s was seq %d, now seq %d'
                         % (user, uidl, was, seq))
        if at is not None and at < start:
            self.duplicate(seq, '%s: seq %d retrieved again by a session '
                           'started after its QUIT +OK' % (user, seq))
        return seq

    def duplicate(self, seq, text):
        """Reported once per message."""
        with self.lock:
            if seq in self.duplicates:
                return
            self.duplicates.add(seq)
        self.problem('duplicate', text)

    def consume(self, seqs):
        with self.lock:
            self.clock += 1
            twice = [seq for seq in seqs if seq in self.consumed]
            for seq in seqs:
                self.consumed[seq] = self.clock
        for seq in twice:
            self.duplicate(seq, 'seq %d consumed twice' % seq)

    def maybe_consumed(self, seqs):
        with self.lock:
            self.uncertain.update(seqs)


class Pacer:
    """Spreads events evenly at `rate` per second over any number of threads."""

    def __init__(self, rate):
        self.gap = 1.0 / rate
        self.lock = threading.Lock()
        self.next = time.monotonic()

    def wait(self, stop):
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next)
            self.next = slot + self.gap
        return not stop.wait(max(0.0, slot - now))


# -- one POP3 session ----------------------------------------------------

def connect(env, tls):
    c = POP3TLS(env.pg.port, timeout=CLIENT_TIMEOUT)
    if tls:
        c.stls(env.tls_ctx)
    return c


def login(c, user):
    st = c.cmd('USER %s' % user)
    if not st.startswith('+OK'):
        raise Broken('USER: %r' % st)
    st = c.cmd('PASS %s' % PASSWORD)
    if st.startswith('+OK'):
        return
    for code in ('IN-USE', 'SYS/TEMP'):
        if st.startswith('-ERR [%s]' % code):
            raise Refused(code)
    raise Broken('PASS: %r' % st)


def uidl(c):
    st, data = c.multi('UIDL')
    if data is None:
        raise Broken('UIDL: %r' % st)
    return c.parse_scan_lines(data, 'UIDL')


def retr(env, c, user, n, uid, start):
    st, data = c.multi('RETR %d' % n)
    if data is None:
        raise Broken('RETR %d: %r' % (n, st))
    env.ledger.count('retrieved')
    return env.ledger.retrieved(user, uid, data, start)


def dele(c, numbers, pipelined):
    if pipelined:
        c.send(''.join('DELE %d\r\n' % n for n in numbers))
        replies = [c.status() for _ in numbers]
    else:
        replies = [c.cmd('DELE %d' % n) for n in numbers]
    for n, st in zip(numbers, replies):
        if not st.startswith('+OK'):
            raise Broken('DELE %d: %r' % (n, st))


def drop(c, rng):
    """Half the drops close politely, half with a RST."""
    if rng.random() < 0.5:
        c.abort()
    else:
        c.close()


def session_consume(env, c, user, rng, start, limit=MAX_RETR):
    listing = uidl(c)[:limit]
    seqs = [retr(env, c, user, n, u, start) for n, u in listing]
    dele(c, [n for n, _ in listing], rng.random() < 0.5)
    try:
        st = c.quit()
    except BaseException:
        env.ledger.maybe_consumed(seqs)
        raise
    if not st.startswith('+OK'):
        env.ledger.maybe_consumed(seqs)
        raise Broken('QUIT: %r' % st)
    env.ledger.consume(seqs)
    env.ledger.count('consumed', len(seqs))


def session_keep(env, c, user, rng, start):
    listing = uidl(c)
    for n, u in rng.sample(listing, min(3, len(listing))):
        retr(env, c, user, n, u, start)
    if listing:
        n, u = rng.choice(listing)
        st, data = c.multi('TOP %d 3' % n)
        if data is None:
            raise Broken('TOP %d 3: %r' % (n, st))
        m = SEQ_RE.search(data)
        seq = int(m.group(1)) if m else -1
        if not m or data != expected_top(message(seq), 3):
            raise Corrupt('%s: TOP %d 3 of seq %d differs' % (user, n, seq))
    st = c.quit()
    if not st.startswith('+OK'):
        raise Broken('QUIT: %r' % st)


def session_drop(env, c, user, rng, start, kind):
    listing = uidl(c)
    if kind == 'drop-mid-retr' and listing:
        n, _ = rng.choice(listing)
        c.send('RETR %d\r\n' % n)
        want = rng.randint(0, 300000)
        got, tail = 0, b''
        while got < want and not tail.endswith(b'\r\n.\r\n'):
            chunk = c.sock.recv(min(65536, want - got))
            if not chunk:
                break
            got += len(chunk)
            tail = (tail + chunk)[-5:]
        return drop(c, rng)
    taken = listing[:3]
    seqs = [retr(env, c, user, n, u, start) for n, u in taken]
    dele(c, [n for n, _ in taken], False)
    if kind == 'drop-during-quit':
        env.ledger.maybe_consumed(seqs)
        c.send('QUIT\r\n')
    drop(c, rng)


def session_early(env, user, rng):
    """A client that goes away before it has logged in."""
    tls = rng.random() < 0.4
    c = POP3TLS(env.pg.port, timeout=CLIENT_TIMEOUT)
    point = rng.choice(('greeting', 'user', 'pass', 'stls'))
    if point == 'stls' or (tls and point != 'greeting'):
        st = c.cmd('STLS')
        if not st.startswith('+OK'):
            raise Broken('STLS: %r' % st)
        if point == 'stls':
            c.send(b'\x16\x03\x01\x00\xc8\x01\x00')   # half a ClientHello
            return drop(c, rng)
        c.start_tls(env.tls_ctx)
    if point in ('user', 'pass'):
        c.ok('USER %s' % user)
    if point == 'pass':
        c.send('PASS %s\r\n' % PASSWORD)
    drop(c, rng)


def run_session(env, kind, user, rng):
    led = env.ledger
    t0 = time.monotonic()
    start = led.tick()
    c = None
    try:
        if kind == 'drop-early':
            session_early(env, user, rng)
        else:
            tls = kind == 'consume-stls' or (kind != 'consume' and rng.random() < 0.3)
            c = connect(env, tls)
            login(c, user)
            if kind.startswith('consume'):
                session_consume(env, c, user, rng, start)
            elif kind == 'keep':
                session_keep(env, c, user, rng, start)
            else:
                session_drop(env, c, user, rng, start, kind)
        led.count('sessions')
        led.count('kind ' + kind)
        env.note(kind, user, t0, 'ok')
    except Refused as e:
        led.count('refused ' + e.code)
        env.note(kind, user, t0, 'refused ' + e.code)
        if e.code == 'SYS/TEMP' and not env.chaos.overlaps(t0, time.monotonic()):
            led.unexplained.append('%s %s: -ERR [SYS/TEMP] at login' % (kind, user))
    except ProtocolError as e:
        led.problem('protocol', '%s %s: %s' % (kind, user, e))
    except Corrupt as e:
        led.problem('corrupt', '%s: %s' % (kind, e))
    except (ConnectionClosed, Broken, OSError) as e:
        env.note(kind, user, t0, '%s: %s' % (type(e).__name__, str(e)[:200]))
        if env.chaos.overlaps(t0, time.monotonic()):
            led.count('cut by upstream restart')
        else:
            led.unexplained.append('%s %s: %s: %s' % (kind, user, type(e).__name__,
                                                      str(e)[:200]))
    except Exception:
        led.problem('soak', '%s %s: %s' % (kind, user, traceback.format_exc()))
    finally:
        if c is not None:
            c.close()


def client_loop(env, idx):
    rng = random.Random(1000 + idx)
    names = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    while env.pacer.wait(env.stop):
        kind = rng.choices(names, weights)[0]
        user = env.take_user(rng)
        if user is None:
            continue
        try:
            run_session(env, kind, user, rng)
        finally:
            env.free_users.put(user)
