/**
 * nkemu's side of a kernel recording (test/fixtures/bpf/expected.json and the corpus's):
 * a loaded object's maps in the recording's shape, and the per-CPU sums both sides are
 * compared by.
 */
import type { Recorded } from '../fixtures/bpf/cases.js';
import type { BpfMap } from '../../src/ebpf/maps.js';
import type { MapElem } from './kernel.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Every map's non-zero elements as the recorder writes them (keys sorted); `only` picks maps by name. */
export function mapRows(maps: ReadonlyMap<string, BpfMap>, only?: readonly string[]): NonNullable<Recorded['maps']> {
  const out: NonNullable<Recorded['maps']> = {};
  for (const [name, m] of maps) {
    if (only && !only.includes(name)) continue;
    const rows: { key: string; value: string | string[] }[] = [];
    for (const k of m.keys()) {
      // (a value user space cannot read — a cgroup array's, ENOTSUPP — records nothing, as the recorder's dump)
      let v: ReturnType<BpfMap['lookup']>;
      try { v = m.lookup(k); } catch { continue; }
      if (v === undefined) continue;
      const value = Array.isArray(v) ? v.map(hex) : hex(v);
      if ((Array.isArray(value) ? value : [value]).some((x) => /[^0]/.test(x))) rows.push({ key: hex(k), value });
    }
    out[name] = rows.sort((a, b) => a.key.localeCompare(b.key));
  }
  return out;
}

/**
 * Per-CPU values: the recording has one per kernel CPU (whichever ran the test), nkemu
 * one per thread; compare their sums (values read as little-endian u64 words).
 */
export function comparable(maps: Recorded['maps']): Recorded['maps'] {
  if (!maps) return maps;
  const sum = (vals: string[]): string => {
    const words = vals[0]!.length / 16;
    let out = '';
    for (let w = 0; w < words; w++) {
      let t = 0n;
      for (const v of vals) t += Buffer.from(v.slice(w * 16, w * 16 + 16), 'hex').readBigUInt64LE();
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt.asUintN(64, t));
      out += b.toString('hex');
    }
    return out + vals[0]!.slice(words * 16);
  };
  return Object.fromEntries(Object.entries(maps).map(([k, rows]) => [k, rows.map((r) => ({
    key: r.key, value: Array.isArray(r.value) ? sum(r.value) : r.value,
  })).filter((r) => /[^0]/.test(r.value))]));
}

/** Puts a case's `mapsIn` element in nkemu's map: its bytes, or a cgroup (by path) in a cgroup array. */
export function putElem(maps: ReadonlyMap<string, BpfMap>, e: MapElem): void {
  const m = maps.get(e.map)!;
  if ('cgroup' in e) m.setCgroup(Buffer.from(e.key).readUInt32LE(0), e.cgroup);
  else m.update(new Uint8Array(e.key), new Uint8Array(e.value));
}
