/**
 * For publication stress tests: traffic a worker carries in many pktgen calls (each call
 * takes the device record at its start and holds it to its end, so configuration changes
 * meet it between calls), and allocations that take freed memory with junk.
 */
import type { Emulator } from '../../src/emulator.js';
import { BpfMap } from '../../src/ebpf/maps.js';

/** `calls` pktgen calls of `per` frames on (ns, dev); `done()` once they ended (or one failed). */
export function trafficInCalls(emu: Emulator, ns: string, dev: string, frame: (call: number) => Uint8Array, calls: number, per: number): { sent: Promise<number>; done: () => boolean } {
  let finished = false;
  const sent = (async () => {
    let n = 0;
    try {
      for (let i = 0; i < calls; i++) n += await emu.pktgen(ns, dev, frame(i), { count: per, batch: 64 });
    } finally {
      finished = true;
    }
    return n;
  })();
  return { sent, done: () => finished };
}

/** Allocations of a program record's and a small program's size, all ones: what takes memory freed too early. */
export function junk(emu: Emulator): void {
  for (const size of [64, 192]) {
    const m = new BpfMap(emu.dp, { name: 'junk', type: 'array', keySize: 4, valueSize: size, maxEntries: 1 });
    m.update(new Uint8Array(4), new Uint8Array(size).fill(0xff));
  }
}
