/**
 * bpftool's json_writer (tools/bpf/bpftool/json_writer.c) over a JS value: compact for -j,
 * and for -p its own pretty form, which is not JSON.stringify's — a name starts a new line
 * indented four spaces a level, array elements do not (`"map_ids": [3,4\n    ]`), and a
 * closing bracket goes on its own line only when something came before it (`[]`).
 */

/** Text printed as it is, unquoted (bpftool's jsonw_printf of a pointer, a 128-bit hex…). */
export class Raw {
  constructor(readonly text: string) {}
}

export function jsonWrite(v: unknown, pretty: boolean): string {
  let out = '';
  let depth = 0;
  // (jsonw's `sep`: '' stands for its '\0', nothing yet at this level)
  let sep = '';
  const eol = (): void => { if (pretty) out += `\n${'    '.repeat(depth)}`; };
  const eor = (): void => { out += sep; sep = ','; };
  const begin = (c: string): void => { eor(); out += c; depth++; sep = ''; };
  const end = (c: string): void => { depth--; if (sep !== '') eol(); out += c; sep = ','; };
  const value = (x: unknown): void => {
    if (Array.isArray(x)) {
      begin('[');
      for (const e of x) value(e);
      end(']');
    } else if (x instanceof Raw) {
      eor(); out += x.text;
    } else if (typeof x === 'bigint') {
      eor(); out += x.toString();
    } else if (x !== null && typeof x === 'object') {
      begin('{');
      for (const [k, e] of Object.entries(x)) {
        eor(); eol(); sep = '';
        out += `${quote(k)}:${pretty ? ' ' : ''}`;
        value(e);
      }
      end('}');
    } else {
      eor(); out += typeof x === 'string' ? quote(x) : String(x);
    }
  };
  value(v);
  return out;
}

/** jsonw_puts: the quote, the backslash and the C escapes; every other byte as it is. */
function quote(s: string): string {
  const esc: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '\f': '\\f', '\b': '\\b', '\\': '\\\\', '"': '\\"' };
  return `"${s.replace(/[\t\n\r\f\b\\"]/g, (c) => esc[c]!)}"`;
}
