import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { NetError } from '../../src/errors.js';
import type { NetDevice } from '../../src/net/netdev.js';
import { NetdevEvent, eventName } from '../../src/net/notifier.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 5 });
});
afterEach(async () => {
  await emu.close();
});

function err(fn: () => unknown): NetError {
  try {
    fn();
  } catch (e) {
    if (e instanceof NetError) return e;
    throw e;
  }
  throw new Error('expected a NetError');
}

/** nk_qlease.py's set-up: guest netns with nsid 0 = init, a NIC, a pair (peer in guest). */
function setup(o: { queues?: number; rxq?: number; mode?: 'l2' | 'l3'; single?: boolean } = {}): { phys: NetDevice; host?: NetDevice; guest: NetDevice } {
  emu.addNetns('guest');
  emu.setNsid('guest', 'init', 0);
  const phys = emu.addNic({ name: 'eth0', rxQueues: o.queues ?? 4 });
  emu.setLink('init', 'eth0', { up: true });
  if (o.single) {
    const [s] = emu.addLink({ ifname: 'nk', numRxQueues: o.rxq ?? 2, linkinfo: { kind: 'netkit', data: { mode: o.mode ?? 'l2', pairing: 'single' } } });
    emu.setLink('init', 'nk', { netns: 'guest' });
    emu.setLink('guest', 'nk', { up: true });
    return { phys, guest: s! };
  }
  const [host, guest] = emu.addLink({
    ifname: 'nkh',
    linkinfo: { kind: 'netkit', data: { mode: o.mode ?? 'l2', peerInfo: { ifname: 'nkg', netns: 'guest', numRxQueues: o.rxq ?? 2 } } },
  });
  emu.setLink('init', 'nkh', { up: true });
  emu.setLink('guest', 'nkg', { up: true });
  return { phys, host: host!, guest: guest! };
}

const lease = (guest: NetDevice, phys: NetDevice, queue: number, extra: Record<string, unknown> = {}) => ({
  ifindex: guest.ifindex, type: 'rx' as const, lease: { ifindex: phys.ifindex, queue: { id: queue, type: 'rx' as const }, 'netns-id': 0, ...extra },
});

