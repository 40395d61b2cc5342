/**
 * The objects the emulator hands out check their arguments as its own methods do
 * (emulator-args.ts): every public method of BpfMap, XskSocket, the stack's sockets, the
 * Tracer and a Capture has a row; null and a symbol at each parameter are EINVAL naming it; other
 * wrong types fail as a NetError, never a raw TypeError.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPTURE_SIGNATURES, MAP_SIGNATURES, STACK_SIGNATURES, TRACER_SIGNATURES, UDP_SIGNATURES, UDP6_SIGNATURES, XSK_SIGNATURES } from '../../src/emulator-args.js';
import { Capture } from '../../src/trace/capture.js';
import { Tracer } from '../../src/trace/trace.js';
import type { UdpSocket } from '../../src/net/stack/stack.js';
import type { Udp6Socket } from '../../src/net/stack/udp6.js';
import type { BpfMap } from '../../src/ebpf/maps.js';
import { Emulator, NetError } from '../../src/emulator.js';
import { XskSocket } from '../../src/xdp/socket.js';
import { checkSignature, outcome } from '../helpers/args-table.js';

let emu: Emulator;
let map: BpfMap;
let sock: XskSocket;
let udp: UdpSocket;
let udp6: Udp6Socket;

const VALID_MAP: Record<string, () => unknown[]> = {
  lookup: () => [new Uint8Array(4)],
  lookupAndDelete: () => [new Uint8Array([9, 9, 9, 9])],
  update: () => [new Uint8Array(4), new Uint8Array(8), 0],
  delete: () => [new Uint8Array([9, 9, 9, 9])],
  keys: () => [],
  setInner: () => [new Uint8Array(4), undefined, 0],
  innerAt: () => [new Uint8Array(4)],
  openPerfBuffer: () => [4],
  drainPerf: () => [],
  setSocket: () => [0, undefined],
  setCgroup: () => [0, '/', 0],
  drain: () => [],
  close: () => [],
};
const VALID_STACK: Record<string, () => unknown[]> = {
  udpBind: () => [{ port: 0 }],
  udp6Bind: () => [{ port: 0 }],
};
const VALID_UDP6: Record<string, () => unknown[]> = {
  recv: () => [],
  send: () => [0x20010db8000000000000000000000002n, 9, new Uint8Array(4), {}],
  close: () => [],
};
const VALID_UDP: Record<string, () => unknown[]> = {
  recv: () => [],
  send: () => [0x0a000002, 9, new Uint8Array(4), {}],
  close: () => [],
};
const VALID_TRACER: Record<string, () => unknown[]> = {
  enable: () => [false],
  drain: () => [],
};
const VALID_CAPTURE: Record<string, () => unknown[]> = {
  drain: () => [],
  bytes: () => [],
};
let capture: Capture;
const VALID_XSK: Record<string, () => unknown[]> = {
  setTxBudget: () => [16],
  options: () => [],
  needsWakeup: () => ['fill'],
  fillRing: () => [[]],
  txRing: () => [[]],
  recv: () => [4],
  completions: () => [4],
  unaccounted: () => [[], []],
  kernelHeld: () => [],
  statistics: () => [],
};

/** The public methods of a class (its prototype's, neither private by convention nor @internal ones the table leaves out). */
function methods(proto: object, internal: readonly string[]): string[] {
  return Object.getOwnPropertyNames(proto).filter((n) => n !== 'constructor' && typeof Object.getOwnPropertyDescriptor(proto, n)!.value === 'function' && !internal.includes(n)).sort();
}

