/**
 * A static server for the browser tests: serves the package root with the two headers
 * SharedArrayBuffer needs (cross-origin isolation), and resolves the bare `comlink`
 * import the way a bundler would.
 */

import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json',
};

export async function serve(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (path.includes('..')) {
      res.writeHead(403).end();
      return;
    }
    try {
      let body: Buffer | string = await readFile(join(root, path));
      const type = TYPES[extname(path)] ?? 'application/octet-stream';
      if (type === 'text/javascript') body = body.toString('utf8').replace(/from 'comlink'/g, "from '/node_modules/comlink/dist/esm/comlink.mjs'");
      res.writeHead(200, {
        'content-type': type,
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
      });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}
