/**
 * Packet capture: devices flagged for capture copy each frame they send or receive (up
 * to the snaplen) into per-thread capture rings; the host drains them into a pcapng
 * file, one interface per device, with the direction and, for drops, the reason as the
 * packet comment.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import type { Devices } from '../net/dev.js';
import { dropReasonName } from '../net/drop.js';
import { RegState, type NetDevice } from '../net/netdev.js';
import type { DeviceRecords } from '../net/records.js';
import type { Rtnl } from '../net/rtnl.js';
import { PcapngWriter, type Direction } from './pcapng.js';

/** How the capture names a device it saw (netns internal id + ifindex → name). */
export type DeviceNamer = (netns: number, ifindex: number) => { name: string; description: string };

export class Capture {
  private readonly dp: Dataplane;
  private readonly namer: DeviceNamer;
  readonly writer = new PcapngWriter({ application: 'nkemu' });
  private readonly ifaceOf = new Map<string, number>();
  private readonly dropName: (reason: number) => string;
  /** Packets written so far. */
  packets = 0;
  /** Records lost because a capture ring was full (never silent). */
  lost = 0;
  private readonly seenLost = new Map<number, number>();
  active = true;

  /** @internal Captures.start (Emulator.startCapture) */
  constructor(dp: Dataplane, namer: DeviceNamer, dropName: (reason: number) => string) {
    this.dp = dp;
    this.namer = namer;
    this.dropName = dropName;
    // Start from the rings' current positions: records from an earlier capture are skipped.
    for (let t = 0; t < dp.threads; t++) {
      const ring = dp.thread(t).capture;
      dp.drainRing(ring, () => undefined);
      this.seenLost.set(ring, dp.ringLost(ring));
    }
  }

  private iface(netns: number, ifindex: number): number {
    const key = `${netns}/${ifindex}`;
    let id = this.ifaceOf.get(key);
    if (id === undefined) {
      const n = this.namer(netns, ifindex);
      id = this.writer.addInterface({ name: n.name, description: n.description, snaplen: this.dp.captureSnaplen });
      this.ifaceOf.set(key, id);
    }
    return id;
  }

  /** Moves every captured record into the file (the emulator calls this each round). */
  drain(): number {
    let n = 0;
    const bytes = this.dp.bytes();
    for (let t = 0; t < this.dp.threads; t++) {
      const ring = this.dp.thread(t).capture;
      n += this.dp.drainRing(ring, (e) => {
        const dv = this.dp.view();
        const caplen = dv.getUint32(e + A.CAP_LEN, true);
        const dir = dv.getUint32(e + A.CAP_DIRECTION, true);
        const reason = dv.getUint32(e + A.CAP_REASON, true);
        const direction: Direction = dir === A.CAP_DIR_IN ? 'in' : dir === A.CAP_DIR_OUT ? 'out' : 'unknown';
        this.writer.addPacket({
          iface: this.iface(dv.getUint32(e + A.CAP_NETNS, true), dv.getUint32(e + A.CAP_IFINDEX, true)),
          tstampNs: dv.getBigUint64(e + A.CAP_TSTAMP, true),
          data: bytes.slice(e + A.CAP_HEADER, e + A.CAP_HEADER + caplen),
          origLen: dv.getUint32(e + A.CAP_ORIG_LEN, true),
          direction,
          comment: reason ? `drop: ${this.dropName(reason)}` : undefined,
        });
      });
      const lost = this.dp.ringLost(ring);
      this.lost += (lost - (this.seenLost.get(ring) ?? 0)) >>> 0;
      this.seenLost.set(ring, lost);
    }
    this.packets += n;
    return n;
  }

  /** The pcapng file so far. */
  bytes(): Uint8Array {
    return this.writer.bytes();
  }
}

/** The captures running: which devices each one flags (a device stays flagged while any capture has it). */
export class Captures {
  private readonly dp: Dataplane;
  private readonly rtnl: Rtnl;
  private readonly dev: Devices;
  private readonly records: DeviceRecords;
  private readonly captures = new Map<Capture, NetDevice[]>();

  constructor(dp: Dataplane, rtnl: Rtnl, dev: Devices, records: DeviceRecords) {
    this.dp = dp;
    this.rtnl = rtnl;
    this.dev = dev;
    this.records = records;
  }

  /**
   * Starts capturing frames sent and received by the given devices (default: every
   * device registered now) into a pcapng file; frames are collected as the dataplane runs.
   */
  start(o: { devices?: { ns: string; dev: string | number }[] } = {}): Capture {
    const devs = o.devices ? o.devices.map((x) => this.rtnl.device(x.ns, x.dev)) : [...this.dev.bySlot.values()];
    const c = new Capture(this.dp, (netns, ifindex) => {
      const ns = this.rtnl.namespaceById(netns);
      const d = ns?.find(ifindex);
      return { name: d?.name ?? `if${ifindex}`, description: `netns ${ns?.name ?? netns} ifindex ${ifindex}` };
    }, dropReasonName);
    this.captures.set(c, devs);
    for (const d of devs) {
      d.capture = A.CAP_DIR_IN | A.CAP_DIR_OUT;
      this.records.publish(d);
    }
    return c;
  }

  /** Stops a capture and returns the pcapng file. */
  stop(c: Capture): Uint8Array {
    const devs = this.captures.get(c);
    if (devs) {
      this.captures.delete(c);
      const still = new Set([...this.captures.values()].flat());
      for (const d of devs) {
        if (still.has(d) || d.regState !== RegState.REGISTERED) continue;
        d.capture = 0;
        this.records.publish(d);
      }
      c.drain();
      c.active = false;
    }
    return c.bytes();
  }

  /** Collects what every running capture's rings hold. */
  drain(): void {
    for (const c of this.captures.keys()) c.drain();
  }
}
