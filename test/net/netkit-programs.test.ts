import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { BpfMap } from '../../src/ebpf/maps.js';
import type { BpfProgram } from '../../src/ebpf/program.js';
import { buildIpv4, buildUdp, parseIp } from '../../src/net/stack/packet.js';

const FIX = new URL('../fixtures/bpf/', import.meta.url).pathname;
let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

async function pair(o: { workers?: number; policy?: 'forward' | 'blackhole' } = {}): Promise<{ nk1: number }> {
  emu = await Emulator.create({ seed: 4, workers: o.workers ?? 0 });
  emu.addNetns('foo');
  emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l3', policy: o.policy, peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
  emu.setLink('init', 'nk1', { up: true });
  emu.setLink('foo', 'nk0', { up: true });
  emu.addAddress('init', 'nk1', '10.0.0.1/24');
  emu.addAddress('foo', 'nk0', '10.0.0.2/24');
  return { nk1: emu.device('init', 'nk1').ifindex };
}

function udp(dport: number): Uint8Array {
  const src = parseIp('10.0.0.1')!;
  const dst = parseIp('10.0.0.2')!;
  return buildIpv4(new Uint8Array(6), new Uint8Array(6), { src, dst, proto: 17 }, buildUdp(src, dst, 1000, dport, new Uint8Array(8)));
}

function asm(name: string, text: string): BpfProgram {
  return emu.loadProgram({ name, type: 'sched_cls', insns: assemble(text) });
}

const stats = (ns: string, dev: string) => emu.stats(emu.device(ns, dev));

