/**
 * AF_XDP applications in their own worker (xdpsock's rx-drop, tx-only and l2fwd) over the
 * shared rings, with the control plane in the host; the UMEM chunk accounting is checked
 * after each run (every chunk in exactly one ring or in the application's hands).
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import type { BpfMap } from '../../src/ebpf/maps.js';
import { XskApp } from '../../src/xdp/app.js';
import { XDP_COPY, XDP_USE_NEED_WAKEUP, XDP_ZEROCOPY, XskSocket } from '../../src/xdp/socket.js';
import { buildIpv4, buildUdp, parseIp } from '../../src/net/stack/packet.js';
import { readPcapng } from '../../src/trace/pcapng.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 3 });
});
afterEach(async () => {
  await emu.close();
});

const VM = new Uint8Array([0x02, 0x56, 0x4d, 0, 0, 1]);
const PEER = new Uint8Array([2, 0, 0, 0, 0, 9]);

function frame(sport: number): Uint8Array {
  const s = parseIp('192.168.1.2')!;
  const d = parseIp('192.168.1.50')!;
  return buildIpv4(VM, PEER, { src: s, dst: d, proto: 17 }, buildUdp(s, d, sport, 9, new Uint8Array(18)));
}

/** eth0 steering the VM's MAC to `queue`; the XSKMAP keyed by rx queue. */
function setup(queue: number): BpfMap {
  emu.addNic({ name: 'eth0', rxQueues: 16 });
  emu.setLink('init', 'eth0', { up: true });
  emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: VM, action: queue });
  const obj = emu.loadObject(readFileSync(new URL('../fixtures/bpf/xdp_xsk.o', import.meta.url)));
  emu.setXdp('init', 'eth0', obj.programs.get('xsk_redirect')!);
  return obj.maps.get('xsks')!;
}

