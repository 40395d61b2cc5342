/**
 * A small WebAssembly binary writer: LEB128 numbers, opcodes and sections, enough for the
 * eBPF code generator. Bytes go into one growable buffer; nothing is validated here
 * (the engine validates the module when it compiles it).
 */

export const I32 = 0x7f;
export const I64 = 0x7e;
export const EMPTY = 0x40;

/** Opcodes the generator uses (core, sign-extension and threads proposals). */
export const enum Op {
  unreachable = 0x00, block = 0x02, loop = 0x03, if = 0x04, else = 0x05, end = 0x0b, br = 0x0c, br_if = 0x0d,
  br_table = 0x0e, return = 0x0f, call = 0x10, drop = 0x1a, select = 0x1b,
  local_get = 0x20, local_set = 0x21, local_tee = 0x22, global_get = 0x23, global_set = 0x24,
  i32_load = 0x28, i64_load = 0x29, i64_load8_s = 0x30, i64_load8_u = 0x31, i64_load16_s = 0x32, i64_load16_u = 0x33,
  i64_load32_s = 0x34, i64_load32_u = 0x35, i32_store = 0x36, i64_store = 0x37, i64_store8 = 0x3c, i64_store16 = 0x3d, i64_store32 = 0x3e,
  i32_const = 0x41, i64_const = 0x42,
  i32_eqz = 0x45, i32_eq = 0x46, i32_ne = 0x47, i32_lt_s = 0x48, i32_lt_u = 0x49, i32_gt_s = 0x4a, i32_gt_u = 0x4b,
  i32_le_s = 0x4c, i32_le_u = 0x4d, i32_ge_s = 0x4e, i32_ge_u = 0x4f,
  i64_eqz = 0x50, i64_eq = 0x51, i64_ne = 0x52, i64_lt_s = 0x53, i64_lt_u = 0x54, i64_gt_s = 0x55, i64_gt_u = 0x56,
  i64_le_s = 0x57, i64_le_u = 0x58, i64_ge_s = 0x59, i64_ge_u = 0x5a,
  i32_add = 0x6a, i32_sub = 0x6b, i32_mul = 0x6c, i32_div_s = 0x6d, i32_div_u = 0x6e, i32_rem_s = 0x6f, i32_rem_u = 0x70,
  i32_and = 0x71, i32_or = 0x72, i32_xor = 0x73, i32_shl = 0x74, i32_shr_s = 0x75, i32_shr_u = 0x76, i32_rotl = 0x77, i32_rotr = 0x78,
  i64_add = 0x7c, i64_sub = 0x7d, i64_mul = 0x7e, i64_div_s = 0x7f, i64_div_u = 0x80, i64_rem_s = 0x81, i64_rem_u = 0x82,
  i64_and = 0x83, i64_or = 0x84, i64_xor = 0x85, i64_shl = 0x86, i64_shr_s = 0x87, i64_shr_u = 0x88, i64_rotl = 0x89, i64_rotr = 0x8a,
  i32_wrap_i64 = 0xa7, i64_extend_i32_s = 0xac, i64_extend_i32_u = 0xad,
  i32_extend8_s = 0xc0, i32_extend16_s = 0xc1, i64_extend8_s = 0xc2, i64_extend16_s = 0xc3, i64_extend32_s = 0xc4,
  atomic = 0xfe,
}

/** Threads-proposal read-modify-write opcodes (after the 0xfe prefix): 64-bit and 32-bit-zero-extended forms. */
export const ATOMIC = {
  add: [0x1f, 0x24], and: [0x2d, 0x32], or: [0x34, 0x39], xor: [0x3b, 0x40], xchg: [0x42, 0x47], cmpxchg: [0x49, 0x4e],
} as const;

export class Writer {
  buf: Uint8Array;
  len = 0;

  constructor(size = 4096) {
    this.buf = new Uint8Array(size);
  }

  /** Empties the writer, keeping its buffer (at least `size` bytes) for the next use. */
  reset(size = 0): this {
    if (this.buf.length < size) this.buf = new Uint8Array(size);
    this.len = 0;
    return this;
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }

  u8(v: number): this {
    if (this.len >= this.buf.length) this.room(1);
    this.buf[this.len++] = v;
    return this;
  }

  op(a: number, b?: number): this {
    this.u8(a);
    if (b !== undefined) this.u8(b);
    return this;
  }

  /** Unsigned LEB128 (up to 2^32). */
  u32(v: number): this {
    this.room(5);
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.buf[this.len++] = b;
    } while (v !== 0);
    return this;
  }

  /** Signed LEB128 of a 32-bit value. */
  s32(v: number): this {
    this.room(5);
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return this;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  /** Signed LEB128 of a 64-bit value. */
  s64(v: bigint): this {
    v = BigInt.asIntN(64, v);
    if (v >= -0x80000000n && v <= 0x7fffffffn) return this.s32(Number(v));
    this.room(10);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return this;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  bytes(b: Uint8Array | readonly number[]): this {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  name(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u32(b.length).bytes(b);
  }

  i32c(v: number): this {
    return this.u8(Op.i32_const).s32(v);
  }

  i64c(v: number | bigint): this {
    this.u8(Op.i64_const);
    if (typeof v === 'number') return v === (v | 0) ? this.s32(v) : this.s64(BigInt(v));
    return this.s64(v);
  }

  get(l: number): this {
    return this.local(Op.local_get, l);
  }

  set(l: number): this {
    return this.local(Op.local_set, l);
  }

  tee(l: number): this {
    return this.local(Op.local_tee, l);
  }

  /** A local instruction; locals below 128 (all of the generator's) in two bytes, straight. */
  private local(op: number, l: number): this {
    if (l >= 128 || this.len + 2 > this.buf.length) return this.u8(op).u32(l);
    this.buf[this.len] = op;
    this.buf[this.len + 1] = l;
    this.len += 2;
    return this;
  }

  /** memory.fill (dst, value, n on the stack) in memory 0. */
  memoryFill(): this {
    return this.u8(0xfc).u32(11).u8(0);
  }

  /** memory.copy (dst, src, n on the stack, memmove) within memory 0. */
  memoryCopy(): this {
    return this.u8(0xfc).u32(10).u8(0).u8(0);
  }

  /** A load or store with its memarg (alignment as log2, offset). */
  mem(op: number, alignLog2: number, offset = 0): this {
    return this.u8(op).u32(alignLog2).u32(offset);
  }

  out(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  /** Appends a section: id, size, contents. */
  section(id: number, body: Writer): this {
    this.u8(id).u32(body.len);
    return this.bytes(body.buf.subarray(0, body.len));
  }
}
