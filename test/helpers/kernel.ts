/**
 * Runs BPF objects on the host kernel for differential tests (spec/ebpf.md §6.5):
 * `bpftool prog loadall` pins the object's programs under /sys/fs/bpf/nkemu-test-*,
 * `bpftool prog run` executes one with BPF_PROG_TEST_RUN, and the pins are removed after.
 * Needs root, bpftool and a mounted bpffs; `kernelUnavailableReason()` says what is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadObject } from '../../src/ebpf/elf.js';

export interface KernelRun {
  /** r0 as an unsigned 32-bit number (what BPF_PROG_TEST_RUN reports). */
  retval: number;
  /** The packet after the last repetition. */
  dataOut: Uint8Array;
  /** Average time per repetition. */
  durationNs: number;
  /** The `__sk_buff` / `xdp_md` the kernel copied back, when `ctxIn` was given. */
  ctxOut?: Uint8Array;
  /** Map contents after the run (with `maps: true`): map name → entries, keys/values in hex. */
  maps?: Record<string, { key: string; value: string | string[] }[]>;
}

const BPFFS = '/sys/fs/bpf';
/** bpftool `type` argument per program type (so sections unknown to bpftool's libbpf, e.g. netkit/primary, still load). */
const BPFTOOL_TYPE: Record<string, string> = { sched_cls: 'classifier', sched_act: 'action', xdp: 'xdp', socket_filter: 'socket' };

let cached: string | null | undefined;
let seq = 0;

