/**
 * Every public method of Emulator (the surface test/arch/surface.ts lists) checks its
 * arguments: a table of valid calls, each argument in turn replaced by values of the wrong
 * type. null and a symbol are wrong for every parameter (EINVAL naming it); other values
 * may be right for some (then the call may succeed or fail on meaning), but whatever
 * fails, fails as a NetError, never a raw TypeError.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emulator, NetError } from '../../src/emulator.js';
import { SIGNATURES } from '../../src/emulator-args.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { XskSocket } from '../../src/xdp/socket.js';
import { publicSurface } from '../arch/surface.js';
import { checkSignature, outcome } from '../helpers/args-table.js';

type Call = (emu: Emulator) => unknown[];

let emu: Emulator;
let fx: Record<string, unknown>;

const frame = (): Uint8Array => { const f = new Uint8Array(64); f[12] = 0x08; return f; };

/** A valid argument list for each method (against the emulator set up below). */
const VALID: Record<string, Call> = {
  close: () => [],
  settleJit: () => [],
  jitInstalled: () => [fx.prog],
  addNetns: () => ['n1'],
  delNetns: () => ['gone'],
  listNetns: () => [],
  netns: () => ['init'],
  hasNetns: () => ['foo'],
  namespaceById: () => [0],
  setNsid: () => ['init', 'foo', 5],
  device: () => ['init', 'nk1'],
  addLink: () => [{ ifname: 'x%d', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'y%d' } } } }, 'init'],
  setLink: () => ['init', 'nk1', { up: true }],
  delLink: () => ['init', 'nope'],
  links: () => ['init'],
  dump: (e) => [e.device('init', 'nk1')],
  stats: (e) => [e.device('init', 'nk1')],
  addNic: () => [{ name: 'eth9', rxQueues: 2 }],
  delNic: () => ['init', 'nope'],
  flushWork: () => [],
  pendingUnregister: () => ['init'],
  stack: () => ['init'],
  setRxSink: () => ['init', 'nk0', 'stack'],
  addAddress: () => ['init', 'nk1', '10.9.0.1/24'],
  delAddress: () => ['init', 'nk1', '10.9.9.9/24'],
  addRoute: () => ['init', { dst: '10.8.0.0/16', dev: 'nk1' }],
  delRoute: () => ['init', { dst: '10.7.0.0/16' }],
  addRxQueue: (e) => [e.device('init', 'eth0')],
  publish: (e) => [e.device('init', 'nk1')],
  ownerThread: (e) => [e.device('init', 'nk1')],
  channels: () => ['init', 'eth0'],
  setChannels: () => ['init', 'eth0', 2],
  setRss: () => ['init', 'eth0', { equal: 2 }],
  addNtuple: () => ['init', 'eth0', { flowType: 'ether', dstMac: new Uint8Array(6), action: 1 }],
  delNtuple: () => ['init', 'eth0', 1000],
  queueCreate: () => [{ ifindex: 999, type: 'rx' }, 'init'],
  queueGet: (e) => ['init', { ifindex: e.device('init', 'eth0').ifindex, id: 0, type: 'rx' }],
  queueDump: () => ['init', undefined],
  queueStats: () => ['init', 'eth0'],
  bindProvider: () => ['init', 'eth0', 3, { kind: 'devmem', buffers: 4 }],
  closeProvider: () => [fx.provider],
  loadProgram: () => [{ name: 'p', type: 'sched_cls', insns: assemble('mov %r0, 0\nexit') }],
  loadObject: () => [fx.object, { programs: ['count'] }],
  closeProgram: () => [fx.spare],
  closeMap: () => [fx.spareMap],
  closeObject: () => [{ programs: new Map(), maps: new Map() }],
  progArraySet: () => [fx.progArray, 0, undefined],
  progAttach: (e) => ['init', { ifindex: e.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: fx.prog }],
  progDetach: (e) => ['init', { ifindex: e.device('init', 'nk1').ifindex, attachType: 'netkit_primary' }],
  progQuery: (e) => ['init', { ifindex: e.device('init', 'nk1').ifindex, attachType: 'netkit_primary' }],
  linkCreate: (e) => ['init', { ifindex: e.device('init', 'nk1').ifindex, attachType: 'netkit_peer', prog: fx.prog }],
  linkUpdate: () => [fx.link, fx.prog, undefined],
  linkDetach: () => [fx.link, false],
  setXdp: () => ['init', 'eth0', undefined],
  setBpfStats: () => [false],
  bpfStatsEnabled: () => [],
  progStats: () => [fx.prog],
  testRun: () => [fx.prog, { data: frame() }],
  tracePipe: () => [],
  xskBind: () => ['init', 'eth0', 0, new XskSocket(emu.dp, { umemSize: 4 * 4096 }), {}],
  xskSendto: () => [fx.sock, 0x40],
  xskRecvfrom: () => [fx.sock, 0x40],
  xskPoll: () => [fx.sock],
  xskClose: () => [new XskSocket(emu.dp, { umemSize: 4 * 4096 })],
  transmit: () => ['init', 'nk1', frame(), { mark: 1 }],
  wireIn: () => ['init', 'eth0', frame(), {}],
  onReceive: () => [() => undefined],
  settle: () => [10],
  pktgen: () => ['init', 'nk1', frame(), { count: 1 }],
  sleep: () => [0.5],
  ping: () => ['init', '10.0.0.2', { count: 1 }],
  startCapture: () => [{ devices: [{ ns: 'init', dev: 'nk1' }] }],
  stopCapture: () => [fx.capture],
};

