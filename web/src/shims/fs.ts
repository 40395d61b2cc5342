/**
 * node:fs in the page: an in-memory filesystem. It holds the example objects (under
 * their repository paths, so the scenario scripts name them as `nkemu run` does from a
 * checkout) and what the user drops on the page or bpftool writes (data_out, ctx_out).
 */

export const files = new Map<string, Uint8Array>();

const key = (p: string | URL): string => String(p instanceof URL ? p.pathname : p).replace(/^\.\//, '').replace(/\/{2,}/g, '/');

function enoent(p: string | URL): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, open '${String(p)}'`), { code: 'ENOENT', errno: -2, syscall: 'open', path: String(p) });
}

export function readFileSync(p: string | URL, enc?: string | { encoding?: string }): Uint8Array | string {
  const b = files.get(key(p)) ?? files.get(key(p).replace(/^\//, ''));
  if (!b) throw enoent(p);
  const encoding = typeof enc === 'string' ? enc : enc?.encoding;
  return encoding ? new TextDecoder().decode(b) : b.slice();
}

export function writeFileSync(p: string | URL, data: Uint8Array | string): void {
  files.set(key(p), typeof data === 'string' ? new TextEncoder().encode(data) : new Uint8Array(data));
}

export function existsSync(p: string | URL): boolean {
  return files.has(key(p)) || files.has(key(p).replace(/^\//, ''));
}

export default { readFileSync, writeFileSync, existsSync };
