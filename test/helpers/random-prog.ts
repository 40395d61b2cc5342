/**
 * Random eBPF bytecode for the fuzz tests: opcodes biased towards valid ones so runs get
 * somewhere, registers mostly r0/r2/r8/r10 (the 0xaa mask), offsets often small multiples
 * of 8 either side of zero, so loads and stores hit the region, the stack, or nothing.
 */
const OPS = [0x07, 0x0f, 0x17, 0x1f, 0x27, 0x37, 0x3f, 0x47, 0x57, 0x67, 0x6f, 0x77, 0x87, 0x97, 0x9f, 0xa7, 0xb7, 0xbf, 0xc7, 0x04, 0x0c, 0x34, 0x3c, 0xb4, 0xbc, 0xd4, 0xdc, 0xd7,
  0x05, 0x06, 0x15, 0x1d, 0x25, 0x55, 0x65, 0xa5, 0x16, 0x1e, 0x85, 0x95, 0x61, 0x69, 0x71, 0x79, 0x81, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb, 0x18, 0x20, 0x28, 0x30, 0x40];

export function randomProgram(rnd: () => number, maxSlots = 63): Uint8Array {
  const n = 1 + Math.floor(rnd() * maxSlots);
  const b = new Uint8Array(n * 8);
  for (let i = 0; i < n; i++) {
    b[i * 8] = rnd() < 0.9 ? OPS[Math.floor(rnd() * OPS.length)]! : Math.floor(rnd() * 256);
    b[i * 8 + 1] = Math.floor(rnd() * 256) & (rnd() < 0.9 ? 0xaa : 0xff);
    for (let k = 2; k < 8; k++) b[i * 8 + k] = rnd() < 0.5 ? 0 : Math.floor(rnd() * 256);
    if (rnd() < 0.5) { b[i * 8 + 2] = Math.floor(rnd() * 16) * 8 & 0xff; b[i * 8 + 3] = rnd() < 0.5 ? 0 : 0xff; }
  }
  return b;
}

/**
 * A long straight program (at least `min` instructions, r1 the start of a 200-byte region):
 * bounds-checked byte reads, stack stores and loads, forward branches. Its assembly text.
 */
export function longProgram(min: number): string {
  const lines = ['mov %r6, %r1', 'mov %r7, %r1', 'add %r7, 200', 'mov %r0, 0'];
  for (let i = 0; lines.length < min; i++) {
    lines.push('mov %r4, %r6', `add %r4, ${(i % 40) + 2}`, 'jgt %r4, %r7, +2', `ldxb %r5, [%r6+${i % 40}]`, 'add %r0, %r5',
      `stxdw [%r10-${8 + (i % 8) * 8}], %r0`, `ldxdw %r0, [%r10-${8 + (i % 8) * 8}]`);
  }
  lines.push('exit');
  return lines.join('\n');
}
