import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { formatPrintk } from '../../src/trace/printk.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

describe('bpf_trace_printk', () => {
  it('formats the kernel subset with length modifiers', () => {
    expect(formatPrintk('a %d b %u c %x %% %lld %llx %c', [0xffffffffn, 7n, 255n, -3n & 0xffffffffffffffffn, 0xabcdn, 65n])).toBe('a -1 b 7 c ff % -3 abcd A');
  });

  it('a clang-compiled bpf_printk shows up on the trace pipe, in order, once', async () => {
    emu = await Emulator.create({});
    const prog = emu.loadObject(readFileSync(new URL('../fixtures/bpf/printk.o', import.meta.url))).programs.get('hello')!;
    const pkt = new Uint8Array(60);
    emu.testRun(prog, { data: pkt });
    emu.testRun(prog, { data: pkt.subarray(0, 42) });
    const lines = emu.tracePipe();
    expect(lines.map((l) => l.replace(/^.*bpf_trace_printk: /, ''))).toEqual(['len 60 mark -5 proto beef', 'len 42 mark -5 proto beef']);
    expect(lines[0]).toMatch(/^\s+nkemu-0\s+\[000\] \.\.\.\.\. +\d+\.\d{6}: bpf_trace_printk: /);
    expect(emu.tracePipe()).toEqual([]);
  });
});
