/**
 * A network namespace: its devices (by ifindex and by name, both unique within it),
 * the cyclic ifindex allocator, the nsids it has assigned to other namespaces, and its
 * IPv4 stack.
 */

import { fail } from '../errors.js';
import type { Stack } from './stack/stack.js';

/**
 * What a namespace needs of its devices (NetDevice, which refers to its namespace: the
 * device type is a parameter so this module need not import it).
 */
export interface NsDevice {
  ifindex: number;
  name: string;
}

const IFINDEX_MAX = 0x7fffffff;

/**
 * The device type namespaces hold by default: net/netdev.ts registers NetDevice here by
 * declaration merging (`device: NetDevice`), so this lower module need not import it.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NsDeviceType {}
type DefaultDevice = NsDeviceType extends { device: infer T extends NsDevice } ? T : NsDevice;

export class Netns<D extends NsDevice = DefaultDevice> {
  /** Internal id, unique for the emulator's lifetime (the dataplane's D_NETNS). */
  readonly id: number;
  /** `ip netns` name; the initial namespace is "init". */
  readonly name: string;
  readonly devices = new Map<number, D>();
  readonly byName = new Map<string, D>();
  /** ifindex allocation hint: the last index handed out. */
  private ifindexHint = 0;
  /** nsids this namespace assigned to others (peernet2id), by their internal id. */
  private readonly nsids = new Map<number, number>();
  stack!: Stack;
  alive = true;
  /** dev_unreg_head: devices whose unregistration another namespace requested. */
  readonly pending: D[] = [];

  constructor(id: number, name: string) {
    this.id = id;
    this.name = name;
  }

  /**
   * The next free ifindex after the last one handed out, wrapping (dev_index_reserve),
   * or the requested one (EBUSY when taken).
   */
  allocIfindex(requested = 0): number {
    if (requested > 0) {
      if (this.devices.has(requested)) fail('EBUSY');
      return requested;
    }
    let i = this.ifindexHint;
    for (;;) {
      i = i >= IFINDEX_MAX ? 1 : i + 1;
      if (!this.devices.has(i)) break;
    }
    this.ifindexHint = i;
    return i;
  }

  /**
   * dev_get_valid_name / __dev_alloc_name: a `%d` template takes the lowest free number;
   * a plain name must be valid (EINVAL) and free (EEXIST).
   */
  allocName(name: string, taken: ReadonlySet<string> = new Set()): string {
    if (!validName(name)) fail('EINVAL');
    const at = name.indexOf('%');
    if (at < 0) {
      if (this.byName.has(name) || taken.has(name)) fail('EEXIST');
      return name;
    }
    if (name.slice(at) !== '%d' && !/^%d/.test(name.slice(at)) || name.indexOf('%', at + 1) >= 0) fail('EINVAL');
    for (let n = 0; n < 32768; n++) {
      const candidate = name.replace('%d', String(n));
      if (!validName(candidate)) fail('EINVAL');
      if (!this.byName.has(candidate) && !taken.has(candidate)) return candidate;
    }
    return fail('ENFILE');
  }

  /** peernet2id_alloc: the nsid this namespace uses for `other`, allocated on demand. */
  nsidOf(other: Netns): number {
    let id = this.nsids.get(other.id);
    if (id === undefined) {
      id = 0;
      const used = new Set(this.nsids.values());
      while (used.has(id)) id++;
      this.nsids.set(other.id, id);
    }
    return id;
  }

  /** The namespace holding nsid `nsid` here, if assigned. */
  nsidTarget(nsid: number): number | undefined {
    for (const [ns, id] of this.nsids) if (id === nsid) return ns;
    return undefined;
  }

  /** `ip netns set NAME NSID` equivalent: assign a specific nsid (EEXIST when used). */
  setNsid(other: Netns, nsid: number): void {
    if (this.nsids.has(other.id) || this.nsidTarget(nsid) !== undefined) fail('EEXIST');
    this.nsids.set(other.id, nsid);
  }

  forgetNsid(other: Netns): void {
    this.nsids.delete(other.id);
  }

  list(dev: D): void {
    this.devices.set(dev.ifindex, dev);
    this.byName.set(dev.name, dev);
  }

  unlist(dev: D): void {
    this.devices.delete(dev.ifindex);
    this.byName.delete(dev.name);
  }

  /** Device by name or ifindex (undefined when absent). */
  find(dev: string | number): D | undefined {
    return typeof dev === 'number' ? this.devices.get(dev) : this.byName.get(dev);
  }
}

/** dev_valid_name */
export function validName(name: string): boolean {
  if (name.length === 0 || name.length >= 16) return false;
  if (name === '.' || name === '..') return false;
  return !/[/:\s]/.test(name);
}
