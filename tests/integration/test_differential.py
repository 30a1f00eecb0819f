#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Differential test: the same mailbox (the standard corpus) served by
Dovecot's own POP3 and by popgate in front of that Dovecot's IMAP.  The same
session runs against both; the numbers of STAT/LIST, the UIDL data, and the
RETR and TOP data must be byte-identical.

One deliberate deviation is asserted, not skipped: for a message without a
final newline both servers append a CRLF, but Dovecot leaves it out of the
LIST/STAT size and popgate counts it (RFC 1939 sec. 11, doc/pop3-conformance.md
3.4 and 10.1).  So popgate's LIST size is Dovecot's + 2 for that message and
STAT octets differ by 2 per such message.

With POPGATE_TARGET=dovecot-pop3 the candidate is Dovecot's POP3 over imapc
(a second Dovecot reading the first one's IMAP), which has Dovecot's size
behaviour: the deviation is then 0.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from harness import POP3Strict, dovecot_mode  # noqa: E402

FIX = None
ITEMS = None
REF = None      # transcript from Dovecot POP3
CAND = None     # transcript from popgate (or Dovecot over imapc)
USER, PASSWORD = 'alice', 'secret'
TOP_K = (0, 1, 3)


def setUpModule():
    global FIX, ITEMS, REF, CAND
    FIX = harness.setup_module()
    imap = FIX.imap(USER)
    try:
        ITEMS = mailseed.seed(imap)
    finally:
        imap.logout()
    if dovecot_mode():
        imapc = Dovecot(FIX.subdir('imapc'), imapc_upstream_port=FIX.dovecot.imap_port)
        unittest.addModuleCleanup(imapc.stop)
        imapc.start()
        cand_port = imapc.pop3_port
    else:
        cand_port = FIX.pop3_server().port
    REF = transcript(FIX.dovecot.pop3_port)
    CAND = transcript(cand_port)


def size_deviation(item):
    """Octets popgate's LIST size exceeds Dovecot's by, for this message."""
    if dovecot_mode():
        return 0
    return 0 if item['stored'].endswith(b'\n') else 2


def transcript(port):
    """Run the reference session; return everything it saw."""
    t = {'port': port}
    c = POP3Strict(port)
    try:
        c.login(USER, PASSWORD)
        t['stat'] = c.stat()
        st, t['list_data'] = c.multi('LIST')
        t['list'] = [(n, int(s)) for n, s in c.parse_scan_lines(t['list_data'], 'LIST')]
        t['list_n'] = [c.list_one(n) for n in range(1, t['stat'][0] + 1)]
        st, t['uidl_data'] = c.multi('UIDL')
        t['uidl_n'] = [c.cmd('UIDL %d' % n) for n in range(1, t['stat'][0] + 1)]
        t['retr'] = {}
        t['top'] = {}
        for n in range(1, t['stat'][0] + 1):
            st, data = c.multi('RETR %d' % n)
            t['retr'][n] = (st.split(' ')[0], data)
            for k in TOP_K:
                st, data = c.multi('TOP %d %d' % (n, k))
                t['top'][n, k] = (st.split(' ')[0], data)
        st = c.quit()
        if not st.startswith('+OK'):
            raise AssertionError('QUIT on port %d: %r' % (port, st))
    finally:
        c.close()
    return t


class Differential(unittest.TestCase):
    maxDiff = 4000

    def test_message_count(self):
        self.assertEqual(REF['stat'][0], len(ITEMS))
        self.assertEqual(CAND['stat'][0], REF['stat'][0], 'STAT count')
        self.assertEqual(len(CAND['list']), len(REF['list']), 'LIST length')

    def test_stat_octets(self):
        dev = sum(size_deviation(i) for i in ITEMS)
        if not dovecot_mode():
            self.assertEqual(dev, 2, 'the corpus has exactly one message without final newline')
        self.assertEqual(CAND['stat'][1], REF['stat'][1] + dev,
                         'STAT octets: candidate == Dovecot + %d' % dev)

    def test_list_sizes(self):
        for (n, ref), (m, cand), item in zip(REF['list'], CAND['list'], ITEMS):
            self.assertEqual(m, n)
            self.assertEqual(cand, ref + size_deviation(item),
                             'LIST size of %d (%s): Dovecot %d, candidate %d'
                             % (n, item['name'], ref, cand))

    def test_list_n_sizes(self):
        for (n, ref), (m, cand), item in zip(REF['list_n'], CAND['list_n'], ITEMS):
            self.assertEqual(m, n)
            self.assertEqual(cand, ref + size_deviation(item),
                             'LIST %d (%s): Dovecot %d, candidate %d'
                             % (n, item['name'], ref, cand))

    def test_deviation_is_only_the_no_final_newline_message(self):
        differ = [item['name'] for (_, r), (_, c), item in zip(REF['list'], CAND['list'], ITEMS)
                  if r != c]
        want = [] if dovecot_mode() else ['no-final-newline']
        self.assertEqual(differ, want)
        # and the candidate's size is the true RETR octet count for it
        for (n, size), item in zip(CAND['list'], ITEMS):
            if not dovecot_mode():
                self.assertEqual(size, len(CAND['retr'][n][1]), 'LIST %d == RETR octets' % n)

    def test_uidl_data_identical(self):
        self.assertEqual(CAND['uidl_data'], REF['uidl_data'])

    def test_uidl_n_identical(self):
        self.assertEqual(CAND['uidl_n'], REF['uidl_n'])
        for line in REF['uidl_n']:
            self.assertRegex(line, r'^\+OK \d+ [\x21-\x7e]{1,70}$')

    def test_retr_identical(self):
        for n, item in enumerate(ITEMS, 1):
            self.assertEqual(REF['retr'][n][0], '+OK')
            self.assertEqual(CAND['retr'][n][0], '+OK', 'RETR %d status' % n)
            self.assertEqual(CAND['retr'][n][1], REF['retr'][n][1],
                             'RETR %d (%s) data' % (n, item['name']))

    def test_top_identical(self):
        for n, item in enumerate(ITEMS, 1):
            for k in TOP_K:
                self.assertEqual(REF['top'][n, k][0], '+OK')
                self.assertEqual(CAND['top'][n, k][0], '+OK', 'TOP %d %d status' % (n, k))
                self.assertEqual(CAND['top'][n, k][1], REF['top'][n, k][1],
                                 'TOP %d %d (%s) data' % (n, k, item['name']))


if __name__ == '__main__':
    harness.main()
