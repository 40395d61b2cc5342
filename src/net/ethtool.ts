/**
 * ethtool on the emulated NICs: channels (`-l` / `-L`), RSS indirection and contexts
 * (`-X`), ntuple rules (`-N`). The rules' checks are in nic.ts; netkit has none of these
 * operations (EOPNOTSUPP).
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { fail } from '../errors.js';
import type { Devices } from './dev.js';
import type { NetDevice } from './netdev.js';
import * as nic from './nic.js';
import type { DeviceRecords } from './records.js';
import type { Rtnl } from './rtnl.js';

export class Ethtool {
  private readonly dp: Dataplane;
  private readonly rtnl: Rtnl;
  private readonly dev: Devices;
  private readonly records: DeviceRecords;

  constructor(dp: Dataplane, rtnl: Rtnl, dev: Devices, records: DeviceRecords) {
    this.dp = dp;
    this.rtnl = rtnl;
    this.dev = dev;
    this.records = records;
  }

  /** The device after queued work, if it is a NIC: netkit and the rest have no ethtool channel/RSS/ntuple ops (EOPNOTSUPP). */
  private nicDevice(ns: string, dev: string | number): NetDevice & { nic: NonNullable<NetDevice['nic']> } {
    this.rtnl.flushWork();
    const d = this.rtnl.device(ns, dev);
    if (!d.nic) fail('EOPNOTSUPP');
    return d as NetDevice & { nic: NonNullable<NetDevice['nic']> };
  }

  /** `ethtool -l`: channel counts (netkit has no get_channels: EOPNOTSUPP). */
  channels(ns: string, dev: string | number): { maxCombined: number; combined: number; maxRx: number; maxTx: number } {
    const d = this.nicDevice(ns, dev);
    return { maxCombined: d.nic.maxChannels, combined: d.realNumRxQueues, maxRx: 0, maxTx: 0 };
  }

  /** `ethtool -L DEV combined N`. */
  setChannels(ns: string, dev: string | number, count: number): void {
    const d = this.nicDevice(ns, dev);
    nic.checkChannels(d, count);
    if (count === d.realNumRxQueues) return;
    while (d.realNumRxQueues < count) this.dev.addRxQueue(d);
    const gone = d.rxq.splice(count);
    const ctx0 = d.nic.contexts.get(0)!;
    if (!ctx0.configured) ctx0.table = nic.defaultTable(count);
    this.records.publish(d);
    const rings = gone.map((q) => q.ring);
    this.dp.afterGrace(() => {
      for (const r of rings) this.dp.freeRingFrames(r);
      for (const r of rings) this.dp.release(r, this.dp.ringBytes(this.dp.ringSize, A.DESC_SIZE));
    });
  }

  /** `ethtool -X`; returns the context id (a new one for `context: 'new'`). */
  setRss(ns: string, dev: string | number, o: Parameters<typeof nic.setIndirection>[1]): number {
    const d = this.nicDevice(ns, dev);
    const id = nic.setIndirection(d, o);
    this.records.publish(d);
    return id;
  }

  /** `ethtool -N DEV flow-type ...`; returns the rule's location. */
  addNtuple(ns: string, dev: string | number, rule: Parameters<typeof nic.addRule>[1]): number {
    const d = this.nicDevice(ns, dev);
    const loc = nic.addRule(d, rule);
    this.records.publish(d);
    return loc;
  }

  /** `ethtool -N DEV delete LOC`. */
  delNtuple(ns: string, dev: string | number, location: number): void {
    const d = this.nicDevice(ns, dev);
    nic.deleteRule(d, location);
    this.records.publish(d);
  }
}
