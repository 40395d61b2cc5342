/**
 * Every public Emulator method's parameters and their shapes (src/args.ts): the facade
 * checks them before delegating. test/lifecycle/api-args.test.ts holds this table to the
 * public surface (every method has a row) and tries wrong types on each.
 */

import { any, arr, big, bool, byU32, bytes, fn, has, inst, int, num, obj, oneOf, opt, or, str, u32, type Shape, type Signature } from './args.js';
import { BpfMap } from './ebpf/maps.js';
import { BpfLink, BpfProgram } from './ebpf/program.js';
import { NetDevice } from './net/netdev.js';
import { Netns } from './net/netns.js';
import { MemoryProvider } from './net/provider.js';
import { Capture } from './trace/capture.js';
import { XskSocket } from './xdp/socket.js';

const ns = str;
const dev = or(str, int(0, 0x7fffffff));
const device = inst(NetDevice);
const prog = inst(BpfProgram);
const attachType = oneOf('netkit_primary', 'netkit_peer', 'tcx_ingress', 'tcx_egress', 'xdp');
/** A program's expected attach type: the attach types, and XDP programs for devmap and cpumap entries. */
const expectedAttachType = oneOf('netkit_primary', 'netkit_peer', 'tcx_ingress', 'tcx_egress', 'xdp', 'xdp_devmap', 'xdp_cpumap');
const routeType = oneOf('unicast', 'blackhole', 'unreachable', 'prohibit');
const relative = opt(or(prog, inst(BpfLink), u32));
const mac = or(str, bytes);

const netkitData = (peerInfo: Shape): Shape => obj({
  primary: or(bool, num), policy: or(str, num), peerPolicy: or(str, num), mode: or(str, num), scrub: or(str, num),
  peerScrub: or(str, num), headroom: u32, tailroom: u32, pairing: or(str, num), peerInfo,
});
const linkFields = {
  ifname: str, ifindex: u32, mtu: u32, address: mac, numRxQueues: u32, numTxQueues: u32, txqlen: u32, netns: str,
};
const peerRequest = obj({ ...linkFields, linkinfo: obj({ kind: str, data: any }, ['kind']) });
const linkRequest = obj({ ...linkFields, linkinfo: obj({ kind: str, data: netkitData(peerRequest) }, ['kind']) });
const linkChange = obj({ up: bool, mtu: u32, ifname: str, address: mac, txqlen: u32, netns: str, data: netkitData(any), addrgenmode: oneOf('eui64', 'none', 'stable_secret', 'random') });
const frameMeta = opt(obj({ mark: u32, priority: u32, tstamp: big, protocol: int(0, 0xffff), buffer: u32 }));
const qtype = or(oneOf('rx', 'tx'), u32);
const queueCreate = obj({
  ifindex: u32, type: qtype,
  lease: obj({ ifindex: u32, queue: obj({ id: u32, type: qtype }), 'netns-id': int(-1, 0x7fffffff) }),
});
const ntupleRule = obj({
  flowType: str, location: u32, action: int(-1, 0xffffffff), context: u32,
  srcIp: u32, srcIpMask: u32, dstIp: u32, dstIpMask: u32, srcPort: int(0, 0xffff), srcPortMask: int(0, 0xffff),
  dstPort: int(0, 0xffff), dstPortMask: int(0, 0xffff), srcMac: bytes, srcMacMask: bytes, dstMac: bytes, dstMacMask: bytes,
  proto: int(0, 0xffff), protoMask: int(0, 0xffff),
  srcIp6: big, srcIp6Mask: big, dstIp6: big, dstIp6Mask: big, tclass: int(0, 0xff), tclassMask: int(0, 0xff), tos: int(0, 0xff), tosMask: int(0, 0xff),
  l4proto: int(0, 0xff), l4protoMask: int(0, 0xff),
}, ['flowType', 'action']);
const rss = obj({ context: or(u32, oneOf('new')), start: u32, equal: u32, weights: arr(u32), reset: bool, delete: bool });
const region = obj({ addr: u32, len: u32, writable: bool }, ['addr', 'len', 'writable']);
const attach = { ifindex: u32, attachType, prog, flags: u32, relative, expectedRevision: u32 };

