/**
 * The socket helpers outside test runs: nkemu's datapath skbs carry no socket (its stack
 * hands none along), so a netkit program gets the kernel's answers for skb->sk == NULL —
 * cookie 0, uid overflowuid (65534), cgroup ids 0 — on both engines. (Test runs have the
 * kernel's dummy socket: test/fixtures/bpf/helpers_more_tc.c, recorded from the kernel.)
 * bpf_skb_under_cgroup likewise answers -ENOENT: no socket (cgroup_array.c's test runs, with
 * the socket, are recorded from the kernel).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';

const u64 = (b: Uint8Array | Uint8Array[] | undefined): bigint => new DataView((b as Uint8Array).buffer).getBigUint64(0, true);
const key = (i: number): Uint8Array => new Uint8Array(new Uint32Array([i]).buffer);

describe('socket helpers on the datapath (no socket on the skb)', () => {
  for (const jit of [true, false]) {
    it(`${jit ? 'compiled' : 'interpreter'}: cookie 0, uid 65534, cgroup ids 0; the clocks run`, async () => {
      const emu = await Emulator.create({ seed: 2, jit });
      try {
        emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0' } } } });
        emu.setLink('init', 'nk1', { up: true });
        emu.setLink('init', 'nk0', { up: true });
        emu.setRxSink('init', 'nk0', 'drop');
        const obj = emu.loadObject(new Uint8Array(readFileSync(new URL('../fixtures/bpf/helpers_more_tc.o', import.meta.url))));
        emu.linkCreate('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: obj.programs.get('sock_probe')! });
        const f = new Uint8Array(64);
        f[12] = 0x08;
        expect(await emu.pktgen('init', 'nk1', f, { count: 1 })).toBe(1);
        await emu.settle();
        const r = obj.maps.get('results')!;
        // (0 classid, 1 cookie != 0, 2 uid, 3 cgroup id, 4 ancestor(0), 5 classid, 6 numa, 7-9 clocks, 10 cookie stable, 11 ancestor(1))
        expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((i) => u64(r.lookup(key(i))))).toEqual([0n, 0n, 65534n, 0n, 0n, 0n, 0n, 1n, 1n, 1n, 1n, 0n]);
      } finally {
        await emu.close();
      }
    });

    it(`${jit ? 'compiled' : 'interpreter'}: bpf_skb_under_cgroup is -ENOENT, the socket checked before the index and the slot`, async () => {
      const emu = await Emulator.create({ seed: 2, jit });
      try {
        emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0' } } } });
        emu.setLink('init', 'nk1', { up: true });
        emu.setLink('init', 'nk0', { up: true });
        emu.setRxSink('init', 'nk0', 'drop');
        const obj = emu.loadObject(new Uint8Array(readFileSync(new URL('../fixtures/bpf/cgroup_array.o', import.meta.url))));
        obj.maps.get('cgroups')!.setCgroup(0, '/');
        emu.linkCreate('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: obj.programs.get('under_cgroup')! });
        const f = new Uint8Array(64);
        f[12] = 0x08;
        expect(await emu.pktgen('init', 'nk1', f, { count: 1 })).toBe(1);
        await emu.settle();
        const r = obj.maps.get('results')!;
        // (slots 0 (the root), 1 and 3 (empty), 4, the skb's length and ~0 (past the end))
        expect([0, 1, 2, 3, 4, 5].map((i) => BigInt.asIntN(64, u64(r.lookup(key(i)))))).toEqual([-2n, -2n, -2n, -2n, -2n, -2n]);
        // (not under slot 0's cgroup: NETKIT_DROP)
        expect(emu.stats(emu.device('init', 'nk1')).dropReasons).toEqual({ BPF_DROP: 1n });
      } finally {
        await emu.close();
      }
    });
  }
});
