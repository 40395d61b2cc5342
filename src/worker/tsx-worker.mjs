// Development only: runs worker.ts through tsx when the emulator itself runs from
// TypeScript sources (tests, `tsx` scripts). Built packages use worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