describe('maps and AF_XDP sockets check their arguments', () => {
  beforeAll(async () => {
    emu = await Emulator.create({ seed: 5 });
    map = emu.loadObject(new Uint8Array(readFileSync(new URL('../fixtures/bpf/tc_counters.o', import.meta.url)))).maps.get('src_bytes')!;
    sock = new XskSocket(emu.dp, { umemSize: 4 * 4096 });
    udp = emu.stack('init').udpBind({ port: 4000 });
    udp6 = emu.stack('init').udp6Bind({ port: 4000 });
    capture = emu.startCapture();
  });
  afterAll(async () => {
    await emu.close();
  });

  it('every public method has a signature and a valid call', () => {
    // (hold/put/free/maybeFree/setSlot/slotCheck: reference counting and slot writes the emulator does; retireMemory, live, pushPop, lookupFdValued, updateFdValued: internal)
    expect(Object.keys(MAP_SIGNATURES).sort()).toEqual(methods(Object.getPrototypeOf(map), ['hold', 'put', 'free', 'maybeFree', 'setSlot', 'slotCheck', 'putKey', 'ex', 'pushPop', 'lookupFdValued', 'updateFdValued']));
    expect(Object.keys(VALID_MAP).sort()).toEqual(Object.keys(MAP_SIGNATURES).sort());
    expect(Object.keys(XSK_SIGNATURES).sort()).toEqual(methods(XskSocket.prototype, ['retireMemory', 'live', 'produce', 'consume', 'kernelHeldIn']));
    expect(Object.keys(VALID_XSK).sort()).toEqual(Object.keys(XSK_SIGNATURES).sort());
  });

  it('the tracer and a capture have a row for each of their methods', () => {
    expect(Object.keys(TRACER_SIGNATURES).sort()).toEqual(methods(Tracer.prototype, []));
    expect(Object.keys(VALID_TRACER).sort()).toEqual(Object.keys(TRACER_SIGNATURES).sort());
    expect(Object.keys(CAPTURE_SIGNATURES).sort()).toEqual(methods(Capture.prototype, ['iface']));
    expect(Object.keys(VALID_CAPTURE).sort()).toEqual(Object.keys(CAPTURE_SIGNATURES).sort());
  });

  it('the stack\'s socket API has a row for each of its methods', () => {
    expect(Object.keys(VALID_STACK)).toEqual(Object.keys(STACK_SIGNATURES));
    expect(Object.keys(UDP_SIGNATURES).sort()).toEqual(methods(Object.getPrototypeOf(udp), []));
    expect(Object.keys(VALID_UDP).sort()).toEqual(Object.keys(UDP_SIGNATURES).sort());
    expect(Object.keys(UDP6_SIGNATURES).sort()).toEqual(methods(Object.getPrototypeOf(udp6), []));
    expect(Object.keys(VALID_UDP6).sort()).toEqual(Object.keys(UDP6_SIGNATURES).sort());
  });

  for (const [cls, sigs, valid, target] of [
    ['BpfMap', MAP_SIGNATURES, VALID_MAP, () => map], ['XskSocket', XSK_SIGNATURES, VALID_XSK, () => sock],
    ['Stack', STACK_SIGNATURES, VALID_STACK, () => emu.stack('init')], ['UdpSocket', UDP_SIGNATURES, VALID_UDP, () => udp],
    ['Udp6Socket', UDP6_SIGNATURES, VALID_UDP6, () => udp6],
    ['Tracer', TRACER_SIGNATURES, VALID_TRACER, () => emu.tracer], ['Capture', CAPTURE_SIGNATURES, VALID_CAPTURE, () => capture],
  ] as const) {
    for (const name of Object.keys(valid)) {
      if (name === 'close') continue;
      it(`${cls}.${name}: null and symbols are EINVAL at every parameter; other wrong types a NetError or nothing`, async () => {
        const call = (args: unknown[]): unknown => (target() as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args);
        await checkSignature(`${cls}.${name}`, sigs[name]!, valid[name]!, call);
      });
    }
  }

  it('the shapes that were raw TypeErrors: map keys that are no bytes, ring entries that are no descriptors', async () => {
    for (const f of [() => emu.tracer.enable('yes' as never), () => (capture.drain as (n: unknown) => unknown)(1), () => map.update(null as never, new Uint8Array(8)), () => map.lookup('abc' as never), () => sock.txRing([{ addr: 'x' }] as never), () => sock.fillRing([-1])]) {
      const e = await outcome(f);
      expect(e).toBeInstanceOf(NetError);
      expect((e as NetError).errno).toBe('EINVAL');
    }
  });
});
