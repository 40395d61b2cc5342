/**
 * Loads BPF objects into the host kernel with the real loaders, for the object-form checks
 * (test/ebpf/loader-forms.test.ts, scripts/record-loader-forms.ts):
 *
 * - libbpf: `bpftool prog load OBJ PIN` (every program of the object), and the installed
 *   ip/tc, which load one section through libbpf when built with it (iproute2 ≥ 5.18's
 *   bpf_do_load hands every object to iproute2_load_libbpf);
 * - iproute2's legacy loader (lib/bpf_legacy.c): an ip/tc built without libbpf
 *   (scripts/build-iproute2-legacy.sh), found in `$NKEMU_IPROUTE2_LEGACY` or else in
 *   /var/tmp/nkemu-iproute2-legacy/.
 *
 * ip attaches an XDP section (`xdpgeneric`) and tc a classifier section (`da`, on a clsact
 * ingress) to a veth in a network namespace made for the load and deleted after it; the
 * program is then found by its id and run with `bpftool prog run id N`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoaderVerdict } from '../fixtures/loader/cases.js';
import { meaningfulLine } from './verdict.js';

export interface Iproute2 { ip: string; tc: string; version: string }

let seq = 0;

function version(ip: string): string | undefined {
  const r = spawnSync(ip, ['-V'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The ip and tc on PATH (libbpf's, when their version line names libbpf). */
export function installedIproute2(): Iproute2 | undefined {
  const v = version('ip');
  return v === undefined ? undefined : { ip: 'ip', tc: 'tc', version: v };
}

/** An ip/tc built without libbpf (their loader is lib/bpf_legacy.c's), or undefined. */
export function legacyIproute2(): Iproute2 | undefined {
  const dir = process.env.NKEMU_IPROUTE2_LEGACY ?? '/var/tmp/nkemu-iproute2-legacy';
  const ip = join(dir, 'ip'), tc = join(dir, 'tc');
  if (!existsSync(ip) || !existsSync(tc)) return undefined;
  const v = version(ip);
  return v === undefined || /libbpf/.test(v) ? undefined : { ip, tc, version: v };
}

/** Why the kernel-side loads cannot run here, or undefined when they can. */
export function loadersUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root (loading programs and network namespaces need it)';
  for (const tool of ['bpftool', 'ip', 'tc']) {
    if (spawnSync(tool, tool === 'bpftool' ? ['version'] : ['-V']).status !== 0) return `${tool} not found on PATH`;
  }
  if (!existsSync('/sys/fs/bpf')) return '/sys/fs/bpf is not mounted';
  return undefined;
}

/** The meaningful line of a refusal: the verifier's (before `processed N insns`), else the loader's first. */
export function refusalLine(output: string): string {
  if (/^processed \d+ insns/m.test(output)) return meaningfulLine(output);
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => l.startsWith('libbpf: ')) ?? lines.find((l) => !/^Warning:/.test(l)) ?? 'unknown reason';
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Runs program `id` on each packet (BPF_PROG_TEST_RUN through `bpftool prog run`). */
export function runById(id: number, packets: Record<string, Uint8Array>): Record<string, { retval: number; dataOut: string }> {
  const tmp = mkdtempSync(join(tmpdir(), 'nkemu-forms-'));
  try {
    const out: Record<string, { retval: number; dataOut: string }> = {};
    for (const [name, p] of Object.entries(packets)) {
      writeFileSync(join(tmp, 'in'), p);
      rmSync(join(tmp, 'out'), { force: true });
      const r = JSON.parse(run('bpftool', ['-j', 'prog', 'run', 'id', String(id), 'data_in', join(tmp, 'in'),
        'data_out', join(tmp, 'out'), 'data_size_out', '4096', 'repeat', '1'])) as { retval: number };
      out[name] = { retval: r.retval >>> 0, dataOut: existsSync(join(tmp, 'out')) ? hex(readFileSync(join(tmp, 'out'))) : '' };
    }
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Loads section `section` of `obj` with ip (`type` xdp) or tc (sched_cls) of `tools`, runs
 * it on `packets`, and deletes the namespace it was attached in.
 */
export function loadWithIproute2(tools: Iproute2, obj: string, section: string, type: 'xdp' | 'sched_cls', packets: Record<string, Uint8Array>): LoaderVerdict {
  const ns = `nkemu-forms-${process.pid}-${seq++}`;
  run('ip', ['netns', 'add', ns]);
  try {
    run('ip', ['-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']);
    run('ip', ['-n', ns, 'link', 'set', 'd0', 'up']);
    // (the legacy loader prints the verifier's log only when asked: `verbose`)
    const verbose = /libbpf/.test(tools.version) ? [] : ['verbose'];
    let load;
    if (type === 'xdp') {
      load = spawnSync(tools.ip, ['-n', ns, 'link', 'set', 'dev', 'd0', 'xdpgeneric', 'obj', obj, 'sec', section, ...verbose], { encoding: 'utf8' });
    } else {
      run('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'd0', 'clsact']);
      load = spawnSync(tools.tc, ['-n', ns, 'filter', 'add', 'dev', 'd0', 'ingress', 'bpf', 'da', 'obj', obj, 'sec', section, ...verbose], { encoding: 'utf8' });
    }
    if (load.status !== 0) return { loaded: false, reason: refusalLine(`${load.stdout}\n${load.stderr}`) };
    let id: number | undefined;
    if (type === 'xdp') {
      const link = JSON.parse(run('ip', ['-n', ns, '-j', 'link', 'show', 'dev', 'd0'])) as { xdp?: { prog?: { id: number } } }[];
      id = link[0]?.xdp?.prog?.id;
    } else {
      const filters = JSON.parse(run('tc', ['-n', ns, '-j', 'filter', 'show', 'dev', 'd0', 'ingress'])) as { options?: { prog?: { id: number } } }[];
      id = filters.find((f) => f.options?.prog)?.options?.prog?.id;
    }
    if (id === undefined) throw new Error(`${tools.ip}: ${obj} section ${section} loaded, but no program is attached to d0`);
    const shown = JSON.parse(run('bpftool', ['-j', 'prog', 'show', 'id', String(id)])) as { name?: string };
    return { loaded: true, kernelName: shown.name ?? '', runs: runById(id, packets) };
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

/** `bpftool prog load OBJ PIN`: libbpf opens the object and loads every program in it. */
export function loadWithBpftool(obj: string): LoaderVerdict {
  const pin = `/sys/fs/bpf/nkemu-forms-${process.pid}-${seq++}`;
  try {
    const r = spawnSync('bpftool', ['prog', 'load', obj, pin], { encoding: 'utf8' });
    if (r.status !== 0) return { loaded: false, reason: refusalLine(`${r.stdout}\n${r.stderr}`) };
    const shown = JSON.parse(run('bpftool', ['-j', 'prog', 'show', 'pinned', pin])) as { name?: string };
    return { loaded: true, kernelName: shown.name ?? '' };
  } finally {
    rmSync(pin, { force: true, recursive: true });
  }
}
