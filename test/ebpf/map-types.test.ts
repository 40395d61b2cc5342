/**
 * Queue, stack, bloom filter, DEVMAP_HASH, cpumap and LRU per-CPU hash maps (issue 17.12),
 * cgroup arrays, sockmaps and sockhashes (issue 25): creation errors and the user-space
 * operations with the kernel's errno, the verifier's check_map_func_compatibility, and a
 * cpumap redirect carried out by the emulator. What programs see is compared with the
 * kernel's recording in fixtures.test.ts (map_types.c, lru_percpu.c, cgroup_array.c,
 * sock_maps.c).
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as A from '../../src/abi.generated.js';
import { Emulator } from '../../src/emulator.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { BpfMap, type MapSpec } from '../../src/ebpf/maps.js';
import { verify } from '../../src/ebpf/verifier.js';
import { strerror } from '../../src/errors.js';
import { buildPacket } from '../../src/packet.js';
import { bpfSysUnavailable, kernelMapOps, type SysMap, type SysOp } from '../helpers/bpf-sys.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ workers: 1 });
});
afterEach(async () => {
  await emu.close();
});

const u32 = (v: number): Uint8Array => new Uint8Array(new Uint32Array([v]).buffer);
const NONE = new Uint8Array(0);
const err = (f: () => unknown): string => {
  try { f(); } catch (e) { return `${(e as { errno: string }).errno}: ${(e as Error).message}`; }
  return 'ok';
};
/** The errno with strerror's text: what the bpf syscall hands back when it sets no message. */
const plain = (errno: Parameters<typeof strerror>[0]): string => `${errno}: ${strerror(errno)}`;
const make = (o: Partial<MapSpec> & { type: MapSpec['type'] }): BpfMap => new BpfMap(emu.dp, { name: 'm', keySize: 0, valueSize: 4, maxEntries: 4, ...o });

describe('creation checks, in the kernel order', () => {
  it('queue and stack: queue_stack_map_alloc_check', () => {
    for (const type of ['queue', 'stack'] as const) {
      expect(err(() => make({ type, keySize: 4 }))).toBe(plain('EINVAL'));
      expect(err(() => make({ type, maxEntries: 0 }))).toBe(plain('EINVAL'));
      expect(err(() => make({ type, valueSize: 0 }))).toBe(plain('EINVAL'));
      expect(err(() => make({ type, flags: 1 }))).toBe(plain('EINVAL')); // BPF_F_NO_PREALLOC
      expect(err(() => make({ type, flags: 0x40 }))).toBe(plain('EINVAL')); // BPF_F_ZERO_SEED is a bloom flag
      expect(err(() => make({ type, flags: 0x80 | 0x100 }))).toBe(plain('EINVAL')); // read-only and write-only for programs
      expect(err(() => make({ type, valueSize: (1 << 22) + 1 }))).toBe(plain('E2BIG')); // KMALLOC_MAX_SIZE
      expect(err(() => make({ type, mapExtra: 1 }))).toBe(plain('EINVAL')); // map_extra is a bloom filter's
      expect(make({ type, flags: 0x4 | 0x80 }).type).toBe(type); // BPF_F_NUMA_NODE, BPF_F_RDONLY_PROG
    }
  });

  it('bloom filter: bloom_map_alloc (map_extra: up to 15 hash functions, 0 = 5)', () => {
    expect(err(() => make({ type: 'bloom_filter', keySize: 4 }))).toBe(plain('EINVAL'));
    expect(err(() => make({ type: 'bloom_filter', valueSize: 0 }))).toBe(plain('EINVAL'));
    expect(err(() => make({ type: 'bloom_filter', maxEntries: 0 }))).toBe(plain('EINVAL'));
    expect(err(() => make({ type: 'bloom_filter', mapExtra: 16 }))).toBe(plain('EINVAL'));
    expect(err(() => make({ type: 'bloom_filter', flags: 1 }))).toBe(plain('EINVAL'));
    const words = (m: BpfMap): number[] => [A.MAP_BLOOM_MASK, A.MAP_BLOOM_HASHES].map((o) => emu.dp.view().getUint32(m.record + o, true));
    // max_entries × hashes × 7/5 bits, at least 64, rounded up to a power of two
    expect(words(make({ type: 'bloom_filter', maxEntries: 1, mapExtra: 1 }))).toEqual([63, 1]);
    expect(words(make({ type: 'bloom_filter', maxEntries: 16 }))).toEqual([127, 5]);
    expect(words(make({ type: 'bloom_filter', maxEntries: 1000, mapExtra: 3 }))).toEqual([8191, 3]); // 4200 bits
  });

  it('cpumap: cpu_map_alloc; DEVMAP_HASH: dev_map_init_map (read-only for programs)', () => {
    expect(err(() => make({ type: 'cpumap', keySize: 8 }))).toBe(plain('EINVAL'));
    expect(err(() => make({ type: 'cpumap', keySize: 4, valueSize: 12 }))).toBe(plain('EINVAL'));
    expect(err(() => make({ type: 'cpumap', keySize: 4, flags: 1 }))).toBe(plain('EINVAL'));
    expect(err(() => make({ type: 'cpumap', keySize: 4, maxEntries: 257 }))).toBe(plain('E2BIG')); // NR_CPUS
    expect(make({ type: 'cpumap', keySize: 4, valueSize: 8 }).type).toBe('cpumap');
    expect(err(() => make({ type: 'devmap_hash', keySize: 2 }))).toBe(plain('EINVAL'));
    expect(err(() => make({ type: 'devmap_hash', keySize: 4, valueSize: 6 }))).toBe(plain('EINVAL'));
    expect(err(() => make({ type: 'devmap_hash', keySize: 4, flags: 0x80 }))).toBe(plain('EINVAL'));
    const d = make({ type: 'devmap_hash', keySize: 4 });
    expect([d.flags, d.readonlyProg]).toEqual([0x80, true]);
  });

  it('LRU hashes: BPF_F_NO_COMMON_LRU only on them, never BPF_F_NO_PREALLOC (ENOTSUPP)', () => {
    expect(make({ type: 'lru_percpu_hash', keySize: 4, flags: 2 }).flags).toBe(2);
    expect(err(() => make({ type: 'hash', keySize: 4, flags: 2 }))).toBe(plain('EINVAL'));
    expect(err(() => make({ type: 'lru_percpu_hash', keySize: 4, flags: 1 }))).toBe('ENOTSUPP: Unknown error 524');
  });
});

