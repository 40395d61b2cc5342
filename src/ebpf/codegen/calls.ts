/** Helper calls (the dispatcher, and the helpers that run inline), bpf_loop, bpf-to-bpf calls. (Methods of Gen: gen.ts.) */

import * as A from '../../abi.generated.js';
import type { Insn } from './cfg.js';
import { PACKET_MOVING_HELPERS, TAIL_CALL } from '../helpers.js';
import type { BatchMap } from './bounds.js';
import { EMPTY, I32, I64, Op } from './wasm.js';
import { ADDR, ATOMIC_LOAD32, BUD, CODE, DEPTH, EA, EFAULT, EINVAL, FPC, F_DELETE, F_HELPER, F_LOOKUP, F_SUB0, F_TAIL, F_UPDATE, Fn, G_BUDGET, G_FAULT, LABEL, PLAIN, R, REC, SCR, SPARE, TAIL_DONE, TC_ACT_REDIRECT, TC_ACT_SHOT, TMP, XDP_ABORTED, XDP_REDIRECT, XDP_META_MAX, XDP_MIN_HEADROOM } from './locals.js';
import type { CodegenMap } from './options.js';
import type { Gen } from './gen.js';

declare module './gen.js' {
  interface Gen {
    callHelper(i: Insn, pc: number): void;
    valueMaps(): Map<number, BatchMap>;
    programMap(): CodegenMap | undefined;
    inlineArrayLookup(pc: number): boolean;
    inlineHashLookup(pc: number): boolean;
    directLookup(pc: number): boolean;
    directChange(id: number, pc: number): boolean;
    inlineXdpAdjust(id: number): void;
    inlineSkbBytes(store: boolean, pc: number): boolean;
    inlineSmall(id: number): void;
    inlineRedirect(peer: boolean, xdp: boolean): void;
    inlineRedirectMap(): boolean;
    inlineLoop(k: number, pc: number): void;
    tailCall(i: Insn, pc: number): void;
    helperCall(i: Insn, pc: number, id?: number): void;
    callLocal(i: Insn, pc: number): void;
  }
}

/**
 * A copy of `len` bytes (not 1, 2, 4 or 8) as at most three loads of 8, 4 or 2 bytes at
 * [offset, size] (the last one overlapping the one before where len is no sum of them),
 * or undefined past 24 bytes.
 */
export function chunks(len: number): [number, number][] | undefined {
  if (len === 3) return [[0, 2], [1, 2]];
  if (len < 8) return [[0, 4], [len - 4, 4]];
  if (len < 16) return [[0, 8], [len - 8, 8]];
  if (len <= 24) return len === 16 ? [[0, 8], [8, 8]] : [[0, 8], [8, 8], [len - 8, 8]];
  return undefined;
}

