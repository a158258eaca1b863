/**
 * Recovery after kill -9 of the local stack, at the DEFAULT settings (claim lease 10 min, bus
 * back-off 200 ms–10 s, watchdog every minute): for each stage in BENCH_CRASH_STAGES, deploy a
 * service, kill the stack (`node --import tsx functions/local-stack.ts`, as `npm start` runs it)
 * while the deployment is in that stage, start it again on the same data folder, and time from
 * the restart's "listening" to the deployment leaving the stage, and to its end.
 *
 *   npm run bench:crash
 *
 * BENCH_CRASH_RUNS (3) crashes per stage, BENCH_CRASH_FILES (3000) extra files in the source (a
 * slow preparation), the stack's output in BENCH_CRASH_LOG (a temp file). Nothing the stack left
 * is killed between the runs but what the restart itself stops: as after a real crash.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { FINAL, getJson, type JobView, postJson } from './http.js';
import { intEnv } from './stats.js';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = intEnv('BENCH_CRASH_RUNS', 3);
const FILES = intEnv('BENCH_CRASH_FILES', 3000);
const STAGES = (process.env.BENCH_CRASH_STAGES ?? 'preparing,verifying').split(',');
const LOG = process.env.BENCH_CRASH_LOG ?? join(tmpdir(), `baton-crash-bench-${process.pid}.log`);
const progress = (line: string) => process.stderr.write(`bench:crash: ${line}\n`);

interface Stack {
  child: ChildProcess;
  url: string;
  spawnedAt: number;
  listeningAt: number;
}

function start(data: string): Promise<Stack> {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'functions/local-stack.ts'], {
    cwd: ROOT,
    // Nothing but the data folder and a free port: every other setting is Baton's default.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, METADATA_SERVER_DETECTION: 'none', BATON_DATA_DIR: data, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tag = `[${child.pid}]`;
  createInterface({ input: child.stderr }).on('line', (l) => appendFileSync(LOG, `${tag} ${l}\n`));
  return new Promise((res, rej) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      appendFileSync(LOG, `${tag} ${l}\n`);
      const m = /listening on (http:\/\/\S+)/.exec(l);
      if (m) res({ child, url: m[1], spawnedAt, listeningAt: performance.now() });
    });
    child.once('exit', (code) => rej(new Error(`the stack exited (${code}) before listening; see ${LOG}`)));
  });
}

async function kill9(stack: Stack): Promise<void> {
  const gone = new Promise((r) => stack.child.once('exit', r));
  stack.child.kill('SIGKILL');
  await gone;
}

async function stop(stack: Stack): Promise<void> {
  if (stack.child.exitCode !== null || stack.child.signalCode !== null) return;
  const gone = new Promise((r) => stack.child.once('exit', r));
  stack.child.kill('SIGTERM');
  await gone;
}

async function job(stack: Stack, id: string): Promise<JobView> {
  return (await getJson(`${stack.url}/deployments/${id}`)) as unknown as JobView;
}

async function waitFor(stack: Stack, id: string, ok: (j: JobView) => boolean, timeoutMs: number): Promise<JobView> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const j = await job(stack, id);
    if (ok(j)) return j;
    if (performance.now() > until) throw new Error(`${id} still ${j.status} (${j.current_step}) after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A service that takes 2 s to listen (so verifying lasts long enough to crash in), with `files` extra files. */
function service(root: string, files: number): string {
  mkdirSync(join(root, 'src'), { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'crash-svc', version: '1.0.0', scripts: { start: 'node server.js' } }));
  writeFileSync(
    join(root, 'server.js'),
    `setTimeout(() => require('node:http').createServer((q, s) => s.end('{"status":"ok"}')).listen(Number(process.env.PORT)), 2000);`,
  );
  for (let i = 0; i < files; i++) writeFileSync(join(root, 'src', `f${i}.txt`), `file ${i} `.repeat(50));
  return root;
}

interface Run {
  /** Spawn of the new stack to its "listening" line. */
  start_ms: number;
  /** "listening" to the deployment out of the stage it crashed in. */
  left_ms: number;
  /** "listening" to its final status. */
  final_ms: number;
  status: string;
}

async function crashOnce(stage: string, run: number, svc: string): Promise<Run> {
  const data = mkdtempSync(join(tmpdir(), 'baton-crash-bench-'));
  let stack = await start(data);
  try {
    const res = await postJson(`${stack.url}/deploy`, { agent_id: `crash-${stage}-${run}`, source: { type: 'directory', path: svc } });
    if (res.status !== 202) throw new Error(`deploy answered ${res.status}`);
    const id = String(res.json.deployment_id);
    await waitFor(stack, id, (j) => j.status === stage, 120_000);
    // Somewhere inside the stage, not always at its first instant.
    await new Promise((r) => setTimeout(r, (run * 137) % 400));
    await kill9(stack);
    stack = await start(data);
    const t0 = stack.listeningAt;
    const left = await waitFor(stack, id, (j) => j.status !== stage, 15 * 60_000);
    const leftMs = performance.now() - t0;
    const final = await waitFor(stack, id, (j) => FINAL.has(j.status), 15 * 60_000);
    const out = {
      start_ms: Math.round(stack.listeningAt - stack.spawnedAt),
      left_ms: Math.round(leftMs),
      final_ms: Math.round(performance.now() - t0),
      status: final.status,
    };
    progress(
      `${stage} #${run + 1}: started in ${out.start_ms} ms; left ${stage} for ${left.status} ${out.left_ms} ms after listening; ${final.status} at ${out.final_ms} ms`,
    );
    return out;
  } finally {
    await stop(stack);
    rmSync(data, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-crash-src-'));
  const svc = service(join(dir, 'svc'), FILES);
  progress(`stack output in ${LOG}`);
  const results: Record<string, { start_ms: number[]; left_ms: number[]; final_ms: number[]; statuses: string[]; worst_left_ms: number }> =
    {};
  try {
    for (const stage of STAGES) {
      const runs: Run[] = [];
      for (let i = 0; i < RUNS; i++) runs.push(await crashOnce(stage, i, svc));
      results[stage] = {
        start_ms: runs.map((r) => r.start_ms),
        left_ms: runs.map((r) => r.left_ms),
        final_ms: runs.map((r) => r.final_ms),
        statuses: runs.map((r) => r.status),
        worst_left_ms: Math.max(...runs.map((r) => r.left_ms)),
      };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ settings: 'defaults', runs: RUNS, files: FILES, results }, null, 2));
}

await main();
