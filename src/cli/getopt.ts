/**
 * GNU getopt_long(3) as the C tools nkemu imitates call it with `opterr = 0`: it prints
 * nothing itself and reports a bad option as '?'. Semantics followed (glibc posix/getopt.c):
 * - argv is permuted: arguments that are not options are skipped and returned in `rest`;
 *   `--` ends the options;
 * - short options cluster (`-rN`); an option taking an argument takes the rest of its word
 *   (`-q1`) or the next word (`-q 1`), and is '?' when there is none;
 * - `--name=value` or `--name value`; a long name may be abbreviated to any prefix that
 *   names one option (an exact match wins; an ambiguous prefix is '?'); `--flag=x` on an
 *   option without an argument is '?'.
 */

export interface LongOption {
  name: string;
  hasArg: boolean;
  /** The value returned for it (getopt's `val`, the short letter for most tools). */
  val: string;
}

export interface GetoptItem {
  /** The option's short letter (or a long option's `val`); '?' for a bad option. */
  opt: string;
  /** Its argument, when it takes one. */
  arg?: string;
  /** The word as the user wrote it (for messages). */
  word: string;
}

/** Parses `argv` (without the program name) by `optstring` (`"rti:q:"`) and long options. */
export function getoptLong(argv: readonly string[], optstring: string, longs: readonly LongOption[]): { opts: GetoptItem[]; rest: string[] } {
  const takes = new Map<string, boolean>();
  for (let i = 0; i < optstring.length; i++) {
    const c = optstring[i]!;
    if (c === ':') continue;
    takes.set(c, optstring[i + 1] === ':');
  }
  const opts: GetoptItem[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (w.startsWith('--')) {
      const eq = w.indexOf('=');
      const name = eq < 0 ? w.slice(2) : w.slice(2, eq);
      const exact = longs.find((l) => l.name === name);
      const cands = exact ? [exact] : longs.filter((l) => l.name.startsWith(name));
      // (candidates that are all the same option are not ambiguous)
      const same = cands.every((c) => c.hasArg === cands[0]!.hasArg && c.val === cands[0]!.val);
      if (cands.length === 0 || !same) {
        opts.push({ opt: '?', word: w });
        continue;
      }
      const l = cands[0]!;
      if (!l.hasArg) {
        opts.push(eq < 0 ? { opt: l.val, word: w } : { opt: '?', word: w });
        continue;
      }
      if (eq >= 0) opts.push({ opt: l.val, arg: w.slice(eq + 1), word: w });
      else if (i + 1 < argv.length) opts.push({ opt: l.val, arg: argv[++i]!, word: w });
      else opts.push({ opt: '?', word: w });
      continue;
    }
    if (w.length < 2 || w[0] !== '-') {
      rest.push(w);
      continue;
    }
    for (let j = 1; j < w.length; j++) {
      const c = w[j]!;
      const t = takes.get(c);
      if (t === undefined) {
        opts.push({ opt: '?', word: `-${c}` });
        continue;
      }
      if (!t) {
        opts.push({ opt: c, word: `-${c}` });
        continue;
      }
      if (j + 1 < w.length) opts.push({ opt: c, arg: w.slice(j + 1), word: `-${c}` });
      else if (i + 1 < argv.length) opts.push({ opt: c, arg: argv[++i]!, word: `-${c}` });
      else opts.push({ opt: '?', word: `-${c}` });
      break;
    }
  }
  return { opts, rest };
}

/** C's atoi(3): leading blanks, an optional sign, the digits that follow; 0 when none; int-wrapped. */
export function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  return Number(BigInt.asIntN(32, BigInt(m[1]!)));
}
