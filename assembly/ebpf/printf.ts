// bpf_snprintf (kernel/bpf/helpers.c): the format checked as bpf_bprintf_prepare checks it
// (printable ASCII; per conversion the flags "0 +-", a width, then %d %i %u %x %X with
// l / ll, %c or %s; no precision; at most one conversion per 8-byte argument), then written
// as the kernel's vsnprintf writes those conversions. nkemu has no %p conversions (-EINVAL).
// Nothing is allocated: the output is written straight into the program's buffer.

import { EINVAL } from "./errno";
import { vmCheck } from "./access";

/** MAX_BPRINTF_BUF: the room the kernel copies %s strings into (with the other arguments). */
const MAX_BPRINTF_BUF: u32 = 512;

let outBuf: usize = 0;
let outSize: u32 = 0;
let outPos: u32 = 0;

@inline function emit(c: u32): void {
  if (outSize != 0 && outPos < outSize - 1) store<u8>(outBuf + <usize>outPos, <u8>c);
  outPos++;
}

function pad(n: i32, c: u32): void {
  for (let i: i32 = 0; i < n; i++) emit(c);
}

/** The format's byte `i`, or -1 when it cannot be read (past the constant string). */
function fmtAt(rec: usize, fmt: u64, i: u32): i32 {
  const p = vmCheck(rec, fmt + <u64>i, 1, false);
  return p == 0 ? -1 : <i32>load<u8>(p);
}

@inline function isPrint(c: i32): bool { return c >= 0x20 && c < 0x7f; }
@inline function isSpace(c: i32): bool { return c == 0x20 || (c >= 9 && c <= 13); }

/**
 * bpf_snprintf(out, size, fmt, data, data_len): the formatted string's length with its NUL
 * (what it needs, even when `size` cut it short: the output is truncated and terminated), or
 * -EINVAL for a bad format (out untouched).
 */
export function bpfSnprintf(rec: usize, out: usize, size: u32, fmt: u64, data: usize, nargs: u32): i64 {
  outBuf = out;
  outSize = size;
  outPos = 0;
  // First pass: bpf_bprintf_prepare's checks (before anything is written).
  let spec: u32 = 0;
  for (let i: u32 = 0; ; i++) {
    let c = fmtAt(rec, fmt, i);
    if (c <= 0) break;
    if (!isPrint(c) && !isSpace(c)) return EINVAL;
    if (c != 0x25) continue;
    if (fmtAt(rec, fmt, i + 1) == 0x25) { i++; continue; }
    if (spec >= nargs) return EINVAL;
    i++;
    c = fmtAt(rec, fmt, i);
    while (c == 0x30 || c == 0x2b || c == 0x2d || c == 0x20) c = fmtAt(rec, fmt, ++i);
    if (c >= 0x31 && c <= 0x39) {
      c = fmtAt(rec, fmt, ++i);
      while (c >= 0x30 && c <= 0x39) c = fmtAt(rec, fmt, ++i);
    }
    if (c == 0x73 || c == 0x63) { spec++; continue; } // %s, %c
    if (c == 0x6c) c = fmtAt(rec, fmt, ++i);
    if (c == 0x6c) c = fmtAt(rec, fmt, ++i);
    if (c != 0x69 && c != 0x64 && c != 0x75 && c != 0x78 && c != 0x58) return EINVAL;
    spec++;
  }
  // Second pass: the output.
  let arg: u32 = 0;
  let strRoom: u32 = MAX_BPRINTF_BUF;
  for (let i: u32 = 0; ; i++) {
    let c = fmtAt(rec, fmt, i);
    if (c <= 0) break;
    if (c != 0x25) { emit(<u32>c); continue; }
    if (fmtAt(rec, fmt, i + 1) == 0x25) { emit(0x25); i++; continue; }
    c = fmtAt(rec, fmt, ++i);
    let zero = false, left = false, plus = false, space = false;
    while (c == 0x30 || c == 0x2b || c == 0x2d || c == 0x20) {
      if (c == 0x30) zero = true; else if (c == 0x2b) plus = true; else if (c == 0x2d) left = true; else space = true;
      c = fmtAt(rec, fmt, ++i);
    }
    let width: i32 = 0;
    while (c >= 0x30 && c <= 0x39) {
      if (width < 0x10000) width = width * 10 + (c - 0x30);
      c = fmtAt(rec, fmt, ++i);
    }
    const v = load<u64>(data + (<usize>arg << 3));
    arg++;
    if (c == 0x63) { // %c
      if (!left) pad(width - 1, 0x20);
      emit(<u32>v & 0xff);
      if (left) pad(width - 1, 0x20);
      continue;
    }
    if (c == 0x73) { // %s: the string as the kernel copied it (an unreadable one is empty)
      let n: u32 = 0;
      while (n + 1 < strRoom) {
        const p = vmCheck(rec, v + <u64>n, 1, false);
        if (p == 0 || load<u8>(p) == 0) break;
        n++;
      }
      strRoom -= n + 1;
      if (!left) pad(width - <i32>n, 0x20);
      for (let k: u32 = 0; k < n; k++) emit(<u32>load<u8>(vmCheck(rec, v + <u64>k, 1, false)));
      if (left) pad(width - <i32>n, 0x20);
      continue;
    }
    let wide = false;
    if (c == 0x6c) { wide = true; c = fmtAt(rec, fmt, ++i); }
    if (c == 0x6c) c = fmtAt(rec, fmt, ++i);
    const signed = c == 0x64 || c == 0x69;
    const base: u64 = c == 0x78 || c == 0x58 ? 16 : 10;
    const upper = c == 0x58;
    let x: u64 = wide ? v : signed ? <u64><i64><i32>v : v & 0xffffffff;
    let sign: u32 = 0;
    if (signed) {
      if (<i64>x < 0) { sign = 0x2d; x = <u64>(-<i64>x); }
      else if (plus) sign = 0x2b;
      else if (space) sign = 0x20;
    }
    // the digits, counted first (no buffer): the highest power of the base not above x
    let digits: i32 = 1;
    let div: u64 = 1;
    while (x / div >= base) { div *= base; digits++; }
    let fill = width - digits - (sign != 0 ? 1 : 0);
    if (!left && !zero) pad(fill, 0x20);
    if (sign != 0) emit(sign);
    if (!left && zero) pad(fill, 0x30);
    while (div != 0) {
      const d = <u32>((x / div) % base);
      emit(d < 10 ? 0x30 + d : (upper ? 0x41 : 0x61) + d - 10);
      div /= base;
    }
    if (left) pad(fill, 0x20);
  }
  if (size != 0) store<u8>(out + <usize>(outPos < size - 1 ? outPos : size - 1), 0);
  return <i64>outPos + 1;
}
