import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { NetError } from '../../src/errors.js';
import { dumpToData } from '../../src/net/netkit.js';
import type { LinkRequest } from '../../src/net/types.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 7 });
});
afterEach(async () => {
  await emu.close();
});

/** Everything observable about every device in every namespace. */
function snapshot(): string {
  const all = ['init', ...emu.listNetns()].map((ns) => [ns, emu.links(ns).map((d) => emu.dump(d))]);
  return JSON.stringify(all, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

function expectError(fn: () => unknown, errno: string, extack?: string): void {
  const before = snapshot();
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${errno}`).toBeInstanceOf(NetError);
  const ne = err as NetError;
  expect(ne.errno).toBe(errno);
  expect(ne.extack).toBe(extack);
  expect(snapshot(), 'a failed request changes nothing').toBe(before);
}

const nk = (data: Extract<NonNullable<LinkRequest['linkinfo']>, { kind: 'netkit' }>['data'], extra: Partial<LinkRequest> = {}): LinkRequest => ({
  ...extra,
  linkinfo: { kind: 'netkit', data },
});

describe('netkit newlink (netkit.md §1–§2)', () => {
  it('creates the peer first: nk0 is the peer with the lower ifindex, nk1 the primary', () => {
    const [primary, peer] = emu.addLink(nk({}));
    expect(peer!.name).toBe('nk0');
    expect(primary!.name).toBe('nk1');
    expect(peer!.ifindex).toBeLessThan(primary!.ifindex);
    expect(primary!.netkit!.primary).toBe(true);
    expect(peer!.netkit!.primary).toBe(false);
    expect(primary!.iflink).toBe(peer!.ifindex);
    expect(peer!.iflink).toBe(primary!.ifindex);
  });

  it('allocates ifindexes cyclically per namespace (deleted indexes are not reused at once)', () => {
    const [p1, q1] = emu.addLink(nk({}));
    expect([q1!.ifindex, p1!.ifindex]).toEqual([2, 3]);
    emu.delLink('init', 'nk1');
    const [p2, q2] = emu.addLink(nk({}));
    expect([q2!.ifindex, p2!.ifindex]).toEqual([4, 5]);
    expect([q2!.name, p2!.name]).toEqual(['nk0', 'nk1']);
  });

  it('L3 devices have NOARP and a zero MAC; L2 devices random MACs and no NOARP', () => {
    const [p3] = emu.addLink(nk({ mode: 'l3' }));
    expect(p3!.noarp).toBe(true);
    expect([...p3!.mac]).toEqual([0, 0, 0, 0, 0, 0]);
    const [p2, q2] = emu.addLink(nk({ mode: 'l2' }));
    expect(p2!.noarp).toBe(false);
    expect(q2!.noarp).toBe(false);
    expect(p2!.mac.some((b) => b !== 0)).toBe(true);
    expect(p2!.mac[0]! & 1).toBe(0);
    expect(p2!.mac[0]! & 2).toBe(2);
    expect([...p2!.mac]).not.toEqual([...q2!.mac]);
  });

  it('takes names, a peer namespace, addresses (L2), queues and room from the request', () => {
    emu.addNetns('blue');
    const [p, q] = emu.addLink(nk({
      mode: 'l2', headroom: 32, tailroom: 8,
      peerInfo: { ifname: 'guest', netns: 'blue', address: '02:00:00:00:00:02', numRxQueues: 64, mtu: 9000 },
    }, { ifname: 'host', address: '02:00:00:00:00:01' }));
    expect(p!.name).toBe('host');
    expect(q!.name).toBe('guest');
    expect(q!.netns.name).toBe('blue');
    expect(q!.numRxQueues).toBe(64);
    expect(q!.mtu).toBe(9000);
    expect(p!.mtu).toBe(1500);
    expect([p!.neededHeadroom, p!.neededTailroom, q!.neededHeadroom, q!.neededTailroom]).toEqual([32, 8, 32, 8]);
    expect(emu.dump(p!).address).toBe('02:00:00:00:00:01');
    expect(emu.dump(q!).address).toBe('02:00:00:00:00:02');
  });

  it('rejects in the kernel order with the kernel errno and extack', () => {
    expectError(() => emu.addLink(nk({ primary: 1 })), 'EINVAL', 'Primary attribute is read-only');
    expectError(() => emu.addLink(nk({ mode: 2 })), 'EINVAL', 'integer out of range');
    expectError(() => emu.addLink(nk({ scrub: 5 })), 'EINVAL', 'integer out of range');
    expectError(() => emu.addLink(nk({ peerScrub: 2 })), 'EINVAL', 'integer out of range');
    expectError(() => emu.addLink(nk({ pairing: 2 })), 'EINVAL', 'integer out of range');
    expectError(() => emu.addLink(nk({ mode: 'l2' }, { address: '01:00:00:00:00:01' })), 'EADDRNOTAVAIL', undefined);
    expectError(() => emu.addLink(nk({ mode: 'l2' }, { address: '00:00:00:00:00:00' })), 'EADDRNOTAVAIL', undefined);
    expectError(() => emu.addLink(nk({ mode: 'l2' }, { address: '02:00:00:00:01' })), 'EINVAL', undefined);
    expectError(() => emu.addLink(nk({}, { numTxQueues: 0 })), 'EINVAL', 'Invalid number of transmit queues');
    expectError(() => emu.addLink(nk({}, { numRxQueues: 4097 })), 'EINVAL', 'Invalid number of receive queues');
    expectError(() => emu.addLink(nk({}, { numRxQueues: 1025 })), 'EOPNOTSUPP', undefined);
    expectError(() => emu.addLink(nk({}, { numTxQueues: 2 })), 'EOPNOTSUPP', undefined);
    expectError(() => emu.addLink(nk({}, { mtu: 67 })), 'EINVAL', 'mtu less than device minimum');
    expectError(() => emu.addLink(nk({}, { mtu: 65536 })), 'EINVAL', 'mtu greater than device maximum');
    expectError(() => emu.addLink(nk({ policy: 1 })), 'EINVAL', 'Provided default xmit policy not supported');
    expectError(() => emu.addLink(nk({ peerPolicy: 7 })), 'EINVAL', 'Provided default xmit policy not supported');
    // L3 refuses any address, top level or in the peer info
    expectError(() => emu.addLink(nk({}, { address: '02:00:00:00:00:01' })), 'EOPNOTSUPP', undefined);
    expectError(() => emu.addLink(nk({ peerInfo: { address: '02:00:00:00:00:01' } })), 'EOPNOTSUPP', undefined);
    // the peer is validated by the core too, and its errors come back unchanged
    expectError(() => emu.addLink(nk({ peerInfo: { numRxQueues: 2000 } })), 'EOPNOTSUPP', undefined);
    expectError(() => emu.addLink(nk({ peerInfo: { mtu: 10 } })), 'EINVAL', 'mtu less than device minimum');
  });

  it('policy range errors win over later checks (attribute order)', () => {
    // POLICY is read after MODE/PEER_INFO/SCRUB but before the L3 address check.
    expectError(() => emu.addLink(nk({ policy: 3 }, { address: '02:00:00:00:00:01' })), 'EINVAL', 'Provided default xmit policy not supported');
  });

  it('refuses taken and invalid names, in the peer too, and leaves nothing behind', () => {
    emu.addLink(nk({}, { ifname: 'a' }));
    expectError(() => emu.addLink(nk({}, { ifname: 'a' })), 'EEXIST', undefined);
    expectError(() => emu.addLink(nk({ peerInfo: { ifname: 'a' } }, { ifname: 'b' })), 'EEXIST', undefined);
    // the peer registers, then the primary fails: the peer must be unregistered again
    expectError(() => emu.addLink(nk({ peerInfo: { ifname: 'c' } }, { ifname: 'c' })), 'EEXIST', undefined);
    expectError(() => emu.addLink(nk({}, { ifname: 'x'.repeat(16) })), 'EINVAL', undefined);
    expectError(() => emu.addLink(nk({}, { ifname: 'a/b' })), 'EINVAL', undefined);
    expectError(() => emu.addLink(nk({}, { ifindex: 1 })), 'EBUSY', undefined);
  });

  it('single mode: one device, pass policy only, no peer or scrub attributes', () => {
    const devs = emu.addLink(nk({ pairing: 'single', mode: 'l2', headroom: 16 }, { numRxQueues: 64 }));
    expect(devs).toHaveLength(1);
    const d = devs[0]!;
    expect(d.name).toBe('nk0');
    expect(d.netkit!.primary).toBe(true);
    expect(d.netkit!.peer).toBeUndefined();
    expect(d.iflink).toBe(0);
    expectError(() => emu.addLink(nk({ pairing: 'single', policy: 'blackhole' })), 'EOPNOTSUPP', undefined);
    expectError(() => emu.addLink(nk({ pairing: 'single', scrub: 'none' })), 'EOPNOTSUPP', undefined);
    expectError(() => emu.addLink(nk({ pairing: 'single', peerScrub: 'none' })), 'EOPNOTSUPP', undefined);
    expectError(() => emu.addLink(nk({ pairing: 'single', peerPolicy: 'forward' })), 'EOPNOTSUPP', undefined);
    expectError(() => emu.addLink(nk({ pairing: 'single', peerInfo: {} })), 'EOPNOTSUPP', undefined);
    // explicit forward is fine
    expect(emu.addLink(nk({ pairing: 'single', policy: 'forward' }))).toHaveLength(1);
  });
});

describe('netkit changelink (§2.4)', () => {
  it('only through the primary; immutable attributes refused with their names', () => {
    const [p, q] = emu.addLink(nk({ mode: 'l2' }));
    expectError(() => emu.setLink('init', q!.name, { data: { policy: 'blackhole' } }), 'EACCES', 'netkit link settings can be changed only through the primary device');
    const fixed: [Record<string, unknown>, string][] = [
      [{ mode: 'l3' }, 'operating mode'], [{ scrub: 'none' }, 'scrubbing'], [{ peerScrub: 'none' }, 'peer scrubbing'],
      [{ peerInfo: {} }, 'peer info'], [{ headroom: 1 }, 'headroom'], [{ tailroom: 1 }, 'tailroom'], [{ pairing: 'pair' }, 'pairing'],
    ];
    for (const [data, what] of fixed) {
      expectError(() => emu.setLink('init', p!.name, { data }), 'EACCES', `netkit link ${what} cannot be changed after device creation`);
    }
    expectError(() => emu.setLink('init', p!.name, { data: { primary: 0 } }), 'EINVAL', 'Primary attribute is read-only');
    expectError(() => emu.setLink('init', p!.name, { data: { policy: 5 } }), 'EINVAL', 'Provided default xmit policy not supported');
  });

  it('changes policy and peer policy; applies POLICY before a failing PEER_POLICY (no rollback)', () => {
    const [p, q] = emu.addLink(nk({}));
    emu.setLink('init', p!.name, { data: { policy: 'blackhole', peerPolicy: 'blackhole' } });
    expect(emu.dump(p!).data!.policy).toBe('blackhole');
    expect(emu.dump(q!).data!.policy).toBe('blackhole');
    let err: unknown;
    try {
      emu.setLink('init', p!.name, { data: { policy: 'forward', peerPolicy: 9 } });
    } catch (e) {
      err = e;
    }
    expect((err as NetError).errno).toBe('EINVAL');
    expect(emu.dump(p!).data!.policy).toBe('forward');
    expect(emu.dump(q!).data!.policy).toBe('blackhole');
  });

  it('single devices: policy changes are EOPNOTSUPP, peer policy too', () => {
    const [s] = emu.addLink(nk({ pairing: 'single' }));
    expectError(() => emu.setLink('init', s!.name, { data: { policy: 'forward' } }), 'EOPNOTSUPP', undefined);
    expectError(() => emu.setLink('init', s!.name, { data: { peerPolicy: 'forward' } }), 'EOPNOTSUPP', undefined);
  });

  it('MAC changes: EOPNOTSUPP in L3, Ethernet rules in L2 (allowed while up)', () => {
    const [p3] = emu.addLink(nk({}));
    expectError(() => emu.setLink('init', p3!.name, { address: 'ee:ff:bb:cc:aa:dd' }), 'EOPNOTSUPP', undefined);
    const [p2] = emu.addLink(nk({ mode: 'l2' }));
    emu.setLink('init', p2!.name, { up: true });
    expectError(() => emu.setLink('init', p2!.name, { address: '01:00:5e:00:00:01' }), 'EADDRNOTAVAIL', undefined);
    emu.setLink('init', p2!.name, { address: 'ee:ff:bb:cc:aa:dd' });
    expect(emu.dump(p2!).address).toBe('ee:ff:bb:cc:aa:dd');
  });

  it('MTU per device, independent of the peer, within 68..65535', () => {
    const [p, q] = emu.addLink(nk({}));
    emu.setLink('init', p!.name, { mtu: 9000 });
    expect(p!.mtu).toBe(9000);
    expect(q!.mtu).toBe(1500);
    expectError(() => emu.setLink('init', p!.name, { mtu: 65536 }), 'EINVAL', 'mtu greater than device maximum');
    expectError(() => emu.setLink('init', p!.name, { mtu: 1 }), 'EINVAL', 'mtu less than device minimum');
  });
});

describe('fill_info (§3) and the dump → newlink round trip', () => {
  it('primary, peer and single devices emit the kernel attributes in order', () => {
    const [p, q] = emu.addLink(nk({ mode: 'l2', policy: 'blackhole', scrub: 'none', peerScrub: 'default', headroom: 32, tailroom: 8 }));
    expect(Object.entries(emu.dump(p!).data!)).toEqual([
      ['primary', 1], ['policy', 'blackhole'], ['mode', 'l2'], ['scrub', 'none'], ['headroom', 32], ['tailroom', 8],
      ['pairing', 'pair'], ['peerPolicy', 'forward'], ['peerScrub', 'default'],
    ]);
    expect(Object.entries(emu.dump(q!).data!)).toEqual([
      ['primary', 0], ['policy', 'forward'], ['mode', 'l2'], ['scrub', 'default'], ['headroom', 32], ['tailroom', 8],
      ['pairing', 'pair'], ['peerPolicy', 'blackhole'], ['peerScrub', 'none'],
    ]);
    const [s] = emu.addLink(nk({ pairing: 'single' }));
    expect(Object.entries(emu.dump(s!).data!)).toEqual([
      ['primary', 1], ['policy', 'forward'], ['mode', 'l3'], ['headroom', 0], ['tailroom', 0], ['pairing', 'single'],
    ]);
  });

  it('feeding a dump back into newlink recreates the device (pair and single)', () => {
    const [p] = emu.addLink(nk({ mode: 'l2', policy: 'blackhole', scrub: 'none', headroom: 32, tailroom: 8 }, { ifname: 'orig' }));
    const dumped = emu.dump(p!);
    const [p2] = emu.addLink({ ifname: 'copy', linkinfo: { kind: 'netkit', data: dumpToData(dumped.data!) } });
    const again = emu.dump(p2!);
    expect(again.data).toEqual(dumped.data);
    const [s] = emu.addLink(nk({ pairing: 'single', mode: 'l2', headroom: 4 }, { ifname: 's1' }));
    const sd = emu.dump(s!);
    const [s2] = emu.addLink({ ifname: 's2', linkinfo: { kind: 'netkit', data: dumpToData(sd.data!) } });
    expect(emu.dump(s2!).data).toEqual(sd.data);
  });
});

describe('lifecycle', () => {
  it('carrier rules of open/close (§1.7)', () => {
    const [p, q] = emu.addLink(nk({}));
    expect([p!.carrier, q!.carrier]).toEqual([false, false]);
    emu.setLink('init', p!.name, { up: true });
    expect([p!.carrier, q!.carrier]).toEqual([false, false]);
    // up without carrier, its iflink (the peer) without carrier too: default_operstate's LOWERLAYERDOWN
    expect(emu.dump(p!).operstate).toBe('LOWERLAYERDOWN');
    emu.setLink('init', q!.name, { up: true });
    expect([p!.carrier, q!.carrier]).toEqual([true, true]);
    expect(emu.dump(p!).flags).toEqual(['BROADCAST', 'MULTICAST', 'NOARP', 'UP', 'LOWER_UP']);
    expect(emu.dump(q!).operstate).toBe('UP');
    emu.setLink('init', q!.name, { up: false });
    expect([p!.carrier, q!.carrier]).toEqual([false, false]);
    expect(emu.dump(p!).flags).toEqual(['BROADCAST', 'MULTICAST', 'NOARP', 'UP']);
    const [s] = emu.addLink(nk({ pairing: 'single' }));
    emu.setLink('init', s!.name, { up: true });
    expect(s!.carrier).toBe(true);
  });

  it('deleting either end deletes both', () => {
    const [p, q] = emu.addLink(nk({}));
    emu.delLink('init', q!.name);
    expect(emu.links().map((d) => d.name)).toEqual(['lo']);
    expect(p!.regState).toBeGreaterThan(1);
    emu.addLink(nk({}));
    emu.delLink('init', 'nk1');
    expect(emu.links().map((d) => d.name)).toEqual(['lo']);
    expectError(() => emu.delLink('init', 'nk1'), 'ENODEV', undefined);
  });

  it('deleting the namespace holding the peer removes the primary too', () => {
    emu.addNetns('foo');
    emu.addLink(nk({ peerInfo: { netns: 'foo' } }));
    // names are per namespace: the peer is nk0 in foo, so the primary is nk0 here too
    expect(emu.links().map((d) => d.name)).toEqual(['lo', 'nk0']);
    expect(emu.links('foo').map((d) => d.name)).toEqual(['lo', 'nk0']);
    emu.delNetns('foo');
    expect(emu.links().map((d) => d.name)).toEqual(['lo']);
    expect(emu.listNetns()).toEqual([]);
  });

  it('moves devices between namespaces with the collision rules; they arrive down', () => {
    emu.addNetns('foo');
    const [p, q] = emu.addLink(nk({}));
    emu.setLink('init', q!.name, { up: true });
    emu.setLink('init', q!.name, { netns: 'foo' });
    expect(q!.netns.name).toBe('foo');
    expect(q!.up).toBe(false);
    expect(q!.ifindex).toBe(2);
    expect(emu.links('foo').map((d) => d.name)).toEqual(['lo', 'nk0']);
    const dp = emu.dump(p!);
    expect(dp.linkNetnsid).toBe(0);
    expect(dp.linkName).toBeUndefined();
    // a name clash in the target is EEXIST unless a new name is given
    emu.addLink(nk({ peerInfo: { ifname: 'other' } }, { ifname: 'nk0' }));
    expectError(() => emu.setLink('init', 'nk0', { netns: 'foo' }), 'EEXIST', undefined);
    emu.setLink('init', 'nk0', { netns: 'foo', ifname: 'moved' });
    expect(emu.links('foo').map((d) => d.name).sort()).toEqual(['lo', 'moved', 'nk0']);
    // the loopback device is namespace-local
    expectError(() => emu.setLink('init', 'lo', { netns: 'foo' }), 'EINVAL', undefined);
    expectError(() => emu.setLink('init', 'nk1', { netns: 'nope' }), 'ENOENT', undefined);
  });
});
