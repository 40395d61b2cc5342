/**
 * Argument shapes of the public API, checked at the Emulator facade before any subsystem
 * sees them: a wrong type, an unknown option key or a value out of its type's range is
 * NetError EINVAL naming the argument (never a TypeError from deep inside, never silently
 * accepted). The subsystems then check meaning (ENODEV, EEXIST, …) with the kernel's rules.
 */

import { NetError } from './errors.js';

export type Shape = (v: unknown, path: string) => void;

function bad(path: string, rule: string, v: unknown): never {
  const shown = typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? (v as object).constructor?.name ?? 'an object' : String(v);
  throw new NetError('EINVAL', `${path}: ${rule}, got ${shown}`);
}

export const str: Shape = (v, p) => { if (typeof v !== 'string') bad(p, 'must be a string', v); };
export const bool: Shape = (v, p) => { if (typeof v !== 'boolean') bad(p, 'must be a boolean', v); };
export const num: Shape = (v, p) => { if (typeof v !== 'number' || Number.isNaN(v)) bad(p, 'must be a number', v); };
export const big: Shape = (v, p) => { if (typeof v !== 'bigint') bad(p, 'must be a bigint', v); };
export const fn: Shape = (v, p) => { if (typeof v !== 'function') bad(p, 'must be a function', v); };
export const bytes: Shape = (v, p) => { if (!(v instanceof Uint8Array)) bad(p, 'must be a Uint8Array', v); };
export const any: Shape = () => undefined;

/** An integer in lo..hi. */
export function int(lo = Number.MIN_SAFE_INTEGER, hi = Number.MAX_SAFE_INTEGER): Shape {
  return (v, p) => { if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(p, `must be an integer in ${lo}..${hi}`, v); };
}

export const u32 = int(0, 0xffffffff);

/** One of the shapes. */
export function or(...shapes: Shape[]): Shape {
  return (v, p) => {
    let first: unknown;
    for (const s of shapes) {
      try { s(v, p); return; } catch (e) { first ??= e; }
    }
    throw first;
  };
}

/** One of these values. */
export function oneOf(...values: readonly unknown[]): Shape {
  return (v, p) => { if (!values.includes(v)) bad(p, `must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, v); };
}

/** Undefined, or the shape. */
export function opt(s: Shape): Shape {
  return (v, p) => { if (v !== undefined) s(v, p); };
}

/** An array of the shape. */
export function arr(s: Shape): Shape {
  return (v, p) => {
    if (!Array.isArray(v)) bad(p, 'must be an array', v);
    v.forEach((x, i) => s(x, `${p}[${i}]`));
  };
}

/** An object of this class (or anything with these fields, for structural types). */
export function inst(cls: abstract new (...a: never[]) => unknown, name = cls.name): Shape {
  return (v, p) => { if (!(v instanceof cls)) bad(p, `must be a ${name}`, v); };
}

/** An object with (optional unless `required`) keys of these shapes; other keys are refused. */
export function obj(fields: Record<string, Shape>, required: readonly string[] = []): Shape {
  return (v, p) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(p, 'must be an object', v);
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!(k in fields)) throw new NetError('EINVAL', `${p}: unknown key ${k}`);
    }
    for (const k of required) if (o[k] === undefined) throw new NetError('EINVAL', `${p}.${k}: required`);
    for (const [k, s] of Object.entries(fields)) if (o[k] !== undefined) s(o[k], `${p}.${k}`);
  };
}

/** A plain object whose keys are u32 numbers and whose values are of the shape (a `Record<number, T>`). */
export function byU32(s: Shape): Shape {
  return (v, p) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(p, 'must be an object', v);
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (!/^(0|[1-9]\d*)$/.test(k) || Number(k) > 0xffffffff) bad(p, 'must have u32 keys', k);
      s(x, `${p}[${k}]`);
    }
  };
}

/** An object with at least these fields (a structural type the caller got from us). */
export function has(fields: Record<string, Shape>, name: string): Shape {
  return (v, p) => {
    if (v === null || typeof v !== 'object') bad(p, `must be a ${name}`, v);
    for (const [k, s] of Object.entries(fields)) {
      try { s((v as Record<string, unknown>)[k], `${p}.${k}`); } catch { bad(p, `must be a ${name}`, v); }
    }
  };
}

/** A method's parameters, in order (name and shape). */
export type Signature = [string, Shape][];

/** Checks `args` against a signature; more arguments than it names are refused too. */
export function checkArgs(method: string, sig: Signature, args: ArrayLike<unknown>): void {
  if (args.length > sig.length && Array.prototype.slice.call(args, sig.length).some((a) => a !== undefined)) {
    throw new NetError('EINVAL', `${method}: at most ${sig.length} arguments`);
  }
  sig.forEach(([name, s], i) => s(args[i], `${method}: ${name}`));
}

/**
 * Makes each method of `proto` named in `sigs` check its arguments first (EINVAL naming
 * the argument, before anything changes); the `async` ones reject instead of throwing.
 */
export function guardMethods(cls: string, proto: object, sigs: Record<string, Signature>, async: ReadonlySet<string> = new Set()): void {
  const methods = proto as Record<string, (...a: unknown[]) => unknown>;
  for (const [name, sig] of Object.entries(sigs)) {
    const method = methods[name];
    if (typeof method !== 'function') throw new Error(`${cls}: no method ${name}`);
    Object.defineProperty(proto, name, {
      value: function checked(this: unknown, ...args: unknown[]): unknown {
        try {
          checkArgs(name, sig, args);
        } catch (e) {
          if (async.has(name)) return Promise.reject(e);
          throw e;
        }
        return method.apply(this, args);
      },
      writable: true, configurable: true,
    });
  }
}
