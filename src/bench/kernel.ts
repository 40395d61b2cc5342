/**
 * The kernel's side of `nkemu bench --kernel`: each variant's object loaded with
 * `bpftool prog loadall` (pinned under a directory of this process), its program run with
 * BPF_PROG_TEST_RUN (`bpftool -j prog run … data_in F repeat N`) on the same frames
 * nkemu's test runs use, and the pins removed at the end. Needs root, bpftool and bpffs.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BPFFS = '/sys/fs/bpf';
/** bpftool's `type` per program type, so sections its libbpf does not know still load. */
const BPFTOOL_TYPE: Record<string, string> = { sched_cls: 'classifier', sched_act: 'action', xdp: 'xdp', socket_filter: 'socket' };

/**
 * Why the kernel cannot be asked here, or undefined when it can. `NKEMU_BENCH_NOT_ROOT=1`
 * answers as an unprivileged user's run would (tests use it).
 */
export function kernelUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.env.NKEMU_BENCH_NOT_ROOT === '1' || process.getuid?.() !== 0) return 'not root: BPF_PROG_TEST_RUN needs CAP_BPF and CAP_NET_ADMIN (run as root, or drop --kernel)';
  try {
    execFileSync('bpftool', ['version'], { stdio: 'ignore' });
  } catch {
    return 'bpftool not found on PATH';
  }
  if (!existsSync(BPFFS)) return `${BPFFS} is not mounted`;
  return undefined;
}

/** One variant's program loaded in the kernel. */
export class KernelProgram {
  private readonly pin: string;
  private readonly tmp: string;
  private readonly files: string[];

  /**
   * Loads `object` (its program `prog`, of nkemu type `type`) and writes `frames` to
   * temporary files. Throws with bpftool's last line when the kernel refuses the object.
   */
  constructor(object: string, private readonly prog: string, type: string, frames: readonly Uint8Array[], tag: string) {
    this.pin = join(BPFFS, `nkemu-bench-${process.pid}-${tag}`);
    this.tmp = mkdtempSync(join(tmpdir(), 'nkemu-bench-'));
    this.files = frames.map((f, i) => {
      const p = join(this.tmp, `frame${i}`);
      writeFileSync(p, f);
      return p;
    });
    rmSync(this.pin, { recursive: true, force: true });
    try {
      execFileSync('bpftool', ['prog', 'loadall', object, this.pin, 'type', BPFTOOL_TYPE[type] ?? type], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = String((e as { stderr?: Buffer }).stderr ?? '').trim().split('\n').filter((l) => l !== '');
      this.close();
      throw new Error(`the kernel refused ${object}: ${err[err.length - 1] ?? (e as Error).message}`);
    }
  }

  /** Mean over the frames of BPF_PROG_TEST_RUN's average ns per repetition. */
  run(repeat: number): number {
    let sum = 0;
    for (const f of this.files) {
      const out = execFileSync('bpftool', ['-j', 'prog', 'run', 'pinned', join(this.pin, this.prog), 'data_in', f, 'repeat', String(repeat)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      sum += (JSON.parse(out) as { duration: number }).duration;
    }
    return sum / this.files.length;
  }

  close(): void {
    rmSync(this.pin, { recursive: true, force: true });
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
