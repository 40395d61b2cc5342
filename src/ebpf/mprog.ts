/**
 * bpf_mprog: ordered program lists for multi-program attach points (netkit primary and
 * peer, tcx), with the kernel's attach/detach/query algorithms and errors
 * (spec/netkit.md §5.2–§5.6), plus BPF links. Control plane only: the owner publishes
 * the resulting list to the dataplane by swap after every successful change.
 */

import { fail } from '../errors.js';

export const BPF_F_REPLACE = 1 << 2;
export const BPF_F_BEFORE = 1 << 3;
export const BPF_F_AFTER = 1 << 4;
export const BPF_F_ID = 1 << 5;
export const BPF_F_LINK = 1 << 13;
/** Usable programs per attach point (BPF_MPROG_MAX 64 minus the terminator). */
export const MPROG_MAX = 63;
const ATTACH_FLAGS = BPF_F_REPLACE | BPF_F_BEFORE | BPF_F_AFTER | BPF_F_ID | BPF_F_LINK;

/** What the list needs to know of a program. */
export interface MprogProg {
  readonly id: number;
  readonly type: string;
}

/** A BPF link owning one list entry. */
export interface MprogLink {
  readonly id: number;
  prog: MprogProg;
  /** Set while attached; cleared when detached or the device went away. */
  attached: boolean;
}

/** `relative_fd` / `relative_id`: an object (the fd case) or an id (with BPF_F_ID). */
export type Relative = MprogProg | MprogLink | number | undefined;

export interface AttachRequest {
  prog: MprogProg;
  /** Link-create: the link that will own the entry. */
  link?: MprogLink;
  flags?: number;
  relative?: Relative;
  expectedRevision?: number;
  /** BPF_F_REPLACE with prog-attach: the program to replace (replace_bpf_fd). */
  replace?: MprogProg;
}

export interface DetachRequest {
  /** The program to detach (attach_bpf_fd), if any. */
  prog?: MprogProg;
  flags?: number;
  relative?: Relative;
  expectedRevision?: number;
}

export interface QueryResult {
  attachFlags: 0;
  revision: number;
  count: number;
  progIds: number[];
  linkIds: number[];
}

interface Entry {
  prog: MprogProg;
  link: MprogLink | null;
}

/** Resolves ids (BPF_F_ID) to live programs and links. */
export interface MprogIds {
  prog(id: number): MprogProg | undefined;
  link(id: number): MprogLink | undefined;
}

function isLink(x: MprogProg | MprogLink): x is MprogLink {
  return 'prog' in x;
}

/** One attach point's program list (a bpf_mprog bundle). */
export class MprogList {
  private entries: Entry[] = [];
  /** The bundle's revision: starts at 1, +1 per successful change. */
  private rev = 1;
  private readonly ids: MprogIds;

  constructor(ids: MprogIds) {
    this.ids = ids;
  }

  get count(): number {
    return this.entries.length;
  }

  /** Programs in run order. */
  programs(): MprogProg[] {
    return this.entries.map((e) => e.prog);
  }

  /** Links owning entries, in list order. */
  links(): MprogLink[] {
    return this.entries.flatMap((e) => (e.link ? [e.link] : []));
  }

  /** The bundle revision (what attach compares `expected_revision` against). */
  get revision(): number {
    return this.rev;
  }

  /** Step 4 of attach/detach: the relative object named by flags + relative_fd/id. */
  private relative(flags: number, rel: Relative, type: string | undefined): Entry | 'none' | undefined {
    const byId = (flags & BPF_F_ID) !== 0;
    if (flags & BPF_F_LINK) {
      let link: MprogLink | undefined;
      if (byId) {
        if (typeof rel !== 'number') fail('EINVAL');
        link = this.ids.link(rel);
        if (!link) fail('ENOENT');
      } else {
        if (rel === undefined || rel === 0) fail('EINVAL');
        if (typeof rel === 'number') fail('EBADF');
        if (!isLink(rel)) fail('EINVAL');
        link = rel;
      }
      if (type !== undefined && link.prog.type !== type) fail('EINVAL');
      return this.entries.find((e) => e.link === link);
    }
    if (!byId && (rel === undefined || rel === 0)) return 'none';
    let prog: MprogProg | undefined;
    if (byId) {
      if (typeof rel !== 'number') fail('EINVAL');
      prog = this.ids.prog(rel);
      if (!prog) fail('ENOENT');
    } else {
      if (typeof rel === 'number') fail('EBADF');
      if (isLink(rel!)) fail('EINVAL');
      prog = rel as MprogProg;
    }
    if (type !== undefined && prog.type !== type) fail('EINVAL');
    return this.entries.find((e) => e.prog === prog);
  }

  /** Steps 6–7: BEFORE/AFTER positions, each of which must agree with the one already fixed. */
  private position(flags: number, rel: Entry | 'none' | undefined, fixed: number, forDetach: boolean): number {
    let idx = fixed;
    const agree = (cand: number): void => {
      if (idx !== -2 && idx !== cand) fail('ERANGE');
      idx = cand;
    };
    const total = this.entries.length;
    if (flags & BPF_F_BEFORE) {
      if (rel === undefined) fail('ENOENT');
      if (rel === 'none') agree(forDetach ? 0 : -1);
      else agree(this.entries.indexOf(rel) - 1);
    }
    if (flags & BPF_F_AFTER) {
      if (rel === undefined) fail('ENOENT');
      if (rel === 'none') agree(forDetach ? total - 1 : total);
      else agree(this.entries.indexOf(rel) + 1);
    }
    return idx;
  }

