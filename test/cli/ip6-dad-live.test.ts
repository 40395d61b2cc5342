import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';

// IPv6 duplicate address detection held to this machine's kernel: the same veth / netkit L2
// pair as ip-live.test.ts (tc drops the IPv6 frames both devices send, so DAD hears nothing
// and succeeds), DAD on (accept_dad 1, the default). Right after an address is made it is
// `tentative` on both sides; then the kernel's DAD ends within 5 s of wall time (a random
// delay below rtr_solicit_delay, then one probe and retrans_time, 4 s here), nkemu's after 1 s of
// virtual time, so each step waits on its own clock: the real one until no address is
// tentative, nkemu's by `sleep 2`.

const NS = `nkemu-dad-${process.pid}`;
const reason = process.getuid?.() !== 0 ? 'not root'
  : spawnSync('sh', ['-c', 'command -v ip && command -v tc']).status !== 0 ? 'ip or tc is not installed' : undefined;

let emu: Emulator;
beforeAll(async () => {
  if (reason) return;
  for (const a of [
    ['netns', 'add', NS],
    ['-n', NS, 'link', 'add', 'nka', 'address', '02:00:00:00:00:0a', 'type', 'veth', 'peer', 'name', 'nkb', 'address', '02:00:00:00:00:0b'],
    ...['nka', 'nkb'].flatMap((d) => [['netns', 'exec', NS, 'tc', 'qdisc', 'add', 'dev', d, 'clsact'],
      ['netns', 'exec', NS, 'tc', 'filter', 'add', 'dev', d, 'egress', 'protocol', 'ipv6', 'bpf', 'da', 'bytecode', '1,6 0 0 2,'],
      // (the kernel's DAD probe waits retrans_time: 4 s instead of 1, so that an address is
      // still tentative when the next lines read it on a loaded machine)
      ['netns', 'exec', NS, 'sysctl', '-qw', `net.ipv6.neigh.${d}.retrans_time_ms=4000`]]),
  ]) {
    expect(spawnSync('ip', a).status, a.join(' ')).toBe(0);
  }
  emu = await Emulator.create({});
  const setup = 'ip link add nka address 02:00:00:00:00:0a type netkit mode l2 peer name nkb address 02:00:00:00:00:0b';
  expect((await runScript(emu, setup)).stderr).toBe('');
});
afterAll(async () => {
  if (reason) return;
  spawnSync('ip', ['netns', 'del', NS]);
  await emu.close();
});

/** Until no address in the namespace is tentative (at most 12 s): the kernel's DAD is over. */
async function settled(): Promise<void> {
  for (let i = 0; i < 240; i++) {
    const r = spawnSync('ip', ['-n', NS, '-6', 'addr', 'show', 'tentative'], { encoding: 'utf8' });
    if (r.stdout === '') return;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error('the kernel\'s DAD did not end within 12 s');
}

async function step(line: string): Promise<void> {
  if (line === 'sleep') {
    await settled();
    expect((await runCommand(emu, ['sleep', '2'])).code).toBe(0);
    return;
  }
  const real = spawnSync('ip', ['netns', 'exec', NS, ...splitWords(line)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const mine = await runCommand(emu, splitWords(line));
  expect({ line, out: mine.stdout, err: mine.stderr, code: mine.code }).toEqual({ line, out: real.stdout, err: real.stderr, code: real.status });
}

describe.skipIf(reason !== undefined)(`IPv6 DAD against this machine's kernel (${reason ?? 'root, ip, tc'})`, () => {
  it('link-local and added addresses are tentative, then settle; nodad ones never are', async () => {
    for (const line of [
      'ip link set lo up',
      'ip link set nka up',
      'ip -6 addr',
      'ip link set nkb up',
      'ip -6 addr',
      'ip -6 addr show tentative',
      'ip -6 addr add 2001:db8::1/64 dev nka',
      'ip -6 addr add 2001:db8:1::1/64 dev nka nodad',
      'ip -6 addr show nka',
      'ip -j -6 addr show nka',
      'ip -6 addr show tentative',
      'ip -6 addr show -tentative',
      'ip -6 route',
      'sleep',
      'ip -6 addr',
      'ip -6 addr show tentative',
      'ip -j -6 addr show nka',
      // a device that goes down loses its addresses; one added while it is down waits in
      // DAD (tentative) until the device is ready again, and its link-local one is new
      'ip link set nkb down',
      'ip -6 addr add 2001:db8:9::1/64 dev nkb',
      'ip -6 addr show nkb',
      'ip -6 route',
      'ip link set nkb up',
      'ip -6 addr show nkb',
      'ip -6 addr show nka',
      'sleep',
      'ip -6 addr show nkb',
      'ip -6 route',
    ]) await step(line);
  });
});
