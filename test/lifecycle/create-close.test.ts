/**
 * Emulator.create's options (each range checked with EINVAL naming the option; every
 * combination inside the ranges starts), shared memory growth and ENOMEM, and close():
 * memory and threads let go at once, ESHUTDOWN after, idle workers do not keep Node alive,
 * inline long calls yield to timers.
 */
import * as A from '../../src/abi.generated.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Emulator, NetError } from '../../src/emulator.js';
import { LoadError } from '../../src/ebpf/load-error.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { progRecordSize } from '../../src/ebpf/syscall.js';
import { OPTION_RULES } from '../../src/options.js';
import { XskSocket } from '../../src/xdp/socket.js';

async function refused(p: Promise<unknown>): Promise<NetError> {
  try { await p; } catch (e) { if (e instanceof NetError) return e; throw e; }
  throw new Error('expected a NetError');
}

describe('Emulator.create options', () => {
  const cases: [string, unknown][] = [
    ['workers', -1], ['workers', 65], ['workers', 1.5], ['workers', '2'],
    ['appThreads', 17], ['maxDevices', 15], ['framesPerThread', 100], ['framesPerThread', 131072],
    ['frameSize', 1024], ['frameSize', 3000], ['ringSize', 32], ['traceSlots', 63],
    ['captureSnaplen', -1], ['captureSnaplen', 65536], ['maxMemory', 1 << 20], ['maxMemory', 2 ** 33],
    ['workerTimeoutMs', 0], ['seed', -1], ['roundNs', 0], ['perNetnsUnregister', 'yes'], ['jit', 1],
    ['wasm', 42], ['wasmUrl', 42], ['workerUrl', {}], ['rxqueues', 4],
  ];
  for (const [name, value] of cases) {
    it(`${name}: ${JSON.stringify(value) ?? String(value)} is EINVAL naming the option`, async () => {
      const e = await refused(Emulator.create({ [name]: value } as never));
      expect(e.errno).toBe('EINVAL');
      expect(e.message).toContain(name);
    });
  }

  it('every option has a rule (README lists the same table)', () => {
    for (const name of ['workers', 'appThreads', 'maxDevices', 'framesPerThread', 'frameSize', 'ringSize', 'traceSlots', 'captureSnaplen', 'maxMemory', 'workerTimeoutMs', 'seed', 'roundNs', 'perNetnsUnregister', 'jit', 'wasm', 'wasmUrl', 'workerUrl']) {
      expect(OPTION_RULES[name], name).toBeDefined();
    }
  });

  it('a non-object is EINVAL', async () => {
    expect((await refused(Emulator.create(42 as never))).errno).toBe('EINVAL');
    expect((await refused(Emulator.create(null as never))).errno).toBe('EINVAL');
  });

  it('the ends of the ranges start: workers 6 (64 below), framesPerThread 65536, captureSnaplen 0', async () => {
    for (const o of [{ workers: 6, framesPerThread: 64 }, { framesPerThread: 65536, frameSize: 2048, appThreads: 0 }, { captureSnaplen: 0 }, { frameSize: 65536, framesPerThread: 64 }]) {
      const emu = await Emulator.create(o);
      expect(emu.workers).toBe(o.workers ?? 0);
      await emu.close();
    }
  }, 120_000);

  // 64 workers from the built package (as users start them: each worker loads plain JS;
  // from the TypeScript sources each would compile them again, ~0.4 s apiece here).
  const built = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));
  it.skipIf(!existsSync(built))('workers: 64 starts and carries traffic (built package; `npm test` builds it)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nkemu-w64-'));
    const file = join(dir, 'w64.mjs');
    writeFileSync(file, `import { Emulator } from ${JSON.stringify(built)};
const emu = await Emulator.create({ workers: 64, framesPerThread: 64, traceSlots: 64, maxDevices: 16 });
emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0' } } } });
emu.setLink('init', 'nk1', { up: true });
emu.setLink('init', 'nk0', { up: true });
emu.setRxSink('init', 'nk0', 'drop');
const frame = new Uint8Array(64);
frame[12] = 0x08;
const sent = await emu.pktgen('init', 'nk1', frame, { count: 1000 });
await emu.settle();
const out = { workers: emu.workers, sent, tx: Number(emu.stats(emu.device('init', 'nk1')).txPackets), rx: Number(emu.stats(emu.device('init', 'nk0')).rxPackets) };
await emu.close();
console.log(JSON.stringify(out));\n`);
    const r = spawnSync(process.execPath, [file], { timeout: 240_000, encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ workers: 64, sent: 1000, tx: 1000, rx: 1000 });
  }, 300_000);

  it('fixed regions larger than maxMemory: ENOMEM naming the options', async () => {
    const e = await refused(Emulator.create({ maxMemory: 16 << 20, framesPerThread: 8192 }));
    expect(e.errno).toBe('ENOMEM');
    expect(e.message).toContain('framesPerThread');
  });
});

