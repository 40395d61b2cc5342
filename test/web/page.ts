/**
 * The built playground in a browser, for the web tests and the bench: builds web/dist
 * (into a temporary directory), serves it with COOP/COEP, opens it in Debian's Chromium
 * through playwright-core, and collects what the page loaded and every console error.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const FIREFOX = '/usr/bin/firefox-esr';
export const ROOT = new URL('../../', import.meta.url).pathname;
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');

interface WebBuild {
  buildSite(o: { out: string; quiet: boolean }): Promise<string>;
  serveDir(dir: string, o: { port: number; isolate?: boolean }): Promise<{ url: string; close(): Promise<void> }>;
}

/** Builds the site into a fresh directory and serves it; `close` removes both. */
export async function site(o: { isolate?: boolean } = {}): Promise<{ dir: string; url: string; close(): Promise<void> }> {
  const web = (await import(join(ROOT, 'web', 'build.mjs'))) as WebBuild;
  const dir = mkdtempSync(join(tmpdir(), 'nkemu-web-'));
  await web.buildSite({ out: dir, quiet: true });
  const s = await web.serveDir(dir, { port: 0, isolate: o.isolate ?? true });
  return { dir, url: s.url, close: async () => { await s.close(); rmSync(dir, { recursive: true, force: true }); } };
}

export interface Opened {
  ctx: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions, in order. */
  errors: string[];
  /** Every response the page got: URL and body size (for the size budget). */
  loaded: Map<string, number>;
  close(): Promise<void>;
}

export async function openChromium(url: string, o: { viewport?: { width: number; height: number } } = {}): Promise<Opened> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'nkemu-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, acceptDownloads: true, viewport: o.viewport ?? { width: 1440, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const errors: string[] = [];
  const loaded = new Map<string, number>();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  ctx.on('response', (r) => { void r.body().then((b) => loaded.set(r.url(), b.length), () => undefined); });
  await page.goto(url);
  return { ctx, page, errors, loaded, close: async () => { await ctx.close(); rmSync(profile, { recursive: true, force: true }); } };
}

/** The first-load size: each file the page loaded, raw, gzip -9 and brotli -11 (as a host would serve it). */
export function transferSize(dir: string, base: string, urls: Iterable<string>): { files: { path: string; raw: number; gzip: number; brotli: number }[]; raw: number; gzip: number; brotli: number } {
  const files = [...new Set(urls)].filter((u) => u.startsWith(base)).map((u) => {
    let path = new URL(u).pathname;
    if (path.endsWith('/')) path += 'index.html';
    const b = readFileSync(join(dir, path));
    return { path, raw: b.length, gzip: gzipSync(b, { level: 9 }).length, brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length };
  });
  const sum = (k: 'raw' | 'gzip' | 'brotli'): number => files.reduce((a, f) => a + f[k], 0);
  return { files, raw: sum('raw'), gzip: sum('gzip'), brotli: sum('brotli') };
}
