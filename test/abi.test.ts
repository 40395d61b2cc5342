import { describe, expect, it } from 'vitest';
import * as A from '../src/abi.generated.js';
import { compileDataplane, createMemory, instantiateDataplane } from '../src/wasm.js';

describe('dataplane ABI', () => {
  it('TypeScript mirror agrees with every constant the module exports', async () => {
    const mod = await compileDataplane();
    const ex = await instantiateDataplane<Record<string, WebAssembly.Global | ((...a: number[]) => number)>>(mod, createMemory(256, 512));
    expect(A.ABI_NAMES.length).toBeGreaterThan(100);
    for (const name of A.ABI_NAMES) {
      const g = ex[name];
      expect(g, `${name} is exported`).toBeInstanceOf(WebAssembly.Global);
      // u32 globals above 2^31 read back as negative i32: compare the bits.
      expect(((g as WebAssembly.Global).value as number) >>> 0, name).toBe(((A as Record<string, unknown>)[name] as number) >>> 0);
    }
  });

  it('records fit their declared sizes and lines are not shared', () => {
    expect(A.D_RX_SINK + 4).toBeLessThanOrEqual(A.DEV_SIZE);
    expect(A.FM_VLAN_PROTO + 2).toBeLessThanOrEqual(A.FRAME_META);
    expect(A.FRAME_META).toBeLessThanOrEqual(A.FRAME_HEADROOM);
    expect(A.T_SCRATCH + 4).toBeLessThanOrEqual(A.THREAD_SIZE);
    expect(A.COUNTERS_COUNT * 8).toBe(A.COUNTERS_SIZE);
    expect(A.DROP_LAST).toBeLessThan(A.COUNTERS_COUNT);
    // producer and consumer indexes live on different cache lines
    expect(Math.floor(A.R_PRODUCER / A.CACHE_LINE)).not.toBe(Math.floor(A.R_CONSUMER / A.CACHE_LINE));
    expect(Math.floor(A.R_CACHED_CONS / A.CACHE_LINE)).toBe(Math.floor(A.R_PRODUCER / A.CACHE_LINE));
    expect(Math.floor(A.R_CACHED_PROD / A.CACHE_LINE)).toBe(Math.floor(A.R_CONSUMER / A.CACHE_LINE));
    expect(A.RING_ENTRIES % A.CACHE_LINE).toBe(0);
    // the thread state's owner line and host line are separate
    expect(Math.floor(A.T_SEEN_GENERATION / A.CACHE_LINE)).not.toBe(Math.floor(A.T_DOORBELL / A.CACHE_LINE));
  });

  it('the module static data stays below the host arena', async () => {
    const mod = await compileDataplane();
    const ex = await instantiateDataplane<{ heapBase(): number }>(mod, createMemory(256, 512));
    expect(ex.heapBase()).toBeLessThan(A.HOST_BASE);
  });
});

describe('drop reasons', () => {
  it('every DROP_* counter has a name', async () => {
    const { dropReasonName } = await import('../src/emulator.js');
    const A = await import('../src/abi.generated.js');
    for (let r = A.DROP_FIRST; r <= A.DROP_LAST; r++) expect(dropReasonName(r)).not.toMatch(/^DROP_\d+$/);
  });
});
