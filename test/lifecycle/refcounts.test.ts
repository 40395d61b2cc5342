/**
 * The kernel's reference rules for what the emulator frees: a map lives while its handle
 * or a program (or an outer map) holds it; a PROG_ARRAY lets go of its programs when its
 * handle closes; an AF_XDP socket's memory waits for the sockets sharing its UMEM.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { XDP_SHARED_UMEM, XskSocket } from '../../src/xdp/socket.js';

const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fixtures/bpf/${name}`, import.meta.url)));
const key0 = new Uint8Array(4);

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 2 });
});
afterEach(async () => {
  await emu.close();
});

describe('map references', () => {
  it('a map outlives its handle while a program uses it, and goes with the program', () => {
    const obj = emu.loadObject(fixture('tc_counters.o'));
    const map = obj.maps.get('proto_count')!;
    emu.closeMap(map);
    expect(map.freed).toBe(false);
    expect(() => emu.closeMap(map)).toThrow(expect.objectContaining({ errno: 'EBADF' }));
    emu.closeProgram(obj.programs.get('count')!);
    expect(map.freed).toBe(true);
    expect(() => map.lookup(key0)).toThrow(expect.objectContaining({ errno: 'EBADF' }));
  });

  it('a map outlives its programs while its handle is open', () => {
    const obj = emu.loadObject(fixture('tc_counters.o'));
    const map = obj.maps.get('proto_count')!;
    emu.closeProgram(obj.programs.get('count')!);
    expect(map.freed).toBe(false);
    expect(() => map.lookup(key0)).not.toThrow();
    emu.closeMap(map);
    expect(map.freed).toBe(true);
  });

  it('closing a PROG_ARRAY handle empties it: programs held only by its slots go', () => {
    const obj = emu.loadObject(fixture('tailcall.o'));
    const jump = obj.maps.get('jump')!;
    const before = emu.bpf.progs.size;
    for (const p of obj.programs.values()) emu.closeProgram(p);
    // stage2 is in a slot of `jump`; stage1 uses `jump`
    expect(emu.bpf.progs.size).toBeLessThan(before);
    expect(emu.bpf.progs.size).toBeGreaterThan(0);
    emu.closeObject(obj);
    expect(emu.bpf.progs.size).toBe(0);
    expect(jump.freed).toBe(true);
  });
});

describe('AF_XDP socket memory', () => {
  it('a socket whose UMEM another one shares keeps its memory until that one closes', () => {
    emu.addNic({ name: 'eth0', rxQueues: 2 });
    emu.setLink('init', 'eth0', { up: true });
    const a = new XskSocket(emu.dp, { umemSize: 8 * 4096 });
    const b = new XskSocket(emu.dp, { umemSize: 0, fillSize: 0, compSize: 0 });
    emu.xskBind('init', 'eth0', 0, a);
    emu.xskBind('init', 'eth0', 0, b, { flags: XDP_SHARED_UMEM, sharedUmem: a });
    const live = emu.dp.liveBytes;
    emu.xskClose(a);
    expect(a.freed).toBe(false);
    expect(emu.dp.liveBytes).toBe(live);
    expect(() => a.statistics()).toThrow(expect.objectContaining({ errno: 'EBADF' }));
    emu.xskClose(b);
    expect(a.freed && b.freed).toBe(true);
    expect(emu.dp.liveBytes).toBeLessThan(live - 8 * 4096);
  });
});
