/**
 * Disk used by the local target's data folder after many deployments of one service, with the
 * cleanup on (BATON_CLEANUP, keeping BATON_KEEP_REVISIONS revisions) and off, side by side in
 * one run. The app is small and fast to build but has a real node_modules (a dependency installed
 * from a tarball with ~1 MiB in it), so each kept revision costs what an extracted app costs.
 *
 *   npm run bench:disk
 *
 * Knobs (environment): BENCH_DISK_DEPLOYS (50), BENCH_DISK_KEEP (3, the default of
 * BATON_KEEP_REVISIONS), BENCH_DISK_PAYLOAD_KB (1024). Each run gets a fresh temp data folder.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { startLocalStack } from '../functions/local/stack.js';
import { loadConfig } from '../shared/config.js';
import { FINAL_STATUSES } from '../shared/domain/status.js';
import { intEnv } from './stats.js';

const DEPLOYS = intEnv('BENCH_DISK_DEPLOYS', 50);
const KEEP = intEnv('BENCH_DISK_KEEP', 3);
const PAYLOAD_KB = intEnv('BENCH_DISK_PAYLOAD_KB', 1024, 0);
const progress = (line: string) => process.stderr.write(`bench:disk: ${line}\n`);

/** A service with one dependency installed from a tarball in the source (no registry needed). */
async function makeApp(root: string): Promise<string> {
  const lib = join(root, 'lib');
  mkdirSync(lib, { recursive: true });
  writeFileSync(join(lib, 'package.json'), JSON.stringify({ name: 'payload', version: '1.0.0', main: 'index.js' }));
  writeFileSync(join(lib, 'index.js'), "module.exports = 'payload';\n");
  // Random bytes do not compress: the artifact costs what the payload does.
  writeFileSync(join(lib, 'data.bin'), randomBytes(PAYLOAD_KB * 1024));
  const app = join(root, 'app');
  mkdirSync(join(app, 'vendor'), { recursive: true });
  await create({ gzip: true, file: join(app, 'vendor', 'payload-1.0.0.tgz'), cwd: lib, prefix: 'package', portable: true }, [
    'package.json',
    'index.js',
    'data.bin',
  ]);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'disk-bench',
      version: '1.0.0',
      private: true,
      scripts: { start: 'node server.js' },
      dependencies: { payload: 'file:vendor/payload-1.0.0.tgz' },
    }),
  );
  writeFileSync(
    join(app, 'server.js'),
    "require('payload');\nrequire('node:http').createServer((q, s) => s.end('{\"status\":\"ok\"}')).listen(Number(process.env.PORT));\n",
  );
  return app;
}

/** Bytes on disk under `dir` (allocated blocks, links not followed), by top-level part. */
function usage(dir: string): Map<string, number> {
  const parts = new Map<string, number>();
  const walk = (path: string, part: string) => {
    const info = lstatSync(path);
    parts.set(part, (parts.get(part) ?? 0) + info.blocks * 512);
    if (info.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name), part);
  };
  for (const name of readdirSync(dir)) {
    const sub = join(dir, name);
    if (lstatSync(sub).isDirectory() && (name === 'blobs' || name === 'work')) {
      for (const inner of readdirSync(sub)) walk(join(sub, inner), `${name}/${inner}`);
    } else walk(sub, name);
  }
  return parts;
}

async function run(
  app: string,
  cleanup: boolean,
): Promise<{ total: number; parts: Map<string, number>; revisions: number; seconds: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'baton-bench-disk-'));
  const stack = await startLocalStack(
    loadConfig({
      BATON_DATA_DIR: dataDir,
      PORT: '0',
      BATON_VERIFY_POLL_MS: '20',
      BATON_CLEANUP: String(cleanup),
      BATON_KEEP_REVISIONS: String(KEEP),
    }),
  );
  const began = Date.now();
  try {
    for (let i = 1; i <= DEPLOYS; i++) {
      const res = await fetch(`${stack.url}/deploy`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent_id: 'disk-bench', source: { type: 'directory', path: app } }),
      });
      const body = (await res.json()) as { deployment_id?: string };
      if (res.status !== 202 || !body.deployment_id) throw new Error(`deploy ${i} answered ${res.status}: ${JSON.stringify(body)}`);
      const id = body.deployment_id;
      while (true) {
        const job = await stack.jobs.get(id);
        if (job && FINAL_STATUSES.includes(job.status)) {
          if (job.status !== 'completed') throw new Error(`deploy ${i} ended ${job.status}: ${job.error_message}`);
          break;
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      if (i % 10 === 0) progress(`cleanup ${cleanup ? 'on' : 'off'}: ${i}/${DEPLOYS} deployed`);
    }
    await stack.bus.idle();
    await stack.cleanup?.idle();
    const seconds = (Date.now() - began) / 1000;
    const revisions = readdirSync(join(dataDir, 'work', 'revisions', 'disk-bench'), { withFileTypes: true }).filter((e) =>
      e.isDirectory(),
    ).length;
    const parts = usage(dataDir);
    const total = [...parts.values()].reduce((a, b) => a + b, 0);
    return { total, parts, revisions, seconds };
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'baton-bench-disk-app-'));
  try {
    const app = await makeApp(root);
    progress(`${DEPLOYS} deployments of one service, payload ${PAYLOAD_KB} KiB, keep ${KEEP}`);
    const on = await run(app, true);
    const off = await run(app, false);
    const names = [...new Set([...on.parts.keys(), ...off.parts.keys()])].sort();
    const rows = [
      ['', 'cleanup on', 'cleanup off'],
      ['data folder', mib(on.total), mib(off.total)],
      ['revision folders', String(on.revisions), String(off.revisions)],
      ...names.map((n) => [`  ${n}`, mib(on.parts.get(n) ?? 0), mib(off.parts.get(n) ?? 0)]),
      ['time', `${on.seconds.toFixed(0)} s`, `${off.seconds.toFixed(0)} s`],
    ];
    const width = rows.map((r) => r.map((c) => c.length)).reduce((a, r) => a.map((w, i) => Math.max(w, r[i] ?? 0)));
    console.log(`Disk used by the data folder after ${DEPLOYS} deployments (BATON_KEEP_REVISIONS=${KEEP})`);
    for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(width[i]) : c.padStart(width[i]))).join('  '));
    console.log(`cleanup on uses ${((on.total / off.total) * 100).toFixed(0)} % of the disk cleanup off uses`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
