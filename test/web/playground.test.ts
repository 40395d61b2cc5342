/**
 * The playground (web/) built as `npm run web:build` builds it, in Debian's Chromium:
 * ready with the default scenario, cross-origin isolated, no console errors; every
 * scenario runs (a screenshot of each kept in test-artifacts/web/); typed commands print
 * what `nkemu` prints; tab completion; topology and counters follow the commands; an
 * object uploaded and attached from the eBPF panel; the capture downloaded and read by
 * tshark; the first-load size and the time to ready printed against their budgets.
 */

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { runCommand, runScript } from '../../src/cli/run.js';
import { ARTIFACTS, CHROMIUM, ROOT, openChromium, site, transferSize, type Opened } from './page.js';

if (!existsSync(CHROMIUM)) console.warn(`skipped: ${CHROMIUM} not found (apt-get install chromium)`);
const TSHARK = existsSync('/usr/bin/tshark');

const SCENARIOS: Record<string, { devices: string[]; gone?: string[]; check?: string[] }> = {
  pair: { devices: ['init/nk1', 'blue/nk0'] },
  blackhole: { devices: ['init/nk3', 'red/nk2'], check: ['NETKIT_POLICY_DROP'] },
  io_uring: { devices: ['init/eth0', 'init/nk1', 'foo/nk0'], check: ['100 frames received in its buffers'] },
  notifier: { devices: ['init/lo', 'foo/lo'], gone: ['init/eth0', 'foo/nk'] },
  xdpsock: { devices: ['init/eth0', 'foo/nk'], check: ['sock0@nk:1 rxdrop'] },
  ebpf: { devices: ['init/nk1', 'blue/nk0'], check: ['BPF_DROP +100'] },
};

