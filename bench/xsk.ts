/**
 * AF_XDP ring throughput: descriptors per second through one 2048-entry ring between two
 * worker threads (producer and consumer running the dataplane module), at batch 1, 16 and
 * 64; the same ring discipline as the sockets' FILL/RX/TX/COMPLETION rings.
 */

import { Dataplane } from '../src/dataplane.js';
import { stream } from '../src/xdp/stream.js';
import { defineSuite, type BenchCase } from './runner.js';

let dp: Dataplane | undefined;
const setup = async (): Promise<void> => { dp ??= await Dataplane.create({}); };

const cases: BenchCase[] = [1, 16, 64].map((batch) => ({
  name: `ring batch ${batch}`, metric: 'throughput', unit: 'M desc/s', higherIsBetter: true, setup,
  ...(batch === 64 ? {} : { baseline: 'ring batch 64' }),
  external: async () => {
    const r = await stream(dp!, batch === 1 ? 2_000_000 : 20_000_000, { batch });
    if (r.errors) throw new Error(`ring stream: ${r.errors} descriptors out of sequence`);
    return r.mdps;
  },
}));

export default defineSuite({ name: 'xsk', cases });
