#!/usr/bin/env node
// The build, doing only what is out of date (so `npm start` starts in seconds when nothing
// changed): the dataplane Wasm when assembly/ (or its config, or the ABI generator) is newer
// than build/dataplane.wasm; tsc (incremental) when src/ is newer than its last run; then
// the files dist/ needs beside the compiled code (the .wasm, the plain-JavaScript workers).
// `--force` rebuilds everything; `--debug` also builds build/dataplane.debug.wasm (with
// assertions; load it with `Emulator.create({ wasm: … })`).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const force = process.argv.includes('--force');
const quiet = process.argv.includes('--quiet');
const at = (p) => join(root, p);
const log = (m) => { if (!quiet) console.error(`build: ${m}`); };

/** Newest mtime under each path (files, or directories walked for `ext`). */
function newest(paths, ext) {
  let t = 0;
  for (const p of paths) {
    const full = at(p);
    if (!existsSync(full)) continue;
    const st = statSync(full);
    if (st.isDirectory()) {
      for (const e of readdirSync(full, { recursive: true })) {
        if (ext.some((x) => String(e).endsWith(x))) t = Math.max(t, statSync(join(full, String(e))).mtimeMs);
      }
    } else t = Math.max(t, st.mtimeMs);
  }
  return t;
}
const mtime = (p) => (existsSync(at(p)) ? statSync(at(p)).mtimeMs : -1);
const bin = (name) => at(`node_modules/.bin/${name}`);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

// 1. The dataplane module (and the ABI constants TypeScript shares with it).
const asInputs = newest(['assembly', 'asconfig.json', 'scripts/gen-abi.mjs'], ['.ts']);
if (force || mtime('build/dataplane.wasm') < asInputs || mtime('src/abi.generated.ts') < asInputs) {
  log('assembly/ changed: gen-abi + asc');
  run(process.execPath, [at('scripts/gen-abi.mjs')]);
  run(bin('asc'), ['assembly/index.ts', '--target', 'release']);
} else log('build/dataplane.wasm is up to date');
if (process.argv.includes('--debug')) run(bin('asc'), ['assembly/index.ts', '--target', 'debug']);

// 2. TypeScript (tsc's own incremental build info lives in build/, outside the package).
// Our own stamp: `tsc --noEmit` (npm run typecheck) rewrites tsc's build info without emitting.
const stamp = 'build/dist.stamp';
if (force || mtime(stamp) < newest(['src', 'tsconfig.json', 'package.json'], ['.ts']) || !existsSync(at('dist/src/index.js'))) {
  log('src/ changed: tsc');
  if (force) rmSync(at('build/tsconfig.tsbuildinfo'), { force: true });
  const started = new Date();
  run(process.execPath, [at('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
  // Stamped with the start time: a source edited while tsc ran stays newer than the stamp.
  mkdirSync(at('build'), { recursive: true });
  writeFileSync(at(stamp), '');
  utimesSync(at(stamp), started, started);
} else log('dist/ is up to date');

// 3. What dist/ loads at run time besides compiled TypeScript, at the same relative paths
// as in the sources: `new URL('../build/dataplane.wasm', import.meta.url)` from dist/src/wasm.js,
// `new URL('./app-worker.mjs', import.meta.url)` from dist/src/xdp/app.js.
const copies = [['build/dataplane.wasm', 'dist/build/dataplane.wasm']];
for (const f of readdirSync(at('src/xdp')).filter((f) => f.endsWith('.mjs'))) copies.push([`src/xdp/${f}`, `dist/src/xdp/${f}`]);
for (const [from, to] of copies) {
  if (!force && mtime(to) >= mtime(from)) continue;
  mkdirSync(dirname(at(to)), { recursive: true });
  copyFileSync(at(from), at(to));
}
