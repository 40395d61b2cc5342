/**
 * A ping run's outcome, printed the way iputils ping prints it. Times are virtual
 * (the emulator's clock), so the same run prints the same text.
 */

export interface PingOptions {
  /** `-c`: echo requests to send. Default 1. */
  count?: number;
  /** `-s`: payload bytes. Default 56. */
  size?: number;
  /** `-i`: seconds between requests (virtual time). Default 1. */
  interval?: number;
  /** `-t`: IP TTL. Default: the stack's (64). */
  ttl?: number;
  /** `-Q`: IP TOS byte. Default 0. */
  tos?: number;
  /** `-m`: SO_MARK on the requests. Default 0. */
  mark?: number;
  /** SO_PRIORITY on the requests (skb->priority). Default 0. */
  priority?: number;
  /** `-I`: send through this device (SO_BINDTODEVICE). */
  device?: string;
  /** Stops sending when aborted (ping's SIGINT): the result so far, statistics included. */
  signal?: AbortSignal;
  /** Each reply or error line as it arrives (ping's output, streamed). */
  onLine?: (line: string) => void;
}

/** The first line ping prints (IPv6: the payload size alone, no space before the parenthesis). */
export function pingHeader(dst: string, size: number): string {
  if (dst.includes(':')) return `PING ${dst}(${dst}) ${size} data bytes`;
  return `PING ${dst} (${dst}) ${size}(${size + 28}) bytes of data.`;
}

export interface PingReply {
  seq: number;
  from: string;
  bytes: number;
  ttl: number;
  rttNs: bigint;
}

/** iputils' words for the ICMPv6 destination-unreachable codes (print_icmp6). */
const UNREACH6: Record<number, string> = {
  0: 'No route', 1: 'Administratively prohibited', 2: 'Beyond scope of source address', 3: 'Address unreachable', 4: 'Port unreachable',
};

/** iputils' words for the destination-unreachable codes nkemu's stacks send. */
const UNREACH: Record<number, string> = {
  0: 'Destination Net Unreachable', 1: 'Destination Host Unreachable', 3: 'Destination Port Unreachable', 13: 'Packet filtered',
};

export class PingResult {
  readonly dst: string;
  readonly size: number;
  readonly count: number;
  transmitted = 0;
  readonly replies: PingReply[] = [];
  readonly errors: { seq: number; from: string; kind: 'unreachable' | 'ttl' | 'toobig' }[] = [];
  /** Output lines in arrival order (replies and errors). */
  private readonly lines: string[] = [];
  timeMs = 0;
  // Per ICMP sequence number (16 bits, wrapping as iputils' does): answered since it was
  // last sent (iputils' rcvd_tbl, cleared when the number is sent again).
  private readonly replied = new Set<number>();
  private readonly failed = new Set<number>();
  private nReceived = 0;

  private readonly onLine: ((line: string) => void) | undefined;

  constructor(dst: string, size: number, count: number, onLine?: (line: string) => void) {
    this.dst = dst;
    this.size = size;
    this.count = count;
    this.onLine = onLine;
  }

  private line(text: string): void {
    this.lines.push(text);
    this.onLine?.(text);
  }

  /** Replies received, duplicates not counted. */
  get received(): number {
    return this.nReceived;
  }

  /** Whether the request last sent with this sequence number was answered (a reply or an error). */
  answered(seq: number): boolean {
    return this.replied.has(seq & 0xffff) || this.failed.has(seq & 0xffff);
  }

  /** @internal A request goes out with this sequence number: what answered it before is forgotten. */
  sending(seq: number): void {
    this.replied.delete(seq & 0xffff);
    this.failed.delete(seq & 0xffff);
  }

  /** @internal */
  reply(seq: number, from: string, bytes: number, ttl: number, rttNs: bigint): void {
    const dup = this.replied.has(seq);
    if (!dup) { this.replied.add(seq); this.nReceived++; }
    this.replies.push({ seq, from, bytes, ttl, rttNs });
    // (no timestamp fits in a payload under 16 bytes: iputils prints no time then)
    this.line(`${bytes} bytes from ${from}: icmp_seq=${seq} ttl=${ttl}${this.timing ? ` time=${ms(rttNs)} ms` : ''}${dup ? ' (DUP!)' : ''}`);
  }

  /** @internal `code`: the ICMP code of a destination unreachable (iputils names it), or a packet too big's MTU. */
  error(seq: number, from: string, kind: 'unreachable' | 'ttl' | 'toobig', code = 1): void {
    this.failed.add(seq);
    this.errors.push({ seq, from, kind });
    const why = from.includes(':')
      ? kind === 'ttl' ? 'Time exceeded: Hop limit' : kind === 'toobig' ? `Packet too big: mtu=${code}` : `Destination unreachable: ${UNREACH6[code] ?? `Unknown code ${code}`}`
      : kind === 'ttl' ? 'Time to live exceeded' : UNREACH[code] ?? `Dest Unreachable, Bad Code: ${code}`;
    this.line(`From ${from} icmp_seq=${seq} ${why}`);
  }

  /** Whether the payload carries the send time (iputils' `timing`: at least a struct timeval). */
  get timing(): boolean {
    return this.size >= 16;
  }

  /** True when every request got its reply. */
  get ok(): boolean {
    return this.received === this.transmitted && this.transmitted > 0;
  }

  /** iputils' output, header to statistics. */
  format(): string {
    return [pingHeader(this.dst, this.size), ...this.lines, ...this.statistics()].join('\n');
  }

  /** The closing lines: a blank line, the statistics and the rtt summary. */
  statistics(): string[] {
    const out = ['', `--- ${this.dst} ping statistics ---`];
    const loss = this.transmitted ? ((this.transmitted - this.received) * 100) / this.transmitted : 0;
    const errs = this.errors.length ? `, +${this.errors.length} errors` : '';
    out.push(`${this.transmitted} packets transmitted, ${this.received} received${errs}, ${Number(loss.toPrecision(6))}% packet loss, time ${this.timeMs}ms`);
    // (iputils ends the summary with a newline after the rtt line, or alone when there is none)
    if (!this.replies.length || !this.timing) out.push('');
    else {
      const t = this.replies.map((r) => Number(r.rttNs) / 1e6);
      const avg = t.reduce((a, b) => a + b, 0) / t.length;
      const mdev = Math.sqrt(t.reduce((a, b) => a + b * b, 0) / t.length - avg * avg);
      out.push(`rtt min/avg/max/mdev = ${[Math.min(...t), avg, Math.max(...t), Number.isFinite(mdev) ? mdev : 0].map((x) => x.toFixed(3)).join('/')} ms`);
    }
    return out;
  }
}

function ms(ns: bigint): string {
  return (Number(ns) / 1e6).toFixed(3);
}
