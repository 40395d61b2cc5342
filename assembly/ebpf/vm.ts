// The eBPF interpreter (spec/ebpf.md §1): the reference engine. Registers, frames and the
// region table live in the run record (abi/vm.ts) in shared memory; nothing is allocated.
// Every load and store is checked against the region table (stack, context, packet, map
// values): a program can never touch other shared memory, whatever the load-time checks
// missed. Faults end the run with a code; they never trap.

import {
  VM_PROG, VM_SLOTS, VM_BUDGET, VM_FAULT, VM_FAULT_PC, VM_STACK, VM_NREGIONS, VM_REGIONS, VM_REGION_SIZE,
  VM_REGS, VM_FRAMES, VM_FRAME_SIZE, VM_MAX_FRAMES, VM_FRAME_STACK, VM_STACK_SIZE, VM_EXECUTED,
  VM_FAULT_READ, VM_FAULT_WRITE, VM_FAULT_BUDGET, VM_FAULT_INSN, VM_FAULT_HELPER, VM_FAULT_DEPTH, VM_FAULT_PC_RANGE,
  VM_FAULT_ALIGN, VM_REGION_WRITABLE, VM_REGION_SKB_CTX, VM_PKT, VM_PKT_LEN, VM_TAIL_CALL, VM_TAIL_CALLS, VM_TAIL_FELL,
  VM_TAIL_PROG, VM_SAVED, VM_RUNS, VM_MAX_REGIONS, VM_NPROG_REGIONS, VM_PROG_REGIONS, VM_NMAPS, VM_MAPS, VM_KVIEW, VM_KVIEW_SIZE, VM_KFUNC_BASE, VM_ITER_KEY, VM_THREAD,
  MAP_TYPE, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY,
} from "../abi/vm";
import { PR_JIT } from "../abi/layout";
import { vmHelper, knownMap, tailEnter, FUNC_TAG, PSEUDO_FUNC } from "./helpers";
import { mapIterCount, mapIterValue, mapIterKey } from "./maps";
import { vmCheck, vmFault, lastRegion, regionWriteHi } from "./access";
import { E2BIG, EINVAL } from "./errno";

export { vmCheck, vmFault };

// Inline access checks read `ea >= lo && ea <= hi - size` (size <= 8): no sum that can wrap
// around 2^64 (a wrapped `ea + size` once let an address near 2^64 through to a trapping load).
// An empty region is (EMPTY_LO, EMPTY_HI): nothing passes, and hi - size does not wrap.
const EMPTY_LO: u64 = 0xffffffffffffffff;
const EMPTY_HI: u64 = 8;

@inline function reg(rec: usize, i: u32): u64 {
  return load<u64>(rec + VM_REGS + (<usize>i << 3));
}

@inline function setReg(rec: usize, i: u32, v: u64): void {
  store<u64>(rec + VM_REGS + (<usize>i << 3), v);
}

@inline function bswap16(v: u64): u64 {
  return ((v & 0xff) << 8) | ((v >> 8) & 0xff);
}

@inline function bswap32(v: u64): u64 {
  return <u64>bswap<u32>(<u32>v);
}

/** Legacy LD ABS/IND (§1.11): network-order packet loads; out of range ends the program with r0 = 0. */
function ldAbs(rec: usize, off: u64, size: u32): bool {
  const len = <u64>load<u32>(rec, VM_PKT_LEN);
  if (off + <u64>size > len || (off >> 32) != 0) return false;
  const p = <usize>load<u32>(rec, VM_PKT) + <usize>off;
  let v: u64;
  if (size == 1) v = <u64>load<u8>(p);
  else if (size == 2) v = bswap16(<u64>load<u16>(p));
  else v = bswap32(<u64>load<u32>(p));
  setReg(rec, 0, v);
  return true;
}

/**
 * Runs the program from `pc` until the frame at `depth0` exits. `vmRun` starts at 0;
 * helpers with callbacks (bpf_loop) re-enter at the callback with a new frame.
 * Returns VM_OK or a fault code.
 */
