import { describe, expect, it } from 'vitest';
import { BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK, BPF_F_REPLACE, MPROG_MAX, MprogList, type MprogLink, type MprogProg } from '../../src/ebpf/mprog.js';

function setup(): { list: MprogList; p: MprogProg[]; link: (prog: MprogProg) => MprogLink } {
  const p: MprogProg[] = Array.from({ length: 70 }, (_, i) => ({ id: 100 + i, type: 'sched_cls' }));
  const links: MprogLink[] = [];
  const list = new MprogList({ prog: (id) => p.find((x) => x.id === id), link: (id) => links.find((x) => x.id === id) });
  return { list, p, link: (prog) => { const l = { id: 500 + links.length, prog, attached: false }; links.push(l); return l; } };
}

const ids = (l: MprogList): number[] => l.query().progIds;
const errno = (f: () => unknown): string => { try { f(); } catch (e) { return (e as { errno: string }).errno; } return 'ok'; };

describe('bpf_mprog (netkit.md §5.2–§5.5)', () => {
  it('revision counts from 1; query reports 1 when empty, even after changes', () => {
    const { list, p } = setup();
    expect(list.query()).toEqual({ attachFlags: 0, revision: 1, count: 0, progIds: [], linkIds: [] });
    expect(list.attach({ prog: p[0]! })).toBe(2);
    expect(list.query()).toMatchObject({ revision: 2, count: 1, progIds: [100] });
    expect(list.attach({ prog: p[1]! })).toBe(3);
    list.detach({});
    list.detach({});
    expect(list.query().revision).toBe(1);
    expect(list.revision).toBe(5);
    expect(errno(() => list.attach({ prog: p[2]!, expectedRevision: 1 }))).toBe('ESTALE');
    expect(list.attach({ prog: p[2]!, expectedRevision: 5 })).toBe(6);
  });

  it('positions: before/after a relative or none, by object or by id', () => {
    const { list, p } = setup();
    list.attach({ prog: p[0]! });
    list.attach({ prog: p[1]!, flags: BPF_F_BEFORE, relative: p[0] });
    expect(ids(list)).toEqual([101, 100]);
    list.attach({ prog: p[2]!, flags: BPF_F_AFTER | BPF_F_ID, relative: 101 });
    expect(ids(list)).toEqual([101, 102, 100]);
    list.attach({ prog: p[3]!, flags: BPF_F_BEFORE });
    list.attach({ prog: p[4]!, flags: BPF_F_AFTER });
    expect(ids(list)).toEqual([103, 101, 102, 100, 104]);
    // BEFORE and AFTER must name the same slot
    expect(errno(() => list.attach({ prog: p[5]!, flags: BPF_F_BEFORE | BPF_F_AFTER | BPF_F_ID, relative: 101 }))).toBe('ERANGE');
    expect(errno(() => list.attach({ prog: p[6]!, flags: BPF_F_BEFORE | BPF_F_AFTER }))).toBe('ERANGE');
  });

  it('attach errors: EEXIST, ENOENT relative, EINVAL relative without position, ERANGE when full', () => {
    const { list, p } = setup();
    list.attach({ prog: p[0]! });
    expect(errno(() => list.attach({ prog: p[0]! }))).toBe('EEXIST');
    expect(errno(() => list.attach({ prog: p[1]!, flags: BPF_F_BEFORE, relative: p[9] }))).toBe('ENOENT');
    expect(errno(() => list.attach({ prog: p[1]!, flags: BPF_F_BEFORE | BPF_F_ID, relative: 9999 }))).toBe('ENOENT');
    expect(errno(() => list.attach({ prog: p[1]!, relative: p[0] }))).toBe('EINVAL');
    expect(errno(() => list.attach({ prog: p[1]!, flags: BPF_F_ID, relative: 100 }))).toBe('EINVAL');
    expect(errno(() => list.attach({ prog: p[1]!, flags: 1 }))).toBe('EINVAL');
    expect(errno(() => list.attach({ prog: p[1]!, flags: BPF_F_BEFORE, relative: { id: 7, type: 'xdp' } }))).toBe('EINVAL');
    expect(errno(() => list.attach({ prog: p[1]!, flags: BPF_F_LINK | BPF_F_BEFORE }))).toBe('EINVAL');
    for (let i = 1; i < MPROG_MAX; i++) list.attach({ prog: p[i]! });
    expect(list.count).toBe(63);
    expect(errno(() => list.attach({ prog: p[65]! }))).toBe('ERANGE');
    // replace still works when full
    list.attach({ prog: p[66]!, flags: BPF_F_REPLACE, replace: p[5] });
    expect(ids(list)[5]).toBe(166);
    expect(errno(() => list.query(10))).toBe('ENOSPC');
  });

  it('replace: in place; ENOENT when absent; EBUSY when a link owns the slot; position must agree', () => {
    const { list, p, link } = setup();
    list.attach({ prog: p[0]! });
    list.attach({ prog: p[1]! });
    list.attach({ prog: p[2]!, flags: BPF_F_REPLACE, replace: p[0] });
    expect(ids(list)).toEqual([102, 101]);
    expect(errno(() => list.attach({ prog: p[3]!, flags: BPF_F_REPLACE, replace: p[9] }))).toBe('ENOENT');
    expect(errno(() => list.attach({ prog: p[3]!, flags: BPF_F_REPLACE | BPF_F_BEFORE, replace: p[1], relative: p[1] }))).toBe('ERANGE');
    list.attach({ prog: p[3]!, flags: BPF_F_REPLACE | BPF_F_AFTER, replace: p[1], relative: p[2] });
    expect(ids(list)).toEqual([102, 103]);
    const l = link(p[4]!);
    list.attach({ prog: p[4]!, link: l });
    expect(errno(() => list.attach({ prog: p[5]!, flags: BPF_F_REPLACE, replace: p[4] }))).toBe('EBUSY');
  });

  it('detach: last by default; by program; before/after; EBUSY for link-owned; ENOENT when empty', () => {
    const { list, p, link } = setup();
    expect(errno(() => list.detach({}))).toBe('ENOENT');
    for (let i = 0; i < 5; i++) list.attach({ prog: p[i]! });
    expect(list.detach({})).toBe(p[4]);
    expect(list.detach({ flags: BPF_F_BEFORE })).toBe(p[0]);
    expect(ids(list)).toEqual([101, 102, 103]);
    expect(list.detach({ flags: BPF_F_AFTER | BPF_F_ID, relative: 101 })).toBe(p[2]);
    expect(errno(() => list.detach({ prog: p[1]!, flags: BPF_F_BEFORE, relative: p[1] }))).toBe('ERANGE');
    expect(list.detach({ prog: p[1]!, flags: BPF_F_BEFORE, relative: p[3] })).toBe(p[1]);
    expect(errno(() => list.detach({ prog: p[9]! }))).toBe('ENOENT');
    expect(errno(() => list.detach({ flags: BPF_F_REPLACE }))).toBe('EINVAL');
    expect(errno(() => list.detach({ relative: p[3] }))).toBe('EINVAL');
    const l = link(p[7]!);
    list.attach({ prog: p[7]!, link: l });
    expect(errno(() => list.detach({ prog: p[7]! }))).toBe('EBUSY');
    expect(errno(() => list.detach({}))).toBe('EBUSY');
    expect(list.query().linkIds).toEqual([0, l.id]);
    // relative link by id
    expect(errno(() => list.detach({ flags: BPF_F_LINK | BPF_F_ID | BPF_F_BEFORE, relative: l.id }))).toBe('ok');
    expect(ids(list)).toEqual([107]);
  });

  it('links: update replaces in place (EPERM on wrong old prog, EEXIST when already present), detach, clear', () => {
    const { list, p, link } = setup();
    const l = link(p[0]!);
    list.attach({ prog: p[0]!, link: l });
    list.attach({ prog: p[1]! });
    expect(errno(() => list.updateLink(l, p[2]!, p[5]))).toBe('EPERM');
    expect(errno(() => list.updateLink(l, p[1]!))).toBe('EEXIST');
    const rev = list.revision;
    expect(list.updateLink(l, p[0]!)).toBe(rev);
    expect(list.updateLink(l, p[2]!, p[0])).toBe(rev + 1);
    expect(ids(list)).toEqual([102, 101]);
    expect(l.prog).toBe(p[2]);
    expect(list.clear()).toEqual([p[1]]);
    expect(l.attached).toBe(false);
    expect(list.count).toBe(0);
  });
});
