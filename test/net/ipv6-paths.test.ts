/**
 * IPv6 traffic through the netkit paths (issue 24): ping -6 and UDP over IPv6 across a pair
 * in L2 mode (neighbour discovery) and in L3 mode (none, the zero MAC), inline and with
 * workers, and the clang-compiled IPv6 programs (test/fixtures/bpf/ipv6_port_*.c) dropping by port as XDP
 * on the NIC, as tcx ingress and as the pair's netkit policy. (A single netkit device with
 * IPv6: its leased queue's AF_XDP socket in ntuple6.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { formatIp6, parseIp6 } from '../../src/net/stack/addr6.js';
import { buildPacket } from '../../src/packet.js';

const FIX = new URL('../fixtures/bpf/', import.meta.url).pathname;
let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

/** nk1 in init (2001:db8::1), nk0 in foo (2001:db8::2), DAD done. */
async function pair(mode: 'l2' | 'l3', workers = 0): Promise<void> {
  emu = await Emulator.create({ seed: 6, workers });
  emu.addNetns('foo');
  emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode, peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
  emu.setLink('init', 'nk1', { up: true });
  emu.setLink('foo', 'nk0', { up: true });
  emu.addAddress('init', 'nk1', '2001:db8::1/64');
  emu.addAddress('foo', 'nk0', '2001:db8::2/64');
  emu.sleep(2);
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('IPv6 across a netkit pair', () => {
  for (const mode of ['l2', 'l3'] as const) {
    for (const workers of [0, 2]) {
      it(`${mode}, ${workers} workers: ping -6 both ways, UDP both ways; ND only in L2`, async () => {
        await pair(mode, workers);
        const r = await emu.ping('init', '2001:db8::2', { count: 3 });
        expect([r.transmitted, r.received]).toEqual([3, 3]);
        expect(r.format()).toMatch(/^PING 2001:db8::2\(2001:db8::2\) 56 data bytes\n64 bytes from 2001:db8::2: icmp_seq=1 ttl=64 time=/);
        expect((await emu.ping('foo', '2001:db8::1', { count: 1 })).received).toBe(1);
        const srv = emu.stack('foo').udp6Bind({ port: 5353 });
        const cli = emu.stack('init').udp6Bind();
        cli.send(parseIp6('2001:db8::2')!, 5353, new TextEncoder().encode('q6'));
        await emu.settle();
        const [d] = srv.recv();
        expect(d && [formatIp6(d.src), d.sport, text(d.data)]).toEqual(['2001:db8::1', cli.port, 'q6']);
        srv.send(d!.src, d!.sport, new TextEncoder().encode('a6'));
        await emu.settle();
        expect(cli.recv().map((x) => text(x.data))).toEqual(['a6']);
        const nd = emu.stack('init').ip6.counters.Icmp6OutNeighborSolicits + emu.stack('foo').ip6.counters.Icmp6OutNeighborSolicits;
        if (mode === 'l2') {
          expect(nd).toBeGreaterThan(0);
          expect(emu.stack('init').ip6.neighbours().map((n) => formatIp6(n.dst))).toContain('2001:db8::2');
        } else {
          expect(nd).toBe(0);
          expect(emu.stack('init').ip6.neighbours()).toEqual([]);
        }
        const nk1 = emu.stats(emu.device('init', 'nk1'));
        const nk0 = emu.stats(emu.device('foo', 'nk0'));
        expect(nk1.txPackets).toBe(nk0.rxPackets);
        expect(nk0.txPackets).toBe(nk1.rxPackets);
        expect(nk1.dropReasons).toEqual({});
      });
    }
  }

  it('L3 frames carry the zero MAC and EtherType 0x86dd; L2 frames the devices\' MACs', async () => {
    for (const mode of ['l2', 'l3'] as const) {
      await pair(mode);
      const seen: string[] = [];
      emu.onReceive((dev, f) => { if (((f[12]! << 8) | f[13]!) === 0x86dd && f[14 + 40] === 128) seen.push(`${dev.name} ${f.subarray(0, 12).some((b) => b !== 0) ? 'mac' : 'zero'}`); });
      await emu.ping('init', '2001:db8::2', { count: 1 });
      expect(seen).toEqual([mode === 'l3' ? 'nk0 zero' : 'nk0 mac']);
      await emu.close();
    }
  });
});

describe('clang-compiled IPv6 programs on the netkit paths', () => {
  it('tc_port6 as the pair\'s netkit policy (primary) and as tcx ingress on the peer: UDP over IPv6 to port 9 dropped, to 53 delivered', async () => {
    for (const at of ['netkit_primary', 'tcx_ingress'] as const) {
      await pair('l2');
      const obj = emu.loadObject(readFileSync(FIX + 'ipv6_port_tc.o'));
      const prog = obj.programs.get('tc_port6')!;
      // (ping first: neighbour discovery is ICMPv6, which the program passes)
      expect((await emu.ping('init', '2001:db8::2', { count: 1 })).received).toBe(1);
      if (at === 'netkit_primary') emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: at, prog });
      else emu.progAttach('foo', { ifindex: emu.device('foo', 'nk0').ifindex, attachType: at, prog });
      const s9 = emu.stack('foo').udp6Bind({ port: 9 });
      const s53 = emu.stack('foo').udp6Bind({ port: 53 });
      const cli = emu.stack('init').udp6Bind();
      for (let i = 0; i < 4; i++) {
        cli.send(parseIp6('2001:db8::2')!, 9, new Uint8Array([i]));
        cli.send(parseIp6('2001:db8::2')!, 53, new Uint8Array([i]));
      }
      await emu.settle();
      expect([s9.recv().length, s53.recv().length]).toEqual([0, 4]);
      expect((await emu.ping('init', '2001:db8::2', { count: 1 })).received).toBe(1);
      const seen = obj.maps.get('seen')!;
      const u64 = (k: number): bigint => new DataView((seen.lookup(new Uint8Array([k, 0, 0, 0])) as Uint8Array).slice().buffer).getBigUint64(0, true);
      expect([u64(0), u64(1)]).toEqual([8n, 4n]);
      const drops = at === 'netkit_primary' ? emu.stats(emu.device('init', 'nk1')).dropReasons : emu.stats(emu.device('foo', 'nk0')).dropReasons;
      expect(drops).toEqual(at === 'netkit_primary' ? { BPF_DROP: 4n } : { TCX_DROP: 4n });
      await emu.close();
    }
  });

  it('xdp_port6 on a NIC: IPv6 TCP/UDP to port 9 from the wire dropped (also behind a hop-by-hop header), the rest to the stack', async () => {
    emu = await Emulator.create({ seed: 6 });
    emu.addNic({ name: 'eth0', rxQueues: 4 });
    emu.setLink('init', 'eth0', { up: true });
    emu.addAddress('init', 'eth0', '2001:db8::1/64');
    emu.sleep(2);
    const obj = emu.loadObject(readFileSync(FIX + 'ipv6_port_xdp.o'));
    emu.setXdp('init', 'eth0', obj.programs.get('xdp_port6')!);
    const mac = [...emu.device('init', 'eth0').mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
    const s53 = emu.stack('init').udp6Bind({ port: 53 });
    const udp = (dport: number, nextHeader?: number): Uint8Array => buildPacket({
      eth: { dst: mac, src: '02:00:00:00:00:77' }, ipv6: { src: '2001:db8::77', dst: '2001:db8::1', nextHeader }, udp: { sport: 4000, dport }, payload: 'hi',
    });
    for (let i = 0; i < 3; i++) emu.wireIn('init', 'eth0', udp(9));
    for (let i = 0; i < 2; i++) emu.wireIn('init', 'eth0', udp(53));
    emu.wireIn('init', 'eth0', buildPacket({ eth: { dst: mac }, ipv6: { src: '2001:db8::77', dst: '2001:db8::1', nextHeader: 0 },
      payload: new Uint8Array([17, 0, 1, 4, 0, 0, 0, 0, 0x0f, 0xa0, 0, 9, 0, 8, 0, 0]) }));
    await emu.settle();
    expect(s53.recv().map((d) => text(d.data))).toEqual(['hi', 'hi']);
    expect(emu.stats(emu.device('init', 'eth0')).dropReasons).toEqual({ XDP_DROP: 4n });
  });
});