describe('queue-create with a lease (netkit.md §6, nk_qlease.py)', () => {
  it('leases a physical queue to the peer; queue-get shows it on the physical side only', () => {
    const { phys, guest } = setup();
    expect(emu.queueCreate(lease(guest, phys, 1), 'guest')).toEqual({ id: 1 });
    const q = emu.queueGet('init', { ifindex: phys.ifindex, id: 1, type: 'rx' });
    expect(q.lease).toEqual({ ifindex: guest.ifindex, queue: { id: 1, type: 'rx' }, 'netns-id': emu.netns('init').nsidOf(emu.netns('guest')) });
    expect(emu.queueGet('init', { ifindex: phys.ifindex, id: 0, type: 'rx' }).lease).toBeUndefined();
    expect(emu.queueGet('guest', { ifindex: guest.ifindex, id: 1, type: 'rx' }).lease).toBeUndefined();
    expect(emu.queueGet('guest', { ifindex: guest.ifindex, id: 0, type: 'rx' }).lease).toBeUndefined();
    expect(guest.realNumRxQueues).toBe(2);
  });

  it('refuses with the kernel errno and message, changing nothing', () => {
    const { phys, host, guest } = setup({ rxq: 3 });
    const cases: [() => unknown, string, string | undefined][] = [
      [() => emu.queueCreate({ type: 'rx', lease: { ifindex: phys.ifindex, queue: { id: 1, type: 'rx' } } }, 'guest'), 'EINVAL', undefined],
      [() => emu.queueCreate({ ...lease(guest, phys, 1), type: 'tx' }, 'guest'), 'EINVAL', undefined],
      [() => emu.queueCreate(lease(guest, phys, 1, { queue: { id: 1, type: 'tx' } }), 'guest'), 'EINVAL', undefined],
      [() => emu.queueCreate({ ...lease(guest, phys, 1), ifindex: 0 }, 'guest'), 'EINVAL', 'integer out of range'],
      [() => emu.queueCreate(lease(guest, phys, 1, { 'netns-id': 999 }), 'guest'), 'ENONET', undefined],
      [() => emu.queueCreate(lease(guest, phys, 1, { ifindex: 99999 }), 'guest'), 'ENODEV', undefined],
      [() => emu.queueCreate({ ...lease(guest, phys, 1), ifindex: 4242 }, 'guest'), 'ENODEV', undefined],
      [() => emu.queueCreate(lease(guest, phys, 4), 'guest'), 'ERANGE', undefined],
      // lessee checks: physical, primary of a pair, a device without queue creation
      [() => emu.queueCreate({ ...lease(guest, phys, 1), ifindex: phys.ifindex, lease: { ifindex: phys.ifindex, queue: { id: 1, type: 'rx' } } }, 'init'), 'EINVAL', 'Device is not a virtual device'],
      [() => emu.queueCreate({ ifindex: 1, type: 'rx', lease: { ifindex: phys.ifindex, queue: { id: 1, type: 'rx' } } }, 'init'), 'EINVAL', 'Device does not support queue creation'],
      [() => emu.queueCreate({ ifindex: host!.ifindex, type: 'rx', lease: { ifindex: phys.ifindex, queue: { id: 1, type: 'rx' } } }, 'init'), 'EOPNOTSUPP', 'netkit can only lease against the peer device'],
      // lessor checks: virtual lessor, self lease
      [() => emu.queueCreate(lease(guest, host!, 0), 'guest'), 'EINVAL', 'Lease device is a virtual device'],
      [() => emu.queueCreate({ ...lease(guest, guest, 0), lease: { ifindex: guest.ifindex, queue: { id: 0, type: 'rx' } } }, 'guest'), 'EINVAL', 'Lease device is a virtual device'],
    ];
    for (const [fn, errno, extack] of cases) {
      const e = err(fn);
      expect([e.errno, e.extack]).toEqual([errno, extack]);
    }
    expect(guest.realNumRxQueues).toBe(1);
    expect(phys.rxq.every((q) => q.lease === undefined)).toBe(true);
  });

  it('double lease, same queue to two netkits: EBUSY; capacity: EINVAL; ids grow', () => {
    const { phys, guest } = setup({ rxq: 3 });
    expect(emu.queueCreate(lease(guest, phys, 1), 'guest').id).toBe(1);
    let e = err(() => emu.queueCreate(lease(guest, phys, 1), 'guest'));
    expect([e.errno, e.extack]).toEqual(['EBUSY', 'Device queue in use due to queue leasing']);
    expect(emu.queueCreate(lease(guest, phys, 2), 'guest').id).toBe(2);
    e = err(() => emu.queueCreate(lease(guest, phys, 3), 'guest'));
    expect([e.errno, e.extack]).toEqual(['EINVAL', 'netkit maximum queue limit reached']);
    // a second pair in another namespace cannot take a leased queue either
    emu.addNetns('other');
    const [, g2] = emu.addLink({ ifname: 'nkh2', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nkg2', netns: 'other', numRxQueues: 2 } } } });
    emu.setNsid('other', 'init', 5);
    e = err(() => emu.queueCreate({ ...lease(g2!, phys, 1, { 'netns-id': 5 }) }, 'other'));
    expect([e.errno, e.extack]).toEqual(['EBUSY', 'Device queue in use due to queue leasing']);
    expect(emu.queueCreate({ ...lease(g2!, phys, 3, { 'netns-id': 5 }) }, 'other').id).toBe(1);
  });

  it('one virtual device leases from one physical device only', () => {
    const { phys, guest } = setup({ rxq: 4 });
    emu.queueCreate(lease(guest, phys, 1), 'guest');
    const phys2 = emu.addNic({ name: 'eth1', rxQueues: 2 });
    const e = err(() => emu.queueCreate(lease(guest, phys2, 1), 'guest'));
    expect([e.errno, e.extack]).toEqual(['EOPNOTSUPP', 'Leasing queues from different devices not supported']);
  });

  it('queue 0 can be leased; a netkit with one rx queue cannot lease', () => {
    const { phys, guest } = setup();
    expect(emu.queueCreate(lease(guest, phys, 0), 'guest').id).toBe(1);
    emu.addNetns('x');
    const [, g1] = emu.addLink({ ifname: 'a', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'b', netns: 'x' } } } });
    emu.setNsid('x', 'init', 0);
    const e = err(() => emu.queueCreate(lease(g1!, phys, 2), 'x'));
    expect([e.errno, e.extack]).toEqual(['EINVAL', 'netkit maximum queue limit reached']);
  });

  it('same-namespace leases carry no netns-id; leases survive link flaps and namespace moves', () => {
    const { phys, guest } = setup({ single: true });
    emu.setLink('guest', 'nk', { netns: 'init' });
    expect(emu.queueCreate({ ifindex: guest.ifindex, type: 'rx', lease: { ifindex: phys.ifindex, queue: { id: 2, type: 'rx' } } }, 'init').id).toBe(1);
    expect(emu.queueGet('init', { ifindex: phys.ifindex, id: 2, type: 'rx' }).lease).toEqual({ ifindex: guest.ifindex, queue: { id: 1, type: 'rx' } });
    emu.setLink('init', 'eth0', { up: false });
    emu.setLink('init', 'eth0', { up: true });
    emu.setLink('init', 'nk', { netns: 'guest' });
    emu.addNetns('third');
    emu.setLink('init', 'eth0', { netns: 'third' });
    emu.setLink('third', 'eth0', { up: true });
    const q = emu.queueGet('third', { ifindex: phys.ifindex, id: 2, type: 'rx' });
    expect(q.lease?.ifindex).toBe(guest.ifindex);
    expect(q.lease?.['netns-id']).toBeDefined();
  });

  it('channels: resizing away a leased queue is refused; netkit has no channels', () => {
    const { phys, host, guest } = setup({ queues: 4, rxq: 3 });
    emu.queueCreate(lease(guest, phys, 3), 'guest');
    let e = err(() => emu.setChannels('init', 'eth0', 3));
    expect([e.errno, e.extack]).toEqual(['EINVAL', 'requested channel counts are too low due to busy queues (AF_XDP or queue leasing)']);
    emu.setChannels('init', 'eth0', 4); // no change is fine
    e = err(() => emu.setChannels('init', host!.name, 1));
    expect(e.errno).toBe('EOPNOTSUPP');
    e = err(() => emu.channels('init', host!.name));
    expect(e.errno).toBe('EOPNOTSUPP');
    // after the netkit goes, the queue is free again
    emu.delLink('init', host!.name);
    emu.setChannels('init', 'eth0', 3);
    expect(phys.realNumRxQueues).toBe(3);
    emu.setChannels('init', 'eth0', 5);
    expect(phys.rxq.every((q) => q.lease === undefined)).toBe(true);
  });

  it('release and reuse: deleting the netkit frees the queue, a new one gets id 1 again', () => {
    const { phys, host, guest } = setup();
    emu.queueCreate(lease(guest, phys, 1), 'guest');
    emu.delLink('init', host!.name);
    // the guest end lives in another namespace: its work unregisters it (and its lease)
    expect(phys.rxq[1]!.lease).toBeDefined();
    emu.flushWork();
    expect(phys.rxq[1]!.lease).toBeUndefined();
    const [, g2] = emu.addLink({ ifname: 'nkh', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nkg', netns: 'guest', numRxQueues: 2 } } } });
    expect(emu.queueCreate(lease(g2!, phys, 1), 'guest').id).toBe(1);
  });
});

describe('the netkit notifier (netkit.md §7.1)', () => {
  it('removing the NIC removes every lessee, pair or single, in one nested batch with events in order', () => {
    const { phys, guest } = setup({ rxq: 2 });
    emu.queueCreate(lease(guest, phys, 1), 'guest');
    const [single] = emu.addLink({ ifname: 'nks', numRxQueues: 2, linkinfo: { kind: 'netkit', data: { pairing: 'single' } } });
    emu.queueCreate({ ifindex: single!.ifindex, type: 'rx', lease: { ifindex: phys.ifindex, queue: { id: 2, type: 'rx' } } }, 'init');
    const [bystander] = emu.addLink({ ifname: 'free', linkinfo: { kind: 'netkit', data: {} } });
    const events: string[] = [];
    emu.notifier.subscribe((ev, d) => events.push(`${eventName(ev)} ${d.name}`), 100);
    emu.delNic('init', 'eth0');
    expect(emu.links('init').map((d) => d.name).sort()).toEqual(['free', 'lo', 'nk0']);
    expect(emu.links('guest').map((d) => d.name)).toEqual(['lo']);
    expect(bystander!.regState).toBe(1);
    const i = events.indexOf('NETDEV_UNREGISTER eth0');
    expect(events.slice(0, i + 1)).toEqual(['NETDEV_GOING_DOWN eth0', 'NETDEV_DOWN eth0', 'NETDEV_UNREGISTER eth0']);
    // the nested batch: closes all lessees, then UNREGISTER/PRE_UNINIT each, inside eth0's step 5b
    const nested = events.slice(i + 1, events.indexOf('NETDEV_PRE_UNINIT eth0'));
    expect(nested.filter((e) => e.startsWith('NETDEV_UNREGISTER')).sort()).toEqual(['NETDEV_UNREGISTER nkg', 'NETDEV_UNREGISTER nkh', 'NETDEV_UNREGISTER nks']);
    const lastDown = Math.max(...nested.map((e, k) => (e.startsWith('NETDEV_DOWN') ? k : -1)));
    const firstUnreg = nested.findIndex((e) => e.startsWith('NETDEV_UNREGISTER'));
    expect(lastDown).toBeLessThan(firstUnreg);
    expect(events[events.length - 1]).toBe('NETDEV_PRE_UNINIT eth0');
  });

  it('moving the NIC to another namespace is not a removal: leases stay', () => {
    const { phys, guest } = setup();
    emu.queueCreate(lease(guest, phys, 1), 'guest');
    emu.addNetns('moved');
    emu.setLink('init', 'eth0', { netns: 'moved' });
    expect(guest.regState).toBe(1);
    expect(phys.rxq[1]!.lease?.dev).toBe(guest);
  });

  it('deleting the guest namespace removes its lease and the host end, leaving another pair intact', () => {
    const { phys, guest } = setup();
    emu.queueCreate(lease(guest, phys, 1), 'guest');
    emu.addNetns('other');
    emu.setNsid('other', 'init', 0);
    const [, g2] = emu.addLink({ ifname: 'nkh2', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nkg2', netns: 'other', numRxQueues: 2 } } } });
    emu.queueCreate(lease(g2!, phys, 2), 'other');
    emu.delNetns('guest');
    expect(phys.rxq[1]!.lease).toBeUndefined();
    expect(phys.rxq[2]!.lease?.dev).toBe(g2);
    expect(emu.links('init').map((d) => d.name).sort()).toEqual(['eth0', 'lo', 'nkh2']);
  });
});

describe('namespaces going away (netns-unregister.md §3–§4)', () => {
  it('physical devices return to init (renamed on a clash), virtual ones are deleted with their peers', () => {
    emu.addNetns('foo');
    emu.addNic({ name: 'eth0', netns: 'foo', rxQueues: 2 });
    emu.addNic({ name: 'eth0' });
    emu.addNic({ name: 'eth7', netns: 'foo' });
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
    // the name uses the ifindex the device had in the dying namespace
    const fooIndex = emu.device('foo', 'eth0').ifindex;
    emu.delNetns('foo');
    const names = emu.links('init').map((d) => d.name).sort();
    expect(names).toEqual(['eth0', 'eth7', `dev${fooIndex}`, 'lo'].sort());
    expect(emu.hasNetns('foo')).toBe(false);
  });

  it('per-netns unregistration: the peer in another namespace goes asynchronously, by that namespace\'s work', () => {
    emu.addNetns('ns2');
    emu.addLink({ ifname: 'a', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'b', netns: 'ns2' } } } });
    emu.delLink('ns2', 'b');
    // b is gone at once; a waits on init's pending list until init's work runs
    expect(emu.pendingUnregister('init')).toEqual(['a']);
    expect(emu.netns('init').byName.has('a')).toBe(true);
    emu.flushWork();
    expect(emu.pendingUnregister('init')).toEqual([]);
    expect(emu.netns('init').byName.has('a')).toBe(false);
  });

  it('a pending device moved to another namespace moves between pending lists; never queued both ways', () => {
    emu.addNetns('ns2');
    emu.addNetns('ns3');
    const [a] = emu.addLink({ ifname: 'a', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'b', netns: 'ns2' } } } });
    // A second pair whose host end is also pending keeps the batch honest.
    emu.delLink('ns2', 'b');
    expect(a!.pendingIn?.name).toBe('init');
    // Move while queued: simulate the move racing with the work (the move runs first).
    (emu as unknown as { moveNetns(d: NetDevice, t: unknown): void }).moveNetns(a!, emu.netns('ns3'));
    expect(emu.pendingUnregister('init')).toEqual([]);
    expect(emu.pendingUnregister('ns3')).toEqual(['a']);
    expect(a!.queued).toBe(false);
    emu.flushWork();
    expect(emu.links('ns3').map((d) => d.name)).toEqual(['lo']);
  });

  it('a namespace dismantle flushes the cross-netns work it queued before it completes', () => {
    emu.addNetns('ns2');
    emu.addLink({ ifname: 'a', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'b', netns: 'ns2' } } } });
    const events: string[] = [];
    emu.notifier.subscribe((ev, d) => { if (ev === NetdevEvent.UNREGISTER) events.push(d.name); });
    emu.delNetns('ns2');
    expect(events).toEqual(['b', 'lo', 'a']);
    expect(emu.pendingUnregister('init')).toEqual([]);
  });

  it('with the global behaviour both ends go in one batch', async () => {
    const e2 = await Emulator.create({ perNetnsUnregister: false });
    e2.addNetns('ns2');
    e2.addLink({ ifname: 'a', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'b', netns: 'ns2' } } } });
    e2.delLink('ns2', 'b');
    expect(e2.pendingUnregister('init')).toEqual([]);
    expect(e2.netns('init').byName.has('a')).toBe(false);
    await e2.close();
  });
});
