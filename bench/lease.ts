/**
 * Unregistering a physical NIC whose queues are leased by N single-mode netkit devices:
 * the netkit notifier's nested batch removes all of them. Reported as µs per removed
 * device for N = 100, 1,000 and 10,000; the ratio against N = 100 shows whether the
 * cost grows linearly (1.0x = the same time per device).
 */

import { Emulator } from '../src/emulator.js';
import { defineSuite, type BenchCase } from './runner.js';

async function unregisterTime(n: number): Promise<number> {
  const emu = await Emulator.create({ maxDevices: n + 64, ringSize: 64, framesPerThread: 256, traceSlots: 64, captureSnaplen: 64 });
  try {
    emu.addNic({ name: 'eth0', rxQueues: n, txQueues: 1, maxChannels: n });
    for (let i = 0; i < n; i++) {
      const [nk] = emu.addLink({ ifname: `nk${i}`, numRxQueues: 2, linkinfo: { kind: 'netkit', data: { pairing: 'single' } } });
      emu.queueCreate({ ifindex: nk!.ifindex, type: 'rx', lease: { ifindex: emu.device('init', 'eth0').ifindex, queue: { id: i, type: 'rx' } } });
    }
    const t0 = performance.now();
    emu.delNic('init', 'eth0');
    const us = (performance.now() - t0) * 1e3;
    if (emu.links().length !== 1) throw new Error('lessees left behind');
    return us / n;
  } finally {
    await emu.close();
  }
}

const perDevice = { metric: 'unregister', unit: 'µs/device', higherIsBetter: false } as const;

const cases: BenchCase[] = [100, 1000, 10000].map((n) => ({
  name: `${n} lessees`,
  ...perDevice,
  ...(n === 100 ? {} : { baseline: '100 lessees' }),
  external: () => unregisterTime(n),
}));

export default defineSuite({ name: 'lease', cases });
