/**
 * ynl's command line as the real tool parses it: the kernel's tools/net/ynl/pyynl/cli.py
 * declares its options with Python's argparse, so its help, its abbreviations
 * (`--fam` for `--family`), its mutually exclusive groups and its error texts are
 * argparse's (Python 3.11, 80 columns). test/cli/ynl-argparse.test.ts holds this to
 * argparse itself (scripts/ynl-argparse-golden.py). Replies print as `pprint` prints them.
 */

import { CliError } from './context.js';

interface Opt {
  flags: readonly string[];
  dest: string;
  /** Values it takes: 0 (a flag), 1, 2, or '?' (one if present). */
  nargs: 0 | 1 | 2 | '?';
  int?: boolean;
  /** The mutually exclusive group it belongs to. */
  group?: 'spec' | 'op';
  /** What a flag stores (append_const appends it). */
  value?: unknown;
  append?: boolean;
}

/** In cli.py's order (argparse lists ambiguous matches in it). */
const OPTS: readonly Opt[] = [
  { flags: ['-h', '--help'], dest: 'help', nargs: 0 },
  { flags: ['--family'], dest: 'family', nargs: 1, group: 'spec' },
  { flags: ['--list-families'], dest: 'list_families', nargs: 0, group: 'spec', value: true },
  { flags: ['--spec'], dest: 'spec', nargs: 1, group: 'spec' },
  { flags: ['--schema'], dest: 'schema', nargs: 1 },
  { flags: ['--no-schema'], dest: 'no_schema', nargs: 0, value: true },
  { flags: ['--json'], dest: 'json_text', nargs: 1 },
  { flags: ['--do'], dest: 'do', nargs: 1, group: 'op' },
  { flags: ['--multi'], dest: 'multi', nargs: 2, group: 'op', append: true },
  { flags: ['--dump'], dest: 'dump', nargs: 1, group: 'op' },
  { flags: ['--list-ops'], dest: 'list_ops', nargs: 0, group: 'op', value: true },
  { flags: ['--list-msgs'], dest: 'list_msgs', nargs: 0, group: 'op', value: true },
  { flags: ['--duration'], dest: 'duration', nargs: 1, int: true },
  { flags: ['--sleep'], dest: 'duration', nargs: 1, int: true },
  { flags: ['--subscribe'], dest: 'ntf', nargs: 1 },
  { flags: ['--replace'], dest: 'flags', nargs: 0, value: 0x100, append: true },
  { flags: ['--excl'], dest: 'flags', nargs: 0, value: 0x200, append: true },
  { flags: ['--create'], dest: 'flags', nargs: 0, value: 0x400, append: true },
  { flags: ['--append'], dest: 'flags', nargs: 0, value: 0x800, append: true },
  { flags: ['--process-unknown', '--no-process-unknown'], dest: 'process_unknown', nargs: 0 },
  { flags: ['--output-json'], dest: 'output_json', nargs: 0, value: true },
  { flags: ['--dbg-small-recv'], dest: 'dbg_small_recv', nargs: '?', int: true, value: 4000 },
];

const USAGE = `usage: ynl [-h] (--family FAMILY | --list-families | --spec SPEC)
           [--schema SCHEMA] [--no-schema] [--json JSON_TEXT]
           [--do DO-OPERATION | --multi DO-OPERATION JSON_TEXT | --dump DUMP-OPERATION | --list-ops | --list-msgs]
           [--duration DURATION] [--sleep DURATION] [--subscribe NTF]
           [--replace] [--excl] [--create] [--append]
           [--process-unknown | --no-process-unknown] [--output-json]
           [--dbg-small-recv [DBG_SMALL_RECV]]`;

export const YNL_HELP = `${USAGE}

YNL CLI utility - a general purpose netlink utility that uses YAML specs to
drive protocol encoding and decoding.

options:
  -h, --help            show this help message and exit
  --family FAMILY       name of the netlink FAMILY
  --list-families       list all netlink families supported by YNL (has spec)
  --spec SPEC           choose the family by SPEC file path
  --schema SCHEMA
  --no-schema
  --json JSON_TEXT
  --do DO-OPERATION
  --multi DO-OPERATION JSON_TEXT
  --dump DUMP-OPERATION
  --list-ops
  --list-msgs
  --duration DURATION   when subscribed, watch for DURATION seconds
  --sleep DURATION      alias for duration
  --subscribe NTF
  --replace
  --excl
  --create
  --append
  --process-unknown, --no-process-unknown
  --output-json
  --dbg-small-recv [DBG_SMALL_RECV]

The --multi option can be repeated to include several do operations in the
same netlink payload.`;

/** argparse's parser.error(): the usage, then `ynl: error: …`, exit 2. */
const error = (msg: string): never => { throw new CliError(`${USAGE}\nynl: error: ${msg}`, 2); };

/** A token argparse takes for an option (a negative number is a value: no option here looks like one). */
const optionLike = (t: string): boolean => t.startsWith('-') && t !== '-' && !/^-\d+$|^-\d*\.\d+$/.test(t);

export type YnlArgs = Record<string, unknown> & { help?: boolean };

