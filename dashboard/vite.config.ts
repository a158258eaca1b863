import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// The web dashboard: Preact + uPlot, built into dist/dashboard (served by the local stack at /,
// and by Firebase Hosting on Google Cloud). `BATON_DASHBOARD_OUT` redirects the build (tests).
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: process.env.BATON_DASHBOARD_OUT ?? resolve(import.meta.dirname, '../dist/dashboard'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 800,
  },
});
