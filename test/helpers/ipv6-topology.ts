/**
 * The IPv6 router topology of test/net/ipv6.test.ts and test/trace/drop6.test.ts: host a —
 * netkit L2 pair (neighbour discovery) — router r — netkit L3 pair (NOARP) — host b, with
 * 2001:db8:a::/64 and 2001:db8:b::/64 and default routes through r, DAD settled.
 */
import { expect } from 'vitest';
import { runScript } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';

export async function ipv6Router(): Promise<Emulator> {
  const emu = await Emulator.create({});
  const r = await runScript(emu, [
    'ip netns add a', 'ip netns add b', 'ip netns add r',
    'ip -n a link add va address 02:00:00:00:00:0a type netkit mode l2 peer name ra address 02:00:00:00:00:01 netns r',
    'ip -n b link add vb type netkit peer name rb netns r',
    'ip -n a link set va up', 'ip -n b link set vb up', 'ip -n r link set ra up', 'ip -n r link set rb up',
    'ip -n a -6 addr add 2001:db8:a::1/64 dev va', 'ip -n r -6 addr add 2001:db8:a::fe/64 dev ra',
    'ip -n r -6 addr add 2001:db8:b::fe/64 dev rb', 'ip -n b -6 addr add 2001:db8:b::1/64 dev vb',
    'ip -n a -6 route add default via 2001:db8:a::fe', 'ip -n b -6 route add default via 2001:db8:b::fe',
    'sleep 1',
  ].join('\n'));
  expect(r.stderr).toBe('');
  return emu;
}
