/**
 * The trace shows the IPv6 stack's drops with the kernel's skb drop reasons and the
 * function that frees the packet (kfree_skb_reason's caller): ip6_rcv_core's header checks,
 * ip6_forward's, the route lookup's null entry, ip6_protocol_deliver_rcu's unknown next
 * header (with its ICMPv6 parameter problem), icmpv6_rcv/ndisc_rcv's and udpv6_rcv's.
 * Which reason each path gives is read from the kernel's net/ipv6 (ip6_input.c,
 * ip6_output.c, route.c, icmp.c, ndisc.c, udp.c) and include/net/dropreason-core.h.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runScript } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { ipv6Router } from '../helpers/ipv6-topology.js';
import { buildPacket } from '../../src/packet.js';
import { REASON_STACK, type TraceEvent } from '../../src/trace/trace.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await ipv6Router();
  emu.tracer.enable();
});
afterEach(async () => { await emu.close(); });

const RA = '02:00:00:00:00:01';
const A = '2001:db8:a::1';
const R = '2001:db8:a::fe';

/** Sends `frame` from a's va to r and returns what the trace says r's stack dropped. */
async function drops(frame: Uint8Array): Promise<[string, string][]> {
  emu.tracer.drain();
  emu.transmit('a', 'va', frame);
  await emu.settle();
  const rId = emu.netns('r').id;
  return emu.tracer.drain().filter((e) => e.reason === REASON_STACK && e.netns === rId).map((e) => [e.hook, e.reasonName]);
}
const v6 = (o: { src?: string; dst?: string; hop?: number; next?: number; dmac?: string; payload?: Uint8Array | string; udp?: number }): Uint8Array =>
  buildPacket({
    eth: { dst: o.dmac ?? RA, src: '02:00:00:00:00:0a' },
    ipv6: { src: o.src ?? A, dst: o.dst ?? R, hopLimit: o.hop, nextHeader: o.next },
    ...(o.udp !== undefined ? { udp: { sport: 40000, dport: o.udp } } : {}),
    payload: o.payload ?? 'abcdefgh',
  });

