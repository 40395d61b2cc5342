/**
 * `xdpsock` (the kernel's AF_XDP sample) in nkemu scripts: the netkit example against a
 * golden output (pps and elapsed seconds masked: they are wall-clock), the foreground
 * tx-only run, and the errors.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { getoptLong } from '../../src/cli/getopt.js';
import { defaultTxFrame } from '../../src/xdp/app.js';
import { PcapngWriter } from '../../src/trace/pcapng.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GOLDEN = new URL('./golden/', import.meta.url).pathname;
const ROOT = new URL('../../', import.meta.url).pathname;

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 1 });
});
afterEach(async () => {
  await emu.close();
});

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function golden(name: string, text: string): void {
  const file = GOLDEN + name;
  if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

/** The summary's wall-clock numbers: seconds on the header line, pps on rx/tx. */
const mask = (s: string): string => s
  .replace(/^( {18} pps {12}pkts {11})\d+\.\d\d +$/gm, `$1${'S.SS'.padEnd(14)}`)
  .replace(/^((?:rx|tx) {17})\d{1,14} +/gm, (_, a: string) => `${a}${'P'.padEnd(15)}`);

const sh = (line: string) => runCommand(emu, splitWords(line));

describe('xdpsock', () => {
  it('nkemu run examples/xdpsock.nk: rx-drop through a leased netkit queue in a worker (golden)', async () => {
    const r = await runScript(emu, readFileSync(ROOT + 'examples/xdpsock.nk', 'utf8'), 'xdpsock.nk');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^rx {17}\d+ +100 +$/m);
    golden('xdpsock.txt', mask(r.stdout));
    expect(emu.stats(emu.device('init', 'eth0')).rxPackets).toBe(100n);
  }, 30_000);

  it('tx-only in the foreground with -C: the packets leave the NIC queue; -c binds copy mode', async () => {
    for (const line of [
      'nic add eth0 rxqueues 4', 'ip link set eth0 up',
      'bpftool prog loadall test/fixtures/bpf/xdp_xsk.o /sys/fs/bpf/x pinmaps /sys/fs/bpf/x',
    ]) expect((await sh(line)).code, line).toBe(0);
    const r = await runCommand(emu, splitWords('xdpsock -i eth0 -q 2 -t -c -C 1000 -s 128 -Q --map /sys/fs/bpf/x/xsks'));
    expect(r.stderr).toBe('');
    expect(mask(r.stdout)).toBe([
      '', ' sock0@eth0:2 txonly xdp-drv ',
      '                   pps            pkts           S.SS          ',
      'rx                 P              0             ',
      'tx                 P              1000          ',
      '',
    ].join('\n'));
    const q = emu.queueStats('init', 'eth0')[2]!;
    expect([q.txPackets, q.txBytes]).toEqual([1000n, 124000n]);
  }, 30_000);

  it('errors: no --map, not an XSKMAP, unknown option, forced zero-copy where the device cannot (EOPNOTSUPP), queue out of range', async () => {
    for (const line of [
      'nic add eth0 rxqueues 4', 'ip link set eth0 up', 'ip link add numrxqueues 2 nk type netkit single', 'ip link set nk up',
      'bpftool prog loadall test/fixtures/bpf/xdp_xsk.o /sys/fs/bpf/x pinmaps /sys/fs/bpf/x',
    ]) expect((await sh(line)).code, line).toBe(0);
    expect((await sh('xdpsock -i eth0 -d 1')).stderr).toMatch(/^xdpsock: nkemu does not load the sample's XDP program/);
    expect((await sh('xdpsock -i eth0 -d 1 --map /sys/fs/bpf/x/redirected')).stderr).toBe('xdpsock: /sys/fs/bpf/x/redirected is not an XSKMAP\n');
    const zc = await sh('xdpsock -i nk -q 0 -z -d 1 --map /sys/fs/bpf/x/xsks');
    expect([zc.code, zc.stderr]).toEqual([1, 'xdpsock: errno: 95/"Operation not supported"\n']);
    expect((await sh('xdpsock -i eth0 -q 9 -d 1 --map /sys/fs/bpf/x/xsks')).stderr).toBe('xdpsock: errno: 22/"Invalid argument"\n');
    // nothing stayed bound: the queue takes a socket again
    const ok = await sh('xdpsock -i nk -q 0 -c -t -C 10 --map /sys/fs/bpf/x/xsks');
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toContain(' sock0@nk:0 txonly xdp-drv ');
  }, 30_000);

  it('usage: the sample\'s text (its source\'s printf, golden), then nkemu\'s options; on stderr with exit 1 for -h, bad options and missing arguments', async () => {
    const real = readFileSync(GOLDEN + 'xdpsock-usage.txt', 'utf8');
    for (const line of ['xdpsock -h', 'xdpsock --help', 'xdpsock -i eth0 -j', 'xdpsock --force', 'xdpsock --xdp', 'xdpsock -i', 'xdpsock --rxdrop=1']) {
      const r = await sh(line);
      expect([r.code, r.stdout], line).toEqual([1, '']);
      expect(r.stderr.startsWith(real), line).toBe(true);
      expect(r.stderr.slice(real.length), line).toMatch(/^ {2}nkemu .*\n {6}--map=PATH/);
    }
  });

  it('the sample\'s own checks, in its order and words', async () => {
    expect((await sh('nic add eth0 rxqueues 4')).code).toBe(0);
    const first = async (line: string): Promise<[number, string]> => {
      const r = await sh(line);
      return [r.code, r.stderr.split('\n')[0]!];
    };
    // (-s is checked as it is parsed, in a u16; the interface after all options; then the frame size)
    expect(await first('xdpsock -s 70000 -i nosuch')).toEqual([1, 'ERROR: Invalid frame size 4464']);
    expect(await first('xdpsock -s 63')).toEqual([1, 'ERROR: Invalid frame size 63']);
    expect(await first('xdpsock -q 1')).toEqual([1, 'ERROR: interface "" does not exist']);
    expect(await first('xdpsock -i nosuch -f 3000')).toEqual([1, 'ERROR: interface "nosuch" does not exist']);
    expect(await first('xdpsock -i eth0 -f 3000')).toEqual([1, '--frame-size=3000 is not a power of two']);
    expect(await first('xdpsock -i eth0 -G 02:00:00:00:00')).toEqual([1, 'Invalid dmac address:02:00:00:00:00']);
    expect(await first('xdpsock -i eth0 --tx-smac zz:00:00:00:00:00')).toEqual([1, 'Invalid smac address:zz:00:00:00:00:00']);
    // (warnings that go on: then nkemu's --map requirement)
    const w = await sh('xdpsock -i eth0 -w JIFFIES -W RR -d 1');
    expect(w.stderr.split('\n').slice(0, 2)).toEqual(['ERROR: Invalid clock JIFFIES. Default to CLOCK_MONOTONIC.', 'ERROR: Invalid policy RR. Default to SCHED_OTHER.']);
    expect(w.stderr).toMatch(/xdpsock: nkemu does not load the sample's XDP program/);
    // what nkemu cannot do is refused by name
    expect(await first('xdpsock -i eth0 --unaligned')).toEqual([1, 'xdpsock: -u (--unaligned): unaligned chunk mode is not emulated']);
    expect(await first('xdpsock -i eth0 -S')).toEqual([1, 'xdpsock: -S (--xdp-skb): generic (SKB) XDP is not emulated; nkemu runs XDP natively']);
  });

  it('getopt_long as glibc: clusters, attached and separate arguments, unique prefixes, permutation, --', () => {
    const longs = [{ name: 'xdp-skb', hasArg: false, val: 'S' }, { name: 'xdp-native', hasArg: false, val: 'N' }, { name: 'queue', hasArg: true, val: 'q' }, { name: 'queue-depth', hasArg: true, val: 'D' }];
    const p = (...a: string[]) => { const r = getoptLong(a, 'rNSq:i:', longs); return [r.opts.map((o) => o.arg === undefined ? o.opt : `${o.opt}=${o.arg}`), r.rest]; };
    expect(p('-rN', '-q1', '-q', '2', 'x', '--queue=3', '--queue', '4', '--xdp-n', '--', '-r')).toEqual([['r', 'N', 'q=1', 'q=2', 'q=3', 'q=4', 'N'], ['x', '-r']]);
    expect(p('--xdp')).toEqual([['?'], []]); // ambiguous
    expect(p('--queue-d', '5', '--que', '6')).toEqual([['D=5', '?'], ['6']]); // --que: queue and queue-depth; 6 is no option's then
    expect(p('--xdp-skb=1', '-x', '-q')).toEqual([['?', '?', '?'], []]);
    expect(p('-rq')).toEqual([['r', '?'], []]);
    expect(p('-iq', '-')).toEqual([['i=q'], ['-']]);
  });

  it.runIf(hasTshark())('the tx-only frame is the sample\'s: addresses, ports, fill pattern, VLAN tag and both checksums good (tshark)', () => {
    const frames = [
      defaultTxFrame(60), defaultTxFrame(123, { pattern: 0xdeadbeef }),
      defaultTxFrame(96, { vlan: { id: 42, pri: 5 }, dmac: Uint8Array.of(2, 0, 0, 0, 0, 1), smac: Uint8Array.of(2, 0, 0, 0, 0, 2) }),
    ];
    const w = new PcapngWriter();
    const i = w.addInterface({ name: 'eth0' });
    for (const f of frames) w.addPacket({ iface: i, tstampNs: 0n, data: f, origLen: f.length, direction: 'out' });
    const dir = mkdtempSync(join(tmpdir(), 'nkemu-xdpsock-'));
    try {
      writeFileSync(join(dir, 'x.pcapng'), w.bytes());
      const fields = ['eth.dst', 'eth.src', 'vlan.id', 'vlan.priority', 'ip.src', 'ip.dst', 'ip.ttl', 'ip.len', 'ip.checksum.status', 'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum.status', 'data.data'];
      const out = execFileSync('tshark', ['-r', join(dir, 'x.pcapng'), '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
        '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
      const rows = out.trim().split('\n').map((l) => l.split('|'));
      expect(rows.map((r) => r.slice(0, 13))).toEqual([
        ['3c:fd:fe:9e:7f:71', 'ec:b1:d7:98:3a:c0', '', '', '10.10.10.16', '10.10.10.32', '64', '46', '1', '4096', '4096', '26', '1'],
        ['3c:fd:fe:9e:7f:71', 'ec:b1:d7:98:3a:c0', '', '', '10.10.10.16', '10.10.10.32', '64', '109', '1', '4096', '4096', '89', '1'],
        ['02:00:00:00:00:01', '02:00:00:00:00:02', '42', '5', '10.10.10.16', '10.10.10.32', '64', '78', '1', '4096', '4096', '58', '1'],
      ]);
      expect(rows[0]![13]).toBe('12345678'.repeat(4) + '1234');
      expect(rows[1]![13]).toBe('deadbeef'.repeat(20) + 'de');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('in the foreground a block every interval (-n) and the last one at the end; -x adds the socket\'s XDP_STATISTICS', async () => {
    for (const line of [
      'nic add eth0 rxqueues 4', 'ip link set eth0 up',
      'bpftool prog loadall test/fixtures/bpf/xdp_xsk.o /sys/fs/bpf/x pinmaps /sys/fs/bpf/x',
    ]) expect((await sh(line)).code, line).toBe(0);
    const r = await sh('xdpsock -i eth0 -q 1 -x -p -d 2 -n 1 --map /sys/fs/bpf/x/xsks');
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    const heads = lines.flatMap((l, i) => (l === ' sock0@eth0:1 rxdrop xdp-drv poll() ' ? [i] : []));
    expect(heads.length).toBeGreaterThanOrEqual(2);
    const names = ['rx', 'tx', 'rx dropped', 'rx invalid', 'tx invalid', 'rx queue full', 'fill ring empty', 'tx ring empty'];
    for (const h of heads) {
      expect(lines[h - 1]).toBe('');
      expect(lines[h + 1]).toMatch(/^ {19}pps {12}pkts {11}\d+\.\d\d +$/);
      expect(lines[h + 1]!.length).toBe(63);
      names.forEach((n, i) => {
        expect(lines[h + 2 + i]).toMatch(new RegExp(`^${n.padEnd(18)} \\d+ +\\d+ +$`));
        expect(lines[h + 2 + i]!.length).toBe(48);
      });
    }
    expect(lines.length).toBe(heads[heads.length - 1]! + 2 + names.length + 1);
  }, 30_000);
});
