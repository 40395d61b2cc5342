/**
 * The kernel verifier's verdict on one object (`bpftool prog load`, whose libbpf prints the log of a refusal, as root): accepted,
 * or refused with an errno and the log's meaningful line (the one before `processed N
 * insns`, else libbpf's). Pins are made under a per-process name and removed at once.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

export interface Verdict {
  ok: boolean;
  /** The errno libbpf reports (`failed to load: -13` → EACCES). */
  errno?: string;
  /** The refusal's meaningful line. */
  line?: string;
}

const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 7: 'E2BIG', 13: 'EACCES', 14: 'EFAULT', 22: 'EINVAL', 95: 'EOPNOTSUPP', 524: 'ENOTSUPP' };
let seq = 0;

export function kernelVerdict(obj: string): Verdict {
  const pin = `/sys/fs/bpf/nkemu-verdict-${process.pid}-${seq++}`;
  try {
    // (a program that hits the complexity limit logs about a million lines)
    execFileSync('bpftool', ['prog', 'load', obj, pin], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
    return { ok: true };
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    const out = `${err.stdout ?? ''}\n${err.stderr ?? ''}`;
    const m = /failed to load: -(\d+)/.exec(out);
    const n = m ? Number(m[1]) : 0;
    return { ok: false, errno: ERRNO_NAMES[n] ?? (n ? `errno ${n}` : 'unknown'), line: meaningfulLine(out) };
  } finally {
    rmSync(pin, { force: true, recursive: true });
  }
}

/**
 * The refusal's meaningful line: the last verifier line before `processed N insns`
 * (skipping `verification time` and `stack depth`, and the precision-tracking debug lines
 * `-d` adds), else libbpf's own error.
 */
export function meaningfulLine(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  let i = lines.findIndex((l) => /^processed \d+ insns/.test(l));
  if (i < 0) i = lines.findIndex((l) => /^-- END PROG LOAD LOG --/.test(l));
  if (i < 0) return lines.find((l) => /libbpf: .*(failed|error)/i.test(l)) ?? lines.at(-1) ?? 'unknown reason';
  while (--i >= 0) {
    const l = lines[i]!;
    if (/^(verification time|stack depth|mark_precise|last_idx|parent didn't have|cur state:|old state:|-- BEGIN PROG LOAD LOG)/.test(l)) continue;
    if (/^\d+: \(/.test(l) && /^\d+: \([0-9a-f]{2}\)/.test(l) && i > 0 && /^(mark_precise|last_idx)/.test(lines[i - 1]!)) continue;
    return l;
  }
  return 'unknown reason';
}
