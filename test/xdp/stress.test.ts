import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane.js';
import { stream } from '../../src/xdp/stream.js';

/** 10^7 descriptors here; `npm run stress` sets NKEMU_STRESS=1e8. */
const N = Number(process.env.NKEMU_STRESS ?? 1e7);

let dp: Dataplane;
beforeAll(async () => {
  dp = await Dataplane.create({});
});
afterAll(() => undefined);

describe('AF_XDP ring between two workers', () => {
  it(`${N.toExponential(0)} descriptors cross a 2048-entry ring with none lost, duplicated or reordered`, async () => {
    const r = await stream(dp, N, { batch: 64 });
    expect(r.received).toBe(N);
    expect(r.errors).toBe(0);
  }, 300_000);

  it('batch 1 and a tiny ring still deliver everything in order', async () => {
    const r = await stream(dp, 200_000, { batch: 1, size: 4 });
    expect([r.received, r.errors]).toEqual([200_000, 0]);
  }, 60_000);
});
