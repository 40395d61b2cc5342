/**
 * `nkemu bench SCRIPT [options]`: the library's `bench()` (src/bench/) from the command
 * line. The table goes to stdout (or the JSON array with `--json`), the HTML report to
 * `--html FILE`, progress and notes to stderr. Exit status 1 for bad arguments and for
 * anything the bench refuses (a missing object, a bad section, an unreadable capture, a
 * failing setup line), with one `nkemu bench: …` line saying what.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { VariantOptions } from '../bench/config.js';

export const BENCH_USAGE = `Usage: nkemu bench SCRIPT [--prog [NAME=]FILE]... [--sec SECTION] [--pcap FILE]
                   [--traffic LINE]... [--procs N] [--rounds N] [--time SECONDS]
                   [--packets N] [--repeat N] [--kernel] [--json] [--html FILE]
  SCRIPT          setup in 'nkemu run' syntax; $PROG is the variant's object, $SEC the
                  section; its 'pktgen'/'wire' lines are the traffic (not run at setup)
  --prog FILE     a program variant (repeat to compare; the first is the baseline)
  --sec SECTION   the section of the program to measure and attach (default: the first)
  --pcap FILE     replay this capture's frames (pcap or pcapng), in order, looping
  --traffic LINE  another traffic line, e.g. 'pktgen dev nk1 flows 8'
  --procs N       measuring processes (3)      --rounds N   rounds per process (5)
  --time S        seconds per variant per round (0.25)
  --packets N     packets per operation of a traffic line without 'count' (4096)
  --repeat N      repetitions per test run of the program (2000)
  --kernel        add the kernel's BPF_PROG_TEST_RUN times (root, bpftool)
  --json          the metrics as a JSON array (name, unit, value, range, extra, ...)
  --html FILE     write a self-contained HTML report with charts`;

function count(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`--${flag} needs a whole number ≥ 1, got '${v}'`);
  return Number(v);
}

/** Runs `nkemu bench ARGS`; returns the exit status. */
export async function benchCli(argv: string[], out = (s: string): void => { process.stdout.write(s); }, err = (s: string): void => { process.stderr.write(s); }): Promise<number> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        prog: { type: 'string', multiple: true },
        sec: { type: 'string' },
        pcap: { type: 'string' },
        traffic: { type: 'string', multiple: true },
        procs: { type: 'string' },
        rounds: { type: 'string' },
        time: { type: 'string' },
        packets: { type: 'string' },
        repeat: { type: 'string' },
        kernel: { type: 'boolean' },
        json: { type: 'boolean' },
        html: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    err(`nkemu bench: ${(e as Error).message.split('\n')[0]}\n${BENCH_USAGE}\n`);
    return 1;
  }
  if (values.help) {
    out(`${BENCH_USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    err(`nkemu bench: ${positionals.length === 0 ? 'a setup script is required' : `one setup script, got ${positionals.length} arguments`}\n${BENCH_USAGE}\n`);
    return 1;
  }
  const file = positionals[0]!;
  try {
    let script: string;
    try {
      script = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new Error(`cannot read ${file}: ${code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'EISDIR' ? 'Is a directory' : (e as Error).message}`);
    }
    let time: number | undefined;
    if (values.time !== undefined) {
      time = Number(values.time);
      if (!/^\d*\.?\d+$/.test(values.time) || !(time > 0)) throw new Error(`--time needs a positive number of seconds, got '${values.time}'`);
    }
    const variants = (values.prog ?? []).map((p): VariantOptions => {
      const m = /^([\w.+-]+)=(.+)$/.exec(p);
      return m ? { name: m[1]!, object: m[2]! } : { object: p };
    });
    const { bench } = await import('../bench/run.js');
    const progress = process.stderr.isTTY && !values.json;
    const report = await bench({
      script, scriptName: file, variants,
      ...(values.sec !== undefined ? { sec: values.sec } : {}),
      ...(values.pcap !== undefined ? { pcap: values.pcap } : {}),
      ...(values.traffic ? { traffic: values.traffic } : {}),
      procs: count('procs', values.procs), rounds: count('rounds', values.rounds), time,
      packets: count('packets', values.packets), repeat: count('repeat', values.repeat),
      kernel: values.kernel ?? false,
      ...(progress ? { onProgress: (l: string) => err(`${l}\n`) } : {}),
    });
    if (values.json) {
      const { toJson } = await import('../bench/format.js');
      out(`${JSON.stringify(toJson(report), null, 2)}\n`);
      if (report.kernel.absent !== undefined) err(`nkemu bench: no kernel column: ${report.kernel.absent}\n`);
    } else {
      const { formatTable } = await import('../bench/format.js');
      out(`${formatTable(report)}\n`);
    }
    if (values.html !== undefined) {
      const { toHtml } = await import('../bench/html.js');
      writeFileSync(values.html, toHtml(report));
      err(`nkemu bench: report written to ${values.html}\n`);
    }
    return 0;
  } catch (e) {
    err(`nkemu bench: ${(e as Error).message}\n`);
    return 1;
  }
}