export function vmExec(rec: usize, startPc: u32, depth0: u32): u32 {
  let prog = <usize>load<u32>(rec, VM_PROG);
  let n = load<u32>(rec, VM_SLOTS);
  let budget = load<u32>(rec, VM_BUDGET);
  const budget0 = budget;
  let pc = startPc;
  let depth = depth0;
  let fault: u32 = 0;
  // Access checks: the stack, then the region that matched last, then the table.
  const stackLo = <u64>load<u32>(rec, VM_STACK);
  const stackHi = stackLo + <u64>VM_STACK_SIZE;
  let hitLo: u64 = EMPTY_LO;
  let hitHi: u64 = EMPTY_HI;
  let hitWritable = false;
  // Regions 0 and 1 are the context and the packet in every hook: checked inline.
  let r0Lo: u64 = EMPTY_LO, r0Hi: u64 = EMPTY_HI, r1Lo: u64 = EMPTY_LO, r1Hi: u64 = EMPTY_HI;
  let r0W = false, r1W = false;
  let r0WHi: u64 = 0;
  if (load<u32>(rec, VM_NREGIONS) >= 2) {
    r0Lo = <u64>load<u32>(rec, VM_REGIONS); r0Hi = <u64>load<u32>(rec, VM_REGIONS + 4);
    r0W = (load<u32>(rec, VM_REGIONS + 8) & VM_REGION_WRITABLE) != 0;
    r0WHi = regionWriteHi(rec + VM_REGIONS);
    r1Lo = <u64>load<u32>(rec, VM_REGIONS + VM_REGION_SIZE); r1Hi = <u64>load<u32>(rec, VM_REGIONS + VM_REGION_SIZE + 4);
    r1W = (load<u32>(rec, VM_REGIONS + VM_REGION_SIZE + 8) & VM_REGION_WRITABLE) != 0;
  }
  while (true) {
    if (pc >= n) { fault = vmFault(rec, VM_FAULT_PC_RANGE, pc); break; }
    if (budget == 0) { fault = vmFault(rec, VM_FAULT_BUDGET, pc); break; }
    budget--;
    const ip = prog + (<usize>pc << 3);
    // One load per instruction: opcode | regs << 8 | off << 16 | imm << 32.
    const w = load<u64>(ip);
    const code = <u32>w & 0xff;
    const dst = (<u32>w >> 8) & 0xf;
    const src = (<u32>w >> 12) & 0xf;
    const off = <i32>(<i16>(<u32>w >> 16));
    const imm = <i32>(w >> 32);
    const at = pc;
    pc++;
      // Fast path: the common opcodes, one br_table away (generated; the general decoder below handles the rest).
      switch (code) {
        case 0x07: setReg(rec, dst, reg(rec, dst) + <u64><i64>imm); continue;
        case 0x0f: setReg(rec, dst, reg(rec, dst) + reg(rec, src)); continue;
        case 0x17: setReg(rec, dst, reg(rec, dst) - <u64><i64>imm); continue;
        case 0x1f: setReg(rec, dst, reg(rec, dst) - reg(rec, src)); continue;
        case 0x27: setReg(rec, dst, reg(rec, dst) * <u64><i64>imm); continue;
        case 0x2f: setReg(rec, dst, reg(rec, dst) * reg(rec, src)); continue;
        case 0x47: setReg(rec, dst, reg(rec, dst) | <u64><i64>imm); continue;
        case 0x4f: setReg(rec, dst, reg(rec, dst) | reg(rec, src)); continue;
        case 0x57: setReg(rec, dst, reg(rec, dst) & <u64><i64>imm); continue;
        case 0x5f: setReg(rec, dst, reg(rec, dst) & reg(rec, src)); continue;
        case 0x67: setReg(rec, dst, reg(rec, dst) << (<u64><i64>imm & 63)); continue;
        case 0x6f: setReg(rec, dst, reg(rec, dst) << (reg(rec, src) & 63)); continue;
        case 0x77: setReg(rec, dst, reg(rec, dst) >> (<u64><i64>imm & 63)); continue;
        case 0x7f: setReg(rec, dst, reg(rec, dst) >> (reg(rec, src) & 63)); continue;
        case 0xa7: setReg(rec, dst, reg(rec, dst) ^ <u64><i64>imm); continue;
        case 0xaf: setReg(rec, dst, reg(rec, dst) ^ reg(rec, src)); continue;
        case 0xb7: setReg(rec, dst, <u64><i64>imm); continue;
        case 0xbf: if (off != 0) break; setReg(rec, dst, reg(rec, src)); continue;
        case 0xc7: setReg(rec, dst, <u64>(<i64>reg(rec, dst) >> <i64>(<u64><i64>imm & 63))); continue;
        case 0xcf: setReg(rec, dst, <u64>(<i64>reg(rec, dst) >> <i64>(reg(rec, src) & 63))); continue;
        case 0x04: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) + <u32>imm)); continue;
        case 0x0c: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) + <u32>reg(rec, src))); continue;
        case 0x14: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) - <u32>imm)); continue;
        case 0x1c: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) - <u32>reg(rec, src))); continue;
        case 0x24: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) * <u32>imm)); continue;
        case 0x2c: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) * <u32>reg(rec, src))); continue;
        case 0x44: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) | <u32>imm)); continue;
        case 0x4c: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) | <u32>reg(rec, src))); continue;
        case 0x54: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) & <u32>imm)); continue;
        case 0x5c: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) & <u32>reg(rec, src))); continue;
        case 0x64: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) << (<u32>imm & 31))); continue;
        case 0x6c: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) << (<u32>reg(rec, src) & 31))); continue;
        case 0x74: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) >> (<u32>imm & 31))); continue;
        case 0x7c: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) >> (<u32>reg(rec, src) & 31))); continue;
        case 0xa4: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) ^ <u32>imm)); continue;
        case 0xac: setReg(rec, dst, <u64><u32>(<u32>reg(rec, dst) ^ <u32>reg(rec, src))); continue;
        case 0xb4: setReg(rec, dst, <u64><u32>imm); continue;
        case 0xbc: if (off != 0) break; setReg(rec, dst, <u64><u32>reg(rec, src)); continue;
        case 0xc4: setReg(rec, dst, <u64><u32>(<u32>(<i32><u32>reg(rec, dst) >> <i32>(<u32>imm & 31)))); continue;
        case 0xcc: setReg(rec, dst, <u64><u32>(<u32>(<i32><u32>reg(rec, dst) >> <i32>(<u32>reg(rec, src) & 31)))); continue;
        case 0x05: pc = <u32>(<i32>pc + off); continue;
        case 0x15: if (reg(rec, dst) == <u64><i64>imm) pc = <u32>(<i32>pc + off); continue;
        case 0x1d: if (reg(rec, dst) == reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0x25: if (reg(rec, dst) > <u64><i64>imm) pc = <u32>(<i32>pc + off); continue;
        case 0x2d: if (reg(rec, dst) > reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0x35: if (reg(rec, dst) >= <u64><i64>imm) pc = <u32>(<i32>pc + off); continue;
        case 0x3d: if (reg(rec, dst) >= reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0x45: if ((reg(rec, dst) & <u64><i64>imm) != 0) pc = <u32>(<i32>pc + off); continue;
        case 0x4d: if ((reg(rec, dst) & reg(rec, src)) != 0) pc = <u32>(<i32>pc + off); continue;
        case 0x55: if (reg(rec, dst) != <u64><i64>imm) pc = <u32>(<i32>pc + off); continue;
        case 0x5d: if (reg(rec, dst) != reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0x65: if (<i64>reg(rec, dst) > <i64><u64><i64>imm) pc = <u32>(<i32>pc + off); continue;
        case 0x6d: if (<i64>reg(rec, dst) > <i64>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0x75: if (<i64>reg(rec, dst) >= <i64><u64><i64>imm) pc = <u32>(<i32>pc + off); continue;
        case 0x7d: if (<i64>reg(rec, dst) >= <i64>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0xa5: if (reg(rec, dst) < <u64><i64>imm) pc = <u32>(<i32>pc + off); continue;
        case 0xad: if (reg(rec, dst) < reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0xb5: if (reg(rec, dst) <= <u64><i64>imm) pc = <u32>(<i32>pc + off); continue;
        case 0xbd: if (reg(rec, dst) <= reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0xc5: if (<i64>reg(rec, dst) < <i64><u64><i64>imm) pc = <u32>(<i32>pc + off); continue;
        case 0xcd: if (<i64>reg(rec, dst) < <i64>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0xd5: if (<i64>reg(rec, dst) <= <i64><u64><i64>imm) pc = <u32>(<i32>pc + off); continue;
        case 0xdd: if (<i64>reg(rec, dst) <= <i64>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0x16: if (<u32>reg(rec, dst) == <u32>imm) pc = <u32>(<i32>pc + off); continue;
        case 0x1e: if (<u32>reg(rec, dst) == <u32>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0x26: if (<u32>reg(rec, dst) > <u32>imm) pc = <u32>(<i32>pc + off); continue;
        case 0x2e: if (<u32>reg(rec, dst) > <u32>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0x36: if (<u32>reg(rec, dst) >= <u32>imm) pc = <u32>(<i32>pc + off); continue;
        case 0x3e: if (<u32>reg(rec, dst) >= <u32>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0x46: if ((<u32>reg(rec, dst) & <u32>imm) != 0) pc = <u32>(<i32>pc + off); continue;
        case 0x4e: if ((<u32>reg(rec, dst) & <u32>reg(rec, src)) != 0) pc = <u32>(<i32>pc + off); continue;
        case 0x56: if (<u32>reg(rec, dst) != <u32>imm) pc = <u32>(<i32>pc + off); continue;
        case 0x5e: if (<u32>reg(rec, dst) != <u32>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0x66: if (<i32><u32>reg(rec, dst) > <i32><u32>imm) pc = <u32>(<i32>pc + off); continue;
        case 0x6e: if (<i32><u32>reg(rec, dst) > <i32><u32>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0x76: if (<i32><u32>reg(rec, dst) >= <i32><u32>imm) pc = <u32>(<i32>pc + off); continue;
        case 0x7e: if (<i32><u32>reg(rec, dst) >= <i32><u32>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0xa6: if (<u32>reg(rec, dst) < <u32>imm) pc = <u32>(<i32>pc + off); continue;
        case 0xae: if (<u32>reg(rec, dst) < <u32>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0xb6: if (<u32>reg(rec, dst) <= <u32>imm) pc = <u32>(<i32>pc + off); continue;
        case 0xbe: if (<u32>reg(rec, dst) <= <u32>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0xc6: if (<i32><u32>reg(rec, dst) < <i32><u32>imm) pc = <u32>(<i32>pc + off); continue;
        case 0xce: if (<i32><u32>reg(rec, dst) < <i32><u32>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0xd6: if (<i32><u32>reg(rec, dst) <= <i32><u32>imm) pc = <u32>(<i32>pc + off); continue;
        case 0xde: if (<i32><u32>reg(rec, dst) <= <i32><u32>reg(rec, src)) pc = <u32>(<i32>pc + off); continue;
        case 0x61: {
          const ea = reg(rec, src) + <u64><i64>off;
          if ((ea >= stackLo && ea <= stackHi - 4) || (ea >= r0Lo && ea <= r0Hi - 4) || (ea >= r1Lo && ea <= r1Hi - 4) || (ea >= hitLo && ea <= hitHi - 4)) { setReg(rec, dst, <u64>load<u32>(<usize>ea)); continue; }
          break;
        }
        case 0x69: {
          const ea = reg(rec, src) + <u64><i64>off;
          if ((ea >= stackLo && ea <= stackHi - 2) || (ea >= r0Lo && ea <= r0Hi - 2) || (ea >= r1Lo && ea <= r1Hi - 2) || (ea >= hitLo && ea <= hitHi - 2)) { setReg(rec, dst, <u64>load<u16>(<usize>ea)); continue; }
          break;
        }
        case 0x71: {
          const ea = reg(rec, src) + <u64><i64>off;
          if ((ea >= stackLo && ea <= stackHi - 1) || (ea >= r0Lo && ea <= r0Hi - 1) || (ea >= r1Lo && ea <= r1Hi - 1) || (ea >= hitLo && ea <= hitHi - 1)) { setReg(rec, dst, <u64>load<u8>(<usize>ea)); continue; }
          break;
        }
        case 0x79: {
          const ea = reg(rec, src) + <u64><i64>off;
          if ((ea >= stackLo && ea <= stackHi - 8) || (ea >= r0Lo && ea <= r0Hi - 8) || (ea >= r1Lo && ea <= r1Hi - 8) || (ea >= hitLo && ea <= hitHi - 8)) { setReg(rec, dst, <u64>load<u64>(<usize>ea)); continue; }
          break;
        }
        case 0x63: {
          const ea = reg(rec, dst) + <u64><i64>off;
          if ((ea >= stackLo && ea <= stackHi - 4) || (r1W && ea >= r1Lo && ea <= r1Hi - 4) || (r0W && ea >= r0Lo && ea <= r0WHi - 4) || (hitWritable && ea >= hitLo && ea <= hitHi - 4)) { store<u32>(<usize>ea, <u32>reg(rec, src)); continue; }
          break;
        }
        case 0x6b: {
          const ea = reg(rec, dst) + <u64><i64>off;
          if ((ea >= stackLo && ea <= stackHi - 2) || (r1W && ea >= r1Lo && ea <= r1Hi - 2) || (r0W && ea >= r0Lo && ea <= r0WHi - 2) || (hitWritable && ea >= hitLo && ea <= hitHi - 2)) { store<u16>(<usize>ea, <u16>reg(rec, src)); continue; }
          break;
        }
        case 0x73: {
          const ea = reg(rec, dst) + <u64><i64>off;
          if ((ea >= stackLo && ea <= stackHi - 1) || (r1W && ea >= r1Lo && ea <= r1Hi - 1) || (r0W && ea >= r0Lo && ea <= r0WHi - 1) || (hitWritable && ea >= hitLo && ea <= hitHi - 1)) { store<u8>(<usize>ea, <u8>reg(rec, src)); continue; }
          break;
        }
        case 0x7b: {
          const ea = reg(rec, dst) + <u64><i64>off;
          if ((ea >= stackLo && ea <= stackHi - 8) || (r1W && ea >= r1Lo && ea <= r1Hi - 8) || (r0W && ea >= r0Lo && ea <= r0WHi - 8) || (hitWritable && ea >= hitLo && ea <= hitHi - 8)) { store<u64>(<usize>ea, <u64>reg(rec, src)); continue; }
          break;
        }
      }
    const cls = code & 7;

    if (cls == 7) { // ALU64
      const s: u64 = (code & 8) != 0 ? reg(rec, src) : <u64><i64>imm;
      const d = reg(rec, dst);
      let r: u64 = 0;
      switch (code >> 4) {
        case 0: r = d + s; break;
        case 1: r = d - s; break;
        case 2: r = d * s; break;
        case 3:
          if (off == 0) r = s == 0 ? 0 : d / s;
          else if (s == 0) r = 0;
          else if (<i64>s == -1) r = <u64>(-<i64>d);
          else r = <u64>(<i64>d / <i64>s);
          break;
        case 4: r = d | s; break;
        case 5: r = d & s; break;
        case 6: r = d << (s & 63); break;
        case 7: r = d >> (s & 63); break;
        case 8: if ((code & 8) != 0) fault = vmFault(rec, VM_FAULT_INSN, at); else r = <u64>(-<i64>d); break; // (0x8f: no instruction)
        case 9:
          if (off == 0) r = s == 0 ? d : d % s;
          else if (s == 0) r = d;
          else if (<i64>s == -1) r = 0;
          else r = <u64>(<i64>d % <i64>s);
          break;
        case 10: r = d ^ s; break;
        case 11:
          if ((code & 8) == 0 || off == 0) r = s;
          else if (off == 8) r = <u64><i64><i8>s;
          else if (off == 16) r = <u64><i64><i16>s;
          else if (off == 32) r = <u64><i64><i32>s;
          else { fault = vmFault(rec, VM_FAULT_INSN, at); break; }
          break;
        case 12: r = <u64>(<i64>d >> <i64>(s & 63)); break;
        case 13: // bswap (ALU64 END): unconditional
          if (imm == 16) r = bswap16(d);
          else if (imm == 32) r = bswap32(d);
          else if (imm == 64) r = bswap<u64>(d);
          else { fault = vmFault(rec, VM_FAULT_INSN, at); }
          break;
        default: fault = vmFault(rec, VM_FAULT_INSN, at);
      }
      if (fault != 0) break;
      setReg(rec, dst, r);
      continue;
    }

    if (cls == 4) { // ALU (32-bit; results zero-extended)
      const s: u32 = (code & 8) != 0 ? <u32>reg(rec, src) : <u32>imm;
      const d = <u32>reg(rec, dst);
      let r: u32 = 0;
      let wide: u64 = 0;
      let isWide = false;
      switch (code >> 4) {
        case 0: r = d + s; break;
        case 1: r = d - s; break;
        case 2: r = d * s; break;
        case 3:
          if (off == 0) r = s == 0 ? 0 : d / s;
          else if (s == 0) r = 0;
          else if (<i32>s == -1) r = <u32>(-<i32>d);
          else r = <u32>(<i32>d / <i32>s);
          break;
        case 4: r = d | s; break;
        case 5: r = d & s; break;
        case 6: r = d << (s & 31); break;
        case 7: r = d >> (s & 31); break;
        case 8: if ((code & 8) != 0) fault = vmFault(rec, VM_FAULT_INSN, at); else r = <u32>(-<i32>d); break; // (0x8c: no instruction)
        case 9:
          if (off == 0) r = s == 0 ? d : d % s;
          else if (s == 0) r = d;
          else if (<i32>s == -1) r = 0;
          else r = <u32>(<i32>d % <i32>s);
          break;
        case 10: r = d ^ s; break;
        case 11:
          if ((code & 8) == 0 || off == 0) r = s;
          else if (off == 8) r = <u32><i32><i8>s;
          else if (off == 16) r = <u32><i32><i16>s;
          else fault = vmFault(rec, VM_FAULT_INSN, at);
          break;
        case 12: r = <u32>(<i32>d >> <i32>(s & 31)); break;
        case 13: { // le (0xd4) / be (0xdc) conversions, on a little-endian machine
          const v = reg(rec, dst);
          isWide = true;
          if ((code & 8) == 0) {
            if (imm == 16) wide = v & 0xffff;
            else if (imm == 32) wide = v & 0xffffffff;
            else if (imm == 64) wide = v;
            else fault = vmFault(rec, VM_FAULT_INSN, at);
          } else {
            if (imm == 16) wide = bswap16(v);
            else if (imm == 32) wide = bswap32(v);
            else if (imm == 64) wide = bswap<u64>(v);
            else fault = vmFault(rec, VM_FAULT_INSN, at);
          }
          break;
        }
        default: fault = vmFault(rec, VM_FAULT_INSN, at);
      }
      if (fault != 0) break;
      setReg(rec, dst, isWide ? wide : <u64>r);
      continue;
    }

    if (cls == 5 || cls == 6) { // JMP, JMP32
      const op = code & 0xf0;
      if (op == 0x00) { // ja / gotol
        if (cls == 5) pc = <u32>(<i32>pc + off);
        else pc = <u32>(<i32>pc + imm);
        continue;
      }
      if (op == 0x80) { // call
        if (cls != 5 || (code & 8) != 0) { fault = vmFault(rec, VM_FAULT_INSN, at); break; }
        if (src == 1) { // bpf-to-bpf: own frame, r6-r9 saved, r10 one frame down
          if (depth + 1 >= VM_MAX_FRAMES) { fault = vmFault(rec, VM_FAULT_DEPTH, at); break; }
          const f = rec + VM_FRAMES + <usize>(depth * VM_FRAME_SIZE);
          store<u32>(f, pc);
          store<u64>(f, reg(rec, 6), 8);
          store<u64>(f, reg(rec, 7), 16);
          store<u64>(f, reg(rec, 8), 24);
          store<u64>(f, reg(rec, 9), 32);
          depth++;
          setReg(rec, 10, reg(rec, 10) - <u64>VM_FRAME_STACK);
          pc = <u32>(<i32>pc + imm);
          continue;
        }
        if (src > 2) { fault = vmFault(rec, VM_FAULT_HELPER, at); break; }
        store<u32>(rec, budget, VM_BUDGET);
        store<u64>(rec, load<u64>(rec, VM_EXECUTED) + <u64>(budget0 - budget), VM_EXECUTED);
        const hf = vmCall(rec, src == 2 ? VM_KFUNC_BASE + <u32>imm : <u32>imm, depth, at);
        budget = load<u32>(rec, VM_BUDGET);
        store<u64>(rec, load<u64>(rec, VM_EXECUTED) - <u64>(budget0 - budget), VM_EXECUTED);
        if (hf == VM_TAIL_CALL) {
          // The current frame is unwound into the new program's: same context, fresh pc.
          prog = <usize>load<u32>(rec, VM_PROG);
          n = load<u32>(rec, VM_SLOTS);
          pc = 0;
          depth = depth0;
          setReg(rec, 10, stackLo + <u64>VM_FRAME_STACK * <u64>(VM_MAX_FRAMES - depth0));
          hitLo = EMPTY_LO;
          hitHi = EMPTY_HI;
          continue;
        }
        if (hf != 0) { fault = hf; break; }
        hitLo = EMPTY_LO; // a helper may have moved the packet (region 1)
        hitHi = EMPTY_HI;
        r1Lo = <u64>load<u32>(rec, VM_REGIONS + VM_REGION_SIZE);
        r1Hi = <u64>load<u32>(rec, VM_REGIONS + VM_REGION_SIZE + 4);
        continue;
      }
      if (op == 0x90) { // exit
        if (cls != 5) { fault = vmFault(rec, VM_FAULT_INSN, at); break; }
        if (depth == depth0) break;
        depth--;
        const f = rec + VM_FRAMES + <usize>(depth * VM_FRAME_SIZE);
        pc = load<u32>(f);
        setReg(rec, 6, load<u64>(f, 8));
        setReg(rec, 7, load<u64>(f, 16));
        setReg(rec, 8, load<u64>(f, 24));
        setReg(rec, 9, load<u64>(f, 32));
        setReg(rec, 10, reg(rec, 10) + <u64>VM_FRAME_STACK);
        continue;
      }
      let taken = false;
      if (cls == 5) {
        const d = reg(rec, dst);
        const s: u64 = (code & 8) != 0 ? reg(rec, src) : <u64><i64>imm;
        switch (op >> 4) {
          case 1: taken = d == s; break;
          case 2: taken = d > s; break;
          case 3: taken = d >= s; break;
          case 4: taken = (d & s) != 0; break;
          case 5: taken = d != s; break;
          case 6: taken = <i64>d > <i64>s; break;
          case 7: taken = <i64>d >= <i64>s; break;
          case 10: taken = d < s; break;
          case 11: taken = d <= s; break;
          case 12: taken = <i64>d < <i64>s; break;
          case 13: taken = <i64>d <= <i64>s; break;
          default: fault = vmFault(rec, VM_FAULT_INSN, at);
        }
      } else {
        const d = <u32>reg(rec, dst);
        const s: u32 = (code & 8) != 0 ? <u32>reg(rec, src) : <u32>imm;
        switch (op >> 4) {
          case 1: taken = d == s; break;
          case 2: taken = d > s; break;
          case 3: taken = d >= s; break;
          case 4: taken = (d & s) != 0; break;
          case 5: taken = d != s; break;
          case 6: taken = <i32>d > <i32>s; break;
          case 7: taken = <i32>d >= <i32>s; break;
          case 10: taken = d < s; break;
          case 11: taken = d <= s; break;
          case 12: taken = <i32>d < <i32>s; break;
          case 13: taken = <i32>d <= <i32>s; break;
          default: fault = vmFault(rec, VM_FAULT_INSN, at);
        }
      }
      if (fault != 0) break;
      if (taken) pc = <u32>(<i32>pc + off);
      continue;
    }

    if (cls == 1) { // LDX
      const mode = code & 0xe0;
      const sz = code & 0x18;
      const size: u32 = sz == 0x00 ? 4 : sz == 0x08 ? 2 : sz == 0x10 ? 1 : 8;
      const ea = reg(rec, src) + <u64><i64>off;
      let a: usize = 0;
      if ((ea >= stackLo && ea <= stackHi - <u64>size) || (ea >= hitLo && ea <= hitHi - <u64>size)) a = <usize>ea;
      else {
        a = vmCheck(rec, ea, size, false);
        if (a == 0) { fault = vmFault(rec, VM_FAULT_READ, at); break; }
        const r = lastRegion;
        if (r != 0) { hitLo = <u64>load<u32>(r); hitHi = <u64>load<u32>(r, 4); hitWritable = regionWriteHi(r) == hitHi; }
      }
      let v: u64 = 0;
      if (mode == 0x60) {
        if (size == 4) v = <u64>load<u32>(a);
        else if (size == 2) v = <u64>load<u16>(a);
        else if (size == 1) v = <u64>load<u8>(a);
        else v = load<u64>(a);
      } else if (mode == 0x80 && size != 8) {
        if (size == 4) v = <u64><i64>load<i32>(a);
        else if (size == 2) v = <u64><i64>load<i16>(a);
        else v = <u64><i64>load<i8>(a);
      } else { fault = vmFault(rec, VM_FAULT_INSN, at); break; }
      setReg(rec, dst, v);
      continue;
    }

    if (cls == 2 || cls == 3) { // ST, STX
      const mode = code & 0xe0;
      const sz = code & 0x18;
      const size: u32 = sz == 0x00 ? 4 : sz == 0x08 ? 2 : sz == 0x10 ? 1 : 8;
      const ea = reg(rec, dst) + <u64><i64>off;
      let a: usize = 0;
      if ((ea >= stackLo && ea <= stackHi - <u64>size) || (hitWritable && ea >= hitLo && ea <= hitHi - <u64>size)) a = <usize>ea;
      else {
        a = vmCheck(rec, ea, size, true);
        if (a == 0) { fault = vmFault(rec, VM_FAULT_WRITE, at); break; }
        const r = lastRegion;
        if (r != 0) { hitLo = <u64>load<u32>(r); hitHi = <u64>load<u32>(r, 4); hitWritable = regionWriteHi(r) == hitHi; }
      }
      if (mode == 0x60) {
        const v: u64 = cls == 2 ? <u64><i64>imm : reg(rec, src);
        if (size == 4) store<u32>(a, <u32>v);
        else if (size == 2) store<u16>(a, <u16>v);
        else if (size == 1) store<u8>(a, <u8>v);
        else store<u64>(a, v);
        continue;
      }
      if (mode != 0xc0 || cls != 3 || (size != 4 && size != 8)) { fault = vmFault(rec, VM_FAULT_INSN, at); break; }
      if ((a & <usize>(size - 1)) != 0) { fault = vmFault(rec, VM_FAULT_ALIGN, at); break; }
      // Atomics on the shared memory (§1.7); 32-bit forms zero-extend what they return.
      const s = reg(rec, src);
      const fetch = (imm & 1) != 0;
      let old: u64 = 0;
      if (size == 8) {
        switch (imm) {
          case 0x00: case 0x01: old = atomic.add<u64>(a, s); break;
          case 0x40: case 0x41: old = atomic.or<u64>(a, s); break;
          case 0x50: case 0x51: old = atomic.and<u64>(a, s); break;
          case 0xa0: case 0xa1: old = atomic.xor<u64>(a, s); break;
          case 0xe1: old = atomic.xchg<u64>(a, s); break;
          case 0xf1: old = atomic.cmpxchg<u64>(a, reg(rec, 0), s); setReg(rec, 0, old); break;
          default: fault = vmFault(rec, VM_FAULT_INSN, at);
        }
      } else {
        const s32 = <u32>s;
        switch (imm) {
          case 0x00: case 0x01: old = <u64>atomic.add<u32>(a, s32); break;
          case 0x40: case 0x41: old = <u64>atomic.or<u32>(a, s32); break;
          case 0x50: case 0x51: old = <u64>atomic.and<u32>(a, s32); break;
          case 0xa0: case 0xa1: old = <u64>atomic.xor<u32>(a, s32); break;
          case 0xe1: old = <u64>atomic.xchg<u32>(a, s32); break;
          case 0xf1: old = <u64>atomic.cmpxchg<u32>(a, <u32>reg(rec, 0), s32); setReg(rec, 0, old); break;
          default: fault = vmFault(rec, VM_FAULT_INSN, at);
        }
      }
      if (fault != 0) break;
      if (imm == 0xe1 || (fetch && imm != 0xf1)) setReg(rec, src, old);
      continue;
    }

    // LD: lddw and the legacy packet loads.
    if (code == 0x18) {
      // src 0: the constant; src BPF_PSEUDO_FUNC: a pointer to the function at pc + 1 + imm
      // (FUNC_TAG << 32 | its pc: what bpf_loop takes as a callback).
      if (pc >= n || (src != 0 && src != PSEUDO_FUNC)) { fault = vmFault(rec, VM_FAULT_INSN, at); break; }
      const hi = load<u32>(ip, 12);
      setReg(rec, dst, src == 0 ? (<u64>hi << 32) | <u64><u32>imm : (FUNC_TAG << 32) | <u64><u32>(<i32>pc + imm));
      pc++;
      continue;
    }
    if (code == 0x20 || code == 0x28 || code == 0x30 || code == 0x40 || code == 0x48 || code == 0x50) {
      const size: u32 = (code & 0x18) == 0 ? 4 : (code & 0x18) == 0x08 ? 2 : 1;
      const base: u64 = (code & 0x40) != 0 ? <u64><u32>reg(rec, src) : 0;
      if (!ldAbs(rec, base + <u64><u32>imm, size)) { setReg(rec, 0, 0); depth = depth0; break; }
      continue;
    }
    fault = vmFault(rec, VM_FAULT_INSN, at);
    break;
  }
  store<u32>(rec, budget, VM_BUDGET);
  store<u64>(rec, load<u64>(rec, VM_EXECUTED) + <u64>(budget0 - budget), VM_EXECUTED);
  return fault;
}

/**
 * Compiled code whose budget cannot pay for the block it is entering (at `pc`, registers
 * in the record, the budget in VM_BUDGET) hands the rest of the run here: the run ends in
 * that block — a budget fault, a fault one of the instructions the budget still pays for
 * raises, or a legacy packet load out of range (0, r0 = 0) — run exactly as the
 * interpreter runs it. The executed count stays the compiled code's to keep.
 */
export function vmRunShort(rec: usize, pc: u32, depth: u32): u32 {
  const executed = load<u64>(rec, VM_EXECUTED);
  const f = vmExec(rec, pc, depth);
  store<u64>(rec, executed, VM_EXECUTED);
  return f;
}

/** Runs the program of the record from its start: r1..r5 as the caller set them, r10 at the stack top. */
export function vmRun(rec: usize): u32 {
  store<u32>(rec, 0, VM_KVIEW);
  store<u32>(rec, 0, VM_FAULT);
  store<u32>(rec, 0, VM_TAIL_CALLS);
  store<u32>(rec, 0, VM_FAULT_PC);
  setReg(rec, 10, <u64>load<u32>(rec, VM_STACK) + <u64>VM_FRAME_STACK * <u64>VM_MAX_FRAMES);
  return vmExec(rec, 0, 0);
}

/**
 * Runs the record's program `n` times on the same context and packet (BPF_PROG_TEST_RUN's
 * `repeat`), on its compiled code when `jit` names a slot: r1..r5 as set before the first
 * run, budget per run; stops at a fault. VM_RUNS: the runs made, the faulting one included.
 */
export function vmRunRepeat(rec: usize, n: u32, jit: u32): u32 {
  const a1 = reg(rec, 1), a2 = reg(rec, 2), a3 = reg(rec, 3), a4 = reg(rec, 4), a5 = reg(rec, 5);
  const budget = load<u32>(rec, VM_BUDGET);
  const prog = load<u32>(rec, VM_PROG), slots = load<u32>(rec, VM_SLOTS);
  // A tail call replaces the program's regions and maps in the record: keep them.
  store<u32>(rec, load<u32>(rec, VM_NPROG_REGIONS), VM_SAVED);
  store<u32>(rec, load<u32>(rec, VM_PROG_REGIONS), VM_SAVED + 4);
  store<u32>(rec, load<u32>(rec, VM_NMAPS), VM_SAVED + 8);
  store<u32>(rec, load<u32>(rec, VM_MAPS), VM_SAVED + 12);
  let f: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    // Each repetition starts as the first: r1..r5 the arguments, the other registers 0 (as
    // the compiled batch code starts every run; nothing is left over from the last one).
    setReg(rec, 0, 0);
    setReg(rec, 1, a1); setReg(rec, 2, a2); setReg(rec, 3, a3); setReg(rec, 4, a4); setReg(rec, 5, a5);
    setReg(rec, 6, 0); setReg(rec, 7, 0); setReg(rec, 8, 0); setReg(rec, 9, 0);
    store<u32>(rec, budget, VM_BUDGET);
    store<u32>(rec, prog, VM_PROG);
    store<u32>(rec, slots, VM_SLOTS);
    if (i > 0 && load<u32>(rec, VM_TAIL_CALLS) != 0) {
      store<u32>(rec, load<u32>(rec, VM_SAVED), VM_NPROG_REGIONS);
      store<u32>(rec, load<u32>(rec, VM_SAVED + 4), VM_PROG_REGIONS);
      store<u32>(rec, load<u32>(rec, VM_SAVED + 8), VM_NMAPS);
      store<u32>(rec, load<u32>(rec, VM_SAVED + 12), VM_MAPS);
    }
    f = progRun(rec, jit);
    store<u32>(rec, i + 1, VM_RUNS);
    if (f != 0) break;
  }
  return f;
}

/** What every unused function-table slot holds: the interpreter, from pc 0 of the record's program. */
export function jitFallback(rec: usize): u32 {
  return vmExec(rec, 0, 0);
}

/** What every unused batch slot (JIT_SLOTS above a program slot) holds: no batch; the caller runs each packet itself. */
export function jitBatchFallback(rec: usize, entries: usize, n: u32): u32 {
  return 0;
}

/**
 * Runs a program like `vmRun`, on its compiled code when it has some (`jit` = its table
 * slot, 0 = none). Compiled code hands tail calls back here: the run continues with the
 * target's compiled code, or on the interpreter (which follows further tail calls itself).
 */
export function progRun(rec: usize, jit: u32): u32 {
  store<u32>(rec, 0, VM_KVIEW);
  store<u32>(rec, 0, VM_FAULT);
  store<u32>(rec, 0, VM_TAIL_CALLS);
  store<u32>(rec, 0, VM_FAULT_PC);
  return runFollowing(rec, jit);
}

/**
 * The record's program from its start, on its compiled code (`jit`, 0 = the interpreter),
 * then each program a tail call hands the run to, on its own: the run's fault or 0.
 */
function runFollowing(rec: usize, jit: u32): u32 {
  const top = <u64>load<u32>(rec, VM_STACK) + <u64>VM_FRAME_STACK * <u64>VM_MAX_FRAMES;
  let j = jit;
  while (true) {
    setReg(rec, 10, top);
    if (j == 0) return vmExec(rec, 0, 0);
    const f = call_indirect<u32>(j, rec);
    if (f != VM_TAIL_CALL) return f;
    j = load<u32>(<usize>load<u32>(rec, VM_TAIL_PROG), PR_JIT);
  }
}

/**
 * A tail call made by compiled batch code, run to its end: into program record `prog`
 * (`tailEnter`; VM_TAIL_FELL when the call falls through), or, `prog` 0, one the tail-call
 * helper already entered. The record holds the registers and the budget; the target runs,
 * and any tail calls after it, as `progRun` follows them. Returns the fault (0, or a
 * VM_FAULT_*); r0, the budget and the instructions run are in the record. (The generated
 * code's `tail` import.)
 */
export function jitTail(rec: usize, prog: usize): u32 {
  if (prog != 0 && !tailEnter(rec, prog)) return VM_TAIL_FELL;
  return runFollowing(rec, load<u32>(<usize>load<u32>(rec, VM_TAIL_PROG), PR_JIT));
}

const BPF_FUNC_LOOP: u32 = 181;
const BPF_FUNC_FOR_EACH_MAP_ELEM: u32 = 164;

/**
 * for_each_map_elem(map, callback, ctx, flags): callback(map, &key, &value, ctx, 0) for each
 * element (an array's every entry, this CPU's value of a per-CPU map) until it returns
 * non-zero; r0 = the elements visited, that one included. -EINVAL for flags.
 */
function forEachMapElem(rec: usize, depth: u32, pc: u32): u32 {
  const m = reg(rec, 1);
  const fn = reg(rec, 2);
  const ctx = reg(rec, 3);
  if (!knownMap(rec, m)) return vmFault(rec, VM_FAULT_HELPER, pc);
  const map = <usize>m;
  const n = mapIterCount(map);
  if (n == 0) return vmFault(rec, VM_FAULT_HELPER, pc); // (a map type the kernel's verifier refuses here)
  if (reg(rec, 4) != 0) { setReg(rec, 0, <u64>EINVAL); return 0; }
  const t = load<u32>(map, MAP_TYPE);
  const array = t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY;
  const cpu = load<u32>(rec, VM_THREAD);
  const saved = load<u32>(rec, VM_ITER_KEY);
  const out = rec + VM_REGS + 88; // r11: scratch inside the record
  let done: u64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const v = mapIterValue(map, i, cpu);
    if (v == 0) continue;
    let key: usize;
    if (array) {
      store<u32>(rec, i, VM_ITER_KEY);
      key = rec + VM_ITER_KEY;
    } else key = mapIterKey(map, i);
    done++;
    setReg(rec, 1, m);
    setReg(rec, 2, <u64>key);
    setReg(rec, 3, <u64>v);
    setReg(rec, 4, ctx);
    setReg(rec, 5, 0);
    const f = callback(rec, fn, depth, pc, out);
    if (f != 0) return f;
    if (load<u64>(out) != 0) break;
  }
  store<u32>(rec, saved, VM_ITER_KEY);
  setReg(rec, 0, done);
  return 0;
}

/**
 * Runs helper `id` for the instruction at `pc` (the interpreter's and compiled code's
 * entry, exported as `vmHelper`): bpf_loop here, as it calls back into the interpreter;
 * every other helper in helpers.ts. Returns 0 or a fault code.
 */
export function vmCall(rec: usize, id: u32, depth: u32, pc: u32): u32 {
  if (id == BPF_FUNC_FOR_EACH_MAP_ELEM) return forEachMapElem(rec, depth, pc);
  if (id != BPF_FUNC_LOOP) return vmHelper(rec, id, depth, pc);
  // loop(nr, callback, ctx, flags)
  const nr = reg(rec, 1);
  const fn = reg(rec, 2);
  const ctx = reg(rec, 3);
  if (reg(rec, 4) != 0) { setReg(rec, 0, <u64>EINVAL); return 0; }
  if (nr > (1 << 23)) { setReg(rec, 0, <u64>E2BIG); return 0; }
  const out = rec + VM_REGS + 88; // r11: scratch inside the record
  let i: u64 = 0;
  while (i < nr) {
    store<u64>(rec + VM_REGS + 8, i);
    store<u64>(rec + VM_REGS + 16, ctx);
    const f = callback(rec, fn, depth, pc, out);
    if (f != 0) return f;
    i++;
    if (load<u64>(out) != 0) break;
  }
  setReg(rec, 0, i);
  return 0;
}

/** Calls the program-local function `fn` (a FUNC_TAG pointer) with r1..r5 already set; returns its r0 or a fault. */
function callback(rec: usize, fn: u64, depth: u32, pc: u32, out: usize): u32 {
  if ((fn >> 32) != FUNC_TAG) return vmFault(rec, VM_FAULT_HELPER, pc);
  if (depth + 1 >= VM_MAX_FRAMES) return vmFault(rec, VM_FAULT_DEPTH, pc);
  const f = rec + VM_FRAMES + <usize>(depth * VM_FRAME_SIZE);
  store<u64>(f, reg(rec, 6), 8);
  store<u64>(f, reg(rec, 7), 16);
  store<u64>(f, reg(rec, 8), 24);
  store<u64>(f, reg(rec, 9), 32);
  const r10 = reg(rec, 10);
  store<u64>(rec + VM_REGS + 80, r10 - <u64>VM_FRAME_STACK);
  const fault = vmExec(rec, <u32>fn, depth + 1);
  store<u64>(out, reg(rec, 0));
  store<u64>(rec + VM_REGS + 48, load<u64>(f, 8));
  store<u64>(rec + VM_REGS + 56, load<u64>(f, 16));
  store<u64>(rec + VM_REGS + 64, load<u64>(f, 24));
  store<u64>(rec + VM_REGS + 72, load<u64>(f, 32));
  store<u64>(rec + VM_REGS + 80, r10);
  return fault;
}

