/**
 * `npx tsx scripts/record-loader-forms.ts`: loads every object-form case
 * (test/fixtures/loader/cases.ts) with the real loaders on this machine's kernel and writes
 * their verdicts, and the runs of what they load, to test/fixtures/loader/expected.json:
 * libbpf through `bpftool prog load` (whole objects) and the installed ip/tc (one section),
 * iproute2's legacy loader through an ip/tc built without libbpf
 * (scripts/build-iproute2-legacy.sh). Needs root, bpftool, ip and tc.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { FORM_CASES, OBJECTS, PACKETS, type Recording } from '../test/fixtures/loader/cases.js';
import { installedIproute2, legacyIproute2, loadWithBpftool, loadWithIproute2, loadersUnavailableReason } from '../test/helpers/loaders.js';

const DIR = new URL('../test/fixtures/loader/', import.meta.url).pathname;
const why = loadersUnavailableReason();
const installed = installedIproute2();
const legacy = legacyIproute2();
if (why || !installed || !/libbpf/.test(installed.version) || !legacy) {
  console.error(`record-loader-forms: ${why ?? (!legacy ? 'no ip/tc built without libbpf (run scripts/build-iproute2-legacy.sh)' : `the installed ip is not libbpf's (${installed?.version})`)}`);
  process.exit(1);
}
const bpftool = execFileSync('bpftool', ['version'], { encoding: 'utf8' }).split('\n').slice(0, 2).join(', ');
const out: Recording = {
  kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
  loaders: { libbpf: `${bpftool}; ${installed.version}`, legacy: legacy.version },
  bpftool: Object.fromEntries(OBJECTS.map((o) => [o, loadWithBpftool(DIR + o)])),
  cases: Object.fromEntries(FORM_CASES.map((c) => [c.name, {
    libbpf: loadWithIproute2(installed, DIR + c.object, c.section, c.type, PACKETS),
    legacy: loadWithIproute2(legacy, DIR + c.object, c.section, c.type, PACKETS),
  }])),
};
writeFileSync(DIR + 'expected.json', JSON.stringify(out, null, 1) + '\n');
for (const [name, v] of Object.entries(out.cases)) {
  console.log(`${name}: libbpf ${v.libbpf.loaded ? 'loads' : `refuses (${v.libbpf.reason})`}; legacy ${v.legacy.loaded ? 'loads' : `refuses (${v.legacy.reason})`}`);
}
