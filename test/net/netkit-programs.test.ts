import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import * as A from '../../src/abi.generated.js';
import { Emulator, prng } from '../../src/emulator.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { BpfMap } from '../../src/ebpf/maps.js';
import type { BpfLink, BpfProgram } from '../../src/ebpf/program.js';
import { BPF_F_REPLACE } from '../../src/ebpf/mprog.js';
import { junk, trafficInCalls } from '../helpers/churn.js';
import { buildPacket } from '../../src/packet.js';

const FIX = new URL('../fixtures/bpf/', import.meta.url).pathname;
let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

async function pair(o: { workers?: number; policy?: 'forward' | 'blackhole'; scrub?: 'none' } = {}): Promise<{ nk1: number }> {
  emu = await Emulator.create({ seed: 4, workers: o.workers ?? 0 });
  emu.addNetns('foo');
  emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l3', policy: o.policy, scrub: o.scrub, peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
  emu.setLink('init', 'nk1', { up: true });
  emu.setLink('foo', 'nk0', { up: true });
  emu.addAddress('init', 'nk1', '10.0.0.1/24');
  emu.addAddress('foo', 'nk0', '10.0.0.2/24');
  return { nk1: emu.device('init', 'nk1').ifindex };
}

/** L3 netkit: an all-zero Ethernet header. */
function udp(dport: number): Uint8Array {
  return buildPacket({ eth: { dst: new Uint8Array(6), src: new Uint8Array(6) }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1000, dport }, payload: new Uint8Array(8) });
}

function asm(name: string, text: string, verify = true): BpfProgram {
  return emu.loadProgram({ name, type: 'sched_cls', insns: assemble(text), verify });
}

const stats = (ns: string, dev: string) => emu.stats(emu.device(ns, dev));

/** All `n` packets pktgen sent out of nk1 went through or were dropped by a program (BPF_DROP), nothing else. */
async function everyPacketJudged(sent: Promise<number>, n: number): Promise<void> {
  expect(await sent).toBe(n);
  await emu.settle();
  const s = stats('init', 'nk1');
  expect(s.txPackets + s.txDropped).toBe(BigInt(n));
  expect(Object.keys(s.dropReasons).filter((r) => r !== 'BPF_DROP')).toEqual([]);
}

/** nk1/nk0 (the programs' device) and nr1/nr0 (a redirect target), up, the peers dropping what they get. */
async function twoPairs(jit: boolean): Promise<void> {
  emu = await Emulator.create({ seed: 9, jit });
  emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0' } } } });
  emu.addLink({ ifname: 'nr1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nr0' } } } });
  for (const d of ['nk1', 'nk0', 'nr1', 'nr0']) emu.setLink('init', d, { up: true });
  emu.setRxSink('init', 'nk0', 'drop');
  emu.setRxSink('init', 'nr0', 'drop');
}

/**
 * The start of a test policy: r6 the context, r2/r3 the packet's data/data_end, to
 * `short` unless `need` bytes are there, r5 the packet's choice byte (offset 42).
 */
const CHOICE = (need: number): string => `
    mov %r6, %r1
    ldxw %r2, [%r6+76]
    ldxw %r3, [%r6+80]
    mov %r4, %r2
    add %r4, ${need}
    jgt %r4, %r3, short
    ldxb %r5, [%r2+42]`;

/**
 * The end of a test policy, r5 the packet's choice byte and r3 data_end: choices `first`
 * .. first+3 drop, redirect out of `target`, fault and give an unknown verdict; anything
 * else returns `otherwise`; the label `short` (a packet too short to choose) gives NEXT.
 */
