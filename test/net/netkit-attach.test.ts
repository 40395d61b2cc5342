import { afterEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK } from '../../src/ebpf/mprog.js';
import type { BpfProgram } from '../../src/ebpf/program.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

// r0 = -1 (NETKIT_NEXT); exit
const NEXT = new Uint8Array([0xb7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x95, 0, 0, 0, 0, 0, 0, 0]);

function prog(name: string, type: 'sched_cls' | 'xdp' = 'sched_cls'): BpfProgram {
  return emu.loadProgram({ name, type, insns: NEXT });
}

const errno = (f: () => unknown): string => { try { f(); } catch (e) { return (e as { errno: string }).errno; } return 'ok'; };

async function setup(): Promise<{ nk1: number; nk0: number }> {
  emu = await Emulator.create({ seed: 2 });
  emu.addNetns('foo');
  emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l2', peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
  emu.addLink({ ifname: 'solo', numRxQueues: 2, linkinfo: { kind: 'netkit', data: { pairing: 'single' } } });
  return { nk1: emu.device('init', 'nk1').ifindex, nk0: emu.device('foo', 'nk0').ifindex };
}

describe('netkit BPF attach (netkit.md §5)', () => {
  it('device resolution errors in the kernel order', async () => {
    const { nk1, nk0 } = await setup();
    const p = prog('p');
    expect(errno(() => emu.progAttach('init', { ifindex: nk1, attachType: 'xdp', prog: p }))).toBe('EINVAL');
    expect(errno(() => emu.progAttach('init', { ifindex: 999, attachType: 'netkit_primary', prog: p }))).toBe('ENODEV');
    expect(errno(() => emu.progAttach('init', { ifindex: 1, attachType: 'netkit_primary', prog: p }))).toBe('ENXIO');
    expect(errno(() => emu.progAttach('foo', { ifindex: nk0, attachType: 'netkit_peer', prog: p }))).toBe('EACCES');
    expect(errno(() => emu.progQuery('foo', { ifindex: nk0, attachType: 'netkit_primary' }))).toBe('EACCES');
    const solo = emu.device('init', 'solo').ifindex;
    expect(errno(() => emu.progAttach('init', { ifindex: solo, attachType: 'netkit_primary', prog: p }))).toBe('EOPNOTSUPP');
    expect(errno(() => emu.linkCreate('init', { ifindex: solo, attachType: 'netkit_peer', prog: p }))).toBe('EOPNOTSUPP');
    expect(errno(() => emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: prog('x', 'xdp') }))).toBe('EINVAL');
    expect(errno(() => emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary' }))).toBe('ENOENT');
    // the peer's list is managed through the primary, even with the peer in another netns
    expect(emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_peer', prog: p })).toBe(2);
    expect(emu.progQuery('init', { ifindex: nk1, attachType: 'netkit_peer' })).toMatchObject({ count: 1, revision: 2, progIds: [p.id] });
    expect(emu.progQuery('init', { ifindex: nk1, attachType: 'netkit_primary' })).toMatchObject({ count: 0, revision: 1 });
  });

  it('tc_netkit_multi_opts shape: before-relative ordering, link ids, revision', async () => {
    const { nk1 } = await setup();
    const [a, b] = [prog('tc1'), prog('tc2')];
    const l1 = emu.linkCreate('init', { ifindex: nk1, attachType: 'netkit_primary', prog: a });
    expect(emu.progQuery('init', { ifindex: nk1, attachType: 'netkit_primary' })).toEqual({ attachFlags: 0, revision: 2, count: 1, progIds: [a.id], linkIds: [l1.id] });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: b, flags: BPF_F_BEFORE | BPF_F_LINK | BPF_F_ID, relative: l1.id });
    expect(emu.progQuery('init', { ifindex: nk1, attachType: 'netkit_primary' })).toEqual({ attachFlags: 0, revision: 3, count: 2, progIds: [b.id, a.id], linkIds: [0, l1.id] });
    expect(errno(() => emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: a }))).toBe('EBUSY');
    emu.linkDetach(l1);
    expect(emu.progQuery('init', { ifindex: nk1, attachType: 'netkit_primary' }).progIds).toEqual([b.id]);
    expect(l1.ifindex).toBe(0);
    expect(errno(() => emu.linkUpdate(l1, a))).toBe('ENOLINK');
  });

  it('device going away: lists cleared, links detached (ifindex 0, update ENOLINK), closed programs freed', async () => {
    const { nk1 } = await setup();
    const [a, b, c] = [prog('a'), prog('b'), prog('c')];
    const l = emu.linkCreate('init', { ifindex: nk1, attachType: 'netkit_peer', prog: a });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: b });
    emu.closeProgram(b);
    expect(emu.bpf.prog(b.id)).toBe(b); // still attached
    emu.delLink('foo', 'nk0');
    await emu.settle();
    expect(l.ifindex).toBe(0);
    expect(l.attached).toBe(false);
    expect(errno(() => emu.linkUpdate(l, c))).toBe('ENOLINK');
    expect(errno(() => emu.linkDetach(l))).toBe('ok');
    expect(emu.bpf.prog(b.id)).toBeUndefined();
    expect(emu.bpf.prog(a.id)).toBe(a);
  });

  it('link update: EPERM with the wrong old program; in place; revision +1', async () => {
    const { nk1 } = await setup();
    const [a, b, c] = [prog('a'), prog('b'), prog('c')];
    const l = emu.linkCreate('init', { ifindex: nk1, attachType: 'netkit_primary', prog: a });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: c });
    expect(errno(() => emu.linkUpdate(l, b, c))).toBe('EPERM');
    expect(errno(() => emu.linkUpdate(l, c))).toBe('EEXIST');
    emu.linkUpdate(l, b, a);
    expect(emu.progQuery('init', { ifindex: nk1, attachType: 'netkit_primary' })).toMatchObject({ revision: 4, progIds: [b.id, c.id] });
    expect(a.refs).toBe(0);
    expect(b.refs).toBe(1);
  });
});
