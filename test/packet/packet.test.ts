/**
 * The packet API against references it did not write: Wireshark's dissectors (tshark,
 * with checksum validation on) and a Python `struct` build of the same frames.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPacket, formatIpv6Address, parseIpv6Address, parsePacket, type PacketSpec } from '../../src/packet.js';

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const TSHARK = has('tshark', ['--version']);
const PYTHON = has('python3', ['--version']);
if (!TSHARK) console.warn('skipped: tshark not found (apt-get install tshark)');
if (!PYTHON) console.warn('skipped: python3 not found');

const SPECS: Record<string, PacketSpec> = {
  'udp4': { ipv4: { src: '10.0.0.1', dst: '10.0.0.2', id: 7 }, udp: { sport: 40000, dport: 53 }, payload: 'hello, netkit' },
  'udp4 odd': { ipv4: { src: '192.168.1.10', dst: '8.8.8.8', ttl: 3, tos: 0x2e }, udp: { sport: 1, dport: 65535 }, payload: 37 },
  'tcp4 SYN': { ipv4: { src: '10.1.2.3', dst: '10.3.2.1' }, tcp: { sport: 33000, dport: 80, seq: 0xdeadbeef, flags: 'S' } },
  'tcp4 PA': { ipv4: { src: '10.1.2.3', dst: '10.3.2.1' }, tcp: { sport: 33000, dport: 80, seq: 1, ack: 2, flags: 'PA' }, payload: 'GET / HTTP/1.0\r\n\r\n' },
  'icmp4 echo': { ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, icmp: { type: 'echo-request', id: 0x1234, seq: 1 }, payload: 56 },
  'udp6': { ipv6: { src: 'fd00::1', dst: 'fd00::2', flowLabel: 0x12345 }, udp: { sport: 5353, dport: 5353 }, payload: 'mdns?' },
  'tcp6': { ipv6: { src: '2001:db8::a', dst: '2001:db8:0:1::b' }, tcp: { sport: 443, dport: 50000, flags: 'SA', seq: 5, ack: 6 }, payload: 11 },
  'icmp6 echo': { ipv6: { src: 'fe80::1', dst: 'ff02::1', hopLimit: 255 }, icmp: { type: 'echo-request', id: 9, seq: 2 }, payload: 8 },
  'vlan udp4': { vlan: { id: 100, pcp: 5 }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 9, dport: 9 }, size: 128 },
  'qinq tcp4': { vlan: [{ id: 10, tpid: 0x88a8 }, { id: 20 }], ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 1, dport: 2, flags: 'R' } },
  'vlan icmp6': { vlan: { id: 4095, dei: true }, ipv6: { src: '::ffff:10.0.0.1', dst: '::1' }, icmp: { type: 'echo-reply', id: 1, seq: 1 } },
};

/** A classic pcap file (LINKTYPE_ETHERNET) of `frames`. */
function pcap(frames: Uint8Array[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0); head.writeUInt16LE(2, 4); head.writeUInt16LE(4, 6); head.writeUInt32LE(65535, 16); head.writeUInt32LE(1, 20);
  return Buffer.concat([head, ...frames.flatMap((f, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(i, 0); r.writeUInt32LE(f.length, 8); r.writeUInt32LE(f.length, 12);
    return [r, Buffer.from(f)];
  })]);
}