/** Waits (settling the dataplane, which also runs zero-copy drivers) until `done()`. */
async function until(done: () => boolean, ms = 20_000, what = (): string => ''): Promise<void> {
  const t0 = Date.now();
  while (!done()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out${what() ? `: ${what()}` : ''}`);
    await emu.settle();
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('AF_XDP applications in a worker', () => {
  it.each([[0, 'copy'], [2, 'copy'], [2, 'zero-copy']] as const)('rx-drop (%i dataplane workers, %s): frames from the wire reach the application worker, every buffer goes back to FILL', async (workers, mode) => {
    if (workers) {
      await emu.close();
      emu = await Emulator.create({ seed: 3, workers });
    }
    const xsks = setup(2);
    const s = new XskSocket(emu.dp, { umemSize: 64 * 4096, fillSize: 32 });
    emu.xskBind('init', 'eth0', 2, s, { flags: mode === 'copy' ? XDP_COPY : XDP_ZEROCOPY });
    expect(s.options().zerocopy).toBe(mode === 'zero-copy');
    xsks.setSocket(2, s);
    const app = await XskApp.start(emu.dp, s, { mode: 'rxdrop', batch: 16 });
    let sent = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 24; i++) emu.wireIn('init', 'eth0', frame(sent++));
      await emu.settle();
      await until(() => app.rxPackets === sent, 20_000, () => JSON.stringify({ sent, received: app.rxPackets, socket: s.statistics(), eth0: emu.stats(emu.device('init', 'eth0')) }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
    }
    const r = await app.stop();
    expect(r.rxPackets).toBe(960);
    expect(r.txPackets).toBe(0);
    expect(r.rxPps).toBeGreaterThan(0);
    expect(s.statistics()).toMatchObject({ rx_dropped: 0n, rx_ring_full: 0n });
    expect(app.held()).toHaveLength(32);
    expect(s.unaccounted(app.held())).toEqual([]);
  }, 60_000);

  it('close() stops an application still running (its worker ends, its thread slot comes back)', async () => {
    setup(2);
    const s = new XskSocket(emu.dp, { umemSize: 32 * 4096, txSize: 64, compSize: 64 });
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_COPY });
    const app = await XskApp.start(emu.dp, s, { mode: 'txonly', batch: 16 });
    expect(emu.dp.apps.has(app)).toBe(true);
    const dp = emu.dp;
    await emu.close();
    expect(dp.apps.size).toBe(0);
    // stopped: its result is there at once
    expect((await app.stop()).seconds).toBeGreaterThan(0);
    emu = await Emulator.create({ seed: 3 });
  }, 60_000);

  it('tx-only: the worker sends `count` frames out of the NIC queue through its kicks (copy mode)', async () => {
    setup(2);
    const s = new XskSocket(emu.dp, { umemSize: 32 * 4096, txSize: 64, compSize: 64 });
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_COPY | XDP_USE_NEED_WAKEUP });
    const app = await XskApp.start(emu.dp, s, { mode: 'txonly', count: 5000, batch: 16 });
    await until(() => app.txPackets === 5000);
    const r = await app.stop();
    expect(r.txPackets).toBe(5000);
    expect(emu.queueStats('init', 'eth0')[2]!.txPackets).toBe(5000n);
    expect(emu.stats(emu.device('init', 'eth0')).txBytes).toBe(5000n * 60n);
    expect(r.kickErrors).toBe(0);
    expect(s.unaccounted(app.held())).toEqual([]);
  }, 60_000);

  it('l2fwd through a leased netkit queue in zero-copy with need_wakeup: MACs swapped, sent out of the physical queue', async () => {
    const xsks = setup(15);
    const eth0 = emu.device('init', 'eth0');
    const [nk] = emu.addLink({ ifname: 'nk', numRxQueues: 2, linkinfo: { kind: 'netkit', data: { pairing: 'single' } } });
    emu.queueCreate({ ifindex: nk!.ifindex, type: 'rx', lease: { ifindex: eth0.ifindex, queue: { id: 15, type: 'rx' } } });
    emu.addNetns('foo');
    emu.setLink('init', 'nk', { netns: 'foo' });
    emu.setLink('foo', 'nk', { up: true });
    const s = new XskSocket(emu.dp, { umemSize: 64 * 4096, fillSize: 32, txSize: 32, compSize: 32 });
    emu.xskBind('foo', 'nk', 1, s, { flags: XDP_USE_NEED_WAKEUP });
    expect(s.options().zerocopy).toBe(true);
    xsks.setSocket(15, s);
    const cap = emu.startCapture({ devices: [{ ns: 'init', dev: 'eth0' }] });
    const app = await XskApp.start(emu.dp, s, { mode: 'l2fwd', batch: 8 });
    let sent = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 16; i++) emu.wireIn('init', 'eth0', frame(sent++));
      await until(() => app.txPackets === sent);
    }
    const r = await app.stop();
    expect([r.rxPackets, r.txPackets]).toEqual([320, 320]);
    expect(emu.queueStats('init', 'eth0')[15]!.txPackets).toBe(320n);
    const out = readPcapng(emu.stopCapture(cap)).packets.filter((p) => p.direction === 'out');
    expect(out).toHaveLength(320);
    expect([...out[0]!.data.subarray(0, 12)]).toEqual([...PEER, ...VM]);
    expect(s.statistics()).toMatchObject({ rx_dropped: 0n, rx_ring_full: 0n, tx_invalid_descs: 0n });
    expect(s.unaccounted(app.held())).toEqual([]);
  }, 60_000);

  it('one application per thread slot: EBUSY when all are taken; an unbound socket ENXIO', async () => {
    setup(2);
    const s = new XskSocket(emu.dp, { umemSize: 8 * 4096 });
    await expect(XskApp.start(emu.dp, s, { mode: 'rxdrop' })).rejects.toMatchObject({ errno: 'ENXIO' });
    emu.xskBind('init', 'eth0', 2, s, { flags: XDP_COPY });
    const a = await XskApp.start(emu.dp, s, { mode: 'rxdrop' });
    await expect(XskApp.start(emu.dp, s, { mode: 'rxdrop' })).rejects.toMatchObject({ errno: 'EBUSY' });
    await a.stop();
    const b = await XskApp.start(emu.dp, s, { mode: 'txonly', count: 1 });
    await until(() => b.txPackets === 1);
    await b.stop();
  }, 30_000);
});
