/** node:url in the page: file URLs name paths of the in-memory filesystem (shims/fs.ts). */
export function fileURLToPath(u: string | URL): string {
  return new URL(String(u)).pathname;
}
export default { fileURLToPath };
