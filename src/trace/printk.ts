/**
 * bpf_trace_printk output: the dataplane keeps each call's format and arguments in a
 * per-thread ring; the host formats them as trace_pipe shows them (`bpftool prog tracelog`).
 * The kernel's format subset: %d %i %u %x %X %p %c %%, with l/ll length modifiers.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';

/** printf the way bpf_trace_printk does, 64-bit arguments as the program passed them. */
export function formatPrintk(fmt: string, args: bigint[]): string {
  let i = 0;
  return fmt.replace(/%(l{0,2})([diuxXpc%])/g, (_m, l: string, c: string) => {
    if (c === '%') return '%';
    const raw = args[i++] ?? 0n;
    const bits = l === '' ? 32 : 64;
    const u = BigInt.asUintN(bits, raw);
    switch (c) {
      case 'd': case 'i': return BigInt.asIntN(bits, raw).toString();
      case 'u': return u.toString();
      case 'x': return u.toString(16);
      case 'X': return u.toString(16).toUpperCase();
      case 'p': return `0x${BigInt.asUintN(64, raw).toString(16)}`;
      default: return String.fromCharCode(Number(raw & 0xffn));
    }
  });
}

/** Drains every thread's printk ring into trace_pipe lines. */
export function drainPrintk(dp: Dataplane): string[] {
  const out: { ts: bigint; line: string }[] = [];
  const dec = new TextDecoder();
  for (let t = 0; t < dp.threads; t++) {
    dp.drainRing(dp.thread(t).printk, (e) => {
      const dv = dp.view();
      const n = dv.getUint32(e + A.PK_FMT_LEN, true);
      const raw = dp.bytes().slice(e + A.PK_FMT, e + A.PK_FMT + n);
      const fmt = dec.decode(raw.subarray(0, raw.indexOf(0) >= 0 ? raw.indexOf(0) : n));
      const args = [0, 1, 2].map((k) => dv.getBigUint64(e + A.PK_ARGS + k * 8, true));
      const ts = dv.getBigUint64(e + A.PK_TSTAMP, true);
      const sec = `${ts / 1_000_000_000n}.${String((ts % 1_000_000_000n) / 1000n).padStart(6, '0')}`;
      out.push({ ts, line: `          nkemu-${t}       [${String(t).padStart(3, '0')}] ..... ${sec.padStart(12)}: bpf_trace_printk: ${formatPrintk(fmt, args).replace(/\n$/, '')}` });
    });
  }
  return out.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0)).map((x) => x.line);
}
