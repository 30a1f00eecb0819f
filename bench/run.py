#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""POP3 benchmark: Dovecot POP3, Dovecot POP3 over imapc, and popgate.

One run, one set of mailboxes (a private Dovecot's maildirs), three POP3
servers in front of them, each driven by bench/pop3_load:

  dovecot-pop3   Dovecot's own POP3 on the maildirs (the no-translation
                 reference)
  dovecot-imapc  a second Dovecot whose POP3 reads the first one's IMAP through
                 its imapc backend (the competitor)
  popgate        popgate in front of the first Dovecot's IMAP

With --tls, a second sweep over POP3S (implicit TLS, RFC 8314) on the same
mailboxes: Dovecot's own POP3S (the reference) against popgate with an
implicit-TLS listener in front of the same Dovecot's plain IMAP.  Only the
POP3 side is encrypted; both upstreams stay plain loopback (maildir for
Dovecot, imap://127.0.0.1 for popgate), so the difference is the cost of
client-side TLS.  Same certificate (RSA 2048, test CA) for both servers; every
session does a full handshake (pop3_load never resumes).

Then a memory test: one 100 MB message retrieved through a fresh popgate
(peak RSS from /proc/PID/status VmHWM) and through the Dovecots for reference.

Prints a Markdown report on stdout, progress on stderr, and writes JSON with
--json.  Everything runs on 127.0.0.1; every process it starts it stops by
PID; its temp dir is removed unless --keep.  See bench/README.md.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPPORT_DIR = os.path.join(REPO, 'tests', 'support')
sys.path.insert(0, SUPPORT_DIR)
from dovecot import proc_stat_fields  # noqa: E402

# Workload of bench/README.md: 10 messages, 352 KiB per session.
DEFAULT_USERS = 64
DEFAULT_MESSAGES = 10
SESSION_OCTETS = 352 * 1024
DEFAULT_CONCURRENCY = '1,8,32'
DEFAULT_DURATION_S = 10.0
QUICK_DURATION_S = 2.0
BIG_MESSAGE_OCTETS = 100 * 10**6
BIG_SESSIONS = 2
PASSWORD = 'bench-password'
USER_PREFIX = 'bench'
BIG_USER_PREFIX = 'big'

# Targets (PASS/FAIL lines; exit status only with --check).
TARGET_RATIO = 0.8          # popgate >= 0.8x Dovecot POP3, sessions/s and MB/s
TARGET_PEAK_RSS_MB = 32.0   # popgate VmHWM after RETR of the 100 MB message

# Slack on top of the expected run time of one pop3_load call before it is
# killed: setup of C connections plus the drain of the sessions in flight.
LOAD_SLACK_S = 90.0
APPEND_HONEST_LIMIT_S = 30.0
PAUSE_BETWEEN_POINTS_S = 0.5
# Busy cores measured before the run above which the report warns.
BACKGROUND_BUSY_WARN_CORES = 0.15

SERVER_LABELS = {
    'dovecot-pop3': 'Dovecot POP3 (maildir)',
    'dovecot-imapc': 'Dovecot POP3 over imapc',
    'popgate': 'popgate',
    'dovecot-pop3s': 'Dovecot POP3S (maildir)',
    'popgate-tls': 'popgate POP3S',
}
# --tls: each POP3S server and the plain server it is compared with.
TLS_PLAIN_COUNTERPART = {'dovecot-pop3s': 'dovecot-pop3',
                         'popgate-tls': 'popgate'}

T0 = time.monotonic()


def progress(fmt, *args):
    sys.stderr.write('[%6.1fs] %s\n' % (time.monotonic() - T0, fmt % args))
    sys.stderr.flush()


class BenchError(RuntimeError):
    pass


# -- workload --------------------------------------------------------------

def fnv1a64(data, h=0xcbf29ce484222325):
    """Same digest as pop3_load --verify-digest."""
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def bench_message(index, octets):
    """A deterministic text message of exactly `octets` octets, CRLF lines
    under 80 octets, some starting with '.' so dot-stuffing is exercised."""
    head = ('From: Load Generator <load@example.org>\r\n'
            'To: Bench User <bench@example.org>\r\n'
            'Subject: popgate benchmark message %d\r\n'
            'Date: Tue, 03 Mar 2026 10:%02d:00 +0000\r\n'
            'Message-ID: <bench-%d@popgate.test>\r\n'
            'MIME-Version: 1.0\r\n'
            'Content-Type: text/plain; charset=us-ascii\r\n'
            '\r\n' % (index, index % 60, index)).encode()
    words = [b'alpha', b'bravo', b'charlie', b'delta', b'echo', b'foxtrot',
             b'golf', b'hotel', b'india', b'juliet', b'kilo', b'lima']
    lines = []
    size = len(head)
    n = 0
    while True:
        n += 1
        w = words[(n * 7 + index) % len(words)]
        line = b' '.join([w] * (6 + (n + index) % 6)) + b' %d' % n
        if n % 37 == 0:
            line = b'.' + line
        line += b'\r\n'
        if size + len(line) + 8 > octets:
            break
        lines.append(line)
        size += len(line)
    rest = octets - size
    if rest < 3:
        raise BenchError('message size %d too small' % octets)
    lines.append(b'z' * (rest - 2) + b'\r\n')
    raw = head + b''.join(lines)
    assert len(raw) == octets
    return raw


# -- processes and /proc ---------------------------------------------------

def find_binary(explicit, name):
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise BenchError('%s: not an executable' % explicit)
        return os.path.abspath(explicit)
    for d in ('/tmp/build-main', os.path.join(REPO, 'build'),
              os.path.join(os.getcwd(), 'build')):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    raise BenchError('%s not found in /tmp/build-main or ./build: pass --%s PATH'
                     % (name, name.replace('_', '-')))


def cpu_times_ticks():
    """(busy, total) clock ticks of the whole machine, from /proc/stat."""
    with open('/proc/stat') as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def process_cpu_s(pid):
    """utime + stime of pid (all threads), in seconds; None if gone."""
    if pid is None:
        return None
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b')') + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def tree_cpu_s(pid):
    """CPU seconds of pid's process tree: each live process's own time plus
    the time of the children it has reaped (Dovecot forks a process per
    login and its master reaps them).  None if pid is gone."""
    if pid is None:
        return None
    total = None
    for p in descendants(pid):
        try:
            with open('/proc/%d/stat' % p, 'rb') as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b')') + 2:].split()
        total = (total or 0) + sum(int(x) for x in fields[11:15])
    if total is None:
        return None
    return total / os.sysconf('SC_CLK_TCK')


