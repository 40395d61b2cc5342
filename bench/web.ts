/**
 * The playground's dataplane against Node's: netkit xmit at 64 B on one dataplane worker,
 * in Node (worker_threads) and in the built page in Debian's Chromium (a Web Worker,
 * web/src/bench.ts), the same measurement as xmit.ts's `wasm 64B 1 worker`. The ratio
 * (page / Node) is the target: at least 0.8.
 */

import { existsSync } from 'node:fs';
import { Emulator } from '../src/emulator.js';
import { CHROMIUM, openChromium, site, type Opened } from '../test/web/page.js';
import { defineSuite, type BenchCase } from './runner.js';
import { benchFrame as frame } from './frame.js';

let node: Emulator | undefined;
let web: { s: Awaited<ReturnType<typeof site>>; b: Opened } | undefined;


async function setup(): Promise<void> {
  if (node) return;
  if (!existsSync(CHROMIUM)) throw new Error(`bench web: ${CHROMIUM} not found (apt-get install chromium)`);
  node = await Emulator.create({ workers: 1, framesPerThread: 1024 });
  node.addLink({ ifname: 'b1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'b0' } } } });
  node.setLink('init', 'b1', { up: true });
  node.setLink('init', 'b0', { up: true });
  node.setRxSink('init', 'b0', 'drop');
  const s = await site();
  const b = await openChromium(s.url);
  await b.page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 60_000 });
  // The page's own emulator and live updates stop: neither case shares the cores with them.
  await b.page.evaluate(() => (window as unknown as { nkemu: { bench: { idle(): Promise<void> } } }).nkemu.bench.idle());
  web = { s, b };
}

async function teardown(): Promise<void> {
  await node?.close();
  if (web) {
    await web.b.page.evaluate(() => (window as unknown as { nkemu: { bench: { closeBench(): Promise<void> } } }).nkemu.bench.closeBench());
    await web.b.close();
    await web.s.close();
  }
  node = undefined;
  web = undefined;
}

async function nodeRate(): Promise<number> {
  const f = frame(64);
  await node!.pktgen('init', 'b1', f, { count: 1 << 16 }); // tier-up
  const t0 = performance.now();
  const sent = await node!.pktgen('init', 'b1', f, { count: 1 << 21 });
  return sent / ((performance.now() - t0) / 1e3) / 1e6;
}

const mpps = { metric: 'Mpps', unit: 'Mpps', higherIsBetter: true } as const;
const cases: BenchCase[] = [
  { name: 'node 64B 1 worker', ...mpps, setup, teardown, external: nodeRate },
  {
    name: 'chromium page 64B 1 worker', ...mpps, baseline: 'node 64B 1 worker', setup,
    external: () => web!.b.page.evaluate(() => (window as unknown as { nkemu: { bench: { xmitRate(): Promise<number> } } }).nkemu.bench.xmitRate()),
  },
];

export default defineSuite({ name: 'web', cases });
