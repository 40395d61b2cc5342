// Development only (not in src/: it needs tsx, a dev dependency, and is never shipped):
// runs the dataplane worker through tsx when the emulator itself runs from its TypeScript
// sources (tests, `tsx` scripts). Built packages use dist/src/worker/worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('../src/worker/worker.ts');
