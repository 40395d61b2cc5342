/**
 * `nkemu demo` (what `npm start` runs): builds the netkit selftests' topology, an L2
 * pair with a blackhole peer, and a NIC whose queue is leased to a netkit peer with a
 * zero-copy receiver behind it; pings, generates traffic, then unplugs the NIC and
 * prints what the notifier removed and a summary of every device's counters.
 */

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Emulator } from '../emulator.js';
import { NetdevEvent } from '../net/notifier.js';
import { runCommand, splitWords } from './run.js';

export async function demo(write: (s: string) => void, o: { workers?: number } = {}): Promise<number> {
  const t0 = performance.now();
  const emu = await Emulator.create({ workers: o.workers ?? 0, seed: 42 });
  try {
    const run = async (line: string, expectCode = 0): Promise<void> => {
      write(`$ ${line}\n`);
      const r = await runCommand(emu, splitWords(line));
      write(r.stdout + r.stderr);
      if (r.code !== expectCode) throw new Error(`demo step failed (${r.code}): ${line}`);
    };
    write('# 1. A netkit pair across namespaces (tools/testing/selftests/bpf tc_netkit topology)\n');
    await run('ip netns add blue');
    await run('ip link add nk1 type netkit mode l3 peer nk0 netns blue');
    await run('ip link set nk1 up');
    await run('ip -n blue link set nk0 up');
    await run('ip addr add 10.0.0.1/24 dev nk1');
    await run('ip -n blue addr add 10.0.0.2/24 dev nk0');
    await run('ping -c 3 10.0.0.2');
    await run('ip -d link show nk1');
    await run('pktgen dev nk1 count 500 size 64 dst 10.0.0.2 dport 7 flows 16');

    write('\n# 2. An L2 pair whose peer blackholes what it sends\n');
    await run('ip netns add red');
    await run('ip link add nk3 type netkit mode l2 forward peer blackhole nk2 netns red');
    await run('ip link set nk3 up');
    await run('ip -n red link set nk2 up');
    await run('ip addr add 10.1.0.1/24 dev nk3');
    await run('ip -n red addr add 10.1.0.2/24 dev nk2');
    await run('ping -c 2 10.1.0.2', 1);
    await run('ip -n red -s link show nk2');

    write('\n# 3. A NIC queue leased to a netkit peer (io_uring zero-copy receive, with a stand-in)\n');
    await run('nic add eth0 rxqueues 16');
    await run('ip link set eth0 up');
    await run('ip addr add 192.168.1.1/24 dev eth0');
    await run('ip link add nkh type netkit peer nkg numrxqueues 2');
    const nkg = emu.device('init', 'nkg').ifindex;
    const eth0 = emu.device('init', 'eth0').ifindex;
    await run(`ynl --family netdev --do queue-create --json '{"ifindex": ${nkg}, "type": "rx", "lease": {"ifindex": ${eth0}, "queue": {"type": "rx", "id": 15}}}'`);
    await run('ip netns add foo');
    await run('ip link set nkg netns foo');
    await run('ip link set nkh up');
    await run('ip -n foo link set nkg up');
    await run('ip -n foo addr add 1.2.3.4/32 dev nkg');
    await run('ip route add 1.2.3.4/32 dev nkh');
    await run('sysctl -w net.ipv4.ip_forward=1');
    await run('ethtool -X eth0 start 0 equal 15');
    await run('ethtool -N eth0 flow-type tcp4 dst-ip 1.2.3.4 dst-port 5000 action 15');
    await run('ip netns exec foo zcrx bind dev nkg queue 1 buffers 128');
    await run('wire eth0 count 64 dst 1.2.3.4 dport 5000 proto tcp flows 8');
    await run('zcrx show');
    await run(`ynl --family netdev --do queue-get --json '{"ifindex": ${eth0}, "type": "rx", "id": 15}'`);

    write('\n# 4. The NIC goes away: the netkit notifier takes its lessee (and the peer) along\n');
    const events: string[] = [];
    emu.notifier.subscribe((ev, dev) => { if (ev === NetdevEvent.UNREGISTER) events.push(`${dev.netns.name}/${dev.name}`); });
    await run('nic del eth0');
    write(`unregistered in one batch: ${events.join(', ')}\n`);
    await run('ip link show');

    // The fixture object next to the sources (run from dist/src/cli or from src/cli).
    const fixture = ['../../../test/fixtures/bpf/netkit_drop_port.o', '../../test/fixtures/bpf/netkit_drop_port.o']
      .map((rel) => new URL(rel, import.meta.url)).find((u) => existsSync(u));
    if (fixture) {
      write('\n# 5. A clang-compiled netkit policy (drops UDP port 8080), attached with bpftool\n');
      await run(`bpftool prog loadall ${fileURLToPath(fixture)} /sys/fs/bpf/demo`);
      await run('bpftool net attach netkit_primary pinned /sys/fs/bpf/demo/drop_port dev nk1');
      await run('bpftool net show');
      await run('pktgen dev nk1 count 100 size 64 dst 10.0.0.2 dport 8080');
      await run('pktgen dev nk1 count 100 size 64 dst 10.0.0.2 dport 53');
    }

    write('\n# Summary\n');
    const rows: string[][] = [['netns', 'device', 'kind', 'rx_packets', 'tx_packets', 'tx_dropped', 'drop reasons']];
    for (const ns of ['init', ...emu.listNetns()]) {
      for (const d of emu.links(ns)) {
        const s = emu.stats(d);
        rows.push([ns, d.name, d.kind, String(s.rxPackets), String(s.txPackets), String(s.txDropped), Object.entries(s.dropReasons).map(([k, v]) => `${k}=${v}`).join(' ')]);
      }
    }
    const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const r of rows) write(`${r.map((x, c) => x.padEnd(w[c]!)).join('  ').trimEnd()}\n`);
    write(`\ndone in ${((performance.now() - t0) / 1000).toFixed(2)} s (${emu.workers} dataplane worker${emu.workers === 1 ? '' : 's'})\n`);
    return 0;
  } finally {
    await emu.close();
  }
}
