import { describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';

/** Seeded traffic over three pairs in two namespaces; returns every device's counters. */
async function run(workers: number): Promise<Record<string, string>> {
  const emu = await Emulator.create({ workers, seed: 11 });
  try {
    emu.addNetns('foo');
    for (let i = 0; i < 3; i++) {
      emu.addLink({
        ifname: `h${i}`,
        linkinfo: { kind: 'netkit', data: { mode: i === 1 ? 'l2' : 'l3', policy: i === 2 ? 'blackhole' : 'forward', peerInfo: { ifname: `g${i}`, netns: 'foo' } } },
      });
      emu.setLink('init', `h${i}`, { up: true });
      emu.setLink('foo', `g${i}`, { up: true });
    }
    let seed = 99;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let round = 0; round < 20; round++) {
      for (let k = 0; k < 50; k++) {
        const i = Math.floor(rnd() * 3);
        const len = 10 + Math.floor(rnd() * 1400);
        const f = new Uint8Array(len);
        f[12] = 0x88;
        f[13] = 0xb5;
        if (rnd() < 0.5) emu.transmit('init', `h${i}`, f, { mark: round });
        else emu.transmit('foo', `g${i}`, f);
      }
      await emu.settle();
    }
    await emu.pktgen('init', 'h0', new Uint8Array(64), { count: 5000 });
    await emu.settle();
    const out: Record<string, string> = {};
    for (const ns of ['init', 'foo']) {
      for (const d of emu.links(ns)) out[`${ns}/${d.name}`] = JSON.stringify(emu.stats(d), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    }
    return out;
  } finally {
    await emu.close();
  }
}

describe('workers', () => {
  it('the same seeded traffic gives identical counters inline and with 2 workers', async () => {
    const inline = await run(0);
    const threaded = await run(2);
    expect(Object.keys(inline).length).toBe(8);
    expect(threaded).toEqual(inline);
    // traffic really flowed and was really dropped
    expect(inline['init/h0']).toMatch(/"txPackets":"[1-9]/);
    expect(inline['init/h2']).toMatch(/NETKIT_POLICY_DROP/);
  });
});

describe('a dataplane worker that cannot start', () => {
  it('rejects create with a NetError naming the script: missing (ENOENT) or silent past workerTimeoutMs (ETIMEDOUT)', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { pathToFileURL } = await import('node:url');
    const dir = mkdtempSync(join(tmpdir(), 'nkemu-worker-'));
    try {
      const missing = pathToFileURL(join(dir, 'missing.js'));
      await expect(Emulator.create({ workers: 1, workerUrl: missing })).rejects.toMatchObject({
        name: 'NetError', errno: 'ENOENT', message: expect.stringContaining(`dataplane worker 1 failed to load from ${missing.href}`),
      });
      const silent = join(dir, 'silent.mjs');
      writeFileSync(silent, 'setInterval(() => {}, 1000);\n');
      const t0 = Date.now();
      await expect(Emulator.create({ workers: 1, workerUrl: pathToFileURL(silent), workerTimeoutMs: 500 })).rejects.toMatchObject({
        name: 'NetError', errno: 'ETIMEDOUT', message: expect.stringContaining('did not start within 500 ms'),
      });
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
