import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Emulator, dropReasonName } from '../../src/emulator.js';
import { PcapngWriter, readPcapng } from '../../src/trace/pcapng.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

function tshark(): string | null {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return 'tshark';
  } catch {
    return null;
  }
}

function fields(file: string, ...f: string[]): string[][] {
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', ...f.flatMap((x) => ['-e', x])], { encoding: 'utf8' });
  return out.trim().split('\n').filter(Boolean).map((l) => l.split('|'));
}

async function pingCapture(policy: 'forward' | 'blackhole'): Promise<Uint8Array> {
  emu = await Emulator.create({ seed: 5 });
  emu.addNetns('foo');
  emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l3', policy, peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
  emu.setLink('init', 'nk1', { up: true });
  emu.setLink('foo', 'nk0', { up: true });
  emu.addAddress('init', 'nk1', '10.0.0.1/24');
  emu.addAddress('foo', 'nk0', '10.0.0.2/24');
  const cap = emu.startCapture();
  await emu.ping('init', '10.0.0.2', { count: 2 });
  return emu.stopCapture(cap);
}

describe('pcapng capture', () => {
  it('writer and reader agree: interfaces, ns timestamps, direction, comments, padding', () => {
    const w = new PcapngWriter();
    const a = w.addInterface({ name: 'nk0', description: 'netns foo ifindex 3' });
    const b = w.addInterface({ name: 'nk1' });
    w.addPacket({ iface: b, tstampNs: 1_700_000_000_123_456_789n, data: new Uint8Array([1, 2, 3]), origLen: 3, direction: 'out', comment: 'hi' });
    w.addPacket({ iface: a, tstampNs: 5n, data: new Uint8Array(61), origLen: 1500, direction: 'in' });
    w.addStatistics(a, 9n, { received: 1n, dropped: 2n });
    const bytes = w.bytes();
    expect(bytes.length % 4).toBe(0);
    const f = readPcapng(bytes);
    expect(f.interfaces.map((i) => [i.name, i.tsresol, i.linkType])).toEqual([['nk0', 9, 1], ['nk1', 9, 1]]);
    expect(f.interfaces[0]!.description).toBe('netns foo ifindex 3');
    expect(f.packets.map((p) => [p.iface, p.tstampNs, p.data.length, p.origLen, p.direction, p.comment])).toEqual([
      [1, 1_700_000_000_123_456_789n, 3, 3, 'out', 'hi'],
      [0, 5n, 61, 1500, 'in', undefined],
    ]);
    expect(() => w.addPacket({ iface: 7, tstampNs: 0n, data: new Uint8Array(1), origLen: 1, direction: 'in' })).toThrow(/no interface 7/);
  });

  it('a ping across a pair: one interface per device, both directions, in order', async () => {
    const f = readPcapng(await pingCapture('forward'));
    const names = f.interfaces.map((i) => i.name).sort();
    expect(names).toEqual(['nk0', 'nk1']);
    // request: out on nk1, in on nk0; reply: out on nk0, in on nk1 — twice
    const seq = f.packets.map((p) => `${f.interfaces[p.iface]!.name}:${p.direction}`);
    expect(seq).toEqual(['nk1:out', 'nk0:in', 'nk0:out', 'nk1:in', 'nk1:out', 'nk0:in', 'nk0:out', 'nk1:in']);
    expect(f.packets.every((p) => p.origLen === 98 && p.data.length === 98)).toBe(true);
    const ts = f.packets.map((p) => p.tstampNs);
    expect([...ts].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(ts);
  });

  it('trace: device, hook, verdict and drop reason per packet', async () => {
    emu = await Emulator.create({ seed: 5 });
    emu.addNetns('foo');
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l3', peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
    emu.setLink('init', 'nk1', { up: true });
    emu.setLink('foo', 'nk0', { up: true });
    emu.addAddress('init', 'nk1', '10.0.0.1/24');
    emu.addAddress('foo', 'nk0', '10.0.0.2/24');
    emu.tracer.enable();
    await emu.ping('init', '10.0.0.2');
    emu.setLink('init', 'nk1', { data: { policy: 'blackhole' } });
    await emu.ping('init', '10.0.0.2');
    emu.tracer.enable(false);
    await emu.ping('init', '10.0.0.2');
    const ev = emu.tracer.drain().map((e) => [e.ifindex, e.peerIfindex, e.hook, e.verdictName, dropReasonName(e.reason)]);
    const nk1 = emu.device('init', 'nk1').ifindex;
    const nk0 = emu.device('foo', 'nk0').ifindex;
    expect(ev).toEqual([
      [nk1, nk0, 'netkit/xmit', 'PASS', 'NONE'],
      [nk0, nk1, 'netkit/xmit', 'PASS', 'NONE'],
      [nk1, nk0, 'netkit/xmit', 'DROP', 'NETKIT_POLICY_DROP'],
    ]);
    expect(emu.tracer.lost).toBe(0);
  });

  it.runIf(tshark())('tshark reads the file: interface names, ICMP types, drop comments', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nkemu-cap-'));
    const ok = join(dir, 'ok.pcapng');
    writeFileSync(ok, await pingCapture('forward'));
    await emu.close();
    const rows = fields(ok, 'frame.interface_name', 'ip.src', 'ip.dst', 'icmp.type', 'frame.len');
    expect(rows).toEqual([
      ['nk1', '10.0.0.1', '10.0.0.2', '8', '98'],
      ['nk0', '10.0.0.1', '10.0.0.2', '8', '98'],
      ['nk0', '10.0.0.2', '10.0.0.1', '0', '98'],
      ['nk1', '10.0.0.2', '10.0.0.1', '0', '98'],
      ['nk1', '10.0.0.1', '10.0.0.2', '8', '98'],
      ['nk0', '10.0.0.1', '10.0.0.2', '8', '98'],
      ['nk0', '10.0.0.2', '10.0.0.1', '0', '98'],
      ['nk1', '10.0.0.2', '10.0.0.1', '0', '98'],
    ]);
    const drop = join(dir, 'drop.pcapng');
    writeFileSync(drop, await pingCapture('blackhole'));
    const d = fields(drop, 'frame.interface_name', 'frame.comment', 'icmp.type');
    expect(d).toEqual([['nk1', 'drop: NETKIT_POLICY_DROP', '8'], ['nk1', 'drop: NETKIT_POLICY_DROP', '8']]);
  });
});
