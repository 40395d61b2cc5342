/**
 * Verdict parity with the kernel's verifier (issue 18). Every program of the corpus
 * (test/fixtures/verifier/corpus.ts, built to obj/*.o by scripts/build-verifier-corpus.ts)
 * and every fixture of test/fixtures/bpf is loaded in nkemu and its
 * verdict compared with the kernel's recorded one (kernel-verdicts.json), so a clone
 * without root still checks nkemu against the kernel; refusals are compared by their
 * meaningful line. `known-differences.json` lists where nkemu does not yet agree: a
 * new difference fails, one that went away is reported (update the list).
 *
 * Live: as root with bpftool, each object is loaded in this kernel too; where it treats
 * a program differently from the recorded verdict, that is reported, not failed.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { NetError } from '../../src/errors.js';
import { VerifierError } from '../../src/ebpf/verifier.js';
import { CASES } from '../fixtures/bpf/cases.js';
import { CORPUS } from '../fixtures/verifier/corpus.js';
import { kernelUnavailableReason } from '../helpers/kernel.js';
import { kernelVerdict, type Verdict } from '../helpers/verdict.js';

const dir = new URL('../fixtures/verifier/', import.meta.url).pathname;
const recorded = JSON.parse(readFileSync(join(dir, 'kernel-verdicts.json'), 'utf8')) as { kernel: string; entries: Record<string, Verdict> };
const knownPath = join(dir, 'known-differences.json');
const known = (existsSync(knownPath) ? JSON.parse(readFileSync(knownPath, 'utf8')) : { verdict: [], message: [] }) as { verdict: string[]; message: string[] };
const fixtureDir = new URL('../fixtures/bpf/', import.meta.url).pathname;
const FIXTURES = readdirSync(fixtureDir).filter((f) => /^[a-z_]+\.o$/.test(f)).sort();

let emu: Emulator;
beforeAll(async () => { emu = await Emulator.create({ jit: false }); });
afterAll(async () => { await emu?.close(); });

/** nkemu's verdict on an object: loadObject's checks (the same as loadProgram's). */
/** Fixtures whose sections libbpf cannot classify: loaded with bpftool's `type` (test/fixtures/bpf/cases.ts). */
const FIXTURE_TYPES: Record<string, string> = { 'old_sections.o': 'xdp' };

function nkemuVerdict(path: string): Verdict {
  try {
    const o = emu.loadObject(readFileSync(path), { type: FIXTURE_TYPES[path.split('/').pop()!] });
    for (const p of o.programs.values()) emu.closeProgram(p);
    return { ok: true };
  } catch (e) {
    if (e instanceof VerifierError) return { ok: false, errno: e.errno, line: e.log };
    if (e instanceof NetError) return { ok: false, errno: e.errno, line: e.message };
    return { ok: false, errno: 'load', line: (e as Error).message };
  }
}

interface Row { name: string; cls: string; kernel: Verdict; nkemu: Verdict }
let rows: Row[] = [];

