import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // examples/: the README's harness pattern, run as users would (`nkemu` is this package).
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
