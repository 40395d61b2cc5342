/**
 * netkit xmit throughput: pktgen → netkit xmit → the peer's rx ring → drop sink, batch
 * 64, at 64 B and 1500 B. The Wasm dataplane against a plain TypeScript loop doing the
 * same work over the same memory (xmit-baseline.ts), inline on one thread; and the Wasm
 * dataplane on one worker thread, driven from the host.
 */

import { Emulator } from '../src/emulator.js';
import type { NetDevice } from '../src/net/netdev.js';
import { defineSuite, rate, type BenchCase } from './runner.js';
import { tsPktgen } from './xmit-baseline.js';

/** Packets per measured operation: enough to amortise the JS→Wasm call, small enough to tier up. */
const OP = 8192;
const BATCH = 64;

let inline: Emulator;
let worker: Emulator;
const pairs: Record<string, NetDevice> = {};
const templates: Record<number, number> = {};

function frame(size: number): Uint8Array {
  const f = new Uint8Array(size);
  f.set([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00], 0);
  return f;
}

function pair(emu: Emulator, name: string): NetDevice {
  const [p, q] = emu.addLink({ ifname: `${name}1`, linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: `${name}0` } } } });
  emu.setLink('init', p!.name, { up: true });
  emu.setLink('init', q!.name, { up: true });
  emu.setRxSink('init', q!.name, 'drop');
  return p!;
}

async function setup(): Promise<void> {
  if (inline) return;
  inline = await Emulator.create({ framesPerThread: 1024 });
  worker = await Emulator.create({ workers: 1, framesPerThread: 1024 });
  pairs.wasm = pair(inline, 'w');
  pairs.ts = pair(inline, 't');
  pairs.worker = pair(worker, 'k');
  for (const size of [64, 1500]) {
    const t = inline.dp.alloc(size);
    inline.dp.bytes().set(frame(size), t);
    templates[size] = t;
  }
}

async function teardown(): Promise<void> {
  await inline?.close();
  await worker?.close();
}

function cases(size: number): BenchCase[] {
  const mpps = { metric: 'Mpps', unit: 'Mpps', higherIsBetter: true } as const;
  return [
    {
      name: `ts ${size}B`, ...mpps, setup, teardown,
      run: () => tsPktgen(inline.dp, pairs.ts!.slot, templates[size]!, size, OP, BATCH),
      value: rate(1e6),
    },
    {
      name: `wasm ${size}B`, ...mpps, baseline: `ts ${size}B`, setup,
      run: () => inline.dp.exports.pktgen(0, pairs.wasm!.slot, templates[size]!, size, OP, BATCH, 1, 0, 0x0008),
      value: rate(1e6),
    },
    {
      name: `wasm ${size}B 1 worker`, ...mpps, baseline: `ts ${size}B`, setup,
      external: async () => {
        const count = 1 << 21;
        const f = frame(size);
        await worker.pktgen('init', pairs.worker!.name, f, { count: 1 << 16 }); // tier-up
        const t0 = performance.now();
        const sent = await worker.pktgen('init', pairs.worker!.name, f, { count });
        return sent / ((performance.now() - t0) / 1e3) / 1e6;
      },
    },
  ];
}

export default defineSuite({ name: 'xmit', cases: [...cases(64), ...cases(1500)] });
