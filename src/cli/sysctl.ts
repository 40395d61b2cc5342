/**
 * `sysctl` (procps-ng) for the keys a namespace's stack has: net.ipv4.ip_forward and
 * net.ipv4.conf.all.forwarding, one value (the kernel's devinet forwarding: any integer,
 * forwarding on when it is not 0); net.ipv6.conf.all.forwarding and .DEV.forwarding (0
 * or 1: another value reads back as 1; all's write sets every device's), net.ipv6.conf.{all,default}.accept_dad; kernel.bpf_stats_enabled
 * (the machine's, whatever the namespace: 0 or 1, another value is EINVAL). Reads print `key = value`; writes echo it unless -q;
 * -n prints values only, -N names only, -e ignores unknown keys, -w wants key=value;
 * keys may be written with '/' for '.'. Unknown keys and bad values are procps' errors
 * (exit 1), the others still done.
 */

import type { Emulator } from '../emulator.js';
import type { Stack } from '../net/stack/stack.js';
import { CliError, type Ctx } from './context.js';
import { SYSCTL_USAGE } from './usage.js';

/** What `sysctl -V` prints (the procps-ng version whose behaviour this follows). */
const VERSION = 'sysctl from procps-ng 4.0.2';

const FORWARDING: ReadonlySet<string> = new Set(['net.ipv4.ip_forward', 'net.ipv4.conf.all.forwarding']);
/** The value last written per stack (1 when forwarding was turned on otherwise). */
const written = new WeakMap<Stack, number>();

function forwarding(stack: Stack): number {
  const v = written.get(stack);
  return v !== undefined && (v !== 0) === stack.forwarding ? v : stack.forwarding ? 1 : 0;
}

/** Each key's read and write (any integer, as proc_dointvec takes it, unless `min`/`max` bound it as proc_dointvec_minmax). */
const KEYS: Record<string, { get(s: Stack, emu: Emulator): number; set(s: Stack, v: number, emu: Emulator): void; min?: number; max?: number }> = {
  ...Object.fromEntries([...FORWARDING].map((k) => [k, { get: forwarding, set: (s: Stack, v: number) => { written.set(s, v); s.forwarding = v !== 0; } }])),
  'net.ipv6.conf.all.forwarding': { get: (s) => (s.ip6.forwarding ? 1 : 0), set: (s, v) => { s.ip6.forwarding = v !== 0; } },
  // (accept_dad: a device follows default; DAD runs when all or default is 1 or more)
  'net.ipv6.conf.all.accept_dad': { get: (s) => s.inet6.acceptDadAll, set: (s, v) => { s.inet6.acceptDadAll = v; } },
  'net.ipv6.conf.default.accept_dad': { get: (s) => s.inet6.acceptDadDefault, set: (s, v) => { s.inet6.acceptDadDefault = v; } },
  // (bpf_stats_handler: the sysctl's own value, 0 or 1; on, every program run is counted)
  'kernel.bpf_stats_enabled': { get: (_s, emu) => (emu.bpfStatsEnabled() ? 1 : 0), set: (_s, v, emu) => emu.setBpfStats(v !== 0), min: 0, max: 1 },
};

/** net.ipv6.conf.DEV.forwarding, for a device of the namespace (as all's: 0 or 1). */
function deviceKey(ctx: Ctx, name: string): (typeof KEYS)[string] | undefined {
  const m = /^net\.ipv6\.conf\.([^.]+)\.forwarding$/.exec(name);
  const dev = m && m[1] !== 'default' ? ctx.emu.netns(ctx.ns).find(m[1]!) : undefined;
  if (!dev) return undefined;
  return { get: (s) => (s.ip6.deviceForwarding(dev.ifindex) ? 1 : 0), set: (s, v) => s.ip6.setDeviceForwarding(dev.ifindex, v !== 0) };
}

export function sysctl(ctx: Ctx, argv: string[]): number {
  let names = false, values = false, quiet = false, write = false, ignore = false;
  const items: string[] = [];
  const usage = SYSCTL_USAGE.replace(/\n$/, '').split('\n');
  for (const a of argv) {
    if (!a.startsWith('-') || a === '-' || a.includes('=')) { items.push(a); continue; }
    if (a === '--help') { ctx.out.push(...usage); return 0; }
    if (a === '--version') { ctx.out.push(VERSION); return 0; }
    for (const f of a.slice(1)) {
      if (f === 'n') values = true;
      else if (f === 'N') names = true;
      else if (f === 'q') quiet = true;
      else if (f === 'w') write = true;
      else if (f === 'e') ignore = true;
      else if (f === 'h') { ctx.out.push(...usage); return 0; }
      else if (f === 'V') { ctx.out.push(VERSION); return 0; }
      else {
        // (procps 4.0.2: getopt's complaint on stderr, then its usage on stdout, and exit 0)
        ctx.err.push(`sysctl: invalid option -- '${f}'`);
        ctx.out.push(...usage);
        return 0;
      }
    }
  }
  // (no variable: the usage on stderr, exit 1)
  if (items.length === 0) throw new CliError(usage.join('\n'), 1);
  const stack = ctx.emu.stack(ctx.ns);
  const show = (name: string, v: number): void => { ctx.out.push(names ? name : values ? String(v) : `${name} = ${v}`); };
  let rc = 0;
  items.forEach((it, i) => {
    const eq = it.indexOf('=');
    if (write && eq < 0) {
      ctx.err.push(`sysctl: command line(${i}): invalid syntax, continuing...`);
      rc = 1;
      return;
    }
    const name = (eq < 0 ? it : it.slice(0, eq)).replace(/\//g, '.');
    const key = KEYS[name] ?? deviceKey(ctx, name);
    if (!key) {
      if (!ignore) {
        ctx.err.push(`sysctl: cannot stat /proc/sys/${name.replace(/\./g, '/')}: No such file or directory`);
        rc = 1;
      }
      return;
    }
    if (eq < 0) return show(name, key.get(stack, ctx.emu));
    const text = it.slice(eq + 1);
    if (!/^\s*[+-]?\d+\s*$/.test(text) || (key.min !== undefined && Number(text) < key.min) || (key.max !== undefined && Number(text) > key.max)) {
      ctx.err.push(`sysctl: setting key "${name}": Invalid argument`);
      rc = 1;
      return;
    }
    const v = Number(text) | 0;
    key.set(stack, v, ctx.emu);
    if (!quiet) show(name, v);
  });
  return rc;
}
