// examples/bench/filter.bench.ts
// The two XDP filters of this directory timed by vitest's own `bench` (tinybench), each on
// its scenario from `nkemu/bench`'s prepare():
//   npx vitest bench --run examples/bench/filter.bench.ts
import { readFileSync } from 'node:fs';
import { afterAll, bench, describe } from 'vitest';
import { prepare } from 'nkemu/bench';

const dir = new URL('./', import.meta.url).pathname;
const scenarios = await prepare({
  script: readFileSync(`${dir}filter.nk`, 'utf8'),
  pcap: `${dir}traffic.pcap`,
  variants: [`${dir}xdp_filter_v1.o`, `${dir}xdp_filter_v2.o`],
  packets: 1024,
});
afterAll(async () => { for (const s of scenarios) await s.close(); });

describe('XDP filter, 1024 replayed frames per operation', () => {
  for (const s of scenarios) bench(s.name, () => s.run(), { time: 100, warmupTime: 20 });
});
