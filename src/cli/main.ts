/**
 * `nkemu TOOL ARGS...`: one command against one emulator, or `nkemu run FILE` for a
 * script of such lines in one emulator, or `nkemu demo` (the `npm start` scenario).
 * Tools: ip, ping, pktgen, wire, nic, ethtool, ynl, zcrx, sysctl, bpftool, xdpsock (and
 * `wait` for the xdpsock runs started with a trailing `&`).
 */

import { readFileSync } from 'node:fs';
import { Emulator } from '../emulator.js';
import { demo } from './demo.js';
import { USAGE, runCommand, runScript, type CommandResult } from './run.js';

export { runCommand, runScript, splitWords, type CommandResult } from './run.js';

/** The `nkemu` executable. */
export async function main(argv: string[]): Promise<number> {
  let workers = 0;
  while (argv[0]?.startsWith('--')) {
    const o = argv.shift()!;
    if (o === '--workers') workers = Number(argv.shift());
    else if (o === '--help') { process.stdout.write(`${USAGE}\n`); return 0; }
    else { process.stderr.write(`nkemu: unknown option ${o}\n${USAGE}\n`); return 1; }
  }
  if (!Number.isInteger(workers) || workers < 0) { process.stderr.write('nkemu: --workers needs a whole number\n'); return 1; }
  if (argv.length === 0 || argv[0] === 'help') { process.stdout.write(`${USAGE}\n`); return argv.length === 0 ? 1 : 0; }
  if (argv[0] === 'demo') return demo((s) => process.stdout.write(s), { workers });
  const emu = await Emulator.create({ workers });
  try {
    let r: CommandResult;
    if (argv[0] === 'run') {
      const file = argv[1];
      if (!file) { process.stderr.write(`${USAGE}\n`); return 1; }
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        process.stderr.write(`nkemu: cannot read ${file}: ${(e as Error).message}\n`);
        return 1;
      }
      r = await runScript(emu, text, file);
    } else {
      r = await runCommand(emu, argv);
      const w = await runCommand(emu, ['wait']);
      r = { stdout: r.stdout + w.stdout, stderr: r.stderr + w.stderr, code: r.code || w.code };
    }
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    return r.code;
  } finally {
    await emu.close();
  }
}