describe('user space: BPF_MAP_UPDATE_ELEM with no key pushes, LOOKUP peeks, LOOKUP_AND_DELETE pops', () => {
  it('queue: first in, first out; full: E2BIG, or BPF_EXIST replaces the oldest; empty: ENOENT', () => {
    const q = make({ type: 'queue', maxEntries: 3 });
    for (const v of [1, 2, 3]) q.update(NONE, u32(v));
    expect(err(() => q.update(NONE, u32(4)))).toBe(plain('E2BIG'));
    expect(err(() => q.update(NONE, u32(4), 1))).toBe(plain('EINVAL')); // BPF_NOEXIST
    q.update(NONE, u32(4), 2);
    expect(q.lookup(NONE)).toEqual(u32(2));
    expect([1, 2, 3, 4].map(() => q.lookupAndDelete(NONE))).toEqual([u32(2), u32(3), u32(4), undefined]);
    expect(q.lookup(NONE)).toBeUndefined();
    // no keys: a key is EINVAL, and there is nothing to iterate or delete
    expect(err(() => q.lookup(u32(0)))).toBe(plain('EINVAL'));
    expect(err(() => q.delete(NONE))).toBe(plain('EINVAL'));
    expect(q.keys()).toEqual([]);
  });

  it('stack: last in, first out; BPF_EXIST on a full one drops the oldest', () => {
    const s = make({ type: 'stack', maxEntries: 3 });
    for (const v of [1, 2, 3]) s.update(NONE, u32(v));
    s.update(NONE, u32(4), 2);
    expect(s.lookup(NONE)).toEqual(u32(4));
    expect([1, 2, 3, 4].map(() => s.lookupAndDelete(NONE))).toEqual([u32(4), u32(3), u32(2), undefined]);
  });

  it('bloom filter: push adds, lookup tests the value given; no pop, delete or iteration', () => {
    const b = make({ type: 'bloom_filter', flags: 0x40, maxEntries: 100 });
    for (let v = 0; v < 50; v++) b.update(NONE, u32(v * 3));
    for (let v = 0; v < 50; v++) expect(b.lookup(NONE, u32(v * 3))).toEqual(u32(v * 3));
    const absent = Array.from({ length: 200 }, (_, v) => 1000 + v).filter((v) => b.lookup(NONE, u32(v)) === undefined);
    expect(absent.length).toBeGreaterThan(150); // (some false positives, as many as the kernel's bits give)
    expect(err(() => b.update(NONE, u32(1), 2))).toBe(plain('EINVAL'));
    expect(err(() => b.lookup(NONE))).toBe(plain('EINVAL'));
    expect(err(() => b.delete(NONE))).toBe(plain('EOPNOTSUPP'));
    expect(err(() => b.lookupAndDelete(NONE))).toBe('ENOTSUPP: Unknown error 524');
  });

  it("bloom filter's hash seed: the emulator's random u32 (by its seed), 0 with BPF_F_ZERO_SEED", async () => {
    const seed = (e: Emulator, flags: number): number => e.dp.view().getUint32(new BpfMap(e.dp, { name: 'b', type: 'bloom_filter', keySize: 0, valueSize: 4, maxEntries: 8, flags }).record + A.MAP_BLOOM_SEED, true);
    const other = await Emulator.create({ seed: 7 });
    const again = await Emulator.create({ seed: 7 });
    try {
      expect(seed(other, 0x40)).toBe(0);
      expect(seed(other, 0)).toBe(seed(again, 0));
      expect(seed(other, 0)).not.toBe(seed(emu, 0));
    } finally {
      await other.close();
      await again.close();
    }
  });

  it('cpumap: cpu_map_update_elem (a CPU is a dataplane thread; qsize 0 empties it)', () => {
    const c = make({ type: 'cpumap', keySize: 4, valueSize: 8 });
    const val = (qsize: number, fd = 0): Uint8Array => new Uint8Array(new Uint32Array([qsize, fd]).buffer);
    expect(err(() => c.update(u32(4), val(64)))).toBe(plain('E2BIG'));
    expect(err(() => c.update(u32(0), val(64), 1))).toBe(plain('EEXIST'));
    expect(err(() => c.update(u32(0), val(16385)))).toBe(plain('EOVERFLOW'));
    expect(err(() => c.update(u32(2), val(64)))).toBe(plain('ENODEV')); // workers: 1 → CPUs 0 and 1
    expect(err(() => c.update(u32(1), val(64, 5)))).toMatch(/^EOPNOTSUPP: cpumap programs/);
    c.update(u32(1), val(64));
    expect(c.lookup(u32(1))).toEqual(val(64));
    expect(c.lookup(u32(0))).toBeUndefined();
    c.update(u32(1), val(0));
    expect(c.lookup(u32(1))).toBeUndefined();
    c.update(u32(1), val(8));
    c.delete(u32(1));
    c.delete(u32(1));
    expect(c.lookup(u32(1))).toBeUndefined();
    expect(err(() => c.delete(u32(4)))).toBe(plain('EINVAL'));
  });

  it('DEVMAP_HASH: any u32 key; ifindex 0 is EINVAL; BPF_EXIST inserts too; full: E2BIG', () => {
    const d = make({ type: 'devmap_hash', keySize: 4, maxEntries: 2 });
    expect(err(() => d.update(u32(9), u32(0)))).toBe(plain('EINVAL'));
    d.update(u32(0xdead0000), u32(3), 2);
    expect(d.lookup(u32(0xdead0000))).toEqual(u32(3));
    expect(err(() => d.update(u32(0xdead0000), u32(4), 1))).toBe(plain('EEXIST'));
    d.update(u32(7), u32(4));
    expect(err(() => d.update(u32(8), u32(4)))).toBe(plain('E2BIG'));
    d.delete(u32(7));
    expect(err(() => d.delete(u32(7)))).toBe(plain('ENOENT'));
  });

  it('LRU per-CPU hash: one value per thread; lookup-and-delete takes them all', () => {
    const m = make({ type: 'lru_percpu_hash', keySize: 4, valueSize: 4 });
    expect(m.copies).toBe(2);
    m.update(u32(1), [u32(5), u32(6)]);
    expect(m.lookup(u32(1))).toEqual([u32(5), u32(6)]);
    expect(m.lookupAndDelete(u32(1))).toEqual([u32(5), u32(6)]);
    expect(m.lookup(u32(1))).toBeUndefined();
    expect(m.lookupAndDelete(u32(1))).toBeUndefined();
    expect(err(() => make({ type: 'array', keySize: 4 }).lookupAndDelete(u32(0)))).toBe('ENOTSUPP: Unknown error 524');
  });
});

