/**
 * The emulated bpffs at /sys/fs/bpf (BPF_OBJ_PIN / BPF_OBJ_GET): path → pinned program or
 * map, one per emulator. bpftool's `pin`, `pinned PATH` and `pinmaps` use it, and so does
 * the object loader for maps an object asks to have pinned (iproute2's `struct
 * bpf_elf_map` pinning), so a map pinned by `ip link set DEV xdp obj F.o` is the one
 * `bpftool map show pinned PATH` finds.
 */

/** A pinned program or map (program.ts names the types: `Pinned`). */
export type PinnedOf<P, M> = { kind: 'prog'; prog: P } | { kind: 'map'; map: M };

export const BPFFS_ROOT = '/sys/fs/bpf';

/**
 * iproute2's tree under the bpffs (lib/bpf_legacy.c, bpf_gen_hierarchy): `tc/` holds
 * `globals/`, and `xdp` and `ip` are symbolic links to `tc/`, so the three name the same
 * pins.
 */
export const IPROUTE2_DIR = `${BPFFS_ROOT}/tc`;
export const IPROUTE2_GLOBALS = `${IPROUTE2_DIR}/globals`;
const IPROUTE2_LINKS = ['xdp', 'ip'];

export class Bpffs<P, M extends { hold(): void; put(): void }> {
  private readonly objs = new Map<string, PinnedOf<P, M>>();
  /** iproute2 made its tree (the `xdp` and `ip` links exist). */
  private iproute2Tree = false;

  /** `path` with `.`/`..`/empty parts resolved and iproute2's links followed. */
  resolve(path: string): string {
    const parts: string[] = [];
    for (const p of path.split('/')) {
      if (p === '' || p === '.') continue;
      if (p === '..') parts.pop();
      else parts.push(p);
    }
    let out = `/${parts.join('/')}`;
    if (this.iproute2Tree) {
      for (const l of IPROUTE2_LINKS) {
        const from = `${BPFFS_ROOT}/${l}`;
        if (out === from || out.startsWith(`${from}/`)) out = IPROUTE2_DIR + out.slice(from.length);
      }
    }
    return out;
  }

  /** iproute2's bpf_get_work_dir: makes `tc/globals` and the `xdp` and `ip` links to `tc/`. */
  makeIproute2Tree(): void {
    this.iproute2Tree = true;
  }

  get(path: string): PinnedOf<P, M> | undefined {
    return this.objs.get(this.resolve(path));
  }

  has(path: string): boolean {
    return this.objs.has(this.resolve(path));
  }

  /** Pins `obj` at `path` (which must be free); a pinned map is held until unpinned. */
  pin(path: string, obj: PinnedOf<P, M>): void {
    const at = this.resolve(path);
    if (this.objs.has(at)) throw new Error(`bpffs: ${at} exists`);
    this.objs.set(at, obj);
    if (obj.kind === 'map') obj.map.hold();
  }

  /** Removes the pin at `path` (unlink(2)); false when there is none. */
  unpin(path: string): boolean {
    const at = this.resolve(path);
    const e = this.objs.get(at);
    if (!e) return false;
    this.objs.delete(at);
    if (e.kind === 'map') e.map.put();
    return true;
  }

  /** Every pin, by resolved path. */
  entries(): IterableIterator<[string, PinnedOf<P, M>]> {
    return this.objs.entries();
  }
}
