#!/usr/bin/env python3
# `python3 scripts/ynl-argparse-golden.py > test/cli/golden/ynl-argparse.json`: what the real
# ynl prints while parsing its command line, for test/cli/ynl-argparse.test.ts.
# Rebuilds the argument parser of the kernel's tools/net/ynl/pyynl/cli.py (torvalds/linux
# 0410c61) and records what argparse prints for a set of command lines.
import argparse, io, json, sys, contextlib, os
os.environ['COLUMNS'] = '80'
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE, NLM_F_APPEND = 0x100, 0x200, 0x400, 0x800
def parser():
    description = """
    YNL CLI utility - a general purpose netlink utility that uses YAML
    specs to drive protocol encoding and decoding.
    """
    epilog = """
    The --multi option can be repeated to include several do operations
    in the same netlink payload.
    """
    p = argparse.ArgumentParser(prog='ynl', description=description, epilog=epilog)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument('--family', dest='family', type=str, help='name of the netlink FAMILY')
    g.add_argument('--list-families', action='store_true', help='list all netlink families supported by YNL (has spec)')
    g.add_argument('--spec', dest='spec', type=str, help='choose the family by SPEC file path')
    p.add_argument('--schema', dest='schema', type=str)
    p.add_argument('--no-schema', action='store_true')
    p.add_argument('--json', dest='json_text', type=str)
    o = p.add_mutually_exclusive_group()
    o.add_argument('--do', dest='do', metavar='DO-OPERATION', type=str)
    o.add_argument('--multi', dest='multi', nargs=2, action='append', metavar=('DO-OPERATION', 'JSON_TEXT'), type=str)
    o.add_argument('--dump', dest='dump', metavar='DUMP-OPERATION', type=str)
    o.add_argument('--list-ops', action='store_true')
    o.add_argument('--list-msgs', action='store_true')
    p.add_argument('--duration', dest='duration', type=int, help='when subscribed, watch for DURATION seconds')
    p.add_argument('--sleep', dest='duration', type=int, help='alias for duration')
    p.add_argument('--subscribe', dest='ntf', type=str)
    p.add_argument('--replace', dest='flags', action='append_const', const=NLM_F_REPLACE)
    p.add_argument('--excl', dest='flags', action='append_const', const=NLM_F_EXCL)
    p.add_argument('--create', dest='flags', action='append_const', const=NLM_F_CREATE)
    p.add_argument('--append', dest='flags', action='append_const', const=NLM_F_APPEND)
    p.add_argument('--process-unknown', action=argparse.BooleanOptionalAction)
    p.add_argument('--output-json', action='store_true')
    p.add_argument('--dbg-small-recv', default=0, const=4000, action='store', nargs='?', type=int)
    return p
CASES = [
    ['--help'], ['-h'], ['--family', 'netdev', '--help'], [],
    ['--family', 'netdev'], ['--do', 'queue-get'],
    ['--family', 'netdev', '--do', 'queue-get', '--dump', 'queue-get'],
    ['--family', 'netdev', '--frob'], ['--family'], ['--family', 'netdev', '--json'],
    ['--family', 'netdev', '--duration', 'x'], ['--family', 'netdev', '--list-families'],
    ['--family', 'netdev', 'extra'], ['--fam', 'netdev', '--do', 'queue-get'],
    ['--family', 'netdev', '--d', 'queue-get'], ['--family', 'netdev', '--multi', 'a'],
    ['--family', 'netdev', '--dbg-small-recv', 'z'], ['--spec', 'x', '--family', 'netdev'],
]
out = []
for argv in CASES:
    so, se = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        try:
            a = parser().parse_args(argv)
        except SystemExit as e:
            code = e.code or 0
    out.append({'argv': argv, 'stdout': so.getvalue(), 'stderr': se.getvalue(), 'exit': code})
print(json.dumps({'python': sys.version.split()[0], 'cli': 'tools/net/ynl/pyynl/cli.py (torvalds/linux 0410c61)', 'cases': out}, indent=1))