function bpftool(args: string[]): string {
  return execFileSync('bpftool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why kernel runs are impossible here, or undefined when they work. Cached. */
export function kernelUnavailableReason(): string | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = probe() ?? null;
  return cached ?? undefined;
}

/** True when root, bpftool and bpffs are present and a trivial program runs. */
export function kernelAvailable(): boolean {
  return kernelUnavailableReason() === undefined;
}

function probe(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root (BPF_PROG_TEST_RUN needs CAP_BPF + CAP_NET_ADMIN)';
  try {
    bpftool(['version']);
  } catch {
    return 'bpftool not found on PATH';
  }
  if (!existsSync(BPFFS)) return `${BPFFS} is not mounted`;
  const obj = new URL('../fixtures/bpf/netkit_drop_port.o', import.meta.url).pathname;
  try {
    const r = kernelRun(obj, 'peer_pass', new Uint8Array(14));
    if (r.retval !== 0) return `probe program returned ${r.retval}, expected 0 (NETKIT_PASS)`;
  } catch (e) {
    return `probe run failed: ${(e as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

/**
 * The kernel refused to load an object (its verifier or libbpf said no). Kernel builds
 * differ: one 6.18 build refuses `bpf_xdp_adjust_meta` in XDP programs. Checks record the
 * reason and go on (`kernelRefusal`), they do not fail.
 */
export class KernelRefused extends Error {
  constructor(readonly object: string, readonly reason: string) {
    super(`refused by this kernel: ${reason}`);
    this.name = 'KernelRefused';
  }
}

/** The meaningful line of a failed `bpftool prog loadall`: the verifier's last word before `processed N insns`, else libbpf's. */
export function refusalReason(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const processed = lines.findIndex((l) => /^processed \d+ insns/.test(l));
  if (processed > 0) return lines[processed - 1]!;
  return lines.find((l) => /libbpf: .*(failed|error)/i.test(l)) ?? lines.at(-1) ?? 'unknown reason';
}

const refusals = new Map<string, string | undefined>();

/**
 * Why this kernel refuses to load `obj`, or undefined when it loads it (cached per object).
 * `NKEMU_KERNEL_REFUSE=name.o:reason,…` makes it report a refusal, to exercise the skips.
 */
export function kernelRefusal(obj: string, prog?: string, forceType?: string): string | undefined {
  const parsed = loadObject(readFileSync(obj), { type: forceType });
  const type = BPFTOOL_TYPE[(parsed.programs.find((q) => q.name === prog) ?? parsed.programs[0])?.type ?? ''];
  const key = `${obj} ${type}`;
  if (refusals.has(key)) return refusals.get(key);
  let why: string | undefined;
  for (const entry of (process.env.NKEMU_KERNEL_REFUSE ?? '').split(',').filter(Boolean)) {
    const [name, ...reason] = entry.split(':');
    if (obj.endsWith(`/${name}`)) why = reason.join(':') || 'refused (NKEMU_KERNEL_REFUSE)';
  }
  if (why === undefined) {
    const pin = join(BPFFS, `nkemu-probe-${process.pid}-${seq++}`);
    try {
      execFileSync('bpftool', ['prog', 'loadall', obj, pin, ...(type ? ['type', type] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string; message: string };
      why = refusalReason(`${err.stdout ?? ''}\n${err.stderr ?? ''}` || err.message);
    } finally {
      rmSync(pin, { recursive: true, force: true });
    }
  }
  refusals.set(key, why);
  return why;
}

/**
 * Loads `obj` (a path), runs program `prog` (function name) once per repetition on
 * `packet` (in `ip netns` namespace `netns`, when given), and cleans up. Throws with
 * bpftool's stderr when loading or running fails.
 */
/** A map element to put in before the run (`bpftool map update`): map name, key and value bytes. */
/**
 * A map element to put in before the run: map name, key and value bytes (`bpftool map
 * update`), or, for a cgroup array, a cgroup by its path in the cgroup v2 hierarchy (`/`,
 * its root: the kernel's is where cgroup2 is mounted; nkemu has only that one).
 */
export type MapElem = { map: string; key: number[]; value: number[] } | { map: string; key: number[]; cgroup: string };

/**
 * bpftool cannot put a cgroup in a cgroup array (its value bytes are an fd number in its own
 * process): this opens the pinned map (BPF_OBJ_GET) and the cgroup's directory and calls
 * BPF_MAP_UPDATE_ELEM with that fd. argv: pinned map, index, cgroup directory.
 */
const CGROUP_ARRAY_SET = `
import ctypes, os, struct, sys
nr = {'x86_64': 321, 'aarch64': 280}[os.uname().machine]
libc = ctypes.CDLL(None, use_errno=True)
def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    r = libc.syscall(nr, cmd, buf, 128)
    if r < 0:
        sys.exit('bpf(%d): %s' % (cmd, os.strerror(ctypes.get_errno())))
    return r
path = ctypes.create_string_buffer(sys.argv[1].encode())
fd = bpf(7, struct.pack('=QII', ctypes.addressof(path), 0, 0))
cg = os.open(sys.argv[3], os.O_RDONLY | os.O_DIRECTORY)
key = ctypes.create_string_buffer(struct.pack('=I', int(sys.argv[2])), 4)
val = ctypes.create_string_buffer(struct.pack('=I', cg), 4)
bpf(2, struct.pack('=IIQQQ', fd, 0, ctypes.addressof(key), ctypes.addressof(val), 0))
`;

/** Where cgroup2 is mounted (/proc/mounts). */
function cgroup2Mount(): string {
  const line = readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2');
  if (!line) throw new Error('cgroup2 is not mounted: a cgroup array cannot be filled');
  return line.split(' ')[1]!;
}

/**
 * `maps`: read the object's maps back after the run (true), or only those named (maps too
 * large to dump, such as a 33M-entry array, left out).
 */
export function kernelRun(obj: string, prog: string, packet: Uint8Array, repeat = 1, opts: { ctxIn?: Uint8Array; maps?: boolean | string[]; mapsIn?: MapElem[]; type?: string; netns?: string; runs?: number } = {}): KernelRun {
  const refused = kernelRefusal(obj, prog, opts.type);
  if (refused !== undefined) throw new KernelRefused(obj, refused);
  // (`type`: bpftool's `type TYPE`, for sections libbpf cannot classify)
  const parsed = loadObject(readFileSync(obj), { type: opts.type });
  const p = parsed.programs.find((q) => q.name === prog);
  if (!p) throw new Error(`${obj} has no program '${prog}' (has ${parsed.programs.map((q) => q.name).join(', ')})`);
  const type = BPFTOOL_TYPE[p.type];
  if (!type) throw new Error(`program type ${p.type} cannot be test-run here`);

  const pin = join(BPFFS, `nkemu-test-${process.pid}-${seq++}`);
  const tmp = mkdtempSync(join(tmpdir(), 'nkemu-kernel-'));
  try {
    writeFileSync(join(tmp, 'in'), packet);
    const mapDir = `${pin}-maps`;
    const pinMaps = !!opts.maps || (opts.mapsIn?.length ?? 0) > 0;
    bpftoolChecked(['prog', 'loadall', obj, pin, 'type', type, ...(pinMaps ? ['pinmaps', mapDir] : [])]);
    for (const e of opts.mapsIn ?? []) {
      if ('cgroup' in e) {
        const index = Buffer.from(e.key).readUInt32LE(0);
        checked('python3', ['-c', CGROUP_ARRAY_SET, join(mapDir, e.map), String(index), join(cgroup2Mount(), e.cgroup)]);
      } else {
        bpftoolChecked(['map', 'update', 'pinned', join(mapDir, e.map), 'key', ...e.key.map(String), 'value', ...e.value.map(String)]);
      }
    }
    const args = ['-j', 'prog', 'run', 'pinned', join(pin, prog), 'data_in', join(tmp, 'in'), 'data_out', join(tmp, 'out'),
      'data_size_out', String(Math.max(packet.length + 512, 4096))];
    if (opts.ctxIn) {
      writeFileSync(join(tmp, 'ctx'), opts.ctxIn);
      args.push('ctx_in', join(tmp, 'ctx'), 'ctx_out', join(tmp, 'ctxout'));
    }
    args.push('repeat', String(repeat));
    // (BPF_PROG_TEST_RUN runs in the caller's namespace: `netns` enters an `ip netns` one
    // for the run, network namespace only, so the pins under /sys/fs/bpf stay in view)
    // (`runs`: that many test runs of the one load, each `repeat` times; the time is their median)
    const times: number[] = [];
    let res: { retval: number; duration: number } | undefined;
    for (let k = 0; k < (opts.runs ?? 1); k++) {
      res = JSON.parse(opts.netns ? checked('nsenter', [`--net=/var/run/netns/${opts.netns}`, 'bpftool', ...args]) : bpftoolChecked(args)) as { retval: number; duration: number };
      times.push(res.duration);
    }
    times.sort((a, b) => a - b);
    const dataOut = existsSync(join(tmp, 'out')) ? new Uint8Array(readFileSync(join(tmp, 'out'))) : new Uint8Array(0);
    const out: KernelRun = { retval: res!.retval >>> 0, dataOut, durationNs: times[times.length >> 1]! };
    if (opts.ctxIn) out.ctxOut = new Uint8Array(readFileSync(join(tmp, 'ctxout')));
    if (opts.maps) out.maps = dumpMaps(mapDir, Array.isArray(opts.maps) ? opts.maps : parsed.maps.map((m) => m.name));
    return out;
  } finally {
    rmSync(pin, { recursive: true, force: true });
    rmSync(`${pin}-maps`, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

const hex = (bytes: string[]): string => bytes.map((b) => b.replace(/^0x/, '').padStart(2, '0')).join('');

/** `bpftool -j map dump pinned DIR/NAME` for each map: non-zero entries only, keys sorted. */
function dumpMaps(dir: string, names: string[]): Record<string, { key: string; value: string | string[] }[]> {
  const out: Record<string, { key: string; value: string | string[] }[]> = {};
  for (const name of names) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    const rows = JSON.parse(bpftoolChecked(['-j', 'map', 'dump', 'pinned', path])) as { key: string[]; value?: string[] | { error: string }; values?: { cpu: number; value: string[] }[] }[];
    // Maps whose values user space cannot read (xskmap, prog_array: "Operation not supported") record no entries.
    out[name] = rows
      .map((r) => ({ key: hex(r.key), value: r.values ? r.values.map((v) => hex(v.value)) : Array.isArray(r.value) ? hex(r.value) : '' }))
      .filter((r) => (Array.isArray(r.value) ? r.value : [r.value]).some((v) => /[^0]/.test(v)))
      .sort((a, b) => a.key.localeCompare(b.key));
  }
  return out;
}

function bpftoolChecked(args: string[]): string {
  return checked('bpftool', args);
}

function checked(cmd: string, args: string[]): string {
  try {
    // (a dump of a 4096-entry per-CPU array is megabytes of JSON)
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    const detail = (err.stderr || err.stdout || err.message).trim().split('\n').slice(-6).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${detail}`);
  }
}
