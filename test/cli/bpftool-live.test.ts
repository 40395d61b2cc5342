import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { kernelRefusal, kernelUnavailableReason } from '../helpers/kernel.js';

// nkemu's `bpftool` side by side with this machine's bpftool on the same object: both load
// tc_counters.o (`prog loadall OBJ DIR pinmaps MAPDIR`: the program `count`, the BTF-described
// maps `src_bytes`, a hash, and `proto_count`, an array), and the same command lines must give
// the same output, errors and exit codes; so must the help, usage and error texts. Needs root
// and bpftool (skipped with the reason).
//
// What must differ is normalised on both sides, and only that (see normalise): ids (of
// programs, maps and BTF objects, which the host numbers among its own), loaded_at, and the
// sizes of each side's own making — xlated (the kernel's verifier rewrites the image, e.g.
// inlines array lookups; nkemu keeps the program's own instructions), jited (x86 code here,
// a WebAssembly module in nkemu) and memlock (each side's memory for it); run counts, if any.

const FIX = new URL('../fixtures/bpf/', import.meta.url).pathname;
const reason = kernelUnavailableReason();
const PIN = `/sys/fs/bpf/nkemu-live-${process.pid}`;

let emu: Emulator;
/** The words each placeholder stands for, on this machine and in nkemu. */
const real: Record<string, string> = {};
const mine: Record<string, string> = {};
beforeAll(async () => {
  if (reason) return;
  emu = await Emulator.create({ seed: 3 });
  const r = await runScript(emu, `bpftool prog loadall ${FIX}tc_counters.o /sys/fs/bpf/tc pinmaps /sys/fs/bpf/tcmaps`);
  expect(r.stderr).toBe('');
  mkdirSync(PIN);
  execFileSync('bpftool', ['prog', 'loadall', `${FIX}tc_counters.o`, `${PIN}/progs`, 'pinmaps', `${PIN}/maps`]);
  Object.assign(real, {
    PROG: `pinned ${PIN}/progs/count`, MAP: `pinned ${PIN}/maps/src_bytes`, ARRAY: `pinned ${PIN}/maps/proto_count`,
    PROGID: `id ${idOf(['prog', 'show', 'pinned', `${PIN}/progs/count`])}`, MAPID: `id ${idOf(['map', 'show', 'pinned', `${PIN}/maps/src_bytes`])}`,
  });
  Object.assign(mine, {
    PROG: 'pinned /sys/fs/bpf/tc/count', MAP: 'pinned /sys/fs/bpf/tcmaps/src_bytes', ARRAY: 'pinned /sys/fs/bpf/tcmaps/proto_count',
    PROGID: `id ${emu.bpf.prog(1)!.id}`, MAPID: `id ${JSON.parse((await runCommand(emu, splitWords('bpftool -j map show pinned /sys/fs/bpf/tcmaps/src_bytes'))).stdout).id}`,
  });
});
afterAll(async () => {
  if (reason) return;
  await emu.close();
  spawnSync('rm', ['-rf', PIN]);
});

