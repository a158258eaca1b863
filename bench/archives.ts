/**
 * Hostile uploads against the control plane, old reader and new side by side in one run:
 *  - a 1 MiB gzip bomb (a tar of 1 GiB of zeros): peak RSS growth and time of node-tar's extract
 *    with the old filter (what uploads went through before) against readArchive (the upload check);
 *  - a 100,000-entry tar.gz: the longest event-loop stall (what a concurrent GET /health waits)
 *    during each, and the /health latency seen through the API while the upload is POSTed.
 *
 *   npm run bench:archives
 *
 * Knobs: BENCH_BOMB_MIB (1024), BENCH_ENTRIES (100000). Each side runs in a child process of its
 * own, so one side's heap does not flatter or burden the other.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { extractTarGz } from '../shared/adapters/local/archive.js';
import { DEFAULT_ARCHIVE_LIMITS, readArchive } from '../shared/sources/archive-reader.js';
import { manyEntriesTarGz, zerosTarGz } from '../test/support/hostile-archives.js';
import { intEnv } from './stats.js';

const BOMB_MIB = intEnv('BENCH_BOMB_MIB', 1024);
const ENTRIES = intEnv('BENCH_ENTRIES', 100_000);
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

/** new-all: the new reader with the entry cap raised past the archive's, so it reads every entry. */
type Side = 'old' | 'new' | 'new-all';

/** One measurement in this process: peak RSS growth (sampled every 5 ms), time, longest stall. */
async function measure(side: Side, file: string, data: Buffer): Promise<{ rss: number; ms: number; stall: number; outcome: string }> {
  const base = process.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const t0 = performance.now();
  let outcome = 'accepted';
  const dir = mkdtempSync(join(tmpdir(), 'bench-archive-'));
  try {
    if (side === 'old') await extractTarGz(file, join(dir, 'x'), { maxBytes: DEFAULT_ARCHIVE_LIMITS.maxBytes, maxFiles: 10_000_000 });
    else if (side === 'new') await readArchive(data, 'tar.gz', DEFAULT_ARCHIVE_LIMITS);
    else await readArchive(data, 'tar.gz', { ...DEFAULT_ARCHIVE_LIMITS, maxEntries: 10_000_000, maxBytes: 1e12, maxRatio: 1e9 });
  } catch (err) {
    outcome = `refused: ${(err instanceof Error ? err.message : String(err)).slice(0, 70)}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ms = performance.now() - t0;
  delay.disable();
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { rss: peak - base, ms, stall: delay.max / 1e6, outcome };
}

/** GET /health answered by a server in this process, polled while `work` runs: the worst latency. */
async function healthDuring(work: () => Promise<unknown>): Promise<number> {
  const server = createServer((_req, res) => res.end('{"status":"ok"}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  let worst = 0;
  let running = true;
  const poll = (async () => {
    while (running) {
      const t = performance.now();
      await fetch(url).then((r) => r.text());
      worst = Math.max(worst, performance.now() - t);
    }
  })();
  await work().catch(() => undefined);
  running = false;
  await poll;
  server.close();
  return worst;
}

async function child(side: Side, kind: 'bomb' | 'entries', file: string): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const data = readFileSync(file);
  const m = await measure(side, file, data);
  const health = await healthDuring(() => measure(side, file, data));
  process.stdout.write(JSON.stringify({ ...m, health, kind }));
}

async function main(): Promise<void> {
  const [, , role, side, kind, file] = process.argv;
  if (role === 'child') return child(side as Side, kind as 'bomb' | 'entries', file);
  const dir = mkdtempSync(join(tmpdir(), 'bench-archives-'));
  try {
    const bomb = join(dir, 'bomb.tar.gz');
    writeFileSync(bomb, zerosTarGz(BOMB_MIB * 1024 * 1024));
    const many = join(dir, 'many.tar.gz');
    writeFileSync(many, manyEntriesTarGz(ENTRIES));
    const { statSync } = await import('node:fs');
    console.log(
      `bomb: ${mib(statSync(bomb).size)} packing ${BOMB_MIB} MiB of zeros; many: ${ENTRIES} entries in ${mib(statSync(many).size)}`,
    );
    console.log('case     side    peak RSS growth   time ms   longest stall ms   worst /health ms   outcome');
    const rows: Record<string, Record<Side, { rss: number; ms: number; stall: number; health: number; outcome: string }>> = {};
    for (const [kind, file] of [
      ['bomb', bomb],
      ['entries', many],
    ] as const) {
      for (const side of kind === 'entries' ? (['old', 'new', 'new-all'] as const) : (['old', 'new'] as const)) {
        const out = execFileSync(process.execPath, ['--import', 'tsx', process.argv[1], 'child', side, kind, file], { encoding: 'utf8' });
        const r = JSON.parse(out) as { rss: number; ms: number; stall: number; health: number; outcome: string };
        rows[kind] ??= {} as Record<Side, typeof r>;
        rows[kind][side] = r;
        console.log(
          `${kind.padEnd(8)} ${side.padEnd(7)} ${mib(r.rss).padStart(15)} ${r.ms.toFixed(0).padStart(9)} ${r.stall.toFixed(0).padStart(18)} ${r.health.toFixed(0).padStart(18)}   ${r.outcome}`,
        );
      }
      const { old, new: now } = rows[kind];
      console.log(
        `${kind.padEnd(8)} ratio old/new: RSS ${(old.rss / Math.max(now.rss, 1)).toFixed(1)}x, time ${(old.ms / now.ms).toFixed(1)}x, stall ${(old.stall / Math.max(now.stall, 1)).toFixed(1)}x, /health ${(old.health / Math.max(now.health, 1)).toFixed(1)}x`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
