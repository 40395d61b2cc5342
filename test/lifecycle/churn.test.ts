/**
 * Everything an emulator hands out comes back: a churn of each kind (create, use, close)
 * leaves the shared memory flat after warm-up, inline and with 2 workers. Cycles per kind:
 * NKEMU_CHURN (default 10,000 for the cheap kinds, 1,000 for those that compile or bind;
 * `NKEMU_CHURN=10000 npx vitest run test/lifecycle/churn.test.ts` runs them all at 10,000).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { loadObject as parseElf } from '../../src/ebpf/elf.js';
import { XskSocket } from '../../src/xdp/socket.js';

const CHEAP = Number(process.env.NKEMU_CHURN ?? 10_000);
const COSTLY = Number(process.env.NKEMU_CHURN ?? 1_000);

const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fixtures/bpf/${name}`, import.meta.url)));

/** tailcall.o with its last program's first instruction made invalid: refused after its maps and first programs exist. */
export function refusedObject(): Uint8Array {
  const bytes = fixture('tailcall.o');
  const obj = parseElf(bytes);
  // (stage2 then stage1, one after the other in section tc)
  const [first, second] = obj.programs;
  const at = Buffer.from(bytes).indexOf(Buffer.from(first!.insns.subarray(0, 16))) + first!.insns.length;
  if (!second || bytes[at] !== second.insns[0]) throw new Error('fixture layout changed');
  const out = bytes.slice();
  out[at] = 0xff;
  return out;
}

/**
 * Runs `cycle` n times; returns the bytes in use (allocated, not free) after a warm-up
 * tenth and at the end, and how far the arena's top moved in between (records waiting
 * for a worker's grace period can push it a little while a worker is slow to quiesce).
 */
async function churn(emu: Emulator, n: number, cycle: (i: number) => void | Promise<void>): Promise<{ warm: number; end: number; grown: number }> {
  const warmAt = Math.max(10, Math.floor(n / 10));
  let warm = 0;
  let topAtWarm = 0;
  for (let i = 0; i < n; i++) {
    await cycle(i);
    if (i % 100 === 99) { await emu.settleJit(); await emu.settle(); }
    if (i === warmAt - 1) {
      await emu.settleJit();
      await emu.settle();
      emu.dp.reclaim();
      warm = emu.dp.liveBytes;
      topAtWarm = emu.dp.arenaTop;
    }
  }
  await emu.settleJit();
  await emu.settle();
  emu.dp.reclaim();
  return { warm, end: emu.dp.liveBytes, grown: emu.dp.arenaTop - topAtWarm };
}

for (const workers of [0, 2]) {
  describe(`churn, ${workers} workers`, () => {
    let emu: Emulator;
    const report: string[] = [];
    beforeAll(async () => {
      emu = await Emulator.create({ workers, seed: 3 });
      emu.addNic({ name: 'eth0', rxQueues: 4 });
      emu.setLink('init', 'eth0', { up: true });
      emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0' } } } });
    });
    afterAll(async () => {
      console.log(`churn (${workers} workers): ${report.join('; ')}`);
      await emu.close();
    });
    const flat = (kind: string, n: number, r: { warm: number; end: number; grown: number }): void => {
      report.push(`${kind} ×${n}: in use ${r.warm} → ${r.end} bytes, arena top +${r.grown}`);
      expect(r.end, `${kind}: bytes in use after warm-up vs at the end`).toBe(r.warm);
      // (with workers, blocks retired but not yet past their grace period make new ones
      // come from the top: bounded by what is in flight between two settles (100 cycles),
      // not by the number of cycles)
      expect(r.grown, `${kind}: arena top growth after warm-up`).toBeLessThanOrEqual(workers ? 16 << 20 : 0);
    };

    it('programs: load and close; compiled-code slots are reused on every thread', async () => {
      const insns = assemble('mov %r0, 2\nexit');
      const r = await churn(emu, COSTLY, () => {
        const p = emu.loadProgram({ name: 'p', type: 'sched_cls', insns });
        expect(p.jit.slot).toBeGreaterThan(0);
        emu.closeProgram(p);
      });
      flat('programs', COSTLY, r);
      expect(emu.dp.jit.inUse.highWater).toBeLessThan(200);
      expect(emu.bpf.progs.size).toBe(0);
    });

    it('objects with maps: load and close the object', async () => {
      const bytes = fixture('tailcall.o');
      const r = await churn(emu, COSTLY, () => {
        const obj = emu.loadObject(bytes);
        expect(obj.maps.size).toBeGreaterThan(0);
        emu.closeObject(obj);
      });
      flat('objects', COSTLY, r);
      expect(emu.bpf.progs.size).toBe(0);
    });

    it('refused objects leave no trace: no maps, no programs', async () => {
      const bytes = refusedObject();
      const r = await churn(emu, COSTLY, () => {
        expect(() => emu.loadObject(bytes)).toThrow();
        expect(emu.bpf.progs.size).toBe(0);
      });
      flat('refused objects', COSTLY, r);
    });

    it('AF_XDP sockets: create, bind, close', async () => {
      const r = await churn(emu, COSTLY, (i) => {
        const s = new XskSocket(emu.dp, { umemSize: 16 * 4096, fillSize: 64, rxSize: 64, txSize: 64, compSize: 64 });
        emu.xskBind('init', 'eth0', i % 4, s);
        emu.xskClose(s);
      });
      flat('xsk sockets', COSTLY, r);
    });

    it('links: create and release', async () => {
      const prog = emu.loadProgram({ name: 'p', type: 'sched_cls', insns: assemble('mov %r0, -1\nexit') });
      const nk1 = emu.device('init', 'nk1');
      const r = await churn(emu, CHEAP, () => {
        const l = emu.linkCreate('init', { ifindex: nk1.ifindex, attachType: 'netkit_primary', prog });
        emu.linkDetach(l, true);
      });
      emu.closeProgram(prog);
      flat('links', CHEAP, r);
      expect(emu.bpf.links.size).toBe(0);
    });

    it('captures: start and stop', async () => {
      const r = await churn(emu, CHEAP, () => {
        const c = emu.startCapture();
        emu.stopCapture(c);
      });
      flat('captures', CHEAP, r);
    });

    it('memory providers: bind and close', async () => {
      const r = await churn(emu, CHEAP, () => {
        const p = emu.bindProvider('init', 'eth0', 3, { kind: 'devmem', buffers: 16 });
        emu.closeProvider(p);
      });
      flat('providers', CHEAP, r);
    });
  });
}
