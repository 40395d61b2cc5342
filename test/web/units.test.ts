/**
 * The playground's pieces that need no browser: every scenario is an `nkemu run` script
 * that runs clean in Node (the same file, the CLI's runScript), the console's completion,
 * and the packet view's dissection and hex dump.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { runScript } from '../../src/cli/run.js';
import { buildPacket } from '../../src/packet.js';
import { complete, type CompletionWorld } from '../../web/src/complete.js';
import { dissect, hexdump, summary } from '../../web/src/packets.js';
import { ROOT } from './page.js';

const FILES = ['web/scenarios/pair.nk', 'web/scenarios/blackhole.nk', 'examples/io_uring.nk', 'examples/notifier.nk', 'examples/xdpsock.nk', 'web/scenarios/ebpf-policy.nk'];

describe('the scenarios are nkemu run scripts', () => {
  it('the page lists exactly these files', () => {
    const src = readFileSync(join(ROOT, 'web/src/scenarios.ts'), 'utf8');
    expect([...src.matchAll(/file: '([^']+)'/g)].map((m) => m[1])).toEqual(FILES);
  });

  it.each(FILES)('%s runs clean with the CLI in Node', async (file) => {
    const emu = await Emulator.create({ seed: 42 });
    try {
      // (from the repository root, where the scripts name test/fixtures/bpf/*.o)
      const cwd = process.cwd();
      process.chdir(ROOT);
      try {
        const r = await runScript(emu, readFileSync(join(ROOT, file), 'utf8'), file);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      } finally {
        process.chdir(cwd);
      }
    } finally {
      await emu.close();
    }
  }, 60_000);
});

describe('console completion', () => {
  const w: CompletionWorld = {
    namespaces: ['blue', 'foo'],
    devices: new Map([['init', ['lo', 'nk1', 'eth0']], ['blue', ['lo', 'nk0']]]),
    files: ['test/fixtures/bpf/xdp_xsk.o', 'uploads/a.o'],
    scenarios: ['pair', 'xdpsock'],
  };
  const c = (line: string): string[] => complete(line, w).choices;

  it('tools, subcommands, devices, namespaces, files', () => {
    expect(c('bp')).toEqual(['bpftool']);
    expect(c('ip li')).toEqual(['link']);
    expect(c('ip link set ')).toEqual(['eth0', 'lo', 'nk1']);
    expect(c('ip -n blue link show n')).toEqual(['nk0']);
    expect(c('ip netns exec b')).toEqual(['blue']);
    expect(c('ip netns exec blue ip link set n')).toEqual(['nk0']);
    expect(c('pktgen dev e')).toEqual(['eth0']);
    expect(c('bpftool prog loadall u')).toEqual(['uploads/a.o']);
    expect(c('bpftool net attach netkit_p')).toEqual(['netkit_peer', 'netkit_primary']);
    expect(c('scenario x')).toEqual(['xdpsock']);
    expect(complete('ip link show n', w)).toEqual({ prefix: 'ip link show ', choices: ['nk1'] });
  });
});

describe('packet view', () => {
  const f = buildPacket({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 9, dport: 8080 }, payload: 'hi' });

  it('a summary line, headers dissected, bytes in hex', () => {
    expect(summary(f)).toBe('10.0.0.1 → 10.0.0.2 UDP 9 → 8080');
    expect(dissect(f)).toMatch(/^Ethernet II, Src: 02:00:00:00:00:01, Dst: 02:00:00:00:00:02, Type: 0x0800\nInternet Protocol Version 4, Src: 10\.0\.0\.1, Dst: 10\.0\.0\.2\n[^]*User Datagram Protocol, Src Port: 9, Dst Port: 8080\n    Length: 10, Checksum: 0x[0-9a-f]{4} \[correct\]\nData \(2 bytes\)$/);
    expect(hexdump(f).split('\n')[0]).toBe('0000  02 00 00 00 00 02 02 00  00 00 00 01 08 00 45 00  ..............E.');
    expect(summary(f.subarray(0, 20))).toMatch(/^malformed: frame too short for IPv4/);
  });
});
