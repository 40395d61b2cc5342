import { describe, expect, it } from 'vitest';
import { assemble } from '../../src/ebpf/assembler.js';
import { Emulator } from '../../src/emulator.js';

// The batch code keeps its fault global at 0 between packets by clearing it once per batch
// and after each fault (or legacy-load exit) it takes, not before every packet, and leaves
// an exit's budget in a local. A legacy packet load past a short packet ends its run with
// r0 = 0 through that global; the next packet's first legacy load, which succeeds, must not
// find it still set. Through xmit's batches (a verified program, alone on the device),
// compiled against the interpreter.
describe('batch code after a legacy load ended a run', () => {
  // PASS (r0 = 0) when the packet is shorter than 101 bytes, else DROP.
  const PROG = 'mov %r6, %r1\nldabsh 12\nldabsb 100\nmov %r0, 2\nexit';

  async function outcome(jit: boolean): Promise<string> {
    const e = await Emulator.create({ jit });
    try {
      const [p, q] = e.addLink({ ifname: 'l1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'l0' } } } });
      e.setLink('init', 'l1', { up: true });
      e.setLink('init', 'l0', { up: true });
      e.setRxSink('init', 'l0', 'drop');
      const prog = e.loadProgram({ name: 'legacy', type: 'sched_cls', insns: assemble(PROG) });
      expect(prog.jit.slot !== 0).toBe(jit);
      e.progAttach('init', { ifindex: p!.ifindex, attachType: 'netkit_primary', prog });
      for (let i = 0; i < 40; i++) e.transmit('init', 'l1', new Uint8Array([64, 200, 200, 64, 64, 200][i % 6]!));
      await e.settle();
      return JSON.stringify([e.stats(p!), e.stats(q!)], (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    } finally {
      await e.close();
    }
  }

  it('the next packets get their own verdicts, as on the interpreter', async () => {
    const compiled = await outcome(true);
    expect(compiled).toBe(await outcome(false));
    expect(JSON.parse(compiled)[0].dropReasons).toEqual({ BPF_DROP: '20' });
  });
});
