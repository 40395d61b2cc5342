import { afterEach, describe, expect, it } from 'vitest';
import * as A from '../../src/abi.generated.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { BpfMap } from '../../src/ebpf/maps.js';
import type { BpfProgram } from '../../src/ebpf/program.js';
import { Emulator } from '../../src/emulator.js';
import { buildPacket } from '../../src/packet.js';

// Batch code runs programs with tail calls (issue 23): a tail call into a filled slot runs
// the target to its end inside the batch loop (the dataplane's jitTail), and the next
// packet starts again in the root program. A root whose tail calls may reach a program
// keeping state on the packet in the run record (tunnel metadata, the checksum level) is
// marked PR_CTX_TAIL_UNSAFE and runs one packet at a time, as before.

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

const pkt = new Uint8Array(60).map((_, i) => (i === 12 ? 0x08 : 0));
const prog = (name: string, text: string, maps: number[] = [], jit = true): BpfProgram =>
  emu.loadProgram({ name, type: 'sched_cls', insns: assemble(text), maps, jit });
const flags = (p: BpfProgram): number => emu.dp.view().getUint32(p.record + A.PR_CTX_USE, true);
const unsafe = (p: BpfProgram): boolean => (flags(p) & A.PR_CTX_TAIL_UNSAFE) !== 0;
const progArray = (name: string): BpfMap => new BpfMap(emu.dp, { name, type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 4 });

describe('tail calls in batch code', () => {
  it('the target runs to its end, and the next repetition starts in the root with its own maps (compiled batch = interpreter)', async () => {
    emu = await Emulator.create({});
    const jmp = progArray('jmp');
    const q = new BpfMap(emu.dp, { name: 'q', type: 'queue', keySize: 0, valueSize: 4, maxEntries: 64 });
    // The root pushes to its queue (a helper that checks the map is among the running
    // program's), then tail-calls into slot 0; the target, naming no map, returns 7. A
    // repetition that started with the target's maps in the record would fault at the push.
    const target = prog('t', 'mov %r0, 7\nexit');
    const root = prog('root', `
      mov %r6, %r1
      stw [%r10-4], 5
      lddw %r1, ${q.record}
      mov %r2, %r10
      add %r2, -4
      mov %r3, 0
      call 87
      mov %r1, %r6
      lddw %r2, ${jmp.record}
      mov %r3, 0
      call 12
      mov %r0, 3
      exit`, [jmp.record, q.record]);
    await emu.settleJit();
    expect(flags(root) & A.PR_CTX_VERIFIED).not.toBe(0);
    for (const filled of [false, true]) {
      emu.progArraySet(jmp, 0, filled ? target : undefined);
      const [c, i] = [false, true].map((interpreter) => {
        const r = emu.testRun(root, { data: pkt, repeat: 5, interpreter });
        return { retval: r.retval, fault: r.fault, executed: r.executed };
      });
      expect(c).toEqual(i);
      expect(c!.retval).toBe(filled ? 7 : 3);
      expect(c!.fault).toBe(null);
    }
  });

  it('at most 33 tail calls per packet, counted afresh for each one', async () => {
    emu = await Emulator.create({});
    const jmp = progArray('jmp');
    // Tail-calls itself through slot 0: 33 times, then falls through; r0 = how far it got
    // (the mark counts the runs: each adds 1 to it).
    const self = prog('self', `
      ldxw %r2, [%r1+8]
      add %r2, 1
      stxw [%r1+8], %r2
      lddw %r2, ${jmp.record}
      mov %r3, 0
      call 12
      mov %r0, 9
      exit`, [jmp.record]);
    emu.progArraySet(jmp, 0, self);
    await emu.settleJit();
    const [c, i] = [false, true].map((interpreter) => {
      const r = emu.testRun(self, { data: pkt, repeat: 3, interpreter });
      return { retval: r.retval, fault: r.fault, executed: r.executed, mark: new DataView(r.ctxOut.buffer).getUint32(8, true) };
    });
    expect(c).toEqual(i);
    // (three repetitions of 34 runs each: the mark carries over, the count does not)
    expect(c).toMatchObject({ retval: 9, fault: null, mark: 3 * 34 });
  });
});

