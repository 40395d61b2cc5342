/**
 * IPv6 addresses as 128-bit bigints: parsing (inet_pton), printing (glibc's inet_ntop:
 * the longest run of two or more zero groups becomes `::`, the first of equal runs; the
 * IPv4-compatible and -mapped forms end in a dotted quad), masks, scopes and the
 * interface identifiers addrconf generates.
 */

export const ALL_ONES = (1n << 128n) - 1n;
export const LOOPBACK6 = 1n;
/** fe80::/64 */
export const LINK_LOCAL_PREFIX = 0xfe80n << 112n;

/** Netmask of a prefix length (0..128). */
export function mask6(len: number): bigint {
  return len === 0 ? 0n : (ALL_ONES << BigInt(128 - len)) & ALL_ONES;
}

/** Whether `a` lies in `p/len`. */
export function inPrefix6(a: bigint, p: bigint, len: number): boolean {
  const m = mask6(len);
  return (a & m) === (p & m);
}

/** inet_pton(AF_INET6): null when `s` is not an IPv6 address. */
export function parseIp6(s: string): bigint | null {
  if (!s.includes(':') || /[^0-9a-fA-F:.]/.test(s)) return null;
  let tail: number[] = [];
  let text = s;
  // a trailing dotted quad is the last two groups
  const dot = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (dot) {
    const b = dot.slice(2, 6).map(Number);
    if (b.some((x) => x > 255)) return null;
    tail = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
    text = dot[1]!.endsWith('::') ? dot[1]! : dot[1]!.slice(0, -1);
  } else if (s.includes('.')) {
    return null;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !rest) return null;
  const given = head.length + rest.length + tail.length;
  let words: number[];
  if (halves.length === 2) {
    if (given > 7) return null;
    words = [...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail];
  } else {
    if (given !== 8) return null;
    words = [...head, ...tail];
  }
  let v = 0n;
  for (const w of words) v = (v << 16n) | BigInt(w);
  return v;
}

/** inet_ntop(AF_INET6) as glibc prints it. */
export function formatIp6(a: bigint): string {
  const w: number[] = [];
  for (let i = 7; i >= 0; i--) w.push(Number((a >> BigInt(i * 16)) & 0xffffn));
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (cur.base === -1) cur = { base: i, len: 1 };
      else cur.len++;
    } else if (cur.base !== -1) {
      if (best.base === -1 || cur.len > best.len) best = cur;
      cur = { base: -1, len: 0 };
    }
  }
  if (cur.base !== -1 && (best.base === -1 || cur.len > best.len)) best = cur;
  if (best.base !== -1 && best.len < 2) best = { base: -1, len: 0 };
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 5 && w[5] === 0xffff))) {
      out += `${w[6]! >> 8}.${w[6]! & 255}.${w[7]! >> 8}.${w[7]! & 255}`;
      break;
    }
    out += w[i]!.toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ':';
  return out;
}

/** The modified EUI-64 interface identifier of a 6-byte MAC (addrconf_ifid_eui48). */
export function eui64(mac: Uint8Array): bigint {
  const b = [mac[0]! ^ 2, mac[1]!, mac[2]!, 0xff, 0xfe, mac[3]!, mac[4]!, mac[5]!];
  return b.reduce((v, x) => (v << 8n) | BigInt(x), 0n);
}

/** The 16 bytes of an address, network order. */
export function ip6Bytes(a: bigint): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    b[i] = Number(a & 0xffn);
    a >>= 8n;
  }
  return b;
}

/** An address from 16 bytes at `off`. */
export function readIp6(b: Uint8Array, off: number): bigint {
  let v = 0n;
  for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(b[off + i]!);
  return v;
}

export type Scope6 = 'host' | 'link' | 'global';

/** ipv6_addr_src_scope, in iproute2's words: ::1 host, fe80::/10 link, the rest global. */
export function scopeOf6(a: bigint): Scope6 {
  if (a === LOOPBACK6) return 'host';
  if (a >> 118n === 0x3fan) return 'link';
  return 'global';
}

/** The kernel's numeric source scopes, for the per-device list order (global > link > host). */
export function scopeRank6(a: bigint): number {
  const s = scopeOf6(a);
  return s === 'global' ? 0xe : s === 'link' ? 2 : 1;
}