describe("the verifier's check_map_func_compatibility", () => {
  /** `lddw r1, map 0` (BPF_PSEUDO_MAP_FD), a key and a value on the stack, then `call id`. */
  const prog = (id: number): Uint8Array => {
    const insns = assemble(`lddw %r1, 0\nmov %r2, %r10\nadd %r2, -8\nstdw [%r10-8], 0\nmov %r3, %r10\nadd %r3, -16\nstdw [%r10-16], 0\nmov %r4, 0\ncall ${id}\nmov %r0, 2\nexit`);
    insns[1] = (insns[1]! & 0x0f) | (1 << 4);
    return insns;
  };
  const load = (type: number, id: number, keySize = 4): string => {
    try {
      verify(prog(id), { type: 'xdp', maps: [{ kind: 'other', keySize, valueSize: 4, maxEntries: 4, type }] });
      return 'ok';
    } catch (e) {
      return `${(e as { errno: string }).errno}: ${(e as Error).message}`;
    }
  };
  it('which helpers each map type may be passed to, and which maps each helper takes', () => {
    expect(load(A.BPF_MAP_TYPE_CPUMAP, 1)).toBe('EINVAL: 9: cannot pass map_type 16 into func bpf_map_lookup_elem#1');
    expect(load(A.BPF_MAP_TYPE_DEVMAP_HASH, 2)).toBe('EINVAL: 9: cannot pass map_type 25 into func bpf_map_update_elem#2');
    expect(load(A.BPF_MAP_TYPE_DEVMAP_HASH, 1)).toBe('ok');
    expect(load(A.BPF_MAP_TYPE_BLOOM_FILTER, 88, 0)).toBe('EINVAL: 9: cannot pass map_type 30 into func bpf_map_pop_elem#88');
    expect(load(A.BPF_MAP_TYPE_BLOOM_FILTER, 89, 0)).toBe('ok');
    expect(load(A.BPF_MAP_TYPE_QUEUE, 88, 0)).toBe('ok');
    expect(load(A.BPF_MAP_TYPE_HASH, 87)).toBe('EINVAL: 9: cannot pass map_type 1 into func bpf_map_push_elem#87');
    // a queue's key has no bytes: the lookup is refused before the map check
    expect(load(A.BPF_MAP_TYPE_QUEUE, 1, 0)).toBe('EACCES: 9: invalid zero-sized read');
  });
});

