/**
 * Loaded BPF programs and links, with ids from one registry (the kernel's prog and link
 * idrs). A program's image lives in the shared memory once loaded so every dataplane
 * thread can run it.
 */

import { Bpffs, type PinnedOf } from './bpffs.js';
import type { BpfMap } from './maps.js';
import type { JitInfo } from './codegen/jit.js';
import type { CompileOptions } from './codegen/compile.js';
import type { MprogLink, MprogProg } from './mprog.js';

/** What the bpffs holds at a path. */
export type Pinned = PinnedOf<BpfProgram, BpfMap>;
/** The emulator's bpffs, of its programs and maps. */
export type BpfFs = Bpffs<BpfProgram, BpfMap>;

/** Program types the emulator runs. */
export type ProgType = 'sched_cls' | 'xdp' | 'socket_filter';

/** Attach types (enum bpf_attach_type names, lowercase, without the BPF_ prefix). */
export type AttachType = 'netkit_primary' | 'netkit_peer' | 'tcx_ingress' | 'tcx_egress' | 'xdp' | 'xdp_devmap' | 'xdp_cpumap';

export const ATTACH_TYPE_NUMBERS: Record<AttachType, number> = {
  tcx_ingress: 46, tcx_egress: 47, netkit_primary: 54, netkit_peer: 55, xdp: 37, xdp_devmap: 38, xdp_cpumap: 39,
};

export class BpfProgram implements MprogProg {
  readonly id: number;
  readonly name: string;
  readonly type: ProgType;
  readonly expectedAttachType: AttachType | undefined;
  /** The program's instructions (relocated), 8 bytes each. */
  readonly insns: Uint8Array;
  /** Shared-memory address of the image the dataplane runs (0 until placed). */
  addr = 0;
  /** Shared-memory address of its program record (abi PR_*), what program lists point at. */
  record = 0;
  /** Attach points and links holding this program. */
  refs = 0;
  /** Unloaded by its owner; freed when the last attachment goes. */
  closed = false;
  /** First 8 bytes of SHA-1 over the instructions, hex (bpftool's "tag"). */
  tag = '';
  /** The maps it uses (each holds a reference until the program is freed). */
  usedMaps: { put(): void }[] = [];
  /** Its compiled code (slot 0 and a reason when it runs on the interpreter). */
  jit: JitInfo = { slot: 0, reason: 'not compiled', bytes: 0, compileMs: 0 };
  /**
   * Its image and compile options when a program list's module may include it
   * (codegen/list.ts `listable`); undefined otherwise.
   */
  listCode: { insns: Uint8Array; o: CompileOptions } | undefined;
  /** It calls bpf_tail_call. */
  tailCalls = false;
  /** It calls a helper keeping state on the packet in the run record (PACKET_STATE_HELPERS). */
  packetState = false;
  /** Id of the BTF it was loaded with (0: none). */
  btfId = 0;
  /**
   * When it was loaded, wall-clock milliseconds since the epoch: the kernel keeps the boot
   * time of the load and bpftool adds the boot's wall-clock time, i.e. the host's real time,
   * which nkemu has too (its virtual clock drives packets, not the bpf syscall's records).
   */
  readonly loadedAt = Date.now();

  constructor(o: { id: number; name: string; type: ProgType; expectedAttachType?: AttachType; insns: Uint8Array }) {
    this.id = o.id;
    this.name = o.name.slice(0, 15);
    this.type = o.type;
    this.expectedAttachType = o.expectedAttachType;
    this.insns = o.insns;
  }
}

export class BpfLink implements MprogLink {
  readonly id: number;
  readonly type: 'netkit' | 'tcx' | 'xdp';
  prog: BpfProgram;
  readonly attachType: AttachType;
  /** Device the link is attached to; 0 once detached (fdinfo shows `ifindex: 0`). */
  ifindex: number;
  attached = false;
  /** Namespace of the device (internal id), for update and detach. */
  netns: number;

  constructor(o: { id: number; type: 'netkit' | 'tcx' | 'xdp'; prog: BpfProgram; attachType: AttachType; ifindex: number; netns: number }) {
    this.id = o.id;
    this.type = o.type;
    this.prog = o.prog;
    this.attachType = o.attachType;
    this.ifindex = o.ifindex;
    this.netns = o.netns;
  }
}

/** Ids for programs and links (cyclic from 1, like the kernel's idr). */
export class BpfRegistry {
  readonly progs = new Map<number, BpfProgram>();
  readonly links = new Map<number, BpfLink>();
  /** The bpffs (pinned programs and maps). */
  readonly fs = new Bpffs<BpfProgram, BpfMap>();
  private nextProg = 1;
  private nextLink = 1;

  progId(): number {
    return this.nextProg++;
  }

  linkId(): number {
    return this.nextLink++;
  }

  prog(id: number): BpfProgram | undefined {
    return this.progs.get(id);
  }

  link(id: number): BpfLink | undefined {
    return this.links.get(id);
  }
}
