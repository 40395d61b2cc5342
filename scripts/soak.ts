/**
 * Soak: one emulator with workers, for a long time, under mixed churn (objects with maps,
 * programs and links, AF_XDP sockets, memory providers, captures, netkit pairs) and
 * traffic (pktgen through a pair with a program attached, ping). Every minute it prints
 * the shared memory (bytes in use, arena top, memory size) and the counters; at the end
 * it asserts that the bytes in use came back to the first minute's and that every frame
 * sent is accounted for (received or dropped with a reason), and exits non-zero if not.
 *
 *   npm run soak                                    # 30 minutes, 2 workers
 *   NKEMU_SOAK_MINUTES=2 NKEMU_SOAK_WORKERS=4 npm run soak
 */

import { readFileSync } from 'node:fs';
import { Emulator } from '../src/emulator.js';
import { assemble } from '../src/ebpf/assembler.js';
import { XskSocket } from '../src/xdp/socket.js';

const minutes = Number(process.env.NKEMU_SOAK_MINUTES ?? 30);
const workers = Number(process.env.NKEMU_SOAK_WORKERS ?? 2);
const reportMs = Number(process.env.NKEMU_SOAK_REPORT_S ?? 60) * 1000;
const fixture = (n: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../test/fixtures/bpf/${n}`, import.meta.url)));

const emu = await Emulator.create({ workers, seed: 7 });
emu.addNetns('foo');
emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
emu.setLink('init', 'nk1', { up: true });
emu.setLink('foo', 'nk0', { up: true });
emu.addAddress('init', 'nk1', '10.0.0.1/24');
emu.addAddress('foo', 'nk0', '10.0.0.2/24');
emu.addNic({ name: 'eth0', rxQueues: 4 });
emu.setLink('init', 'eth0', { up: true });
const nk1 = emu.device('init', 'nk1');
// pktgen's own pair (nothing else crosses it, so its counters add up exactly)
emu.addLink({ ifname: 'pg1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'pg0' } } } });
emu.setLink('init', 'pg1', { up: true });
emu.setLink('init', 'pg0', { up: true });
emu.setRxSink('init', 'pg0', 'drop');
const pg1 = emu.device('init', 'pg1');
const pg0 = emu.device('init', 'pg0');

const objects = [fixture('tailcall.o'), fixture('tc_counters.o'), fixture('xdp_zc.o')];
const pass = assemble('mov %r0, -1\nexit'); // NETKIT_NEXT
const frame = new Uint8Array(64);
frame.set([0x08, 0x00], 12);
frame.set([0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);

const total = (s: ReturnType<Emulator['stats']>): bigint => s.rxPackets + Object.values(s.dropReasons).reduce((a, b) => a + b, 0n);
const drops = (s: ReturnType<Emulator['stats']>): bigint => Object.values(s.dropReasons).reduce((a, b) => a + b, 0n);
const accountedNow = (): bigint => total(emu.stats(pg0)) + drops(emu.stats(pg1));
const before = accountedNow();
let sent = 0n;
let cycles = 0;
let pings = 0;
let received = 0;

async function cycle(i: number): Promise<void> {
  const obj = emu.loadObject(objects[i % objects.length]!);
  const prog = emu.loadProgram({ name: 'pass', type: 'sched_cls', insns: pass });
  const link = emu.linkCreate('init', { ifindex: i % 2 ? nk1.ifindex : pg1.ifindex, attachType: 'netkit_primary', prog });
  const sock = new XskSocket(emu.dp, { umemSize: 16 * 4096, fillSize: 64, rxSize: 64, txSize: 64, compSize: 64 });
  emu.xskBind('init', 'eth0', i % 4, sock);
  const provider = emu.bindProvider('init', 'eth0', (i + 1) % 4 === 0 ? 1 : ((i + 1) % 4), { kind: 'devmem', buffers: 16 });
  const cap = emu.startCapture({ devices: [{ ns: 'init', dev: 'nk1' }] });
  const pair = emu.addLink({ ifname: 'tmp%d', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'tmpp%d' } } } });
  sent += BigInt(await emu.pktgen('init', 'pg1', frame, { count: 2000, flows: 16, portOffset: 34 }));
  if (i % 10 === 0) {
    const r = await emu.ping('init', '10.0.0.2', { count: 1 });
    pings++;
    received += r.received;
  }
  await emu.settle();
  emu.delLink('init', pair[0]!.ifindex);
  emu.stopCapture(cap);
  emu.closeProvider(provider);
  emu.xskClose(sock);
  emu.linkDetach(link, true);
  emu.closeProgram(prog);
  emu.closeObject(obj);
}

const t0 = Date.now();
let nextReport = t0 + reportMs;
let baseline: number | undefined;
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(2)} MiB`;
function report(): void {
  const s0 = emu.stats(pg0);
  const s1 = emu.stats(pg1);
  console.log(`[${((Date.now() - t0) / 60000).toFixed(1)} min] cycles ${cycles}  in use ${mib(emu.dp.liveBytes)} (${emu.dp.liveBytes})  arena top ${mib(emu.dp.arenaTop)}  memory ${mib(emu.dp.memoryBytes)}  jit ${JSON.stringify(emu.dp.jit.inUse)}  ` +
    `pktgen sent ${sent}  pg0 rx ${s0.rxPackets}  drops ${JSON.stringify({ ...s0.dropReasons, ...Object.fromEntries(Object.entries(s1.dropReasons).map(([k, v]) => [`pg1.${k}`, v])) }, (_, v) => typeof v === 'bigint' ? String(v) : v)}  pings ${received}/${pings}  progs ${emu.bpf.progs.size} links ${emu.bpf.links.size}`);
}

while (Date.now() - t0 < minutes * 60000) {
  await cycle(cycles++);
  if (Date.now() >= nextReport) {
    await emu.settleJit();
    await emu.settle();
    emu.dp.reclaim();
    baseline ??= emu.dp.liveBytes;
    report();
    nextReport += reportMs;
  }
}
await emu.settleJit();
await emu.settle();
emu.dp.reclaim();
report();
const failures: string[] = [];
if (baseline !== undefined && emu.dp.liveBytes !== baseline) failures.push(`bytes in use ${emu.dp.liveBytes} at the end, ${baseline} after the first minute`);
const accounted = accountedNow() - before;
if (accounted !== sent) failures.push(`frames: ${sent} sent by pktgen, ${accounted} received or dropped on its pair`);
if (emu.bpf.progs.size !== 0 || emu.bpf.links.size !== 0) failures.push(`left over: ${emu.bpf.progs.size} programs, ${emu.bpf.links.size} links`);
if (received !== pings) failures.push(`ping: ${received} of ${pings} replies`);
await emu.close();
if (failures.length) {
  console.error(`soak FAILED:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`soak passed: ${cycles} cycles in ${minutes} min, memory flat at ${baseline ?? '(no minute passed)'} bytes in use, every frame accounted for`);
