import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { buildPacket } from '../../src/packet.js';
import { kernelUnavailableReason } from '../helpers/kernel.js';

// Run counts (kernel.bpf_stats_enabled) on this machine's kernel and in nkemu, the same
// steps on both: tc_counters.o's `count` and tail_root.o's two programs loaded with
// bpftool, `bpftool prog run … repeat N` with the sysctl on (and once with it off), then
// `bpftool prog show` in text and JSON. run_cnt must agree exactly, run_time_ns be there on
// both or on neither, and the lines agree but for ids, times and run_time_ns's value. The
// sysctl is machine-wide: it is on only around the runs, and put back as it was. Needs root
// and bpftool (skipped with the reason).

const FIX = new URL('../fixtures/bpf/', import.meta.url).pathname;
const reason = kernelUnavailableReason();
const PIN = `/sys/fs/bpf/nkemu-stats-${process.pid}`;
const SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

let emu: Emulator;
let dir: string;
let saved = '0';
beforeAll(async () => {
  if (reason) return;
  saved = readFileSync(SYSCTL, 'utf8').trim();
  emu = await Emulator.create({ seed: 3 });
  const r = await runScript(emu, [
    `bpftool prog loadall ${FIX}tc_counters.o /sys/fs/bpf/tc pinmaps /sys/fs/bpf/tcmaps`,
    `bpftool prog loadall ${FIX}tail_root.o /sys/fs/bpf/tail pinmaps /sys/fs/bpf/tailmaps`,
  ].join('\n'));
  expect(r.stderr).toBe('');
  mkdirSync(PIN);
  execFileSync('bpftool', ['prog', 'loadall', `${FIX}tc_counters.o`, `${PIN}/tc`, 'pinmaps', `${PIN}/tcmaps`]);
  // (libbpf retries the PROG_ARRAY without BTF and says so on stderr; the PROG_ARRAY pinned,
  // or its slots are emptied when bpftool exits, as the last user reference goes)
  execFileSync('bpftool', ['prog', 'loadall', `${FIX}tail_root.o`, `${PIN}/tail`, 'pinmaps', `${PIN}/tailmaps`], { stdio: 'ignore' });
  dir = mkdtempSync(join(tmpdir(), 'nkemu-stats-live-'));
  // IPv4 with TOS 1: tail_root's second tail call reaches tail_leaf (TC_ACT_PIPE).
  writeFileSync(join(dir, 'pkt'), buildPacket({ eth: { dst: new Uint8Array(6), src: new Uint8Array(6) }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2', tos: 1 }, udp: { sport: 1, dport: 2 }, payload: new Uint8Array(16) }));
});
afterAll(async () => {
  if (reason) return;
  writeFileSync(SYSCTL, saved);
  await emu.close();
  spawnSync('rm', ['-rf', PIN, dir]);
});

/** `bpftool ARGS` here (as root) and in nkemu, the PROG pinned at `real` / `mine`. */
async function both(args: string, real: string, mine: string): Promise<[string, string]> {
  const r = spawnSync('bpftool', splitWords(args.replace('PROG', `pinned ${real}`)), { encoding: 'utf8' });
  const m = await runCommand(emu, splitWords(`bpftool ${args.replace('PROG', `pinned ${mine}`)}`));
  expect([m.code, m.stderr]).toEqual([r.status, r.stderr.replace(/^libbpf: .*\n/gm, '')]);
  return [r.stdout, m.stdout];
}

/** Both sides' sysctl to `v` (nkemu's through its own sysctl). */
async function stats(v: 0 | 1): Promise<void> {
  writeFileSync(SYSCTL, String(v));
  expect((await runCommand(emu, splitWords(`sysctl -q -w kernel.bpf_stats_enabled=${v}`))).code).toBe(0);
}

/** The first line of `prog show` without what must differ (id, tag, the time's value). */
const head = (s: string): string => s.split('\n')[0]!.replace(/^\d+:/, 'N:').replace(/run_time_ns \d+/, 'run_time_ns T');
type Shown = { run_cnt?: number; run_time_ns?: number };
const shown = (s: string): Shown => JSON.parse(s) as Shown;

describe.skipIf(reason !== undefined)(`run_cnt against this machine's kernel (${reason ?? 'root, bpftool'})`, () => {
  it('none before any run with stats on: no run_time_ns or run_cnt in text or JSON', async () => {
    const [r, m] = await both('prog show PROG', `${PIN}/tc/count`, '/sys/fs/bpf/tc/count');
    expect(head(m)).toBe(head(r));
    expect(r).not.toContain('run_cnt');
    const [rj, mj] = await both('-j prog show PROG', `${PIN}/tc/count`, '/sys/fs/bpf/tc/count');
    expect([shown(rj).run_cnt, shown(mj).run_cnt]).toEqual([undefined, undefined]);
  });

  it('prog run … repeat N counts N with stats on, a run with them off nothing, repeat 0 one', async () => {
    const run = (repeat: number) => both(`prog run PROG data_in ${join(dir, 'pkt')} repeat ${repeat}`, `${PIN}/tc/count`, '/sys/fs/bpf/tc/count');
    await stats(1);
    try {
      await run(25);
      await run(0);
    } finally {
      await stats(0);
    }
    await run(9);
    const [rj, mj] = await both('-j prog show PROG', `${PIN}/tc/count`, '/sys/fs/bpf/tc/count');
    expect(shown(rj).run_cnt).toBe(26);
    expect(shown(mj).run_cnt).toBe(shown(rj).run_cnt);
    expect(shown(mj).run_time_ns).toBeGreaterThan(0);
    // Same keys in the same order (run_time_ns, run_cnt right after gpl_compatible).
    expect(Object.keys(JSON.parse(mj) as object)).toEqual(Object.keys(JSON.parse(rj) as object));
    const [r, m] = await both('prog show PROG', `${PIN}/tc/count`, '/sys/fs/bpf/tc/count');
    expect(head(m).replace(/tag \w+/, 'tag X')).toBe(head(r).replace(/tag \w+/, 'tag X'));
    expect(head(r)).toMatch(/  gpl run_time_ns T run_cnt 26$/);
  });

  it('a tail call counts the program that made it, not its target', async () => {
    await stats(1);
    try {
      const [r, m] = await both(`prog run PROG data_in ${join(dir, 'pkt')} repeat 12`, `${PIN}/tail/tail_root`, '/sys/fs/bpf/tail/tail_root');
      // (the leaf ran: TC_ACT_PIPE)
      expect([r.split(',')[0], m.split(',')[0]]).toEqual(['Return value: 3', 'Return value: 3']);
    } finally {
      await stats(0);
    }
    for (const [name, want] of [['tail_root', 12], ['tail_leaf', undefined]] as const) {
      const [rj, mj] = await both('-j prog show PROG', `${PIN}/tail/${name}`, `/sys/fs/bpf/tail/${name}`);
      expect([shown(rj).run_cnt, shown(mj).run_cnt]).toEqual([want, want]);
    }
  });
});