/** Each public method: its parameters in order. */
export const SIGNATURES: Record<string, Signature> = {
  close: [],
  settleJit: [],
  jitInstalled: [['prog', prog]],
  addNetns: [['name', str]],
  delNetns: [['name', str]],
  listNetns: [],
  netns: [['name', opt(str)]],
  hasNetns: [['name', str]],
  namespaceById: [['id', int(0, 0x7fffffff)]],
  setNsid: [['ns', ns], ['name', str], ['nsid', int(-1, 0x7fffffff)]],
  device: [['ns', or(str, inst(Netns))], ['dev', dev]],
  addLink: [['req', linkRequest], ['ns', opt(ns)]],
  setLink: [['ns', ns], ['dev', dev], ['change', linkChange]],
  delLink: [['ns', ns], ['dev', dev]],
  links: [['ns', opt(ns)]],
  dump: [['d', device]],
  stats: [['d', device]],
  addNic: [['o', opt(obj({ name: str, rxQueues: u32, txQueues: u32, address: str, netns: str, maxChannels: u32, xskZeroCopy: bool, xskMaxSegs: u32 }))]],
  delNic: [['ns', ns], ['dev', dev]],
  flushWork: [],
  pendingUnregister: [['ns', opt(ns)]],
  stack: [['ns', opt(ns)]],
  setRxSink: [['ns', ns], ['dev', dev], ['sink', oneOf('stack', 'drop')]],
  addAddress: [['ns', ns], ['dev', dev], ['cidr', str], ['o', opt(obj({ nodad: bool, noprefixroute: bool }))]],
  delAddress: [['ns', ns], ['dev', dev], ['cidr', str]],
  addRoute: [['ns', ns], ['r', obj({ dst: str, via: str, dev, src: str, metric: u32, type: routeType }, ['dst'])]],
  delRoute: [['ns', ns], ['r', obj({ dst: str, dev, metric: u32, type: routeType }, ['dst'])]],
  addRxQueue: [['dev', device]],
  publish: [['dev', device]],
  ownerThread: [['dev', device]],
  channels: [['ns', ns], ['dev', dev]],
  setChannels: [['ns', ns], ['dev', dev], ['count', u32]],
  setRss: [['ns', ns], ['dev', dev], ['o', rss]],
  addNtuple: [['ns', ns], ['dev', dev], ['rule', ntupleRule]],
  delNtuple: [['ns', ns], ['dev', dev], ['location', u32]],
  queueCreate: [['req', queueCreate], ['ns', opt(ns)]],
  queueGet: [['ns', ns], ['q', obj({ ifindex: u32, id: u32, type: oneOf('rx', 'tx') }, ['ifindex', 'id', 'type'])]],
  queueDump: [['ns', opt(ns)], ['ifindex', opt(u32)]],
  queueStats: [['ns', ns], ['dev', dev]],
  bindProvider: [['ns', ns], ['dev', dev], ['queue', u32], ['o', opt(obj({ kind: oneOf('io_uring', 'devmem'), buffers: u32 }))]],
  closeProvider: [['p', inst(MemoryProvider)]],
  loadProgram: [['o', obj({ name: str, type: oneOf('sched_cls', 'xdp', 'socket_filter'), insns: bytes, expectedAttachType, regions: arr(region), maps: arr(u32), jit: bool, verify: bool }, ['name', 'type', 'insns'])]],
  loadObject: [['bytes', bytes], ['o', opt(obj({ programs: arr(str), type: str, pinning: byU32(str), pinRoot: str }))]],
  closeProgram: [['prog', prog]],
  closeMap: [['map', inst(BpfMap)]],
  closeObject: [['obj', has({ programs: inst(Map), maps: inst(Map) }, 'LoadedObject')]],
  progArraySet: [['map', inst(BpfMap)], ['index', u32], ['prog', opt(prog)]],
  progAttach: [['ns', ns], ['r', obj({ ...attach, replace: prog }, ['ifindex', 'attachType', 'prog'])]],
  progDetach: [['ns', ns], ['r', obj({ ...attach, prog: opt(prog) }, ['ifindex', 'attachType'])]],
  progQuery: [['ns', ns], ['r', obj({ ifindex: u32, attachType, size: u32, queryFlags: u32 }, ['ifindex', 'attachType'])]],
  linkCreate: [['ns', ns], ['r', obj(attach, ['ifindex', 'attachType', 'prog'])]],
  linkUpdate: [['link', inst(BpfLink)], ['prog', prog], ['old', opt(prog)]],
  linkDetach: [['link', inst(BpfLink)], ['release', opt(bool)]],
  setXdp: [['ns', ns], ['dev', dev], ['prog', opt(prog)]],
  setBpfStats: [['enabled', bool]],
  bpfStatsEnabled: [],
  progStats: [['prog', prog]],
  testRun: [['prog', prog], ['o', obj({ data: bytes, ctx: bytes, repeat: int(1, 0xffffffff), interpreter: bool }, ['data'])]],
  tracePipe: [],
  xskBind: [['ns', ns], ['dev', dev], ['queue', u32], ['sock', inst(XskSocket)], ['o', opt(obj({ flags: u32, sharedUmem: any }))]],
  xskSendto: [['sock', inst(XskSocket)], ['msgFlags', opt(u32)]],
  xskRecvfrom: [['sock', inst(XskSocket)], ['msgFlags', opt(u32)]],
  xskPoll: [['sock', inst(XskSocket)]],
  xskClose: [['sock', inst(XskSocket)]],
  transmit: [['ns', ns], ['dev', dev], ['frame', bytes], ['meta', frameMeta]],
  wireIn: [['ns', ns], ['dev', dev], ['frame', bytes], ['meta', frameMeta]],
  onReceive: [['fn', fn]],
  settle: [['maxRounds', opt(int(1, 0x7fffffff))]],
  pktgen: [['ns', ns], ['dev', dev], ['frame', bytes], ['o', obj({ count: u32, batch: int(1, 64), flows: int(1, 0xffff), portOffset: int(0, 0xffff) }, ['count'])]],
  sleep: [['seconds', num]],
  ping: [['ns', ns], ['dst', str], ['o', opt(obj({ count: int(1, 0x7fffffff), size: int(0, 65507), interval: num, ttl: int(1, 255), tos: int(0, 255), mark: u32, priority: u32, device: dev, signal: inst(AbortSignal), onLine: fn }))]],
  startCapture: [['o', opt(obj({ devices: arr(obj({ ns, dev }, ['ns', 'dev'])) }))]],
  stopCapture: [['c', inst(Capture)]],
};