describe('shared memory growth', () => {
  it('grows on demand up to maxMemory; past it ENOMEM with nothing changed', async () => {
    const emu = await Emulator.create({ maxMemory: 64 << 20, framesPerThread: 256 });
    try {
      const before = emu.dp.memoryBytes;
      const socks: XskSocket[] = [];
      let err: unknown;
      for (let i = 0; i < 100; i++) {
        try { socks.push(new XskSocket(emu.dp, { umemSize: 1 << 20 })); } catch (e) { err = e; break; }
      }
      expect(err).toBeInstanceOf(NetError);
      expect((err as NetError).errno).toBe('ENOMEM');
      expect(emu.dp.memoryBytes).toBeGreaterThan(before);
      expect(emu.dp.memoryBytes).toBeLessThanOrEqual(64 << 20);
      const live = emu.dp.liveBytes;
      expect(() => new XskSocket(emu.dp, { umemSize: 1 << 20 })).toThrow(expect.objectContaining({ errno: 'ENOMEM' }));
      expect(emu.dp.liveBytes).toBe(live);
      for (const s of socks) emu.xskClose(s);
      // what was freed is used again
      expect(() => new XskSocket(emu.dp, { umemSize: 1 << 20 })).not.toThrow();
    } finally {
      await emu.close();
    }
  });
});

describe('ENOMEM changes nothing', () => {
  it('loadProgram that runs out of memory after placing its image: no program, no memory taken', async () => {
    const emu = await Emulator.create({});
    try {
      const insns = new Uint8Array(8000);
      for (let k = 0; k < 999; k++) insns.set([0xb7, 0, 0, 0, k & 0xff, 0, 0, 0], k * 8);
      insns.set([0x95], 999 * 8);
      const live = emu.dp.liveBytes;
      const n = emu.bpf.progs.size;
      // the program record's allocation (after the image's) is the one that fails
      const alloc = emu.dp.alloc.bind(emu.dp);
      emu.dp.alloc = (size: number, align?: number): number => {
        if (size === A.PR_SIZE) throw new NetError('ENOMEM');
        return alloc(size, align);
      };
      try {
        expect(() => emu.loadProgram({ name: 'p', type: 'xdp', insns, jit: false })).toThrow(expect.objectContaining({ errno: 'ENOMEM' }));
      } finally {
        emu.dp.alloc = alloc;
      }
      expect(emu.dp.liveBytes).toBe(live);
      expect(emu.bpf.progs.size).toBe(n);
    } finally {
      await emu.close();
    }
  });

  it('addLink until the memory is full: the refused request leaves no device and no memory taken', async () => {
    const emu = await Emulator.create({ maxMemory: 64 << 20, framesPerThread: 256 });
    try {
      const req = (a: string, b: string): Parameters<Emulator['addLink']>[0] => ({ ifname: a, linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: b, numRxQueues: 4 } } } });
      let err: unknown;
      let i = 0;
      for (; i < 100_000; i++) {
        try { emu.addLink(req(`a${i}`, `b${i}`)); } catch (e) { err = e; break; }
      }
      expect((err as NetError).errno).toBe('ENOMEM');
      expect(emu.links('init')).toHaveLength(1 + 2 * i);
      const live = emu.dp.liveBytes;
      expect(() => emu.addLink(req('zz', 'zy'))).toThrow(expect.objectContaining({ errno: 'ENOMEM' }));
      expect(emu.dp.liveBytes).toBe(live);
      expect(emu.links('init')).toHaveLength(1 + 2 * i);
      // deleting some makes room again
      for (let k = 0; k < 10; k++) emu.delLink('init', `a${k}`);
      emu.flushWork();
      expect(() => emu.addLink(req('zz', 'zy'))).not.toThrow();
    } finally {
      await emu.close();
    }
  }, 120_000);
});