def descendants(pid):
    """pid and all its descendants (one /proc scan)."""
    children = {}
    for child, fields in proc_stat_fields():
        children.setdefault(int(fields[1]), []).append(child)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def status_kib(pid, key):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_mb(pid):
    """VmHWM of pid plus its descendants, in MB (10^6 octets)."""
    total = 0
    procs = 0
    for p in descendants(pid):
        kib = status_kib(p, 'VmHWM')
        if kib is not None:
            total += kib
            procs += 1
    if procs == 0:
        return None, 0
    return total * 1024 / 1e6, procs


class LoadRunner:
    def __init__(self, binary):
        self.binary = binary
        # name -> root PID of a Dovecot instance whose CPU is measured
        self.trees = {}

    def run(self, port, args, expect_s, watch_pid=None):
        """Runs pop3_load once; returns its JSON plus CPU figures."""
        argv = [self.binary, '--host', '127.0.0.1', '--port', str(port)] + \
            [str(a) for a in args]
        busy0, total0 = cpu_times_ticks()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        watch0 = process_cpu_s(watch_pid)
        trees0 = {n: tree_cpu_s(p) for n, p in self.trees.items()}
        wall0 = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=expect_s + LOAD_SLACK_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise BenchError('pop3_load did not finish within %.0fs: %s\n%s'
                             % (expect_s + LOAD_SLACK_S, ' '.join(argv),
                                err.decode(errors='replace')))
        wall = time.monotonic() - wall0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy1, total1 = cpu_times_ticks()
        watch1 = process_cpu_s(watch_pid)
        trees1 = {n: tree_cpu_s(p) for n, p in self.trees.items()}
        text = out.decode(errors='replace').strip()
        if proc.returncode not in (0, 1) or not text:
            raise BenchError('pop3_load failed (status %s): %s\n%s'
                             % (proc.returncode, ' '.join(argv),
                                err.decode(errors='replace')))
        result = json.loads(text.splitlines()[-1])
        ncpu = os.cpu_count() or 1
        result['stderr'] = err.decode(errors='replace').strip()
        result['wall_s'] = round(wall, 3)
        result['cpu_busy_cores'] = round(
            ncpu * (busy1 - busy0) / max(1, total1 - total0), 2)
        load_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        result['load_cpu_cores'] = round(load_cpu / wall, 2)
        server_cores = 0.0
        if watch0 is not None and watch1 is not None:
            result['gateway_cpu_cores'] = round((watch1 - watch0) / wall, 2)
            server_cores += (watch1 - watch0) / wall
        for n in self.trees:
            if trees0[n] is not None and trees1[n] is not None:
                cores = (trees1[n] - trees0[n]) / wall
                result['%s_cpu_cores' % n] = round(cores, 2)
                server_cores += cores
        # CPU the servers spent per session: robust to other load on the
        # machine, unlike sessions/s.  Sessions that run past the window are
        # not counted but cost CPU, so this is a slight over-estimate.
        if result.get('sessions_per_s'):
            result['server_cpu_ms_per_session'] = round(
                1000 * server_cores / result['sessions_per_s'], 2)
        return result


# -- the servers -----------------------------------------------------------

def start_popgate(popgate_cls, binary, workdir, upstream_port, workers,
                  extra_args=()):
    extra = (['--workers', str(workers)] if workers else []) + list(extra_args)
    pg = popgate_cls(binary, workdir, upstream_port, extra_args=extra)
    pg.start()
    if getattr(pg, 'pid', None) is None:
        progress('WARNING: Popgate has no .pid attribute: no RSS/CPU figures')
    return pg