describe('netkit xmit runs the attached programs (netkit.md §4 steps 6-7)', () => {
  it('a clang-compiled netkit/primary policy drops one port and passes the rest', async () => {
    const { nk1 } = await pair();
    const obj = emu.loadObject(readFileSync(FIX + 'netkit_drop_port.o'));
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: obj.programs.get('drop_port')! });
    const sock = emu.stack('foo').udpBind({ port: 53 });
    for (let i = 0; i < 3; i++) emu.transmit('init', 'nk1', udp(8080));
    for (let i = 0; i < 2; i++) emu.transmit('init', 'nk1', udp(53));
    await emu.settle();
    expect(sock.recv()).toHaveLength(2);
    expect(stats('init', 'nk1')).toMatchObject({ txPackets: 2n, txDropped: 3n, dropReasons: { BPF_DROP: 3n } });
    expect(stats('foo', 'nk0').rxPackets).toBe(2n);
  });

  it('NEXT walks on; all NEXT is PASS even over a blackhole default; the first other verdict ends the walk', async () => {
    const { nk1 } = await pair({ policy: 'blackhole' });
    const next = asm('next', 'mov %r0, -1\nexit');
    const count = asm('count', 'ldxw %r2, [%r1+8]\nadd %r2, 1\nstxw [%r1+8], %r2\nmov %r0, -1\nexit'); // skb->mark++ then NEXT
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: next });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: count });
    const sock = emu.stack('foo').udpBind({ port: 7 });
    emu.transmit('init', 'nk1', udp(7), { mark: 0 });
    await emu.settle();
    expect(sock.recv()).toHaveLength(1);
    const drop = asm('drop', 'mov %r0, 2\nexit');
    const never = asm('never', 'mov %r0, 0\nexit');
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: drop });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: never });
    emu.transmit('init', 'nk1', udp(7));
    await emu.settle();
    expect(sock.recv()).toHaveLength(0);
    expect(stats('init', 'nk1').dropReasons).toEqual({ BPF_DROP: 1n });
    // detaching everything brings the default policy (blackhole) back
    for (let i = 0; i < 4; i++) emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary' });
    emu.transmit('init', 'nk1', udp(7));
    await emu.settle();
    expect(stats('init', 'nk1').dropReasons).toEqual({ BPF_DROP: 1n, NETKIT_POLICY_DROP: 1n });
  });

  it('context writes reach the frame; unknown verdicts and faults drop with their own reasons', async () => {
    const { nk1 } = await pair();
    const mark = asm('mark', 'mov %r2, 77\nstxw [%r1+8], %r2\nmov %r0, 0\nexit');
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: mark });
    const sock = emu.stack('foo').udpBind({ port: 9 });
    emu.transmit('init', 'nk1', udp(9));
    await emu.settle();
    expect(sock.recv().map((d) => d.mark)).toEqual([77]);
    emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary' });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: asm('odd', 'mov %r0, 1\nexit') });
    emu.transmit('init', 'nk1', udp(9));
    await emu.settle();
    emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary' });
    // reads 8 bytes past data_end: caught at run time, the packet is dropped, nothing else happens
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: asm('oob', 'ldxw %r2, [%r1+80]\nldxdw %r0, [%r2+8]\nexit') });
    emu.transmit('init', 'nk1', udp(9));
    await emu.settle();
    expect(stats('init', 'nk1').dropReasons).toEqual({ BPF_BAD_VERDICT: 1n, BPF_FAULT: 1n });
    expect(stats('init', 'nk1').txDropped).toBe(2n);
  });

  it('peer programs run on peer → primary traffic, attached through the primary', async () => {
    const { nk1 } = await pair();
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_peer', prog: asm('drop', 'mov %r0, 2\nexit') });
    const r = await emu.ping('init', '10.0.0.2');
    expect(r.received).toBe(0);
    expect(stats('foo', 'nk0').dropReasons).toEqual({ BPF_DROP: 1n });
    expect(stats('init', 'nk1').txPackets).toBe(1n);
  });

  it('REDIRECT: bpf_redirect egress out of another device, ingress up its stack; tx counted; failures counted', async () => {
    const { nk1 } = await pair();
    // a second pair in foo: nka (foo) <-> nkb (foo)
    emu.addLink({ ifname: 'nka', linkinfo: { kind: 'netkit', data: { mode: 'l3', peerInfo: { ifname: 'nkb' } } } }, 'foo');
    emu.setLink('foo', 'nka', { up: true });
    emu.setLink('foo', 'nkb', { up: true });
    const nka = emu.device('foo', 'nka').ifindex;
    const prog = (flags: number, target = nka) => asm('redir', `mov %r1, ${target}\nmov %r2, ${flags}\ncall 23\nexit`);
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: prog(0) });
    emu.transmit('init', 'nk1', udp(5));
    await emu.settle();
    expect(stats('init', 'nk1').txPackets).toBe(1n);
    expect(stats('foo', 'nka').txPackets).toBe(1n);
    expect(stats('foo', 'nkb').rxPackets).toBe(1n);
    expect(stats('foo', 'nk0').rxPackets).toBe(0n);
    emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary' });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: prog(1) }); // BPF_F_INGRESS
    const seen: string[] = [];
    emu.onReceive((d) => seen.push(d.name));
    emu.transmit('init', 'nk1', udp(5));
    await emu.settle();
    // up foo's stack on nka: no socket on port 5, so an ICMP port unreachable goes back out of nk0
    expect(seen).toEqual(['nka', 'nk1']);
    expect(emu.stack('foo').counters.udp.NoPorts).toBe(2); // this one, and the egress one that arrived on nkb
    emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary' });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: prog(0, 999) });
    emu.transmit('init', 'nk1', udp(5));
    await emu.settle();
    expect(stats('init', 'nk1')).toMatchObject({ txPackets: 3n, txDropped: 0n, dropReasons: { REDIRECT_FAILED: 1n } });
  });

  it('bpf_redirect_peer from netkit\'s xmit drops (it works only at tc ingress), counted as sent and REDIRECT_FAILED', async () => {
    const { nk1 } = await pair();
    // in foo a second pair whose peer lives in netns bar; nk1's program sends to that pair's peer
    emu.addNetns('bar');
    emu.addLink({ ifname: 'nkc', linkinfo: { kind: 'netkit', data: { mode: 'l3', peerInfo: { ifname: 'nkd', netns: 'bar' } } } }, 'foo');
    emu.setLink('foo', 'nkc', { up: true });
    emu.setLink('bar', 'nkd', { up: true });
    const nkc = emu.device('foo', 'nkc').ifindex;
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: asm('rp', `mov %r1, ${nkc}\nmov %r2, 0\ncall 155\nexit`) });
    const seen: string[] = [];
    emu.onReceive((d) => seen.push(`${d.netns.name}/${d.name}`));
    emu.transmit('init', 'nk1', udp(5));
    await emu.settle();
    expect(seen).toEqual([]);
    expect(stats('init', 'nk1')).toMatchObject({ txPackets: 1n, txDropped: 0n, dropReasons: { REDIRECT_FAILED: 1n } });
    expect(stats('foo', 'nkc').txPackets).toBe(0n);
  });

  it('tcx ingress: on a NIC, bpf_redirect_peer to the host primary lands in the container (the Cilium path); TCX_DROP drops', async () => {
    const { nk1 } = await pair();
    const eth0 = emu.addNic({ name: 'eth0', rxQueues: 2 });
    emu.setLink('init', 'eth0', { up: true });
    const seen: string[] = [];
    emu.onReceive((d) => seen.push(`${d.netns.name}/${d.name}`));
    const rp = asm('rp', `mov %r1, ${nk1}\nmov %r2, 0\ncall 155\nexit`);
    emu.progAttach('init', { ifindex: eth0.ifindex, attachType: 'tcx_ingress', prog: rp });
    emu.wireIn('init', 'eth0', udp(5).map((b, i) => (i < 6 ? eth0.mac[i]! : b)));
    await emu.settle();
    expect(seen).toEqual(['foo/nk0', 'init/nk1']); // then foo's ICMP port unreachable goes back through the pair
    expect(stats('init', 'eth0').rxPackets).toBe(1n);
    emu.progDetach('init', { ifindex: eth0.ifindex, attachType: 'tcx_ingress' });
    emu.progAttach('init', { ifindex: eth0.ifindex, attachType: 'tcx_ingress', prog: asm('d', 'mov %r0, 2\nexit') });
    emu.wireIn('init', 'eth0', udp(5));
    await emu.settle();
    expect(stats('init', 'eth0').dropReasons).toEqual({ TCX_DROP: 1n });
  });

  it('tcx egress runs before netkit xmit (and its programs): TCX_DROP, and a redirect out of another device', async () => {
    const { nk1 } = await pair();
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: asm('drop', 'mov %r0, 2\nexit') });
    emu.progAttach('init', { ifindex: nk1, attachType: 'tcx_egress', prog: asm('e', 'mov %r0, 2\nexit') });
    emu.transmit('init', 'nk1', udp(5));
    await emu.settle();
    // the egress program dropped it first: netkit's program never ran, nothing was sent
    expect(stats('init', 'nk1')).toMatchObject({ txPackets: 0n, txDropped: 0n, dropReasons: { TCX_DROP: 1n } });
    emu.progDetach('init', { ifindex: nk1, attachType: 'tcx_egress' });
    const eth0 = emu.addNic({ name: 'eth0' });
    emu.setLink('init', 'eth0', { up: true });
    emu.progAttach('init', { ifindex: nk1, attachType: 'tcx_egress', prog: asm('r', `mov %r1, ${eth0.ifindex}\nmov %r2, 0\ncall 23\nexit`) });
    emu.transmit('init', 'nk1', udp(5));
    await emu.settle();
    expect(stats('init', 'eth0').txPackets).toBe(1n);
    expect(stats('init', 'nk1').dropReasons).toEqual({ TCX_DROP: 1n });
    expect(emu.progQuery('init', { ifindex: nk1, attachType: 'tcx_egress' }).count).toBe(1);
  });

  it('publication: 1,000 attach/detach cycles while 2 workers carry traffic; every packet gets a verdict, counters add up', async () => {
    const { nk1 } = await pair({ workers: 2 });
    emu.setRxSink('foo', 'nk0', 'drop');
    const drop = asm('drop', 'mov %r0, 2\nexit');
    const frame = udp(5);
    const sent = emu.pktgen('init', 'nk1', frame, { count: 4_000_000, batch: 64 });
    for (let i = 0; i < 1000; i++) {
      emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: drop });
      await new Promise((r) => setImmediate(r));
      emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary' });
      await new Promise((r) => setImmediate(r));
    }
    const n = await sent;
    await emu.settle();
    const s = stats('init', 'nk1');
    expect(n).toBe(4_000_000);
    expect(s.txPackets + s.txDropped).toBe(4_000_000n);
    // both lists were seen by the traffic, and nothing else decided
    expect(s.txPackets).toBeGreaterThan(0n);
    expect(s.txDropped).toBeGreaterThan(0n);
    expect(Object.keys(s.dropReasons)).toEqual(['BPF_DROP']);
    expect(stats('foo', 'nk0').rxPackets).toBe(s.txPackets);
    expect(emu.progQuery('init', { ifindex: nk1, attachType: 'netkit_primary' }).revision).toBe(1);
  }, 120_000);
});

