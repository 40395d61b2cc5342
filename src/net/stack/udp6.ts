/**
 * UDP over IPv6 in a namespace's stack: sockets bound to a port (0: an ephemeral one), an
 * address of the namespace or any, a device or any. They are IPV6_V6ONLY: an IPv4
 * datagram never reaches one, and an IPv4 socket on the same port does not clash.
 */

import { fail } from '../../errors.js';
import type { FrameMeta } from '../types.js';
import type { Addrconf } from './addrconf.js';

/** sendto() as the IPv6 path does it (Ipv6.sendUdp). */
type SendFn = (s: Udp6Socket, dst: bigint, dport: number, data: Uint8Array, meta: FrameMeta) => void;

/** A datagram an IPv6 UDP socket received. */
export interface Datagram6 {
  src: bigint;
  sport: number;
  dst: bigint;
  dport: number;
  data: Uint8Array;
  /** The device it came in on. */
  ifindex: number;
  mark: number;
}

const EPHEMERAL_LO = 32768;
const EPHEMERAL_HI = 60999;

export class Udp6Socket {
  readonly port: number;
  /** The bound address, 0n for any. */
  readonly addr: bigint;
  readonly ifindex: number;
  readonly queue: Datagram6[] = [];
  closed = false;
  private readonly table: Udp6Table;
  private readonly sendFn: SendFn;

  /** @internal */
  constructor(table: Udp6Table, sendFn: SendFn, port: number, addr: bigint, ifindex: number) {
    this.table = table;
    this.sendFn = sendFn;
    this.port = port;
    this.addr = addr;
    this.ifindex = ifindex;
  }

  /** Takes every datagram received so far. */
  recv(): Datagram6[] {
    return this.queue.splice(0);
  }

  /** sendto(): one datagram to `[dst]:dport` (ENETUNREACH without a route). */
  send(dst: bigint, dport: number, data: Uint8Array, meta: FrameMeta = {}): void {
    this.sendFn(this, dst, dport, data, meta);
  }

  close(): void {
    if (!this.closed) this.table.unbind(this);
    this.closed = true;
  }
}

export class Udp6Table {
  private readonly sendFn: SendFn;
  private readonly conf: Addrconf;
  private readonly sockets = new Map<number, Udp6Socket[]>();
  private nextPort = EPHEMERAL_LO;

  constructor(sendFn: SendFn, conf: Addrconf) {
    this.sendFn = sendFn;
    this.conf = conf;
  }

  /** bind(): EADDRNOTAVAIL for an address the namespace does not have, EADDRINUSE for a taken port. */
  bind(o: { port?: number; addr?: bigint; ifindex?: number } = {}): Udp6Socket {
    let port = o.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail('EINVAL');
    const addr = o.addr ?? 0n;
    if (addr && !this.conf.isLocal(addr)) fail('EADDRNOTAVAIL');
    if (port === 0) {
      for (let i = 0; i <= EPHEMERAL_HI - EPHEMERAL_LO; i++) {
        const p = this.nextPort;
        this.nextPort = p >= EPHEMERAL_HI ? EPHEMERAL_LO : p + 1;
        if (!this.sockets.has(p)) { port = p; break; }
      }
      if (port === 0) fail('EADDRINUSE');
    }
    const list = this.sockets.get(port) ?? [];
    if (list.some((s) => s.addr === 0n || addr === 0n || s.addr === addr)) fail('EADDRINUSE');
    const s = new Udp6Socket(this, this.sendFn, port, addr, o.ifindex ?? 0);
    list.push(s);
    this.sockets.set(port, list);
    return s;
  }

  /** The socket a datagram to `[dst]:port` arriving on `ifindex` goes to. */
  find(port: number, dst: bigint, ifindex: number): Udp6Socket | undefined {
    return (this.sockets.get(port) ?? []).find((s) => (s.addr === 0n || s.addr === dst) && (s.ifindex === 0 || s.ifindex === ifindex));
  }

  /** @internal */
  unbind(s: Udp6Socket): void {
    const list = (this.sockets.get(s.port) ?? []).filter((x) => x !== s);
    if (list.length) this.sockets.set(s.port, list);
    else this.sockets.delete(s.port);
  }

  /** The device went away: its sockets close. */
  forgetLink(ifindex: number): void {
    for (const list of [...this.sockets.values()]) for (const s of list) if (s.ifindex === ifindex) s.close();
  }
}
