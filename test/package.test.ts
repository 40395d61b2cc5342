import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('the npm package', () => {
  it('carries the plain-JavaScript workers dist/ starts from src/xdp/', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: new URL('..', import.meta.url), encoding: 'utf8' });
    const files = new Set((JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
    const workers = readdirSync(new URL('../src/xdp/', import.meta.url)).filter((f) => f.endsWith('.mjs'));
    expect(workers.length).toBeGreaterThan(0);
    for (const w of workers) expect(files.has(`src/xdp/${w}`)).toBe(true);
  }, 60_000);
});
