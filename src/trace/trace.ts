/**
 * Per-packet trace: the dataplane writes a record per packet and hook into per-thread
 * rings while tracing is on; the host drains them into readable events.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { dropReasonName } from '../net/drop.js';

/** TraceEvent.reason of a drop in the slow-path stack (its kernel reason in reasonName). */
export const REASON_STACK = 0xffff;

export interface TraceEvent {
  tstampNs: bigint;
  /** Thread that handled the packet (0 = host/inline). */
  thread: number;
  ifindex: number;
  peerIfindex: number;
  /** Internal namespace id of the device. */
  netns: number;
  len: number;
  /**
   * The dataplane's hook, or for a drop in the stack the kernel function that drops it
   * (ip6_rcv_core, ip6_forward, icmpv6_rcv, udpv6_rcv, ...).
   */
  hook: 'netkit/xmit' | 'xdp' | 'rx-sink' | string;
  /**
   * NETKIT_* verdict (-2 when the packet dropped before a verdict); at the `xdp` hook (a
   * NIC's XDP program on a frame from the wire) the XDP action, and `peerIfindex` where a
   * redirect sent it: a devmap's device, or the device an AF_XDP socket is bound to.
   */
  verdict: number;
  verdictName: string;
  /** Drop reason counter index (A.DROP_*), 0 when delivered, REASON_STACK for a drop in the stack. */
  reason: number;
  /** The drop reason as the kernel's skb drop reasons read (SKB_DROP_REASON_* without the prefix: IPV6DISABLED, IP_INHDR, ...); 'NONE' when delivered. */
  reasonName: string;
  /** skb->mark after the programs; at the `xdp` hook the redirect's map type (17: an XSKMAP, i.e. an AF_XDP socket). */
  mark: number;
  /**
   * The programs of the hook's list that ran on the packet, in run order (bpf prog ids):
   * every one but the last returned NEXT; the last one's verdict (or fault) decided. Empty
   * when none is attached (the device's policy decided) or the packet dropped before the
   * hook. At most TR_MAX_PROGS (5) ids are kept: see `progsRun` for the count.
   */
  progIds: number[];
  /** How many programs ran (may exceed `progIds.length` on a long list). */
  progsRun: number;
  /** Id of the program whose verdict (or fault) ended the walk, 0 when none ran. */
  progLast: number;
  /** The rx queue the frame came in on (hook `xdp`; 0 elsewhere). */
  queue: number;
}

const HOOKS: Record<number, string> = { [A.HOOK_NETKIT_XMIT]: 'netkit/xmit', [A.HOOK_RX_SINK]: 'rx-sink', [A.HOOK_XDP]: 'xdp' };
const XDP_ACTIONS = ['ABORTED', 'DROP', 'PASS', 'TX', 'REDIRECT'];

export function verdictName(v: number): string {
  switch (v) {
    case A.NETKIT_NEXT: return 'NEXT';
    case A.NETKIT_PASS: return 'PASS';
    case A.NETKIT_DROP: return 'DROP';
    case A.NETKIT_REDIRECT: return 'REDIRECT';
    case -2: return 'EARLY_DROP';
    default: return `UNKNOWN(${v})`;
  }
}

export class Tracer {
  private readonly dp: Dataplane;
  /** Records lost to full rings so far (reported, never silent). */
  lost = 0;
  /** The producer owns each ring's lost count; remember what was already reported. */
  private readonly seenLost = new Map<number, number>();

  constructor(dp: Dataplane) {
    this.dp = dp;
  }

  enable(on = true): void {
    this.dp.setTrace(on);
  }

  /** Everything traced since the last drain, ordered by thread then time. */
  drain(): TraceEvent[] {
    const out: TraceEvent[] = [];
    for (let t = 0; t < this.dp.threads; t++) {
      const ring = this.dp.thread(t).trace;
      this.dp.drainRing(ring, (e) => {
        const dv = this.dp.view();
        const hook = dv.getUint8(e + A.TR_HOOK);
        const verdict = dv.getInt8(e + A.TR_VERDICT);
        out.push({
          tstampNs: dv.getBigUint64(e + A.TR_TSTAMP, true),
          thread: t,
          ifindex: dv.getUint32(e + A.TR_IFINDEX, true),
          peerIfindex: dv.getUint32(e + A.TR_PEER_IFINDEX, true),
          netns: dv.getUint32(e + A.TR_NETNS, true),
          len: dv.getUint32(e + A.TR_LEN, true),
          hook: HOOKS[hook] ?? `hook${hook}`,
          verdict,
          verdictName: hook === A.HOOK_XDP ? (XDP_ACTIONS[verdict] ?? `UNKNOWN(${verdict})`) : verdictName(verdict),
          reason: dv.getUint16(e + A.TR_REASON, true),
          reasonName: dropReasonName(dv.getUint16(e + A.TR_REASON, true)),
          mark: dv.getUint32(e + A.TR_MARK, true),
          ...progsOf(dv, e),
          queue: dv.getUint32(e + A.TR_QUEUE, true),
        });
      });
      const lost = this.dp.ringLost(ring);
      this.lost += (lost - (this.seenLost.get(ring) ?? 0)) >>> 0;
      this.seenLost.set(ring, lost);
    }
    // the slow-path stack's drops (host, thread 0), in the order they happened
    for (const d of this.dp.stackDrops.splice(0)) {
      out.push({
        tstampNs: d.tstampNs, thread: 0, ifindex: d.ifindex, peerIfindex: 0, netns: d.netns, len: d.len, hook: d.where,
        verdict: -2, verdictName: verdictName(-2), reason: REASON_STACK, reasonName: d.reason, mark: d.mark, progIds: [], progsRun: 0, progLast: 0, queue: 0,
      });
    }
    this.lost += this.dp.stackDropsLost;
    this.dp.stackDropsLost = 0;
    return out;
  }
}

function progsOf(dv: DataView, e: number): { progIds: number[]; progsRun: number; progLast: number } {
  const progsRun = dv.getUint32(e + A.TR_NPROGS, true);
  const progIds: number[] = [];
  for (let i = 0; i < Math.min(progsRun, A.TR_MAX_PROGS); i++) progIds.push(dv.getUint32(e + A.TR_PROGS + 4 * i, true));
  return { progIds, progsRun, progLast: dv.getUint32(e + A.TR_PROG_LAST, true) };
}
