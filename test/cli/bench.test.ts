/**
 * `nkemu bench` (src/bench/, src/cli/bench.ts): the statistics (a variant made 40× slower
 * by a 1,000-iteration loop is reported slower, its paired ratio's interval above 1), the
 * JSON every CI tracker reads, the HTML report opened in Chromium with its charts drawn,
 * the kernel column (or why it is absent), capture replay (pcap either byte order, pcapng)
 * and every refusal. Small round counts: the real defaults are larger.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchCli } from '../../src/cli/bench.js';
import { estimate, pairRatios } from '../../src/bench/stats.js';
import { kernelUnavailable } from '../../src/bench/kernel.js';
import type { BenchMetricJson } from '../../src/bench/format.js';
import { CaptureError, readCapture } from '../../src/trace/replay.js';
import { PcapngWriter, readPcapng } from '../../src/trace/pcapng.js';
import { resolveConfig } from '../../src/bench/config.js';
import { Scenario } from '../../src/bench/scenario.js';

const FIX = new URL('../fixtures/bench/', import.meta.url).pathname;
const EXAMPLES = new URL('../../examples/bench/', import.meta.url).pathname;
const CHROMIUM = '/usr/bin/chromium';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'nkemu-bench-test-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const code = await benchCli(args, (s) => { out += s; }, (s) => { err += s; });
    return { code, out, err };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('statistics', () => {
  it('the median interval is the order statistics whose binomial coverage reaches 95%', () => {
    const nine = [9, 1, 8, 2, 7, 3, 6, 4, 5];
    expect(estimate(nine)).toEqual({ median: 5, low: 2, high: 8, level: 1 - (2 * 10) / 512, samples: 9 });
    // (five samples cannot reach 95%: the whole range, and what it covers)
    expect(estimate([3, 1, 2, 5, 4])).toMatchObject({ median: 3, low: 1, high: 5, level: 1 - 2 / 32 });
    const big = estimate(Array.from({ length: 100 }, (_, i) => i + 1));
    expect([big.low, big.high]).toEqual([40, 61]);
    expect(big.level).toBeGreaterThanOrEqual(0.95);
  });

  it('ratios pair values of the same process and round only', () => {
    const a = [{ proc: 0, round: 0, value: 10 }, { proc: 0, round: 1, value: 20 }, { proc: 1, round: 0, value: 30 }];
    const b = [{ proc: 0, round: 0, value: 5 }, { proc: 1, round: 0, value: 10 }, { proc: 2, round: 0, value: 1 }];
    expect(pairRatios(a, b)).toEqual([2, 3]);
  });
});

describe('captures', () => {
  const frame = (n: number): Uint8Array => Uint8Array.from({ length: 60 }, (_, i) => (i + n) & 255);
  function pcap(le: boolean, magic = 0xa1b2c3d4, link = 1, frames = [frame(1), frame(2)]): Uint8Array {
    const parts: Buffer[] = [];
    const h = Buffer.alloc(24);
    const w32 = (b: Buffer, v: number, o: number): number => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
    w32(h, magic, 0);
    le ? h.writeUInt16LE(2, 4) : h.writeUInt16BE(2, 4);
    le ? h.writeUInt16LE(4, 6) : h.writeUInt16BE(4, 6);
    w32(h, 65535, 16);
    w32(h, link, 20);
    parts.push(h);
    for (const f of frames) {
      const r = Buffer.alloc(16);
      w32(r, f.length, 8);
      w32(r, f.length, 12);
      parts.push(r, Buffer.from(f));
    }
    return new Uint8Array(Buffer.concat(parts));
  }

  it('reads pcap in either byte order, µs and ns, and pcapng, frames in order', () => {
    for (const b of [pcap(true), pcap(false), pcap(true, 0xa1b23c4d), pcap(false, 0xa1b23c4d)]) {
      const c = readCapture(b, 'x.pcap');
      expect(c.format).toBe('pcap');
      expect(c.frames).toEqual([frame(1), frame(2)]);
    }
    const w = new PcapngWriter();
    const i = w.addInterface({ name: 'eth0' });
    for (const n of [3, 4, 5]) w.addPacket({ iface: i, tstampNs: BigInt(n), data: frame(n), origLen: 60, direction: 'in' });
    const c = readCapture(w.bytes(), 'x.pcapng');
    expect(c.format).toBe('pcapng');
    expect(c.frames).toEqual([frame(3), frame(4), frame(5)]);
    expect(readCapture(readFileSync(join(EXAMPLES, 'traffic.pcap'))).frames).toHaveLength(64);
  });

  it('refuses what is not a capture, or is cut short, naming the file and the byte', () => {
    const bad = (b: Uint8Array): string => {
      try {
        readCapture(b, 'x.cap');
      } catch (e) {
        expect(e).toBeInstanceOf(CaptureError);
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(bad(new TextEncoder().encode('hello, world'))).toBe('x.cap: not a pcap or pcapng file (magic 0x68656c6c)');
    expect(bad(new Uint8Array(2))).toBe('x.cap: not a pcap or pcapng file (2 bytes)');
    expect(bad(pcap(true).subarray(0, 20))).toBe('x.cap: pcap file header cut short (20 of 24 bytes)');
    expect(bad(pcap(true).subarray(0, 24 + 16 + 30))).toBe('x.cap: record at byte 24 cut short (30 of 60 bytes)');
    expect(bad(pcap(true).subarray(0, 24 + 16 + 60 + 8))).toBe('x.cap: record header at byte 100 cut short (8 of 16 bytes)');
    expect(bad(pcap(true, 0xa1b2c3d4, 113))).toBe('x.cap: link type 113 is not Ethernet (1)');
    expect(bad(pcap(true, 0xa1b2c3d4, 1, []))).toBe('x.cap: the capture holds no packets');
    const w = new PcapngWriter();
    w.addPacket({ iface: w.addInterface({ name: 'eth0' }), tstampNs: 0n, data: frame(0), origLen: 60, direction: 'in' });
    const ng = w.bytes();
    expect(bad(ng.subarray(0, ng.length - 6))).toMatch(/^x\.cap: pcapng: bad block at \d+$/);
  });
});

describe('replay', () => {
  it('sends the capture\'s frames in order, looping, each operation going on where the last stopped', async () => {
    const frames = [1, 2, 3].map((n) => Uint8Array.from({ length: 60 }, (_, i) => (i < 12 ? 2 : i === 12 ? 8 : i === 13 ? 0 : n)));
    const w = new PcapngWriter();
    const i = w.addInterface({ name: 'x' });
    frames.forEach((data, k) => w.addPacket({ iface: i, tstampNs: BigInt(k), data, origLen: 60, direction: 'out' }));
    const cap = join(tmp, 'three.pcapng');
    writeFileSync(cap, w.bytes());
    const cfg = resolveConfig({ script: 'ip link add nk1 type netkit mode l2 peer name nk0\nip link set nk1 up\nip link set nk0 up\npktgen dev nk1 count 7', pcap: cap });
    const sc = await Scenario.create(cfg, undefined);
    try {
      const c = sc.emu.startCapture({ devices: [{ ns: 'init', dev: 'nk1' }] });
      expect(sc.synchronous).toBe(true);
      expect(sc.runSync()).toBe(7);
      expect(await sc.run()).toBe(7);
      const sent = readPcapng(sc.emu.stopCapture(c)).packets.map((p) => p.data[20]);
      expect(sent).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2]);
      // (nk0 takes them all in: the drop sink counts them, nothing is dropped on the way)
      expect(sc.emu.stats(sc.emu.device('init', 'nk0')).rxPackets).toBe(14n);
      expect(sc.drops().size).toBe(0);
    } finally {
      await sc.close();
    }
  });
});

describe('nkemu bench', () => {
  const setup = join(FIX, 'setup.nk');
  const fast = join(FIX, 'xdp_fast.o');
  const slow = join(FIX, 'xdp_slow.o');

  it('a 40x slower variant is reported slower, its paired ratios above 1; JSON as trackers read it; the HTML report', async () => {
    const json = join(tmp, 'r.json');
    const html = join(tmp, 'r.html');
    const r = await cli([setup, '--prog', fast, '--prog', slow, '--procs', '2', '--rounds', '3', '--time', '0.04', '--packets', '1024', '--repeat', '200', '--json', '--html', html]);
    expect(r.err).toBe(`nkemu bench: report written to ${html}\n`);
    expect(r.code).toBe(0);
    writeFileSync(json, r.out);
    const metrics = JSON.parse(r.out) as BenchMetricJson[];
    // The schema: one object per metric, what github-action-benchmark's customSmallerIsBetter reads, and ours.
    expect(Array.isArray(metrics)).toBe(true);
    expect(new Set(metrics.map((m) => m.name)).size).toBe(metrics.length);
    for (const m of metrics) {
      expect(Object.keys(m).sort()).toEqual(['extra', 'high', 'level', 'low', 'metric', 'name', 'range', 'samples', 'unit', 'value', 'variant', ...(m.baseline ? ['baseline'] : [])].sort());
      expect(typeof m.name).toBe('string');
      expect(['ns/packet', 'ns/run', 'ns/insn', 'x', '%']).toContain(m.unit);
      expect(Number.isFinite(m.value)).toBe(true);
      expect(m.range).toMatch(/^±\d/);
      expect(m.low).toBeLessThanOrEqual(m.value);
      expect(m.high).toBeGreaterThanOrEqual(m.value);
      expect(m.level).toBeGreaterThan(0.95);
      expect(m.samples).toBe(6);
    }
    expect(metrics.map((m) => m.name)).toEqual([
      'xdp_fast: ns/packet', 'xdp_fast: ns/run', 'xdp_fast: ns/insn', 'xdp_fast: drops XDP_DROP',
      'xdp_slow: ns/packet', 'xdp_slow: ns/run', 'xdp_slow: ns/insn', 'xdp_slow: drops XDP_DROP',
      'xdp_slow/xdp_fast: ns/packet', 'xdp_slow/xdp_fast: ns/run', 'xdp_slow/xdp_fast: ns/insn',
    ]);
    const get = (name: string): BenchMetricJson => metrics.find((m) => m.name === name)!;
    // Every frame goes to UDP port 53: all dropped by both.
    expect(get('xdp_fast: drops XDP_DROP').value).toBe(100);
    // The one timed claim: the slower variant is slower, beyond the noise.
    expect(get('xdp_slow/xdp_fast: ns/packet').low).toBeGreaterThan(1);
    // (the test runs are shorter, so a preempted chunk weighs more: their median must agree)
    expect(get('xdp_slow/xdp_fast: ns/run').value).toBeGreaterThan(1);
    expect(get('xdp_slow: ns/packet').baseline).toBeUndefined();
    expect(get('xdp_slow/xdp_fast: ns/run').baseline).toBe('xdp_fast');

    // The HTML report: self-contained, its charts drawn in a real browser, offline.
    const page = readFileSync(html, 'utf8');
    expect(page).not.toMatch(/\b(src|href)=["']?https?:/);
    const data = JSON.parse(/<script type="application\/json" id="nkemu-bench">([\s\S]*?)<\/script>/.exec(page)![1]!) as { variants: { name: string }[] };
    expect(data.variants.map((v) => v.name)).toEqual(['xdp_fast', 'xdp_slow']);
    if (!existsSync(CHROMIUM)) {
      console.warn(`skipped the Chromium check: ${CHROMIUM} not found (apt-get install chromium)`);
      return;
    }
    const { chromium } = await import('playwright-core');
    const profile = mkdtempSync(join(tmpdir(), 'nkemu-chromium-'));
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, offline: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    try {
      const p = await ctx.newPage();
      const requests: string[] = [];
      p.on('request', (q) => { if (!q.url().startsWith('file:')) requests.push(q.url()); });
      const errors: string[] = [];
      p.on('pageerror', (e) => errors.push(String(e)));
      await p.goto(`file://${html}`);
      const charts = await p.evaluate(() => [...document.querySelectorAll('svg.chart')].map((svg) => {
        const box = svg.getBoundingClientRect();
        const inside = (el: Element): boolean => {
          const b = el.getBoundingClientRect();
          // (a median is a vertical line: no width of its own)
          return b.height > 0 && b.left >= box.left - 1 && b.right <= box.right + 1 && b.top >= box.top - 1 && b.bottom <= box.bottom + 1;
        };
        return {
          kind: svg.getAttribute('data-kind'),
          width: box.width,
          rows: [...svg.querySelectorAll('g.row')].map((g) => g.getAttribute('data-label')),
          dots: [...svg.querySelectorAll('circle.sample')].filter(inside).length,
          medians: [...svg.querySelectorAll('line.median')].filter(inside).length,
        };
      }));
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      expect(charts.map((c) => c.kind)).toEqual(['ns/packet', 'pps', 'ns/run', 'ns/insn', 'ratios']);
      for (const c of charts) {
        expect(c.width).toBeGreaterThan(300);
        expect(c.dots).toBe(c.rows.length * 6);
        expect(c.medians).toBe(c.rows.length);
      }
      expect(charts[0]!.rows).toEqual(['xdp_fast', 'xdp_slow']);
      expect(charts[4]!.rows).toEqual(['xdp_slow ns/packet', 'xdp_slow ns/run', 'xdp_slow ns/insn']);
    } finally {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 120_000);

  it('--kernel without root says why the kernel column is absent, and measures the rest', async () => {
    const html = join(tmp, 'no-root.html');
    const why = 'not root: BPF_PROG_TEST_RUN needs CAP_BPF and CAP_NET_ADMIN (run as root, or drop --kernel)';
    const r = await cli([setup, '--prog', fast, '--procs', '1', '--rounds', '1', '--time', '0.02', '--packets', '1024', '--repeat', '50', '--kernel', '--json', '--html', html], { NKEMU_BENCH_NOT_ROOT: '1' });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe(`nkemu bench: no kernel column: ${why}\nnkemu bench: report written to ${html}\n`);
    expect((JSON.parse(r.out) as BenchMetricJson[]).map((m) => m.name)).toEqual(['xdp_fast: ns/packet', 'xdp_fast: ns/run', 'xdp_fast: ns/insn', 'xdp_fast: drops XDP_DROP']);
    // (the report's table says so too, under the variants)
    const table = /<pre>([\s\S]*?)<\/pre>/.exec(readFileSync(html, 'utf8'))![1]!;
    expect(table).toMatch(/^variant +Mpps +ns\/packet +ns\/run +ns\/insn +drops$/m);
    expect(table).toContain(`\nno kernel column: ${why}`);
  }, 60_000);

  it.skipIf(kernelUnavailable() !== undefined)('--kernel as root: BPF_PROG_TEST_RUN times per variant on the same frames, side by side, with the ratio', async () => {
    const r = await cli([setup, '--prog', fast, '--prog', slow, '--procs', '1', '--rounds', '2', '--time', '0.02', '--packets', '256', '--repeat', '50', '--kernel', '--json']);
    expect(r.code, r.err).toBe(0);
    const names = (JSON.parse(r.out) as BenchMetricJson[]).map((m) => m.name);
    for (const n of ['xdp_fast: kernel ns/run', 'xdp_fast: nkemu/kernel ns/run', 'xdp_slow: kernel ns/run', 'xdp_slow/xdp_fast: kernel ns/run']) expect(names).toContain(n);
  }, 60_000);
  if (kernelUnavailable() !== undefined) console.warn(`skipped the kernel column's live check: ${kernelUnavailable()}`);

  it('replays a pcapng capture given with --pcap, in order, looping', async () => {
    const w = new PcapngWriter();
    const i = w.addInterface({ name: 'eth0' });
    const frames = readCapture(readFileSync(join(EXAMPLES, 'traffic.pcap'))).frames.slice(0, 5);
    frames.forEach((data, k) => w.addPacket({ iface: i, tstampNs: BigInt(k), data, origLen: data.length, direction: 'in' }));
    const cap = join(tmp, 'five.pcapng');
    writeFileSync(cap, w.bytes());
    const r = await cli([join(EXAMPLES, 'filter.nk'), '--prog', join(EXAMPLES, 'xdp_filter_v1.o'), '--pcap', cap, '--procs', '1', '--rounds', '1', '--time', '0.02', '--packets', '1000', '--repeat', '20']);
    expect(r.code, r.err).toBe(0);
    // (frame 3 of the five goes to UDP 53, a blocked port: one in five dropped)
    expect(r.out).toMatch(/^xdp_filter_v1 .* XDP_DROP 20%$/m);
    expect(r.out.split('\n')[0]).toBe(`nkemu bench ${join(EXAMPLES, 'filter.nk')}: traffic 'wire eth0' replaying five.pcapng, 1000 packets per operation`);
  }, 60_000);

  it.each([
    ['a missing object', [setup, '--prog', join(FIX, 'nosuch.o')], `nkemu bench: cannot read object ${join(FIX, 'nosuch.o')}: No such file or directory\n`],
    ['an object that is not ELF', [setup, '--prog', setup], /^nkemu bench: .*setup\.nk: not a loadable BPF object: /],
    ['a bad section', [setup, '--prog', fast, '--sec', 'tc'], `nkemu bench: ${fast}: no program in section 'tc' (its sections: xdp)\n`],
    ['a missing capture', [setup, '--prog', fast, '--pcap', join(FIX, 'nosuch.pcap')], `nkemu bench: cannot read capture ${join(FIX, 'nosuch.pcap')}: No such file or directory\n`],
    ['a capture that is not one', [setup, '--prog', fast, '--pcap', fast], `nkemu bench: ${fast}: not a pcap or pcapng file (magic 0x7f454c46)\n`],
    ['a missing script', [join(FIX, 'nosuch.nk')], `nkemu bench: cannot read ${join(FIX, 'nosuch.nk')}: No such file or directory\n`],
    ['no script', [], /^nkemu bench: a setup script is required\nUsage: nkemu bench SCRIPT/],
    ['an unknown option', [setup, '--progs', fast], /^nkemu bench: Unknown option '--progs'.*\nUsage: nkemu bench SCRIPT/],
    ['a bad count', [setup, '--prog', fast, '--rounds', '0'], "nkemu bench: --rounds needs a whole number ≥ 1, got '0'\n"],
    ['variants without $PROG', [join(FIX, 'no-prog.nk'), '--prog', fast], /^nkemu bench: .*no-prog\.nk: the setup script does not say where the program goes: write \$PROG/],
    ['$PROG without variants', [setup], /^nkemu bench: .*setup\.nk: the setup script uses \$PROG but no program variant was given \(--prog FILE\)\n$/],
  ] as const)('refuses %s', async (_, args, message) => {
    const r = await cli([...args]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    if (typeof message === 'string') expect(r.err).toBe(message);
    else expect(r.err).toMatch(message);
  });

  it('refuses a script without traffic, and names the setup line that failed', async () => {
    const quiet = join(tmp, 'quiet.nk');
    writeFileSync(quiet, 'nic add eth0\n');
    expect(await cli([quiet])).toEqual({ code: 1, out: '', err: `nkemu bench: ${quiet}: no traffic: add a line 'pktgen dev DEV [count N] …' or 'wire DEV …' (with 'pcap FILE' to replay a capture)\n` });
    const broken = join(tmp, 'broken.nk');
    writeFileSync(broken, 'nic add eth0\n# a typo:\nip link set eth1 up\nwire eth0\n');
    expect(await cli([broken])).toEqual({ code: 1, out: '', err: `nkemu bench: ${broken}:3: 'ip link set eth1 up' failed: Cannot find device "eth1"\n` });
    const nocap = join(tmp, 'no-capture.nk');
    writeFileSync(nocap, 'nic add eth0\nwire eth0 pcap /nonexistent/x.pcap\n');
    expect(await cli([nocap])).toEqual({ code: 1, out: '', err: 'nkemu bench: cannot read capture /nonexistent/x.pcap: No such file or directory\n' });
    const down = join(tmp, 'bad-traffic.nk');
    writeFileSync(down, 'nic add eth0\nwire eth0 size 9\n');
    expect(await cli([down])).toEqual({ code: 1, out: '', err: "nkemu bench: 'wire eth0 size 9': invalid size: '9'\n" });
  });
});

describe("the README's example", () => {
  it('prints a table shaped like the one the README shows (numbers aside)', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const m = /```sh\n# examples\/bench[^\n]*\n([\s\S]*?)```\n\n```text\n([\s\S]*?)```/.exec(readme)!;
    const words = m[1]!.replace(/\\\n/g, ' ').trim().split(/\s+/);
    expect(words.slice(0, 3)).toEqual(['node', 'bin/nkemu.js', 'bench']);
    const root = new URL('../..', import.meta.url).pathname;
    const kernel = kernelUnavailable() === undefined;
    const args = words.slice(3).map((w) => (w.startsWith('examples/') ? join(root, w) : w === 'report.html' ? join(tmp, 'readme.html') : w)).filter((w) => kernel || w !== '--kernel');
    const r = await cli([...args, '--procs', '1', '--rounds', '1', '--time', '0.02', '--packets', '1024', '--repeat', '20']);
    expect(r.code, r.err).toBe(0);
    const shape = (t: string): string[] => t.trimEnd().split('\n').map((l) => l.replace(/\S*examples\/bench\//g, '').replace(/\d+(\.\d+)?/g, '#').replace(/ +/g, ' ').replace(/\bprocess(es)?\b/g, 'process').replace(/\brounds?\b/g, 'round'));
    const want = shape(m[2]!);
    if (kernel) expect(shape(r.out)).toEqual(want);
    else expect(shape(r.out).slice(0, 2)).toEqual(want.slice(0, 2));
  }, 60_000);
});

describe('the vitest bench example', () => {
  it('runs under `vitest bench`', () => {
    const out = execFileSync(process.execPath, [new URL('../../node_modules/vitest/vitest.mjs', import.meta.url).pathname, 'bench', '--run', 'examples/bench/filter.bench.ts'], {
      cwd: new URL('../..', import.meta.url).pathname, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' },
    });
    expect(out).toMatch(/xdp_filter_v1/);
    expect(out).toMatch(/xdp_filter_v2/);
  }, 60_000);
});
