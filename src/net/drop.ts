/** Names of the dataplane's drop reasons (abi DROP_*), as the kernel's skb drop reasons read. */

import * as A from '../abi.generated.js';

const DROP_NAMES: Record<number, string> = {
  [A.DROP_NO_PEER]: 'NETKIT_NO_PEER',
  [A.DROP_PEER_DOWN]: 'NETKIT_PEER_DOWN',
  [A.DROP_PKT_TOO_SMALL]: 'PKT_TOO_SMALL',
  [A.DROP_POLICY]: 'NETKIT_POLICY_DROP',
  [A.DROP_BPF_DROP]: 'BPF_DROP',
  [A.DROP_BPF_VERDICT]: 'BPF_BAD_VERDICT',
  [A.DROP_BACKLOG_FULL]: 'BACKLOG_FULL',
  [A.DROP_BPF_FAULT]: 'BPF_FAULT',
  [A.DROP_REDIRECT]: 'REDIRECT_FAILED',
  [A.DROP_NTUPLE]: 'NTUPLE_DISCARD',
  [A.DROP_PROVIDER_EMPTY]: 'PROVIDER_EMPTY',
  [A.DROP_XDP]: 'XDP_DROP',
  [A.DROP_XDP_ABORTED]: 'XDP_ABORTED',
  [A.DROP_TCX]: 'TCX_DROP',
  [A.DROP_XSK_NO_BUFFER]: 'XSK_NO_BUFFER',
  [A.DROP_NOMEM]: 'NOMEM',
};

/** Name of a drop reason counter index (A.DROP_*). */
export function dropReasonName(reason: number): string {
  if (reason === 0) return 'NONE';
  return DROP_NAMES[reason] ?? `DROP_${reason}`;
}
