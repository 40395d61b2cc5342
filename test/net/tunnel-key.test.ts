import { afterEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { assemble } from '../../src/ebpf/assembler.js';
import type { BpfProgram } from '../../src/ebpf/program.js';
import { buildPacket } from '../../src/packet.js';

// Tunnel metadata (bpf_skb_set_tunnel_key) lives on the skb as the kernel's metadata_dst
// does: the list's later programs see it, so does the peer's tcx ingress after a netkit
// program (nothing drops the dst in between), but not a netkit program after tcx egress
// (netkit's scrub drops the dst first), and every new packet starts without it. The
// programs' verdicts are NEXT; GET writes what it read into skb->mark, which the peer's
// UDP socket reports: the tunnel id, or 1000 - errno (1022: -EINVAL, no metadata).

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

const ZERO_KEY = [-48, -40, -32, -24, -16, -8].map((o) => `stxdw [%r10${o}], %r1`).join('\n');
const SET = `
    mov %r6, %r1
    mov %r1, 0
    ${ZERO_KEY}
    mov %r1, 42
    stxw [%r10-48], %r1
    mov %r1, %r6
    mov %r2, %r10
    add %r2, -48
    mov %r3, 44
    mov %r4, 0
    call 21
    mov %r0, -1
    exit`;
const GET = `
    mov %r6, %r1
    mov %r1, 0
    ${ZERO_KEY}
    mov %r1, %r6
    mov %r2, %r10
    add %r2, -48
    mov %r3, 44
    mov %r4, 0
    call 20
    mov %r1, 1000
    sub %r1, %r0
    jne %r0, 0, out
    ldxw %r1, [%r10-48]
  out:
    stxw [%r6+8], %r1
    mov %r0, -1
    exit`;

const NO_METADATA = 1022;

describe.each([true, false])('tunnel metadata on the packet (compiled: %s)', (jit) => {
  let nk1: number;
  let nk0: number;
  const prog = (name: string, text: string): BpfProgram => emu.loadProgram({ name, type: 'sched_cls', insns: assemble(text) });

  async function pair(): Promise<void> {
    emu = await Emulator.create({ seed: 3, jit });
    emu.addNetns('foo');
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l3', scrub: 'none', peerScrub: 'none', peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
    emu.setLink('init', 'nk1', { up: true });
    emu.setLink('foo', 'nk0', { up: true });
    emu.addAddress('init', 'nk1', '10.0.0.1/24');
    emu.addAddress('foo', 'nk0', '10.0.0.2/24');
    nk1 = emu.device('init', 'nk1').ifindex;
    nk0 = emu.device('foo', 'nk0').ifindex;
  }

  /** The marks the peer's socket sees for `n` datagrams sent out of nk1. */
  async function marks(n = 1): Promise<number[]> {
    const sock = emu.stack('foo').udpBind({ port: 7 });
    const p = buildPacket({ eth: { dst: new Uint8Array(6), src: new Uint8Array(6) }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1000, dport: 7 }, payload: new Uint8Array(8) });
    for (let i = 0; i < n; i++) emu.transmit('init', 'nk1', p, { mark: 0 });
    await emu.settle();
    const got = sock.recv().map((d) => d.mark);
    sock.close();
    return got;
  }

  it('a netkit program sets it; the peer tcx ingress reads it', async () => {
    await pair();
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: prog('set', SET) });
    emu.progAttach('foo', { ifindex: nk0, attachType: 'tcx_ingress', prog: prog('get', GET) });
    expect(await marks()).toEqual([42]);
  });

  it('a packet reaches tcx ingress without it when no netkit program ran', async () => {
    await pair();
    emu.progAttach('foo', { ifindex: nk0, attachType: 'tcx_ingress', prog: prog('get', GET) });
    expect(await marks(3)).toEqual([NO_METADATA, NO_METADATA, NO_METADATA]);
  });

  it('netkit drops what tcx egress set before its programs run', async () => {
    await pair();
    emu.progAttach('init', { ifindex: nk1, attachType: 'tcx_egress', prog: prog('set', SET) });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: prog('get', GET) });
    expect(await marks()).toEqual([NO_METADATA]);
  });

  it("a list's later program reads it; the next packets start without it", async () => {
    await pair();
    const set = prog('set', SET);
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: set });
    emu.progAttach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: prog('get', GET) });
    expect(await marks(2)).toEqual([42, 42]);
    emu.progDetach('init', { ifindex: nk1, attachType: 'netkit_primary', prog: set });
    expect(await marks(3)).toEqual([NO_METADATA, NO_METADATA, NO_METADATA]);
  });
});
