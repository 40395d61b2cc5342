/**
 * The netdevice notifier chain (enum netdev_cmd values, netns-unregister.md §1.2):
 * subscribers run in subscription order, synchronously, for every namespace.
 */

import type { NetDevice } from './netdev.js';

export enum NetdevEvent {
  UP = 1,
  DOWN = 2,
  CHANGE = 4,
  REGISTER = 5,
  UNREGISTER = 6,
  CHANGEMTU = 7,
  CHANGEADDR = 8,
  GOING_DOWN = 10,
  CHANGENAME = 11,
  PRE_UP = 14,
  PRE_UNINIT = 18,
}

const NAMES: Record<number, string> = {
  1: 'NETDEV_UP', 2: 'NETDEV_DOWN', 4: 'NETDEV_CHANGE', 5: 'NETDEV_REGISTER', 6: 'NETDEV_UNREGISTER',
  7: 'NETDEV_CHANGEMTU', 8: 'NETDEV_CHANGEADDR', 10: 'NETDEV_GOING_DOWN', 11: 'NETDEV_CHANGENAME',
  14: 'NETDEV_PRE_UP', 18: 'NETDEV_PRE_UNINIT',
};

/** The kernel's name of an event (`NETDEV_UNREGISTER`). */
export function eventName(ev: NetdevEvent): string {
  return NAMES[ev] ?? `NETDEV_${ev}`;
}

export type NetdevListener = (event: NetdevEvent, dev: NetDevice) => void;

export class Notifier {
  private readonly listeners: { fn: NetdevListener; priority: number }[] = [];

  /**
   * Adds a listener; higher `priority` runs earlier, equal priorities in subscription
   * order (notifier_block.priority, default 0). Returns a function that removes it.
   */
  subscribe(fn: NetdevListener, priority = 0): () => void {
    let i = this.listeners.findIndex((l) => l.priority < priority);
    if (i < 0) i = this.listeners.length;
    this.listeners.splice(i, 0, { fn, priority });
    return () => {
      const at = this.listeners.findIndex((l) => l.fn === fn);
      if (at >= 0) this.listeners.splice(at, 1);
    };
  }

  emit(event: NetdevEvent, dev: NetDevice): void {
    for (const l of [...this.listeners]) l.fn(event, dev);
  }
}
