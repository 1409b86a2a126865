import { defineConfig } from 'vitest/config';

// vitest 4: the newest line that supports Node 20, which the project's machines and CI run
// (vitest 5 needs Node 22.12: on Node 20 its reporter crashes when printing a failure).
// GPU tests run on SwiftShader (CPU) in CI, and the package test packs, installs and bundles:
// generous timeouts. 'forks' keeps each test file in its own process (Dawn's dawn.node included).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