describe('IPv6 drop reasons in the trace', () => {
  it('ip6_rcv_core: another host\'s MAC, a truncated packet, not version 6, a short header, ::1 or a multicast source from outside, scope-0 multicast', async () => {
    expect(await drops(v6({ dmac: '02:00:00:00:00:99' }))).toEqual([['ip6_rcv_core', 'OTHERHOST']]);
    const long = v6({});
    long[19] += 8; // payload length past the frame
    expect(await drops(long)).toEqual([['ip6_rcv_core', 'PKT_TOO_SMALL']]);
    const v4 = v6({});
    v4[14] = 0x45;
    expect(await drops(v4)).toEqual([['ip6_rcv_core', 'UNHANDLED_PROTO']]);
    expect(await drops(v6({}).slice(0, 14 + 30))).toEqual([['ip6_rcv_core', 'IP_INHDR']]);
    expect(await drops(v6({ dst: '::1' }))).toEqual([['ip6_rcv_core', 'IP_INHDR']]);
    expect(await drops(v6({ src: 'ff02::1' }))).toEqual([['ip6_rcv_core', 'IP_INHDR']]);
    expect(await drops(v6({ dst: 'ff00::1', dmac: '33:33:00:00:00:01' }))).toEqual([['ip6_rcv_core', 'IP_INHDR']]);
    expect(emu.stack('r').ip6.counters).toMatchObject({ Ip6InHdrErrors: 5, Ip6InTruncatedPkts: 1 });
  });

  it('a group not joined (ip6_mc_input), and not ours without forwarding (ip6_forward: IP_INADDRERRORS)', async () => {
    expect(await drops(v6({ dst: 'ff02::1234', dmac: '33:33:00:00:12:34' }))).toEqual([['ip6_mc_input', 'NOT_SPECIFIED']]);
    expect(await drops(v6({ dst: '2001:db8:b::1' }))).toEqual([['ip6_forward', 'IP_INADDRERRORS']]);
    // no route: the route lookup's null entry, forwarding or not (with an ICMPv6 no route)
    expect(await drops(v6({ dst: '2001:db8:c::1' }))).toEqual([['ip6_pkt_discard', 'IP_INNOROUTES']]);
    expect(emu.stack('r').ip6.counters).toMatchObject({ Ip6InNoRoutes: 1, Icmp6OutDestUnreachs: 1 });
  });

  it('forwarding: hop limit (IP_INHDR), no route (ip6_pkt_drop: IP_INNOROUTES), past the MTU (PKT_TOO_BIG); each with its ICMPv6 error', async () => {
    await runScript(emu, 'ip netns exec r sysctl -qw net.ipv6.conf.all.forwarding=1\nip -n r link set rb mtu 1280');
    expect(await drops(v6({ dst: '2001:db8:b::1', hop: 1 }))).toEqual([['ip6_forward', 'IP_INHDR']]);
    expect(await drops(v6({ dst: '2001:db8:c::1' }))).toEqual([['ip6_pkt_discard', 'IP_INNOROUTES']]);
    expect(await drops(v6({ dst: '2001:db8:b::1', payload: new Uint8Array(1300) }))).toEqual([['ip6_forward', 'PKT_TOO_BIG']]);
    expect(emu.stack('r').ip6.counters).toMatchObject({ Icmp6OutTimeExcds: 1, Icmp6OutDestUnreachs: 1, Icmp6OutPktTooBigs: 1 });
    expect(await drops(v6({ dst: '2001:db8:b::1' }))).toEqual([]);
  });

  it('local delivery: an unknown next header (IP_NOPROTO, answered with a parameter problem), TCP without a socket, UDP without a socket or with a bad checksum, ICMPv6 with a bad checksum', async () => {
    expect(await drops(v6({ next: 253 }))).toEqual([['ip6_input_finish', 'IP_NOPROTO']]);
    await emu.settle();
    expect(emu.stack('r').ip6.counters).toMatchObject({ Ip6InUnknownProtos: 1, Icmp6OutParmProblems: 1 });
    // (the parameter problem reached a: type 4, code 1, pointer 6, the packet quoted)
    expect(emu.stack('a').ip6.counters.Icmp6InMsgs).toBeGreaterThan(0);
    expect(await drops(buildPacket({ eth: { dst: RA }, ipv6: { src: A, dst: R }, tcp: { sport: 1, dport: 80 } }))).toEqual([['tcp_v6_rcv', 'NO_SOCKET']]);
    expect(await drops(v6({ udp: 9 }))).toEqual([['__udp6_lib_rcv', 'NO_SOCKET']]);
    const bad = v6({ udp: 9 });
    bad[14 + 40 + 6] ^= 0xff;
    expect(await drops(bad)).toEqual([['__udp6_lib_rcv', 'UDP_CSUM']]);
    const icmp = buildPacket({ eth: { dst: RA }, ipv6: { src: A, dst: R }, icmp: { type: 'echo-request', id: 7, seq: 1 }, payload: 'x' });
    icmp[14 + 40 + 2] ^= 0xff;
    expect(await drops(icmp)).toEqual([['icmpv6_rcv', 'ICMP_CSUM']]);
    expect(emu.stack('r').ip6.counters).toMatchObject({ Udp6InCsumErrors: 1, Icmp6InCsumErrors: 1, Udp6NoPorts: 1 });
    // a zero checksum: no socket is NO_SOCKET; a socket (no_check6_rx off) refuses it, UDP_CSUM
    const zero = v6({ udp: 9 });
    zero[14 + 40 + 6] = 0; zero[14 + 40 + 7] = 0;
    expect(await drops(zero)).toEqual([['__udp6_lib_rcv', 'NO_SOCKET']]);
    const s9 = emu.stack('r').udp6Bind({ port: 9 });
    expect(await drops(zero)).toEqual([['__udp6_lib_rcv', 'UDP_CSUM']]);
    expect(await drops(v6({ udp: 9 }))).toEqual([]);
    expect(s9.recv()).toHaveLength(1);
    s9.close();
  });

  it('ndisc_rcv: a hop limit other than 255, a code other than 0, a solicitation for another host\'s address', async () => {
    const ns = (o: { hop?: number; code?: number; target?: string }): Uint8Array => {
      const f = buildPacket({ eth: { dst: RA }, ipv6: { src: A, dst: R, hopLimit: o.hop ?? 255 }, icmp: { type: 135, code: o.code ?? 0 }, payload: new Uint8Array(16) });
      // (the target address after the reserved word, then the checksum again)
      const t = o.target ?? R;
      const words = t.split('::');
      const b = new Uint8Array(16);
      const head = words[0]!.split(':').map((x) => parseInt(x, 16));
      const tail = (words[1] ?? '').split(':').filter(Boolean).map((x) => parseInt(x, 16));
      [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail].forEach((w, i) => { b[2 * i] = w >> 8; b[2 * i + 1] = w & 255; });
      f.set(b, 14 + 40 + 8);
      return buildPacket({ eth: { dst: RA }, ipv6: { src: A, dst: R, hopLimit: o.hop ?? 255 }, icmp: { type: 135, code: o.code ?? 0 }, payload: f.slice(14 + 40 + 8) });
    };
    expect(await drops(ns({ hop: 64 }))).toEqual([['icmpv6_rcv', 'IPV6_NDISC_HOP_LIMIT']]);
    expect(await drops(ns({ code: 1 }))).toEqual([['icmpv6_rcv', 'IPV6_NDISC_BAD_CODE']]);
    expect(await drops(ns({ target: '2001:db8:a::77' }))).toEqual([['icmpv6_rcv', 'IPV6_NDISC_NS_OTHERHOST']]);
    expect(await drops(ns({}))).toEqual([]);
  });

  it('extension headers (hop-by-hop first, destination options, routing with no segments left, an atomic fragment) are skipped; unknown options act on their type bits; a parameter problem points at the field', async () => {
    const udp9 = [0x9c, 0x40, 0, 9, 0, 8, 0, 0];
    const ext = (next: number, hdr: number[]): Uint8Array => v6({ next, payload: new Uint8Array([...hdr, ...udp9]) });
    expect(await drops(ext(0, [17, 0, 1, 4, 0, 0, 0, 0]))).toEqual([['__udp6_lib_rcv', 'NO_SOCKET']]);
    expect(await drops(ext(60, [43, 0, 1, 4, 0, 0, 0, 0, 44, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 1]))).toEqual([['__udp6_lib_rcv', 'NO_SOCKET']]);
    expect(await drops(ext(0, [17, 0, 0x7e, 4, 0, 0, 0, 0]))).toEqual([['ip6_tlvopt_unknown', 'UNHANDLED_PROTO']]);
    const before = emu.stack('r').ip6.counters.Icmp6OutParmProblems;
    const got: number[][] = [];
    emu.onReceive((dev, f) => { if (dev.name === 'va' && f[14 + 40] === 4) got.push([f[14 + 41]!, (f[14 + 44]! << 24) | (f[14 + 45]! << 16) | (f[14 + 46]! << 8) | f[14 + 47]!]); });
    expect(await drops(ext(0, [17, 0, 0xbe, 4, 0, 0, 0, 0]))).toEqual([['ip6_tlvopt_unknown', 'UNHANDLED_PROTO']]);
    expect(await drops(ext(60, [0, 0, 1, 4, 0, 0, 0, 0]))).toEqual([['ip6_input_finish', 'IP_NOPROTO']]);
    expect(await drops(ext(60, [99, 0, 1, 4, 0, 0, 0, 0]))).toEqual([['ip6_input_finish', 'IP_NOPROTO']]);
    await emu.settle();
    // (code 2 at the option, 42; code 1 at the destination options header's next header field, 40)
    expect(got).toEqual([[2, 42], [1, 40], [1, 40]]);
    expect(emu.stack('r').ip6.counters.Icmp6OutParmProblems - before).toBe(3);
    expect(await drops(ext(43, [17, 2, 2, 1, 0, 0, 0, 0, 0x20, 1, 0xd, 0xb8, 0, 0xa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x55]))).toEqual([['ipv6_rthdr_rcv', 'NOT_SPECIFIED']]);
    expect(await drops(ext(0, [17, 1, 1, 4, 0, 0, 0, 0]))).toEqual([['ip6_parse_tlv', 'IP_INHDR']]);
    expect(await drops(v6({ next: 59, payload: '' }))).toEqual([['dst_discard_out', 'NOT_SPECIFIED']]);
    // (a fragment that is not the whole packet: not reassembled, and no drop traced yet, as the kernel queues it)
    expect(await drops(ext(44, [17, 0, 0, 1, 0, 0, 0, 1]))).toEqual([]);
  });

  it('trace events carry the device, namespace, length and mark; nothing is recorded with tracing off', async () => {
    emu.tracer.drain();
    emu.transmit('a', 'va', v6({ udp: 9 }), { mark: 0x42 });
    await emu.settle();
    const ev = emu.tracer.drain().find((e) => e.reason === REASON_STACK) as TraceEvent;
    expect(ev).toMatchObject({ ifindex: emu.device('r', 'ra').ifindex, netns: emu.netns('r').id, hook: '__udp6_lib_rcv', reasonName: 'NO_SOCKET', verdictName: 'EARLY_DROP', len: 14 + 40 + 16 });
    emu.tracer.enable(false);
    emu.transmit('a', 'va', v6({ udp: 9 }));
    await emu.settle();
    emu.tracer.enable(true);
    expect(emu.tracer.drain().filter((e) => e.reason === REASON_STACK)).toEqual([]);
  });
});
