/**
 * `nkemu TOOL ARGS...`: one command against one emulator, or `nkemu run FILE` for a
 * script of such lines in one emulator, `nkemu bench SCRIPT …` (src/cli/bench.ts), or
 * `nkemu demo` (the `npm start` scenario).
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
  // (measuring processes of its own: no emulator here)
  if (argv[0] === 'bench') return (await import('./bench.js')).benchCli(argv.slice(1));
  const emu = await Emulator.create({ workers });
  // Output goes out line by line as the command prints it; the first SIGINT stops a long
  // command (ping prints its statistics), a second one ends the process as usual.
  const stop = new AbortController();
  const onSigint = (): void => stop.abort();
  process.once('SIGINT', onSigint);
  const run = { onOutput: (stream: 'stdout' | 'stderr', text: string): void => { process[stream].write(text); }, signal: stop.signal };
  try {
    let r: CommandResult;
    if (argv[0] === 'run') {
      const file = argv[1];
      if (!file) { process.stderr.write(`${USAGE}\n`); return 1; }
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        const code = (e as { code?: string }).code;
        process.stderr.write(`nkemu: cannot read ${file}: ${code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'EISDIR' ? 'Is a directory' : 'Input/output error'}\n`);
        return 1;
      }
      r = await runScript(emu, text, file, run);
    } else {
      r = await runCommand(emu, argv, 'init', run);
      const w = await runCommand(emu, ['wait'], 'init', run);
      r = { stdout: '', stderr: '', code: r.code || w.code };
    }
    return r.code;
  } finally {
    process.removeListener('SIGINT', onSigint);
    await emu.close();
  }
}
