/**
 * The installed package in a real Chromium, bundled the two ways people bundle: Vite
 * (no configuration: the package's `new URL(…, import.meta.url)` patterns hand the .wasm
 * and the worker to it) and esbuild (the .wasm through the `file` loader, the worker as an
 * entry point of its own, both passed as `wasmUrl` / `workerUrl`). Each page pings across
 * a pair inline and with a dataplane Web Worker, runs a compiled eBPF program on the main
 * thread, and checks that a worker script that cannot load rejects `Emulator.create`.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packAndInstall, type Installed } from '../helpers/packed.js';
import { serve } from './server.js';

const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) console.warn(`skipped: ${CHROMIUM} not found (apt-get install chromium)`);
const APP = new URL('./app/', import.meta.url).pathname;

interface Result {
  isolated: boolean;
  error?: string;
  inline: { workers: number; received: number; text: string; tx: string; rx: string };
  worker: { workers: number; received: number; text: string; tx: string; rx: string };
  compiled: { before: string; slot: number; reason: string; installed: boolean; retval: number };
  badWorker: { resolved?: boolean; name: string; errno: string; message: string; ms: number };
}

/** Loads `page` from a static server on `dir`, or from a running server's URL. */
async function inChromium(dir: string | { url: string }, page: string): Promise<{ result: Result; errors: string[] }> {
  const { chromium } = await import('playwright-core');
  const server = typeof dir === 'string' ? await serve(dir) : { url: dir.url.replace(/\/$/, ''), close: async () => undefined };
  const profile = mkdtempSync(join(tmpdir(), 'nkemu-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  try {
    const p = await ctx.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(String(e)));
    await p.goto(`${server.url}/${page}`);
    const result = (await p.evaluate(() => (window as unknown as { result: Promise<unknown> }).result)) as Result;
    return { result, errors };
  } finally {
    await ctx.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

function check({ result, errors }: { result: Result; errors: string[] }): void {
  expect(errors).toEqual([]);
  expect(result.error).toBeUndefined();
  expect(result.isolated).toBe(true);
  expect(result.inline).toMatchObject({ workers: 0, received: 3, tx: '4', rx: '4' });
  expect(result.worker).toMatchObject({ workers: 1, received: 3, tx: '4', rx: '4' });
  expect(result.worker.text).toContain('3 packets transmitted, 3 received, 0% packet loss');
  expect(result.compiled).toMatchObject({ reason: '', installed: true, retval: (799 * 800) / 2 });
  expect(result.compiled.slot).toBeGreaterThan(0);
  expect(result.compiled.before).toMatch(/^$|compiling in the background/);
  // A worker script that is not there: a NetError naming it, well before the timeout.
  expect(result.badWorker).toMatchObject({ name: 'NetError', errno: 'ENOENT' });
  expect(result.badWorker.message).toMatch(/dataplane worker 1 failed to load from .*no-such-worker\.js/);
  expect(result.badWorker.ms).toBeLessThan(10_000);
}

describe.runIf(existsSync(CHROMIUM))('the installed package, bundled, in Chromium', () => {
  let pkg: Installed;
  beforeAll(() => {
    pkg = packAndInstall();
    for (const f of readdirSync(APP)) copyFileSync(join(APP, f), join(pkg.dir, f));
  }, 180_000);
  afterAll(() => pkg?.cleanup());

  it('Vite 7: no configuration, workers included', async () => {
    const { build } = await import('vite');
    const out = join(pkg.dir, 'out-vite');
    await build({ root: pkg.dir, configFile: false, logLevel: 'warn', build: { outDir: out, rollupOptions: { input: join(pkg.dir, 'vite.html') } } });
    check(await inChromium(out, 'vite.html'));
  }, 180_000);

  it('Vite 7 dev server: the package excluded from dependency pre-bundling, as the README says', async () => {
    const { createServer } = await import('vite');
    const server = await createServer({
      root: pkg.dir, configFile: false, logLevel: 'silent', optimizeDeps: { exclude: ['nkemu'] },
      server: { host: '127.0.0.1', port: 0, headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } },
    });
    try {
      await server.listen();
      check(await inChromium({ url: server.resolvedUrls!.local[0]! }, 'vite.html'));
    } finally {
      await server.close();
    }
  }, 180_000);

  it('esbuild: wasmUrl and workerUrl, workers included', async () => {
    const { build } = await import('esbuild');
    const out = join(pkg.dir, 'out-esbuild');
    const r = await build({
      absWorkingDir: pkg.dir,
      entryPoints: ['esbuild-main.js', 'esbuild-worker.js'],
      bundle: true, format: 'esm', platform: 'browser', outdir: out, loader: { '.wasm': 'file' }, logLevel: 'silent',
    });
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    copyFileSync(join(pkg.dir, 'esbuild.html'), join(out, 'esbuild.html'));
    check(await inChromium(out, 'esbuild.html'));
  }, 180_000);
});
