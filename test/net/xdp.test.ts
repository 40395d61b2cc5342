import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, splitWords } from '../../src/cli/main.js';
import { Emulator, prng } from '../../src/emulator.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { BpfMap } from '../../src/ebpf/maps.js';
import { buildPacket } from '../../src/packet.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 6 });
  emu.addNic({ name: 'eth0', rxQueues: 4 });
  emu.setLink('init', 'eth0', { up: true });
});
afterEach(async () => {
  await emu.close();
});

function udp(dport: number, dmac: Uint8Array): Uint8Array {
  return buildPacket({ eth: { dst: dmac, src: '02:00:00:00:00:09' }, ipv4: { src: '192.168.1.2', dst: '192.168.1.1' }, udp: { sport: 1, dport }, payload: new Uint8Array(8) });
}

const xdp = (text: string, maps: number[] = [], verify = true) => emu.loadProgram({ name: 'x', type: 'xdp', insns: assemble(text), maps, verify });
const eth0 = () => emu.device('init', 'eth0');

describe('native XDP on NICs', () => {
  it('pktgen frames from the wire reach tcx (with and without XDP) as fresh skbs: no mark, priority or cb a recycled frame held', async () => {
    // `st` into __sk_buff is refused by the kernel's verifier (BPF_ST into ctx): loaded unverified.
    const tc = (name: string, text: string) => emu.loadProgram({ name, type: 'sched_cls', insns: assemble(text), verify: false });
    const tcx = (prog?: ReturnType<typeof tc>): void => {
      emu.progDetach('init', { ifindex: eth0().ifindex, attachType: 'tcx_ingress' });
      if (prog) emu.progAttach('init', { ifindex: eth0().ifindex, attachType: 'tcx_ingress', prog });
    };
    emu.setRxSink('init', 'eth0', 'drop');
    // Frames go up with mark, priority and cb[0] set, and back to the pool.
    emu.progAttach('init', { ifindex: eth0().ifindex, attachType: 'tcx_ingress', prog: tc('dirty', 'stw [%r1+8], 0x1234\nstw [%r1+32], 7\nstw [%r1+48], 99\nmov %r0, 0\nexit') });
    const frame = udp(9, eth0().mac);
    expect(await emu.pktgen('init', 'eth0', frame, { count: 256 })).toBe(256);
    // The same frames again: a program dropping any skb with one of them set drops none.
    const check = tc('check', 'ldxw %r2, [%r1+8]\nldxw %r3, [%r1+32]\nor %r2, %r3\nldxw %r3, [%r1+48]\nor %r2, %r3\nmov %r0, 0\njeq %r2, 0, ok\nmov %r0, 2\nok:\nexit');
    tcx(check);
    expect(await emu.pktgen('init', 'eth0', frame, { count: 256 })).toBe(256);
    expect(emu.stats(eth0()).dropReasons).toEqual({});
    // With XDP passing them (XDP and tcx run per packet).
    tcx(tc('dirty2', 'stw [%r1+8], 0x1234\nmov %r0, 0\nexit'));
    emu.setXdp('init', 'eth0', xdp('mov %r0, 2\nexit'));
    await emu.pktgen('init', 'eth0', frame, { count: 256 });
    tcx(check);
    await emu.pktgen('init', 'eth0', frame, { count: 256 });
    expect(emu.stats(eth0()).dropReasons).toEqual({});
    // Redirected by XDP out of another NIC: its tcx egress sees them fresh too.
    const eth1 = emu.addNic({ name: 'eth1', rxQueues: 1 });
    emu.setLink('init', 'eth1', { up: true });
    emu.progAttach('init', { ifindex: eth1.ifindex, attachType: 'tcx_egress', prog: check });
    tcx(tc('dirty3', 'stw [%r1+8], 0x1234\nmov %r0, 0\nexit'));
    await emu.pktgen('init', 'eth0', frame, { count: 256 });
    const dev = new BpfMap(emu.dp, { name: 'tx', type: 'devmap', keySize: 4, valueSize: 4, maxEntries: 1 });
    dev.update(new Uint8Array(4), new Uint8Array(new Uint32Array([eth1.ifindex]).buffer));
    emu.setXdp('init', 'eth0', xdp(`lddw %r1, ${dev.record}\nmov %r2, 0\nmov %r3, 0\ncall 51\nexit`, [dev.record]));
    await emu.pktgen('init', 'eth0', frame, { count: 200 });
    await emu.settle();
    expect(emu.stats(emu.device('init', 'eth1'))).toMatchObject({ txPackets: 200n, dropReasons: {} });
    // The check does see a mark when there is one.
    emu.setXdp('init', 'eth0', undefined);
    tcx(tc('both', 'stw [%r1+8], 1\nldxw %r2, [%r1+8]\nmov %r0, 0\njeq %r2, 0, ok\nmov %r0, 2\nok:\nexit'));
    await emu.pktgen('init', 'eth0', frame, { count: 3 });
    expect(emu.stats(eth0()).dropReasons).toEqual({ TCX_DROP: 3n });
  });

  it('XDP_DROP and XDP_ABORTED (and faults) drop with their reasons; nothing reaches the queues', async () => {
    emu.setXdp('init', 'eth0', xdp('mov %r0, 1\nexit'));
    for (let i = 0; i < 3; i++) emu.wireIn('init', 'eth0', udp(53, eth0().mac));
    await emu.settle();
    emu.setXdp('init', 'eth0', xdp('ldxw %r2, [%r1+4]\nldxdw %r0, [%r2]\nexit', [], false)); // reads past data_end: a fault
    emu.wireIn('init', 'eth0', udp(53, eth0().mac));
    await emu.settle();
    expect(emu.stats(eth0()).dropReasons).toEqual({ XDP_DROP: 3n, XDP_ABORTED: 1n });
    expect(emu.queueStats('init', 'eth0').reduce((a, q) => a + q.rxPackets, 0n)).toBe(0n);
  });

  it('XDP_PASS goes on with the packet the program left; rx_queue_index is the steered queue', async () => {
    // writes rx_queue_index into the last byte of the UDP payload, then PASS
    emu.setXdp('init', 'eth0', xdp('ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nldxw %r4, [%r1+16]\nmov %r5, %r2\nadd %r5, 50\njgt %r5, %r3, out\nstxb [%r2+49], %r4\nout:\nmov %r0, 2\nexit'));
    const seen: number[] = [];
    emu.onReceive((d, f, m) => { if (d.name === 'eth0') seen.push(f[49]! - m.queue); });
    for (let i = 0; i < 8; i++) emu.wireIn('init', 'eth0', udp(1000 + i, eth0().mac));
    await emu.settle();
    expect(seen).toEqual(Array(8).fill(0));
  });

  it('skb->hash is the RSS hash of the frame as it came from the wire, whatever XDP changed; an ether rule steers without one (wireIn and pktgen, over batches and one frame at a time)', async () => {
    const seen: number[] = [];
    emu.onReceive((d, _f, m) => { if (d.name === 'eth0') seen.push(m.hash); });
    const frames = [udp(1000, eth0().mac), udp(2000, eth0().mac)];
    // RSS, no XDP: the reference
    for (const f of frames) emu.wireIn('init', 'eth0', f);
    await emu.settle();
    const ref = seen.splice(0);
    expect(ref.every((h) => h !== 0) && ref[0] !== ref[1]).toBe(true);
    // XDP rewrites the source address and port (another flow, hashed afterwards), then PASS
    emu.setXdp('init', 'eth0', xdp('ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r5, %r2\nadd %r5, 42\njgt %r5, %r3, out\nstw [%r2+26], 0x01020304\nsth [%r2+34], 0x4444\nout:\nmov %r0, 2\nexit'));
    emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: eth0().mac, action: 2 });
    const q2 = emu.queueStats('init', 'eth0')[2]!.rxPackets;
    for (const mode of ['over batches', 'one at a time (tcx ingress too)']) {
      if (mode !== 'over batches') {
        emu.progAttach('init', { ifindex: eth0().ifindex, attachType: 'tcx_ingress', prog: emu.loadProgram({ name: 'ok', type: 'sched_cls', insns: assemble('mov %r0, 0\nexit') }) });
      }
      for (const f of frames) emu.wireIn('init', 'eth0', f);
      await emu.settle();
      for (const f of frames) await emu.pktgen('init', 'eth0', f, { count: 1 });
      await emu.settle();
      expect(seen.splice(0).sort(), mode).toEqual([...ref, ...ref].sort()); // (the reference came off two queues)
    }
    expect(emu.queueStats('init', 'eth0')[2]!.rxPackets - q2).toBe(8n);
  });

  it('XDP_REDIRECT through a devmap sends the frame out of the target device', async () => {
    emu.addNetns('foo');
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l2', peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
    emu.setLink('init', 'nk1', { up: true });
    emu.setLink('foo', 'nk0', { up: true });
    const dev = new BpfMap(emu.dp, { name: 'tx', type: 'devmap', keySize: 4, valueSize: 4, maxEntries: 2 });
    dev.update(new Uint8Array(4), new Uint8Array(new Uint32Array([emu.device('init', 'nk1').ifindex]).buffer));
    emu.setXdp('init', 'eth0', xdp(`lddw %r1, ${dev.record}\nmov %r2, 0\nmov %r3, 0\ncall 51\nexit`, [dev.record]));
    emu.wireIn('init', 'eth0', udp(7, eth0().mac));
    await emu.settle();
    expect(emu.stats(emu.device('init', 'nk1')).txPackets).toBe(1n);
    expect(emu.stats(emu.device('foo', 'nk0')).rxPackets).toBe(1n);
  });

  it('XDP_REDIRECT with no redirect asked for is an exception (dropped), whatever the program before it on the thread redirected to', async () => {
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l2', peerInfo: { ifname: 'nk0' } } } });
    for (const d of ['nk1', 'nk0']) emu.setLink('init', d, { up: true });
    const dev = new BpfMap(emu.dp, { name: 'tx', type: 'devmap', keySize: 4, valueSize: 4, maxEntries: 2 });
    dev.update(new Uint8Array(4), new Uint8Array(new Uint32Array([emu.device('init', 'nk1').ifindex]).buffer));
    const redirect = xdp(`lddw %r1, ${dev.record}\nmov %r2, 0\nmov %r3, 0\ncall 51\nexit`, [dev.record]);
    const bare = xdp('mov %r0, 4\nexit');
    expect([redirect.jit.slot, bare.jit.slot].every((s) => s !== 0)).toBe(true);
    for (const [prog, frames] of [[redirect, 3], [bare, 2]] as const) {
      emu.setXdp('init', 'eth0', prog);
      for (let i = 0; i < frames; i++) emu.wireIn('init', 'eth0', udp(7, eth0().mac));
      await emu.settle();
    }
    expect(emu.stats(emu.device('init', 'nk1')).txPackets).toBe(3n);
    // (a redirect the driver cannot carry out: an XDP exception, dropped)
    expect(emu.stats(eth0()).dropReasons).toEqual({ XDP_ABORTED: 2n });
  });

  it('refusals: netkit has no native XDP; sched_cls programs; a memory provider on a queue, both ways round', async () => {
    emu.addLink({ ifname: 'nkx', linkinfo: { kind: 'netkit', data: { pairing: 'single' } }, numRxQueues: 2 });
    const p = xdp('mov %r0, 2\nexit');
    expect(() => emu.setXdp('init', 'nkx', p)).toThrow(expect.objectContaining({ errno: 'EOPNOTSUPP' }));
    const tc = emu.loadProgram({ name: 'tc', type: 'sched_cls', insns: assemble('mov %r0, 0\nexit') });
    expect(() => emu.setXdp('init', 'eth0', tc)).toThrow(expect.objectContaining({ errno: 'EINVAL' }));
    emu.setXdp('init', 'eth0', p);
    expect(() => emu.bindProvider('init', 'eth0', 1, { kind: 'devmem' })).toThrow(expect.objectContaining({ errno: 'EEXIST', extack: 'unable to custom memory provider to device with XDP program attached' }));
    emu.setXdp('init', 'eth0', undefined);
    emu.bindProvider('init', 'eth0', 1, { kind: 'devmem' });
    expect(() => emu.setXdp('init', 'eth0', p)).toThrow(expect.objectContaining({ errno: 'EEXIST' }));
  });

  it('ip link set dev eth0 xdp obj FILE / xdp off', async () => {
    const obj = new URL('../fixtures/bpf/xdp_adjust.o', import.meta.url).pathname;
    expect((await runCommand(emu, splitWords(`ip link set dev eth0 xdp obj ${obj} sec xdp`))).code).toBe(0);
    expect(eth0().nic!.xdp?.name).toBe('xdp_head');
    expect((await runCommand(emu, splitWords('ip link set dev eth0 xdp off'))).code).toBe(0);
    expect(eth0().nic!.xdp).toBeUndefined();
    void readFileSync;
  });
});

