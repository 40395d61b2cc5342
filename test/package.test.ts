/**
 * The package as a user gets it: `npm pack`, installed into an empty project in a
 * temporary directory. Checked there: what the tarball holds, an ESM import running a
 * scenario with workers, `require`, `npx nkemu`, the types under strict `nodenext` and
 * `bundler` resolution, and every code block of the README (run, with its printed output
 * compared to the `text` block after it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packAndInstall, repo, type Installed } from './helpers/packed.js';

const TSX = join(repo, 'node_modules/.bin/tsx');
const TSC = join(repo, 'node_modules/typescript/bin/tsc');

let pkg: Installed;
beforeAll(() => {
  pkg = packAndInstall(['@types/node@20']);
}, 300_000);
afterAll(() => pkg?.cleanup());

function run(cmd: string, args: string[], input?: string): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { cwd: pkg.dir, encoding: 'utf8', input, timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe('the tarball', () => {
  it('holds what runs, the README and the LICENSE, and nothing else', () => {
    const paths = pkg.files.map((f) => f.path).sort();
    for (const p of ['LICENSE', 'README.md', 'package.json', 'bin/nkemu.js', 'dist/build/dataplane.wasm', 'dist/src/index.js', 'dist/src/index.d.ts',
      'dist/src/worker/worker.js', 'dist/src/xdp/app-worker.mjs', 'dist/src/xdp/worker-dataplane.mjs']) {
      expect(paths).toContain(p);
    }
    const stray = paths.filter((p) => !/^(LICENSE|README\.md|package\.json|bin\/[\w-]+\.js|dist\/build\/dataplane\.wasm|dist\/src\/.+\.(js|d\.ts|mjs|d\.mts))$/.test(p));
    expect(stray).toEqual([]);
    // Every shipped script is loaded from an entry (the API, the worker, the command), through
    // imports or new URL(…, import.meta.url) (the AF_XDP application worker).
    const root = join(pkg.dir, 'node_modules/nkemu');
    const seen = new Set<string>();
    // (the bench's measuring process is started by path: bench/run.js spawns bench/child.js)
    const queue = ['dist/src/index.js', 'dist/src/worker/worker.js', 'bin/nkemu.js', 'dist/src/bench/index.js', 'dist/src/bench/child.js'];
    while (queue.length) {
      const f = queue.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      for (const m of readFileSync(join(root, f), 'utf8').matchAll(/(?:from\s*|import\s*\(?\s*|new URL\(\s*)['"](\.[^'"]+)['"]/g)) {
        const target = join(dirname(f), m[1]!);
        if (/\.(m?js)$/.test(target) && paths.includes(target)) queue.push(target);
      }
    }
    expect(paths.filter((p) => /\.(m?js)$/.test(p) && !seen.has(p))).toEqual([]);
    const size = pkg.files.reduce((a, f) => a + f.size, 0);
    // (unpacked: 1.80 MB with `nkemu bench`, the legacy loader, the context conversion, the
    // verifier's scalar bounds and IPv6; 0.55 MB packed. The bound catches what should not
    // ship: tests and fixtures are megabytes, source maps as much again)
    expect(size).toBeLessThan(2_200_000);
  });

  it('declares the runtime dependencies the code imports, and only those', () => {
    const manifest = JSON.parse(readFileSync(join(pkg.dir, 'node_modules/nkemu/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['@noble/hashes', 'benchmark', 'comlink']);
    const bare = new Set<string>();
    for (const f of pkg.files.filter((x) => /\.(m?js)$/.test(x.path))) {
      const text = readFileSync(join(pkg.dir, 'node_modules/nkemu', f.path), 'utf8');
      const specifiers = [
        ...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s*['"]([^'"]+)['"]/gm), // import … from 'x'
        ...text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm), // import 'x'
        ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g), // import('x')
      ].map((m) => m[1]!);
      for (const s of specifiers) if (!s.startsWith('.') && !s.startsWith('node:')) bare.add(s);
    }
    // (a package's own entry points count as the package)
    expect([...new Set([...bare].map((x) => (x.startsWith('@') ? x.split('/').slice(0, 2).join('/') : x.split('/')[0])))].sort()).toEqual(['@noble/hashes', 'benchmark', 'comlink']);
  });
});

describe('installed', () => {
  it('ESM: a scenario with two dataplane workers, and the eBPF names from the entry', () => {
    writeFileSync(join(pkg.dir, 'scenario.mjs'), `
import { Emulator, NetError, LoadError, VerifierError, verify, assemble, disassemble, buildPacket, parsePacket } from 'nkemu';
const emu = await Emulator.create({ workers: 2 });
emu.addNetns('foo');
emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l2', peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
emu.setLink('init', 'nk1', { up: true });
emu.setLink('foo', 'nk0', { up: true });
emu.addAddress('init', 'nk1', '10.0.0.1/24');
emu.addAddress('foo', 'nk0', '10.0.0.2/24');
const ping = await emu.ping('init', '10.0.0.2', { count: 2 });
const insns = assemble('mov %r0, 2\\nexit');
const prog = emu.loadProgram({ name: 'drop', type: 'sched_cls', insns });
emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog });
const frame = buildPacket({ ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 } });
await emu.pktgen('init', 'nk1', frame, { count: 50 });
await emu.settle();
let refused = '';
try { emu.loadObject(new Uint8Array(16)); } catch (e) { refused = e.name; }
console.log(JSON.stringify({
  workers: emu.workers, received: ping.received, drops: String(emu.stats(emu.device('init', 'nk1')).dropReasons.BPF_DROP),
  asm: disassemble(insns), verify: typeof verify(insns, { type: 'sched_cls' }), refused, udp: parsePacket(frame).udp.checksumOk,
  classes: [typeof NetError, typeof LoadError, typeof VerifierError],
}));
await emu.close();
`);
    const r = run('node', ['scenario.mjs']);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual({
      workers: 2, received: 2, drops: '50', asm: ['mov %r0, 0x2', 'exit'], verify: 'object', refused: 'LoadError', udp: true, classes: ['function', 'function', 'function'],
    });
  }, 120_000);

  it('require(): works on this Node through require(esm) (the package is ESM only)', () => {
    writeFileSync(join(pkg.dir, 'cjs.cjs'), "const { Emulator, buildPacket } = require('nkemu');\nconsole.log(typeof Emulator.create, buildPacket({}).length);\n");
    const r = run('node', ['cjs.cjs']);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim()).toBe('function 14');
  });

  it('npx nkemu: the command runs from the install', () => {
    const r = run('npx', ['--no-install', 'nkemu', 'ip', '-j', 'link', 'show']);
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as { ifname: string }[]).map((l) => l.ifname)).toEqual(['lo']);
    const bad = run('npx', ['--no-install', 'nkemu', 'ip', 'link', 'add', 'nk0', 'type', 'netkit', 'mode', 'l2', 'mode', 'l3']);
    expect(bad.code).not.toBe(0);
  });

  it("nkemu/bench: bench() from the install (its measuring processes run the package's own code), and npx nkemu bench", () => {
    const fix = join(repo, 'test/fixtures/bench');
    writeFileSync(join(pkg.dir, 'bench.mjs'), `
import { readFileSync } from 'node:fs';
import { bench, formatTable, toJson, toHtml, BenchError } from 'nkemu/bench';
const report = await bench({ script: readFileSync('${fix}/setup.nk', 'utf8'), variants: ['${fix}/xdp_fast.o'], procs: 1, rounds: 2, time: 0.02, packets: 256, repeat: 20 });
let refused = '';
try { await bench({ script: 'nic add eth0\\n', variants: [] }); } catch (e) { refused = e instanceof BenchError ? 'BenchError' : String(e); }
console.log(JSON.stringify({
  variants: report.variants.map((v) => v.name), samples: report.variants[0].nsPerPacket.samples,
  names: toJson(report).map((m) => m.name), table: formatTable(report).split('\\n')[4].split(/ +/)[0], html: toHtml(report).startsWith('<!doctype html>'), refused,
}));
`);
    const r = run('node', ['bench.mjs']);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual({
      variants: ['xdp_fast'], samples: 2, names: ['xdp_fast: ns/packet', 'xdp_fast: ns/run', 'xdp_fast: ns/insn', 'xdp_fast: drops XDP_DROP'], table: 'xdp_fast', html: true, refused: 'BenchError',
    });
    const help = run('npx', ['--no-install', 'nkemu', 'bench', '--help']);
    expect(help.code, help.err).toBe(0);
    expect(help.out).toMatch(/^Usage: nkemu bench SCRIPT/);
  }, 180_000);

  // nkemu/bench's types, checked with the rest under the resolutions that know subpath exports.
  const BENCH_TYPES = `
import { bench, prepare, toJson, type BenchReport, type BenchMetricJson, type BenchOptions } from 'nkemu/bench';
const o: BenchOptions = { script: 'wire eth0', variants: ['a.o', { object: 'b.o', sec: 'xdp' }], procs: 1 };
const r: BenchReport = await bench(o);
const j: BenchMetricJson[] = toJson(r);
const s = await prepare(o);
const n: number = await s[0]!.run();
export { j, n };
`;

  const TYPES = `
import { Emulator, NetError, LoadError, verify, assemble, disassemble, buildPacket, parsePacket, type BpfMap, type BpfProgram, type PacketSpec, type EmulatorOptions, type LinkStats } from 'nkemu';
const opts: EmulatorOptions = { workers: 1, wasmUrl: new URL('https://example.invalid/x.wasm'), workerUrl: 'worker.js', workerTimeoutMs: 1000 };
const emu: Emulator = await Emulator.create(opts);
const prog: BpfProgram = emu.loadProgram({ name: 'p', type: 'xdp', insns: assemble('mov %r0, 2\\nexit') });
const lines: string[] = disassemble(prog.insns);
const maps: BpfMap[] = [];
const spec: PacketSpec = { ipv6: { src: '::1', dst: '::2' }, icmp: { type: 'echo-request' } };
const checked: boolean | undefined = parsePacket(buildPacket(spec)).icmp?.checksumOk;
const s: LinkStats = emu.stats(emu.device('init', 'lo'));
const e: Error = new NetError('EINVAL');
const l: Error = new LoadError('x');
verify(prog.insns, { type: 'xdp' });
// @ts-expect-error not an option
await Emulator.create({ numrxqueues: 4 });
export { lines, maps, checked, s, e, l };
`;

  it.each([
    ['nodenext', { module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2022'], types: ['node'] }],
    ['bundler', { module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom'], types: [] }],
    // An older resolver that knows no `exports`: the top-level `types` field.
    ['node10', { module: 'esnext', moduleResolution: 'node10', lib: ['es2022', 'dom'], types: [] }],
  ])('TypeScript, strict, %s resolution: the types resolve and check (no skipLibCheck)', (name, options) => {
    writeFileSync(join(pkg.dir, 'types.ts'), TYPES);
    writeFileSync(join(pkg.dir, 'bench-types.ts'), BENCH_TYPES);
    writeFileSync(join(pkg.dir, `tsconfig.${name}.json`), JSON.stringify({
      compilerOptions: { ...options, target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, noUncheckedIndexedAccess: true },
      files: name === 'node10' ? ['types.ts'] : ['types.ts', 'bench-types.ts'],
    }));
    const r = run('node', [TSC, '-p', `tsconfig.${name}.json`]);
    expect(r.out + r.err).toBe('');
    expect(r.code).toBe(0);
  }, 120_000);
});

interface Block { lang: string; body: string; line: number }

function readmeBlocks(): Block[] {
  const text = readFileSync(join(repo, 'README.md'), 'utf8');
  const out: Block[] = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (const m of text.matchAll(re)) out.push({ lang: m[1]!, body: m[2]!, line: text.slice(0, m.index).split('\n').length });
  return out;
}

describe('the README', () => {
  const blocks = readmeBlocks();

  it('links only files that are in the repository', () => {
    const text = readFileSync(join(repo, 'README.md'), 'utf8');
    const tracked = new Set(execFileSync('git', ['ls-files'], { cwd: repo, encoding: 'utf8' }).split('\n'));
    const links = [...text.matchAll(/\]\(([^)#]+)\)/g)].map((m) => m[1]!).filter((l) => !/^https?:/.test(l));
    // Paths named in backticks that look like repository files.
    const named = [...text.matchAll(/`((?:src|test|examples|scripts|bench|bin|assembly)\/[\w./-]+\.\w+)`/g)].map((m) => m[1]!);
    const missing = [...links, ...named].filter((p) => !tracked.has(p) && !tracked.has(p.replace(/^\.\//, '')));
    expect(missing).toEqual([]);
    expect(text).not.toMatch(/\b(netkit|ebpf|af_xdp|conventions|netns-unregister)\.md\b/);
  });

  it('every block is runnable or the output of the one before it', () => {
    for (const [i, b] of blocks.entries()) {
      const ok = ['ts', 'js', 'sh'].includes(b.lang) || (b.lang === 'text' && i > 0 && blocks[i - 1]!.lang !== 'text');
      expect(ok, `README.md:${b.line}: a \`${b.lang}\` block`).toBe(true);
    }
  });

  it('its TypeScript blocks type-check (strict, nodenext, no DOM lib)', () => {
    const files = blocks.filter((b) => b.lang === 'ts' && !b.body.startsWith('// examples/')).map((b) => {
      writeFileSync(join(pkg.dir, `check-${b.line}.ts`), b.body);
      return `check-${b.line}.ts`;
    });
    writeFileSync(join(pkg.dir, 'tsconfig.readme.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022'], types: ['node'], strict: true, noEmit: true },
      files,
    }));
    const tc = run('node', [TSC, '-p', 'tsconfig.readme.json']);
    expect(tc.out + tc.err).toBe('');
    expect(files.length).toBeGreaterThanOrEqual(4);
  }, 120_000);

  it.each(blocks.map((b, i) => [b.line, b, i] as const).filter(([, b]) => b.lang !== 'text'))('block at line %i runs, and prints what the README says', (line, b, i) => {
    const next = blocks[i + 1];
    const expected = next?.lang === 'text' ? next.body : undefined;
    let r: { code: number; out: string; err: string };
    const first = b.body.split('\n')[0]!;
    if (first.startsWith('// examples/')) {
      // The harness pattern is a file of this repository, run by the test suite.
      expect(readFileSync(join(repo, first.slice(3)), 'utf8')).toBe(b.body);
      return;
    } else if (b.lang === 'sh' && first.startsWith('# examples/')) {
      // A run on the repository's own example files (examples/, not in the package), with
      // measured numbers: test/cli/bench.test.ts runs it and holds its output's shape to
      // the README's; here, the files it names exist.
      for (const m of b.body.matchAll(/\b(examples\/[\w./-]+\.\w+)/g)) expect(existsSync(join(repo, m[1]!)), m[1]).toBe(true);
      return;
    } else if (b.lang === 'sh') {
      // `npm install nkemu` would fetch from the registry: the tarball is installed already.
      const script = b.body.split('\n').filter((l) => l.trim() !== 'npm install nkemu').join('\n');
      r = run('bash', ['-euo', 'pipefail', '-c', script]);
    } else if (/^\/\/ app\.js: esbuild /.test(first)) {
      // The esbuild recipe: built with the command it gives (bundlers.test.ts runs the same
      // pattern in Chromium); checked here to build cleanly and emit the three files.
      writeFileSync(join(pkg.dir, 'app.js'), b.body);
      writeFileSync(join(pkg.dir, 'worker.js'), "import 'nkemu/worker';\n");
      const cmd = first.replace(/^\/\/ app\.js: /, '').split(/\s+/);
      r = run(join(repo, 'node_modules/.bin/esbuild'), cmd.slice(1).concat('--log-level=warning'));
      expect(r.code, r.err).toBe(0);
      expect(r.err).toBe('');
      const files = execFileSync('ls', [join(pkg.dir, 'out')], { encoding: 'utf8' });
      expect(files).toMatch(/app\.js/);
      expect(files).toMatch(/worker\.js/);
      expect(files).toMatch(/dataplane-\w+\.wasm/);
      return;
    } else {
      const file = `readme-${line}.${b.lang === 'ts' ? 'ts' : 'mjs'}`;
      writeFileSync(join(pkg.dir, file), b.body);
      r = run(TSX, [file]);
    }
    expect(r.code, `README.md:${line}: ${r.err}`).toBe(0);
    if (expected !== undefined) expect(r.out).toBe(expected);
  }, 180_000);
});