describe('XDP_REDIRECT into a cpumap', () => {
  const frame = (): Uint8Array => buildPacket({ eth: { dst: emu.device('init', 'eth0').mac, src: '02:00:00:00:00:09' }, ipv4: { src: '192.168.1.2', dst: '192.168.1.1' }, udp: { sport: 1, dport: 9 }, payload: new Uint8Array(8) });
  const rx = (thread: number, slot: number): bigint => emu.dp.view().getBigUint64(emu.dp.countersAddr(thread, slot) + A.C_RX_PACKETS * 8, true);

  it.each([['compiled', true], ['interpreter', false]] as const)('%s: the frame goes to that thread, which receives it into the stack; an empty slot is XDP_ABORTED', async (_engine, jit) => {
    emu.addNic({ name: 'eth0', rxQueues: 1 });
    emu.setLink('init', 'eth0', { up: true });
    const eth0 = emu.device('init', 'eth0');
    const cpus = make({ type: 'cpumap', keySize: 4 });
    const seen: number[] = [];
    emu.onReceive((dev, f) => { if (dev === eth0) seen.push(f.length); });
    for (const cpu of [1, 0]) {
      cpus.update(u32(cpu), u32(128));
      const p = emu.loadProgram({ name: 'c', type: 'xdp', insns: assemble(`lddw %r1, ${cpus.record}\nmov %r2, ${cpu}\nmov %r3, 0\ncall 51\nexit`), maps: [cpus.record], jit });
      expect(p.jit.slot !== 0).toBe(jit);
      emu.setXdp('init', 'eth0', p);
      const before = [rx(0, eth0.slot), rx(1, eth0.slot)];
      emu.wireIn('init', 'eth0', frame());
      emu.wireIn('init', 'eth0', frame());
      await emu.settle();
      expect([rx(0, eth0.slot) - before[0]!, rx(1, eth0.slot) - before[1]!]).toEqual(cpu === 1 ? [0n, 2n] : [2n, 0n]);
      cpus.delete(u32(cpu));
    }
    expect(seen.length).toBe(4);
    // The slot emptied: bpf_redirect_map answers its fallback, XDP_ABORTED (0), a drop counted by reason.
    emu.wireIn('init', 'eth0', frame());
    await emu.settle();
    expect(seen.length).toBe(4);
    expect(emu.stats(eth0).dropReasons).toEqual({ XDP_ABORTED: 1n });
  });
});

