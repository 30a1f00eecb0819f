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
        'jansson.h': 'jansson', 'libetpan/': 'libetpan', 'crypt.h': 'libxcrypt',
        'sqlite3.h': 'sqlite3'}

# Folder: (project folders it may include, libraries it may include). A
# folder listed here owns the files under it except those of a deeper
# listed folder; these are the link lists of CMakeLists.txt.
G = 'gateway/'
ALLOWED = {
    'proto': ({'proto'}, set()),
    'config': ({'config', 'proto'}, set()),
    'net': ({'net', 'proto'}, {'libuv', 'openssl', 'curl'}),
    'backend': ({'backend', 'net', 'proto'}, {'libetpan', 'libuv', 'openssl'}),
    G + 'util': ({G + 'util', 'config', 'proto'}, set()),
    G + 'limits': ({G + 'limits', 'net', 'config', 'proto'}, set()),
    G + 'state': ({G + 'state', 'config', 'proto'}, {'libuv', 'sqlite3'}),
    G + 'metrics': ({G + 'metrics', 'net', 'config', 'proto'}, {'libuv'}),
    G + 'auth': ({G + 'auth', 'config', 'proto'}, {'openssl', 'libxcrypt'}),
    G + 'oauth2': ({G + 'oauth2', G + 'util', 'net', 'config', 'proto'},
                   {'libuv', 'openssl', 'jansson'}),
    G + 'session': ({G + 'session', G + 'util', G + 'limits', G + 'state',
                     G + 'metrics', G + 'auth', G + 'oauth2', 'backend', 'net',
                     'config', 'proto'}, {'libuv', 'openssl'}),
    G + 'admin': ({G + 'admin', G + 'session', G + 'util', G + 'auth',
                   G + 'oauth2', 'backend', 'net', 'config', 'proto'},
                  {'libuv', 'openssl'}),
    G + 'process': ({G + 'process', G + 'admin', G + 'session', G + 'util',
                     G + 'limits', G + 'state', G + 'metrics', G + 'auth',
                     G + 'oauth2', 'backend', 'net', 'config', 'proto'},
                    {'libuv', 'openssl'}),
    'bench': ({'bench', 'net', 'proto'}, {'libuv', 'openssl'}),
}

# Folders the others may enter only through the headers listed: the
# gateway sees the maildrop interface, never the IMAP client behind it.
DOORS = {
    'backend': {'backend.h'},
}

# Debts: (file, what it includes) allowed for now, each with its reason.
DEBTS = set()


def owner(rel):
    """The deepest listed folder that holds rel, or None."""
    parts = rel.split('/')
    for n in range(len(parts) - 1, 0, -1):
        d = '/'.join(parts[:n])
        if d in ALLOWED:
            return d
    return None


def source_files(root):
    for top in sorted({k.split('/')[0] for k in ALLOWED}):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith(('.c', '.h')):
                    rel = os.path.relpath(os.path.join(dirpath, f), root)
                    yield rel, owner(rel)


INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def header_homes(root):
    homes = {}
    for rel, folder in source_files(root):
        if rel.endswith('.h') and folder is not None:
            homes.setdefault(os.path.basename(rel), folder)
    return homes


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    homes = header_homes(root)
    bad = []
    for rel, folder in source_files(root):
        if folder is None:
            bad.append('%s: in no folder DESIGN.md sec. 1 lists' % rel)
            continue
        dirs, libs = ALLOWED[folder]
        with open(os.path.join(root, rel), encoding='utf-8',
                  errors='replace') as fh:
            for n, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                name = m.group(2)
                if m.group(1) == '"':
                    what = homes.get(os.path.basename(name))
                    if what in DOORS and what != folder and what in dirs \
                            and os.path.basename(name) not in DOORS[what]:
                        bad.append('%s:%d: %s/ may include only %s of %s/'
                                   % (rel, n, folder,
                                      ', '.join(sorted(DOORS[what])), what))
                        continue
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
