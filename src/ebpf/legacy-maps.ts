/**
 * Maps of a legacy `maps` section made as iproute2's legacy ELF loader makes them
 * (lib/bpf_legacy.c, bpf_maps_attach_all; libbpf ≥ 1.0 refuses the section): pinning
 * (PIN_OBJECT_NS under /sys/fs/bpf/tc/<SHA-1 of the object>/, PIN_GLOBAL_NS under
 * /sys/fs/bpf/tc/globals/, other ids under the subpath /etc/iproute2/bpf_pinning gives
 * them), a pinned map reused when its definition matches and the object refused when it
 * does not, and map-in-map (`inner_id` names the template map's `id`; each map with an
 * `id` goes into the maps of maps at its `inner_idx`). Refusals are LoadErrors with what
 * iproute2 prints.
 */

import { sha1 } from '@noble/hashes/legacy.js';
import { NetError } from '../errors.js';
import { IPROUTE2_DIR, IPROUTE2_GLOBALS } from './bpffs.js';
import type { BpfFs } from './program.js';
import type { BpfMapDef } from './elf.js';
import { LoadError } from './load-error.js';
import { MAP_TYPE_NUMBERS, type BpfMap } from './maps.js';

const PIN_NONE = 0, PIN_OBJECT_NS = 1, PIN_GLOBAL_NS = 2;
const ARRAY_OF_MAPS = 12, HASH_OF_MAPS = 13;
/** `inner_idx` -1: a template only, put in no map of maps. */
const NO_INNER_IDX = 0xffffffff;

/** What follows any refusal while iproute2 makes an object's maps (bpf_fetch_ancillary, bpf_obj_open). */
const TRAILER = ['Error loading maps into kernel!', 'Error fetching ELF ancillary data!'];

export interface LegacyMapOptions {
  fs: BpfFs;
  /** The object file's bytes (PIN_OBJECT_NS pins under their SHA-1). */
  bytes: Uint8Array;
  /** iproute2's /etc/iproute2/bpf_pinning: custom pinning id → subpath under /sys/fs/bpf. */
  pinning?: Record<number, string>;
  /** Creates one map (`inner`: the template map of a map of maps). */
  create(def: BpfMapDef, inner?: BpfMap): BpfMap;
}

/** A refusal in iproute2's legacy loader's words (all it prints, lines as they are). */
export class Iproute2Refusal extends LoadError {}

function refuse(lines: string[]): never {
  throw new Iproute2Refusal([...lines, ...TRAILER].join('\n'));
}

const isMapInMap = (d: BpfMapDef): boolean => d.type === ARRAY_OF_MAPS || d.type === HASH_OF_MAPS;

/** C's `%#x`: `0x` before any value but 0. */
const hashX = (v: number): string => (v === 0 ? '0' : `0x${v.toString(16)}`);

/**
 * Parses iproute2's bpf_pinning database (`ID SUBPATH` a line, `#` comments; bpf_hash_init):
 * ids 0–2 are reserved and skipped; a line that is not an id and a path ends the reading,
 * as iproute2 stops there (it prints "Database FILE is corrupted at: LINE").
 */
export function parsePinningDb(text: string): Record<number, string> {
  const out: Record<number, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^[ \t]+/, '');
    if (line === '' || line.startsWith('#')) continue;
    // (sscanf "%i %s": an integer in C's bases, then a word)
    const m = /^([+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*))\s+(\S+)/.exec(line);
    if (!m) break;
    const id = Number(m[1]!.replace(/^([+-]?)0([0-7]+)$/, (_s, sign: string, o: string) => `${sign}${parseInt(o, 8)}`)) >>> 0;
    if (id === PIN_NONE || id === PIN_OBJECT_NS || id === PIN_GLOBAL_NS) continue;
    out[id] ??= m[2]!;
  }
  return out;
}

/** Where iproute2 pins a map (bpf_make_pathname), or undefined when it does not (bpf_no_pinning). */
export function legacyPinPath(def: BpfMapDef, o: { bytes: Uint8Array; pinning?: Record<number, string> }): string | undefined {
  const p = def.pinning ?? PIN_NONE;
  if (p === PIN_NONE) return undefined;
  if (p === PIN_OBJECT_NS) return `${IPROUTE2_DIR}/${objectUid(o.bytes)}/${def.name}`;
  if (p === PIN_GLOBAL_NS) return `${IPROUTE2_GLOBALS}/${def.name}`;
  const sub = o.pinning?.[p];
  return sub === undefined ? undefined : `${IPROUTE2_DIR}/../${sub}/${def.name}`;
}

