/**
 * A smoke test of the playground in Debian's Firefox ESR, driven by puppeteer-core over
 * WebDriver BiDi (playwright's Firefox needs its own build, which cannot be installed
 * here): cross-origin isolated, ready with the default scenario (the dataplane in a Web
 * Worker over shared memory), a line typed into the console, no errors.
 */

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, FIREFOX, site } from './page.js';

if (!existsSync(FIREFOX)) console.warn(`skipped: ${FIREFOX} not found (apt-get install firefox-esr)`);

describe.runIf(existsSync(FIREFOX))('the playground in Firefox', () => {
  let s: Awaited<ReturnType<typeof site>>;
  let browser: import('puppeteer-core').Browser;
  beforeAll(async () => {
    s = await site();
    const puppeteer = (await import('puppeteer-core')).default;
    browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true, protocol: 'webDriverBiDi' });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('is ready, isolated, runs a typed command', async () => {
    const page = await browser.newPage();
    await page.setViewport({ width: 1440, height: 900 });
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(s.url);
    await page.waitForFunction(() => document.body.dataset.state !== 'loading', { timeout: 60_000 });
    expect(await page.evaluate(() => [document.body.dataset.state, crossOriginIsolated])).toEqual(['ready', true]);
    expect(await page.$$eval('[data-device]', (els) => els.map((e) => (e as HTMLElement).dataset.device))).toEqual(['init/nk1', 'init/lo', 'blue/nk0', 'blue/lo']);
    expect(await page.$eval('[data-counters="blue/nk0"]', (e) => e.textContent)).toMatch(/rx 503 pkts[^]*tx 503 pkts/);
    await page.click('#terminal');
    await page.keyboard.type('ip -br link show');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /nk1@if2\s+UP/.test(document.querySelector('[role="log"]')?.textContent ?? ''), { timeout: 10_000 });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'firefox.png') });
    console.log(`web: Firefox ready in ${await page.evaluate(() => document.body.dataset.readyMs)} ms`);
    expect(errors).toEqual([]);
  }, 90_000);
});
