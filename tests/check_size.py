#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails when a source file of the product is over 800 lines, or a function
in it is over 80 lines without a comment saying why (DESIGN.md sec. 1): a
long function's leading comment has a sentence starting "Long:". Functions
are found in the house style: the name at the start of a line, the opening
brace alone at the start of a later line, the closing one likewise.
Usage: python3 tests/check_size.py [ROOT]"""

import os
import re
import sys

FOLDERS = ['proto', 'config', 'net', 'backend', 'gateway', 'bench']
MAX_FILE = 800
MAX_FUNC = 80
NAME = re.compile(r'^([A-Za-z_]\w*)\(')


def check_file(path, rel, bad):
    with open(path, encoding='utf-8', errors='replace') as fh:
        lines = fh.read().split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    if len(lines) > MAX_FILE:
        bad.append('%s: %d lines (at most %d)' % (rel, len(lines), MAX_FILE))
    if not rel.endswith('.c'):
        return
    i = 0
    while i < len(lines):
        m = NAME.match(lines[i])
        if not m:
            i += 1
            continue
        start = i
        j = i
        while j < len(lines) and lines[j] != '{' and not lines[j].endswith(';'):
            j += 1
        if j >= len(lines) or lines[j] != '{':
            i = j + 1
            continue
        k = j + 1
        while k < len(lines) and lines[k] != '}':
            k += 1
        body = k - j - 1
        if body > MAX_FUNC and not long_ok(lines, start):
            bad.append('%s:%d: %s() has %d lines (at most %d without a '
                       '"Long:" comment)' % (rel, start + 1, m.group(1), body,
                                             MAX_FUNC))
        i = k + 1


def long_ok(lines, start):
    """Whether the comment just above the definition says why it is long."""
    k = start - 1
    while k >= 0 and lines[k] and not lines[k].startswith('}') and \
            not lines[k].endswith(';'):
        if 'Long:' in lines[k]:
            return True
        k -= 1
    return False


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    bad = []
    for top in FOLDERS:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith(('.c', '.h')):
                    path = os.path.join(dirpath, f)
                    check_file(path, os.path.relpath(path, root), bad)
    for b in bad:
        print(b)
    print('check_size: %s' % ('ok' if not bad else '%d problem(s)' % len(bad)))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