/**
 * Cgroup arrays, sockmaps and sockhashes (issue 25). Each table row is one map: its
 * creation and a list of user-space operations, with what each answers. nkemu's BpfMap
 * must answer the table; so must the host kernel's bpf(2) (test/helpers/bpf-sys.ts, python3
 * ctypes: bpftool cannot pass the fds these maps take), where it runs. What nkemu cannot
 * be is written [nkemu, kernel]: an fd that is open but neither a cgroup nor a socket
 * (/dev/null) — nkemu has no file descriptors, so every fd number is EBADF there; the
 * kernel's sockmap says ENOTSOCK; and flags other than BPF_ANY, BPF_NOEXIST and BPF_EXIST,
 * which nkemu's update refuses (EINVAL) before it looks at the map. A cgroup goes in as
 * nkemu's setCgroup(index, '/').
 */
describe('cgroup arrays, sockmaps and sockhashes: creation and user-space operations, as the kernel answers them', () => {
  type Want = string | [nkemu: string, kernel: string];
  type Row = Omit<SysMap, 'ops'> & { ops?: [SysOp, Want][] };
  const k = (i: number): number[] => [i & 0xff, (i >> 8) & 0xff, 0, 0];
  const CLOSED = { fd: 'closed' } as const, DEVNULL = { fd: 'devnull' } as const, CGROUP = { fd: 'cgroup' } as const;
  const create = (type: number, keySize: number, valueSize: number, maxEntries: number, flags: number, want: string): [Row, Want[]] =>
    [{ type, keySize, valueSize, maxEntries, flags }, [want]];

  // fd_array_map_alloc_check / array_map_alloc_check; sock_map_alloc; sock_hash_alloc
  const CREATE: [Row, Want[]][] = [
    create(8, 4, 4, 4, 0, 'ok'), create(8, 4, 8, 4, 0, 'EINVAL'), create(8, 8, 4, 4, 0, 'EINVAL'), create(8, 2, 4, 4, 0, 'EINVAL'),
    create(8, 4, 4, 0, 0, 'EINVAL'), create(8, 4, 0, 4, 0, 'EINVAL'),
    // BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_WRONLY; not BPF_F_NO_PREALLOC, ZERO_SEED, RDONLY_PROG, WRONLY_PROG, MMAPABLE
    create(8, 4, 4, 4, 4, 'ok'), create(8, 4, 4, 4, 8, 'ok'), create(8, 4, 4, 4, 16, 'ok'),
    create(8, 4, 4, 4, 1, 'EINVAL'), create(8, 4, 4, 4, 64, 'EINVAL'), create(8, 4, 4, 4, 128, 'EINVAL'), create(8, 4, 4, 4, 256, 'EINVAL'), create(8, 4, 4, 4, 1024, 'EINVAL'),
    create(15, 4, 4, 4, 0, 'ok'), create(15, 4, 8, 4, 0, 'ok'), create(15, 4, 2, 4, 0, 'EINVAL'), create(15, 4, 16, 4, 0, 'EINVAL'),
    create(15, 8, 4, 4, 0, 'EINVAL'), create(15, 4, 4, 0, 0, 'EINVAL'), create(15, 4, 4, 4, 4, 'ok'), create(15, 4, 4, 4, 16, 'ok'),
    create(15, 4, 4, 4, 1, 'EINVAL'), create(15, 4, 4, 4, 128, 'EINVAL'), create(15, 4, 4, 4, 1024, 'EINVAL'),
    create(18, 4, 4, 4, 0, 'ok'), create(18, 4, 8, 4, 0, 'ok'), create(18, 1, 8, 4, 0, 'ok'), create(18, 512, 8, 4, 0, 'ok'),
    create(18, 0, 8, 4, 0, 'EINVAL'), create(18, 513, 8, 4, 0, 'E2BIG'), create(18, 513, 2, 4, 0, 'EINVAL'), create(18, 4, 2, 4, 0, 'EINVAL'),
    create(18, 4, 4, 0, 0, 'EINVAL'), create(18, 4, 4, 4, 1, 'EINVAL'), create(18, 4, 4, 4, 128, 'EINVAL'), create(18, 4, 4, 4, 8, 'ok'),
  ];

  const OPS: Row[] = [
    { type: 8, keySize: 4, valueSize: 4, maxEntries: 4, ops: [
      // no value to read from user space (no map_fd_sys_lookup_elem), whatever the key
      [{ op: 'lookup', key: k(0) }, 'ENOTSUPP'], [{ op: 'lookup', key: k(99) }, 'ENOTSUPP'], [{ op: 'lookupAndDelete', key: k(0) }, 'ENOTSUPP'],
      [{ op: 'delete', key: k(0) }, 'ENOENT'], [{ op: 'delete', key: k(99) }, 'E2BIG'],
      [{ op: 'next', key: null }, 'ok:00000000'], [{ op: 'next', key: k(99) }, 'ok:00000000'], [{ op: 'next', key: k(1) }, 'ok:02000000'], [{ op: 'next', key: k(3) }, 'ENOENT'],
      // bpf_fd_array_map_update_elem: flags, then the index, then the fd (cgroup_get_from_fd)
      [{ op: 'update', key: k(0), value: CLOSED }, 'EBADF'], [{ op: 'update', key: k(0), value: DEVNULL }, 'EBADF'],
      [{ op: 'update', key: k(4), value: CLOSED }, 'E2BIG'], [{ op: 'update', key: k(0), value: CLOSED, flags: 1 }, 'EINVAL'],
      [{ op: 'update', key: k(0), value: CLOSED, flags: 2 }, 'EINVAL'], [{ op: 'update', key: k(99), value: CLOSED, flags: 1 }, 'EINVAL'],
      [{ op: 'update', key: k(0), value: CGROUP }, 'ok'], [{ op: 'update', key: k(0), value: CGROUP, flags: 2 }, 'EINVAL'],
      [{ op: 'update', key: k(9), value: CGROUP }, 'E2BIG'], [{ op: 'update', key: k(0), value: CGROUP }, 'ok'], [{ op: 'update', key: k(2), value: CGROUP }, 'ok'],
      [{ op: 'lookup', key: k(0) }, 'ENOTSUPP'], [{ op: 'delete', key: k(0) }, 'ok'], [{ op: 'delete', key: k(0) }, 'ENOENT'], [{ op: 'delete', key: k(2) }, 'ok'],
    ] },
    ...[4, 8].map((valueSize): Row => ({ type: 15, keySize: 4, valueSize, maxEntries: 4, ops: [
      // sock_map_lookup_sys: a socket's cookie, in 8 bytes only
      [{ op: 'lookup', key: k(0) }, valueSize === 8 ? 'ENOENT' : 'ENOSPC'], [{ op: 'lookup', key: k(99) }, valueSize === 8 ? 'ENOENT' : 'ENOSPC'],
      [{ op: 'lookupAndDelete', key: k(0) }, 'ENOTSUPP'],
      // sock_map_delete_elem: an empty slot and one past the end alike
      [{ op: 'delete', key: k(0) }, 'EINVAL'], [{ op: 'delete', key: k(99) }, 'EINVAL'],
      [{ op: 'next', key: null }, 'ok:00000000'], [{ op: 'next', key: k(2) }, 'ok:03000000'], [{ op: 'next', key: k(3) }, 'ENOENT'],
      // sock_map_update_elem_sys: BPF_F_LOCK, an fd past INT_MAX, then the socket (before the slot and the flags)
      [{ op: 'update', key: k(0), value: CLOSED }, 'EBADF'], [{ op: 'update', key: k(99), value: CLOSED }, 'EBADF'],
      // (BPF_EXIST | BPF_NOEXIST: the kernel looks at the socket first; nkemu's update takes the three flags only)
      [{ op: 'update', key: k(0), value: CLOSED, flags: 3 }, ['EINVAL', 'EBADF']], [{ op: 'update', key: k(0), value: CLOSED, flags: 4 }, 'EINVAL'],
      [{ op: 'update', key: k(0), value: [0, 0, 0, 0x80, 0, 0, 0, 0].slice(0, valueSize) }, 'EINVAL'],
      // (fd 1001, or in 8 bytes 0x1000003e9: past INT_MAX)
      [{ op: 'update', key: k(0), value: [0xe9, 3, 0, 0, 1, 0, 0, 0].slice(0, valueSize) }, valueSize === 8 ? 'EINVAL' : 'EBADF'],
      [{ op: 'update', key: k(0), value: DEVNULL }, ['EBADF', 'ENOTSOCK']], [{ op: 'update', key: k(0), value: CGROUP }, ['EBADF', 'ENOTSOCK']],
    ] })),
    ...[4, 8].map((valueSize): Row => ({ type: 18, keySize: 4, valueSize, maxEntries: 4, ops: [
      [{ op: 'lookup', key: k(0) }, valueSize === 8 ? 'ENOENT' : 'ENOSPC'], [{ op: 'lookupAndDelete', key: k(0) }, 'ENOTSUPP'],
      [{ op: 'delete', key: k(0) }, 'ENOENT'], [{ op: 'next', key: null }, 'ENOENT'], [{ op: 'next', key: k(0) }, 'ENOENT'],
      [{ op: 'update', key: k(0), value: CLOSED }, 'EBADF'], [{ op: 'update', key: k(0), value: CLOSED, flags: 4 }, 'EINVAL'],
      [{ op: 'update', key: k(0), value: DEVNULL }, ['EBADF', 'ENOTSOCK']],
    ] })),
  ];

  const side = (w: Want, kernel: boolean): string => (typeof w === 'string' ? w : w[kernel ? 1 : 0]);
  const sys = (r: Row): SysMap => ({ ...r, ops: r.ops?.map(([op]) => op) });
  const want = (r: Row, kernel: boolean): string[] => ['ok', ...(r.ops ?? []).map(([, w]) => side(w, kernel))];

  /** The same calls on nkemu's BpfMap. */
  function nkemuOps(s: SysMap): string[] {
    const name = (e: unknown): string => (e as { errno: string }).errno;
    let m: BpfMap;
    try {
      m = new BpfMap(emu.dp, { name: 'm', type: s.type, keySize: s.keySize, valueSize: s.valueSize, maxEntries: s.maxEntries, flags: s.flags });
    } catch (e) {
      return [name(e)];
    }
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    const out = ['ok'];
    for (const op of s.ops ?? []) {
      try {
        if (op.op === 'next') {
          // (BPF_MAP_GET_NEXT_KEY: the key after `key` in keys(), the first for none or one not there)
          const keys = m.keys().map(hex);
          const at = op.key === null ? -1 : keys.indexOf(hex(new Uint8Array(op.key)));
          const next = keys[at + 1];
          out.push(next === undefined ? 'ENOENT' : `ok:${next}`);
        } else if (op.op === 'update') {
          const v = op.value;
          if (!Array.isArray(v) && v.fd === 'cgroup' && m.type === 'cgroup_array') m.setCgroup(new DataView(new Uint8Array(op.key).buffer).getUint32(0, true), '/', op.flags);
          else {
            // (an fd number: nkemu has none open; /dev/null's is 3 in a fresh process)
            const fd = Array.isArray(v) ? v : [v.fd === 'closed' ? 0xe8 : 3, v.fd === 'closed' ? 3 : 0, 0, 0, 0, 0, 0, 0].slice(0, s.valueSize);
            m.update(new Uint8Array(op.key), new Uint8Array(fd), op.flags);
          }
          out.push('ok');
        } else if (op.op === 'delete') {
          m.delete(new Uint8Array(op.key));
          out.push('ok');
        } else {
          const v = op.op === 'lookup' ? m.lookup(new Uint8Array(op.key)) : m.lookupAndDelete(new Uint8Array(op.key));
          out.push(v === undefined ? 'ENOENT' : `ok:${hex(v as Uint8Array)}`);
        }
      } catch (e) {
        out.push(name(e));
      }
    }
    m.close();
    return out;
  }

  it('creation checks (nkemu)', () => {
    expect(CREATE.map(([r]) => nkemuOps(sys(r)))).toEqual(CREATE.map(([, w]) => w.map((x) => side(x, false))));
  });

  it('lookup, update, delete, lookup-and-delete and next key (nkemu)', () => {
    expect(OPS.map((r) => nkemuOps(sys(r)))).toEqual(OPS.map((r) => want(r, false)));
  });

  it.skipIf(bpfSysUnavailable() !== undefined)(`the host kernel answers the same (bpf(2) through python3)${bpfSysUnavailable() ? `: skipped, ${bpfSysUnavailable()}` : ''}`, () => {
    expect(kernelMapOps(CREATE.map(([r]) => sys(r)))).toEqual(CREATE.map(([, w]) => w.map((x) => side(x, true))));
    expect(kernelMapOps(OPS.map(sys))).toEqual(OPS.map((r) => want(r, true)));
  });

  it('setCgroup: nkemu has one cgroup, its root; flags other than BPF_ANY and a slot past the end as an update with its fd', () => {
    const cg = make({ type: 'cgroup_array', keySize: 4 });
    expect(err(() => cg.setCgroup(0, '/sys'))).toMatch(/^ENOENT: no cgroup '\/sys'/);
    expect(err(() => cg.setCgroup(4, '/'))).toBe(plain('E2BIG'));
    expect(err(() => cg.setCgroup(0, '/', 1))).toBe(plain('EINVAL'));
    cg.setCgroup(1, '/');
    cg.setCgroup(1, undefined);
    expect(err(() => cg.delete(u32(1)))).toBe(plain('ENOENT'));
    expect(err(() => make({ type: 'sockmap', keySize: 4 }).setCgroup(0, '/'))).toBe(plain('EINVAL'));
  });
});

