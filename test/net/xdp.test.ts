import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { BpfMap } from '../../src/ebpf/maps.js';
import { buildIpv4, buildUdp, parseIp } from '../../src/net/stack/packet.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 6 });
  emu.addNic({ name: 'eth0', rxQueues: 4 });
  emu.setLink('init', 'eth0', { up: true });
});
afterEach(async () => {
  await emu.close();
});

function udp(dport: number, dmac: Uint8Array): Uint8Array {
  const src = parseIp('192.168.1.2')!;
  const dst = parseIp('192.168.1.1')!;
  return buildIpv4(dmac, new Uint8Array([2, 0, 0, 0, 0, 9]), { src, dst, proto: 17 }, buildUdp(src, dst, 1, dport, new Uint8Array(8)));
}

const xdp = (text: string, maps: number[] = []) => emu.loadProgram({ name: 'x', type: 'xdp', insns: assemble(text), maps });
const eth0 = () => emu.device('init', 'eth0');

describe('native XDP on NICs', () => {
  it('XDP_DROP and XDP_ABORTED (and faults) drop with their reasons; nothing reaches the queues', async () => {
    emu.setXdp('init', 'eth0', xdp('mov %r0, 1\nexit'));
    for (let i = 0; i < 3; i++) emu.wireIn('init', 'eth0', udp(53, eth0().mac));
    await emu.settle();
    emu.setXdp('init', 'eth0', xdp('ldxw %r2, [%r1+4]\nldxdw %r0, [%r2]\nexit')); // reads past data_end: a fault
    emu.wireIn('init', 'eth0', udp(53, eth0().mac));
    await emu.settle();
    expect(emu.stats(eth0()).dropReasons).toEqual({ XDP_DROP: 3n, XDP_ABORTED: 1n });
    expect(emu.queueStats('init', 'eth0').reduce((a, q) => a + q.rxPackets, 0n)).toBe(0n);
  });

  it('XDP_PASS goes on with the packet the program left; rx_queue_index is the steered queue', async () => {
    // writes rx_queue_index into the last byte of the UDP payload, then PASS
    emu.setXdp('init', 'eth0', xdp('ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nldxw %r4, [%r1+16]\nmov %r5, %r2\nadd %r5, 50\njgt %r5, %r3, out\nstxb [%r2+49], %r4\nout:\nmov %r0, 2\nexit'));
    const seen: number[] = [];
    emu.onReceive((d, f, m) => { if (d.name === 'eth0') seen.push(f[49]! - m.queue); });
    for (let i = 0; i < 8; i++) emu.wireIn('init', 'eth0', udp(1000 + i, eth0().mac));
    await emu.settle();
    expect(seen).toEqual(Array(8).fill(0));
  });

  it('XDP_REDIRECT through a devmap sends the frame out of the target device', async () => {
    emu.addNetns('foo');
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l2', peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
    emu.setLink('init', 'nk1', { up: true });
    emu.setLink('foo', 'nk0', { up: true });
    const dev = new BpfMap(emu.dp, { name: 'tx', type: 'devmap', keySize: 4, valueSize: 4, maxEntries: 2 });
    dev.update(new Uint8Array(4), new Uint8Array(new Uint32Array([emu.device('init', 'nk1').ifindex]).buffer));
    emu.setXdp('init', 'eth0', xdp(`lddw %r1, ${dev.record}\nmov %r2, 0\nmov %r3, 0\ncall 51\nexit`, [dev.record]));
    emu.wireIn('init', 'eth0', udp(7, eth0().mac));
    await emu.settle();
    expect(emu.stats(emu.device('init', 'nk1')).txPackets).toBe(1n);
    expect(emu.stats(emu.device('foo', 'nk0')).rxPackets).toBe(1n);
  });

  it('refusals: netkit has no native XDP; sched_cls programs; a memory provider on a queue, both ways round', async () => {
    emu.addLink({ ifname: 'nkx', linkinfo: { kind: 'netkit', data: { pairing: 'single' } }, numRxQueues: 2 });
    const p = xdp('mov %r0, 2\nexit');
    expect(() => emu.setXdp('init', 'nkx', p)).toThrow(expect.objectContaining({ errno: 'EOPNOTSUPP' }));
    const tc = emu.loadProgram({ name: 'tc', type: 'sched_cls', insns: assemble('mov %r0, 0\nexit') });
    expect(() => emu.setXdp('init', 'eth0', tc)).toThrow(expect.objectContaining({ errno: 'EINVAL' }));
    emu.setXdp('init', 'eth0', p);
    expect(() => emu.bindProvider('init', 'eth0', 1, { kind: 'devmem' })).toThrow(expect.objectContaining({ errno: 'EEXIST', extack: 'unable to custom memory provider to device with XDP program attached' }));
    emu.setXdp('init', 'eth0', undefined);
    emu.bindProvider('init', 'eth0', 1, { kind: 'devmem' });
    expect(() => emu.setXdp('init', 'eth0', p)).toThrow(expect.objectContaining({ errno: 'EEXIST' }));
  });

  it('ip link set dev eth0 xdp obj FILE / xdp off', async () => {
    const obj = new URL('../fixtures/bpf/xdp_adjust.o', import.meta.url).pathname;
    expect((await runCommand(emu, splitWords(`ip link set dev eth0 xdp obj ${obj} sec xdp`))).code).toBe(0);
    expect(eth0().nic!.xdp?.name).toBe('xdp_head');
    expect((await runCommand(emu, splitWords('ip link set dev eth0 xdp off'))).code).toBe(0);
    expect(eth0().nic!.xdp).toBeUndefined();
    void readFileSync;
  });
});
