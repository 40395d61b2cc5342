import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { kernelUnavailableReason } from '../helpers/kernel.js';

// nkemu's `bpftool map …` side by side with this machine's bpftool on a real map of the
// same shape (a 4-byte-key, 8-byte-value hash in bpffs), and its help, usage and error
// texts: the same command lines give the same output, errors and exit codes. Needs root
// and bpftool (skipped with the reason).

const FIX = new URL('../fixtures/bpf/', import.meta.url).pathname;
const reason = kernelUnavailableReason();
const PIN = `/sys/fs/bpf/nkemu-live-${process.pid}`;

let emu: Emulator;
beforeAll(async () => {
  if (reason) return;
  emu = await Emulator.create({ seed: 3 });
  const r = await runScript(emu, `bpftool prog loadall ${FIX}tc_counters.o /sys/fs/bpf/tc pinmaps /sys/fs/bpf/tcmaps`);
  expect(r.stderr).toBe('');
  execFileSync('bpftool', ['map', 'create', PIN, 'type', 'hash', 'key', '4', 'value', '8', 'entries', '64', 'name', 'src_bytes']);
});
afterAll(async () => {
  if (reason) return;
  await emu.close();
  spawnSync('rm', ['-f', PIN]);
});

/** One command line on both: [real, nkemu] as {out, err, code}; PIN stands for the map. */
async function both(line: string): Promise<[{ out: string; err: string; code: number }, { out: string; err: string; code: number }]> {
  const real = spawnSync('bpftool', splitWords(line.replace('MAP', `pinned ${PIN}`)), { encoding: 'utf8' });
  const mine = await runCommand(emu, splitWords(`bpftool ${line.replace('MAP', 'pinned /sys/fs/bpf/tcmaps/src_bytes')}`));
  return [{ out: real.stdout, err: real.stderr, code: real.status ?? -1 }, { out: mine.stdout, err: mine.stderr, code: mine.code }];
}

describe.skipIf(reason !== undefined)(`bpftool map commands against this machine's bpftool (${reason ?? 'root, bpftool'})`, () => {
  it.each([
    // key and value bytes: decimal, 0x, octal, the hex keyword, a byte past 255 (its low byte), bad and missing bytes
    'map update MAP key 10 0 0 1 value 1 2 3 4 5 6 7 255',
    'map lookup MAP key 10 0 0 1',
    'map lookup MAP key 0x0a 0 0 01',
    'map lookup MAP key hex 0a 00 00 01',
    'map lookup MAP key hex 10 0 0 1',
    'map lookup MAP key 010 0 0 1',
    'map lookup MAP key 10 0 0',
    'map lookup MAP key 10 0 0 zz',
    'map update MAP key 266 0 0 1 value 1 2 3 4 5 6 7 8',
    'map lookup MAP key 10 0 0 1',
    'map update MAP key 10 0 0 1 value 9 9 9 9 9 9 9 9 noexist',
    'map update MAP key 10 0 0 2 value 9 9 9 9 9 9 9 9 exist',
    'map delete MAP key 9 9 9 9',
    '-j map lookup MAP key 9 9 9 9',
    '-j map lookup MAP key 10 0 0 1',
    'map update MAP key hex ff ff 00 00 value hex 10 20 30 40 50 60 70 80',
    'map lookup MAP key 255 255 0 0',
    'map delete MAP key 255 255 0 0',
    'map lookup MAP key 255 255 0 0',
    // help and usage texts, prefixes, wrong words and options, files that are no objects
    'help', '-h', '--help', '', 'frob', '--frob', '-x', '-j --frob', '-j help', 'h',
    'prog help', 'map help', 'net help', 'link help', 'prog frob', 'map frob', 'net frob', 'link frob',
    '-j prog help', '-j prog frob', 'm help', 'p h', 'ma he',
    'prog load /nonexistent.o /sys/fs/bpf/nkemu-never', '-j prog load /nonexistent.o /sys/fs/bpf/nkemu-never',
    `prog load ${FIX}cases.ts /sys/fs/bpf/nkemu-never`, 'prog load /tmp /sys/fs/bpf/nkemu-never',
  ])('%s', async (line) => {
    const [real, mine] = await both(line);
    expect(mine).toEqual(real);
  });
});

// The queue verbs on a queue like map_types.c's `fifo` (4 u32 values), real and nkemu's.
const QPIN = `/sys/fs/bpf/nkemu-live-q-${process.pid}`;
describe.skipIf(reason !== undefined)(`bpftool's queue verbs against this machine's bpftool (${reason ?? 'root, bpftool'})`, () => {
  let qemu: Emulator;
  beforeAll(async () => {
    qemu = await Emulator.create({ seed: 3 });
    const r = await runScript(qemu, `bpftool prog loadall ${FIX}map_types.o /sys/fs/bpf/mt pinmaps /sys/fs/bpf/mtmaps`);
    expect(r.stderr).toBe('');
    execFileSync('bpftool', ['map', 'create', QPIN, 'type', 'queue', 'key', '0', 'value', '4', 'entries', '4', 'name', 'fifo']);
  });
  afterAll(async () => {
    await qemu.close();
    spawnSync('rm', ['-f', QPIN]);
  });
  it.each([
    'map peek MAP', '-j map peek MAP', 'map pop MAP', 'map dump MAP',
    'map push MAP value 1 0 0 0', 'map enqueue MAP value 2 0 0 0', 'map push MAP value 3 0 0 0', 'map push MAP value 4 0 0 0',
    'map push MAP value 5 0 0 0', 'map peek MAP', '-j map peek MAP', 'map dequeue MAP', 'map pop MAP', 'map lookup MAP key 0 0 0 0',
    'map dump MAP', 'map pop MAP', 'map pop MAP', 'map pop MAP',
  ])('%s', async (line) => {
    const real = spawnSync('bpftool', splitWords(line.replace('MAP', `pinned ${QPIN}`)), { encoding: 'utf8' });
    const mine = await runCommand(qemu, splitWords(`bpftool ${line.replace('MAP', 'pinned /sys/fs/bpf/mtmaps/fifo')}`));
    expect({ out: mine.stdout, err: mine.stderr, code: mine.code }).toEqual({ out: real.stdout, err: real.stderr, code: real.status ?? -1 });
  });
});
