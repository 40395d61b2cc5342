import { afterAll, beforeAll } from 'vitest';
import { rig, type Rig } from './entry-diff.js';

/**
 * The differential tests' two emulators (entry-diff.ts `rig`): one that compiles and one
 * that does not, made before the calling file's (or describe block's) tests and closed after.
 */
export function entryRigs(): { compiled: Rig; interp: Rig } {
  const r = {} as { compiled: Rig; interp: Rig };
  beforeAll(async () => {
    r.compiled = await rig(true);
    r.interp = await rig(false);
  });
  afterAll(async () => {
    await r.compiled.emu.close();
    await r.interp.emu.close();
  });
  return r;
}
