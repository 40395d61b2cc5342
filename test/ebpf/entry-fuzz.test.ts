import { describe, expect, it } from 'vitest';
import { prng } from '../../src/emulator.js';
import { fuzzOne } from '../helpers/entry-diff.js';
import { entryRigs } from '../helpers/entry-rigs.js';

// Every compiled entry point (per-packet, batch, netkit xmit, tcx and their list modules, NIC XDP) against the
// interpreter on seeded programs in the shapes real projects use (test/helpers/entry-diff.ts).
// NKEMU_ENTRY_FUZZ programs (10,000 by default; `npm run fuzz` runs 1,000,000 with progress).

const N = Number(process.env.NKEMU_ENTRY_FUZZ ?? 10_000);
const SEED = Number(process.env.NKEMU_ENTRY_FUZZ_SEED ?? 0x5eed);

const rigs = entryRigs();

describe('every compiled entry point agrees with the interpreter', () => {
  it(`on ${N} programs in the shapes real projects use (per-packet, batch, netkit xmit, tcx, NIC XDP)`, async () => {
    const rnd = prng(SEED);
    const stats: Record<string, number> = {};
    for (let k = 0; k < N; k++) {
      const diff = await fuzzOne(rigs.compiled, rigs.interp, k, rnd, stats);
      if (diff !== undefined) throw new Error(`program ${k} (seed ${SEED}): ${diff}`);
    }
    if (process.env.NKEMU_FUZZ_STATS) console.log(stats);
    // The corpus reaches what it is for: verified programs (batch code), refused ones, faults and clean exits.
    // (about a third pass the load-time checks, which follow the kernel's since issue 18)
    expect(stats.verified).toBeGreaterThan(N * 0.2);
    expect(stats.refused).toBeGreaterThan(N * 0.05);
    expect(stats['fault none']).toBeGreaterThan(N);
    // (lists of two with a verified tc program: some run on a list module, codegen/list.ts,
    // some of those two different programs)
    expect(stats['list module'] ?? 0).toBeGreaterThan(N * 0.005);
    expect(stats['list module, two programs'] ?? 0).toBeGreaterThan(0);
  }, Math.max(120_000, N * 40));
});
