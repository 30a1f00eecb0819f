#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails when a source file includes across a layer boundary DESIGN.md sec. 1
does not allow: a folder may include only the folders and libraries listed
for it below. The known debts are listed by file, each to be removed by the
structural change of issue 10; a new one fails CI in the commit that adds
it. Usage: python3 tests/check_layers.py [ROOT]"""

import os
import re
import sys

# Libraries by the include prefix that names them.
LIBS = {'uv.h': 'libuv', 'openssl/': 'openssl', 'curl/': 'curl',
        'jansson.h': 'jansson', 'libetpan/': 'libetpan', 'crypt.h': 'libxcrypt'}

# Folder: (project folders it may include, libraries it may include).
ALLOWED = {
    'proto': ({'proto'}, set()),
    'config': ({'config', 'proto'}, set()),
    'backend': ({'backend', 'proto'}, {'libetpan', 'libuv', 'openssl'}),
    'gateway': ({'gateway', 'backend', 'config', 'proto'},
                {'libuv', 'openssl', 'curl', 'jansson', 'libxcrypt'}),
    'bench': ({'bench', 'proto'}, {'libuv', 'openssl'}),
}

# Debts: (file, what it includes) allowed for now, each with its reason.
DEBTS = {
    # The memory-BIO TLS channel lives in gateway/ but serves both sides.
    ('backend/imap_tls.c', 'gateway'),
    ('bench/pop3_load.c', 'gateway'),
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def header_homes(root):
    homes = {}
    for folder in ALLOWED:
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for f in files:
                if f.endswith('.h'):
                    homes.setdefault(f, folder)
    return homes


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    homes = header_homes(root)
    bad = []
    for folder, (dirs, libs) in ALLOWED.items():
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for f in sorted(files):
                if not f.endswith(('.c', '.h')):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                with open(path, encoding='utf-8', errors='replace') as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        name = m.group(2)
                        if m.group(1) == '"':
                            what = homes.get(os.path.basename(name))
                            if what is None or what in dirs:
                                continue
                        else:
                            what = next((lib for pre, lib in LIBS.items()
                                         if name.startswith(pre)), None)
                            if what is None or what in libs:
                                continue
                        if (rel, what) in DEBTS:
                            continue
                        bad.append('%s:%d: %s/ may not include %s (%s)'
                                   % (rel, n, folder, name, what))
    for b in bad:
        print(b)
    print('check_layers: %s' % ('ok' if not bad else
                                 '%d forbidden include(s)' % len(bad)))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