describe('PR_CTX_TAIL_UNSAFE', () => {
  const SET_KEY = `
    mov %r6, %r1
    mov %r1, 0
    ${[-48, -40, -32, -24, -16, -8].map((o) => `stxdw [%r10${o}], %r1`).join('\n')}
    ldxw %r1, [%r6+0]
    stxw [%r10-48], %r1
    mov %r1, %r6
    mov %r2, %r10
    add %r2, -48
    mov %r3, 44
    mov %r4, 0
    call 21
    mov %r0, -1
    exit`;
  const tailTo = (map: BpfMap): string => `lddw %r2, ${map.record}\nmov %r3, 0\ncall 12\nmov %r0, -1\nexit`;

  it('marks a root whose tail calls reach a program keeping packet state, through every PROG_ARRAY on the way, and unmarks it when none does', async () => {
    emu = await Emulator.create({});
    const a = progArray('a');
    const b = progArray('b');
    const root = prog('root', tailTo(a), [a.record]);
    const mid = prog('mid', tailTo(b), [b.record]);
    const setKey = prog('set', SET_KEY);
    const plain = prog('plain', 'mov %r0, -1\nexit');
    expect(unsafe(root)).toBe(false);
    emu.progArraySet(a, 0, mid);
    expect([unsafe(root), unsafe(mid)]).toEqual([false, false]);
    emu.progArraySet(b, 0, setKey);
    expect([unsafe(root), unsafe(mid)]).toEqual([true, true]);
    // (a program loaded later into a chain already reaching one: marked at load)
    const late = prog('late', tailTo(a), [a.record]);
    expect(unsafe(late)).toBe(true);
    emu.progArraySet(b, 0, plain);
    expect([unsafe(root), unsafe(mid), unsafe(late)]).toEqual([false, false, false]);
    emu.progArraySet(b, 1, setKey);
    expect(unsafe(root)).toBe(true);
    emu.closeMap(b);
    expect([unsafe(root), unsafe(mid)]).toEqual([false, false]);
    // (the program keeping state itself has no batch code: it is never marked, only its callers)
    expect(unsafe(setKey)).toBe(false);
    // A refused update changes nothing.
    emu.progArraySet(a, 0, setKey);
    expect(() => emu.progArraySet(a, 4, plain)).toThrow(expect.objectContaining({ errno: 'E2BIG' }));
    expect(unsafe(root)).toBe(true);
  });

  it('such a root runs its packets one at a time: each packet starts with its own state (the checksum level), as without compiled code', async () => {
    const marks: number[][] = [];
    for (const jit of [true, false]) {
      emu = await Emulator.create({ seed: 3, jit });
      emu.addNetns('foo');
      emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l3', peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
      emu.setLink('init', 'nk1', { up: true });
      emu.setLink('foo', 'nk0', { up: true });
      emu.addAddress('init', 'nk1', '10.0.0.1/24');
      emu.addAddress('foo', 'nk0', '10.0.0.2/24');
      const a = progArray('a');
      // The root (alone on netkit: a list of one runs in batches) tail-calls into a program
      // raising the skb's checksum level (bpf_csum_level INC) and putting the level it then
      // reads (QUERY) in the mark: 0 on every packet, which starts at CHECKSUM_NONE.
      const root = prog('root', tailTo(a), [a.record], jit);
      emu.progArraySet(a, 0, prog('level', `
        mov %r6, %r1
        mov %r2, 1
        call 135
        mov %r1, %r6
        mov %r2, 0
        call 135
        stxw [%r6+8], %r0
        mov %r0, -1
        exit`, [], jit));
      expect(unsafe(root)).toBe(true);
      await emu.settleJit();
      emu.progAttach('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: root });
      const sock = emu.stack('foo').udpBind({ port: 7 });
      const p = buildPacket({ eth: { dst: new Uint8Array(6), src: new Uint8Array(6) }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1000, dport: 7 }, payload: new Uint8Array(8) });
      for (let n = 0; n < 20; n++) emu.transmit('init', 'nk1', p, { mark: 0 });
      await emu.settle();
      marks.push(sock.recv().map((d) => d.mark));
      await emu.close();
    }
    expect(marks[0]).toEqual(marks[1]);
    expect(marks[0]).toEqual(new Array(20).fill(0));
  });
});
