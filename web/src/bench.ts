/**
 * The `web` bench's page side (bench/web.ts): netkit xmit at 64 B on one dataplane Web
 * Worker, measured as bench/xmit.ts measures it in Node (a pair whose peer drops in its
 * sink, pktgen from the page, a tier-up run first). A separate emulator, closed after.
 */

import { Emulator } from '../../src/emulator.js';
import { benchFrame as frame } from '../../bench/frame.js';

let emu: Emulator | undefined;

/** Mpps of `count` packets of `size` bytes through a pair on one worker. */
export async function xmitRate(o: { count?: number; size?: number } = {}): Promise<number> {
  if (!emu) {
    emu = await Emulator.create({
      workers: 1, framesPerThread: 1024,
      wasmUrl: new URL('./dataplane.wasm', import.meta.url), workerUrl: new URL('./worker.js', import.meta.url),
    });
    emu.addLink({ ifname: 'b1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'b0' } } } });
    emu.setLink('init', 'b1', { up: true });
    emu.setLink('init', 'b0', { up: true });
    emu.setRxSink('init', 'b0', 'drop');
  }
  const f = frame(o.size ?? 64);
  await emu.pktgen('init', 'b1', f, { count: 1 << 16 }); // tier-up
  const t0 = performance.now();
  const sent = await emu.pktgen('init', 'b1', f, { count: o.count ?? 1 << 21 });
  return sent / ((performance.now() - t0) / 1e3) / 1e6;
}

export async function closeBench(): Promise<void> {
  await emu?.close();
  emu = undefined;
}