describe('XDP in batches (a compiled program, no tcx ingress on the NIC)', () => {
  // Every action, picked by a payload byte, on frames of many lengths (some too short),
  // steered over 4 queues, with a devmap redirect and a head adjustment: compiled
  // (batches of up to 64) against the interpreter (one frame at a time).
  const PROG = (values: number, devmap: number): string => `
    mov %r6, %r1
    ldxw %r2, [%r6+0]
    ldxw %r3, [%r6+4]
    mov %r4, %r2
    add %r4, 43
    jgt %r4, %r3, pass
    ldxb %r5, [%r2+42]
    ldxw %r7, [%r6+16]
    mov %r8, %r5
    and %r8, 7
    lsh %r8, 3
    lddw %r9, ${values}
    add %r9, %r8
    ldxdw %r0, [%r9+0]
    add %r0, %r7
    add %r0, 1
    stxdw [%r9+0], %r0
    jeq %r5, 0, drop
    jeq %r5, 1, tx
    jeq %r5, 2, redir
    jeq %r5, 3, fault
    jeq %r5, 4, head
    jeq %r5, 5, odd
  pass:
    mov %r0, 2
    exit
  drop:
    mov %r0, 1
    exit
  tx:
    mov %r0, 3
    exit
  redir:
    lddw %r1, ${devmap}
    mov %r2, 0
    mov %r3, 0
    call 51
    exit
  fault:
    ldxdw %r0, [%r3+0]
    exit
  head:
    mov %r1, %r6
    mov %r2, 14
    call 44
    mov %r0, 2
    exit
  odd:
    mov %r0, 77
    exit`;

  async function run(jit: boolean): Promise<unknown> {
    const e = await Emulator.create({ seed: 6, jit });
    try {
      e.addNic({ name: 'eth1', rxQueues: 4 });
      e.setLink('init', 'eth1', { up: true });
      e.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l2', peerInfo: { ifname: 'nk0' } } } });
      for (const d of ['nk1', 'nk0']) e.setLink('init', d, { up: true });
      e.setRxSink('init', 'nk0', 'drop');
      e.setRxSink('init', 'eth1', 'drop');
      const devmap = new BpfMap(e.dp, { name: 'tx', type: 'devmap', keySize: 4, valueSize: 4, maxEntries: 1 });
      devmap.update(new Uint8Array(4), new Uint8Array(new Uint32Array([e.device('init', 'nk1').ifindex]).buffer));
      const counts = new BpfMap(e.dp, { name: 'n', type: 'array', keySize: 4, valueSize: 8, maxEntries: 8 });
      const prog = e.loadProgram({
        name: 'all', type: 'xdp', maps: [devmap.record, counts.record], regions: [{ addr: counts.values, len: 64, writable: true }], verify: false, // faults on some frames
        insns: assemble(PROG(counts.values, devmap.record)),
      });
      expect(prog.jit.slot !== 0).toBe(jit);
      e.setXdp('init', 'eth1', prog);
      const r = prng(99);
      const rnd = (k: number): number => Math.floor(r() * k);
      for (let i = 0; i < 300; i++) {
        const len = [10, 20, 43, 60, 200][rnd(5)]!;
        const f = new Uint8Array(len).map((_, k) => (k * 13 + i) & 0xff);
        if (len >= 14) f.set([0x08, 0x00], 12);
        if (len > 42) f[42] = rnd(7);
        e.wireIn('init', 'eth1', f);
        if (rnd(40) === 0) await e.settle();
      }
      await e.settle();
      return {
        eth1: e.stats(e.device('init', 'eth1')), nk1: e.stats(e.device('init', 'nk1')), queues: e.queueStats('init', 'eth1'),
        counts: [...new BigUint64Array(e.dp.memory.buffer.slice(counts.values, counts.values + 64))],
      };
    } finally {
      await e.close();
    }
  }

  it('each xdp_md field a program reads is the frame\'s, whatever a program on another NIC left in the entries (only the words a program reads are filled)', async () => {
    // eth1 (another ifindex) first runs a program reading every field, then eth0 one reading
    // only field `off` (and data, data_end), which it writes into the payload (data_meta as
    // data_meta - data).
    emu.addNic({ name: 'eth1', rxQueues: 2 });
    emu.setLink('init', 'eth1', { up: true });
    const prog = (off: number): string => `ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nldxw %r4, [%r1+${off}]\n${off === 8 ? 'sub %r4, %r2\n' : ''}mov %r5, %r2\nadd %r5, 50\njgt %r5, %r3, out\nstxw [%r2+42], %r4\nout:\nmov %r0, 2\nexit`;
    const all = xdp('ldxw %r2, [%r1+0]\nldxw %r3, [%r1+8]\nldxw %r4, [%r1+12]\nldxw %r5, [%r1+16]\nmov %r0, 2\nexit');
    expect(all.jit.slot).not.toBe(0);
    emu.setXdp('init', 'eth1', all);
    const seen: number[] = [];
    emu.onReceive((d, f, m) => { if (d.name === 'eth0') seen.push(new DataView(f.buffer, f.byteOffset).getUint32(42, true) - (off === 16 ? m.queue : 0)); });
    let off = 0;
    for (off of [8, 12, 16]) {
      const p = xdp(prog(off));
      expect(p.jit.slot).not.toBe(0);
      emu.setXdp('init', 'eth0', p);
      for (let i = 0; i < 6; i++) emu.wireIn('init', 'eth1', udp(3000 + i, emu.device('init', 'eth1').mac));
      await emu.settle();
      for (let i = 0; i < 6; i++) emu.wireIn('init', 'eth0', udp(1000 + i, eth0().mac));
      await emu.settle();
      await emu.pktgen('init', 'eth0', udp(2000, eth0().mac), { count: 4 });
      await emu.settle();
      // data_meta: at data; ingress_ifindex: eth0's; rx_queue_index: the frame's queue (egress_ifindex is refused outside devmap programs)
      expect(seen.splice(0), `xdp_md +${off}`).toEqual(Array(10).fill(off === 12 ? eth0().ifindex : 0));
    }
  });

  it('the same actions, counters, queues and map as one frame at a time on the interpreter', async () => {
    const compiled = await run(true);
    expect(compiled).toEqual(await run(false));
    const c = compiled as { eth1: { dropReasons: Record<string, bigint>; txPackets: bigint }; nk1: { txPackets: bigint } };
    expect(Object.keys(c.eth1.dropReasons).sort()).toEqual(['PKT_TOO_SMALL', 'XDP_ABORTED', 'XDP_DROP']);
    expect(c.eth1.txPackets).toBeGreaterThan(0n);
    expect(c.nk1.txPackets).toBeGreaterThan(0n);
  });
});

describe('XDP with tail calls on the NIC', () => {
  it('its batch code declines: the frames run one at a time and get the target\'s actions', async () => {
    const jmp = new BpfMap(emu.dp, { name: 'jmp', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1 });
    // The target drops frames longer than 100 bytes and passes the rest.
    const target = xdp('ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nsub %r3, %r2\nmov %r0, 1\njgt %r3, 100, out\nmov %r0, 2\nout:\nexit');
    const caller = xdp(`lddw %r2, ${jmp.record}\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit`, [jmp.record]);
    emu.progArraySet(jmp, 0, target);
    expect(caller.jit.slot).not.toBe(0);
    emu.setXdp('init', 'eth0', caller);
    for (let i = 0; i < 100; i++) {
      const f = new Uint8Array(i % 2 ? 60 : 150);
      f.set(eth0().mac, 0);
      emu.wireIn('init', 'eth0', f);
    }
    await emu.settle();
    expect(emu.stats(eth0()).dropReasons).toEqual({ XDP_DROP: 50n });
    expect(emu.queueStats('init', 'eth0').reduce((a, q) => a + q.rxPackets, 0n)).toBe(50n);
  });
});