/** BpfMap's public methods (BPF_MAP_* from the host side). */
export const MAP_SIGNATURES: Record<string, Signature> = {
  lookup: [['key', bytes], ['value', opt(bytes)]],
  lookupAndDelete: [['key', bytes]],
  update: [['key', bytes], ['value', or(bytes, arr(bytes))], ['flags', opt(oneOf(0, 1, 2))]],
  delete: [['key', bytes]],
  keys: [],
  setInner: [['key', bytes], ['inner', opt(inst(BpfMap))], ['flags', opt(oneOf(0, 1, 2))]],
  innerAt: [['key', bytes]],
  openPerfBuffer: [['pages', opt(int(1, 1 << 20))]],
  drainPerf: [],
  setSocket: [['index', u32], ['sock', opt(inst(XskSocket))]],
  setCgroup: [['index', u32], ['cgroup', opt(str)], ['flags', opt(oneOf(0, 1, 2))]],
  drain: [],
  close: [],
};

const desc = obj({ addr: int(0, Number.MAX_SAFE_INTEGER), len: u32, options: u32 }, ['addr', 'len']);

/** XskSocket's public methods (the ring verbs and socket options). */
export const XSK_SIGNATURES: Record<string, Signature> = {
  setTxBudget: [['budget', u32]],
  options: [],
  needsWakeup: [['ring', oneOf('fill', 'tx')]],
  fillRing: [['addrs', arr(int(0, Number.MAX_SAFE_INTEGER))]],
  txRing: [['frames', arr(desc)]],
  recv: [['max', opt(or(int(0, Number.MAX_SAFE_INTEGER), oneOf(Infinity)))]],
  completions: [['max', opt(or(int(0, Number.MAX_SAFE_INTEGER), oneOf(Infinity)))]],
  unaccounted: [['held', arr(int(0, Number.MAX_SAFE_INTEGER))], ['sharing', opt(arr(inst(XskSocket)))]],
  kernelHeld: [],
  statistics: [],
};

/** The tracer (`emu.tracer`) and a running capture (`emu.startCapture()`). */
export const TRACER_SIGNATURES: Record<string, Signature> = {
  enable: [['on', opt(bool)]],
  drain: [],
};
export const CAPTURE_SIGNATURES: Record<string, Signature> = {
  drain: [],
  bytes: [],
};

/** The stack's socket API (`emu.stack(ns).udpBind`, and what it returns). */
export const STACK_SIGNATURES: Record<string, Signature> = {
  udpBind: [['o', opt(obj({ port: int(0, 65535), addr: u32, ifindex: u32 }))]],
  udp6Bind: [['o', opt(obj({ port: int(0, 65535), addr: big, ifindex: u32 }))]],
};
export const UDP6_SIGNATURES: Record<string, Signature> = {
  recv: [],
  send: [['dst', big], ['dport', int(0, 65535)], ['data', bytes], ['meta', opt(has({}, 'FrameMeta'))]],
  close: [],
};
export const UDP_SIGNATURES: Record<string, Signature> = {
  recv: [],
  send: [['dst', u32], ['dport', int(0, 65535)], ['data', bytes], ['meta', opt(has({}, 'FrameMeta'))]],
  close: [],
};
