/**
 * The bpf_conformance case format (../shared/conformance/ebpf): `-- asm`, `-- raw`,
 * `-- mem`, `-- result`, `-- error` sections.
 */

export interface Case { asm?: string; raw?: Uint8Array; mem?: Uint8Array; result?: string; error?: string; sections: string[] }

export function parseCase(text: string): Case {
  const c: Case = { sections: [] };
  let cur = '';
  const body: Record<string, string[]> = {};
  for (const line of text.split('\n')) {
    const m = /^-- (.*)$/.exec(line);
    if (m) { cur = m[1]!.trim(); c.sections.push(cur); body[cur] = []; continue; }
    if (cur) body[cur]!.push(line);
  }
  const bytes = (s: string[]): Uint8Array => new Uint8Array(s.join(' ').replace(/#.*$/gm, '').split(/\s+/).filter(Boolean).map((h) => parseInt(h, 16)));
  if (body.asm) c.asm = body.asm.join('\n');
  if (body.raw) {
    // Either byte tokens (`04 10 00 …`) or 64-bit little-endian words (`0x5566778800000018`).
    const words = body.raw.map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
    if (words.every((w) => /^0x[0-9a-f]{16}$/i.test(w))) {
      const out = new Uint8Array(words.length * 8);
      words.forEach((w, i) => new DataView(out.buffer).setBigUint64(i * 8, BigInt(w), true));
      c.raw = out;
    } else c.raw = bytes(body.raw);
  }
  if (body.mem) c.mem = bytes(body.mem);
  if (body.result) c.result = body.result.map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean).join('');
  if (body.error) c.error = body.error.join('\n').trim();
  return c;
}
