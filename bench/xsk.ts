/**
 * AF_XDP ring throughput: descriptors per second through one 2048-entry ring between two
 * worker threads (producer and consumer running the dataplane module), at batch 1, 16 and
 * 64; the same ring discipline as the sockets' FILL/RX/TX/COMPLETION rings.
 */

import { readFileSync } from 'node:fs';
import { Dataplane } from '../src/dataplane.js';
import { Emulator } from '../src/emulator.js';
import { XskApp } from '../src/xdp/app.js';
import { XDP_COPY, XDP_ZEROCOPY, XskSocket } from '../src/xdp/socket.js';
import { stream } from '../src/xdp/stream.js';
import { defineSuite, type BenchCase } from './runner.js';

let dp: Dataplane | undefined;
const setup = async (): Promise<void> => { dp ??= await Dataplane.create({}); };

const cases: BenchCase[] = [1, 16, 64].map((batch) => ({
  name: `ring batch ${batch}`, metric: 'throughput', unit: 'M desc/s', higherIsBetter: true, setup,
  ...(batch === 64 ? {} : { baseline: 'ring batch 64' }),
  external: async () => {
    const r = await stream(dp!, batch === 1 ? 2_000_000 : 20_000_000, { batch });
    if (r.errors) throw new Error(`ring stream: ${r.errors} descriptors out of sequence`);
    return r.mdps;
  },
}));

/**
 * End to end, rx-drop: 64-byte frames from the wire into eth0, steered by MAC to queue 15,
 * an XDP program (clang-compiled) redirecting into an XSKMAP, queue 15 leased to a single
 * netkit device whose queue 1 holds the socket; the application returns every frame to
 * FILL (xdpsock -r). One thread, in batches of 1,024. Zero-copy (the default bind: the
 * driver receives into UMEM buffers from FILL, the redirect posts them) and, as the
 * baseline, copy mode (XDP runs on the driver's own buffer, the socket gets a copy).
 */
interface E2e { emu: Emulator; sock: XskSocket; slot: number; tmpl: number }
const e2e = new Map<string, E2e>();
async function e2eSetup(mode: 'zerocopy' | 'copy'): Promise<void> {
  if (!e2e.has(mode)) e2e.set(mode, await e2eBuild(mode));
}
/** The e2e setup; `fill` false leaves FILL to an application that fills it itself. */
async function e2eBuild(mode: 'zerocopy' | 'copy', fill = true): Promise<E2e> {
  const emu = await Emulator.create({ framesPerThread: 4096 });
  const vm = new Uint8Array([0x02, 0x56, 0x4d, 0, 0, 1]);
  const eth0 = emu.addNic({ name: 'eth0', rxQueues: 16 });
  emu.setLink('init', 'eth0', { up: true });
  emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: vm, action: 15 });
  const obj = emu.loadObject(readFileSync(new URL('../test/fixtures/bpf/xdp_xsk.o', import.meta.url)));
  emu.setXdp('init', 'eth0', obj.programs.get('xsk_redirect')!);
  const [nk] = emu.addLink({ ifname: 'nk', numRxQueues: 2, linkinfo: { kind: 'netkit', data: { pairing: 'single' } } });
  emu.queueCreate({ ifindex: nk!.ifindex, type: 'rx', lease: { ifindex: eth0.ifindex, queue: { id: 15, type: 'rx' } } });
  const sock = new XskSocket(emu.dp, { umemSize: 4096 * 4096, fillSize: 4096, rxSize: 4096 });
  emu.xskBind('init', 'nk', 1, sock, { flags: mode === 'copy' ? XDP_COPY : XDP_ZEROCOPY });
  obj.maps.get('xsks')!.setSocket(15, sock);
  if (fill) sock.fillRing(Array.from({ length: 4096 }, (_, i) => i * 4096));
  const f = new Uint8Array(64);
  f.set(vm, 0);
  f.set([2, 0, 0, 0, 0, 9, 0x08, 0x00, 0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17], 6);
  const tmpl = emu.dp.alloc(64);
  emu.dp.bytes().set(f, tmpl);
  return { emu, sock, slot: eth0.slot, tmpl };
}

interface XskExports { pktgen(...a: number[]): number; xskRxDrop(xs: number, max: number): number }

for (const mode of ['zerocopy', 'copy'] as const) {
  cases.push({
    name: `rx-drop 64B wire→XDP→lease→socket${mode === 'copy' ? ', copy mode' : ''}`, metric: 'rate', unit: 'Mpps', higherIsBetter: true,
    ...(mode === 'copy' ? { baseline: 'rx-drop 64B wire→XDP→lease→socket' } : {}),
    setup: () => e2eSetup(mode),
    teardown: async () => { await e2e.get(mode)?.emu.close(); e2e.delete(mode); },
    run: () => {
      const { emu, sock, slot, tmpl } = e2e.get(mode)!;
      const ex = emu.dp.exports as unknown as XskExports;
      let n = 0;
      for (let i = 0; i < 8; i++) {
        n += ex.pktgen(0, slot, tmpl, 64, 1024, 64, 1, 0, 0x0008);
        ex.xskRxDrop(sock.record, 4096);
      }
      const st = sock.statistics();
      if (st.rx_dropped !== 0n || st.rx_fill_ring_empty_descs !== 0n || st.rx_ring_full !== 0n) throw new Error('rx-drop bench: frames were dropped');
      return n;
    },
    value: (work, seconds) => work / seconds / 1e6,
  });
}

/**
 * The same zero-copy path with the application (XskApp rx-drop, batch 64) in its own
 * worker on the other core, as xdpsock runs: the main thread is the wire and the
 * dataplane for 0.4 s; the value is what the application received per second (frames
 * that found FILL empty because it fell behind are the driver's drops, not counted).
 */
let appCase: { e: E2e; app: XskApp } | undefined;
cases.push({
  name: 'rx-drop 64B wire→XDP→lease→socket, application in its own worker', metric: 'rate', unit: 'Mpps', higherIsBetter: true,
  baseline: 'rx-drop 64B wire→XDP→lease→socket',
  setup: async () => {
    const e = await e2eBuild('zerocopy', false);
    appCase = { e, app: await XskApp.start(e.emu.dp, e.sock, { mode: 'rxdrop', batch: 64 }) };
  },
  teardown: async () => {
    await appCase?.app.stop();
    await appCase?.e.emu.close();
    appCase = undefined;
  },
  external: () => {
    const { e: { emu, slot, tmpl }, app } = appCase!;
    const ex = emu.dp.exports as unknown as XskExports;
    const before = app.rxPackets;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < 400) {
      for (let i = 0; i < 8; i++) ex.pktgen(0, slot, tmpl, 64, 1024, 64, 1, 0, 0x0008);
      t = performance.now();
    }
    return (app.rxPackets - before) / ((t - t0) * 1e3);
  },
});

export default defineSuite({ name: 'xsk', cases });
