import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, runScript, splitWords } from '../../src/cli/main.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { Emulator } from '../../src/emulator.js';
import { buildIpv4, buildUdp, parseIp } from '../../src/net/stack/packet.js';

const FIX = new URL('../fixtures/bpf/', import.meta.url).pathname;
let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ seed: 3 });
  const r = await runScript(emu, [
    'ip netns add foo', 'ip link add nk1 type netkit peer nk0 netns foo', 'ip link set nk1 up', 'ip netns exec foo ip link set nk0 up',
    'ip addr add 10.0.0.1/24 dev nk1', 'ip netns exec foo ip addr add 10.0.0.2/24 dev nk0',
    `bpftool prog loadall ${FIX}netkit_drop_port.o /sys/fs/bpf/nk`, `bpftool prog loadall ${FIX}tc_counters.o /sys/fs/bpf/tc pinmaps /sys/fs/bpf/tcmaps`,
  ].join('\n'));
  expect(r.stderr).toBe('');
});
afterEach(async () => {
  await emu.close();
});

const sh = (line: string) => runCommand(emu, splitWords(line));

describe('bpftool (with the netkit attach extension)', () => {
  it('prog show, net attach in mprog order, net show (text and -j), link and detach', async () => {
    const show = (await sh('bpftool prog show')).stdout;
    expect(show).toContain('1: sched_cls  name drop_port  tag');
    // Like the kernel's: the image size, and the compiled code's (here a WebAssembly module).
    expect(show).toMatch(/\txlated 224B  jited \d+B/);
    const pj = JSON.parse((await sh('bpftool -j prog show id 1')).stdout) as Record<string, unknown>;
    expect(JSON.parse((await sh('bpftool -j prog show')).stdout)).toHaveLength(3);
    expect(pj).toMatchObject({ id: 1, type: 'sched_cls', name: 'drop_port', bytes_xlated: 224, jited: true });
    expect(pj.bytes_jited).toBeGreaterThan(224);
    expect((await sh('bpftool net attach netkit_primary pinned /sys/fs/bpf/nk/drop_port dev nk1')).code).toBe(0);
    expect((await sh('bpftool net attach netkit_primary pinned /sys/fs/bpf/tc/count dev nk1 before pinned /sys/fs/bpf/nk/drop_port')).code).toBe(0);
    expect((await sh('bpftool net attach netkit_peer name peer_pass dev nk1')).code).toBe(0);
    const j = JSON.parse((await sh('bpftool -j net show')).stdout) as { tc: { kind: string; name: string }[] }[];
    expect(j[0]!.tc.map((e) => `${e.kind} ${e.name}`)).toEqual(['netkit/primary count', 'netkit/primary drop_port', 'netkit/peer peer_pass']);
    expect((await sh('bpftool net show')).stdout).toContain('nk1(2) netkit/primary count prog_id 3 ');
    const peer = await sh('bpftool net attach netkit_primary name count dev nk1');
    expect(peer.stderr).toBe('Error: interface attach failed: File exists\n');
    const viaPeer = await runCommand(emu, splitWords('bpftool net attach netkit_primary name peer_pass dev nk0'), 'foo');
    expect(viaPeer.stderr).toBe('Error: interface attach failed: Permission denied\n');
    expect((await sh('bpftool net detach netkit_primary dev nk1')).code).toBe(0);
    expect(emu.progQuery('init', { ifindex: 2, attachType: 'netkit_primary' }).progIds).toEqual([3]);
  });

  it("map show names the newer map types as bpftool does (a DEVMAP_HASH is read-only for programs: flags 0x80)", async () => {
    expect((await sh(`bpftool prog loadall ${FIX}map_types.o /sys/fs/bpf/mt pinmaps /sys/fs/bpf/mtmaps`)).stderr).toBe('');
    const show = (m: string) => sh(`bpftool map show pinned /sys/fs/bpf/mtmaps/${m}`).then((r) => r.stdout.replace(/^\d+: /, '').replace(/ {2}memlock \d+B/, '').replace(/\n\tbtf_id \d+/, ''));
    // (as this machine's bpftool prints them, less the id and memlock)
    expect(await show('fifo')).toBe('queue  name fifo  flags 0x0\n\tkey 0B  value 4B  max_entries 4\n');
    expect(await show('lifo')).toBe('stack  name lifo  flags 0x0\n\tkey 0B  value 4B  max_entries 4\n');
    expect(await show('bloom6')).toBe('bloom_filter  name bloom6  flags 0x40\n\tkey 0B  value 6B  max_entries 16\n');
    expect(await show('devh')).toBe('devmap_hash  name devh  flags 0x80\n\tkey 4B  value 4B  max_entries 8\n');
    expect(await show('cpus')).toBe('cpumap  name cpus  flags 0x0\n\tkey 4B  value 4B  max_entries 4\n');
  });

  it("map update … value cgroup /sys/fs/cgroup (nkemu's): the root cgroup into a cgroup array, which bpf_skb_under_cgroup then finds", async () => {
    expect((await sh(`bpftool prog loadall ${FIX}cgroup_array.o /sys/fs/bpf/cg pinmaps /sys/fs/bpf/cgmaps`)).stderr).toBe('');
    const CG = 'pinned /sys/fs/bpf/cgmaps/cgroups';
    const run = async (): Promise<string> => {
      writeFileSync(join(dir, 'in'), new Uint8Array(64).fill(8, 12, 13));
      return (await sh(`bpftool prog run pinned /sys/fs/bpf/cg/under_cgroup data_in ${join(dir, 'in')}`)).stdout;
    };
    const dir = mkdtempSync(join(tmpdir(), 'nkemu-cg-'));
    // (slot 0 empty: -EAGAIN, so the program returns 2)
    expect(await run()).toMatch(/^Return value: 2,/);
    for (const [line, err, code] of [
      ['value cgroup /sys/fs/cgroup/foo', "Error: can't open cgroup /sys/fs/cgroup/foo: nkemu has one cgroup, its root, /sys/fs/cgroup", 255],
      ['value cgroup /tmp', "Error: can't open cgroup /tmp: nkemu has one cgroup, its root, /sys/fs/cgroup", 255],
      ['value cgroup /sys/fs/cgroup noexist', 'Error: update failed: Invalid argument', 234],
      // (bytes are an fd number; nkemu has none)
      ['value 3 0 0 0', 'Error: update failed: Bad file descriptor', 247],
    ] as const) {
      const r = await sh(`bpftool map update ${CG} key 0 0 0 0 ${line}`);
      expect([r.stderr.trim(), r.code], line).toEqual([err, code]);
    }
    expect((await sh(`bpftool map update ${CG} key 4 0 0 0 value cgroup /sys/fs/cgroup`)).stderr.trim()).toBe('Error: update failed: Argument list too long');
    expect((await sh(`bpftool map update ${CG} key 0 0 0 0 value cgroup /sys/fs/cgroup/`)).code).toBe(0);
    expect(await run()).toMatch(/^Return value: 0,/);
    // user space cannot read it back (ENOTSUPP), as the kernel's
    expect((await sh(`bpftool map lookup ${CG} key 0 0 0 0`)).stderr.trim()).toBe('Error: lookup failed: Unknown error 524');
    expect((await sh(`bpftool map delete ${CG} key 0 0 0 0`)).code).toBe(0);
    expect(await run()).toMatch(/^Return value: 2,/);
  });

  it('traffic through attached programs updates the maps bpftool dumps', async () => {
    await sh('bpftool net attach netkit_primary pinned /sys/fs/bpf/tc/count dev nk1');
    expect((await sh('ping -c 3 10.0.0.2')).code).toBe(0);
    const dump = JSON.parse((await sh('bpftool -j map dump pinned /sys/fs/bpf/tcmaps/proto_count')).stdout) as { key: string[]; value: string[] }[];
    // (the map's BTF types, __u32 and __u64, format the bytes as numbers)
    expect(dump[1]).toEqual({ key: ['0x01', '0x00', '0x00', '0x00'], value: ['0x03', '0x00', '0x00', '0x00', '0x00', '0x00', '0x00', '0x00'], formatted: { key: 1, value: 3 } });
    expect((await sh('bpftool map lookup pinned /sys/fs/bpf/tcmaps/src_bytes key 0x0a 0 0 1')).stdout).toBe('{\n    "key": 16777226,\n    "value": 294\n}\n');
    const up = await sh('bpftool map update pinned /sys/fs/bpf/tcmaps/src_bytes key 0x0a 0 0 1 value 1 0 0 0 0 0 0 0 noexist');
    expect(up.stderr).toBe('Error: update failed: File exists\n');
  });

  it('prog run: BPF_PROG_TEST_RUN with data files, repeat, and the kernel\'s size rule', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nkemu-bpftool-'));
    const src = parseIp('10.0.0.1')!;
    const dst = parseIp('10.0.0.2')!;
    writeFileSync(join(dir, 'in'), buildIpv4(new Uint8Array(6), new Uint8Array(6), { src, dst, proto: 17 }, buildUdp(src, dst, 1, 8080, new Uint8Array(4))));
    const r = await sh(`bpftool -j prog run pinned /sys/fs/bpf/nk/drop_port data_in ${join(dir, 'in')} data_out ${join(dir, 'out')} repeat 100`);
    expect(JSON.parse(r.stdout)).toMatchObject({ retval: 2, duration: expect.any(Number) });
    expect(readFileSync(join(dir, 'out'))).toEqual(readFileSync(join(dir, 'in')));
    writeFileSync(join(dir, 'short'), new Uint8Array(30).fill(0).map((_, i) => (i === 12 ? 8 : 0)));
    expect((await sh(`bpftool prog run pinned /sys/fs/bpf/nk/drop_port data_in ${join(dir, 'short')}`)).stderr).toBe('Error: failed to run program: Invalid argument\n');
  });

  it('prog loadall … type TYPE sets every program\'s type (sections libbpf cannot classify), as libbpf\'s bpf_program__set_type', async () => {
    const bare = await sh(`bpftool prog loadall ${FIX}old_sections.o /sys/fs/bpf/old`);
    expect(bare.code).toBe(255);
    expect(bare.stderr.split('\n')[0]).toBe('libbpf: failed to guess program type from ELF section \'xdp_sock\'');
    expect((await sh(`bpftool prog loadall ${FIX}old_sections.o /sys/fs/bpf/old type nonsense`)).stderr.split('\n')[0])
      .toBe('libbpf: failed to guess program type from ELF section \'nonsense/\'');
    expect((await sh(`bpftool prog loadall ${FIX}old_sections.o /sys/fs/bpf/old type xdp`)).code).toBe(0);
    const pj = JSON.parse((await sh('bpftool -j prog show pinned /sys/fs/bpf/old/patch_ports')).stdout) as { type: string; name: string };
    expect(pj).toMatchObject({ type: 'xdp', name: 'patch_ports' });
  });

  it('prog run of a program that faults: the fault (kind, instruction) as an error, exit 255, no made-up return value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nkemu-bpftool-'));
    writeFileSync(join(dir, 'in'), new Uint8Array(60));
    // r0 = 7; r1 = *(u8 *)(r0 + 0): a read of address 7 (bytecode the kernel's verifier refuses)
    const p = emu.loadProgram({ name: 'faulty', type: 'sched_cls', insns: assemble('mov %r0, 7\nldxb %r1, [%r0+0]\nexit'), verify: false });
    const text = await sh(`bpftool prog run id ${p.id} data_in ${join(dir, 'in')}`);
    expect(text).toMatchObject({ code: 255, stdout: '' });
    expect(text.stderr).toBe('Error: failed to run program: the program faulted (read at instruction 1), which the kernel\'s verifier would have refused to load\n');
    const json = await sh(`bpftool -j prog run id ${p.id} data_in ${join(dir, 'in')} repeat 3`);
    expect(json.code).toBe(255);
    expect(JSON.parse(json.stdout)).toEqual({ error: 'failed to run program: the program faulted (read at instruction 1), which the kernel\'s verifier would have refused to load' });
  });
});