def check_alive(pg, res):
    """Records a popgate that died under load (with its log tail)."""
    running = getattr(pg, 'running', None)
    if running is None or running() or getattr(pg, 'dead', False):
        return
    pg.dead = True
    tail = pg.log_tail(10) if hasattr(pg, 'log_tail') else ''
    res['problems'].append('popgate exited under load (status %s); log tail:'
                           '\n\n```\n%s\n```'
                           % (getattr(pg.proc, 'returncode', '?'), tail))
    progress('popgate exited under load')


def seed_mailboxes(dc, users, messages):
    t = time.monotonic()
    import mailseed
    for user in users:
        imap = dc.imap(user)
        try:
            for raw in messages:
                mailseed.append(imap, 'INBOX', raw)
        finally:
            imap.logout()
    progress('seeded %d mailboxes x %d messages (%d octets each session) '
             'in %.1fs', len(users), len(messages),
             sum(len(m) for m in messages), time.monotonic() - t)


def stored_session(dc, user):
    """Exact bytes a full session must RETR (BODY.PEEK[] in UID order)."""
    import mailseed
    imap = dc.imap(user)
    try:
        data = [mailseed.fetch_raw(imap, uid)
                for uid in mailseed.uids(imap, 'INBOX')]
    finally:
        imap.logout()
    return data


def seed_big(dc, user, octets):
    import mailseed
    raw = mailseed.big_message(octets)
    imap = dc.imap(user)
    try:
        t = time.monotonic()
        uid = mailseed.append(imap, 'INBOX', raw)
        elapsed = time.monotonic() - t
        size = mailseed.size(imap, uid)
    finally:
        imap.logout()
    progress('APPENDed a %d-octet message in %.1fs (stored size %d)',
             len(raw), elapsed, size)
    if elapsed > APPEND_HONEST_LIMIT_S:
        progress('NOTE: APPEND took over %.0fs', APPEND_HONEST_LIMIT_S)
    return size, elapsed


# -- report ----------------------------------------------------------------

def fmt(v, spec='%.1f'):
    return '-' if v is None else spec % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def md_table(columns, points):
    """Markdown table lines: columns are (title, cell(point) -> str); the
    first column is left-aligned, the others right-aligned."""
    out = ['| ' + ' | '.join(t for t, _ in columns) + ' |',
           '| --- |' + ' ---: |' * (len(columns) - 1)]
    for p in points:
        out.append('| ' + ' | '.join(cell(p) for _, cell in columns) + ' |')
    out.append('')
    return out


def cores_column(title, key):
    return (title, lambda p: fmt(p['result'].get(key), '%.2f'))


SERVER_COLUMN = ('Server', lambda p: SERVER_LABELS[p['server']])
C_COLUMN = ('C', lambda p: '%d' % p['concurrency'])
# Throughput and latency of one load point, as both sweeps report them.
LOAD_COLUMNS = [
    SERVER_COLUMN, C_COLUMN,
    ('sessions/s', lambda p: fmt(p['result'].get('sessions_per_s'))),
    ('MB/s', lambda p: fmt(p['result'].get('mb_per_s'))),
    ('p50 ms', lambda p: fmt(p['result'].get('p50_ms'))),
    ('p99 ms', lambda p: fmt(p['result'].get('p99_ms'))),
    ('max ms', lambda p: fmt(p['result'].get('max_ms'))),
    ('errors', lambda p: '%d' % p['result'].get('errors', 0)),
]

# Where the CPU went at one load point (the plain sweep adds imapc).
CPU_COLUMNS = [
    SERVER_COLUMN, C_COLUMN, cores_column('machine', 'cpu_busy_cores'),
    cores_column('load-gen', 'load_cpu_cores'),
    cores_column('Dovecot', 'dovecot_cpu_cores'),
    cores_column('popgate', 'gateway_cpu_cores'),
    cores_column('server CPU ms/session', 'server_cpu_ms_per_session'),
]


def sweep_heading(title, cfg):
    """The '### title: users x messages ...' line of a sweep's table."""
    return ('### %s: %d users x %d messages (%d octets per session), %g s per '
            'point%s' % (title, cfg['users'], cfg['messages'], cfg['session_octets'],
                         cfg['duration_s'], ', median of %d rounds' % cfg['rounds']
                         if cfg['rounds'] > 1 else ''))


