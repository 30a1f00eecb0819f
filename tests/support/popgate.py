# SPDX-License-Identifier: MIT
"""Start and stop the popgate binary for integration tests.

    with Popgate('/tmp/build-main/popgate', workdir, dovecot.imap_port) as pg:
        pop3 = socket.create_connection(('127.0.0.1', pg.port))

stderr (popgate's log) goes to workdir/popgate.log.  stop() signals only the
PID this object started.

Every stop is checked: popgate must exit with status 0 within STOP_TIMEOUT
of the SIGTERM/SIGINT, and its log (where the sanitizers write too) must hold
no AddressSanitizer, LeakSanitizer, ThreadSanitizer or UBSan `runtime error:`
line.  A finding fails stop() and is also kept in Popgate.findings, which
harness.main() turns into a failed test file, so a caller that swallows the
exception cannot hide it.
"""

import os
import re
import signal
import socket
import subprocess
import time

from dovecot import free_port

START_TIMEOUT = 10.0
# Started as root (CI), popgate drops to this user after start-up.
RUN_AS_USER = 'nobody'
STOP_TIMEOUT = 10.0
SANITIZER_LINE = re.compile(r'AddressSanitizer|LeakSanitizer|ThreadSanitizer|'
                            r'runtime error:')
# Sanitizer reports go to stderr, which is popgate.log; a log_path
# inherited from the caller's environment would send them elsewhere.
SANITIZER_ENV = {'ASAN_OPTIONS': 'log_path=stderr', 'LSAN_OPTIONS': 'log_path=stderr',
                 'UBSAN_OPTIONS': 'log_path=stderr:print_stacktrace=1',
                 'TSAN_OPTIONS': 'log_path=stderr'}


class PopgateError(RuntimeError):
    pass


def sanitizer_env(env=None):
    """env (default os.environ) with every sanitizer writing to stderr;
    the caller's other sanitizer options are kept."""
    env = dict(os.environ if env is None else env)
    for name, extra in SANITIZER_ENV.items():
        env[name] = extra if not env.get(name) else env[name] + ':' + extra
    return env


def sanitizer_report(text, context=40):
    """The sanitizer lines in text, each with the lines that follow it (the
    stack), or '' if there are none."""
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if SANITIZER_LINE.search(line)]
    if not hits:
        return ''
    keep = sorted({j for i in hits for j in range(i, min(i + context, len(lines)))})
    return '\n'.join(lines[j] for j in keep)