describe.runIf(existsSync(CHROMIUM))('the playground in Chromium', () => {
  let s: Awaited<ReturnType<typeof site>>;
  let b: Opened;
  const log = (): Promise<string> => b.page.locator('[role="log"]').textContent().then((t) => t ?? '');
  const counters = (dev: string): Promise<string> => b.page.locator(`[data-counters="${dev}"]`).textContent().then((t) => t ?? '');
  const scenario = async (id: string): Promise<void> => {
    await b.page.click(`nav button[data-scenario="${id}"]`);
    await b.page.waitForFunction((id) => document.body.dataset.scenario === id && document.body.dataset.scenarioState !== 'running', id, { timeout: 30_000 });
    expect(await b.page.evaluate(() => document.body.dataset.scenarioState)).toBe('done');
  };
  /** Types a line into the console as a user would, and waits for the next prompt. */
  const type = async (line: string): Promise<string> => {
    const before = (await log()).length;
    const done = await b.page.evaluate(() => (window as unknown as { nkemu: { session: { completed: number } } }).nkemu.session.completed);
    await b.page.click('#terminal');
    await b.page.keyboard.type(line);
    await b.page.keyboard.press('Enter');
    await b.page.waitForFunction((n) => (window as unknown as { nkemu: { session: { completed: number } } }).nkemu.session.completed > n, done, { timeout: 30_000 });
    return (await log()).slice(before);
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    s = await site();
    const t0 = Date.now();
    b = await openChromium(s.url);
    await b.page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: 30_000 });
    console.log(`web: ready in ${await b.page.evaluate(() => document.body.dataset.readyMs)} ms after the page started (${Date.now() - t0} ms from launch to ready; budget 2000 ms)`);
  }, 120_000);
  afterAll(async () => {
    await b?.close();
    await s?.close();
  });

  it('is ready with the default scenario, cross-origin isolated, within the size budget', async () => {
    expect(await b.page.evaluate(() => document.body.dataset.state)).toBe('ready');
    expect(await b.page.evaluate(() => crossOriginIsolated)).toBe(true);
    const readyMs = Number(await b.page.evaluate(() => document.body.dataset.readyMs));
    expect(readyMs).toBeLessThan(10_000);
    // The default scenario's devices and counters (nk1 pinged and pktgen'd).
    for (const d of ['init/lo', 'init/nk1', 'blue/lo', 'blue/nk0']) await expect(b.page.locator(`[data-device="${d}"]`).count()).resolves.toBe(1);
    expect(await counters('blue/nk0')).toMatch(/rx 503 pkts.*\n?.*tx 503 pkts/s);
    expect(await log()).toContain('3 packets transmitted, 3 received, 0% packet loss');
    const size = transferSize(s.dir, s.url, b.loaded.keys());
    const kb = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
    console.log(`web: first load ${size.files.length} files, ${kb(size.raw)} raw, ${kb(size.gzip)} gzip, ${kb(size.brotli)} brotli (budget 1.5 MB compressed)\n${size.files.map((f) => `  ${f.path.padEnd(36)} ${kb(f.raw).padStart(11)} ${kb(f.gzip).padStart(11)} ${kb(f.brotli).padStart(11)}`).join('\n')}`);
    expect(size.files.map((f) => f.path)).toEqual(expect.arrayContaining(['/index.html', '/main.js', '/worker.js', '/dataplane.wasm']));
    expect(size.gzip).toBeLessThan(1.5e6);
    writeFileSync(join(ARTIFACTS, 'budget.json'), JSON.stringify({ readyMs, ...size }, null, 2));
    await b.page.screenshot({ path: join(ARTIFACTS, 'ready.png') });
    expect(b.errors).toEqual([]);
  });

  it('runs every scenario: topology, counters and console as the script says', async () => {
    for (const [id, want] of Object.entries(SCENARIOS)) {
      await scenario(id);
      const text = await log();
      for (const c of want.check ?? []) expect(text, id).toContain(c);
      for (const d of want.devices) {
        expect(await b.page.locator(`[data-device="${d}"]`).count(), `${id}: ${d}`).toBe(1);
        expect(await counters(d), `${id}: ${d}`).toMatch(/rx \d+ pkts[^]*tx \d+ pkts/);
      }
      for (const d of want.gone ?? []) expect(await b.page.locator(`[data-device="${d}"]`).count(), `${id}: ${d} gone`).toBe(0);
      await b.page.waitForTimeout(300);
      await b.page.screenshot({ path: join(ARTIFACTS, `scenario-${id}.png`) });
    }
    // (details the topology draws for the lease scenarios)
    await scenario('io_uring');
    await expect(b.page.locator('svg.links title', { hasText: 'lease: foo/nk0 queue 1 → init/eth0#15' }).count()).resolves.toBe(1);
    expect(await b.page.locator('[data-queue="init/eth0#15"]').getAttribute('class')).toMatch(/leased.*zcrx|zcrx.*leased/);
    // An AF_XDP socket started from the console, in the background: on the netkit queue it
    // bound, its pool on the leased NIC queue; gone again after `wait`.
    await scenario('xdpsock');
    await type('ip netns exec foo xdpsock -i nk -q 1 -r -N --map /sys/fs/bpf/xsk/xsks --map-key 15 &');
    await expect(b.page.locator('[data-device="foo/nk"] .badge.xsk').textContent()).resolves.toMatch(/AF_XDP q1 (zc|copy) fill \d+ rx \d+ tx \d+ comp \d+/);
    expect(await b.page.locator('[data-queue="init/eth0#15"]').getAttribute('class')).toMatch(/xsk/);
    await b.page.screenshot({ path: join(ARTIFACTS, 'xdpsock-running.png') });
    expect(await type('wait')).toMatch(/sock0@nk:1 rxdrop/);
    await b.page.waitForSelector('[data-device="foo/nk"] .badge.xsk', { state: 'detached' });
    await scenario('ebpf');
    await expect(b.page.locator('[data-device="init/nk1"] .badge.prog').textContent()).resolves.toMatch(/netkit_primary: drop_port#\d+/);
    expect(await counters('init/nk1')).toMatch(/BPF_DROP 100/);
    expect(b.errors).toEqual([]);
  });

  it('the console: typed lines print what nkemu prints, tab completes, the topology follows', async () => {
    await scenario('pair');
    // The same script and command in Node, through the CLI's runScript / runCommand.
    const emu = await Emulator.create({ seed: 42 });
    try {
      await runScript(emu, readFileSync(join(ROOT, 'web/scenarios/pair.nk'), 'utf8'));
      const want = await runCommand(emu, ['ip', '-n', 'blue', '-s', 'link', 'show', 'nk0']);
      const got = await type('ip -n blue -s link show nk0');
      expect(got).toBe(`nkemu$ ip -n blue -s link show nk0\n${want.stdout}`);
      const want2 = await runCommand(emu, ['ip', '-j', 'addr', 'show', 'dev', 'nk1']);
      expect(await type('ip -j addr show dev nk1')).toBe(`nkemu$ ip -j addr show dev nk1\n${want2.stdout}`);
    } finally {
      await emu.close();
    }
    // Tab: the tool's subcommand, then a device name.
    await b.page.click('#terminal');
    await b.page.keyboard.type('ip li');
    await b.page.keyboard.press('Tab');
    await b.page.keyboard.type('add nk9 type netkit peer nk8 netns bl');
    await b.page.keyboard.press('Tab');
    await b.page.keyboard.press('Enter');
    await b.page.waitForSelector('[data-device="blue/nk8"]');
    expect(await log()).toContain('nkemu$ ip link add nk9 type netkit peer nk8 netns blue');
    expect(await b.page.locator('[data-device="init/nk9"]').count()).toBe(1);
    await b.page.keyboard.type('ip link del nk');
    await b.page.keyboard.press('Tab'); // two choices, listed: nk1 nk9
    await b.page.keyboard.type('9');
    await b.page.keyboard.press('Enter');
    await b.page.waitForSelector('[data-device="init/nk9"]', { state: 'detached' });
    expect(await b.page.locator('[data-device="blue/nk8"]').count()).toBe(0);
    // Errors as the tools print them, and history (↑ recalls the last line).
    expect(await type('ip link show nope')).toContain('Device "nope" does not exist.');
    await b.page.keyboard.press('ArrowUp');
    await b.page.keyboard.press('Enter');
    await b.page.waitForFunction(() => (document.querySelector('[role="log"]')?.textContent?.match(/nkemu\$ ip link show nope/g) ?? []).length === 2);
    // Ctrl-C stops a long ping, which prints its statistics as iputils ping does.
    await b.page.keyboard.type('ping -q -c 10000000 10.0.0.2');
    await b.page.keyboard.press('Enter');
    // (running: the session busy, or ping's first line printed; polled, and patient on a loaded machine)
    await b.page.waitForFunction(() => (window as unknown as { nkemu: { session: { busy: boolean } } }).nkemu.session.busy
      || /PING 10\.0\.0\.2 /.test(document.querySelector('[role="log"]')?.textContent ?? ''), null, { polling: 100, timeout: 60_000 });
    await b.page.waitForTimeout(300);
    await b.page.keyboard.press('Control+C');
    await b.page.waitForFunction(() => !(window as unknown as { nkemu: { session: { busy: boolean } } }).nkemu.session.busy, null, { polling: 100, timeout: 60_000 });
    const stats = /(\d+) packets transmitted, (\d+) received/.exec(await log());
    expect(Number(stats?.[1])).toBeGreaterThan(0);
    expect(Number(stats?.[1])).toBeLessThan(10_000_000);
    // Page commands: a scenario by name, from the console.
    await b.page.keyboard.type('scenario black');
    await b.page.keyboard.press('Tab');
    await b.page.keyboard.press('Enter');
    await b.page.waitForFunction(() => document.body.dataset.scenario === 'blackhole' && document.body.dataset.scenarioState === 'done');
    expect(await b.page.locator('[data-device="red/nk2"]').count()).toBe(1);
    await scenario('pair');
    // Counters follow traffic typed in the console.
    const before = await counters('blue/nk0');
    await type('pktgen dev nk1 count 1000 size 64 dst 10.0.0.2 dport 7 flows 4');
    const rx = (t: string): number => Number(/rx (\d+) pkts/.exec(t)?.[1]);
    await expect.poll(async () => rx(await counters('blue/nk0')) - rx(before)).toBe(1000);
    expect(b.errors).toEqual([]);
  }, 180_000);

  it('traffic in the worker: rates under the devices, the page keeps drawing', async () => {
    await scenario('pair');
    await b.page.selectOption('#traffic-dev', 'init/nk1');
    await b.page.click('#traffic');
    await b.page.waitForFunction(() => /pps/.test(document.querySelector('[data-counters="blue/nk0"]')?.textContent ?? ''), null, { timeout: 10_000 });
    // Frames drawn in one second while pktgen runs at full speed in the dataplane worker.
    const fps = await b.page.evaluate(() => new Promise<number>((res) => {
      let n = 0;
      const t0 = performance.now();
      const step = (t: number): void => { n++; if (t - t0 < 1000) requestAnimationFrame(step); else res((n * 1000) / (t - t0)); };
      requestAnimationFrame(step);
    }));
    const rate = await counters('blue/nk0');
    await b.page.click('#traffic');
    await b.page.waitForFunction(() => !(window as unknown as { nkemu: { session: { busy: boolean } } }).nkemu.session.busy);
    console.log(`web: ${fps.toFixed(0)} frames/s while traffic runs; blue/nk0: ${rate.replace(/\n/g, ' | ')}`);
    // (the target is 50, measured 54-61 here alone; the bound is loose for a full parallel
    // `npm test` on 2 shared cores, and catches packets handled on the page's thread: 7)
    expect(fps).toBeGreaterThan(20);
    expect(rate).toMatch(/rx [\d.]+ [kMG]?pps/);
    await b.page.screenshot({ path: join(ARTIFACTS, 'traffic.png') });
    expect(b.errors).toEqual([]);
  });

  it('the eBPF panel: an uploaded object, attached from the panel, runs and fills its maps', async () => {
    await scenario('pair');
    await b.page.setInputFiles('#bpf-file', join(ROOT, 'test/fixtures/bpf/tc_counters.o'));
    const card = b.page.locator('.prog-card', { hasText: 'count' });
    await card.waitFor();
    expect(await log()).toMatch(/bpftool prog loadall uploads\/tc_counters\.o \/sys\/fs\/bpf\/tc_counters_\w+/);
    await expect(card.locator('.jit').textContent()).resolves.toMatch(/compiled to WebAssembly|interpreter: /);
    await card.locator('summary').click();
    await expect(card.locator('pre').textContent()).resolves.toMatch(/exit/);
    await card.locator('select[name=type]').selectOption('netkit_primary');
    await card.locator('select[name=dev]').selectOption('init/nk1');
    await card.locator('button[data-attach]').click();
    await b.page.waitForSelector('[data-device="init/nk1"] .badge.prog');
    expect(await log()).toMatch(/nkemu\$ bpftool net attach netkit_primary id \d+ dev nk1/);
    await type('pktgen dev nk1 count 50 size 64 dst 10.0.0.2 dport 53');
    // proto_count[17] (UDP) counts the 50 datagrams; the panel refreshes maps every second.
    await b.page.waitForFunction(() => /17 → 50/.test(document.querySelector('.map-card')?.textContent ?? ''), null, { timeout: 5000 });
    // Its run count (kernel.bpf_stats_enabled, on in the page) rises with the traffic: 50 runs, then 25 more.
    const runs = async (): Promise<number> => Number(/runs ([\d,]+)/.exec((await card.locator('.runs').textContent()) ?? '')?.[1]?.replace(/,/g, '') ?? NaN);
    await b.page.waitForFunction(() => /runs [\d,]+ · ~\d+ ns\/run/.test(document.querySelector('.prog-card .runs')?.textContent ?? ''), null, { timeout: 5000 });
    const first = await runs();
    expect(first).toBeGreaterThanOrEqual(50);
    await type('pktgen dev nk1 count 25 size 64 dst 10.0.0.2 dport 53');
    await b.page.waitForFunction((n) => Number(/runs ([\d,]+)/.exec(document.querySelector('.prog-card .runs')?.textContent ?? '')?.[1]?.replace(/,/g, '') ?? 0) >= n + 25, first, { timeout: 5000 });
    expect(await runs()).toBeGreaterThanOrEqual(first + 25);
    await b.page.screenshot({ path: join(ARTIFACTS, 'ebpf-upload.png') });
    expect(b.errors).toEqual([]);
  });

  it('the packet view: frames into an AF_XDP socket are in the trace, at the xdp hook (xdpsock)', async () => {
    await scenario('xdpsock');
    const rows = await b.page.locator('#trace tbody tr', { hasText: 'AF_XDP' }).allTextContents();
    // (the scenario's wire: 100 frames, all steered to queue 15 and into the socket; named as
    // bound, or by its device's ifindex once the socket closed before the page took the trace)
    expect(rows).toHaveLength(100);
    const cells = await b.page.locator('#trace tbody tr', { hasText: 'AF_XDP' }).first().locator('td').allTextContents();
    expect(cells.slice(1, 6)).toEqual(['init/eth0', 'xdp', expect.stringMatching(/^xsk_redirect#\d+$/), expect.stringMatching(/^REDIRECT → AF_XDP (foo\/nk q1|socket on ifindex \d+)$/), '']);
    expect(b.errors).toEqual([]);
  });

  it('the packet view: dissection and a pcapng download that tshark reads', async () => {
    await scenario('ebpf');
    // The trace names the programs that ran where a packet met its verdict.
    await expect(b.page.locator('#trace tbody tr', { hasText: 'init/nk1' }).first().textContent()).resolves.toMatch(/netkit\/xmit\s*drop_port#\d+\s*PASS/);
    // Not those attached now (issue 22): tc1 (NEXT) after drop_port never runs, drop_port
    // decides every packet; tc2 (NEXT) before it runs first. The list is [tc2, drop_port, tc1].
    await type('bpftool prog loadall test/fixtures/bpf/tc_netkit.o /sys/fs/bpf/tcn');
    await type('bpftool net attach netkit_primary pinned /sys/fs/bpf/tcn/tc1 dev nk1');
    await type('bpftool net attach netkit_primary pinned /sys/fs/bpf/tcn/tc2 dev nk1 before pinned /sys/fs/bpf/policy/drop_port');
    await type('pktgen dev nk1 count 3 size 64 dst 10.0.0.2 dport 8080');
    await b.page.waitForSelector('#trace tbody tr:has-text("tc2#")');
    const ran = await b.page.locator('#trace tbody tr', { hasText: 'init/nk1' }).first().locator('td').allTextContents();
    expect(ran.slice(1, 6)).toEqual(['init/nk1', 'netkit/xmit', expect.stringMatching(/^tc2#\d+, drop_port#\d+$/), 'DROP', expect.stringMatching(/BPF_DROP/)]);
    // The filter: the datagrams to port 8080, each dropped by the program.
    await b.page.fill('#packet-filter', '→ 8080');
    const dropped = await b.page.locator('#packets tbody tr').allTextContents();
    expect(dropped.length).toBeGreaterThan(0);
    for (const r of dropped) expect(r).toMatch(/UDP 9 → 8080 drop: BPF_DROP/);
    await b.page.fill('#packet-filter', '');
    await b.page.locator('#packets tbody tr').first().click();
    await expect(b.page.locator('#packet-detail').textContent()).resolves.toMatch(/Ethernet II[^]*Internet Protocol Version 4[^]*(User Datagram Protocol|Internet Control Message Protocol)/);
    const [dl] = await Promise.all([b.page.waitForEvent('download'), b.page.click('#pcap')]);
    const file = join(ARTIFACTS, 'capture.pcapng');
    await dl.saveAs(file);
    expect(readFileSync(file).readUInt32LE(0)).toBe(0x0a0d0d0a);
    if (TSHARK) {
      const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'udp.dstport', '-e', 'frame.comment'], { encoding: 'utf8' });
      const rows = out.trim().split('\n');
      expect(rows.filter((r) => r.startsWith('8080')).length).toBeGreaterThan(0);
      expect(rows.filter((r) => r.startsWith('53')).length).toBeGreaterThan(0);
      expect(out).toMatch(/drop: BPF_DROP|drop:/);
    }
    // The README's screenshot: the eBPF scenario.
    if (process.env.NKEMU_WEB_SCREENSHOT) copyFileSync(join(ARTIFACTS, 'scenario-ebpf.png'), join(ROOT, 'docs', 'playground.png'));
    expect(b.errors).toEqual([]);
  });
});

describe.runIf(existsSync(CHROMIUM))('the static site on a host that cannot set headers', () => {
  it('the service worker makes the page cross-origin isolated (one reload), then it is ready', async () => {
    const s = await site({ isolate: false });
    const b = await openChromium(s.url);
    try {
      await b.page.waitForFunction(() => crossOriginIsolated && document.body.dataset.state === 'ready', null, { timeout: 60_000 });
      expect(await b.page.evaluate(() => navigator.serviceWorker.controller?.scriptURL)).toMatch(/coi-serviceworker\.js$/);
      expect(await b.page.locator('[data-counters="blue/nk0"]').textContent()).toMatch(/rx 503 pkts/);
      expect(b.errors).toEqual([]);
    } finally {
      await b.close();
      await s.close();
    }
  }, 120_000);
});

describe.runIf(existsSync(CHROMIUM))('a page that cannot be cross-origin isolated', () => {
  it('runs the dataplane inline (no service worker, no headers) and is still ready', async () => {
    const s = await site({ isolate: false });
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    try {
      const ctx = await browser.newContext({ serviceWorkers: 'block' });
      const page = await ctx.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(s.url);
      await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 60_000 });
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
      await expect(page.locator('#status').textContent()).resolves.toMatch(/inline dataplane/);
      expect(await page.locator('[data-counters="blue/nk0"]').textContent()).toMatch(/rx 503 pkts/);
      // (Playwright's blocking hands coi-serviceworker an undefined registration: its error, not the page's)
      expect(errors.filter((e) => !/reading 'addEventListener'/.test(e))).toEqual([]);
    } finally {
      await browser.close();
      await s.close();
    }
  }, 120_000);
});