def markdown_report(res):
    cfg = res['config']
    out = []
    out.append(sweep_heading('POP3 load', cfg))
    out.append('')
    out += md_table(LOAD_COLUMNS + [
        ('x Dovecot POP3', lambda p: fmt(p.get('ratio_sessions'), '%.2fx'))],
        res['points'])
    others = [n for n in ('popgate', 'dovecot-imapc')
              if any(p['server'] == n for p in res['points'])]
    if others:
        out.append('| C | ' + ' | '.join(
            '%s sessions/s | %s MB/s' % (n, n) for n in others) + ' |')
        out.append('| ---: |' + ' ---: | ---: |' * len(others))
        for c in res['config']['concurrency']:
            cells = []
            for n in others:
                p = next((p for p in res['points'] if p['server'] == n and
                          p['concurrency'] == c), {})
                cells += [fmt(p.get('ratio_sessions'), '%.2fx'),
                          fmt(p.get('ratio_mb'), '%.2fx')]
            out.append('| %d | %s |' % (c, ' | '.join(cells)))
        out.append('')
        out.append('Ratios are to Dovecot POP3 at the same concurrency.')
        out.append('')
    out.append('CPU in cores (the machine has %d): the whole machine, '
               'pop3_load, the Dovecot with the maildirs (its POP3 or its '
               'IMAP), the imapc Dovecot, popgate; then the CPU all servers '
               'together spent per session.' % res['environment']['cpus'])
    out.append('')
    out += md_table(CPU_COLUMNS[:5] + [
        cores_column('imapc', 'imapc_cpu_cores')] + CPU_COLUMNS[5:],
        res['points'])
    if res.get('popgate_load_peak_rss_mb') is not None:
        out.append('popgate peak RSS after all load points: %.1f MB.'
                   % res['popgate_load_peak_rss_mb'])
        out.append('')
    if res.get('tls'):
        out += markdown_tls(res)
    mem = res.get('memory')
    if mem:
        out.append('### One %d-octet message, RETR 1 (%d sessions)'
                   % (mem['message_octets'], mem['sessions']))
        out.append('')
        out.append('| Server | MB/s | session ms (max) | errors | peak RSS MB |')
        out.append('| --- | ---: | ---: | ---: | ---: |')
        for name, m in mem['servers'].items():
            r = m.get('result') or {}
            out.append('| %s | %s | %s | %s | %s |'
                       % (SERVER_LABELS[name], fmt(r.get('mb_per_s')),
                          fmt(r.get('max_ms'), '%.0f'),
                          r.get('errors', '-') if r else m.get('error', '-'),
                          fmt(m.get('peak_rss_mb'))))
        out.append('')
        if 'popgate' in mem['servers']:
            pm = mem['servers']['popgate']
            out.append('popgate RSS: %s MB idle before, %s MB peak (VmHWM, '
                       '%s process(es)).' % (fmt(pm.get('idle_rss_mb')),
                                            fmt(pm.get('peak_rss_mb')),
                                            pm.get('processes', '-')))
            out.append('')
    if res['checks']:
        out.append('### Targets')
        out.append('')
        for c in res['checks']:
            out.append('- **%s** %s: %s' % ('PASS' if c['pass'] else 'FAIL',
                                            c['name'], c['value']))
        out.append('')
    if res['problems']:
        out.append('### Problems')
        out.append('')
        for p in res['problems']:
            out.append('- ' + p)
        out.append('')
    return '\n'.join(out)


def markdown_tls(res):
    cfg = res['config']
    tls = res['tls']
    out = []
    out.append(sweep_heading('POP3S (implicit TLS)', cfg))
    out.append('')
    out.append('TLS on the POP3 side only: Dovecot POP3S reads its maildirs, '
               'popgate POP3S talks plain imap://127.0.0.1 to the same '
               'Dovecot. Same certificate for both; every session is a full '
               'handshake (no resumption). Negotiated: %s.'
               % '; '.join(sorted(tls.get('negotiated') or ['?'])))
    out.append('')
    out += md_table(LOAD_COLUMNS + [
        ('x Dovecot POP3S', lambda p: fmt(p.get('ratio_sessions'), '%.2fx')),
        ('x same server, plain', lambda p: fmt(p.get('ratio_plain'), '%.2fx'))],
        tls['points'])
    out.append('x Dovecot POP3S: sessions/s relative to Dovecot POP3S at the '
               'same concurrency (MB/s ratios are the same, every session '
               'retrieves the same octets). x same server, plain: sessions/s '
               'relative to that server\'s plain POP3 point above (from the '
               'other sweep, so less robust to drift).')
    out.append('')
    out += md_table(CPU_COLUMNS + [
        ('plain CPU ms/session',
         lambda p: fmt(p.get('plain_cpu_ms_per_session'), '%.2f'))],
        tls['points'])
    if tls.get('popgate_peak_rss_mb') is not None:
        out.append('popgate (POP3S) peak RSS after all load points: %.1f MB.'
                   % tls['popgate_peak_rss_mb'])
        out.append('')
    return out


def add_ratios(points, reference='dovecot-pop3'):
    ref = {p['concurrency']: p['result'] for p in points
           if p['server'] == reference}
    for p in points:
        base = ref.get(p['concurrency'])
        if base is None:
            continue
        p['ratio_sessions'] = ratio(p['result'].get('sessions_per_s'),
                                    base.get('sessions_per_s'))
        p['ratio_mb'] = ratio(p['result'].get('mb_per_s'),
                              base.get('mb_per_s'))