/** Parses ynl's arguments as argparse does; `help` set means `-h` was reached (print YNL_HELP). */
export function parseYnlArgs(argv: readonly string[]): YnlArgs {
  const args: YnlArgs = {};
  const extras: string[] = [];
  const seen = new Map<string, Opt>();
  const strings = OPTS.flatMap((o) => o.flags.map((f) => [f, o] as const));
  const find = (tok: string): { opt: Opt; flag: string } | undefined => {
    const exact = strings.find(([f]) => f === tok);
    if (exact) return { opt: exact[1], flag: exact[0] };
    if (!tok.startsWith('--')) return undefined;
    const hits = strings.filter(([f]) => f.startsWith(tok));
    if (hits.length > 1) error(`ambiguous option: ${tok} could match ${hits.map(([f]) => f).join(', ')}`);
    return hits.length === 1 ? { opt: hits[0]![1], flag: hits[0]![0] } : undefined;
  };
  const name = (o: Opt): string => o.flags.join('/');
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') { extras.push(...argv.slice(i + 1)); break; }
    if (!optionLike(tok)) { extras.push(tok); continue; }
    const eq = tok.startsWith('--') ? tok.indexOf('=') : -1;
    const hit = find(eq > 0 ? tok.slice(0, eq) : tok);
    if (!hit) { extras.push(tok); continue; }
    const { opt, flag } = hit;
    // The values it takes.
    let vals: string[] = [];
    if (eq > 0) {
      if (opt.nargs === 0) error(`argument ${name(opt)}: ignored explicit argument '${tok.slice(eq + 1)}'`);
      vals = [tok.slice(eq + 1)];
      if (opt.nargs === 2) error(`argument ${name(opt)}: expected 2 arguments`);
    } else if (opt.nargs === 1 || opt.nargs === 2) {
      for (let k = 0; k < opt.nargs; k++) {
        const v = argv[i + 1 + k];
        if (v === undefined || optionLike(v)) error(`argument ${name(opt)}: expected ${opt.nargs === 1 ? 'one argument' : '2 arguments'}`);
        vals.push(v!);
      }
      i += opt.nargs;
    } else if (opt.nargs === '?') {
      const v = argv[i + 1];
      if (v !== undefined && !optionLike(v)) { vals = [v]; i++; }
    }
    if (opt.dest === 'help') return { help: true };
    // A second option of a mutually exclusive group.
    if (opt.group) {
      for (const [, other] of seen) {
        if (other !== opt && other.group === opt.group) error(`argument ${name(opt)}: not allowed with argument ${name(other)}`);
      }
    }
    seen.set(opt.dest + opt.flags[0], opt);
    let value: unknown;
    if (opt.int && vals.length > 0) {
      const v = vals[0]!;
      if (!/^\s*[+-]?\d+(_\d+)*\s*$/.test(v)) error(`argument ${name(opt)}: invalid int value: '${v}'`);
      value = Number(v.replace(/_/g, ''));
    } else if (opt.nargs === 0) {
      value = opt.dest === 'process_unknown' ? flag === '--process-unknown' : opt.value;
    } else if (opt.nargs === '?') {
      value = opt.value;
    } else {
      value = opt.nargs === 2 ? vals : vals[0];
    }
    if (opt.append) args[opt.dest] = [...((args[opt.dest] as unknown[] | undefined) ?? []), value];
    else args[opt.dest] = value;
  }
  if (![...seen.values()].some((o) => o.group === 'spec')) error('one of the arguments --family --list-families --spec is required');
  if (extras.length > 0) error(`unrecognized arguments: ${extras.join(' ')}`);
  return args;
}

// --- pprint.PrettyPrinter().pprint (width 80, dict keys sorted) -----------------------------

const WIDTH = 80;

/** Python's repr() of JSON data (dict keys sorted, as pprint's safe repr sorts them). */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') {
    // (repr's quotes: double when the text has a ' and no ")
    const q = v.includes("'") && !v.includes('"') ? '"' : "'";
    const body = v.replace(/[\\\n\r\t]|[\x00-\x1f\x7f]/g, (ch) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' } as Record<string, string>)[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
    return q + (q === "'" ? body.replace(/'/g, "\\'") : body) + q;
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  return `{${sortedItems(v as Record<string, unknown>).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
}

const sortedItems = (o: Record<string, unknown>): [string, unknown][] =>
  Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** What `pprint.pprint(v)` prints (without the final newline). */
export function pformat(v: unknown): string {
  let out = '';
  const format = (x: unknown, indent: number, allowance: number): void => {
    const rep = pyRepr(x);
    if (rep.length <= WIDTH - indent - allowance || x === null || typeof x !== 'object') { out += rep; return; }
    if (Array.isArray(x)) {
      out += '[';
      items(x, indent + 1, allowance + 1);
      out += ']';
      return;
    }
    out += '{';
    const entries = sortedItems(x as Record<string, unknown>);
    const inner = indent + 1;
    entries.forEach(([k, e], i) => {
      const last = i === entries.length - 1;
      const kr = pyRepr(k);
      out += `${kr}: `;
      format(e, inner + kr.length + 2, last ? allowance + 1 : 1);
      if (!last) out += `,\n${' '.repeat(inner)}`;
    });
    out += '}';
  };
  const items = (list: unknown[], indent: number, allowance: number): void => {
    list.forEach((e, i) => {
      const last = i === list.length - 1;
      if (i > 0) out += `,\n${' '.repeat(indent)}`;
      format(e, indent, last ? allowance : 1);
    });
  };
  format(v, 0, 0);
  return out;
}