describe('verdict parity with the kernel verifier (recorded verdicts)', () => {
  it(`every corpus program gets the kernel's verdict, refusals the kernel's line (recorded on ${recorded.kernel})`, () => {
    rows = CORPUS.map((e) => ({ name: e.name, cls: e.cls, kernel: recorded.entries[e.name]!, nkemu: nkemuVerdict(join(dir, 'obj', `${e.name}.o`)) }));
    for (const r of rows) expect(r.kernel, `${r.name}: no recorded kernel verdict (run scripts/build-verifier-corpus.ts)`).toBeDefined();
    expect(new Set(rows.map((r) => r.name)).size, 'corpus names are unique').toBe(rows.length);
    const verdictDiff = rows.filter((r) => r.kernel.ok !== r.nkemu.ok);
    const refusedBoth = rows.filter((r) => !r.kernel.ok && !r.nkemu.ok);
    const same = (r: Row): boolean => r.kernel.line === r.nkemu.line && r.kernel.errno === r.nkemu.errno;
    const messageDiff = refusedBoth.filter((r) => !same(r));
    // Per class: programs, verdicts agreeing, refusals with the kernel's exact line.
    const byClass = new Map<string, { n: number; agree: number; refused: number; exact: number }>();
    for (const r of rows) {
      const c = byClass.get(r.cls) ?? { n: 0, agree: 0, refused: 0, exact: 0 };
      c.n++;
      if (r.kernel.ok === r.nkemu.ok) c.agree++;
      if (!r.kernel.ok && !r.nkemu.ok) { c.refused++; if (same(r)) c.exact++; }
      byClass.set(r.cls, c);
    }
    console.log(`verifier parity: ${rows.length} programs, ${rows.length - verdictDiff.length} verdicts agree ` +
      `(nkemu refuses ${verdictDiff.filter((r) => r.kernel.ok).length} the kernel accepts, accepts ${verdictDiff.filter((r) => !r.kernel.ok).length} it refuses); ` +
      `${refusedBoth.length - messageDiff.length}/${refusedBoth.length} common refusals with the kernel's errno and line\n` +
      [...byClass].map(([k, c]) => `  ${k}: ${c.agree}/${c.n} agree, ${c.exact}/${c.refused} exact`).join('\n'));
    // Where nkemu refuses a program the kernel accepts, that is a bug: never known.
    expect(verdictDiff.filter((r) => r.kernel.ok).map((r) => `${r.name}: ${r.nkemu.line}`)).toEqual([]);
    const newVerdict = verdictDiff.filter((r) => !known.verdict.includes(r.name)).map((r) => `${r.name}: kernel ${r.kernel.line ?? 'accepts'}, nkemu ${r.nkemu.line ?? 'accepts'}`);
    const newMessage = messageDiff.filter((r) => !known.message.includes(r.name)).map((r) => `${r.name}: kernel ${r.kernel.errno} "${r.kernel.line}", nkemu ${r.nkemu.errno} "${r.nkemu.line}"`);
    const fixedV = known.verdict.filter((n) => !verdictDiff.some((r) => r.name === n));
    const fixedM = known.message.filter((n) => !messageDiff.some((r) => r.name === n));
    // NKEMU_UPDATE_KNOWN=1 rewrites the list (after a change to the checks or the corpus).
    if (process.env.NKEMU_UPDATE_KNOWN === '1') {
      writeFileSync(knownPath, JSON.stringify({ verdict: verdictDiff.filter((r) => !r.kernel.ok).map((r) => r.name), message: messageDiff.map((r) => r.name) }, null, 1) + '\n');
      return;
    }
    if (fixedV.length + fixedM.length > 0) console.log(`now agreeing with the kernel (drop from known-differences.json): ${[...fixedV, ...fixedM].join(', ')}`);
    expect(newVerdict).toEqual([]);
    expect(newMessage).toEqual([]);
  });

  it('the fixtures of test/fixtures/bpf load, those the kernel refused (its recording) are refused with its line', () => {
    // (the fixture recording holds the kernel's refusal of an object as `refused by this kernel: LINE`)
    const fixtureRuns = JSON.parse(readFileSync(join(fixtureDir, 'expected.json'), 'utf8')) as { recorded: Record<string, { error?: string }> };
    const refused = new Map<string, string>();
    for (const c of CASES) {
      const why = /^refused by this kernel: (.*)$/.exec(fixtureRuns.recorded[`${c.name}@v3`]?.error ?? '')?.[1];
      // (bpftool's libbpf 1.x no longer opens legacy `maps` sections, which nkemu loads as
      // older loaders did: a refusal to open the object is libbpf's, not the kernel's)
      if (why !== undefined && !/^(Error: failed to open object file|libbpf: )/.test(why)) refused.set(`${c.object}.o`, why);
    }
    expect(refused.size).toBeGreaterThan(0);
    for (const f of FIXTURES) {
      const v = nkemuVerdict(join(fixtureDir, f));
      if (refused.has(f)) expect([v.ok, v.line], f).toEqual([false, refused.get(f)]);
      else expect(v, f).toEqual({ ok: true });
    }
  });
});

const noKernel = kernelUnavailableReason();
describe.skipIf(noKernel !== undefined)('verdict parity, live: the local kernel against the recorded verdicts', () => {
  it('loads every corpus program in this kernel; differences from the record are reported, not failed', () => {
    const drift: string[] = [];
    const nkemuDiff: string[] = [];
    for (const e of CORPUS) {
      const v = kernelVerdict(join(dir, 'obj', `${e.name}.o`));
      const r = recorded.entries[e.name]!;
      if (v.ok !== r.ok || v.line !== r.line) drift.push(`${e.name}: recorded ${r.ok ? 'accept' : r.line}, this kernel ${v.ok ? 'accept' : v.line}`);
      const nk = rows.find((x) => x.name === e.name)?.nkemu;
      if (nk && (nk.ok !== v.ok || (!v.ok && nk.line !== v.line))) nkemuDiff.push(`${e.name}: nkemu ${nk.ok ? 'accepts' : nk.line}, this kernel ${v.ok ? 'accepts' : v.line}`);
    }
    console.log(`live verifier parity: ${CORPUS.length} programs loaded in this kernel; ${drift.length} differ from the recorded verdicts` +
      `${drift.length ? ':\n  ' + drift.join('\n  ') : ''}\n${nkemuDiff.length} differ between nkemu and this kernel (verdict or line)` +
      `${nkemuDiff.length ? ':\n  ' + nkemuDiff.join('\n  ') : ''}`);
    expect(drift.length + nkemuDiff.length).toBeGreaterThanOrEqual(0);
  // (a bpftool load per program: seconds on an idle machine, minutes on a loaded one)
  }, 300_000);
});
if (noKernel !== undefined) console.log(`verifier parity, live: skipped (${noKernel})`);
