/**
 * The kernel's netkit selftests (tools/testing/selftests/bpf/prog_tests/tc_netkit.c,
 * spec/netkit.md §8.1) as scenarios here, with their programs compiled by clang
 * (test/fixtures/bpf/tc_netkit.c) and run by nkemu's interpreter.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK } from '../../src/ebpf/mprog.js';
import type { LoadedObject } from '../../src/ebpf/load.js';

const OBJ = readFileSync(new URL('../fixtures/bpf/tc_netkit.o', import.meta.url));
const SCRUB_OBJ = readFileSync(new URL('../fixtures/bpf/tc_netkit_scrub.o', import.meta.url));
let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

type Mode = 'l2' | 'l3';
type Point = 'netkit_primary' | 'netkit_peer';

/** The selftests' set-up: nk1 (10.0.0.1) in init, nk0 (10.0.0.2) in foo unless `sameNetns`. */
async function create(mode: Mode, o: { sameNetns?: boolean; scrub?: 'default' | 'none'; room?: boolean; jit?: boolean } = {}): Promise<{ nk1: number; nk0: number; obj: LoadedObject }> {
  emu = await Emulator.create({ seed: 9, jit: o.jit });
  const scrub = o.scrub ?? 'default';
  const room = o.room ? { headroom: 32, tailroom: 8 } : {};
  emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode, policy: 'forward', peerPolicy: 'forward', scrub, peerScrub: scrub, ...room } } });
  // setting the primary's MAC fails in L3 and works in L2
  const setMac = (): void => emu.setLink('init', 'nk1', { address: 'ee:ff:bb:cc:aa:dd' });
  if (mode === 'l3') expect(setMac).toThrow(expect.objectContaining({ errno: 'EOPNOTSUPP' }));
  else setMac();
  emu.addNetns('foo');
  if (!o.sameNetns) emu.setLink('init', 'nk0', { netns: 'foo' });
  const peerNs = o.sameNetns ? 'init' : 'foo';
  emu.setLink('init', 'nk1', { up: true });
  emu.setLink(peerNs, 'nk0', { up: true });
  emu.addAddress('init', 'nk1', '10.0.0.1/24');
  emu.addAddress(peerNs, 'nk0', '10.0.0.2/24');
  return { nk1: emu.device('init', 'nk1').ifindex, nk0: emu.device(peerNs, 'nk0').ifindex, obj: emu.loadObject(OBJ) };
}

function seen(obj: LoadedObject): { tc1: number; tc2: number; eth: number; host: number; tc7: number; mcast: number } {
  const v = obj.maps.get('.bss')!.lookup(new Uint8Array(4)) as Uint8Array;
  const d = new DataView(v.buffer, v.byteOffset);
  const [tc1, tc2, eth, host, tc7, mcast] = [0, 4, 8, 12, 16, 20].map((o) => d.getUint32(o, true)) as [number, number, number, number, number, number];
  return { tc1, tc2, eth, host, tc7, mcast };
}

function reset(obj: LoadedObject): void {
  obj.maps.get('.bss')!.update(new Uint8Array(4), new Uint8Array(24));
}

/** One ICMP echo from nk1 with SO_MARK 42 and SO_PRIORITY 0xeb9f (the selftests' ping socket). */
async function ping(dst = '10.0.0.2'): Promise<void> {
  await emu.ping('init', dst, { mark: 42, priority: 0xeb9f });
}

const query = (nk1: number, at: Point) => emu.progQuery('init', { ifindex: nk1, attachType: at });

