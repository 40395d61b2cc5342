#!/usr/bin/env node
/**
 * Builds the playground into web/dist/ (a static site) and, with --serve, serves it.
 *
 *   node web/build.mjs [--out DIR] [--serve] [--port N] [--host H] [--quiet]
 *
 * The page bundles the emulator and the CLI from src/ with esbuild. The CLI's few Node
 * built-ins are swapped for browser ones at bundle time (web/src/shims/): files live in
 * an in-memory filesystem holding the example objects, and the AF_XDP application
 * threads (xdpsock) run in module Web Workers. The dataplane worker and the xdpsock
 * worker are entry points of their own; the .wasm, the example objects and the COOP/COEP
 * service worker (for static hosts that cannot set headers) are copied beside them.
 */

import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WEB = join(ROOT, 'web');
const SHIMS = join(WEB, 'src', 'shims');

/** The example objects shipped with the page (test/fixtures/bpf, with their sources). */
export const OBJECTS = ['netkit_drop_port', 'tc_counters', 'xdp_xsk', 'tc_netkit'];

function parseArgs(argv) {
  const o = { out: join(WEB, 'dist'), serve: false, port: 8080, host: '127.0.0.1', quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--serve') o.serve = true;
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--port') o.port = Number(argv[++i]);
    else if (a === '--host') o.host = argv[++i];
    else if (a === '--out') o.out = resolve(argv[++i]);
    else throw new Error(`web/build.mjs: unknown option ${a}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error('web/build.mjs: --port needs a port number');
  return o;
}

/** Node built-ins the CLI imports, and the module that stands for each in the page. */
const browserNode = {
  name: 'browser-node',
  setup(b) {
    b.onResolve({ filter: /^node:(fs|os|url|worker_threads)$/ }, (args) => {
      const mod = args.path.slice(5);
      // (the xdpsock worker's side of worker_threads: parentPort and workerData)
      const file = mod === 'worker_threads' && /app-worker\.mjs$/.test(args.importer) ? 'worker_threads.worker.ts' : `${mod}.ts`;
      return { path: join(SHIMS, file) };
    });
    // src/node.ts hides Node built-ins behind a variable import; in the page, the one the
    // emulator asks for in a browser (worker_threads, for xdpsock) is the shim.
    b.onLoad({ filter: /[\\/]src[\\/]node\.ts$/ }, () => ({ contents: readFileSync(join(SHIMS, 'node.ts'), 'utf8'), loader: 'ts', resolveDir: SHIMS }));
  },
};

export async function buildSite(o = {}) {
  const out = o.out ?? join(WEB, 'dist');
  const t0 = performance.now();
  const wasm = join(ROOT, 'build', 'dataplane.wasm');
  if (!existsSync(wasm)) throw new Error('build/dataplane.wasm is missing: run `node scripts/build.mjs` first');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const common = {
    bundle: true, format: 'esm', platform: 'browser', target: ['chrome120', 'firefox128'], minify: true, sourcemap: 'linked',
    legalComments: 'linked', logLevel: 'warning', plugins: [browserNode], absWorkingDir: ROOT, define: { 'process.env.NODE_ENV': '"production"' },
  };
  await build({
    ...common,
    entryPoints: { main: join(WEB, 'src', 'main.ts'), worker: join(ROOT, 'src', 'worker', 'worker.ts') },
    outdir: out,
    loader: { '.nk': 'text', '.c': 'text' },
  });
  // The xdpsock worker: src/xdp/app.ts starts it from `new URL('./app-worker.mjs', import.meta.url)`.
  await build({ ...common, entryPoints: [join(ROOT, 'src', 'xdp', 'app-worker.mjs')], outfile: join(out, 'app-worker.mjs') });
  copyFileSync(wasm, join(out, 'dataplane.wasm'));
  copyFileSync(join(ROOT, 'node_modules', 'coi-serviceworker', 'coi-serviceworker.min.js'), join(out, 'coi-serviceworker.js'));
  mkdirSync(join(out, 'objects'), { recursive: true });
  for (const name of OBJECTS) {
    copyFileSync(join(ROOT, 'test', 'fixtures', 'bpf', `${name}.o`), join(out, 'objects', `${name}.o`));
    copyFileSync(join(ROOT, 'test', 'fixtures', 'bpf', `${name}.c`), join(out, 'objects', `${name}.c`));
  }
  copyFileSync(join(WEB, 'index.html'), join(out, 'index.html'));
  copyFileSync(join(WEB, 'src', 'style.css'), join(out, 'style.css'));
  writeFileSync(join(out, 'objects', 'index.json'), JSON.stringify(OBJECTS));
  if (!o.quiet) console.log(`web: built ${out} in ${Math.round(performance.now() - t0)} ms`);
  return out;
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm',
  '.json': 'application/json', '.map': 'application/json', '.o': 'application/octet-stream', '.c': 'text/plain; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
};

/**
 * A static server with the two headers that make the page cross-origin isolated
 * (`isolate: false` leaves them out, as a host that cannot set headers would).
 */
export function serveDir(dir, { port = 8080, host = '127.0.0.1', isolate = true } = {}) {
  const server = createServer((req, res) => {
    const headers = isolate ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cache-control': 'no-cache' } : { 'cache-control': 'no-cache' };
    let path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (path.includes('..')) return void res.writeHead(403, headers).end();
    if (path.endsWith('/')) path += 'index.html';
    const file = join(dir, path);
    if (!existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found');
    res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      const a = server.address();
      ok({ url: `http://${host}:${a.port}/`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const o = parseArgs(process.argv.slice(2));
    const out = await buildSite(o);
    if (o.serve) {
      const s = await serveDir(out, o);
      console.log(`nkemu playground: ${s.url} (Ctrl-C to stop)`);
    } else if (!o.quiet) {
      const files = readdirSync(out, { recursive: true }).filter((f) => statSync(join(out, f)).isFile());
      console.log(`web: ${files.length} files; serve web/dist/ from any static host`);
    }
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  }
}