describe('the per-thread run record across program lifetimes', () => {
  it('a program loaded where a freed one was (same image and record addresses) runs with its own maps', async () => {
    // xmit keeps the program part of the run record between packets; a new program in
    // the old one's memory must not inherit the old one's map regions (on the
    // interpreter the region table is all an access is checked against).
    emu = await Emulator.create({ seed: 4, jit: false });
    emu.addNetns('foo');
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l3', peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
    emu.setLink('init', 'nk1', { up: true });
    emu.setLink('foo', 'nk0', { up: true });
    const ifindex = emu.device('init', 'nk1').ifindex;
    const reader = (m: BpfMap): BpfProgram => emu.loadProgram({
      name: 'reader', type: 'sched_cls', maps: [m.record], regions: [{ addr: m.values, len: 8, writable: true }],
      insns: assemble(`lddw %r2, ${m.values}\nldxdw %r3, [%r2+0]\nmov %r0, -1\nexit`),
    });
    const m1 = new BpfMap(emu.dp, { name: 'm1', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 });
    const m2 = new BpfMap(emu.dp, { name: 'm2', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 });
    const a = reader(m1);
    emu.progAttach('init', { ifindex, attachType: 'netkit_primary', prog: a });
    await emu.pktgen('init', 'nk1', udp(1), { count: 1 });
    const [addr, record] = [a.addr, a.record];
    emu.progDetach('init', { ifindex, attachType: 'netkit_primary', prog: a });
    emu.closeProgram(a);
    const b = reader(m2);
    expect([b.addr, b.record]).toEqual([addr, record]);
    emu.progAttach('init', { ifindex, attachType: 'netkit_primary', prog: b });
    await emu.pktgen('init', 'nk1', udp(1), { count: 1 });
    expect(stats('init', 'nk1')).toMatchObject({ txPackets: 2n, txDropped: 0n });
  });
});
