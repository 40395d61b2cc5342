import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, runScript } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { formatIp6, parseIp6 } from '../../src/net/stack/addr6.js';
import { IFA_F_TENTATIVE } from '../../src/net/stack/addrconf.js';

// IPv6 addresses in a namespace's stack (addrconf.ts): what the kernel makes on up, per
// device kind and addrgenmode, and DAD on the virtual clock. (The iproute2 output of all
// this is held to the kernel by test/cli/ip-live.test.ts and ip6-dad-live.test.ts.)

let emu: Emulator;
beforeEach(async () => { emu = await Emulator.create({}); });
afterEach(async () => { await emu.close(); });

const ip = async (line: string): Promise<string> => {
  const r = await runCommand(emu, line.split(' '));
  expect(r.stderr, line).toBe('');
  return r.stdout;
};

describe('IPv6 addresses', () => {
  it('prints and parses as glibc does', () => {
    for (const [text, canon] of [
      ['::1', '::1'], ['::', '::'], ['0:0:0:0:0:0:0:2', '::2'], ['1:0:0:1:0:0:0:1', '1:0:0:1::1'], ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
      ['2001:DB8::1', '2001:db8::1'], ['::ffff:10.0.0.1', '::ffff:10.0.0.1'], ['::1.2.3.4', '::1.2.3.4'], ['fe80::', 'fe80::'],
    ] as const) expect(formatIp6(parseIp6(text)!), text).toBe(canon);
    for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', '10.0.0.1', 'g::1', '1:2:3:4:5:6:7', ':::']) expect(parseIp6(bad), bad).toBeNull();
  });

  it('lo gets ::1/128; a netkit L3 pair (NOARP, zero MAC, ARPHRD_ETHER) gets fe80::200:ff:fe00:0/64 without DAD', async () => {
    await runScript(emu, 'ip netns add a\nip -n a link set lo up\nip -n a link add nk0 type netkit peer name nk1\nip -n a link set nk0 up\nip -n a link set nk1 up');
    const st = emu.stack('a').inet6;
    expect(st.addresses().map((a) => [a.ifindex, formatIp6(a.addr), a.prefixLen, a.flags & IFA_F_TENTATIVE])).toEqual([
      [1, '::1', 128, 0], [2, 'fe80::200:ff:fe00:0', 64, 0], [3, 'fe80::200:ff:fe00:0', 64, 0],
    ]);
    expect(await ip('ip -n a -6 route')).toBe('fe80::/64 dev nk1 proto kernel metric 256 pref medium\nfe80::/64 dev nk0 proto kernel metric 256 pref medium\n');
  });

  it('an L2 pair: eui64 link-local addresses, tentative for 1 s of virtual time, then settled', async () => {
    await runScript(emu, 'ip link add nka address 02:00:00:00:00:0a type netkit mode l2 peer name nkb address 02:00:00:00:00:0b\nip link set nka up');
    // (no carrier until the peer is up: not ready, nothing made yet)
    expect(await ip('ip -6 addr show nka')).toBe('');
    await ip('ip link set nkb up');
    expect(await ip('ip -6 -o addr show nka')).toBe('3: nka    inet6 fe80::ff:fe00:a/64 scope link tentative \\       valid_lft forever preferred_lft forever\n');
    emu.sleep(0.999);
    expect(await ip('ip -6 addr show tentative')).not.toBe('');
    emu.sleep(0.001);
    expect(await ip('ip -6 addr show tentative')).toBe('');
    expect(await ip('ip -6 -o addr show nka')).toBe('3: nka    inet6 fe80::ff:fe00:a/64 scope link \\       valid_lft forever preferred_lft forever\n');
  });

  it('addrgenmode none makes no link-local address (and no fe80::/64 route); random makes one from a seeded generator', async () => {
    await runScript(emu, [
      'ip link add nka type netkit mode l2 peer name nkb',
      'ip link set nka addrgenmode none', 'ip link set nkb addrgenmode random', 'ip link set nka up', 'ip link set nkb up',
    ].join('\n'));
    const st = emu.stack().inet6;
    expect(st.addresses().filter((a) => a.scope === 'link').map((a) => a.ifindex)).toEqual([2]);
    const ll = st.addresses(2)[0]!.addr;
    expect(ll >> 64n).toBe(0xfe80000000000000n);
    expect((ll >> 57n) & 1n).toBe(0n);
    expect(await ip('ip -6 route')).toBe('fe80::/64 dev nkb proto kernel metric 256 pref medium\n');
    expect((await runCommand(emu, ['ip', 'link', 'set', 'nka', 'addrgenmode', 'stable_secret'])).stderr).toBe('RTNETLINK answers: Invalid argument\n');
  });

  it('accept_dad 0 (all and default) skips DAD; nodad does for one address', async () => {
    await runScript(emu, 'ip link add nka type netkit mode l2 peer name nkb\nip link set nka up\nip link set nkb up');
    await ip('ip -6 addr add 2001:db8::1/64 dev nka nodad');
    await ip('sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0');
    await ip('ip -6 addr add 2001:db8::2/64 dev nka');
    expect(await ip('sysctl net.ipv6.conf.all.accept_dad')).toBe('net.ipv6.conf.all.accept_dad = 0\n');
    // (the link-local address was made before the sysctl changed: it is still in DAD)
    expect(emu.stack().inet6.addresses(3).map((a) => [formatIp6(a.addr), a.flags & IFA_F_TENTATIVE])).toEqual([
      ['2001:db8::2', 0], ['2001:db8::1', 0], [formatIp6(emu.stack().inet6.addresses(3)[2]!.addr), IFA_F_TENTATIVE],
    ]);
  });
});