describe('close', () => {
  it('every later call throws ESHUTDOWN (async ones reject); close again resolves', async () => {
    for (const workers of [0, 1]) {
      const emu = await Emulator.create({ workers });
      await emu.close();
      expect(() => emu.addNetns('x')).toThrow(expect.objectContaining({ errno: 'ESHUTDOWN' }));
      expect(() => emu.links()).toThrow(expect.objectContaining({ errno: 'ESHUTDOWN' }));
      expect(() => emu.dp).toThrow(expect.objectContaining({ errno: 'ESHUTDOWN' }));
      expect(() => emu.tracer).toThrow(expect.objectContaining({ errno: 'ESHUTDOWN' }));
      expect((await refused(emu.settle())).errno).toBe('ESHUTDOWN');
      expect((await refused(emu.ping('init', '10.0.0.1'))).errno).toBe('ESHUTDOWN');
      await emu.close();
    }
  });

  it('a forgotten close with workers does not keep Node alive', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nkemu-alive-'));
    const file = join(dir, 'alive.mts');
    writeFileSync(file, `import { Emulator } from ${JSON.stringify(fileURLToPath(new URL('../../src/emulator.ts', import.meta.url)))};
const emu = await Emulator.create({ workers: 2 });
emu.addNetns('foo');
await emu.settle();
console.log('created');\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { timeout: 60_000, encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
    expect(r.stdout).toContain('created');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
  }, 90_000);

  it('inline pktgen and settle yield to the event loop: a timer fires during a long pktgen', async () => {
    const emu = await Emulator.create({ seed: 1 });
    try {
      emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0' } } } });
      emu.setLink('init', 'nk1', { up: true });
      emu.setLink('init', 'nk0', { up: true });
      emu.setRxSink('init', 'nk0', 'drop');
      let fired = 0;
      const timer = setInterval(() => fired++, 1);
      const frame = new Uint8Array(64);
      frame[12] = 0x08;
      await emu.pktgen('init', 'nk1', frame, { count: 1 << 19 });
      clearInterval(timer);
      expect(fired).toBeGreaterThan(0);
    } finally {
      await emu.close();
    }
  });
});

describe('one error type', () => {
  it('every refused load carries a log (err.log): the verifier\'s, the ELF loader\'s, or libbpf\'s line naming the program or map', async () => {
    const emu = await Emulator.create({});
    try {
      const caught = (f: () => unknown): NetError => {
        try { f(); } catch (e) { if (e instanceof NetError) return e; throw e; }
        throw new Error('expected a refusal');
      };
      const object = new Uint8Array(readFileSync(new URL('../fixtures/bpf/tc_counters.o', import.meta.url)));
      // before verification (the kernel's log is empty; libbpf prints this)
      let e = caught(() => emu.loadProgram({ name: 'short', type: 'xdp', insns: new Uint8Array(7) }));
      expect([e.errno, e.log]).toEqual(['EINVAL', "prog 'short': BPF program load failed: Invalid argument"]);
      // the verifier's line
      e = caught(() => emu.loadProgram({ name: 'v', type: 'xdp', insns: assemble('exit') }));
      expect([e.errno, e.log]).toEqual(['EACCES', 'R0 !read_ok']);
      // the ELF loader's
      e = caught(() => emu.loadObject(new Uint8Array(64)));
      expect(e.errno).toBe('EINVAL');
      expect(e.log).toMatch(/ELF|magic/);
      // a map the object asks for cannot be created
      const alloc = emu.dp.alloc.bind(emu.dp);
      emu.dp.alloc = (): number => { throw new NetError('ENOMEM'); };
      try {
        e = caught(() => emu.loadObject(object));
      } finally {
        emu.dp.alloc = alloc;
      }
      expect(e.errno).toBe('ENOMEM');
      expect(e.log).toMatch(/^map '\w+': failed to create: Cannot allocate memory\(-12\)$/);
      // a program of the object fails after its maps were made (its record: the header,
      // its region table and map list)
      const ok = emu.loadObject(object);
      const dv = emu.dp.view();
      const rec = [...ok.programs.values()][0]!.record;
      const recordSize = progRecordSize(dv.getUint32(rec + A.PR_NREGIONS, true), dv.getUint32(rec + A.PR_NMAPS, true));
      emu.closeObject(ok);
      emu.dp.alloc = (size: number, align?: number): number => {
        if (size === recordSize) throw new NetError('ENOMEM');
        return alloc(size, align);
      };
      try {
        e = caught(() => emu.loadObject(object));
      } finally {
        emu.dp.alloc = alloc;
      }
      expect(e.errno).toBe('ENOMEM');
      expect(e.log).toMatch(/^prog '\w+': BPF program load failed: Cannot allocate memory$/);
      expect(emu.bpf.progs.size).toBe(0);
    } finally {
      await emu.close();
    }
  });

  it('LoadError is a NetError with errno EINVAL and the loader log', () => {
    const e = new LoadError('bad magic');
    expect(e).toBeInstanceOf(NetError);
    expect(e).toBeInstanceOf(LoadError);
    expect([e.errno, e.code, e.log]).toEqual(['EINVAL', 22, 'bad magic']);
  });
});
