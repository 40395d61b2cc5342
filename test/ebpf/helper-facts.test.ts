/**
 * The helper implementation facts in src/ebpf/helpers.ts (which helpers are plain, move
 * the packet, keep per-thread state, tail-call, leave the context unread) checked against
 * the implementations they describe: the cases of `vmHelper` in assembly/ebpf/helpers.ts
 * (and `vmCall` in assembly/ebpf/vm.ts, where bpf_loop lives).
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  helperAllowed, CTX_ARG_NOT_READ, HELPERS, PACKET_MOVING_HELPERS, PACKET_STATE_HELPERS, PLAIN_HELPERS, TAIL_CALL, THREAD_STATE_HELPERS,
} from '../../src/ebpf/helpers.js';

const ROOT = new URL('../../', import.meta.url);
const helpersAs = readFileSync(new URL('assembly/ebpf/helpers.ts', ROOT), 'utf8');
const vmAs = readFileSync(new URL('assembly/ebpf/vm.ts', ROOT), 'utf8');

/** The body each helper id runs in vmHelper's switch (ids sharing a case group share its body). */
function cases(): Map<number, string> {
  const start = helpersAs.indexOf('export function vmHelper(');
  const end = helpersAs.indexOf('\n}\n', start);
  const sw = helpersAs.slice(start, end);
  const out = new Map<number, string>();
  // A group: one or more `case N:` labels at the switch's indent, then the body up to the next group.
  const groups = sw.split(/\n(?=    case )/).slice(1);
  for (const g of groups) {
    const labels = /^((?:\s*case [^:]+:)+)/.exec(g)![1]!;
    const body = g.slice(labels.length).replace(/\/\/.*$/gm, '');
    for (const m of labels.matchAll(/case (\d+):/g)) out.set(Number(m[1]), body);
  }
  return out;
}

const BODY = cases();
/** Helpers vm.ts runs itself (they call back into the interpreter). */
const IN_VM = new Set([...vmAs.matchAll(/const BPF_FUNC_\w+: u32 = (\d+);/g)].map((m) => Number(m[1])));
const argsRead = (body: string): number[] => [...body.matchAll(/arg\(rec, (\d+)\)/g)].map((m) => Number(m[1]));
const movesPacket = (body: string): boolean => /\bsetPacket\(/.test(body);
const tailCalls = (body: string): boolean => /\bVM_TAIL_CALL\b/.test(body);
const threadState = (body: string): boolean => /\bthreadState\(|\bVM_PRNG\b|\bT_PRINTK_RING\b/.test(body);
/** The packet's tunnel metadata (assembly/ebpf/tunnel.ts) and checksum state in the run record. */
const packetState = (body: string): boolean => /\btunnel(Get|Set)(Opt)?\(|\bVM_TUNNEL\b|\bVM_CSUM\b/.test(body);

describe('helper facts agree with assembly/ebpf/helpers.ts', () => {
  it('every helper implemented is one the loader knows (the others fault when called)', () => {
    expect(IN_VM).toEqual(new Set([164, 181]));
    for (const id of [...BODY.keys(), ...IN_VM]) expect(HELPERS.has(id), `helper ${id}`).toBe(true);
  });

  it('plain helpers read only r1..r5, set r0, and neither move the packet, tail-call nor call back', () => {
    for (const id of PLAIN_HELPERS) {
      const body = BODY.get(id)!;
      expect(body, `helper ${id}`).toBeDefined();
      expect(argsRead(body).every((r) => r >= 1 && r <= 5), `helper ${id} reads r${argsRead(body)}`).toBe(true);
      expect(movesPacket(body) || tailCalls(body) || /\bcallback\(/.test(body), `helper ${id}`).toBe(false);
      expect(IN_VM.has(id)).toBe(false);
    }
  });

  it('the packet-moving helpers are exactly those that call setPacket, and otherwise plain', () => {
    const moving = [...BODY].filter(([, b]) => movesPacket(b)).map(([id]) => id).sort((a, b) => a - b);
    expect(moving).toEqual([...PACKET_MOVING_HELPERS].sort((a, b) => a - b));
    for (const id of PACKET_MOVING_HELPERS) {
      const body = BODY.get(id)!;
      expect(argsRead(body).every((r) => r >= 1 && r <= 5) && !tailCalls(body), `helper ${id}`).toBe(true);
    }
  });

  it('the helpers with per-thread state are exactly those that touch it', () => {
    const stateful = [...BODY].filter(([, b]) => threadState(b)).map(([id]) => id).sort((a, b) => a - b);
    expect(stateful).toEqual([...THREAD_STATE_HELPERS].sort((a, b) => a - b));
  });

  it('the helpers with per-packet state in the run record are exactly those that touch it', () => {
    const stateful = [...BODY].filter(([, b]) => packetState(b)).map(([id]) => id).sort((a, b) => a - b);
    expect(stateful).toEqual([...PACKET_STATE_HELPERS].sort((a, b) => a - b));
  });

  it('bpf_tail_call is the one helper that tail-calls', () => {
    expect([...BODY].filter(([, b]) => tailCalls(b)).map(([id]) => id)).toEqual([TAIL_CALL]);
  });

  it('the helpers said to leave the context in r1 unread do not read r1', () => {
    for (const id of CTX_ARG_NOT_READ) expect(argsRead(BODY.get(id)!).includes(1), `helper ${id}`).toBe(false);
  });
});

describe('the README names every helper nkemu lacks', () => {
  it('its "does not implement" row lists exactly the tc and XDP helpers that load but fault when called', () => {
    const dynptr = readFileSync(new URL('assembly/ebpf/dynptr.ts', ROOT), 'utf8');
    const implemented = new Set([...BODY.keys(), ...IN_VM, ...[...dynptr.matchAll(/id == (\d+)/g)].map((m) => Number(m[1]))]);
    const lacking = new Set([...HELPERS.keys()].filter((id) => (helperAllowed(id, 'sched_cls') || helperAllowed(id, 'xdp')) && !implemented.has(id)));
    const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| Helpers the kernel offers tc and XDP programs that nkemu does not implement'))!;
    expect(row).toBeDefined();
    const listed = new Set<number>();
    for (const m of row.split('|')[1]!.matchAll(/(\d+)(?:–(\d+))?/g)) {
      for (let id = Number(m[1]); id <= Number(m[2] ?? m[1]); id++) listed.add(id);
    }
    expect([...listed].sort((a, b) => a - b)).toEqual([...lacking].sort((a, b) => a - b));
  });
});
