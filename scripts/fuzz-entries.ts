/**
 * `npm run fuzz`: the entry-point differential fuzzer (test/helpers/entry-diff.ts) over
 * many programs, with progress. Usage: tsx scripts/fuzz-entries.ts [count] [seed] [start].
 * `start` skips the generator ahead (the programs before it are drawn, not run), so a long
 * run can be split across processes: each prints the range it covered and stops at the
 * first disagreement, with the program.
 */
import { prng } from '../src/emulator.js';
import { draw, fuzzOne, rig } from '../test/helpers/entry-diff.js';

const count = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 0x5eed);
const start = Number(process.argv[4] ?? 0);
const rnd = prng(seed);
// Draw (without running) the programs before `start`, as fuzzOne draws them.
for (let k = 0; k < start; k++) draw(rnd);
// Fresh emulators every 10,000 programs: one emulator's compiled-code slots are not all
// given back to it when programs close (issue 19), and a long run would fill its table.
let compiled = await rig(true);
let interp = await rig(false);
const stats: Record<string, number> = {};
const t0 = Date.now();
let k = start;
for (; k < start + count; k++) {
  if (k > start && (k - start) % 10_000 === 0) {
    await compiled.emu.close();
    await interp.emu.close();
    compiled = await rig(true);
    interp = await rig(false);
  }
  const diff = await fuzzOne(compiled, interp, k, rnd, stats);
  if (diff !== undefined) {
    console.error(`DISAGREEMENT at program ${k} (seed ${seed}): ${diff}`);
    process.exit(1);
  }
  if ((k + 1 - start) % 10_000 === 0) console.log(`${k + 1 - start} programs (${start}..${k}) agree, ${((Date.now() - t0) / 1000).toFixed(0)} s; ${JSON.stringify(stats)}`);
}
console.log(`${count} programs (seed ${seed}, ${start}..${k - 1}): 0 disagreements in ${((Date.now() - t0) / 1000).toFixed(0)} s; ${JSON.stringify(stats)}`);
await compiled.emu.close();
await interp.emu.close();