const OUTCOMES = (first: number, otherwise: number, target: number): string => `
    jeq %r5, ${first}, drop
    jeq %r5, ${first + 1}, redir
    jeq %r5, ${first + 2}, fault
    jeq %r5, ${first + 3}, odd
    mov %r0, ${otherwise}
    exit
  drop:
    mov %r0, 2
    exit
  redir:
    mov %r1, ${target}
    mov %r2, 0
    call 23
    exit
  fault:
    ldxdw %r0, [%r3+8]
    exit
  odd:
    mov %r0, 9
    exit
  short:
    mov %r0, -1
    exit`;

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
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: asm('oob', 'ldxw %r2, [%r1+80]\nldxdw %r0, [%r2+8]\nexit', false) });
    emu.transmit('init', 'nk1', udp(9));
    await emu.settle();
    expect(stats('init', 'nk1').dropReasons).toEqual({ BPF_BAD_VERDICT: 1n, BPF_FAULT: 1n });
    expect(stats('init', 'nk1').txDropped).toBe(2n);
  });

  it('the __sk_buff is filled where the list reads it; fields go back to the frame only from programs that write them', async () => {
    const { nk1 } = await pair({ scrub: 'none' });
    const parse = asm('parse', 'ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r0, -1\nexit'); // data, data_end: two words
    const sum = asm('sum', 'ldxw %r2, [%r1+8]\nldxw %r3, [%r1+32]\nadd %r2, %r3\nstxw [%r1+8], %r2\nmov %r0, -1\nexit'); // mark += priority
    const prio = asm('prio', 'mov %r2, 5\nstxw [%r1+32], %r2\nmov %r0, -1\nexit'); // priority = 5, reads nothing
    const sock = emu.stack('foo').udpBind({ port: 9 });
    const send = (mark: number, priority = 0): void => { emu.transmit('init', 'nk1', udp(9), { mark, priority }); };
    const marks = async (): Promise<number[]> => { await emu.settle(); return sock.recv().map((d) => d.mark); };
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: parse });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: sum });
    for (const [m, p] of [[1, 10], [2, 20], [3, 30]]) send(m!, p!);
    expect(await marks()).toEqual([11, 22, 33]);
    // `prio` reads nothing but writes: the mark copied back with it is this packet's, not the last one's (33).
    emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: sum });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: prio });
    send(7);
    expect(await marks()).toEqual([7]);
    // `parse` alone writes nothing: the frame's fields pass untouched.
    emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: prio });
    send(4);
    expect(await marks()).toEqual([4]);
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

  it('publication: attach/detach cycles (1,000 and more) while 2 workers carry traffic; every packet gets a verdict, counters add up', async () => {
    const { nk1 } = await pair({ workers: 2 });
    emu.setRxSink('foo', 'nk0', 'drop');
    const drop = asm('drop', 'mov %r0, 2\nexit');
    const frame = udp(5);
    const sent = emu.pktgen('init', 'nk1', frame, { count: 4_000_000, batch: 64 });
    let done = false;
    void sent.then(() => { done = true; });
    // at least 1,000 cycles, and on until the traffic ends (so both lists meet it however
    // the threads are scheduled)
    for (let i = 0; i < 1000 || !done; i++) {
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

  it.each(['detach', 'replace', 'link update', 'link detach'] as const)('publication: programs closed while attached are freed when they leave the list (%s), under traffic from 2 workers, while new ones take their memory; every packet gets a verdict', async (how) => {
    const { nk1 } = await pair({ workers: 2 });
    emu.setRxSink('foo', 'nk0', 'drop');
    const { sent, done } = trafficInCalls(emu, 'init', 'nk1', () => udp(5), 200, 10_000);
    const at = { ifindex: nk1, attachType: 'netkit_primary' as const };
    let prev: BpfProgram | undefined;
    let link: BpfLink | undefined;
    for (let i = 0; i < 300 || !done(); i++) {
      // a fresh program each round (drop or pass), its handle closed while it is attached:
      // leaving the list frees it, and the next round's program may get its memory
      const p = asm(`p${i}`, i % 2 ? 'mov %r0, 2\nexit' : 'mov %r0, 0\nexit');
      if (how === 'detach' || how === 'link detach') {
        if (how === 'detach') emu.progAttach('init', { ...at, prog: p });
        else link = emu.linkCreate('init', { ...at, prog: p });
        emu.closeProgram(p);
        await new Promise((r) => setImmediate(r));
        if (how === 'detach') emu.progDetach('init', at);
        else emu.linkDetach(link!, true);
      } else {
        // the list keeps one program; each round's takes its predecessor's place
        if (how === 'replace') emu.progAttach('init', { ...at, prog: p, ...(prev ? { flags: BPF_F_REPLACE, replace: prev } : {}) });
        else if (link) emu.linkUpdate(link, p);
        else link = emu.linkCreate('init', { ...at, prog: p });
        emu.closeProgram(p);
        prev = p;
        await new Promise((r) => setImmediate(r));
      }
      junk(emu);
    }
    await everyPacketJudged(sent, 2_000_000);
  }, 120_000);
});

describe('devices coming and going under traffic', () => {
  it('netkit pairs created, brought up and deleted (their slots reused) while 2 workers carry traffic on another pair: every packet arrives', async () => {
    await pair({ workers: 2 });
    emu.setRxSink('foo', 'nk0', 'drop');
    const { sent, done } = trafficInCalls(emu, 'init', 'nk1', () => udp(5), 100, 10_000);
    for (let i = 0; i < 200 || !done(); i++) {
      emu.addLink({ ifname: 'tmp1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'tmp0' } } } });
      emu.setLink('init', 'tmp1', { up: true });
      junk(emu);
      await new Promise((r) => setImmediate(r));
      emu.delLink('init', 'tmp1');
    }
    expect(await sent).toBe(1_000_000);
    await emu.settle();
    expect(stats('init', 'nk1')).toMatchObject({ txPackets: 1_000_000n, txDropped: 0n });
    expect(stats('foo', 'nk0').rxPackets).toBe(1_000_000n);
  }, 120_000);
});

describe('maps changed under traffic', () => {
  it('the host updates and deletes the hash map key 2 workers\' programs insert (clang-compiled tc_counters): no trap, every packet passes, the map stays whole', async () => {
    const { nk1 } = await pair({ workers: 2 });
    emu.setRxSink('foo', 'nk0', 'drop');
    const obj = emu.loadObject(readFileSync(new URL('../fixtures/bpf/tc_counters.o', import.meta.url)));
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: obj.programs.get('count')! });
    const bytes = obj.maps.get('src_bytes')!;
    const key = new Uint8Array([10, 0, 0, 1]); // udp()'s source address
    const { sent, done } = trafficInCalls(emu, 'init', 'nk1', () => udp(5), 100, 10_000);
    for (let i = 0; i < 300 || !done(); i++) {
      for (let k = 0; k < 8; k++) bytes.update(new Uint8Array([10, 0, 1, k]), new Uint8Array(8).fill(k));
      try { bytes.delete(key); } catch { /* not there (yet) */ }
      for (let k = 0; k < 8; k++) bytes.delete(new Uint8Array([10, 0, 1, k]));
      await new Promise((r) => setImmediate(r));
    }
    await everyPacketJudged(sent, 1_000_000);
    expect(stats('init', 'nk1').txPackets).toBe(1_000_000n);
    // only the programs' key can be left, its value a byte count of whole packets
    const left = [...bytes.keys()].map((k) => [...k]);
    expect(left.every((k) => k.join('.') === key.join('.'))).toBe(true);
    if (left.length) expect(Number(new DataView((bytes.lookup(key) as Uint8Array).buffer).getBigUint64(0, true)) % udp(5).length).toBe(0);
  }, 120_000);
});

describe('PROG_ARRAY slots replaced under traffic', () => {
  it('tail call targets replaced and freed while 2 workers run the caller: every packet gets a verdict from a live program', async () => {
    const { nk1 } = await pair({ workers: 2 });
    emu.setRxSink('foo', 'nk0', 'drop');
    const jmp = new BpfMap(emu.dp, { name: 'jmp', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1 });
    // NEXT (pass) through the slot; DROP when the slot is empty
    const caller = emu.loadProgram({ name: 'c', type: 'sched_cls', maps: [jmp.record], insns: assemble(`lddw %r2, ${jmp.record}\nmov %r3, 0\ncall 12\nmov %r0, 2\nexit`) });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: caller });
    const { sent, done } = trafficInCalls(emu, 'init', 'nk1', () => udp(5), 100, 10_000);
    for (let i = 0; i < 300 || !done(); i++) {
      // each target's handle is closed at once: the slot holds it until the next replaces it
      const t = emu.loadProgram({ name: `t${i}`, type: 'sched_cls', insns: assemble('mov %r0, -1\nexit') });
      emu.progArraySet(jmp, 0, t);
      emu.closeProgram(t);
      junk(emu);
      await new Promise((r) => setImmediate(r));
    }
    await everyPacketJudged(sent, 1_000_000);
  }, 120_000);
});

