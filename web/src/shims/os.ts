/** node:os in the page: the "host" booted when the page loaded (for bpftool's load times). */
export function uptime(): number {
  return performance.now() / 1000;
}
export default { uptime };
