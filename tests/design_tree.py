#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The file tree of DESIGN.md sec. 2, from `git ls-files` (each fuzz corpus
shown as its folder). `--check` fails when DESIGN.md's copy differs;
`--write` puts the current one in. Usage: tests/design_tree.py [--check|--write]"""

import subprocess
import sys

DESIGN = 'DESIGN.md'
START = '## 2. The tree'
CORPUS = 'tests/fuzz/corpus/'


def files():
    out = subprocess.run(['git', 'ls-files'], capture_output=True, text=True,
                         check=True).stdout.split('\n')
    paths = set()
    for p in filter(None, out):
        if p.startswith(CORPUS):
            p = CORPUS + p[len(CORPUS):].split('/', 1)[0] + '/'
        paths.add(p)
    return paths


def build(paths):
    tree = {}
    for p in paths:
        node = tree
        parts = p.rstrip('/').split('/')
        for i, part in enumerate(parts):
            leaf = i == len(parts) - 1 and not p.endswith('/')
            node = node.setdefault(part if leaf else part + '/', {})
    lines = ['.']

    def walk(node, prefix):
        names = sorted(n for n in node if n.endswith('/')) + \
            sorted(n for n in node if not n.endswith('/'))
        for k, name in enumerate(names):
            last = k == len(names) - 1
            lines.append(prefix + ('`-- ' if last else '|-- ') + name)
            walk(node[name], prefix + ('    ' if last else '|   '))
    walk(tree, '')
    return lines


def block_bounds(text):
    lines = text.split('\n')
    s = lines.index(START)
    a = lines.index('```', s) + 1
    b = lines.index('```', a)
    return lines, a, b


def main():
    want = build(files())
    text = open(DESIGN, encoding='utf-8').read()
    lines, a, b = block_bounds(text)
    if '--write' in sys.argv:
        lines[a:b] = want
        open(DESIGN, 'w', encoding='utf-8').write('\n'.join(lines))
        return 0
    if lines[a:b] != want:
        have, need = set(lines[a:b]), set(want)
        for l in sorted(need - have):
            print('DESIGN.md tree lacks: %s' % l.strip('|` -'))
        for l in sorted(have - need):
            print('DESIGN.md tree has extra: %s' % l.strip('|` -'))
        print('design_tree: DESIGN.md sec. 2 differs from git ls-files; '
              'run python3 tests/design_tree.py --write')
        return 1
    print('design_tree: ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