describe('the public API checks its arguments', () => {
  beforeAll(async () => {
    emu = await Emulator.create({ seed: 5 });
    emu.addNetns('foo');
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { peerInfo: { ifname: 'nk0' } } } });
    emu.setLink('init', 'nk1', { up: true });
    emu.setLink('init', 'nk0', { up: true });
    emu.addAddress('init', 'nk1', '10.0.0.1/24');
    emu.addAddress('init', 'nk0', '10.0.0.2/24');
    emu.addNic({ name: 'eth0', rxQueues: 4 });
    emu.setLink('init', 'eth0', { up: true });
    const object = new Uint8Array(readFileSync(new URL('../fixtures/bpf/tc_counters.o', import.meta.url)));
    const tail = emu.loadObject(new Uint8Array(readFileSync(new URL('../fixtures/bpf/tailcall.o', import.meta.url))));
    const sock = new XskSocket(emu.dp, { umemSize: 4 * 4096 });
    emu.xskBind('init', 'eth0', 1, sock);
    fx = {
      object,
      prog: emu.loadProgram({ name: 'p', type: 'sched_cls', insns: assemble('mov %r0, -1\nexit') }),
      spare: emu.loadProgram({ name: 's', type: 'sched_cls', insns: assemble('mov %r0, -1\nexit') }),
      spareMap: emu.loadObject(object).maps.get('proto_count'),
      progArray: tail.maps.get('jump'),
      provider: emu.bindProvider('init', 'eth0', 2, { kind: 'devmem', buffers: 4 }),
      sock,
      capture: emu.startCapture(),
    };
    fx.link = emu.linkCreate('init', { ifindex: emu.device('init', 'nk1').ifindex, attachType: 'netkit_primary', prog: fx.prog as never });
  });
  afterAll(async () => {
    await emu.close();
  });

  it('every public method has a signature and a valid call in this table', () => {
    const methods = Object.entries(publicSurface().emulator).filter(([, t]) => t.startsWith('(')).map(([n]) => n).sort();
    expect(Object.keys(SIGNATURES).sort()).toEqual(methods);
    expect(Object.keys(VALID).sort()).toEqual(methods);
  }, 60_000);

  for (const name of Object.keys(VALID)) {
    if (name === 'close') continue;
    it(`${name}: null and symbols are EINVAL at every parameter; other wrong types NetError or nothing`, async () => {
      const call = (args: unknown[]): unknown => (emu as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args);
      await checkSignature(name, SIGNATURES[name]!, () => VALID[name]!(emu), call);
    });
  }

  it('the cases the issue names: EINVAL, never TypeError or silence', async () => {
    const einval = async (f: () => unknown): Promise<void> => {
      const e = await outcome(f);
      expect(e).toBeInstanceOf(NetError);
      expect((e as NetError).errno).toBe('EINVAL');
    };
    await einval(() => emu.addLink(null as never));
    await einval(() => emu.testRun(null as never, { data: frame() }));
    await einval(() => emu.testRun(fx.prog as never, null as never));
    await einval(() => emu.pktgen('init', 'nk1', frame(), undefined as never));
    await einval(() => emu.dump('init' as never));
    await einval(() => emu.addNetns(42 as never));
    await einval(() => emu.setLink('init', 'nk1', { up: 'yes' } as never));
    await einval(() => emu.addNic({ rxqueues: 4 } as never));
    await einval(() => emu.pktgen('init', 'nk1', new Uint8Array(5), { count: 1 }));
  });
});
