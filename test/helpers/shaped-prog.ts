/**
 * Seeded tc and XDP programs in the shapes clang emits for real programs, for the
 * differential fuzzing of every compiled entry point against the interpreter
 * (test/ebpf/entry-fuzz.test.ts): packet parsing behind `data_end` checks (right and
 * wrong ones), rotated loops (entered at their condition), nested loops, loops left early
 * on `data_end`, counted loops, the context pointer spilled to the stack and used again
 * (reads, writes of writable fields and of `data`/`data_end`), sign-extending moves
 * (movsx, 32- and 64-bit) feeding packet offsets, 32-bit wrap-around, every jump form,
 * packet stores, helper calls that move the packet, and legacy packet loads. Some
 * programs are mutated afterwards (an offset, a register, an opcode changed, a bounds
 * check dropped), which the load-time checks mostly refuse: those still run, on the
 * per-packet code.
 */

export type ShapedType = 'xdp' | 'sched_cls';

export interface ShapedProgram {
  type: ShapedType;
  /** Assembly text (src/ebpf/assembler.ts syntax). */
  asm: string;
  /** Mutated after assembly: `mutate` applies to the bytes. */
  mutations: number;
}

const JUMPS = ['jeq', 'jne', 'jgt', 'jge', 'jlt', 'jle', 'jsgt', 'jsge', 'jslt', 'jsle', 'jset'];