describe('buildPacket / parsePacket', () => {
  it('parse gives back what was built, and every checksum verifies', () => {
    for (const [name, spec] of Object.entries(SPECS)) {
      const p = parsePacket(buildPacket(spec));
      if (spec.ipv4) expect(p.ipv4, name).toMatchObject({ src: spec.ipv4.src, dst: spec.ipv4.dst, checksumOk: true });
      if (spec.ipv6) expect(p.ipv6?.dst, name).toBe(formatIpv6Address(parseIpv6Address(spec.ipv6.dst)));
      if (spec.udp) expect(p.udp, name).toMatchObject({ sport: spec.udp.sport, dport: spec.udp.dport, checksumOk: true });
      if (spec.tcp) expect(p.tcp, name).toMatchObject({ sport: spec.tcp.sport, dport: spec.tcp.dport, checksumOk: true });
      if (spec.icmp) expect(p.icmp, name).toMatchObject({ checksumOk: true });
      if (typeof spec.payload === 'string') expect(new TextDecoder().decode(p.payload), name).toBe(spec.payload);
    }
    const bad = buildPacket(SPECS['udp4']!);
    bad[bad.length - 1] ^= 1;
    expect(parsePacket(bad).udp!.checksumOk).toBe(false);
    expect(parsePacket(bad).ipv4!.checksumOk).toBe(true);
  });

  it('IPv6 text forms (RFC 4291 in, RFC 5952 out)', () => {
    expect(formatIpv6Address(parseIpv6Address('2001:DB8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    expect(formatIpv6Address(parseIpv6Address('::'))).toBe('::');
    expect(formatIpv6Address(parseIpv6Address('::ffff:10.0.0.1'))).toBe('::ffff:a00:1');
    expect(() => parseIpv6Address('1::2::3')).toThrow(RangeError);
  });

  it.runIf(TSHARK)('Wireshark agrees: layers, fields and every checksum good', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nkemu-packet-'));
    try {
      const names = Object.keys(SPECS);
      writeFileSync(join(dir, 'x.pcap'), pcap(names.map((n) => buildPacket(SPECS[n]!))));
      const fields = ['frame.protocols', 'ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status', 'ieee8021ad.id', 'vlan.id', 'udp.length', 'ipv6.plen', 'tcp.flags.str'];
      const out = execFileSync('tshark', ['-r', join(dir, 'x.pcap'), '-n',
        '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
        '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
      const rows = out.trim().split('\n').map((l) => Object.fromEntries(l.split('|').map((v, i) => [fields[i]!, v])));
      expect(rows.length).toBe(names.length);
      rows.forEach((r, i) => {
        const spec = SPECS[names[i]!]!;
        const l4 = spec.udp ? 'udp' : spec.tcp ? 'tcp' : spec.ipv6 ? 'icmpv6' : 'icmp';
        expect(r['frame.protocols'], names[i]).toContain(`${spec.ipv4 ? 'ip' : 'ipv6'}:${l4}`);
        // 1 = PROTO_CHECKSUM_E_GOOD
        if (spec.ipv4) expect(r['ip.checksum.status'], names[i]).toBe('1');
        expect(r[`${l4}.checksum.status`], names[i]).toBe('1');
        if (spec.vlan) expect([r['ieee8021ad.id'], r['vlan.id']].filter(Boolean).join(','), names[i]).toBe((Array.isArray(spec.vlan) ? spec.vlan : [spec.vlan]).map((t) => t.id).join(','));
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.runIf(PYTHON)('byte for byte what Python builds with struct and its own RFC 1071 sum', () => {
    const py = String.raw`
import struct, socket, sys
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
eth = lambda t: bytes.fromhex('020000000002') + bytes.fromhex('020000000001') + struct.pack('!H', t)
def ip4(proto, src, dst, payload, ttl=64, ident=0):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident, 0x4000, ttl, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack('!H', csum(h)) + h[12:], socket.inet_aton(src) + socket.inet_aton(dst)
out = []
data = b'hello, netkit'
u = struct.pack('!HHHH', 40000, 53, 8 + len(data), 0) + data
h, ph = ip4(17, '10.0.0.1', '10.0.0.2', u, ident=7)
c = csum(ph + struct.pack('!BBH', 0, 17, len(u)) + u) or 0xffff
out.append(eth(0x0800) + h + u[:6] + struct.pack('!H', c) + data)
t = struct.pack('!HHIIBBHHH', 33000, 80, 1, 2, 0x50, 0x18, 65535, 0, 0) + b'GET / HTTP/1.0\r\n\r\n'
h, ph = ip4(6, '10.1.2.3', '10.3.2.1', t)
c = csum(ph + struct.pack('!BBH', 0, 6, len(t)) + t)
out.append(eth(0x0800) + h + t[:16] + struct.pack('!H', c) + t[18:])
s6, d6 = socket.inet_pton(socket.AF_INET6, 'fe80::1'), socket.inet_pton(socket.AF_INET6, 'ff02::1')
m = struct.pack('!BBHHH', 128, 0, 0, 9, 2) + bytes(range(8))
c = csum(s6 + d6 + struct.pack('!IxxxB', len(m), 58) + m)
out.append(eth(0x86dd) + struct.pack('!IHBB', 6 << 28, len(m), 58, 255) + s6 + d6 + m[:2] + struct.pack('!H', c) + m[4:])
print('\n'.join(o.hex() for o in out))
`;
    const want = execFileSync('python3', ['-c', py], { encoding: 'utf8' }).trim().split('\n');
    const got = ['udp4', 'tcp4 PA', 'icmp6 echo'].map((n) => Buffer.from(buildPacket(SPECS[n]!)).toString('hex'));
    expect(got).toEqual(want);
  });
});
