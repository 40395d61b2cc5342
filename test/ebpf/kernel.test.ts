import { beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { buildPacket, parsePacket } from '../../src/packet.js';
import { kernelRefusal, kernelRun as run, kernelUnavailableReason, refusalReason } from '../helpers/kernel.js';

const DIR = new URL('../fixtures/bpf/', import.meta.url).pathname;
const reason = kernelUnavailableReason();

let current: TestContext | undefined;
/** kernelRun, but a fixture this kernel refuses skips the test with the kernel's reason. */
function kernelRun(...args: Parameters<typeof run>): ReturnType<typeof run> {
  const why = kernelRefusal(args[0], args[1]);
  if (why !== undefined) {
    console.warn(`${args[0].split('/').pop()}: refused by this kernel: ${why}`);
    current?.skip(`refused by this kernel: ${why}`);
  }
  return run(...args);
}

/** Ethernet + IPv4 (checksum made wrong on purpose) + UDP to `dport`. */
function udpPacket(dport: number): Uint8Array {
  const p = buildPacket({ eth: { dst: '02:02:02:02:02:02', src: '04:04:04:04:04:04' }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2', id: 1, df: false }, udp: { sport: 12345, dport, checksum: false }, payload: 4 });
  p.set([0xaa, 0xbb], 24);
  return p;
}

/** The IPv4 header checksum as it should read on the wire (the packet API's). */
function ipv4Checksum(p: Uint8Array): number {
  return parsePacket(buildPacket({ ipv4: { ...parsePacket(p).ipv4!, protocol: 17 }, udp: { sport: 12345, dport: 0 }, payload: 4 })).ipv4!.checksum;
}

describe.skipIf(reason !== undefined)(`kernel BPF_PROG_TEST_RUN via bpftool (${reason ?? 'available'})`, () => {
  beforeEach((ctx) => { current = ctx; });
  it('netkit/primary policy: DROP for the blocked port, PASS otherwise', () => {
    expect(kernelRun(DIR + 'netkit_drop_port.o', 'drop_port', udpPacket(8080)).retval).toBe(2);
    expect(kernelRun(DIR + 'netkit_drop_port.o', 'drop_port', udpPacket(53)).retval).toBe(0);
  });

  it('returns the rewritten packet: the checksum loop fixes the IPv4 header', () => {
    const pkt = udpPacket(53);
    const r = kernelRun(DIR + 'csum_loop.o', 'fix_csum', pkt, 10);
    expect(r.retval).toBe(0);
    expect(r.dataOut.length).toBe(pkt.length);
    expect((r.dataOut[24]! << 8) | r.dataOut[25]!).toBe(ipv4Checksum(pkt));
    expect(Array.from(r.dataOut.subarray(26))).toEqual(Array.from(pkt.subarray(26)));
    expect(r.durationNs).toBeGreaterThan(0);
  });

  it('CO-RE: libbpf patches the local __sk_buff to the same uapi offsets the loader does', () => {
    const ctx = new Uint8Array(192);
    new DataView(ctx.buffer).setUint32(48 + 12, 0xdead, true); // cb[3], overwritten with vlan_tci (0)
    const pkt = udpPacket(53);
    const r = kernelRun(DIR + 'core_access.o', 'core_mark', pkt, 1, { ctxIn: ctx });
    expect(r.retval).toBe(1); // vlan_tci exists, not_in_uapi does not
    const out = new DataView(r.ctxOut!.buffer, r.ctxOut!.byteOffset);
    expect(out.getUint32(8, true)).toBe(pkt.length + 4); // mark = len + field_size(priority)
    expect(out.getUint32(32, true)).toBe(0x0008); // priority = protocol (be16 0x0800 read as u32)
    expect(out.getUint32(60, true)).toBe(0);
  });

  it('bpf_loop callback: the kernel sums 0..4 into mark', () => {
    const r = kernelRun(DIR + 'subprog.o', 'loop_sum', new Uint8Array(60), 1, { ctxIn: new Uint8Array(192) });
    expect(r.retval).toBe(0);
    expect(new DataView(r.ctxOut!.buffer, r.ctxOut!.byteOffset).getUint32(8, true)).toBe(10);
  });

  it('global data and map updates accumulate inside one load', () => {
    const r = kernelRun(DIR + 'globals.o', 'mark_long', new Uint8Array(60), 5);
    expect(r.retval).toBe(0);
    expect(kernelRun(DIR + 'globals.o', 'mark_long', new Uint8Array(40)).retval).toBe(2); // min_len 60 → TC_ACT_SHOT
  });

  it('xdp: UDP frames go to the xskmap (empty: falls back to XDP_PASS)', () => {
    expect(kernelRun(DIR + 'xdp_xsk.o', 'xsk_redirect', udpPacket(53)).retval).toBe(2);
  });
});

describe('kernel helper', () => {
  it('reports why kernel runs are skipped', () => {
    if (reason !== undefined) console.warn(`kernel differential tests skipped: ${reason}`);
    expect(reason === undefined || reason.length > 0).toBe(true);
  });
});

describe('kernel refusals', () => {
  it('name the verifier\'s reason: the line before "processed N insns"', () => {
    const log = [
      'libbpf: prog \'xdp_meta\': BPF program load failed: Invalid argument',
      'libbpf: prog \'xdp_meta\': -- BEGIN PROG LOAD LOG --',
      '0: R1=ctx() R10=fp0',
      '; return bpf_xdp_adjust_meta(ctx, -4) ? XDP_ABORTED : XDP_PASS;',
      '2: (85) call bpf_xdp_adjust_meta#54',
      'program of this type cannot use helper bpf_xdp_adjust_meta#54',
      'processed 3 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
      '-- END PROG LOAD LOG --',
      'libbpf: failed to load object',
    ].join('\n');
    expect(refusalReason(log)).toBe('program of this type cannot use helper bpf_xdp_adjust_meta#54');
    expect(refusalReason('libbpf: failed to open object file\nError: failed to open object file')).toBe('libbpf: failed to open object file');
  });
});