def make_checks(res):
    checks = []
    if res.get('popgate_started') is False:
        checks.append({'name': 'popgate starts', 'value': 'it did not',
                       'pass': False})
    pg_points = [p for p in res['points'] if p['server'] == 'popgate']
    for p in pg_points:
        for key, what in (('ratio_sessions', 'sessions/s'), ('ratio_mb', 'MB/s')):
            v = p.get(key)
            checks.append({
                'name': 'popgate %s >= %.1fx Dovecot POP3 at C=%d'
                        % (what, TARGET_RATIO, p['concurrency']),
                'value': fmt(v, '%.2fx'),
                'pass': v is not None and v >= TARGET_RATIO})
    if pg_points or 'popgate' in res.get('verify', {}):
        errors = sum(p['result'].get('errors', 0)
                     for p in res.get('raw_points', [])
                     if p['server'] == 'popgate')
        v = res.get('verify', {}).get('popgate', {})
        errors += v.get('errors', 0) if isinstance(v, dict) else 1
        checks.append({'name': 'popgate sessions without errors',
                       'value': '%d errors' % errors, 'pass': errors == 0})
    tls = res.get('tls') or {}
    if tls.get('points') or 'popgate-tls' in res.get('verify', {}):
        errors = sum(p['result'].get('errors', 0)
                     for p in tls.get('raw_points', [])
                     if p['server'] == 'popgate-tls')
        v = res.get('verify', {}).get('popgate-tls', {})
        errors += v.get('errors', 0) if isinstance(v, dict) else 1
        checks.append({'name': 'popgate POP3S sessions without errors',
                       'value': '%d errors' % errors, 'pass': errors == 0})
    mem = res.get('memory') or {}
    pm = mem.get('servers', {}).get('popgate')
    if pm is not None:
        rss = pm.get('peak_rss_mb')
        ok = (rss is not None and rss < TARGET_PEAK_RSS_MB and
              (pm.get('result') or {}).get('errors', 1) == 0)
        checks.append({'name': 'popgate peak RSS < %.0f MB for the %d-octet '
                               'message' % (TARGET_PEAK_RSS_MB,
                                            mem['message_octets']),
                       'value': '%s MB' % fmt(rss), 'pass': ok})
    return checks


# -- main ------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(
        description='POP3 benchmark: Dovecot POP3, Dovecot over imapc, '
                    'popgate; same mailboxes, one run.')
    ap.add_argument('--popgate', help='popgate binary (default: '
                    '/tmp/build-main/popgate or ./build/popgate)')
    ap.add_argument('--pop3-load', help='pop3_load binary (default: '
                    '/tmp/build-main/pop3_load or ./build/pop3_load)')
    ap.add_argument('--skip-popgate', action='store_true',
                    help='measure only the two Dovecot servers')
    ap.add_argument('--skip-imapc', action='store_true',
                    help='do not measure Dovecot POP3 over imapc')
    ap.add_argument('--skip-memory', action='store_true',
                    help='skip the big-message memory test')
    ap.add_argument('--tls', action='store_true',
                    help='also sweep over POP3S (implicit TLS): Dovecot POP3S '
                    'vs popgate --listen-tls, same mailboxes, plain IMAP '
                    'upstream (off by default)')
    ap.add_argument('--quick', action='store_true',
                    help='CI smoke run: %.0f s per point' % QUICK_DURATION_S)
    ap.add_argument('--duration', type=float,
                    help='seconds per point (default %.0f, --quick %.0f)'
                    % (DEFAULT_DURATION_S, QUICK_DURATION_S))
    ap.add_argument('--rounds', type=int, default=1,
                    help='repeat the sweep; report the median round per '
                    'point (default 1)')
    ap.add_argument('--concurrency', default=DEFAULT_CONCURRENCY,
                    help='comma-separated list (default %s)' % DEFAULT_CONCURRENCY)
    ap.add_argument('--users', type=int, default=DEFAULT_USERS,
                    help='mailboxes (default %d; must be >= every '
                    'concurrency)' % DEFAULT_USERS)
    ap.add_argument('--messages', type=int, default=DEFAULT_MESSAGES,
                    help='messages per mailbox (default %d)' % DEFAULT_MESSAGES)
    ap.add_argument('--session-octets', type=int, default=SESSION_OCTETS,
                    help='octets of mail per mailbox (default %d)' % SESSION_OCTETS)
    ap.add_argument('--big-octets', type=int, default=BIG_MESSAGE_OCTETS,
                    help='size of the memory-test message (default %d)'
                    % BIG_MESSAGE_OCTETS)
    ap.add_argument('--popgate-workers', type=int, default=os.cpu_count() or 1,
                    help='popgate --workers (default: CPUs, %d)'
                    % (os.cpu_count() or 1))
    ap.add_argument('--popgate-arg', action='append', default=[],
                    metavar='ARG', help='extra popgate argument (repeatable; '
                    'e.g. --popgate-arg=--no-seen)')
    ap.add_argument('--load-threads', type=int, default=1,
                    help='pop3_load --threads (default 1)')
    ap.add_argument('--json', help='write the results as JSON to this file')
    ap.add_argument('--markdown', help='also write the Markdown report here')
    ap.add_argument('--check', action='store_true',
                    help='exit 1 if a target is missed')
    ap.add_argument('--keep', action='store_true',
                    help='keep the temp dir (Dovecot logs, popgate.log)')
    args = ap.parse_args(argv)
    try:
        args.concurrency = [int(x) for x in args.concurrency.split(',') if x]
    except ValueError:
        ap.error('--concurrency: comma-separated integers')
    if not args.concurrency or min(args.concurrency) < 1:
        ap.error('--concurrency: positive integers')
    if args.users < max(args.concurrency):
        ap.error('--users must be >= the highest concurrency (one POP3 '
                 'session per mailbox)')
    if args.duration is None:
        args.duration = QUICK_DURATION_S if args.quick else DEFAULT_DURATION_S
    if args.duration <= 0 or args.messages < 1 or args.users < 1 or \
            args.rounds < 1:
        ap.error('--duration, --messages, --users and --rounds must be '
                 'positive')
    return args


