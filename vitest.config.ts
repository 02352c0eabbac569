import { defineConfig } from 'vitest/config';

// One config for the whole suite (CI runs it on 2 cores: keep tests fast, see docs).
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Forks, not threads: Node's Dawn addon (webgpu) and big typed arrays are happier in a
    // process of their own, and a crashing native addon takes down one fork, not the run.
    pool: 'forks',
    maxWorkers: 2,
    // Software GPU (llvmpipe / lavapipe) and TS-reference attention are slow on a 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    setupFiles: ['tests/setup.ts'],
  },
});