describe('one compiled program: verdicts in batches (netkit.md §4 steps 6-7)', () => {
  it('a pointer into an earlier packet of the batch is no pointer into this one: the access faults, as on the interpreter', async () => {
    const out: unknown[] = [];
    for (const jit of [true, false]) {
      await pair();
      emu.setRxSink('foo', 'nk0', 'drop');
      // Keeps each packet's data pointer in an array element; reads a byte through the
      // one the previous packet left (another frame), past every inline check.
      const m = new BpfMap(emu.dp, { name: 'last', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 });
      const prog = emu.loadProgram({
        name: 'stale', type: 'sched_cls', maps: [m.record], regions: [{ addr: m.values, len: 8, writable: true }], jit, verify: false,
        insns: assemble(`ldxw %r7, [%r1+76]\nmov %r6, 0\nstxw [%r10-4], %r6\nlddw %r1, ${m.record}\nmov %r2, %r10\nadd %r2, -4\ncall 1\n` +
          'jeq %r0, 0, out\nldxdw %r3, [%r0+0]\nstxdw [%r0+0], %r7\njeq %r3, 0, out\nldxb %r4, [%r3+0]\nout:\nmov %r0, -1\nexit'),
      });
      expect(prog.jit.slot !== 0).toBe(jit);
      emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog });
      await emu.pktgen('init', 'nk1', udp(7), { count: 64 });
      await emu.settle();
      const s = stats('init', 'nk1');
      out.push({ tx: s.txPackets, dropped: s.txDropped, reasons: s.dropReasons });
      await emu.close();
    }
    expect(out[0]).toEqual(out[1]);
    // (the first packet had no earlier one; every other faulted)
    expect(out[0]).toMatchObject({ tx: 1n, dropped: 63n });
  });

  // Every outcome a program can give, picked by a payload byte, on frames of every size;
  // the batch path (one compiled program, nothing else attached) against one packet at a
  // time on the interpreter: the same counters, drop reasons, map and redirects.
  const POLICY = (values: number, target: number): string => `${CHOICE(43)}
    mov %r8, %r5
    and %r8, 7
    lsh %r8, 3
    lddw %r7, ${values}
    add %r8, %r7
    ldxdw %r9, [%r8+0]
    add %r9, 1
    stxdw [%r8+0], %r9
    ldxw %r1, [%r6+8]
    ldxw %r9, [%r6+0]
    add %r1, %r9
    stxw [%r6+8], %r1
${OUTCOMES(1, 0, target)}`;

  async function run(jit: boolean): Promise<unknown> {
    await twoPairs(jit);
    const m = new BpfMap(emu.dp, { name: 'verdicts', type: 'array', keySize: 4, valueSize: 8, maxEntries: 8 });
    const prog = emu.loadProgram({
      name: 'policy', type: 'sched_cls', maps: [m.record], regions: [{ addr: m.values, len: 64, writable: true }], verify: false, // faults on some packets
      insns: assemble(POLICY(m.values, emu.device('init', 'nr1').ifindex)),
    });
    expect(prog.jit.slot !== 0).toBe(jit);
    emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog });
    const r = prng(12345);
    const rnd = (k: number): number => Math.floor(r() * k);
    for (let i = 0; i < 400; i++) {
      const size = [10, 30, 43, 64, 200][rnd(5)]!;
      const f = new Uint8Array(size);
      if (size >= 14) f.set([0x08, 0x00], 12);
      if (size > 42) f[42] = rnd(6);
      emu.transmit('init', 'nk1', f, { mark: i });
      if (rnd(50) === 0) await emu.settle();
    }
    await emu.settle();
    const out = {
      nk1: stats('init', 'nk1'), nk0: stats('init', 'nk0'), nr1: stats('init', 'nr1'),
      map: [...new BigUint64Array(emu.dp.memory.buffer.slice(m.values, m.values + 64))],
    };
    await emu.close();
    return out;
  }

  it('the same outcomes as one packet at a time on the interpreter', async () => {
    const compiled = await run(true);
    const interpreted = await run(false);
    expect(compiled).toEqual(interpreted);
    const c = compiled as { nk1: { dropReasons: Record<string, bigint> }; nr1: { txPackets: bigint } };
    // Every outcome happened.
    expect(Object.keys(c.nk1.dropReasons).sort()).toEqual(['BPF_BAD_VERDICT', 'BPF_DROP', 'BPF_FAULT', 'PKT_TOO_SMALL']);
    expect(c.nr1.txPackets).toBeGreaterThan(0n);
  });

  // Programs at the edges of what the batch code takes as proven (codegen/bounds.ts): one
  // byte past the checked range, each comparison form, offsets that vary in a loop, and a
  // packet moved by a helper; frames of every length from 14 to 40 bytes. Compiled
  // (batches) and interpreted, the same outcomes: verdicts, faults and what they read.
  const EDGES: Record<string, (values: number) => string> = {
    past: (v) => `ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r4, %r2\nadd %r4, 20\njgt %r4, %r3, out\nldxb %r5, [%r2+19]\nldxw %r6, [%r2+17]\nadd %r5, %r6\nlddw %r7, ${v}\nstxdw [%r7+0], %r5\nout:\nmov %r0, 0\nexit`,
    loop: (v) => `ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r5, 0\nmov %r0, 0\nl:\nmov %r4, %r2\nadd %r4, %r5\nmov %r6, %r4\nadd %r6, 1\njgt %r6, %r3, e\nldxb %r6, [%r4+0]\nadd %r0, %r6\nadd %r5, 1\njlt %r5, 64, l\ne:\nlddw %r7, ${v}\nstxdw [%r7+16], %r0\nand %r0, 2\nexit`,
    // Offsets that vary: a counter (NNEG after the loop's first round), a masked packet
    // byte, a constant in a register; the byte just past each proven range, and a
    // "non-negative" value made negative (no longer proven).
    varpast: (v) => `ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r5, 0\nmov %r0, 0\nl:\nmov %r4, %r2\nadd %r4, %r5\nmov %r6, %r4\nadd %r6, 1\njgt %r6, %r3, e\nldxb %r6, [%r4+0]\nadd %r0, %r6\nldxb %r6, [%r4+1]\nadd %r0, %r6\nadd %r5, 3\njlt %r5, 64, l\ne:\nlddw %r7, ${v}\nstxdw [%r7+0], %r0\nmov %r0, 0\nexit`,
    masked: (v) => `ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r4, %r2\nadd %r4, 15\njgt %r4, %r3, e\nldxb %r5, [%r2+14]\nand %r5, 15\nmov %r4, %r2\nadd %r4, %r5\nmov %r6, %r4\nadd %r6, 4\njgt %r6, %r3, e\nldxw %r0, [%r4+0]\nlddw %r7, ${v}\nstxdw [%r7+0], %r0\nldxb %r0, [%r4+4]\nstxdw [%r7+8], %r0\ne:\nmov %r0, 0\nexit`,
    constreg: (v) => `ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r5, 20\nmov %r4, %r2\nadd %r4, %r5\nmov %r6, %r4\nadd %r6, 2\njgt %r6, %r3, e\nldxh %r0, [%r4+0]\nlddw %r7, ${v}\nstxdw [%r7+0], %r0\nldxh %r0, [%r4+1]\nstxdw [%r7+8], %r0\ne:\nmov %r0, 0\nexit`,
    negvar: (v) => `ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r4, %r2\nadd %r4, 15\njgt %r4, %r3, e\nldxb %r5, [%r2+14]\nand %r5, 3\nsub %r5, 1\nmov %r4, %r2\nadd %r4, %r5\nmov %r6, %r4\nadd %r6, 1\njgt %r6, %r3, e\nldxb %r0, [%r4+0]\nlddw %r7, ${v}\nstxdw [%r7+0], %r0\ne:\nmov %r0, 0\nexit`,
    moved: (v) => `mov %r6, %r1\nldxw %r2, [%r6+76]\nldxw %r3, [%r6+80]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, o\nmov %r7, %r2\nmov %r1, %r6\nmov %r2, 8\nmov %r3, 0\ncall 43\nldxb %r5, [%r7+13]\nldxw %r2, [%r6+76]\nldxb %r8, [%r2+0]\nadd %r5, %r8\nlddw %r9, ${v}\nstxdw [%r9+24], %r5\no:\nmov %r0, 0\nexit`,
  };

  // Each comparison form, both operand orders: the byte before the proven range's end is
  // read unchecked, the one at its end is checked (a frame that ends there faults).
  const K = 24;
  const FORMS: [string, string, 'fall' | 'taken', number][] = [
    ['jgt', 'pe', 'fall', K], ['jgt', 'ep', 'taken', K + 1], ['jge', 'pe', 'fall', K + 1], ['jge', 'ep', 'taken', K],
    ['jlt', 'pe', 'taken', K + 1], ['jlt', 'ep', 'fall', K], ['jle', 'pe', 'taken', K], ['jle', 'ep', 'fall', K + 1],
  ];
  for (const [op, order, edge, r] of FORMS) {
    const cmp = order === 'pe' ? '%r4, %r3' : '%r3, %r4';
    EDGES[`${op} ${order}`] = (v) => `ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r4, %r2\nadd %r4, ${K}\n` +
      (edge === 'fall' ? `${op} ${cmp}, out\n` : `${op} ${cmp}, in\nja out\nin:\n`) +
      `ldxb %r5, [%r2+${r - 1}]\nlddw %r7, ${v}\nstxdw [%r7+0], %r5\nldxb %r5, [%r2+${r}]\nstxdw [%r7+8], %r5\nout:\nmov %r0, 0\nexit`;
  }

  async function edges(name: string, jit: boolean): Promise<unknown> {
    emu = await Emulator.create({ seed: 9, jit });
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0' } } } });
    for (const d of ['nk1', 'nk0']) emu.setLink('init', d, { up: true });
    emu.setRxSink('init', 'nk0', 'drop');
    const m = new BpfMap(emu.dp, { name: 'seen', type: 'array', keySize: 4, valueSize: 32, maxEntries: 1 });
    // Accesses at and past the proved range, on purpose: loaded unverified.
    const prog = emu.loadProgram({ name, type: 'sched_cls', maps: [m.record], regions: [{ addr: m.values, len: 32, writable: true }], insns: assemble(EDGES[name]!(m.values)), verify: false });
    expect(prog.jit.slot !== 0).toBe(jit);
    emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog });
    const out: unknown[] = [];
    for (let len = 14; len <= 40; len++) {
      emu.transmit('init', 'nk1', new Uint8Array(len).map((_, k) => (k * 7 + len) & 0xff));
      await emu.settle();
      out.push([len, emu.stats(emu.device('init', 'nk1')).dropReasons, [...new BigUint64Array(emu.dp.memory.buffer.slice(m.values, m.values + 32))]]);
    }
    await emu.close();
    return out;
  }

  for (const name of Object.keys(EDGES)) {
    it(`the checks the batch code drops are the ones a comparison proves: ${name}`, async () => {
      expect(await edges(name, true)).toEqual(await edges(name, false));
    });
  }

  it('a program that tail-calls runs in batches (the batch loop runs the target to its end): the verdicts are the target\'s', async () => {
    emu = await Emulator.create({ seed: 9 });
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0' } } } });
    for (const d of ['nk1', 'nk0']) emu.setLink('init', d, { up: true });
    emu.setRxSink('init', 'nk0', 'drop');
    const jmp = new BpfMap(emu.dp, { name: 'jmp', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1 });
    // The target drops frames longer than 100 bytes.
    const target = asm('t', 'ldxw %r2, [%r1+0]\nmov %r0, 2\njgt %r2, 100, out\nmov %r0, 0\nout:\nexit');
    const caller = emu.loadProgram({ name: 'c', type: 'sched_cls', maps: [jmp.record], insns: assemble(`lddw %r2, ${jmp.record}\nmov %r3, 0\ncall 12\nmov %r0, 1\nexit`) });
    emu.progArraySet(jmp, 0, target);
    expect(caller.jit.slot).not.toBe(0);
    emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: caller });
    for (let i = 0; i < 100; i++) emu.transmit('init', 'nk1', new Uint8Array(i % 2 ? 60 : 150));
    await emu.settle();
    expect(stats('init', 'nk1')).toMatchObject({ txPackets: 50n, txDropped: 50n, dropReasons: { BPF_DROP: 50n } });
  });
});