describe('tc_netkit selftests (netkit.md §8.1)', () => {
  it('tc_netkit_basic: link tc1 on PRIMARY, tc2 on PEER via the primary; both run; counts go back to 0', async () => {
    const { nk1, obj } = await create('l2');
    const tc1 = obj.programs.get('tc1')!;
    const tc2 = obj.programs.get('tc2')!;
    expect(query(nk1, 'netkit_primary')).toMatchObject({ count: 0 });
    expect(query(nk1, 'netkit_peer')).toMatchObject({ count: 0 });
    const l1 = emu.linkCreate('init', { ifindex: nk1, attachType: 'netkit_primary', prog: tc1 });
    expect(query(nk1, 'netkit_primary')).toEqual({ attachFlags: 0, revision: 2, count: 1, progIds: [tc1.id], linkIds: [l1.id] });
    await ping();
    expect(seen(obj)).toMatchObject({ tc1: 1, tc2: 0 });
    const l2 = emu.linkCreate('init', { ifindex: nk1, attachType: 'netkit_peer', prog: tc2 });
    expect(query(nk1, 'netkit_peer')).toEqual({ attachFlags: 0, revision: 2, count: 1, progIds: [tc2.id], linkIds: [l2.id] });
    reset(obj);
    await ping();
    expect(seen(obj)).toMatchObject({ tc1: 1, tc2: 1 });
    emu.linkDetach(l1, true);
    emu.linkDetach(l2, true);
    expect(query(nk1, 'netkit_primary').count).toBe(0);
    expect(query(nk1, 'netkit_peer').count).toBe(0);
  });

  for (const mode of ['l2', 'l3'] as const) {
    for (const at of ['netkit_primary', 'netkit_peer'] as const) {
      it(`tc_netkit_multi_links ${mode} ${at}: tc2 BEFORE tc1 by link id; both run; Ethernet header seen`, async () => {
        const { nk1, obj } = await create(mode);
        const [tc1, tc2] = [obj.programs.get('tc1')!, obj.programs.get('tc2')!];
        const l1 = emu.linkCreate('init', { ifindex: nk1, attachType: at, prog: tc1 });
        const l2 = emu.linkCreate('init', { ifindex: nk1, attachType: at, prog: tc2, flags: BPF_F_BEFORE | BPF_F_LINK | BPF_F_ID, relative: l1.id });
        expect(query(nk1, at)).toEqual({ attachFlags: 0, revision: 3, count: 2, progIds: [tc2.id, tc1.id], linkIds: [l2.id, l1.id] });
        await ping();
        expect(seen(obj)).toMatchObject({ tc1: 1, tc2: 1, eth: 1 });
      });

      it(`tc_netkit_multi_opts ${mode} ${at}: the same with prog attach (no links); detach tc2 then tc1`, async () => {
        const { nk1, obj } = await create(mode);
        const [tc1, tc2] = [obj.programs.get('tc1')!, obj.programs.get('tc2')!];
        emu.progAttach('init', { ifindex: nk1, attachType: at, prog: tc1 });
        emu.progAttach('init', { ifindex: nk1, attachType: at, prog: tc2, flags: BPF_F_BEFORE, relative: tc1 });
        expect(query(nk1, at)).toEqual({ attachFlags: 0, revision: 3, count: 2, progIds: [tc2.id, tc1.id], linkIds: [0, 0] });
        await ping();
        expect(seen(obj)).toMatchObject({ tc1: 1, tc2: 1, eth: 1 });
        emu.progDetach('init', { ifindex: nk1, attachType: at, prog: tc2 });
        expect(query(nk1, at).count).toBe(1);
        emu.progDetach('init', { ifindex: nk1, attachType: at, prog: tc1 });
        expect(query(nk1, at).count).toBe(0);
      });
    }
  }

  it('tc_netkit_device: the peer ifindex is refused (EACCES) for query and attach; counts unchanged', async () => {
    const { nk1, nk0, obj } = await create('l3', { sameNetns: true });
    const [tc1, tc2] = [obj.programs.get('tc1')!, obj.programs.get('tc2')!];
    emu.linkCreate('init', { ifindex: nk1, attachType: 'netkit_primary', prog: tc1 });
    for (const at of ['netkit_primary', 'netkit_peer'] as const) {
      expect(() => emu.progQuery('init', { ifindex: nk0, attachType: at })).toThrow(expect.objectContaining({ errno: 'EACCES' }));
    }
    expect(() => emu.linkCreate('init', { ifindex: nk0, attachType: 'netkit_peer', prog: tc2 })).toThrow(expect.objectContaining({ errno: 'EACCES' }));
    expect(() => emu.linkCreate('init', { ifindex: nk0, attachType: 'netkit_primary', prog: tc2 })).toThrow(expect.objectContaining({ errno: 'EACCES' }));
    expect(query(nk1, 'netkit_primary').count).toBe(1);
    expect(query(nk1, 'netkit_peer').count).toBe(0);
  });

  for (const mode of ['l2', 'l3'] as const) {
    it(`tc_netkit_pkt_type ${mode}: PRIMARY sets PACKET_MULTICAST; the peer's tcx ingress sees it (not recomputed)`, async () => {
      const { nk1, obj } = await create(mode);
      emu.linkCreate('init', { ifindex: nk1, attachType: 'netkit_primary', prog: obj.programs.get('tc_pkt_type')! });
      const nk0 = emu.device('foo', 'nk0').ifindex;
      emu.linkCreate('foo', { ifindex: nk0, attachType: 'tcx_ingress', prog: obj.programs.get('tc7')! });
      await ping();
      expect(seen(obj)).toMatchObject({ tc1: 1, host: 1, tc7: 1, mcast: 1 });
    });
  }

  for (const mode of ['l2', 'l3'] as const) {
    it(`tc_netkit_neigh_links ${mode}: ping to 10.0.0.3 runs tc1; the IP packet is seen only in L3 (L2 sends ARP)`, async () => {
      const { nk1, obj } = await create(mode);
      emu.linkCreate('init', { ifindex: nk1, attachType: 'netkit_primary', prog: obj.programs.get('tc1')! });
      await ping('10.0.0.3');
      expect(seen(obj)).toMatchObject({ tc1: 1, eth: mode === 'l3' ? 1 : 0, host: mode === 'l3' ? 1 : 0 });
    });
  }

  // tc8 reads the kernel's sk_buff (bpf_cast_to_kern_ctx, CO-RE-relocated kernel types):
  // after netkit's scrub across namespaces, and skb->dev = the peer with its needed room.
  const cases = [
    { scrub: 'default', room: false, want: { mark: 0, prio: 0, headroom: 0, tailroom: 0 } },
    { scrub: 'none', room: true, want: { mark: 42, prio: 0xeb9f, headroom: 32, tailroom: 8 } },
  ] as const;
  for (const { scrub, room, want } of cases) {
    for (const jit of [true, false]) {
      it(`tc_netkit_scrub ${scrub}${room ? ', headroom 32 tailroom 8' : ''} (${jit ? 'compiled' : 'interpreter'}): mark ${want.mark}, priority ${want.prio}, skb->dev room ${want.headroom}/${want.tailroom}`, async () => {
        const { nk1 } = await create('l3', { scrub, room, jit });
        const obj = emu.loadObject(SCRUB_OBJ);
        const tc8 = obj.programs.get('tc8')!;
        expect(tc8.jit.slot !== 0).toBe(jit);
        emu.linkCreate('init', { ifindex: nk1, attachType: 'netkit_primary', prog: tc8 });
        await ping();
        const v = obj.maps.get('.bss')!.lookup(new Uint8Array(4)) as Uint8Array;
        const d = new DataView(v.buffer, v.byteOffset);
        const [tc8Ran, mark, prio, headroom, tailroom] = [0, 4, 8, 12, 16].map((o) => d.getUint32(o, true));
        expect({ tc8: tc8Ran, mark, prio, headroom, tailroom }).toEqual({ tc8: 1, ...want });
      });
    }
  }
});
