/**
 * nkemu: the Linux netkit packet path in WebAssembly.
 *
 * The public API: an Emulator holds namespaces, devices and the dataplane; requests and
 * dumps mirror rtnetlink; errors carry the kernel's errno and extack text.
 */

export { Emulator, dropReasonName, flagNames, type EmulatorOptions } from './emulator.js';
export { NetError, errnoNumber, strerror, type Errno } from './errors.js';
export type { NetDevice, DeviceKind, NetkitState } from './net/netdev.js';
export type { Netns } from './net/netns.js';
export { NetdevEvent, eventName, type NetdevListener } from './net/notifier.js';
export { dumpToData } from './net/netkit.js';
export type { FrameMeta, RxMeta } from './net/traffic.js';
export type {
  LinkRequest, LinkChange, LinkDump, LinkInfo, LinkStats, NetkitData, NetkitDataDump,
  NetkitMode, NetkitPairing, NetkitPolicy, NetkitScrub,
} from './net/types.js';
export type { WasmSource } from './wasm.js';
export { Capture } from './trace/capture.js';
export { PcapngWriter, readPcapng, type PcapngFile, type PcapngInterface, type PcapngPacket } from './trace/pcapng.js';
export { REASON_STACK, Tracer, type TraceEvent } from './trace/trace.js';
export { Stack, UdpSocket, type Address, type Datagram, type Neighbour, type StackCounters } from './net/stack/stack.js';
export { Udp6Socket, type Datagram6 } from './net/stack/udp6.js';
export { PingResult, type PingOptions } from './net/stack/ping.js';
export type { Route, RouteType } from './net/stack/route.js';
export {
  XskSocket, XDP_SHARED_UMEM, XDP_COPY, XDP_ZEROCOPY, XDP_USE_NEED_WAKEUP, XDP_USE_SG, XDP_PKT_CONTD, XDP_RING_NEED_WAKEUP,
  MSG_DONTWAIT, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM,
  type XskOptions, type XskBindOptions, type XdpStatistics, type XdpDesc, type XskState,
} from './xdp/socket.js';
export { XskApp, type XskAppMode, type XskAppOptions, type XskAppResult } from './xdp/app.js';
export { LoadError } from './ebpf/elf.js';
export type { LoadedObject, LoadObjectOptions } from './ebpf/load.js';
export type { LoadProgramOptions } from './ebpf/syscall.js';
export { verify, VerifierError, type VerifyOptions, type VerifyResult, type CtxAccess } from './ebpf/verifier.js';
export { assemble, disassemble, AsmError } from './ebpf/assembler.js';
export type { BpfMap, MapType, MapSpec } from './ebpf/maps.js';
export type { BpfProgram, BpfLink, ProgType, AttachType } from './ebpf/program.js';
export type { TestRunOptions, TestRunResult } from './ebpf/testrun.js';
export type { ProgStats } from './ebpf/stats.js';
export type { DataplaneOptions } from './dataplane.js';
export {
  buildPacket, parsePacket, internetChecksum, checksumPartial,
  parseMacAddress, formatMacAddress, parseIpv4Address, parseIpv6Address, formatIpv6Address,
  ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6,
  type PacketSpec, type ParsedPacket, type EthernetSpec, type VlanTag, type Ipv4Spec, type Ipv6Spec,
  type UdpSpec, type TcpSpec, type IcmpSpec, type MacAddress,
} from './packet.js';
