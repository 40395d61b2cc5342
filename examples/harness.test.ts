// examples/harness.test.ts
import { test as base, expect } from 'vitest';
import { Emulator, buildPacket } from 'nkemu';

/** `emu`: a fresh emulator with a netkit pair (nk1 in the host, nk0 in netns foo), closed after the test. */
const test = base.extend<{ emu: Emulator }>({
  emu: async ({}, use) => {
    const emu = await Emulator.create({ seed: 1 });
    emu.addNetns('foo');
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
    emu.setLink('init', 'nk1', { up: true });
    emu.setLink('foo', 'nk0', { up: true });
    emu.addAddress('init', 'nk1', '10.0.0.1/24');
    emu.addAddress('foo', 'nk0', '10.0.0.2/24');
    await use(emu);
    await emu.close();
  },
});

test('ping crosses the pair', async ({ emu }) => {
  const r = await emu.ping('init', '10.0.0.2', { count: 2 });
  expect(r.received).toBe(2);
});

test('a UDP datagram reaches a socket in the peer namespace', async ({ emu }) => {
  const sock = emu.stack('foo').udpBind({ port: 7 });
  const [nk1, nk0] = [emu.device('init', 'nk1'), emu.device('foo', 'nk0')];
  const frame = buildPacket({
    eth: { src: nk1.mac, dst: nk0.mac },   // all zeros in netkit's default L3 mode
    ipv4: { src: '10.0.0.1', dst: '10.0.0.2' },
    udp: { sport: 9, dport: 7 },
    payload: 'hi',
  });
  emu.transmit('init', 'nk1', frame);
  await emu.settle();
  expect(sock.recv().map((d) => new TextDecoder().decode(d.data))).toEqual(['hi']);
});
