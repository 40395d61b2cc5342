// examples/bench/library.ts
// The README's bench in code (`npx tsx examples/bench/library.ts` in a clone of the
// repository): the two filters on the replayed capture, the table, and the report files a
// CI job keeps.
import { readFileSync, writeFileSync } from 'node:fs';
import { bench, formatTable, toHtml, toJson } from 'nkemu/bench';

const dir = new URL('./', import.meta.url).pathname;
const report = await bench({
  script: readFileSync(`${dir}filter.nk`, 'utf8'),
  scriptName: 'filter.nk',
  pcap: `${dir}traffic.pcap`,
  variants: [`${dir}xdp_filter_v1.o`, { name: 'v2', object: `${dir}xdp_filter_v2.o`, sec: 'xdp' }],
  procs: 3,       // measuring processes, one after another (default 3)
  rounds: 5,      // rounds per process, variants interleaved (default 5)
  kernel: false,  // true: the kernel's BPF_PROG_TEST_RUN too (root and bpftool)
});
console.log(formatTable(report));
const v2 = report.ratios.find((r) => r.variant === 'v2' && r.metric === 'ns/packet')!;
console.log(`v2 takes ${v2.ratio.median.toFixed(2)}x v1's time per packet (${v2.ratio.low.toFixed(2)} to ${v2.ratio.high.toFixed(2)})`);
writeFileSync('bench.json', JSON.stringify(toJson(report), null, 2));
writeFileSync('bench.html', toHtml(report));