def environment(args, popgate_bin, load_bin):
    env = {'cpus': os.cpu_count(), 'kernel': platform.release(),
           'python': platform.python_version(),
           'date': datetime.datetime.now(datetime.timezone.utc).isoformat(
               timespec='seconds'),
           'pop3_load': load_bin, 'popgate': popgate_bin}
    try:
        env['dovecot'] = subprocess.run(['dovecot', '--version'],
                                        capture_output=True, text=True,
                                        timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        env['dovecot'] = None
    try:
        env['git'] = subprocess.run(['git', '-C', REPO, 'rev-parse', 'HEAD'],
                                    capture_output=True, text=True,
                                    timeout=10).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        env['git'] = None
    return env


def run_verify(load, res, name, port, users, digest, session_octets, watch,
               extra=()):
    """One session per mailbox with the digest checked: correctness and
    warm-up (Dovecot builds its POP3 UIDL cache and indexes here)."""
    r = load.run(port, ['--users', users, '--user-prefix', USER_PREFIX,
                        '--password', PASSWORD, '--sessions', users,
                        '--concurrency', min(8, users), '--timeout', 60,
                        '--expect-bytes', session_octets,
                        '--verify-digest', '%016x' % digest] + list(extra),
                 expect_s=60, watch_pid=watch)
    res['verify'][name] = r
    if r['errors']:
        res['problems'].append('%s: verification pass: %d of %d sessions '
                               'failed: %s' % (name, r['errors'], users,
                                               r['stderr'].splitlines()[0]
                                               if r['stderr'] else '?'))
    progress('%s: verified %d sessions (%d errors)', name, r['sessions'],
             r['errors'])


def run_big(load, res, name, port, size, watch=None):
    r = load.run(port, ['--mode', 'retr1', '--users', 1, '--user-prefix',
                        BIG_USER_PREFIX, '--password', PASSWORD,
                        '--sessions', BIG_SESSIONS, '--concurrency', 1,
                        '--timeout', 600, '--expect-bytes', size],
                 expect_s=600, watch_pid=watch)
    if r['errors']:
        res['problems'].append('%s: big message: %s'
                               % (name, r['stderr'].splitlines()[0]
                                  if r['stderr'] else '%d errors' % r['errors']))
    progress('%s: %d-octet RETR: %s MB/s, %s errors', name, size,
             fmt(r.get('mb_per_s')), r['errors'])
    return r


def run_point(load, res, args, name, port, watch, c, session_octets,
              extra=()):
    r = load.run(port, ['--users', args.users, '--user-prefix', USER_PREFIX,
                        '--password', PASSWORD, '--concurrency', c,
                        '--duration', args.duration,
                        '--threads', args.load_threads, '--timeout', 60,
                        '--expect-bytes', session_octets] + list(extra),
                 expect_s=args.duration, watch_pid=watch)
    if r['errors']:
        res['problems'].append('%s C=%d: %d errors, first: %s'
                               % (name, c, r['errors'],
                                  r['stderr'].splitlines()[0]
                                  if r['stderr'] else '?'))
    progress('%-13s C=%-3d %7.1f sessions/s %7.1f MB/s p50 %s ms p99 %s ms, '
             '%d errors, machine %.2f cores, servers %s ms CPU/session',
             name, c, r['sessions_per_s'], r['mb_per_s'], fmt(r['p50_ms']),
             fmt(r['p99_ms']), r['errors'], r['cpu_busy_cores'],
             fmt(r.get('server_cpu_ms_per_session'), '%.2f'))
    return r


def median_points(raw_points, servers, concurrencies):
    """Per server and concurrency, the round with the median sessions/s."""
    out = []
    for c in concurrencies:
        for name, _, _ in servers:
            runs = sorted((p for p in raw_points
                           if p['server'] == name and p['concurrency'] == c),
                          key=lambda p: p['result']['sessions_per_s'])
            if runs:
                m = dict(runs[(len(runs) - 1) // 2])
                m['rounds'] = len(runs)
                out.append(m)
    return out


def idle_cores(seconds=1.0):
    """Cores busy while nothing of ours runs: other load skews the numbers."""
    busy0, total0 = cpu_times_ticks()
    time.sleep(seconds)
    busy1, total1 = cpu_times_ticks()
    return (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError('nothing accepts on 127.0.0.1:%d' % port)
            time.sleep(0.05)


def run_tls(args, load, res, state, dc, popgate_cls, popgate_bin, workdir,
            digest, session_octets):
    """The POP3S sweep: Dovecot POP3S vs popgate --listen-tls, both over the
    same Dovecot (maildirs / plain IMAP on loopback), same certificate."""
    from dovecot import free_port
    tls = {'points': [], 'raw_points': [], 'negotiated': []}
    res['tls'] = tls
    extra = ['--tls', '--tls-ca', dc.ca_path, '--tls-name', 'localhost']
    servers = [('dovecot-pop3s', dc.pop3s_port, None)]
    pg = None
    if popgate_cls is not None:
        tls_port = free_port()
        try:
            pg = start_popgate(popgate_cls, popgate_bin,
                               os.path.join(workdir, 'popgate-tls'),
                               dc.imap_port, args.popgate_workers,
                               ['--listen-tls', '127.0.0.1:%d' % tls_port,
                                '--cert', dc.ssl_cert, '--key', dc.ssl_key] +
                               args.popgate_arg)
            state['stoppers'].append(pg.stop)
            wait_port(tls_port)
            progress('popgate: POP3S %d -> IMAP %d (pid %s)', tls_port,
                     dc.imap_port, getattr(pg, 'pid', None))
            servers.append(('popgate-tls', tls_port, getattr(pg, 'pid', None)))
        except Exception as e:
            res['problems'].append('popgate (POP3S) did not start: %s' % e)
            progress('popgate (POP3S) did not start: %s', e)
            if pg is not None:
                pg.stop()
                pg = None

    for name, port, watch in servers:
        run_verify(load, res, name, port, args.users, digest, session_octets,
                   watch, extra)
    for rnd in range(args.rounds):
        for c in args.concurrency:
            for name, port, watch in servers:
                time.sleep(PAUSE_BETWEEN_POINTS_S)
                r = run_point(load, res, args, name, port, watch, c,
                              session_octets, extra)
                tls['raw_points'].append({'server': name, 'concurrency': c,
                                          'round': rnd, 'result': r})
                label = '%s %s %s' % (SERVER_LABELS[name],
                                      r.get('tls_version'),
                                      r.get('tls_cipher'))
                if r.get('tls_version') and label not in tls['negotiated']:
                    tls['negotiated'].append(label)
                if name == 'popgate-tls':
                    check_alive(pg, res)
    tls['points'] = median_points(tls['raw_points'], servers,
                                  args.concurrency)
    add_ratios(tls['points'], reference='dovecot-pop3s')
    plain = {(p['server'], p['concurrency']): p['result']
             for p in res['points']}
    for p in tls['points']:
        base = plain.get((TLS_PLAIN_COUNTERPART[p['server']],
                          p['concurrency']))
        if base is None:
            continue
        p['ratio_plain'] = ratio(p['result'].get('sessions_per_s'),
                                 base.get('sessions_per_s'))
        p['plain_cpu_ms_per_session'] = base.get('server_cpu_ms_per_session')
    if pg is not None:
        pid = getattr(pg, 'pid', None)
        if pid is not None:
            tls['popgate_peak_rss_mb'], _ = peak_rss_mb(pid)
        pg.stop()


def run(args, workdir, state):
    load_bin = find_binary(args.pop3_load, 'pop3_load')
    popgate_bin = None
    popgate_cls = None
    if not args.skip_popgate:
        popgate_bin = find_binary(args.popgate, 'popgate')
    from dovecot import Dovecot
    if not args.skip_popgate:
        from popgate import Popgate as popgate_cls

    load = LoadRunner(load_bin)
    res = {'config': {'users': args.users, 'messages': args.messages,
                      'session_octets': None, 'duration_s': args.duration,
                      'concurrency': args.concurrency, 'quick': args.quick,
                      'popgate_workers': args.popgate_workers,
                      'popgate_args': args.popgate_arg,
                      'load_threads': args.load_threads,
                      'rounds': args.rounds, 'tls': args.tls},
           'environment': environment(args, popgate_bin, load_bin),
           'verify': {}, 'points': [], 'memory': None, 'checks': [],
           'problems': []}
    state['results'] = res

    users = {'%s%d' % (USER_PREFIX, i): PASSWORD for i in range(args.users)}
    if not args.skip_memory:
        users['%s0' % BIG_USER_PREFIX] = PASSWORD
    # --tls adds a POP3S listener (and "ssl = yes") to the same Dovecot;
    # without it the configuration is exactly the plain one.
    dc = Dovecot(os.path.join(workdir, 'dovecot'), users=users,
                 pop3s=args.tls)
    state['stoppers'].append(dc.stop)
    dc.start()
    progress('dovecot: IMAP %d, POP3 %d%s', dc.imap_port, dc.pop3_port,
             ', POP3S %d' % dc.pop3s_port if args.tls else '')
    if getattr(dc, 'proc', None) is not None:
        load.trees['dovecot'] = dc.proc.pid

    per_message = args.session_octets // args.messages
    messages = [bench_message(i, per_message) for i in range(args.messages)]
    seed_mailboxes(dc, ['%s%d' % (USER_PREFIX, i) for i in range(args.users)],
                   messages)
    stored = stored_session(dc, '%s0' % USER_PREFIX)
    session_octets = sum(len(m) for m in stored)
    digest = fnv1a64(b''.join(stored))
    res['config']['session_octets'] = session_octets
    if stored != messages:
        res['problems'].append('Dovecot stored the seed messages differently '
                               'from what was APPENDed')

    servers = [('dovecot-pop3', dc.pop3_port, None)]
    if not args.skip_imapc:
        imapc = Dovecot(os.path.join(workdir, 'imapc'), users=users,
                        imapc_upstream_port=dc.imap_port)
        state['stoppers'].append(imapc.stop)
        imapc.start()
        progress('dovecot imapc: POP3 %d -> IMAP %d', imapc.pop3_port,
                 dc.imap_port)
        servers.append(('dovecot-imapc', imapc.pop3_port, None))
        if getattr(imapc, 'proc', None) is not None:
            load.trees['imapc'] = imapc.proc.pid
    pg = None
    if not args.skip_popgate:
        try:
            pg = start_popgate(popgate_cls, popgate_bin,
                               os.path.join(workdir, 'popgate'), dc.imap_port,
                               args.popgate_workers, args.popgate_arg)
            state['stoppers'].append(pg.stop)
            progress('popgate: POP3 %d -> IMAP %d (pid %s)', pg.port,
                     dc.imap_port, getattr(pg, 'pid', None))
            servers.append(('popgate', pg.port, getattr(pg, 'pid', None)))
        except Exception as e:  # a broken gateway must not hide the others
            res['problems'].append('popgate did not start: %s' % e)
            progress('popgate did not start: %s', e)
        res['popgate_started'] = pg is not None

    background = idle_cores()
    res['environment']['background_busy_cores'] = round(background, 2)
    if background > BACKGROUND_BUSY_WARN_CORES:
        res['problems'].append('the machine was not idle before the run: '
                               '%.2f cores busy; numbers will be noisy'
                               % background)
        progress('WARNING: %.2f cores busy before the run', background)

    for name, port, watch in servers:
        run_verify(load, res, name, port, args.users, digest, session_octets,
                   watch)

    raw_points = []
    for rnd in range(args.rounds):
        for c in args.concurrency:
            for name, port, watch in servers:
                time.sleep(PAUSE_BETWEEN_POINTS_S)
                r = run_point(load, res, args, name, port, watch, c,
                              session_octets)
                raw_points.append({'server': name, 'concurrency': c,
                                   'round': rnd, 'result': r})
                if name == 'popgate':
                    check_alive(pg, res)
    res['raw_points'] = raw_points
    res['points'] = median_points(raw_points, servers, args.concurrency)
    add_ratios(res['points'])

    if pg is not None:
        pid = getattr(pg, 'pid', None)
        if pid is not None:
            res['popgate_load_peak_rss_mb'], _ = peak_rss_mb(pid)
        pg.stop()

    if args.tls:
        run_tls(args, load, res, state, dc, popgate_cls, popgate_bin, workdir,
                digest, session_octets)

    if not args.skip_memory:
        size, append_s = seed_big(dc, '%s0' % BIG_USER_PREFIX, args.big_octets)
        mem = {'message_octets': size, 'append_s': round(append_s, 2),
               'sessions': BIG_SESSIONS, 'servers': {}}
        res['memory'] = mem
        for name, port, _ in servers:
            if name == 'popgate':
                continue
            mem['servers'][name] = {'result': run_big(load, res, name, port,
                                                      size)}
        if pg is not None:
            mpg = None
            entry = {}
            mem['servers']['popgate'] = entry
            try:
                mpg = start_popgate(popgate_cls, popgate_bin,
                                    os.path.join(workdir, 'popgate-memory'),
                                    dc.imap_port, args.popgate_workers,
                                    args.popgate_arg)
                state['stoppers'].append(mpg.stop)
                pid = getattr(mpg, 'pid', None)
                if pid is not None:
                    entry['idle_rss_mb'], _ = peak_rss_mb(pid)
                entry['result'] = run_big(load, res, 'popgate', mpg.port,
                                          size, watch=pid)
                if pid is not None:
                    entry['peak_rss_mb'], entry['processes'] = peak_rss_mb(pid)
            except Exception as e:
                entry['error'] = str(e)
                res['problems'].append('popgate memory test: %s' % e)
            finally:
                if mpg is not None:
                    mpg.stop()

    res['checks'] = make_checks(res)
    return res


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # SIGTERM unwinds like Ctrl-C, so every started process is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = tempfile.mkdtemp(prefix='popgate-bench-', dir='/tmp')
    os.chmod(workdir, 0o711)
    state = {'stoppers': [], 'results': None}
    status = 0
    try:
        res = run(args, workdir, state)
    except BenchError as e:
        progress('error: %s', e)
        return 2
    except Exception:  # setup failed (Dovecot, seeding): not a missed target
        traceback.print_exc()
        return 2
    finally:
        for stop in reversed(state['stoppers']):
            try:
                stop()
            except Exception as e:  # keep stopping the others
                progress('stop failed: %s', e)
        if args.keep:
            progress('kept %s', workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report = markdown_report(res)
    print(report)
    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write(report + '\n')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2, sort_keys=True)
            f.write('\n')
    progress('done')
    if args.check and any(not c['pass'] for c in res['checks']):
        status = 1
    return status


if __name__ == '__main__':
    sys.exit(main())
