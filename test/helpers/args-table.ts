/**
 * The argument-table check the API tests share (test/lifecycle/api-args.test.ts and
 * object-args.test.ts): for a method with signature `sig` and a valid call, null and a
 * symbol at each parameter are EINVAL naming it; other wrong types fail as a NetError or
 * not at all (they may be right for some parameter), never as a raw TypeError; one
 * argument too many is refused.
 */
import { expect } from 'vitest';
import type { Signature } from '../../src/args.js';
import { NetError } from '../../src/errors.js';

export const WRONG: readonly unknown[] = [42, 'x', {}, [], true, -1, 1.5, new Uint8Array(1), () => 0, 10n];

/** What calling `f` threw (or the rejection it returned), or undefined. */
export async function outcome(f: () => unknown): Promise<unknown> {
  try {
    await f();
    return undefined;
  } catch (e) {
    return e;
  }
}

export async function checkSignature(name: string, sig: Signature, valid: () => unknown[], call: (args: unknown[]) => unknown): Promise<void> {
  for (let i = 0; i < sig.length; i++) {
    for (const bad of [null, Symbol('bad')]) {
      const args = valid();
      args[i] = bad;
      const e = await outcome(() => call(args));
      expect(e, `${name} arg ${i} = ${String(bad)}`).toBeInstanceOf(NetError);
      expect((e as NetError).errno, `${name} arg ${i}`).toBe('EINVAL');
      expect((e as NetError).message).toContain(sig[i]![0]);
    }
    for (const bad of WRONG) {
      const args = valid();
      args[i] = bad;
      const e = await outcome(() => call(args));
      if (e !== undefined) expect(e, `${name} arg ${i} = ${String(bad)}: ${String(e)}`).toBeInstanceOf(NetError);
    }
  }
  const extra = [...valid()];
  while (extra.length < sig.length) extra.push(undefined);
  expect(await outcome(() => call([...extra, 'extra'])), `${name} with an extra argument`).toBeInstanceOf(NetError);
}
