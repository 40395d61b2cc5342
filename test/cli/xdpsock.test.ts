/**
 * `xdpsock` (the kernel's AF_XDP sample) in nkemu scripts: the netkit example against a
 * golden output (pps and elapsed seconds masked: they are wall-clock), the foreground
 * tx-only run, and the errors.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';

const GOLDEN = new URL('./golden/', import.meta.url).pathname;
const ROOT = new URL('../../', import.meta.url).pathname;

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 1 });
});
afterEach(async () => {
  await emu.close();
});

function golden(name: string, text: string): void {
  const file = GOLDEN + name;
  if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

/** The summary's wall-clock numbers: seconds on the header line, pps on rx/tx. */
const mask = (s: string): string => s
  .replace(/^( {18} pps {12}pkts {11})\d+\.\d\d$/gm, '$1S.SS')
  .replace(/^((?:rx|tx) {17})\d{1,14} +/gm, (_, a: string) => `${a}${'P'.padEnd(15)}`);

const sh = (line: string) => runCommand(emu, splitWords(line));

describe('xdpsock', () => {
  it('nkemu run examples/xdpsock.nk: rx-drop through a leased netkit queue in a worker (golden)', async () => {
    const r = await runScript(emu, readFileSync(ROOT + 'examples/xdpsock.nk', 'utf8'), 'xdpsock.nk');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^rx {17}\d+ +100 +$/m);
    golden('xdpsock.txt', mask(r.stdout));
    expect(emu.stats(emu.device('init', 'eth0')).rxPackets).toBe(100n);
  }, 30_000);

  it('tx-only in the foreground with -C: the packets leave the NIC queue; -c binds copy mode', async () => {
    for (const line of [
      'nic add eth0 rxqueues 4', 'ip link set eth0 up',
      'bpftool prog loadall test/fixtures/bpf/xdp_xsk.o /sys/fs/bpf/x pinmaps /sys/fs/bpf/x',
    ]) expect((await sh(line)).code, line).toBe(0);
    const r = await runCommand(emu, splitWords('xdpsock -i eth0 -q 2 -t -c -C 1000 -s 128 --map /sys/fs/bpf/x/xsks'));
    expect(r.stderr).toBe('');
    expect(mask(r.stdout)).toBe([
      '', ' sock0@eth0:2 txonly \t',
      '                   pps            pkts           S.SS',
      'rx                 P              0             ',
      'tx                 P              1000          ',
      '',
    ].join('\n'));
    const q = emu.queueStats('init', 'eth0')[2]!;
    expect([q.txPackets, q.txBytes]).toEqual([1000n, 124000n]);
  }, 30_000);

  it('errors: no --map, not an XSKMAP, unknown option, forced zero-copy where the device cannot (EOPNOTSUPP), queue out of range', async () => {
    for (const line of [
      'nic add eth0 rxqueues 4', 'ip link set eth0 up', 'ip link add numrxqueues 2 nk type netkit single', 'ip link set nk up',
      'bpftool prog loadall test/fixtures/bpf/xdp_xsk.o /sys/fs/bpf/x pinmaps /sys/fs/bpf/x',
    ]) expect((await sh(line)).code, line).toBe(0);
    expect((await sh('xdpsock -i eth0 -d 1')).stderr).toMatch(/^xdpsock: nkemu does not load the sample's XDP program/);
    expect((await sh('xdpsock -i eth0 -d 1 --map /sys/fs/bpf/x/redirected')).stderr).toBe('xdpsock: /sys/fs/bpf/x/redirected is not an XSKMAP\n');
    expect((await sh('xdpsock -i eth0 -x')).stderr).toMatch(/^xdpsock: unrecognized option '-x'\nUsage: xdpsock/);
    const zc = await sh('xdpsock -i nk -q 0 -z -d 1 --map /sys/fs/bpf/x/xsks');
    expect([zc.code, zc.stderr]).toEqual([1, 'xdpsock: errno: 95/"Operation not supported"\n']);
    expect((await sh('xdpsock -i eth0 -q 9 -d 1 --map /sys/fs/bpf/x/xsks')).stderr).toBe('xdpsock: errno: 22/"Invalid argument"\n');
    // nothing stayed bound: the queue takes a socket again
    const ok = await sh('xdpsock -i nk -q 0 -c -t -C 10 --map /sys/fs/bpf/x/xsks');
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toContain(' sock0@nk:0 txonly \t');
  }, 30_000);
});
