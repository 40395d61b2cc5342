/**
 * The benches' test frame, shared by bench/xmit.ts, bench/web.ts and the page side of the
 * web bench (web/src/bench.ts): no Node imports, so the page bundles it too.
 */

/** Ethernet + IPv4 + UDP (to port 53), zero-padded to `size`. */
export function benchFrame(size: number): Uint8Array {
  const f = new Uint8Array(size);
  f.set([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00], 0);
  f.set([0x45, 0, (size - 14) >> 8, (size - 14) & 255, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  f.set([0x30, 0x39, 0, 53, (size - 34) >> 8, (size - 34) & 255, 0, 0], 34);
  return f;
}
