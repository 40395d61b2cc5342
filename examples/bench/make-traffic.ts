// examples/bench/make-traffic.ts: writes traffic.pcap, the capture the README's bench
// replays: 64 frames from a few hosts, UDP and TCP to common ports, a quarter of them to
// ports the example filters block. `npx tsx examples/bench/make-traffic.ts`
import { writeFileSync } from 'node:fs';
import { buildPacket } from '../../src/index.js';

const PORTS = [80, 443, 53, 8080, 22, 123, 443, 80, 5353, 443, 3000, 37810, 80, 443, 9000, 11211];
const frames: Uint8Array[] = [];
for (let i = 0; i < 64; i++) {
  const dport = PORTS[i % PORTS.length]!;
  const l4 = i % 3 === 0 ? { tcp: { sport: 40000 + i, dport, flags: 'S' } } : { udp: { sport: 40000 + i, dport } };
  frames.push(buildPacket({
    eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
    ipv4: { src: `192.0.2.${1 + (i % 7)}`, dst: '198.51.100.10' },
    ...l4,
    size: [64, 128, 512, 64, 1500][i % 5],
  }));
}
// Classic pcap, microsecond timestamps, one frame every 10 µs.
const out = [Buffer.alloc(24)];
out[0]!.writeUInt32LE(0xa1b2c3d4, 0);
out[0]!.writeUInt16LE(2, 4);
out[0]!.writeUInt16LE(4, 6);
out[0]!.writeUInt32LE(65535, 16);
out[0]!.writeUInt32LE(1, 20);
frames.forEach((f, i) => {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(1_700_000_000, 0);
  h.writeUInt32LE(i * 10, 4);
  h.writeUInt32LE(f.length, 8);
  h.writeUInt32LE(f.length, 12);
  out.push(h, Buffer.from(f));
});
writeFileSync(new URL('./traffic.pcap', import.meta.url), Buffer.concat(out));