/** A real object's id, from `bpftool -j … show`. */
function idOf(args: string[]): number {
  return (JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8' })) as { id: number }).id;
}

/** The placeholders (PROG, MAP, …) of a line replaced by one side's words. */
function expand(line: string, words: Record<string, string>): string[] {
  return splitWords(line).map((w) => words[w] ?? w).flatMap((w) => splitWords(w));
}

/**
 * What must differ between the machine and nkemu (see the top): the numbers after these keys,
 * in text and JSON (compact or pretty) alike; the ids of a map_ids list keep their count.
 */
export function normalise(out: string): string {
  return out
    // (kernel.bpf_stats_enabled is machine-wide: another test file may have it on for a moment,
    // bpftool-stats-live.test.ts compares the counts)
    .replace(/ run_time_ns \d+ run_cnt \d+/g, '')
    .replace(/"run_time_ns":\s*\d+,\s*"run_cnt":\s*\d+,\s*/g, '')
    .replace(/^\d+: /gm, 'N: ')
    .replace(/loaded_at \S+/g, 'loaded_at T')
    .replace(/load_time \d+/g, 'load_time N')
    .replace(/xdp\/id:\d+/g, 'xdp/id:N')
    .replace(/"load_time": ?\d+/g, '"load_time":N')
    .replace(/\b(xlated|jited|memlock) \d+B/g, '$1 NB')
    .replace(/\b(btf_id|id) \d+/g, '$1 N')
    .replace(/map_ids [\d,]+/g, (m) => m.replace(/\d+/g, 'N'))
    .replace(/"(id|loaded_at|bytes_xlated|bytes_jited|bytes_memlock|btf_id)": ?\d+/g, (m) => m.replace(/\d+$/, 'N'))
    .replace(/"map_ids": ?\[[\d,\s]+\]/g, (m) => m.replace(/\d+/g, 'N'));
}

type Result = { out: string; err: string; code: number };

/** One command line on both: [real, nkemu] as {out, err, code}, normalised. */
async function both(line: string): Promise<[Result, Result]> {
  const r = spawnSync('bpftool', expand(line, real), { encoding: 'utf8' });
  const m = await runCommand(emu, ['bpftool', ...expand(line, mine)]);
  return [
    { out: normalise(r.stdout), err: normalise(r.stderr), code: r.status ?? -1 },
    { out: normalise(m.stdout), err: normalise(m.stderr), code: m.code },
  ];
}

describe.skipIf(reason !== undefined)(`bpftool map commands against this machine's bpftool (${reason ?? 'root, bpftool'})`, () => {
  it.each([
    // key and value bytes: decimal, 0x, octal, the hex keyword, a byte past 255 (its low byte), bad and missing bytes
    'map update MAP key 10 0 0 1 value 1 2 3 4 5 6 7 255',
    'map lookup MAP key 10 0 0 1',
    'map lookup MAP key 0x0a 0 0 01',
    'map lookup MAP key hex 0a 00 00 01',
    'map lookup MAP key hex 10 0 0 1',
    'map lookup MAP key 010 0 0 1',
    'map lookup MAP key 10 0 0',
    'map lookup MAP key 10 0 0 zz',
    'map update MAP key 266 0 0 1 value 1 2 3 4 5 6 7 8',
    'map lookup MAP key 10 0 0 1',
    'map update MAP key 10 0 0 1 value 9 9 9 9 9 9 9 9 noexist',
    'map update MAP key 10 0 0 2 value 9 9 9 9 9 9 9 9 exist',
    'map delete MAP key 9 9 9 9',
    '-j map lookup MAP key 9 9 9 9',
    '-j map lookup MAP key 10 0 0 1',
    'map update MAP key hex ff ff 00 00 value hex 10 20 30 40 50 60 70 80',
    'map lookup MAP key 255 255 0 0',
    'map delete MAP key 255 255 0 0',
    'map lookup MAP key 255 255 0 0',
    // help and usage texts, prefixes, wrong words and options, files that are no objects
    'help', '-h', '--help', 'version', 'v', '-V', '--version', '-j version', '-p version', '', 'frob', '--frob', '-x', '-j --frob', '-j help', 'h',
    'prog help', 'map help', 'net help', 'link help', 'prog frob', 'map frob', 'net frob', 'link frob',
    '-j prog help', '-j prog frob', 'm help', 'p h', 'ma he',
    'prog load /nonexistent.o /sys/fs/bpf/nkemu-never', '-j prog load /nonexistent.o /sys/fs/bpf/nkemu-never',
    `prog load ${FIX}cases.ts /sys/fs/bpf/nkemu-never`, 'prog load /tmp /sys/fs/bpf/nkemu-never',
    // prog show of the loaded program: loaded_at, uid, memlock, map_ids, btf_id; -j and -p
    'prog show PROG', '-j prog show PROG', '-p prog show PROG', '--pretty prog show PROG', '-j -p prog show PROG', '-p -j prog show PROG',
    'prog show PROGID', '-j prog show PROGID', '-p prog show PROGID', 'prog list PROG', 'p s PROG', 'prog l PROGID',
    // ... and its errors
    'prog show id', 'prog show id abc', '-j prog show id abc', 'prog show foo 1', 'prog show id 999999999', '-j prog show id 999999999',
    '-p prog show id 999999999', 'prog show PROG extra', 'prog show pinned /sys/fs/bpf/nkemu-nonexistent',
    '-j prog show pinned /sys/fs/bpf/nkemu-nonexistent', 'prog show MAP', 'prog show ARRAY',
    // map show: memlock, btf_id, frozen; one map; errors
    'map show MAP', '-j map show MAP', '-p map show MAP', 'map show ARRAY', '-j map show ARRAY', '-p map show ARRAY',
    'map show MAPID', '-p map show MAPID', 'map list MAP', 'm s ARRAY', 'map show id', 'map show id 999999999', '-j map show id 999999999',
    'map show MAP extra', 'map show pinned /sys/fs/bpf/nkemu-nonexistent', 'map show PROG', '-p map show PROG',
    // BTF-formatted dumps and lookups (text: the pretty form; -j: bytes and "formatted")
    'map dump MAP', '-j map dump MAP', '-p map dump MAP', 'map dump ARRAY', '-j map dump ARRAY', '-p map dump ARRAY',
    'map update ARRAY key 1 0 0 0 value 2 0 0 0 0 0 0 0', 'map lookup ARRAY key 1 0 0 0', '-j map lookup ARRAY key 1 0 0 0',
    '-p map lookup ARRAY key 1 0 0 0', 'map update ARRAY key 255 0 0 0 value 255 255 255 255 255 255 255 255',
    'map lookup ARRAY key 255 0 0 0', '-j map lookup ARRAY key 255 0 0 0', 'map update ARRAY key 0 1 0 0 value 1 0 0 0 0 0 0 0',
    'map lookup ARRAY key 0 1 0 0', '-j map lookup ARRAY key 0 1 0 0', 'map delete ARRAY key 1 0 0 0', 'map dump ARRAY',
    'map dump MAP', '-j map dump MAP', '-p map dump MAP', 'map lookup MAP key 10 0 0 1', '-p map lookup MAP key 10 0 0 1',
    '-p map lookup MAP key 9 9 9 9', '-p map lookup MAP key 10 0 0', '-p --frob', '-p help', '-p prog frob',
  ])('%s', async (line) => {
    const [real, mine] = await both(line);
    expect(mine).toEqual(real);
  });
});

// The queue verbs on a queue like map_types.c's `fifo` (4 u32 values), real and nkemu's.
const QPIN = `/sys/fs/bpf/nkemu-live-q-${process.pid}`;
describe.skipIf(reason !== undefined)(`bpftool's queue verbs against this machine's bpftool (${reason ?? 'root, bpftool'})`, () => {
  let qemu: Emulator;
  beforeAll(async () => {
    qemu = await Emulator.create({ seed: 3 });
    const r = await runScript(qemu, `bpftool prog loadall ${FIX}map_types.o /sys/fs/bpf/mt pinmaps /sys/fs/bpf/mtmaps`);
    expect(r.stderr).toBe('');
    execFileSync('bpftool', ['map', 'create', QPIN, 'type', 'queue', 'key', '0', 'value', '4', 'entries', '4', 'name', 'fifo']);
  });
  afterAll(async () => {
    await qemu.close();
    spawnSync('rm', ['-f', QPIN]);
  });
  it.each([
    'map peek MAP', '-j map peek MAP', 'map pop MAP', 'map dump MAP',
    'map push MAP value 1 0 0 0', 'map enqueue MAP value 2 0 0 0', 'map push MAP value 3 0 0 0', 'map push MAP value 4 0 0 0',
    'map push MAP value 5 0 0 0', 'map peek MAP', '-j map peek MAP', 'map dequeue MAP', 'map pop MAP', 'map lookup MAP key 0 0 0 0',
    'map dump MAP', 'map pop MAP', 'map pop MAP', 'map pop MAP',
  ])('%s', async (line) => {
    const real = spawnSync('bpftool', splitWords(line.replace('MAP', `pinned ${QPIN}`)), { encoding: 'utf8' });
    const mine = await runCommand(qemu, splitWords(`bpftool ${line.replace('MAP', 'pinned /sys/fs/bpf/mtmaps/fifo')}`));
    expect({ out: mine.stdout, err: mine.stderr, code: mine.code }).toEqual({ out: real.stdout, err: real.stderr, code: real.status ?? -1 });
  });
});

// A cgroup array, a sockmap and a sockhash (cgroup_array.o, sock_maps.o): what user space
// sees of maps whose values are fds — errors, listed per key in dumps. The values written
// are fd 1000, open in neither bpftool (EBADF on both sides).
const FPIN = `/sys/fs/bpf/nkemu-live-fd-${process.pid}`;
describe.skipIf(reason !== undefined)(`bpftool on cgroup arrays, sockmaps and sockhashes against this machine's bpftool (${reason ?? 'root, bpftool'})`, () => {
  let femu: Emulator;
  const maps = (dir: string): Record<string, string> => ({ CG: `pinned ${dir}/cg/cgroups`, SM: `pinned ${dir}/sm/sock_map`, SH: `pinned ${dir}/sm/sock_hash` });
  beforeAll(async () => {
    femu = await Emulator.create({ seed: 3 });
    const r = await runScript(femu, `bpftool prog loadall ${FIX}cgroup_array.o /sys/fs/bpf/cgp pinmaps /sys/fs/bpf/fd/cg\nbpftool prog loadall ${FIX}sock_maps.o /sys/fs/bpf/smp pinmaps /sys/fs/bpf/fd/sm`);
    expect(r.stderr).toBe('');
    mkdirSync(FPIN);
    execFileSync('bpftool', ['prog', 'loadall', `${FIX}cgroup_array.o`, `${FPIN}/cgp`, 'pinmaps', `${FPIN}/cg`]);
    execFileSync('bpftool', ['prog', 'loadall', `${FIX}sock_maps.o`, `${FPIN}/smp`, 'pinmaps', `${FPIN}/sm`]);
  });
  afterAll(async () => {
    await femu.close();
    spawnSync('rm', ['-rf', FPIN]);
  });
  it.each([
    'map show CG', '-j map show CG', 'map show SM', '-j map show SM', 'map show SH', '-j map show SH',
    'map dump CG', '-j map dump CG', '-p map dump CG', 'map dump SM', '-j map dump SM', 'map dump SH', '-j map dump SH',
    'map lookup CG key 0 0 0 0', '-j map lookup CG key 0 0 0 0', 'map lookup CG key 9 0 0 0',
    'map lookup SM key 0 0 0 0', '-j map lookup SM key 0 0 0 0', 'map lookup SH key 0 0 0 0',
    'map update CG key 0 0 0 0 value 0xe8 3 0 0', '-j map update CG key 0 0 0 0 value 0xe8 3 0 0', 'map update CG key 4 0 0 0 value 0xe8 3 0 0',
    'map update CG key 0 0 0 0 value 0xe8 3 0 0 noexist', 'map update CG key 0 0 0 0 value 0xe8 3 0 0 exist',
    'map update SM key 0 0 0 0 value 0xe8 3 0 0 0 0 0 0', 'map update SM key 9 0 0 0 value 0xe8 3 0 0 0 0 0 0 noexist',
    'map update SM key 0 0 0 0 value 0 0 0 0x80 0 0 0 0', 'map update SH key 0 0 0 0 value 0xe8 3 0 0 0 0 0 0',
    'map delete CG key 0 0 0 0', 'map delete CG key 4 0 0 0', 'map delete SM key 0 0 0 0', 'map delete SM key 9 0 0 0',
    'map delete SH key 0 0 0 0', '-j map delete SH key 0 0 0 0',
  ])('%s', async (line) => {
    const real = spawnSync('bpftool', expand(line, maps(FPIN)), { encoding: 'utf8' });
    const mine = await runCommand(femu, ['bpftool', ...expand(line, maps('/sys/fs/bpf/fd'))]);
    expect({ out: normalise(mine.stdout), err: normalise(mine.stderr), code: mine.code })
      .toEqual({ out: normalise(real.stdout), err: normalise(real.stderr), code: real.status ?? -1 });
  });
});

// XDP in `bpftool net`: on this machine a veth a1 in a namespace this test creates and
// deletes (ifindex 2: `ip link add b1 … peer name a1` registers the peer a1 first), the
// program attached in native ("driver") mode; in nkemu an emulated NIC a1 (ifindex 2 too),
// whose XDP is native. bpftool runs in the namespace (`ip netns exec`, which mounts its own
// /sys: the bpffs pins are not there, so programs go by id). Not compared: xdpgeneric, which
// nkemu has no mode for (it refuses the attach, EOPNOTSUPP).
const NS = `nkemu-bpftool-${process.pid}`;
const XPIN = `/sys/fs/bpf/nkemu-live-x-${process.pid}`;
// The XDP program both attach: xdp_adjust.o, or where this kernel refuses it (one 6.18
// build refuses bpf_xdp_adjust_meta in XDP programs) ctx_fields_xdp.o, which calls nothing.
const XDP_OBJECTS = ['xdp_adjust.o', 'ctx_fields_xdp.o'];
const XOBJ = reason === undefined ? XDP_OBJECTS.find((o) => kernelRefusal(`${FIX}${o}`) === undefined) : XDP_OBJECTS[0];
const xReason = reason ?? (XOBJ === undefined ? `this kernel refuses ${XDP_OBJECTS.join(' and ')}: ${kernelRefusal(`${FIX}${XDP_OBJECTS[0]}`)}` : undefined);
if (xReason !== undefined && reason === undefined) console.log(`bpftool net xdp, live: skipped (${xReason})`);
describe.skipIf(xReason !== undefined)(`bpftool net attach|detach|show xdp against this machine's bpftool (${xReason ?? `root, bpftool; ${XOBJ}`})`, () => {
  let xemu: Emulator;
  const realX: Record<string, string> = {};
  const mineX: Record<string, string> = {};
  beforeAll(async () => {
    for (const a of [['netns', 'add', NS], ['-n', NS, 'link', 'add', 'b1', 'type', 'veth', 'peer', 'name', 'a1']]) {
      expect(spawnSync('ip', a).status, a.join(' ')).toBe(0);
    }
    mkdirSync(XPIN);
    execFileSync('bpftool', ['prog', 'load', `${FIX}${XOBJ}`, `${XPIN}/xdp`]);
    execFileSync('bpftool', ['prog', 'loadall', `${FIX}tc_counters.o`, `${XPIN}/tc`]);
    Object.assign(realX, {
      XPROG: `id ${idOf(['prog', 'show', 'pinned', `${XPIN}/xdp`])}`, CPROG: `id ${idOf(['prog', 'show', 'pinned', `${XPIN}/tc/count`])}`,
    });
    xemu = await Emulator.create({ seed: 3 });
    xemu.addNic({ name: 'a1' });
    const r = await runScript(xemu, `bpftool prog load ${FIX}${XOBJ} /sys/fs/bpf/xdp\nbpftool prog loadall ${FIX}tc_counters.o /sys/fs/bpf/tc`);
    expect(r.stderr).toBe('');
    const id = async (p: string): Promise<string> => `id ${JSON.parse((await runCommand(xemu, ['bpftool', '-j', 'prog', 'show', 'pinned', p])).stdout).id}`;
    Object.assign(mineX, { XPROG: await id('/sys/fs/bpf/xdp'), CPROG: await id('/sys/fs/bpf/tc/count') });
  });
  afterAll(async () => {
    spawnSync('ip', ['netns', 'del', NS]);
    spawnSync('rm', ['-rf', XPIN]);
    await xemu?.close();
  });
  it.each([
    'net show', '-j net show', '-p net show', 'net list', 'n s', 'net show dev a1', '-j net show dev a1', 'net show d a1',
    'net show dev', 'net show foo', '-j net show foo', 'net show dev zz', '-j net show dev zz', 'net show dev a1 x', 'net show dev lo',
    'net attach xdp XPROG dev a1', 'net show', '-j net show', '-p net show', 'net show dev a1', '-p net show dev a1', 'net show dev lo',
    'prog show XPROG', '-j prog show XPROG', '-p prog show XPROG',
    // a second program without overwrite: the kernel's EBUSY and its message
    'net attach xdp XPROG dev a1', '-j net attach xdp XPROG dev a1', 'net attach xdp XPROG dev a1 overwrite',
    'net attach xdpdrv XPROG dev a1 overwrite', 'net show dev a1',
    // wrong words, devices, programs and modes: -EINVAL's exit code, 234
    'net attach xdp XPROG dev a1 foo', 'net attach xdpoffload XPROG dev a1', 'net attach xdp CPROG dev a1 overwrite',
    'net attach xdp XPROG dev zz', '-j net attach xdp XPROG dev zz', 'net attach xdp id 999999999 dev a1', 'net attach foo XPROG dev a1',
    'net attach xdp XPROG', 'net attach xdp XPROG dev', 'net detach xdp', 'net detach foo dev a1', 'net detach xdp dev zz',
    'net detach xdp dev a1', 'net show', '-j net show dev a1', 'net detach xdp dev a1', 'net detach xdpgeneric dev a1',
    'net attach xdpdrv XPROG dev a1', 'net show dev a1', 'net detach xdpdrv dev a1', '-p net show dev a1',
  ])('%s', async (line) => {
    const r = spawnSync('ip', ['netns', 'exec', NS, 'bpftool', ...expand(line, realX)], { encoding: 'utf8' });
    const m = await runCommand(xemu, ['bpftool', ...expand(line, mineX)]);
    expect({ out: normalise(m.stdout), err: normalise(m.stderr), code: m.code })
      .toEqual({ out: normalise(r.stdout), err: normalise(r.stderr), code: r.status ?? -1 });
  });
  // The program as iproute2 shows it: only the XDP parts of a listing are compared (the
  // rest is the device's, a veth here and a NIC in nkemu): the word after the mtu, the
  // `prog/xdp` line, the `xdp` object of -j. `bpftool net show` lists what ip attached.
  it.each([
    `ip link set dev a1 xdp obj ${FIX}${XOBJ} sec xdp`, 'ip link show dev a1', 'ip -d link show dev a1', 'ip -s link show dev a1',
    'ip -j link show dev a1', 'ip -d -j link show dev a1', 'ip addr show dev a1', 'ip -j addr show dev a1', 'ip -d addr show dev a1',
    'bpftool net show', 'bpftool -j net show dev a1', 'ip link set dev a1 xdp off', 'ip link show dev a1', 'ip -j link show dev a1', 'bpftool net show',
  ])('%s', async (line) => {
    const r = spawnSync('ip', ['netns', 'exec', NS, ...splitWords(line)], { encoding: 'utf8' });
    const m = await runCommand(xemu, splitWords(line));
    const xdpParts = (out: string): string => {
      if (!line.startsWith('ip ') || !out) return out;
      if (line.includes(' -j ')) return JSON.stringify((JSON.parse(out) as { xdp?: unknown }[]).map((d) => d.xdp ?? null));
      return out.split('\n').map((l) => /^\d+: .* mtu \d+ (\S+ )?qdisc/.exec(l)?.[1] ?? (l.startsWith('    prog/xdp') ? l : undefined))
        .filter((l) => l !== undefined).join('\n');
    };
    expect({ out: normalise(xdpParts(m.stdout)), err: normalise(m.stderr), code: m.code })
      .toEqual({ out: normalise(xdpParts(r.stdout)), err: normalise(r.stderr), code: r.status ?? -1 });
  });
});

// map show of the map types map_types.c declares, loaded by both: which of them libbpf
// creates with BTF (a btf_id line: a bloom filter with a __type(value), not one sized by
// value_size, nor a queue, stack, devmap_hash or cpumap, which libbpf creates without).
const MTPIN = `/sys/fs/bpf/nkemu-live-mt-${process.pid}`;
describe.skipIf(reason !== undefined)(`bpftool map show of map_types.o against this machine's bpftool (${reason ?? 'root, bpftool'})`, () => {
  let memu: Emulator;
  beforeAll(async () => {
    mkdirSync(MTPIN);
    execFileSync('bpftool', ['prog', 'loadall', `${FIX}map_types.o`, `${MTPIN}/progs`, 'pinmaps', `${MTPIN}/maps`]);
    memu = await Emulator.create({ seed: 3 });
    const r = await runScript(memu, `bpftool prog loadall ${FIX}map_types.o /sys/fs/bpf/mt pinmaps /sys/fs/bpf/mtmaps`);
    expect(r.stderr).toBe('');
  });
  afterAll(async () => {
    spawnSync('rm', ['-rf', MTPIN]);
    await memu.close();
  });
  it.each(['fifo', 'lifo', 'bloom1', 'bloom6', 'devh', 'cpus'].flatMap((m) => [`map show M/${m}`, `-j map show M/${m}`]))('%s', async (line) => {
    const r = spawnSync('bpftool', splitWords(line.replace('M/', `pinned ${MTPIN}/maps/`)), { encoding: 'utf8' });
    const m = await runCommand(memu, ['bpftool', ...splitWords(line.replace('M/', 'pinned /sys/fs/bpf/mtmaps/'))]);
    expect({ out: normalise(m.stdout), err: normalise(m.stderr), code: m.code })
      .toEqual({ out: normalise(r.stdout), err: normalise(r.stderr), code: r.status ?? -1 });
  });
});

// A per-CPU map (lru_percpu.o's LRU_PERCPU_HASH), one value per CPU: nkemu's CPUs are its
// dataplane threads (the caller's and its workers), so it runs with as many as this
// machine has possible CPUs (skipped past 4, to keep the workers few).
const POSSIBLE = (() => {
  try {
    const m = /^0-(\d+)$/.exec(readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim());
    return m ? Number(m[1]) + 1 : undefined;
  } catch { return undefined; }
})();
const PCPIN = `/sys/fs/bpf/nkemu-live-pc-${process.pid}`;
const pcReason = reason ?? (POSSIBLE === undefined || POSSIBLE > 4 ? `${POSSIBLE ?? 'unknown'} possible CPUs` : undefined);
describe.skipIf(pcReason !== undefined)(`bpftool on a per-CPU map against this machine's bpftool (${pcReason ?? 'root, bpftool, at most 4 CPUs'})`, () => {
  let pemu: Emulator;
  beforeAll(async () => {
    mkdirSync(PCPIN);
    execFileSync('bpftool', ['prog', 'loadall', `${FIX}lru_percpu.o`, `${PCPIN}/progs`, 'pinmaps', `${PCPIN}/maps`]);
    pemu = await Emulator.create({ seed: 3, workers: POSSIBLE! - 1 });
    const r = await runScript(pemu, `bpftool prog loadall ${FIX}lru_percpu.o /sys/fs/bpf/pc pinmaps /sys/fs/bpf/pcm`);
    expect(r.stderr).toBe('');
  });
  afterAll(async () => {
    spawnSync('rm', ['-rf', PCPIN]);
    await pemu.close();
  });
  it.each([
    'map show M', '-j map show M', 'map dump M', 'map update M key 1 0 0 0 value 5 0 0 0 0 0 0 0', 'map dump M', '-j map dump M', '-p map dump M',
    'map lookup M key 1 0 0 0', '-j map lookup M key 1 0 0 0', '-p map lookup M key 1 0 0 0', 'map lookup M key 2 0 0 0', 'map delete M key 1 0 0 0',
    'map dump M', '-j map dump M',
  ])('%s', async (line) => {
    const r = spawnSync('bpftool', splitWords(line.replace('M', `pinned ${PCPIN}/maps/lru_pc`)), { encoding: 'utf8' });
    const m = await runCommand(pemu, ['bpftool', ...splitWords(line.replace('M', 'pinned /sys/fs/bpf/pcm/lru_pc'))]);
    expect({ out: normalise(m.stdout), err: normalise(m.stderr), code: m.code })
      .toEqual({ out: normalise(r.stdout), err: normalise(r.stderr), code: r.status ?? -1 });
  });
});

// BTF-formatted elements of struct type (btf_values.c's `flows`): a char array as a
// string or, without its NUL or with an unprintable byte, as numbers; bitfields in hex
// (quoted with -j); an enum by name, or its number when it has none; a bool; a signed int;
// a nested array; a u64 past 2^53.
const BVPIN = `/sys/fs/bpf/nkemu-live-bv-${process.pid}`;
describe.skipIf(reason !== undefined)(`bpftool on a map of structs against this machine's bpftool (${reason ?? 'root, bpftool'})`, () => {
  let bemu: Emulator;
  beforeAll(async () => {
    mkdirSync(BVPIN);
    execFileSync('bpftool', ['prog', 'loadall', `${FIX}btf_values.o`, `${BVPIN}/progs`, 'pinmaps', `${BVPIN}/maps`]);
    bemu = await Emulator.create({ seed: 3 });
    const r = await runScript(bemu, `bpftool prog loadall ${FIX}btf_values.o /sys/fs/bpf/bv pinmaps /sys/fs/bpf/bvm`);
    expect(r.stderr).toBe('');
  });
  afterAll(async () => {
    spawnSync('rm', ['-rf', BVPIN]);
    await bemu.close();
  });
  const K = 'key 2 0 0 0 80 0 6 0';
  it.each([
    'map show M', '-p map show M', 'map dump M', `map lookup M ${K}`,
    `map update M ${K} value 0x6c 0x6f 0 0 0 0 0 0 0xfe 0xff 0xff 0xff 0x0b 0 0 0 7 0 0 0 1 0x41 0 0 1 0 2 0 3 0 0 0 0 1 0 0 0 0 0 0`,
    'map dump M', '-j map dump M', '-p map dump M', `map lookup M ${K}`, `-j map lookup M ${K}`, `-p map lookup M ${K}`,
    `map update M ${K} value 0x61 0x62 0x63 0x64 0x65 0x66 0x67 0x68 0 0 0 0x80 0xff 0xff 0xff 0xff 5 0 0 0 0 0x7f 0 0 0xff 0xff 0 0 0 0 0 0 0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff`,
    `map lookup M ${K}`, `-j map lookup M ${K}`,
    `map update M ${K} value 0x61 1 0 0 0 0 0 0 1 0 0 0 2 0 0 0 2 0 0 0 2 0x80 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0`,
    `map lookup M ${K}`, `-j map lookup M ${K}`,
    'map update M key 3 0 0 0 0 0 17 1 value 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0',
    'map lookup M key 3 0 0 0 0 0 17 1', 'map lookup M key 4 0 0 0 0 0 17 1', '-j map lookup M key 4 0 0 0 0 0 17 1',
    'map delete M key 3 0 0 0 0 0 17 1', 'map dump M',
  ])('%s', async (line) => {
    const r = spawnSync('bpftool', splitWords(line.replace(/\bM\b/, `pinned ${BVPIN}/maps/flows`)), { encoding: 'utf8' });
    const m = await runCommand(bemu, ['bpftool', ...splitWords(line.replace(/\bM\b/, 'pinned /sys/fs/bpf/bvm/flows'))]);
    expect({ out: normalise(m.stdout), err: normalise(m.stderr), code: m.code })
      .toEqual({ out: normalise(r.stdout), err: normalise(r.stderr), code: r.status ?? -1 });
  });
});

// A program the verifier refuses (an unchecked packet read; a CO-RE relocation without a
// target, which libbpf poisons): libbpf's lines around the load log are the machine's line
// for line, and both logs end with the same refusal. The log between the markers is each
// verifier's walk (nkemu prints its own register view: see VerifierError.verifierLog).
describe.skipIf(reason !== undefined)(`bpftool prog load of refused programs against this machine's bpftool (${reason ?? 'root, bpftool'})`, () => {
  const VFIX = new URL('../fixtures/verifier/obj/', import.meta.url).pathname;
  it.each([
    `${VFIX}pkt_nocheck-tc-u16-0.o`, `${FIX}core_poison_reached.o`, `${VFIX}div_zero-imm.o`,
  ].filter((f) => { try { readFileSync(f); return true; } catch { return false; } }))('%s', async (file) => {
    const pin = `/sys/fs/bpf/nkemu-never-${process.pid}`;
    const r = spawnSync('bpftool', ['prog', 'load', file, pin], { encoding: 'utf8' });
    spawnSync('rm', ['-f', pin]);
    const lemu = await Emulator.create({ seed: 3 });
    try {
      const m = await runCommand(lemu, ['bpftool', 'prog', 'load', file, pin]);
      expect(m.code).toBe(r.status);
      const frame = (s: string): string => s.replace(/-- BEGIN PROG LOAD LOG --\n[^]*?\n-- END PROG LOAD LOG --/, 'LOG');
      expect(frame(m.stderr)).toBe(frame(r.stderr));
      // (the log's last line before the instruction count; nkemu's checks that run before
      // its walk log the refusal line alone)
      const refusal = (s: string): string => /\n([^\n]*)(?:\nprocessed \d+ insns[^\n]*)?\n-- END PROG LOAD LOG --/.exec(s)?.[1] ?? '';
      expect(refusal(m.stderr)).not.toBe('');
      expect(refusal(m.stderr)).toBe(refusal(r.stderr));
    } finally {
      await lemu.close();
    }
  });
});