  /** BPF_PROG_ATTACH / BPF_LINK_CREATE (§5.2). Returns the new revision. */
  attach(r: AttachRequest): number {
    const flags = r.flags ?? 0;
    if (flags & ~ATTACH_FLAGS) fail('EINVAL');
    if (r.expectedRevision && r.expectedRevision !== this.rev) fail('ESTALE');
    if (this.entries.some((e) => e.prog === r.prog)) fail('EEXIST');
    const rel = this.relative(flags & ~BPF_F_REPLACE, r.relative, r.prog.type);
    let idx = -2; // -2: not determined
    let replacing = false;
    if (flags & BPF_F_REPLACE) {
      const at = this.entries.findIndex((e) => e.prog === r.replace);
      if (at < 0) fail('ENOENT');
      if (this.entries[at]!.link !== null && this.entries[at]!.link !== r.link) fail('EBUSY');
      idx = at;
      replacing = true;
    } else if (this.entries.length >= MPROG_MAX) {
      fail('ERANGE');
    }
    const before = (flags & BPF_F_BEFORE) !== 0;
    idx = this.position(flags, rel, idx, false);
    if (idx === -2) {
      if ((rel !== 'none' && rel !== undefined) || r.relative || flags) fail('EINVAL');
      idx = this.entries.length;
    }
    if (idx >= MPROG_MAX) fail('ERANGE');
    const entry: Entry = { prog: r.prog, link: r.link ?? null };
    const next = [...this.entries];
    if (replacing) next[idx] = entry;
    else if (idx === next.length) next.push(entry);
    else next.splice(before ? idx + 1 : idx, 0, entry);
    this.entries = next;
    if (r.link) r.link.attached = true;
    return ++this.rev;
  }

  /** BPF_PROG_DETACH (§5.3). Returns the removed program. */
  detach(r: DetachRequest): MprogProg {
    const flags = r.flags ?? 0;
    if (this.entries.length === 0) fail('ENOENT');
    if (flags & BPF_F_REPLACE || flags & ~ATTACH_FLAGS) fail('EINVAL');
    if (r.expectedRevision && r.expectedRevision !== this.rev) fail('ESTALE');
    const rel = this.relative(flags, r.relative, r.prog?.type);
    let idx = -2;
    if (r.prog) {
      idx = this.entries.findIndex((e) => e.prog === r.prog);
      if (idx < 0) fail('ENOENT');
      if (this.entries[idx]!.link) fail('EBUSY');
    }
    idx = this.position(flags, rel, idx, true);
    if (idx === -2) {
      if ((rel !== 'none' && rel !== undefined) || r.relative || flags) fail('EINVAL');
      idx = this.entries.length - 1;
    }
    if (idx < 0 || idx >= this.entries.length) fail('ERANGE');
    if (this.entries[idx]!.link) fail('EBUSY');
    return this.remove(idx);
  }

  private remove(idx: number): MprogProg {
    const e = this.entries[idx]!;
    this.entries = this.entries.filter((_, i) => i !== idx);
    this.rev++;
    return e.prog;
  }

  /** BPF_PROG_QUERY (§5.4): revision 1 while nothing is attached. `size` limits the ids (ENOSPC). */
  query(size = Infinity, o: { queryFlags?: number; attachFlags?: number } = {}): QueryResult {
    if (o.queryFlags || o.attachFlags) fail('EINVAL');
    const count = this.entries.length;
    const out: QueryResult = {
      attachFlags: 0, revision: count ? this.rev : 1, count,
      progIds: this.entries.slice(0, size).map((e) => e.prog.id),
      linkIds: this.entries.slice(0, size).map((e) => e.link?.id ?? 0),
    };
    if (size < count) fail('ENOSPC');
    return out;
  }

  /** Link update (§5.5): replaces the link's program in place. */
  updateLink(link: MprogLink, prog: MprogProg, old?: MprogProg): number {
    if (old && old !== link.prog) fail('EPERM');
    if (prog === link.prog) return this.rev;
    if (this.entries.length === 0) fail('ENOENT');
    const idx = this.entries.findIndex((e) => e.link === link);
    if (idx < 0) fail('ENOENT');
    if (this.entries.some((e) => e.prog === prog)) fail('EEXIST');
    this.entries = this.entries.map((e, i) => (i === idx ? { prog, link } : e));
    link.prog = prog;
    return ++this.rev;
  }

  /** Link detach or release: removes its entry (a no-op when not attached here). */
  detachLink(link: MprogLink): void {
    const idx = this.entries.findIndex((e) => e.link === link);
    if (idx >= 0) this.remove(idx);
    link.attached = false;
  }

  /**
   * The device went away (§5.6): the list empties; programs lose this reference, links
   * are left alive but detached. Returns the programs that were attached without a link.
   */
  clear(): MprogProg[] {
    const progs = this.entries.filter((e) => !e.link).map((e) => e.prog);
    for (const e of this.entries) if (e.link) e.link.attached = false;
    this.entries = [];
    return progs;
  }
}