class Popgate:
    # Every running instance, so a watchdog can kill them all by PID.
    live = set()
    # What stop() and the log scan found wrong, over the whole test file.
    findings = []

    def __init__(self, binary, workdir, upstream_port, extra_args=(),
                 config_text=None, port=None, wrapper=()):
        """config_text: run `BINARY -c workdir/popgate.conf` instead of the
        command-line form.  The caller writes listen/upstream into the text;
        the placeholders {port} and {upstream_port} are replaced (plain text
        replacement, so other braces such as a UIDL template are safe).
        port: listen port to use (default: a free one).  wrapper: a command
        put in front (e.g. unshare); it must exec popgate, so that our PID
        is popgate's."""
        self.binary = os.path.abspath(binary)
        self.workdir = os.path.abspath(workdir)
        self.upstream_port = upstream_port
        self.extra_args = list(extra_args)
        self.config_text = config_text
        self.port = port
        self.wrapper = list(wrapper)
        self.proc = None
        self.returncode = None
        self.log_path = os.path.join(self.workdir, 'popgate.log')
        self.conf_path = None
        self.argv = None
        self.log_start = 0
        self.started_pid = None

    def start(self):
        if self.proc is not None:
            raise PopgateError('already started')
        os.makedirs(self.workdir, exist_ok=True)
        if self.config_text is not None:
            text = self.config_text
            if self.port is None:
                if '{port}' in text:
                    self.port = free_port()
                else:
                    m = re.search(r'(?m)^\s*address\s*=\s*[^\s:]+:(\d+)', text)
                    if not m:
                        raise PopgateError('config_text has no address and no {port}')
                    self.port = int(m.group(1))
            text = text.replace('{port}', str(self.port))
            if self.upstream_port is not None:
                text = text.replace('{upstream_port}', str(self.upstream_port))
            self.conf_path = os.path.join(self.workdir, 'popgate.conf')
            with open(self.conf_path, 'w') as f:
                f.write(text)
            argv = [self.binary, '-c', self.conf_path] + self.extra_args
        else:
            if self.port is None:
                self.port = free_port()
            argv = [self.binary,
                    '--listen', '127.0.0.1:%d' % self.port,
                    '--upstream', 'imap://127.0.0.1:%d' % self.upstream_port,
                    '--workers', '1'] + self.extra_args
        if os.geteuid() == 0 and RUN_AS_USER and '--user' not in argv \
                and '--allow-root' not in argv:
            # As in production: bind, load keys, then drop root.
            argv = argv + ['--user', RUN_AS_USER]
        self.argv = argv
        log = open(self.log_path, 'ab')
        self.log_start = log.tell()
        try:
            self.proc = subprocess.Popen(self.wrapper + argv, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, close_fds=True,
                                         cwd=self.workdir, env=sanitizer_env())
            self.started_pid = self.proc.pid
        finally:
            log.close()
        Popgate.live.add(self)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self._forget()
                raise PopgateError('popgate exited with status %s during start: %s\n'
                                   '--- popgate.log tail ---\n%s'
                                   % (rc, ' '.join(argv), self.log_tail()))
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=1):
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                try:
                    self.stop(expect_status=None)
                except AssertionError:
                    pass        # kept in findings; the error below says more
                raise PopgateError('popgate did not accept on 127.0.0.1:%d within '
                                   '%.0fs: %s\n--- popgate.log tail ---\n%s'
                                   % (self.port, START_TIMEOUT, ' '.join(argv),
                                      self.log_tail()))
            time.sleep(0.05)

    def _forget(self):
        if self.proc is not None:
            self.returncode = self.proc.returncode
            self._scan_log()
        self.proc = None
        Popgate.live.discard(self)

    def _finding(self, what):
        text = 'popgate %s (%s): %s' % (self.started_pid, ' '.join(self.argv or []), what)
        Popgate.findings.append(text)
        return text

    def _scan_log(self):
        """Records the sanitizer lines this run wrote to the log."""
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(self.log_start)
                report = sanitizer_report(f.read().decode('utf-8', 'replace'))
        except OSError as e:
            report = 'cannot read %s: %s' % (self.log_path, e)
        if report:
            self._finding('sanitizer report in %s:\n%s' % (self.log_path, report))

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT, expect_status=0):
        """Signal our PID, wait up to timeout, then SIGKILL.  Returns the exit
        status (negative: killed by that signal) and whether it exited in
        time: (returncode, clean).  Raises AssertionError, once stopped, if
        it had to be killed, if the status is not expect_status (None: any)
        or if the log has a sanitizer report."""
        proc = self.proc
        if proc is None:
            return self.returncode, True
        seen = len(Popgate.findings)
        clean = True
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                clean = False
                proc.kill()
                proc.wait(5)
        self._forget()
        if not clean:
            self._finding('still running %.0fs after signal %d; killed' % (timeout, sig))
        elif expect_status is not None and self.returncode != expect_status:
            self._finding('exit status %s after signal %d, expected %s'
                          % (self.returncode, sig, expect_status))
        if len(Popgate.findings) > seen:
            raise AssertionError('\n'.join(Popgate.findings[seen:]) +
                                 '\n--- popgate.log tail ---\n' + self.log_tail())
        return self.returncode, clean

    def kill_now(self):
        if self.proc is not None:
            try:
                self.proc.kill()
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self._forget()

    def log_text(self):
        try:
            with open(self.log_path, 'r', errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def log_tail(self, n=30):
        return '\n'.join(self.log_text().splitlines()[-n:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