describe('lists of compiled programs that share no state run in batches, program after program', () => {
  // Each packet carries its sequence number (byte 44) and a choice (byte 42). Every program
  // counts into a map and records what it saw of the packet (its mark, as the programs
  // before it left it) at the packet's sequence number; programs pick NEXT, or for some
  // choices another verdict, a redirect or a fault. `shared`: the programs use one map
  // (the second records the first one's running count): only per-packet order gives the
  // interpreter's results there, and the list must not be batched.
  const PROG = (k: number, counts: number, seen: number, target: number): string => `${CHOICE(45)}
    ldxb %r7, [%r2+44]
    lddw %r8, ${counts}
    ldxdw %r9, [%r8+0]
    add %r9, 1
    stxdw [%r8+0], %r9
    lsh %r7, 3
    lddw %r8, ${seen}
    add %r8, %r7
    ldxw %r1, [%r6+8]
    ${k === 1 && counts === seen ? 'mov %r1, %r9' : ''}
    stxdw [%r8+0], %r1
    add %r1, ${k + 1}
    stxw [%r6+8], %r1
${OUTCOMES(k * 4 + 1, -1, target)}`;

  async function run(jit: boolean, shared: boolean, noBatchCode?: number): Promise<{ out: unknown; flags: number }> {
    await twoPairs(jit);
    const maps = [0, 1, 2].map((k) => ({
      counts: new BpfMap(emu.dp, { name: `c${k}`, type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 }),
      seen: new BpfMap(emu.dp, { name: `s${k}`, type: 'array', keySize: 4, valueSize: 8, maxEntries: 256 }),
    }));
    if (shared) maps[1]!.seen = maps[0]!.counts;
    const target = emu.device('init', 'nr1').ifindex;
    for (const [k, m] of maps.entries()) {
      const used = [...new Set([m.counts, m.seen])];
      const prog = emu.loadProgram({
        name: `p${k}`, type: 'sched_cls', maps: used.map((x) => x.record), regions: used.map((x) => ({ addr: x.values, len: x.valuesSize, writable: true })), verify: false,
        insns: assemble(PROG(k, m.counts.values, m.seen.values, target)),
      });
      expect(prog.jit.slot !== 0).toBe(jit);
      emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog });
      if (k === noBatchCode) {
        // This thread has the program's code but not (yet) its batch entry, as a worker
        // between a compile and its install: from here on the packets go one at a time.
        const ex = emu.dp.exports as unknown as { table: WebAssembly.Table; jitBatchFallback: unknown; JIT_SLOTS: { value: number } };
        ex.table.set(prog.jit.slot + ex.JIT_SLOTS.value, ex.jitBatchFallback);
      }
    }
    const list = emu.dp.view().getUint32(emu.dp.deviceRecord(emu.device('init', 'nk1').slot) + A.D_PROGS, true);
    const flags = emu.dp.view().getUint32(list + A.PGL_FLAGS, true);
    const r = prng(77);
    for (let i = 0; i < 250; i++) {
      const size = [10, 20, 50, 64, 64, 64, 120][Math.floor(r() * 7)]!;
      const f = new Uint8Array(size);
      if (size >= 14) f.set([0x08, 0x00], 12);
      if (size > 44) { f[42] = Math.floor(r() * 16); f[44] = i; }
      emu.transmit('init', 'nk1', f, { mark: i * 7 });
      if (r() < 0.02) await emu.settle();
    }
    await emu.settle();
    const dump = (m: BpfMap): bigint[] => [...new BigUint64Array(emu.dp.memory.buffer.slice(m.values, m.values + m.valuesSize))];
    const out = {
      nk1: stats('init', 'nk1'), nk0: stats('init', 'nk0'), nr1: stats('init', 'nr1'),
      maps: maps.map((m) => [dump(m.counts), dump(m.seen)]),
    };
    await emu.close();
    return { out, flags };
  }

  it('independent programs: the same verdicts, faults, redirects, context writes and maps as per packet on the interpreter', async () => {
    const compiled = await run(true, false);
    const interpreted = await run(false, false);
    expect(compiled.flags).toBe(A.PGLF_INDEPENDENT);
    expect(compiled.out).toEqual(interpreted.out);
    const c = compiled.out as { nk1: { dropReasons: Record<string, bigint> }; nr1: { txPackets: bigint }; maps: bigint[][][] };
    expect(Object.keys(c.nk1.dropReasons).sort()).toEqual(['BPF_BAD_VERDICT', 'BPF_DROP', 'BPF_FAULT', 'PKT_TOO_SMALL']);
    expect(c.nr1.txPackets).toBeGreaterThan(0n);
    // later programs saw fewer packets: the ones before them finished some
    expect(c.maps.map((m) => m[0]![0]!)).toEqual([...c.maps.map((m) => m[0]![0]!)].sort((a, b) => Number(b - a)));
  });

  it('a later program without batch code on the thread: the packets still going run the rest of the list one at a time', async () => {
    const interpreted = await run(false, false);
    for (const k of [1, 2]) expect((await run(true, false, k)).out).toEqual(interpreted.out);
  });

  // The same programs as a NIC's tcx ingress (no XDP): frames from the wire steered over 4
  // queues (an ntuple rule sends choice 0 packets' MAC to queue 3), the list over each
  // poll's skbs program after program, then each frame redirected, dropped or queued.
  async function runNic(jit: boolean, count: number, noBatchCode?: number): Promise<unknown> {
    await twoPairs(jit);
    const eth1 = emu.addNic({ name: 'eth1', rxQueues: 4 });
    emu.setLink('init', 'eth1', { up: true });
    emu.setRxSink('init', 'eth1', 'drop');
    const mac = new Uint8Array([2, 0, 0, 0, 0, 0x33]);
    emu.addNtuple('init', 'eth1', { flowType: 'ether', dstMac: mac, action: 3 });
    const target = emu.device('init', 'nr1').ifindex;
    const maps = Array.from({ length: count }, (_, k) => ({
      counts: new BpfMap(emu.dp, { name: `c${k}`, type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 }),
      seen: new BpfMap(emu.dp, { name: `s${k}`, type: 'array', keySize: 4, valueSize: 8, maxEntries: 256 }),
    }));
    for (const [k, m] of maps.entries()) {
      const prog = emu.loadProgram({
        name: `t${k}`, type: 'sched_cls', maps: [m.counts.record, m.seen.record], verify: false,
        regions: [m.counts, m.seen].map((x) => ({ addr: x.values, len: x.valuesSize, writable: true })),
        insns: assemble(PROG(k, m.counts.values, m.seen.values, target)),
      });
      expect(prog.jit.slot !== 0).toBe(jit);
      emu.progAttach('init', { ifindex: eth1.ifindex, attachType: 'tcx_ingress', prog });
      if (k === noBatchCode) {
        const ex = emu.dp.exports as unknown as { table: WebAssembly.Table; jitBatchFallback: unknown; JIT_SLOTS: { value: number } };
        ex.table.set(prog.jit.slot + ex.JIT_SLOTS.value, ex.jitBatchFallback);
      }
    }
    const r = prng(78);
    for (let i = 0; i < 250; i++) {
      const size = [10, 20, 50, 64, 64, 64, 120][Math.floor(r() * 7)]!;
      const f = new Uint8Array(size).map(() => Math.floor(r() * 256));
      if (size >= 14) f.set([0x08, 0x00], 12);
      if (size > 44) { f[42] = Math.floor(r() * 10); f[44] = i; }
      if (f[42] === 0 || size < 14) f.set(mac.subarray(0, Math.min(6, size)), 0);
      emu.wireIn('init', 'eth1', f);
      if (r() < 0.02) await emu.settle();
    }
    await emu.settle();
    const dump = (m: BpfMap): bigint[] => [...new BigUint64Array(emu.dp.memory.buffer.slice(m.values, m.values + m.valuesSize))];
    const out = {
      eth1: stats('init', 'eth1'), queues: emu.queueStats('init', 'eth1'), nr1: stats('init', 'nr1'),
      maps: maps.map((m) => [dump(m.counts), dump(m.seen)]),
    };
    await emu.close();
    return out;
  }

  it('tcx ingress on a NIC: one program, and a list, in batches give what per packet on the interpreter gives', async () => {
    for (const count of [1, 2]) {
      const interpreted = await runNic(false, count);
      const compiled = await runNic(true, count);
      expect(compiled).toEqual(interpreted);
      expect((await runNic(true, count, count - 1))).toEqual(interpreted);
      const c = compiled as { eth1: { dropReasons: Record<string, bigint> }; nr1: { txPackets: bigint }; queues: { rxPackets: bigint }[] };
      expect(Object.keys(c.eth1.dropReasons).sort()).toEqual(['PKT_TOO_SMALL', 'TCX_DROP']);
      expect(c.nr1.txPackets).toBeGreaterThan(0n);
      expect(c.queues.every((q) => q.rxPackets > 0n)).toBe(true);
    }
  });

  it('which lists count as independent: shared maps or regions, maps of maps, tail calls, two users of per-thread helper state', async () => {
    emu = await Emulator.create({ seed: 9 });
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0' } } } });
    const a = new BpfMap(emu.dp, { name: 'a', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 });
    const b = new BpfMap(emu.dp, { name: 'b', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 });
    const outer = new BpfMap(emu.dp, { name: 'o', type: 'array_of_maps', keySize: 4, valueSize: 4, maxEntries: 1, inner: { type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 } });
    const pa = new BpfMap(emu.dp, { name: 'pa', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1 });
    const prog = (body: string, maps: BpfMap[] = []): BpfProgram => emu.loadProgram({
      name: 'p', type: 'sched_cls', maps: maps.map((m) => m.record), regions: maps.filter((m) => m.type === 'array').map((m) => ({ addr: m.values, len: 8, writable: true })),
      insns: assemble(`${body}\nmov %r0, -1\nexit`),
    });
    const lookup = (m: BpfMap): string => `mov %r6, 0\nstxw [%r10-4], %r6\nlddw %r1, ${m.record}\nmov %r2, %r10\nadd %r2, -4\ncall 1`;
    const flags = (progs: BpfProgram[]): number => {
      for (const p of progs) emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: p });
      const dv = emu.dp.view();
      const list = dv.getUint32(emu.dp.deviceRecord(emu.device('init', 'nk1').slot) + A.D_PROGS, true);
      const f = dv.getUint32(list + A.PGL_FLAGS, true);
      for (const p of progs) emu.progDetach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: p });
      return f;
    };
    const plain = prog('mov %r1, 0');
    const withA = prog(lookup(a), [a]);
    const withB = prog(lookup(b), [b]);
    const withA2 = prog(lookup(a), [a]);
    const random = prog('call 7');
    const random2 = prog('call 7');
    const printk = prog('mov %r1, %r10\nadd %r1, -8\nstxdw [%r10-8], %r1\nmov %r2, 8\ncall 6');
    const inner = prog(lookup(outer), [outer]);
    const tail = prog(`mov %r2, 0\nlddw %r2, ${pa.record}\nmov %r3, 0\ncall 12`, [pa]);
    expect(flags([plain, withA, withB])).toBe(A.PGLF_INDEPENDENT);
    expect(flags([withA, withA2])).toBe(0);
    expect(flags([random, plain, printk])).toBe(0);
    expect(flags([random, plain, withA])).toBe(A.PGLF_INDEPENDENT);
    expect(flags([random, random2])).toBe(0);
    expect(flags([plain, inner])).toBe(0);
    expect(flags([plain, tail])).toBe(0);
    // a writable region in common (no map named): the programs share it; read-only is fine
    const region = (writable: boolean): BpfProgram => emu.loadProgram({
      name: 'r', type: 'sched_cls', regions: [{ addr: b.values, len: 8, writable }], insns: assemble(`lddw %r1, ${b.values}\nldxdw %r0, [%r1+0]\nmov %r0, -1\nexit`),
    });
    expect(flags([region(true), region(false)])).toBe(0);
    expect(flags([region(false), region(false)])).toBe(A.PGLF_INDEPENDENT);
  });

  it('programs sharing a map stay per packet: the second records the first one\'s running count', async () => {
    const compiled = await run(true, true);
    const interpreted = await run(false, true);
    expect(compiled.flags).toBe(0);
    expect(compiled.out).toEqual(interpreted.out);
  });
});

describe('the per-thread run record across program lifetimes', () => {
  it.each([false, true])('a program loaded where a freed one was (same image and record addresses) runs with its own maps (compiled: %s)', async (jit) => {
    // xmit keeps the program part of the run record between packets; a new program in
    // the old one's memory must not inherit the old one's map regions (on the
    // interpreter the region table is all an access is checked against).
    emu = await Emulator.create({ seed: 4, jit });
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
