import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The end-to-end suites start real processes: keep files in parallel but bounded for a 2-core machine.
    maxWorkers: 2,
    env: { METADATA_SERVER_DETECTION: 'none' },
    reporters: ['default', ['json', { outputFile: '.tmp/vitest-report.json' }]],
  },
});
