/**
 * Random traffic through an AF_XDP socket (spec/af_xdp.md §1.3, §3.5): frames of random
 * size and XDP verdict (xdp_zc's ports: drop, pass, XDP_TX, strip-and-redirect, redirect),
 * FILL refilled and RX drained at random, in copy and zero-copy mode, over batches and one
 * frame at a time. After every step each UMEM chunk is in exactly one place; what the
 * socket receives is what was redirected to it, in order (a subsequence: frames that found
 * no buffer or a full RX are dropped), with the program's writes; every frame sent is
 * counted once, received, sent back out or dropped for a reason.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator, prng } from '../../src/emulator.js';
import { XDP_COPY, XDP_PKT_CONTD, XDP_USE_NEED_WAKEUP, XDP_USE_SG, XDP_ZEROCOPY, XskSocket } from '../../src/xdp/socket.js';
import { buildIpv4, buildUdp, parseIp } from '../../src/net/stack/packet.js';
import { trafficInCalls } from '../helpers/churn.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 11 });
});
afterEach(async () => {
  await emu.close();
});

const MAC = new Uint8Array([0x02, 0x56, 0x4d, 0, 0, 2]);
const CHUNK = 2048;
const CHUNKS = 24;

function udpTo(dport: number, size: number, tag: number): Uint8Array {
  const src = parseIp('192.168.1.2')!;
  const dst = parseIp('192.168.1.50')!;
  const payload = new Uint8Array(size).map((_, i) => (i * 13 + tag) & 0xff);
  return buildIpv4(MAC, new Uint8Array([2, 0, 0, 0, 0, 9]), { src, dst, proto: 17 }, buildUdp(src, dst, 1000 + (tag & 0x3fff), dport, payload));
}

describe('random traffic through an AF_XDP socket', () => {
  const modes = [
    ['copy', 'XDP over batches'], ['copy', 'one frame at a time'],
    ['zero-copy', 'XDP over batches'], ['zero-copy', 'one frame at a time'],
    ['zero-copy with need_wakeup', 'XDP over batches'],
  ] as const;
  it.each(modes)('%s, %s: chunks accounted for after every step, arrivals in order and intact, every frame counted once', async (mode, run) => {
    const eth0 = emu.addNic({ name: 'eth0', rxQueues: 4, xskMaxSegs: 4 });
    emu.setLink('init', 'eth0', { up: true });
    emu.setRxSink('init', 'eth0', 'drop');
    emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: MAC, action: 2 });
    const obj = emu.loadObject(readFileSync(new URL('../fixtures/bpf/xdp_zc.o', import.meta.url)));
    emu.setXdp('init', 'eth0', obj.programs.get('xsk_ports')!);
    if (run !== 'XDP over batches') {
      const tc = emu.loadObject(readFileSync(new URL('../fixtures/bpf/tc_counters.o', import.meta.url)));
      emu.progAttach('init', { ifindex: eth0.ifindex, attachType: 'tcx_ingress', prog: tc.programs.get('count')! });
    }
    const s = new XskSocket(emu.dp, { umemSize: CHUNKS * CHUNK, chunkSize: CHUNK, fillSize: 16, rxSize: 8 });
    const wakeup = mode === 'zero-copy with need_wakeup';
    emu.xskBind('init', 'eth0', 2, s, { flags: (mode === 'copy' ? XDP_COPY : XDP_ZEROCOPY) | XDP_USE_SG | (wakeup ? XDP_USE_NEED_WAKEUP : 0) });
    expect(s.options().zerocopy).toBe(mode !== 'copy');
    obj.maps.get('xsks')!.setSocket(2, s);

    const rand = prng(mode.length * 7 + run.length);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    let held = Array.from({ length: CHUNKS }, (_, i) => i * CHUNK); // the application's hands
    const expected: number[][] = []; // what each redirected frame should arrive as, in order
    let next = 0; // the first of `expected` not yet matched
    let sent = 0;
    let received = 0;
    let partial: number[] = []; // a multi-buffer packet's bytes so far
    for (let step = 0; step < 400; step++) {
      const what = rand();
      if (what < 0.3) {
        const n = Math.floor(rand() * 8);
        const give = held.slice(0, n).map((c) => c + Math.floor(rand() * CHUNK)); // any offset means the chunk
        const took = s.fillRing(give);
        held = held.slice(took);
        // xdpsock: a driver that stopped for want of buffers is kicked once FILL has some
        if (wakeup && s.needsWakeup('fill')) emu.xskRecvfrom(s);
      } else if (what < 0.7) {
        const burst = 1 + Math.floor(rand() * 6);
        for (let i = 0; i < burst; i++) {
          const dport = pick([7, 8, 9, 10, 5000, 5000, 5000]);
          const size = pick([18, 40, 1200, 2600]); // 2600: more than one buffer
          const f = udpTo(dport, size, sent);
          emu.wireIn('init', 'eth0', f);
          sent++;
          if (dport === 7 || dport === 8 || dport === 9) continue;
          const m = [...f];
          m[42] = 0xa5;
          expected.push(dport === 10 ? m.slice(14) : m);
        }
        await emu.settle();
      } else {
        for (const d of s.recv(Math.floor(rand() * 10))) {
          held.push(d.addr - (d.addr % CHUNK));
          partial.push(...d.data);
          if (d.options & XDP_PKT_CONTD) continue;
          // the next arrival is a later redirected frame: those between were dropped
          let k = next;
          while (k < expected.length && !sameBytes(expected[k]!, partial)) k++;
          expect(k, `packet ${received} of ${partial.length} bytes matches a frame sent after the last`).toBeLessThan(expected.length);
          next = k + 1;
          received++;
          partial = [];
        }
      }
      expect(s.unaccounted(held), `step ${step}`).toEqual([]);
    }
    await emu.settle();
    const st = emu.stats(eth0);
    const drops = Object.values(st.dropReasons).reduce((a, b) => a + b, 0n);
    expect(st.rxPackets + st.txPackets + drops).toBe(BigInt(sent));
    expect(received).toBeGreaterThan(20); // the run exercised delivery…
    expect(drops).toBeGreaterThan(0n); // …and drops
  }, 60_000);
});

function sameBytes(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

describe('zero-copy pools coming and going under traffic', () => {
  it('binds and closes on a queue while a worker carries traffic into it: every frame counted once, every socket\'s chunks accounted for', async () => {
    await emu.close();
    emu = await Emulator.create({ seed: 12, workers: 2 });
    const eth0 = emu.addNic({ name: 'eth0', rxQueues: 4 });
    emu.setLink('init', 'eth0', { up: true });
    emu.setRxSink('init', 'eth0', 'drop');
    emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: MAC, action: 2 });
    const obj = emu.loadObject(readFileSync(new URL('../fixtures/bpf/xdp_zc.o', import.meta.url)));
    emu.setXdp('init', 'eth0', obj.programs.get('xsk_ports')!);
    await emu.settleJit();
    const xsks = obj.maps.get('xsks')!;
    // The worker's traffic in calls of 20,000 frames (each takes the device record as it
    // is then, holding it to the end of the call); every bind and close republishes it.
    const CALLS = 100;
    const PER = 20_000;
    const { sent: traffic, done } = trafficInCalls(emu, 'init', 'eth0', (i) => udpTo(5000, 18, i), CALLS, PER);
    const socks: XskSocket[] = [];
    // (each socket is unbound as close does it first, racing the traffic, and closed for
    // good (its memory freed) once it is accounted for below: at most 2,000, 40 KiB each)
    const unbind = (s: XskSocket): void => (emu as unknown as { xsk: { close(s: XskSocket): void } }).xsk.close(s);
    for (let i = 0; i < 200 || (!done() && i < 2000); i++) {
      const s = new XskSocket(emu.dp, { umemSize: 8 * 4096, fillSize: 8, rxSize: 8 });
      emu.xskBind('init', 'eth0', 2, s, { flags: XDP_ZEROCOPY });
      xsks.setSocket(2, s);
      s.fillRing(Array.from({ length: 8 }, (_, k) => k * 4096));
      await new Promise((r) => setImmediate(r));
      unbind(s);
      socks.push(s);
    }
    expect(await traffic).toBe(CALLS * PER);
    await emu.settle();
    const st = emu.stats(eth0);
    const drops = Object.values(st.dropReasons).reduce((a, b) => a + b, 0n);
    expect(st.rxPackets + st.txPackets + drops).toBe(BigInt(CALLS * PER));
    let met = 0; // sockets whose buffers the driver took
    for (const s of socks) {
      const got = s.recv().map((d) => d.addr - (d.addr % 4096));
      if (got.length > 0 || s.kernelHeld().length > 0 || s.statistics().rx_fill_ring_empty_descs > 0n) met++;
      expect(s.unaccounted(got)).toEqual([]);
      emu.xskClose(s);
    }
    expect(met).toBeGreaterThan(0);
  }, 120_000);
});