/** Installed on Gen.prototype by compile.ts. */
export const callMethods = {
  callHelper(this: Gen, i: Insn, pc: number): void {
    if (i.imm === Fn.MapLookup && (this.inlineArrayLookup(pc) || this.inlineHashLookup(pc) || this.directLookup(pc))) return;
    if ((i.imm === Fn.MapUpdate || i.imm === Fn.MapDelete) && this.directChange(i.imm, pc)) return;
    if (i.imm === Fn.XdpAdjustHead || i.imm === Fn.XdpAdjustTail || i.imm === Fn.XdpAdjustMeta) {
      this.inlineXdpAdjust(i.imm);
      return;
    }
    if (i.imm === Fn.RedirectMap && this.inlineRedirectMap()) return;
    if (i.imm === Fn.KtimeGetNs || i.imm === Fn.GetPrandomU32 || i.imm === Fn.GetSmpProcessorId) {
      this.inlineSmall(i.imm);
      return;
    }
    if ((i.imm === Fn.SkbLoadBytes || i.imm === Fn.SkbStoreBytes) && this.inlineSkbBytes(i.imm === Fn.SkbStoreBytes, pc)) return;
    // (inline where the program's type is known: bpf_redirect answers differently in XDP)
    if ((i.imm === Fn.Redirect || i.imm === Fn.RedirectPeer) && this.batch !== undefined) {
      this.inlineRedirect(i.imm === Fn.RedirectPeer, !this.batch.writable);
      return;
    }
    if (i.imm === TAIL_CALL) {
      this.tailCall(i, pc);
      return;
    }
    if (i.imm === Fn.Loop && this.callbacks.size > 0) {
      // bpf_loop on one of the program's own callbacks runs compiled; other pointers take the helper.
      const c = this.c;
      c.u8(Op.block).u8(EMPTY);
      this.pushLabel('-');
      for (const [ptr, k] of this.callbacks) {
        c.get(R(2)).i64c(ptr).op(Op.i64_eq);
        c.u8(Op.if).u8(EMPTY);
        this.pushLabel('-');
        this.inlineLoop(k, pc);
        c.u8(Op.br).u32(1);
        this.popLabel();
        c.op(Op.end);
      }
      this.helperCall(i, pc);
      this.popLabel();
      c.op(Op.end);
      return;
    }
    this.helperCall(i, pc);
  },

  /**
   * Array and per-CPU array maps whose elements lie inside one of the program's regions
   * (every copy): accesses to a looked-up element within its value size need no check
   * (bounds.ts), writes only when that region is writable.
   */
  valueMaps(this: Gen): Map<number, BatchMap> {
    const out = new Map<number, BatchMap>();
    for (const m of this.maps) {
      if ((m.type !== A.BPF_MAP_TYPE_ARRAY && m.type !== A.BPF_MAP_TYPE_PERCPU_ARRAY) || !m.valueSize || m.valueSize > m.stride) continue;
      const end = m.values + m.maxEntries * m.stride * (m.type === A.BPF_MAP_TYPE_PERCPU_ARRAY ? Math.max(1, m.copies ?? 1) : 1);
      const g = this.regions.find((r) => r.addr <= m.values && end <= r.addr + r.len);
      if (g) out.set(m.addr, { valueSize: m.valueSize, writable: g.writable });
    }
    return out;
  },

  /** The program's map whose record r1 holds (an lddw of it earlier in the block), if any. */
  programMap(this: Gen): CodegenMap | undefined {
    const addr = this.konst.get(1);
    return addr === undefined ? undefined : this.maps.find((x) => x.addr === addr);
  },

  /**
   * bpf_map_lookup_elem(map, key) on an array or per-CPU array map the program names, r1
   * the lddw'd record: the helper's key check (a read fault at this pc) and its result,
   * r0 = the element (this thread's copy) or NULL, inline. False (nothing emitted) for
   * anything else.
   */
  inlineArrayLookup(this: Gen, pc: number): boolean {
    const m = this.programMap();
    if (m === undefined || (m.type !== A.BPF_MAP_TYPE_ARRAY && m.type !== A.BPF_MAP_TYPE_PERCPU_ARRAY)) return false;
    const perCpu = m.type === A.BPF_MAP_TYPE_PERCPU_ARRAY && (m.copies ?? 1) > 1;
    const c = this.c;
    this.addr(2, 0, 4, false, pc, true);
    c.get(ADDR).mem(Op.i32_load, 0).tee(ADDR).i32c(m.maxEntries).op(Op.i32_lt_u);
    c.u8(Op.if).u8(I64);
    c.get(ADDR).i32c(m.stride).op(Op.i32_mul).i32c(m.values).op(Op.i32_add);
    if (perCpu) {
      // + the thread's copy (copy 0 for a thread past the last), as the helper picks it.
      c.get(REC).mem(Op.i32_load, 2, A.VM_THREAD).tee(CODE).i32c(m.maxEntries * m.stride).op(Op.i32_mul).i32c(0);
      c.get(CODE).i32c(m.copies!).op(Op.i32_lt_u).op(Op.select).op(Op.i32_add);
    }
    c.op(Op.i64_extend_i32_u);
    c.op(Op.else).i64c(0).op(Op.end);
    c.set(R(0));
    return true;
  },

  /**
   * bpf_map_lookup_elem(map, key) on a hash or per-CPU hash map (keys of 1 to 16 bytes) the
   * program names, r1 the lddw'd record: the helper's key check, then the map's own lookup
   * (assembly/ebpf/maps.ts hashFind: hashKey of the key, linear probing from it, an
   * empty slot ends the search, a used one with the same hash and key is the element;
   * valueOf: this thread's copy), inline; r0 = the value or NULL. The key is read once
   * (one or two little-endian words); a slot's state and hash are one 64-bit load
   * compared with (hash << 32 | 1), then on a match the state's atomic load and the
   * slot's key, one or two 64-bit loads (a slot's key is zero-padded to 8 bytes:
   * mapUpdate). False (nothing emitted) for anything else (LRU maps: a hit also marks the
   * element used).
   */
  inlineHashLookup(this: Gen, pc: number): boolean {
    const m = this.programMap();
    if (m === undefined || (m.type !== A.BPF_MAP_TYPE_HASH && m.type !== A.BPF_MAP_TYPE_PERCPU_HASH) || !m.keySize || m.keySize > 16 || !m.capacity || !m.slotSize) return false;
    // (the state's atomic load needs aligned slots: they are, 8-byte words)
    if (m.values % 8 !== 0 || m.slotSize % 8 !== 0) return false;
    const perCpu = m.type === A.BPF_MAP_TYPE_PERCPU_HASH && (m.copies ?? 1) > 1;
    const c = this.c;
    const ks = m.keySize;
    // KEY, KEY2: the key's bytes 0..7 and 8..15 (zero-extended); HW: hash << 32 | 1; W: a slot's state and hash
    const KEY = EA, KEY2 = TMP, HW = SPARE, W = R(0), H = CODE, I = LABEL, S = FPC;
    /** Bytes [b, e) of the key at ADDR as one zero-extended little-endian i64 (at most 3 loads). */
    const word = (b: number, e: number): void => {
      for (let at = b; at < e;) {
        const n = e - at >= 8 ? 8 : e - at >= 4 ? 4 : e - at >= 2 ? 2 : 1;
        c.get(ADDR).mem(n === 8 ? Op.i64_load : n === 4 ? Op.i64_load32_u : n === 2 ? Op.i64_load16_u : Op.i64_load8_u, 0, at);
        if (at > b) c.i64c(8 * (at - b)).op(Op.i64_shl).op(Op.i64_or);
        at += n;
      }
    };
    this.addr(2, 0, ks, false, pc, true);
    word(0, Math.min(ks, 8));
    c.set(KEY);
    if (ks > 8) { word(8, ks); c.set(KEY2); }
    // The map code's hash (assembly/ebpf/maps.ts hashKey): each 8-byte word mixed in with
    // one multiply, h = (h ^ w) * M; h ^= h >> 32; the low half, never 0.
    const mix = (): void => { c.i64c(0x9e3779b97f4a7c15n).op(Op.i64_mul).tee(HW).get(HW).i64c(32).op(Op.i64_shr_u).op(Op.i64_xor); };
    c.i64c(0xcbf29ce484222325n).get(KEY).op(Op.i64_xor);
    mix();
    if (ks > 8) { c.get(KEY2).op(Op.i64_xor); mix(); }
    c.op(Op.i32_wrap_i64);
    c.i32c(1).op(Op.i32_or).tee(H);
    c.op(Op.i64_extend_i32_u).i64c(32).op(Op.i64_shl).i64c(1).op(Op.i64_or).set(HW);
    c.i32c(0).set(I);
    c.get(H).i32c(m.capacity - 1).op(Op.i32_and).i32c(m.slotSize).op(Op.i32_mul).i32c(m.values).op(Op.i32_add).set(S);
    c.u8(Op.block).u8(EMPTY); // done
    c.u8(Op.block).u8(EMPTY); // miss
    c.u8(Op.loop).u8(EMPTY);
    // state 1 and this hash (a plain load: a stale view only misses, as a lookup just before
    // the change would), then the state again, atomically, before the key (an element the
    // lookup returns was published before its key was read: mapUpdate stores the state last)
    c.get(S).mem(Op.i64_load, 3, 0).tee(W).get(HW).op(Op.i64_eq);
    c.u8(Op.if).u8(EMPTY);
    c.get(S).u8(Op.atomic).u32(ATOMIC_LOAD32).u32(2).u32(0).i32c(1).op(Op.i32_ne).u8(Op.br_if).u32(0);
    c.get(S).mem(Op.i64_load, 3, A.MAP_SLOT_KEY).get(KEY).op(Op.i64_eq);
    if (ks > 8) c.get(S).mem(Op.i64_load, 3, A.MAP_SLOT_KEY + 8).get(KEY2).op(Op.i64_eq).op(Op.i32_and);
    c.u8(Op.if).u8(EMPTY);
    // the value, after the key (a per-CPU map's: the thread's copy, copy 0 for a thread past the last)
    c.get(S).i32c(A.MAP_SLOT_KEY + ((ks + 7) & ~7)).op(Op.i32_add);
    if (perCpu) {
      c.get(REC).mem(Op.i32_load, 2, A.VM_THREAD).tee(CODE).i32c(m.stride).op(Op.i32_mul).i32c(0);
      c.get(CODE).i32c(m.copies!).op(Op.i32_lt_u).op(Op.select).op(Op.i32_add);
    }
    c.op(Op.i64_extend_i32_u).set(R(0));
    c.u8(Op.br).u32(4);
    c.op(Op.end);
    c.op(Op.end);
    // an empty slot ends the search, as does the last one
    c.get(W).op(Op.i32_wrap_i64).op(Op.i32_eqz).u8(Op.br_if).u32(1);
    c.get(I).i32c(1).op(Op.i32_add).tee(I).i32c(m.capacity).op(Op.i32_ge_u).u8(Op.br_if).u32(1);
    c.get(H).get(I).op(Op.i32_add).i32c(m.capacity - 1).op(Op.i32_and).i32c(m.slotSize).op(Op.i32_mul).i32c(m.values).op(Op.i32_add).set(S);
    c.u8(Op.br).u32(0);
    c.op(Op.end); // loop
    c.op(Op.end); // miss
    c.i64c(0).set(R(0));
    c.op(Op.end); // done
    return true;
  },

  /**
   * bpf_map_lookup_elem(map, key) on any other map the program names, r1 the lddw'd
   * record: the helper's key check inline (a read fault at this pc), then its lookup
   * (the dataplane's mapLookup, this thread's copy) called directly, without the helper
   * dispatcher. False (nothing emitted) when r1 is not one of the program's maps.
   */
  directLookup(this: Gen, pc: number): boolean {
    const m = this.programMap();
    if (m === undefined || !m.keySize) return false;
    const c = this.c;
    this.addr(2, 0, m.keySize, false, pc, true);
    c.i32c(m.addr).get(ADDR).get(REC).mem(Op.i32_load, 2, A.VM_THREAD).op(Op.call).u32(F_LOOKUP);
    c.op(Op.i64_extend_i32_u).set(R(0));
    return true;
  },

  /**
   * bpf_map_update_elem(map, key, value, flags) and bpf_map_delete_elem(map, key) on a map
   * the program names, r1 the lddw'd record: the helper's checks of the key (then the
   * value) inline, each a read fault at this pc, then the dataplane's mapUpdate / mapDelete
   * called directly; r0 its result (0 or a negative errno). False (nothing emitted) when r1
   * is not one of the program's maps.
   */
  directChange(this: Gen, id: number, pc: number): boolean {
    const m = this.programMap();
    if (m === undefined || !m.keySize || (id === Fn.MapUpdate && !m.valueSize)) return false;
    const c = this.c;
    this.addr(2, 0, m.keySize, false, pc, true);
    if (id === Fn.MapDelete) {
      c.i32c(m.addr).get(ADDR).get(REC).mem(Op.i32_load, 2, A.VM_THREAD).op(Op.call).u32(F_DELETE);
    } else {
      c.get(ADDR).set(CODE);
      this.addr(3, 0, m.valueSize!, false, pc, true);
      c.i32c(m.addr).get(CODE).get(ADDR).get(R(4)).get(REC).mem(Op.i32_load, 2, A.VM_THREAD).i32c(0).op(Op.call).u32(F_UPDATE);
    }
    c.op(Op.i64_extend_i32_s).set(R(0));
    return true;
  },

  /**
   * bpf_xdp_adjust_head / _tail / _meta(ctx, delta) inline: the helper's checks and its
   * moves of the packet (data, data_end, data_meta in the record, the packet region and the
   * context), r0 = 0 or -EINVAL; then the packet bounds are reloaded, as after the helper.
   */
  inlineXdpAdjust(this: Gen, id: number): void {
    const c = this.c;
    this.packetFields = true;
    const DATA = ADDR, LEN = CODE, CTX = FPC, META = LABEL;
    const u64 = (off: number): void => { c.get(REC).mem(Op.i32_load, 2, off).op(Op.i64_extend_i32_u); };
    c.get(R(2)).op(Op.i32_wrap_i64).op(Op.i64_extend_i32_s).set(SPARE); // delta
    c.get(REC).mem(Op.i32_load, 2, A.VM_PKT).set(DATA);
    // data_meta (none: at data)
    c.get(REC).mem(Op.i32_load, 2, A.VM_PKT_META).tee(META).get(DATA).get(META).op(Op.select).set(META);
    if (id === Fn.XdpAdjustHead) {
      // nd = data + delta must keep the head room and the metadata, and 14 bytes of packet.
      c.get(DATA).op(Op.i64_extend_i32_u).get(SPARE).op(Op.i64_add).set(TMP);
      c.get(TMP).get(REC).mem(Op.i32_load, 2, A.VM_PKT_LO).i32c(XDP_MIN_HEADROOM).op(Op.i32_add).get(DATA).get(META).op(Op.i32_sub).op(Op.i32_add);
      c.op(Op.i64_extend_i32_u).op(Op.i64_lt_s);
      c.get(TMP).get(DATA).get(REC).mem(Op.i32_load, 2, A.VM_PKT_LEN).op(Op.i32_add).i32c(14).op(Op.i32_sub).op(Op.i64_extend_i32_u).op(Op.i64_gt_s);
      c.op(Op.i32_or);
      c.u8(Op.if).u8(EMPTY);
      c.i64c(EINVAL).set(R(0));
      c.op(Op.else);
      // data_meta moves with data; len - delta
      c.get(REC).get(TMP).op(Op.i32_wrap_i64).get(DATA).get(META).op(Op.i32_sub).op(Op.i32_sub).mem(Op.i32_store, 2, A.VM_PKT_META);
      u64(A.VM_PKT_LEN);
      c.get(SPARE).op(Op.i64_sub).op(Op.i32_wrap_i64).set(LEN);
      c.get(TMP).op(Op.i32_wrap_i64).set(DATA);
    } else if (id === Fn.XdpAdjustTail) {
      // nl = len + delta: at least 14, inside the buffer; grown bytes are zeroed.
      u64(A.VM_PKT_LEN);
      c.get(SPARE).op(Op.i64_add).set(TMP);
      c.get(TMP).i64c(14).op(Op.i64_lt_s);
      c.get(DATA).op(Op.i64_extend_i32_u).get(TMP).op(Op.i64_add);
      u64(A.VM_PKT_HI);
      c.op(Op.i64_gt_s).op(Op.i32_or);
      c.u8(Op.if).u8(EMPTY);
      c.i64c(EINVAL).set(R(0));
      c.op(Op.else);
      c.get(SPARE).i64c(0).op(Op.i64_gt_s);
      c.u8(Op.if).u8(EMPTY);
      c.get(DATA).get(REC).mem(Op.i32_load, 2, A.VM_PKT_LEN).op(Op.i32_add).i32c(0).get(SPARE).op(Op.i32_wrap_i64).memoryFill();
      c.op(Op.end);
      c.get(TMP).op(Op.i32_wrap_i64).set(LEN);
    } else {
      // nm = meta + delta: 4-byte steps, at most 32 bytes before data, after the head room.
      c.get(META).op(Op.i64_extend_i32_u).get(SPARE).op(Op.i64_add).set(TMP);
      c.get(SPARE).i64c(3).op(Op.i64_and).op(Op.i64_eqz).op(Op.i32_eqz);
      c.get(TMP).get(DATA).op(Op.i64_extend_i32_u).op(Op.i64_gt_s).op(Op.i32_or);
      c.get(DATA).op(Op.i64_extend_i32_u).get(TMP).op(Op.i64_sub).i64c(XDP_META_MAX).op(Op.i64_gt_s).op(Op.i32_or);
      c.get(TMP).get(REC).mem(Op.i32_load, 2, A.VM_PKT_LO).i32c(XDP_MIN_HEADROOM).op(Op.i32_add).op(Op.i64_extend_i32_u).op(Op.i64_lt_s).op(Op.i32_or);
      c.u8(Op.if).u8(EMPTY);
      c.i64c(EINVAL).set(R(0));
      c.op(Op.else);
      c.get(REC).get(TMP).op(Op.i32_wrap_i64).mem(Op.i32_store, 2, A.VM_PKT_META);
      c.get(REC).mem(Op.i32_load, 2, A.VM_PKT_LEN).set(LEN);
    }
    // The packet at (DATA, LEN): the record, the packet region, and the xdp_md context
    // (data, data_end, data_meta: none or past data reads as data).
    c.get(REC).get(DATA).mem(Op.i32_store, 2, A.VM_PKT);
    c.get(REC).get(LEN).mem(Op.i32_store, 2, A.VM_PKT_LEN);
    c.get(REC).get(DATA).mem(Op.i32_store, 2, A.VM_REGIONS + A.VM_REGION_SIZE);
    c.get(REC).get(DATA).get(LEN).op(Op.i32_add).mem(Op.i32_store, 2, A.VM_REGIONS + A.VM_REGION_SIZE + 4);
    c.get(REC).mem(Op.i32_load, 2, A.VM_CTX).tee(CTX);
    c.u8(Op.if).u8(EMPTY);
    c.get(CTX).get(DATA).mem(Op.i32_store, 2, 0);
    c.get(CTX).get(DATA).get(LEN).op(Op.i32_add).mem(Op.i32_store, 2, 4);
    c.get(REC).mem(Op.i32_load, 2, A.VM_PKT_META).set(META);
    c.get(CTX).get(DATA).get(META).get(META).op(Op.i32_eqz).get(META).get(DATA).op(Op.i32_gt_u).op(Op.i32_or).op(Op.select).mem(Op.i32_store, 2, 8);
    c.op(Op.end);
    c.i64c(0).set(R(0));
    c.op(Op.end);
    this.loadPacketBounds();
  },

  /**
   * bpf_skb_load_bytes(skb, off, to, len) / bpf_skb_store_bytes(skb, off, from, len, flags)
   * with len (and the store's flags) constants: the helper's checks in its order (the
   * buffer: a write / read fault at this pc; the flags: -EINVAL; the packet range: -EFAULT,
   * a failed load zeroing the buffer) and the copy, inline. False (nothing emitted) for
   * other lengths or unknown flags.
   */
  inlineSkbBytes(this: Gen, store: boolean, pc: number): boolean {
    const len = this.konst.get(4);
    const flags = store ? this.konst.get(5) : 0;
    if (len === undefined || len === 0 || len > 0xffff || flags === undefined) return false;
    const c = this.c;
    this.packetFields = true;
    this.addr(3, 0, len, !store, pc, true);
    if ((flags & ~3) !== 0) {
      c.i64c(EINVAL).set(R(0));
      return true;
    }
    const plen = (): void => { c.get(REC).mem(Op.i32_load, 2, A.VM_PKT_LEN).op(Op.i64_extend_i32_u); };
    // off > plen || len > plen - off: out of the packet
    c.get(R(2));
    plen();
    c.op(Op.i64_gt_u).i64c(len);
    plen();
    c.get(R(2)).op(Op.i64_sub).op(Op.i64_gt_u).op(Op.i32_or);
    c.u8(Op.if).u8(EMPTY);
    if (!store) c.get(ADDR).i32c(0).i32c(len).memoryFill();
    c.i64c(EFAULT).set(R(0));
    c.op(Op.else);
    const pkt = (): void => { c.get(REC).mem(Op.i32_load, 2, A.VM_PKT).get(R(2)).op(Op.i32_wrap_i64).op(Op.i32_add); };
    const to = store ? pkt : (): void => { c.get(ADDR); };
    const from = store ? (): void => { c.get(ADDR); } : pkt;
    const sized: Record<number, [number, number]> = { 1: [Op.i64_load8_u, Op.i64_store8], 2: [Op.i64_load16_u, Op.i64_store16], 4: [Op.i64_load32_u, Op.i64_store32], 8: [Op.i64_load, Op.i64_store] };
    const one = sized[len];
    const parts = chunks(len);
    if (one) {
      to();
      from();
      c.mem(one[0], 0).mem(one[1], 0);
    } else if (parts) {
      // Up to three loads, then the stores (memmove: the buffer may overlap the packet);
      // bulk memory on a shared memory is a runtime call in V8, far dearer than these.
      const temps = [TMP, EA, SCR];
      parts.forEach(([at, n], k) => { from(); c.mem(sized[n]![0], 0, at).set(temps[k]!); });
      parts.forEach(([at, n], k) => { to(); c.get(temps[k]!).mem(sized[n]![1], 0, at); });
    } else {
      // (memmove: the buffer may overlap the packet)
      to();
      from();
      c.i32c(len).memoryCopy();
    }
    c.i64c(0).set(R(0));
    c.op(Op.end);
    return true;
  },

  /**
   * bpf_ktime_get_ns (the virtual clock), bpf_get_prandom_u32 (the run context's
   * xorshift64*, as the helper steps it) and bpf_get_smp_processor_id (the thread) inline.
   */
  inlineSmall(this: Gen, id: number): void {
    const c = this.c;
    if (id === Fn.KtimeGetNs) {
      c.i32c(A.GLOBALS).mem(Op.i64_load, 3, A.G_CLOCK_NS).set(R(0));
    } else if (id === Fn.GetSmpProcessorId) {
      c.get(REC).mem(Op.i32_load, 2, A.VM_THREAD).op(Op.i64_extend_i32_u).set(R(0));
    } else {
      const X = TMP;
      c.get(REC).mem(Op.i64_load, 3, A.VM_PRNG).tee(X).op(Op.i64_eqz);
      c.u8(Op.if).u8(EMPTY).i64c(0x9e3779b97f4a7c15n).set(X).op(Op.end);
      c.get(X).get(X).i64c(12).op(Op.i64_shr_u).op(Op.i64_xor).set(X);
      c.get(X).get(X).i64c(25).op(Op.i64_shl).op(Op.i64_xor).set(X);
      c.get(X).get(X).i64c(27).op(Op.i64_shr_u).op(Op.i64_xor).set(X);
      c.get(REC).get(X).mem(Op.i64_store, 3, A.VM_PRNG);
      c.get(X).i64c(0x2545f4914f6cdd1dn).op(Op.i64_mul).i64c(32).op(Op.i64_shr_u).set(R(0));
    }
  },

  /**
   * bpf_redirect(ifindex, flags) and bpf_redirect_peer(ifindex, flags) inline: TC_ACT_SHOT
   * for flags they do not take, else the target recorded and TC_ACT_REDIRECT; in an XDP
   * program (`xdp`), bpf_redirect is bpf_xdp_redirect: XDP_ABORTED for any flag, else the
   * target recorded and XDP_REDIRECT.
   */
  inlineRedirect(this: Gen, peer: boolean, xdp: boolean): void {
    const c = this.c;
    this.redirects = true;
    c.get(R(2));
    if (!peer && !xdp) c.i64c(~A.VM_F_INGRESS).op(Op.i64_and);
    c.op(Op.i64_eqz);
    c.u8(Op.if).u8(EMPTY);
    c.get(REC).get(R(1)).op(Op.i32_wrap_i64).mem(Op.i32_store, 2, A.VM_REDIRECT_IFINDEX);
    c.get(REC);
    if (peer) c.i32c(A.VM_REDIRECT_SET | A.VM_REDIRECT_PEER);
    else c.get(R(2)).op(Op.i32_wrap_i64).i32c(A.VM_REDIRECT_SET).op(Op.i32_or);
    c.mem(Op.i32_store, 2, A.VM_REDIRECT_FLAGS);
    c.i64c(xdp ? XDP_REDIRECT : TC_ACT_REDIRECT).set(R(0));
    c.op(Op.else);
    c.i64c(xdp ? XDP_ABORTED : TC_ACT_SHOT).set(R(0));
    c.op(Op.end);
  },

  /**
   * bpf_redirect_map(map, key, flags) on a devmap or XSKMAP the program names, r1 the
   * lddw'd record and r3 a constant (DEVMAP_HASH and cpumap take the helper): the helper's result inline (XDP_REDIRECT with the
   * slot's target recorded, the fallback action for an empty slot, XDP_ABORTED for
   * unknown flags). False (nothing emitted) for anything else.
   */
  inlineRedirectMap(this: Gen): boolean {
    const m = this.programMap();
    const flags = this.konst.get(3);
    if (m === undefined || flags === undefined) return false;
    if (m.type !== A.BPF_MAP_TYPE_DEVMAP && m.type !== A.BPF_MAP_TYPE_XSKMAP) return false;
    const c = this.c;
    this.redirects = true;
    // (a known constant is below 2^32: lddw with a zero high word, or a non-negative mov;
    // BPF_F_BROADCAST and BPF_F_EXCLUDE_INGRESS are devmap flags, XDP_ABORTED on an XSKMAP)
    if ((flags & ~(m.type === A.BPF_MAP_TYPE_DEVMAP ? 0x1b : 3)) !== 0) {
      c.i64c(0).set(R(0));
      return true;
    }
    // (the key is the u32 the kernel's lookup takes: the low half of r2)
    c.get(R(2)).op(Op.i32_wrap_i64).i32c(m.maxEntries).op(Op.i32_lt_u);
    c.u8(Op.if).u8(I32);
    c.get(R(2)).op(Op.i32_wrap_i64).i32c(m.stride).op(Op.i32_mul).u8(Op.atomic).u32(ATOMIC_LOAD32).u32(2).u32(m.values);
    c.op(Op.else).i32c(0).op(Op.end);
    c.tee(CODE).op(Op.i32_eqz);
    c.u8(Op.if).u8(I64);
    c.i64c(flags & 3);
    c.op(Op.else);
    c.get(REC).get(CODE).mem(Op.i32_store, 2, A.VM_REDIRECT_IFINDEX);
    c.get(REC).i32c(A.VM_REDIRECT_SET | A.VM_REDIRECT_MAP | (m.type << 16)).mem(Op.i32_store, 2, A.VM_REDIRECT_FLAGS);
    c.i64c(4);
    c.op(Op.end);
    c.set(R(0));
    return true;
  },

  /**
   * bpf_loop(nr, callback, ctx, flags) with the callback compiled: the helper's checks and
   * results (spec/ebpf.md §3); the iterations run in the callback's loop function (each as
   * a call with r1 = i, r2 = ctx and its own frame), r0 = the number of iterations.
   */
  inlineLoop(this: Gen, k: number, pc: number): void {
    const c = this.c;
    c.get(R(4)).op(Op.i64_eqz).op(Op.i32_eqz);
    this.enter(Op.if);
    c.i64c(-22).set(R(0));
    c.op(Op.else);
    c.get(R(1)).i64c(1 << 23).op(Op.i64_gt_u);
    this.enter(Op.if);
    c.i64c(-7).set(R(0));
    c.op(Op.else);
    c.get(R(1)).op(Op.i64_eqz);
    this.enter(Op.if);
    c.i64c(0).set(R(0));
    c.op(Op.else);
    c.get(DEPTH).i32c(1).op(Op.i32_add).i32c(A.VM_MAX_FRAMES).op(Op.i32_ge_u);
    this.enter(Op.if);
    this.fault(A.VM_FAULT_DEPTH, pc);
    this.leave();
    c.get(REC).get(DEPTH).i32c(1).op(Op.i32_add);
    const slim = this.slim(k);
    if (slim) {
      // (Gen.loopFn: the frame, nr, ctx and r3..r5 go in, the iterations come back)
      c.get(R(10)).i64c(A.VM_FRAME_STACK).op(Op.i64_sub);
      c.get(R(1)).get(R(3));
      for (let r = 3; r <= 5; r++) c.get(R(r));
    } else {
      c.get(R(0)).get(R(1)).get(R(3));
      for (let r = 3; r <= 9; r++) c.get(R(r));
      c.get(R(10)).i64c(A.VM_FRAME_STACK).op(Op.i64_sub);
    }
    c.get(BUD).op(Op.global_set).u32(G_BUDGET);
    c.op(Op.call).u32(this.loopIndex.get(k)!);
    c.op(Op.global_get).u32(G_BUDGET).set(BUD);
    c.set(TMP);
    if (!slim) for (let r = 5; r >= 0; r--) c.set(R(r));
    this.checkUnwind();
    c.get(TMP).set(R(0));
    this.leave();
    this.leave();
    this.leave();
    this.loadPacketBounds();
  },

  /**
   * bpf_tail_call(ctx, prog_array, index) on a PROG_ARRAY the program names (r2 the lddw'd
   * record): an index past the end or an empty slot falls through inline, as the helper
   * does (no register changes); a filled slot takes the helper, which replaces the program.
   * Any other map goes to the helper.
   */
  tailCall(this: Gen, i: Insn, pc: number): void {
    const addr = this.konst.get(2);
    const m = addr === undefined ? undefined : this.maps.find((x) => x.addr === addr);
    if (m === undefined || m.type !== A.BPF_MAP_TYPE_PROG_ARRAY) {
      this.helperCall(i, pc);
      return;
    }
    const c = this.c;
    c.get(R(3)).op(Op.i32_wrap_i64).tee(ADDR).i32c(m.maxEntries).op(Op.i32_lt_u);
    this.enter(Op.if);
    c.get(ADDR).i32c(m.stride).op(Op.i32_mul).u8(Op.atomic).u32(ATOMIC_LOAD32).u32(2).u32(m.values).tee(ADDR);
    this.enter(Op.if);
    if (this.batchMode) {
      // The batch loop's main function: the target runs to its end here (the dataplane's
      // jitTail), and the packet's run ends with its result (TAIL_DONE: batch.ts); at the
      // tail-call limit the call falls through, the registers as they were.
      this.dispatched = true;
      this.spill();
      c.get(REC).get(BUD).mem(Op.i32_store, 2, A.VM_BUDGET);
      c.get(REC).get(ADDR).op(Op.call).u32(F_TAIL).tee(CODE).i32c(A.VM_TAIL_FELL | 0).op(Op.i32_ne);
      this.enter(Op.if);
      c.get(BUD).op(Op.global_set).u32(G_BUDGET);
      c.get(CODE).i32c(TAIL_DONE).op(Op.i32_or).op(Op.global_set).u32(G_FAULT);
      this.unwind();
      this.leave();
    } else this.helperCall(i, pc);
    this.leave();
    this.leave();
  },

  /** A helper call (`id`: the dispatcher's number, VM_KFUNC_BASE + the id for kernel functions). */
  helperCall(this: Gen, i: Insn, pc: number, id = i.imm): void {
    const c = this.c;
    this.dispatched = true;
    if (PLAIN.has(id) || PACKET_MOVING_HELPERS.has(id)) {
      // Reads r1..r5, sets r0 and runs no eBPF (a packet helper moves the packet: its bounds are reloaded).
      for (let r = 1; r <= 5; r++) c.get(REC).get(R(r)).mem(Op.i64_store, 3, A.VM_REGS + r * 8);
      c.get(REC).i32c(id).get(DEPTH).i32c(pc).op(Op.call).u32(F_HELPER).tee(CODE);
      this.enter(Op.if);
      c.get(BUD).op(Op.global_set).u32(G_BUDGET);
      c.get(CODE).op(Op.global_set).u32(G_FAULT);
      this.unwind();
      this.leave();
      c.get(REC).mem(Op.i64_load, 3, A.VM_REGS).set(R(0));
      if (PACKET_MOVING_HELPERS.has(id)) this.loadPacketBounds();
      return;
    }
    this.spill();
    c.get(REC).get(BUD).mem(Op.i32_store, 2, A.VM_BUDGET);
    c.get(REC).i32c(id).get(DEPTH).i32c(pc).op(Op.call).u32(F_HELPER).set(CODE);
    // Callbacks (bpf_loop) ran on the same budget and counted their own instructions.
    c.get(REC).get(REC).mem(Op.i64_load, 3, A.VM_EXECUTED);
    c.get(BUD).get(REC).mem(Op.i32_load, 2, A.VM_BUDGET).op(Op.i32_sub).op(Op.i64_extend_i32_u).op(Op.i64_sub);
    c.mem(Op.i64_store, 3, A.VM_EXECUTED);
    c.get(REC).mem(Op.i32_load, 2, A.VM_BUDGET).set(BUD);
    // A tail call (or a fault the helper recorded) unwinds the whole run.
    c.get(CODE);
    this.enter(Op.if);
    c.get(BUD).op(Op.global_set).u32(G_BUDGET);
    c.get(CODE).op(Op.global_set).u32(G_FAULT);
    this.unwind();
    this.leave();
    for (let r = 0; r <= 10; r++) c.get(REC).mem(Op.i64_load, 3, A.VM_REGS + r * 8).set(R(r));
    this.loadPacketBounds();
  },

  callLocal(this: Gen, i: Insn, pc: number): void {
    const c = this.c;
    c.get(DEPTH).i32c(1).op(Op.i32_add).i32c(A.VM_MAX_FRAMES).op(Op.i32_ge_u);
    this.enter(Op.if);
    this.fault(A.VM_FAULT_DEPTH, pc);
    this.leave();
    const t = pc + 1 + i.imm;
    const k = this.funcIndex.get(t);
    if (k === undefined) {
      this.fault(A.VM_FAULT_PC_RANGE, t >>> 0);
      return;
    }
    c.get(REC).get(DEPTH).i32c(1).op(Op.i32_add);
    if (this.slim(k)) {
      // The arguments and the callee's frame go in, r0 comes back (T_SLIM); r1..r5 keep
      // what they held (the verifier has them unread until written), r10 is unchanged.
      c.get(R(10)).i64c(A.VM_FRAME_STACK).op(Op.i64_sub);
      for (let r = 1; r <= 5; r++) c.get(R(r));
      c.get(BUD).op(Op.global_set).u32(G_BUDGET);
      c.op(Op.call).u32(F_SUB0 + k);
      c.op(Op.global_get).u32(G_BUDGET).set(BUD);
      c.set(R(0));
      this.checkUnwind();
      if (!this.keepsRegions(k)) this.loadPacketBounds();
      return;
    }
    for (let r = 0; r <= 9; r++) c.get(R(r));
    c.get(R(10)).i64c(A.VM_FRAME_STACK).op(Op.i64_sub);
    c.get(BUD).op(Op.global_set).u32(G_BUDGET);
    c.op(Op.call).u32(F_SUB0 + k);
    c.op(Op.global_get).u32(G_BUDGET).set(BUD);
    c.set(TMP);
    for (let r = 5; r >= 0; r--) c.set(R(r));
    this.checkUnwind();
    c.get(TMP).i64c(A.VM_FRAME_STACK).op(Op.i64_add).set(R(10));
    if (!this.keepsRegions(k)) this.loadPacketBounds();
  },
} satisfies Pick<Gen, 'callHelper' | 'valueMaps' | 'programMap' | 'inlineArrayLookup' | 'inlineHashLookup' | 'directLookup' | 'directChange' | 'inlineXdpAdjust' | 'inlineSkbBytes' | 'inlineSmall' | 'inlineRedirect' | 'inlineRedirectMap' | 'inlineLoop' | 'tailCall' | 'helperCall' | 'callLocal'>;
