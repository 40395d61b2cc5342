/**
 * The one-click scenarios: `nkemu run` scripts, the same files `nkemu run FILE` runs
 * from a checkout (the seed's setups in examples/, the rest in web/scenarios/).
 */

import pair from '../scenarios/pair.nk';
import blackhole from '../scenarios/blackhole.nk';
import ioUring from '../../examples/io_uring.nk';
import notifier from '../../examples/notifier.nk';
import xdpsock from '../../examples/xdpsock.nk';
import ebpf from '../scenarios/ebpf-policy.nk';

export interface Scenario { id: string; title: string; file: string; summary: string; text: string }

export const SCENARIOS: Scenario[] = [
  { id: 'pair', title: 'netkit pair + ping', file: 'web/scenarios/pair.nk', summary: 'A netkit pair across namespaces, pinged, then a burst of UDP', text: pair },
  { id: 'blackhole', title: 'blackhole policy', file: 'web/scenarios/blackhole.nk', summary: 'An L2 pair whose peer policy drops what the peer sends', text: blackhole },
  { id: 'io_uring', title: 'queue lease + zcrx', file: 'examples/io_uring.nk', summary: 'A NIC queue leased to netkit in a container namespace, io_uring zero-copy receive', text: ioUring },
  { id: 'notifier', title: 'NIC goes away', file: 'examples/notifier.nk', summary: 'The NIC is removed: the netkit notifier takes the lessee (and its peer) along', text: notifier },
  { id: 'xdpsock', title: 'AF_XDP via lease', file: 'examples/xdpsock.nk', summary: 'AF_XDP through a leased queue with xdpsock', text: xdpsock },
  { id: 'ebpf', title: 'eBPF port policy', file: 'web/scenarios/ebpf-policy.nk', summary: 'A clang-compiled netkit policy dropping UDP/TCP port 8080', text: ebpf },
];