/** The generator's state: the random source and fresh label numbers. */
class Gen {
  private label = 0;
  readonly out: string[] = [];
  constructor(readonly rnd: () => number, readonly type: ShapedType) {}
  int(n: number): number { return Math.floor(this.rnd() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
  chance(p: number): boolean { return this.rnd() < p; }
  fresh(): string { return `L${this.label++}`; }
  emit(...lines: string[]): void { this.out.push(...lines); }
  get dataOff(): number { return this.type === 'xdp' ? 0 : 76; }
  get endOff(): number { return this.type === 'xdp' ? 4 : 80; }
  /** r2 = data, r3 = data_end, through the context in r6 (again after anything that may move the packet). */
  reload(): void { this.emit(`ldxw %r2, [%r6+${this.dataOff}]`, `ldxw %r3, [%r6+${this.endOff}]`); }
  /** A bound check: [data, data + n) inside the packet, else to `skip` (sometimes checked wrongly). */
  check(n: number, skip: string): void {
    const op = this.pick(['jgt', 'jgt', 'jgt', 'jge', 'jlt-inv']);
    this.emit('mov %r4, %r2', `add %r4, ${n}`);
    if (op === 'jlt-inv') this.emit(`jlt %r3, %r4, ${skip}`);
    else this.emit(`${op} %r4, %r3, ${skip}`);
  }
}

type Fragment = (g: Gen) => void;

const SIZES = [['b', 1], ['h', 2], ['w', 4], ['dw', 8]] as const;

/** Header parsing: a check, then loads (and sometimes a store) inside it, or just past it. */
const parse: Fragment = (g) => {
  const skip = g.fresh();
  const n = 1 + g.int(80);
  g.check(n, skip);
  for (let k = 1 + g.int(3); k > 0; k--) {
    const [sfx, size] = g.pick(SIZES);
    // Mostly inside the checked range; sometimes one past it (the checks must catch it).
    const off = g.chance(0.85) ? g.int(Math.max(1, n - size + 1)) : n - size + 1 + g.int(3);
    g.emit(`ldx${sfx} %r5, [%r2+${Math.max(0, off)}]`, g.pick(['add %r7, %r5', 'xor %r7, %r5', 'add32 %r7, %r5', 'mov %r8, %r5']));
  }
  if (g.chance(0.3)) {
    const [sfx, size] = g.pick(SIZES);
    g.emit(`st${sfx} [%r2+${g.int(Math.max(1, n - size + 1))}], ${g.int(256)}`);
  }
  g.emit(`${skip}:`);
};

/** A rotated loop, as clang lays out `for`/`while`: a jump to the condition, the body, the condition at the bottom. */
const rotated: Fragment = (g) => {
  const body = g.fresh(), cond = g.fresh();
  const bound = 1 + g.int(20);
  g.emit('mov %r5, 0', `ja ${cond}`, `${body}:`, g.pick(['add %r7, %r5', 'add %r0, %r5', 'xor %r7, %r5', 'mul %r7, 3']));
  if (g.chance(0.4)) {
    // a packet byte at the counter (checked inside the body)
    const skip = g.fresh();
    g.emit('mov %r4, %r2', 'add %r4, %r5', 'mov %r9, %r4', 'add %r9, 1', `jgt %r9, %r3, ${skip}`, 'ldxb %r9, [%r4+0]', 'add %r7, %r9', `${skip}:`);
  }
  const step = g.pick(['add %r5, 1', 'add32 %r5, 1', 'add %r5, 2']);
  const jump = g.pick(['jlt', 'jne', 'jle', 'jslt']);
  // (a `jne` that steps over its bound never ends: kept for a few, which end on the budget)
  const end = jump === 'jne' && step.endsWith('2') && bound % 2 === 1 && g.chance(0.9) ? bound + 1 : bound;
  g.emit(step, `${cond}:`, `${jump}${g.chance(0.3) ? '32' : ''} %r5, ${end}, ${body}`);
};

/** Two loops, one inside the other (the inner one sometimes rotated). */
const nested: Fragment = (g) => {
  const outer = g.fresh(), inner = g.fresh(), cond = g.fresh();
  g.emit('mov %r8, 0', `${outer}:`, 'mov %r5, 0');
  if (g.chance(0.5)) g.emit(`ja ${cond}`);
  g.emit(`${inner}:`, 'add %r7, %r8', 'add %r7, %r5', 'add %r5, 1', `${cond}:`, `jlt %r5, ${1 + g.int(6)}, ${inner}`, 'add %r8, 1', `jlt %r8, ${1 + g.int(6)}, ${outer}`);
};

/** A checksum-style loop over 16-bit words that leaves early on `data_end`. */
const early: Fragment = (g) => {
  const loop = g.fresh(), out = g.fresh();
  const limit = 1 + g.int(64);
  g.emit('mov %r4, %r2', 'mov %r8, 0', `${loop}:`, 'mov %r9, %r4', 'add %r9, 2', `jgt %r9, %r3, ${out}`, 'ldxh %r5, [%r4+0]', 'add %r7, %r5', 'add %r4, 2', 'add %r8, 1', `jlt %r8, ${limit}, ${loop}`, `${out}:`);
  if (g.chance(0.3)) g.emit('mov %r5, %r7', 'rsh %r5, 16', 'and %r7, 0xffff', 'add %r7, %r5');
};

/** The context pointer spilled and reloaded: reads, and writes of writable and read-only fields. */
const spill: Fragment = (g) => {
  const slot = 8 * (1 + g.int(4));
  g.emit(`stxdw [%r10-${slot}], %r6`, `ldxdw %r4, [%r10-${slot}]`);
  const reads = g.type === 'xdp' ? [0, 4, 8, 12, 16] : [0, 4, 8, 16, 32, 40, 48, 76, 80, 140];
  g.emit(`ldxw %r5, [%r4+${g.pick(reads)}]`, 'add %r7, %r5');
  if (g.chance(0.6)) {
    // mark, priority, cb[0] (writable in tc); data, data_end, data_meta (never)
    const writes = g.type === 'xdp' ? [0, 4, 12] : [8, 32, 48, 52, 76, 80, 140, 152];
    const off = g.pick(writes);
    if (off === 152) g.emit(`stxdw [%r4+152], %r7`);
    else g.emit(g.chance(0.5) ? `stxw [%r4+${off}], %r7` : `stw [%r4+${off}], ${g.int(100000)}`);
    // Reading the bounds again through the context after the write
    g.reload();
  }
};

/** Sign-extending moves feeding a packet offset: (s8)0x80 is -128, not 128. */
const signext: Fragment = (g) => {
  const skip = g.fresh();
  g.check(129 + g.int(30), skip);
  const v = g.pick([0x80, 0x80, 0xff, 0x7f, 0x8000, 0xffff, 0x7fff, 0x12345680]);
  const mov = g.pick(['movsx832', 'movsx832', 'movsx1632', 'movsx864', 'movsx1664', 'movsx3264']);
  g.emit(`mov32 %r4, ${v}`, `${mov} %r5, %r4`);
  if (g.chance(0.2)) g.emit('and %r5, 0xff');
  g.emit('mov %r9, %r2', 'add %r9, %r5');
  // checked again after the add (as clang keeps it), or not
  if (g.chance(0.6)) g.emit('mov %r4, %r9', 'add %r4, 1', `jgt %r4, %r3, ${skip}`);
  g.emit('ldxb %r5, [%r9+0]', 'add %r7, %r5', `${skip}:`);
};

/** 32-bit arithmetic that wraps around, used as an offset and compared. */
const wrap: Fragment = (g) => {
  const skip = g.fresh();
  const op = g.pick(['add32', 'sub32', 'mul32', 'lsh32', 'arsh32', 'neg32', 'add32']);
  g.emit(`mov32 %r4, ${g.pick(['0xfffffff0', '0x7ffffff8', '0xffffffff', '16'])}`, op === 'neg32' ? 'neg32 %r4' : `${op} %r4, ${g.int(op.endsWith('sh32') ? 32 : 0x40000000)}`);
  g.emit(`${g.pick(JUMPS)}${g.chance(0.5) ? '32' : ''} %r4, ${g.int(64)}, ${skip}`, 'and %r4, 63');
  g.check(64, skip);
  g.emit('mov %r9, %r2', 'add %r9, %r4', 'ldxb %r5, [%r9+0]', 'add %r7, %r5', `${skip}:`);
};

/** Every jump form on what the program computed so far. */
const jumps: Fragment = (g) => {
  for (let k = 1 + g.int(3); k > 0; k--) {
    const skip = g.fresh();
    const rhs = g.chance(0.5) ? `%r${g.pick([5, 7, 8, 0])}` : `${g.int(200) - 50}`;
    g.emit(`${g.pick(JUMPS)}${g.chance(0.4) ? '32' : ''} %r${g.pick([5, 7, 8])}, ${rhs}, ${skip}`, g.pick(['add %r7, 1', 'xor %r7, 0x55', 'sub %r7, 3', 'mov %r0, 1']), `${skip}:`);
  }
};

/** Helpers: one that moves the packet (bounds reloaded after), and plain ones. */
const helper: Fragment = (g) => {
  if (g.type === 'xdp') {
    const f = g.pick(['adjust_head', 'adjust_tail', 'ktime']);
    if (f === 'ktime') { g.emit('call 5', 'add %r7, %r0'); return; }
    const delta = g.pick([-14, -4, 4, 14, 20, -20, 1000]);
    g.emit('mov %r1, %r6', `mov %r2, ${delta}`, `call ${f === 'adjust_head' ? 44 : 65}`, 'add %r7, %r0');
  } else {
    const f = g.pick(['load_bytes', 'store_bytes', 'ktime', 'pull']);
    if (f === 'ktime') { g.emit('call 5', 'add %r7, %r0'); return; }
    if (f === 'pull') { g.emit('mov %r1, %r6', `mov %r2, ${g.int(100)}`, 'call 39', 'add %r7, %r0'); }
    else if (f === 'load_bytes') {
      // (reads back only the bytes the helper wrote: the rest of the slot is another run's)
      const [sfx, len] = g.pick(SIZES);
      g.emit('mov %r1, %r6', `mov %r2, ${g.int(60)}`, 'mov %r3, %r10', 'add %r3, -16', `mov %r4, ${len}`, 'call 26', 'add %r7, %r0', `ldx${sfx} %r5, [%r10-16]`, 'add %r7, %r5');
    } else {
      g.emit('stdw [%r10-24], 0x1234', 'mov %r1, %r6', `mov %r2, ${g.int(60)}`, 'mov %r3, %r10', 'add %r3, -24', `mov %r4, ${g.pick([1, 2, 4])}`, 'mov %r5, 0', 'call 9', 'add %r7, %r0');
    }
  }
  g.reload();
};

/** Legacy packet loads (tc only): out of range they end the run with r0 = 0. */
const ldabs: Fragment = (g) => {
  g.emit('mov %r9, %r1', 'mov %r1, %r6', `ldabs${g.pick(['b', 'h', 'w'])} ${g.pick([0, 12, 14, 23, 40, 90])}`, 'add %r7, %r0', 'mov %r1, %r9');
};

/**
 * The PROG_ARRAY a tail-calling program names, as the lddw's immediate: `placeTailMap`
 * puts the emulator's own map record there.
 */
export const TAIL_MAP = 0x7ead0000;

/** bpf_tail_call(ctx, TAIL_MAP, index): a constant index (an empty slot, the filled one, past the end) or one from r7; falls through on failure (r0 unreadable after: the helper returns nothing). */
const tailCall: Fragment = (g) => {
  const index = g.pick(['mov %r3, 0', 'mov %r3, 1', 'mov %r3, 1', 'mov %r3, 9', 'mov %r3, %r7\nand %r3, 3']);
  g.emit('mov %r1, %r6', `lddw %r2, ${TAIL_MAP}`, ...index.split('\n'), 'call 12', 'mov %r1, %r6');
  g.reload();
};

/** A copy of `insns` with TAIL_MAP's lddw naming the map record `record` (a mutated one may no longer say TAIL_MAP: left as it is). */
export function placeTailMap(insns: Uint8Array, record: number): Uint8Array {
  const out = insns.slice();
  const dv = new DataView(out.buffer);
  for (let at = 0; at + 16 <= out.length; at += 8) {
    if (out[at] === 0x18 && dv.getUint32(at + 4, true) === TAIL_MAP && dv.getUint32(at + 12, true) === 0) dv.setUint32(at + 4, record, true);
  }
  return out;
}

const FRAGMENTS: readonly Fragment[] = [parse, parse, rotated, nested, early, spill, signext, wrap, jumps, helper];

/**
 * A bpf-to-bpf call (the callee, SUB, follows the main function): three arguments, a
 * division by a non-zero variable, its own stack; the packet bounds reloaded after it (a
 * call clobbers r1..r5).
 */
const callSub: Fragment = (g) => {
  g.emit('mov %r1, %r7', 'mov %r2, %r8', `mov %r3, ${g.int(50)}`, 'call local SUB', 'add %r7, %r0');
  g.reload();
};
const SUB = ['SUB:', 'mov %r0, %r1', 'add %r0, %r2', 'mov %r4, %r3', 'or %r4, 1', 'div %r0, %r4', 'stxdw [%r10-8], %r0', 'ldxdw %r0, [%r10-8]', 'xor %r0, %r2', 'exit'];

/** One program (assembly text) of `type` from `rnd`; `tail`: with a tail call, `sub`: with a bpf-to-bpf call. */
export function shapedProgram(rnd: () => number, type: ShapedType, tail = false, sub = false): ShapedProgram {
  const g = new Gen(rnd, type);
  g.emit('mov %r6, %r1');
  g.reload();
  g.emit('mov %r7, 0', 'mov %r8, 0', `mov %r0, ${g.int(4)}`);
  const n = 1 + g.int(5);
  const at = tail ? g.int(n + 1) : -1;
  const callAt = sub ? 1 + g.int(n) : -1;
  for (let k = n; k > 0; k--) {
    if (k === callAt) callSub(g);
    if (k === at) tailCall(g);
    const f = type === 'sched_cls' && g.chance(0.08) ? ldabs : g.pick(FRAGMENTS);
    f(g);
  }
  if (at === 0) tailCall(g);
  // The verdict from what the program saw: XDP actions 0..3; tc/netkit: NEXT (-1), PASS, DROP (2), 3.
  const mask = g.pick([3, 3, 1, 2]);
  g.emit('mov %r0, %r7', `and %r0, ${mask}`);
  if (type === 'sched_cls' && g.chance(0.2)) {
    const keep = g.fresh();
    g.emit(`jne %r0, 3, ${keep}`, 'mov %r0, -1', `${keep}:`);
  }
  g.emit('exit');
  if (sub) g.emit(...SUB);
  return { type, asm: g.out.join('\n'), mutations: 0 };
}

/**
 * Mutates 1–3 instructions of an assembled program in place: an offset or immediate
 * nudged, a register swapped, a jump's condition changed, a bounds check turned into a
 * no-op. The result may be refused by the load-time checks; it still runs.
 */
export function mutate(rnd: () => number, b: Uint8Array): number {
  const n = b.length / 8;
  const k = 1 + Math.floor(rnd() * 3);
  for (let j = 0; j < k; j++) {
    const pc = Math.floor(rnd() * n);
    const at = pc * 8;
    const code = b[at]!;
    if (code === 0x18 || code === 0x95 || code === 0x85) continue;
    // (no stack offsets moved: a read of stack the run has not written sees leftovers, which
    // differ between the engines' layouts; see clearStacks in the test)
    const base = (code & 7) === 1 ? b[at + 1]! >> 4 : b[at + 1]! & 0xf;
    if ((code & 7) >= 1 && (code & 7) <= 3 && base === 10) continue;
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    switch (Math.floor(rnd() * 5)) {
      case 0: dv.setInt16(at + 2, dv.getInt16(at + 2, true) + (Math.floor(rnd() * 17) - 8), true); break;
      case 1: dv.setInt32(at + 4, dv.getInt32(at + 4, true) + (Math.floor(rnd() * 9) - 4), true); break;
      case 2: b[at + 1] = (b[at + 1]! & 0xf0) | [0, 2, 3, 4, 5, 7, 8, 9][Math.floor(rnd() * 8)]!; break;
      case 3: if ((code & 7) === 5 || (code & 7) === 6) b[at] = (code & 0x0f) | ([0x10, 0x20, 0x30, 0x50, 0xa0, 0xb0][Math.floor(rnd() * 6)]! & 0xf0); break;
      default: if ((code & 7) === 5 && (code & 0xf0) !== 0x80 && (code & 0xf0) !== 0x90) dv.setInt16(at + 2, 0, true); break;
    }
  }
  return k;
}

/** Frames for a program: Ethernet with IPv4 (TCP, UDP, ICMP, options), IPv6, VLAN, ARP, short and long ones. */
export function frames(rnd: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const k = 3 + Math.floor(rnd() * 3);
  for (let j = 0; j < k; j++) {
    const kind = Math.floor(rnd() * 6);
    const len = kind === 0 ? 14 + Math.floor(rnd() * 20) : kind === 5 ? 1500 : 60 + Math.floor(rnd() * 140);
    const f = new Uint8Array(len).map(() => Math.floor(rnd() * 256));
    f.set([0x02, 0, 0, 0, 0, 1], 0);
    const type = [0x0806, 0x0800, 0x86dd, 0x8100, 0x0800, 0x0800][kind]!;
    f[12] = type >> 8;
    f[13] = type & 0xff;
    if (type === 0x0800 && len >= 34) {
      f[14] = 0x45 + (rnd() < 0.2 ? 1 : 0);
      f[23] = [6, 17, 1][Math.floor(rnd() * 3)]!;
    }
    out.push(f);
  }
  return out;
}