const uids = new WeakMap<Uint8Array, string>();

/** iproute2's obj_uid: the SHA-1 of the object file, hex. */
function objectUid(bytes: Uint8Array): string {
  let u = uids.get(bytes);
  if (u === undefined) uids.set(bytes, (u = [...sha1(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('')));
  return u;
}

/**
 * bpf_map_selfcheck_pinned: the pinned map's type, key size, value size, max entries and
 * flags (its fdinfo) must be the definition's, else iproute2 refuses with a report of each
 * difference.
 */
function selfCheck(def: BpfMapDef, pin: BpfMap): void {
  const rows: [string, number, number, (v: number) => string][] = [
    ['Type:        ', def.type, MAP_TYPE_NUMBERS[pin.type] ?? 0, String],
    ['Size key:    ', def.keySize, pin.keySize, String],
    ['Size value:  ', def.valueSize, pin.valueSize, String],
    ['Max elems:   ', def.maxEntries, pin.maxEntries, String],
    ['Flags:       ', def.flags, pin.flags, hashX],
  ];
  const diff = rows.filter(([, a, b]) => a !== b);
  if (diff.length === 0) return;
  refuse([
    'Map specification differs from pinned file!',
    ...diff.map(([label, a, b, f]) => ` - ${label} ${f(a)} (obj) != ${f(b)} (pin)`),
    '',
    `Map '${def.name}' self-check failed!`,
  ]);
}

/**
 * Makes (or takes from their pins) the legacy maps `defs[i]` for each `i` of `which`, into
 * `out[i]`, in iproute2's three passes: every map but the maps of maps, then those with
 * their templates, then each map with an `id` put into the maps of maps that name it.
 */
export function attachLegacyMaps(defs: BpfMapDef[], which: number[], out: BpfMap[], o: LegacyMapOptions): void {
  // (bpf_init_env → bpf_get_work_dir: iproute2 makes its tree under the bpffs on every load)
  o.fs.makeIproute2Tree();
  let haveMapInMap = 0;
  const attach = (i: number, first: boolean): BpfMap | undefined => {
    const def = defs[i]!;
    const path = legacyPinPath(def, o);
    const pinned = path === undefined ? undefined : o.fs.get(path);
    if (pinned) {
      if (pinned.kind !== 'map') refuse([`Map '${def.name}' self-check failed!`]);
      selfCheck(def, pinned.map);
      return pinned.map;
    }
    let inner: BpfMap | undefined;
    if (isMapInMap(def)) {
      if (first) {
        haveMapInMap++;
        if (def.innerId) return undefined;
        refuse([`Map '${def.name}' cannot be created since no inner map ID defined!`]);
      }
      // (bpf_find_map_id: the first map with that id, which must exist by now)
      const t = which.find((k) => defs[k]!.legacyId === def.innerId);
      inner = t === undefined ? undefined : out[t];
      if (!inner) refuse([`Map '${def.name}' cannot be loaded. Inner map with ID ${def.innerId ?? 0} not found!`]);
    }
    const map = o.create(def, inner);
    if (path !== undefined) o.fs.pin(path, { kind: 'map', map });
    return map;
  };
  for (const i of which) {
    const m = attach(i, true);
    if (m) out[i] = m;
  }
  if (!haveMapInMap) return;
  for (const i of which) if (!out[i]) out[i] = attach(i, false)!;
  for (const i of which) {
    const def = defs[i]!;
    if (def.innerIdx === undefined || def.innerIdx === NO_INNER_IDX) continue;
    for (const j of which) {
      const outer = defs[j]!;
      if (!isMapInMap(outer) || outer.innerId !== def.legacyId) continue;
      const map = out[j]!;
      const key = new Uint8Array(Math.max(4, map.keySize));
      new DataView(key.buffer).setUint32(0, def.innerIdx, true);
      try {
        map.setInner(key.subarray(0, map.keySize), out[i]!);
      } catch (e) {
        if (!(e instanceof NetError)) throw e;
        // (bpf_report_map_in_map)
        const why = def.innerIdx >= map.maxEntries && map.type === 'array_of_maps'
          ? `Outer map has ${map.maxEntries} elements, index ${def.innerIdx} is invalid!`
          : 'Different map specs used for outer and inner map?';
        refuse([`Cannot insert map into map! ${why}`]);
      }
    }
  }
}