describe("the verifier: what a program may pass a cgroup array, sockmap or sockhash to (check_map_func_compatibility, resolve_map_arg_type)", () => {
  const load = (type: number, id: number, insns?: string): string => {
    const text = insns ?? `lddw %r1, 0\nmov %r2, %r10\nadd %r2, -8\nstdw [%r10-8], 0\nmov %r3, %r10\nadd %r3, -16\nstdw [%r10-16], 0\nmov %r4, 0\ncall ${id}\nmov %r0, 2\nexit`;
    const p = assemble(text);
    p[1] = (p[1]! & 0x0f) | (1 << 4);
    try {
      verify(p, { type: 'sched_cls', maps: [{ kind: 'other', keySize: 4, valueSize: 8, maxEntries: 4, type }] });
      return 'ok';
    } catch (e) {
      return `${(e as { errno: string }).errno}: ${(e as Error).message}`;
    }
  };
  it('a cgroup array: bpf_skb_under_cgroup only; a sockmap or sockhash: lookup, delete, and update with a socket', () => {
    // bpf_skb_under_cgroup(skb, map, 0)
    const under = (type: number): string => {
      const u = assemble('mov %r6, %r1\nlddw %r2, 0\nmov %r1, %r6\nmov %r3, 0\ncall 33\nexit');
      u[9] = (u[9]! & 0x0f) | (1 << 4);
      try {
        verify(u, { type: 'sched_cls', maps: [{ kind: 'other', keySize: 4, valueSize: 4, maxEntries: 4, type }] });
        return 'ok';
      } catch (e) {
        return `${(e as { errno: string }).errno}: ${(e as Error).message}`;
      }
    };
    expect(under(A.BPF_MAP_TYPE_CGROUP_ARRAY)).toBe('ok');
    expect(under(A.BPF_MAP_TYPE_ARRAY)).toBe('EINVAL: 5: cannot pass map_type 2 into func bpf_skb_under_cgroup#33');
    expect(load(A.BPF_MAP_TYPE_CGROUP_ARRAY, 1)).toBe('EINVAL: 9: cannot pass map_type 8 into func bpf_map_lookup_elem#1');
    expect(load(A.BPF_MAP_TYPE_CGROUP_ARRAY, 3)).toBe('EINVAL: 9: cannot pass map_type 8 into func bpf_map_delete_elem#3');
    for (const t of [A.BPF_MAP_TYPE_SOCKMAP, A.BPF_MAP_TYPE_SOCKHASH]) {
      expect(load(t, 1)).toBe('ok');
      expect(load(t, 3)).toBe('ok');
      // (a value on the stack is no socket)
      expect(load(t, 2)).toBe('EACCES: 9: R3 type=fp expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_');
      // (the arguments come first, as the kernel checks them: its answers on 6.18)
      expect(load(t, 87)).toBe('EACCES: 9: R2 type=fp expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_');
      expect(load(t, 88)).toBe('EINVAL: 9: invalid arg_type for sockmap/sockhash');
    }
  });
});
