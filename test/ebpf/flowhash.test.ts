import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemble } from '../../src/ebpf/assembler.js';
import { Emulator } from '../../src/emulator.js';
import { buildPacket } from '../../src/packet.js';

// bpf_get_hash_recalc is the kernel's software flow hash (assembly/dev/flowhash.ts): the
// kernel's values depend on its boot-time key, so what is held to it (test/fixtures/bpf:
// hash_probe, recorded from the kernel) is its shape — never 0, the same twice, skb->hash
// after — and here what a flow hash promises: the same for a flow and its reverse, another
// for another flow or another emulator seed.

let a: Emulator;
let b: Emulator;
beforeAll(async () => {
  a = await Emulator.create({ seed: 1 });
  b = await Emulator.create({ seed: 2 });
});
afterAll(async () => {
  await a.close();
  await b.close();
});

const hashOf = (emu: Emulator, data: Uint8Array): number => {
  const p = emu.loadProgram({ name: 'h', type: 'sched_cls', insns: assemble('call 34\nexit') });
  try {
    return emu.testRun(p, { data }).retval;
  } finally {
    emu.closeProgram(p);
  }
};

const udp = (src: string, dst: string, sport: number, dport: number): Uint8Array => buildPacket({ ipv4: { src, dst }, udp: { sport, dport }, payload: 'x' });
const udp6 = (src: string, dst: string, sport: number, dport: number): Uint8Array => buildPacket({ ipv6: { src, dst }, udp: { sport, dport }, payload: 'x' });

describe('bpf_get_hash_recalc', () => {
  it('is the same for a flow and its reverse, and differs between flows and between seeds', () => {
    for (const mk of [udp, udp6]) {
      const [s, d] = mk === udp ? ['10.0.0.1', '10.0.0.2'] : ['fd00::1', 'fd00::2'];
      const h = hashOf(a, mk(s, d, 1000, 53));
      expect(h).not.toBe(0);
      expect(hashOf(a, mk(s, d, 1000, 53))).toBe(h);
      expect(hashOf(a, mk(d, s, 53, 1000))).toBe(h);
      expect(hashOf(a, mk(s, d, 1001, 53))).not.toBe(h);
      expect(hashOf(a, mk(s, d === '10.0.0.2' ? '10.0.0.3' : 'fd00::3', 1000, 53))).not.toBe(h);
      expect(hashOf(b, mk(s, d, 1000, 53))).not.toBe(h);
    }
  });

  it('frames with no IP header hash by protocol alone, never to 0', () => {
    const arp = new Uint8Array(42);
    arp.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    const h = hashOf(a, arp);
    expect(h).not.toBe(0);
    arp[20] = 7;
    expect(hashOf(a, arp)).toBe(h);
  });
});
