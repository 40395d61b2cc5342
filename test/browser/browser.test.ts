import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { serve } from './server.js';

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../..', import.meta.url));

describe('in a real Chromium', () => {
  it.runIf(existsSync(CHROMIUM) && existsSync(join(root, 'dist/src/index.js')))('the built package pings across a pair inline and with a Web Worker', async () => {
    const { chromium } = await import('playwright-core');
    const server = await serve(root);
    const profile = mkdtempSync(join(tmpdir(), 'nkemu-chromium-'));
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    try {
      const page = await ctx.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${server.url}/test/browser/page.html`);
      const result = await page.evaluate(() => (window as unknown as { result: Promise<unknown> }).result) as Record<string, { workers: number; received: number; text: string; tx: string; rx: string }> & { isolated: boolean; error?: string; compiled?: { before: string; slot: number; reason: string; installed: boolean; retval: number } };
      expect(errors).toEqual([]);
      expect(result.error).toBeUndefined();
      expect(result.isolated).toBe(true);
      expect(result.inline).toMatchObject({ workers: 0, received: 3, tx: '4', rx: '4' });
      expect(result.worker).toMatchObject({ workers: 1, received: 3, tx: '4', rx: '4' });
      expect(result.worker!.text).toContain('3 packets transmitted, 3 received, 0% packet loss');
      expect(result.compiled).toMatchObject({ reason: '', installed: true, retval: (799 * 800) / 2 });
      expect(result.compiled!.slot).toBeGreaterThan(0);
      expect(result.compiled!.before).toMatch(/^$|compiling in the background/);
    } finally {
      await ctx.close();
      await server.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 120_000);
});
