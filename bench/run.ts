/**
 * Baton's benchmark: one run measures the API's accept latency, the control plane's own overhead
 * per deployment, the delay of the event stream and the ratio of a whole local deployment to doing
 * the same by hand (bench/by-hand.sh), prints each figure against its target and writes
 * bench/results.json.
 *
 *   npm run bench
 *
 * Knobs (environment): BENCH_ACCEPTS (1000), BENCH_ACCEPT_WARMUP (50), BENCH_DEPLOYS (20),
 * BENCH_DEPLOY_CONCURRENCY (1), BENCH_SSE_CHANGES (500), BENCH_SSE_SPACING_MS (2), BENCH_RATIO_RUNS (5).
 * BATON_* variables are passed to the stack's configuration (e.g. BATON_VERIFY_POLL_MS); the data
 * folder and the port are always a fresh temp folder and a free port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { createServer } from 'node:net';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalStack } from '../functions/local/stack.js';
import type { Config } from '../shared/config.js';
import { newJob } from '../shared/domain/job.js';
import { DeploymentRequestSchema } from '../shared/domain/request.js';
import { STAGES } from '../shared/domain/status.js';
import { followUntilFinal, getJson, type JobView, nowMs, postJson } from './http.js';
import { installSpawnProbe, revisionSpawn } from './spawn-probe.js';
import { intEnv, median, ms, rounded, type Summary, summarize, table } from './stats.js';

const HERE = import.meta.dirname;
const ROOT = resolve(HERE, '..');
const EXAMPLE = join(ROOT, 'examples', 'hello');
const RESULTS = join(HERE, 'results.json');

const SETTINGS = {
  accepts: intEnv('BENCH_ACCEPTS', 1000),
  acceptWarmup: intEnv('BENCH_ACCEPT_WARMUP', 50, 0),
  deploys: intEnv('BENCH_DEPLOYS', 20),
  deployConcurrency: intEnv('BENCH_DEPLOY_CONCURRENCY', 1),
  sseChanges: intEnv('BENCH_SSE_CHANGES', 500),
  sseSpacingMs: intEnv('BENCH_SSE_SPACING_MS', 2, 0),
  ratioRuns: intEnv('BENCH_RATIO_RUNS', 5),
};

const DEPLOY_TIMEOUT_MS = 90_000;

const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);

// ---------------------------------------------------------------------------------------------
// Child processes: every one is started in its own process group and killed with it at the end.

const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function killChildren(): void {
  for (const child of children) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  children.clear();
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. Accept latency of POST /deploy.

interface AcceptResult {
  summary: Summary;
  /** The stack's event loop (this process) while the requests ran: how long ready work waited. */
  event_loop_delay: { p50: number; p99: number; max: number };
  warmup: number;
  non_202: number;
  first_error: string | null;
}

async function benchAccept(stack: LocalStack): Promise<AcceptResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${stack.url}/deploy`;
  const times: number[] = [];
  let non202 = 0;
  let firstError: string | null = null;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  try {
    for (let i = 0; i < SETTINGS.acceptWarmup + SETTINGS.accepts; i++) {
      const body = { agent_id: `bench-accept-${i}`, source: { type: 'image', image: 'x' } };
      const t0 = performance.now();
      const res = await postJson(url, body, agent);
      const dt = performance.now() - t0;
      if (res.status !== 202) {
        non202++;
        firstError ??= `${res.status} ${JSON.stringify(res.json)}`;
      }
      if (i >= SETTINGS.acceptWarmup) times.push(dt);
    }
  } finally {
    loop.disable();
    agent.destroy();
  }
  const eld = { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
  return { summary: summarize(times), event_loop_delay: eld, warmup: SETTINGS.acceptWarmup, non_202: non202, first_error: firstError };
}

// ---------------------------------------------------------------------------------------------
// 2 and 4. One whole deployment through the API, followed on its event stream.

interface DeployRecord {
  agent_id: string;
  deployment_id: string;
  /** POST /deploy sent → the client had parsed the `completed` event. */
  client_ms: number;
  /** created_at → completed_at, as the job records them (ms resolution). */
  server_ms: number;
  build_ms: number;
  startup_ms: number;
  overhead_client_ms: number;
  overhead_server_ms: number;
  /** The revision's process from spawn to its first output line (hello prints it once listening). */
  spawn_to_listen_ms: number;
  /** deploying started → the revision's process spawned (artifact digest check, extraction, port). */
  deploy_to_spawn_ms: number;
  /** client_ms − build_ms − spawn_to_listen_ms: the overhead with startup taken strictly as spawn → listening. */
  overhead_strict_ms: number;
  /** Where the wall time went, in pipeline order, from the job's timestamps. */
  segments: [string, number][];
  /** Inside build_ms, from the build log's timestamps (ms resolution, approximate). */
  build_steps: Record<string, number>;
}

async function deployOnce(stack: LocalStack, agentId: string, source: string): Promise<DeployRecord> {
  const t0 = nowMs();
  const res = await postJson(`${stack.url}/deploy`, {
    agent_id: agentId,
    source: { type: 'directory', path: source },
    env: { APP_VERSION: agentId },
  });
  if (res.status !== 202) throw new Error(`POST /deploy for ${agentId} answered ${res.status}: ${JSON.stringify(res.json)}`);
  const id = String(res.json.deployment_id);
  const { job, at } = await followUntilFinal(stack.url, id, DEPLOY_TIMEOUT_MS);
  if (job.status !== 'completed' || !job.completed_at) {
    throw new Error(`deployment ${id} of ${agentId} ended ${job.status} at ${job.failed_stage}: ${job.error_message}`);
  }
  const build = job.measurements.build_ms ?? Number.NaN;
  const startup = job.measurements.startup_ms ?? Number.NaN;
  const created = Date.parse(job.created_at);
  const completed = Date.parse(job.completed_at);
  const clientMs = at - t0;
  const serverMs = completed - created;
  const logs = String((await getJson(`${stack.url}/deployments/${id}/logs`)).logs ?? '');
  const spawned = revisionSpawn(job.revision);
  const spawnToListen = spawned?.first_output_at ? spawned.first_output_at - spawned.spawned_at : Number.NaN;
  const deploying = job.stage_timings.deploying;
  return {
    agent_id: agentId,
    deployment_id: id,
    client_ms: clientMs,
    server_ms: serverMs,
    build_ms: build,
    startup_ms: startup,
    overhead_client_ms: clientMs - build - startup,
    overhead_server_ms: serverMs - build - startup,
    spawn_to_listen_ms: spawnToListen,
    deploy_to_spawn_ms: spawned && deploying ? spawned.spawned_at - Date.parse(deploying.started_at) : Number.NaN,
    overhead_strict_ms: clientMs - build - spawnToListen,
    segments: segmentsOf(job, t0, at),
    build_steps: buildSteps(logs, job),
  };
}

function segmentsOf(job: JobView, t0: number, seen: number): [string, number][] {
  const t = job.stage_timings;
  const at = (iso: string | null | undefined) => (iso ? Date.parse(iso) : Number.NaN);
  const out: [string, number][] = [['POST sent → job created', at(job.created_at) - t0]];
  let prevEnd = at(job.created_at);
  let prevName = 'queued';
  for (const stage of STAGES) {
    const timing = t[stage];
    if (!timing) continue;
    out.push([`${prevName} → ${stage} (hand-off)`, at(timing.started_at) - prevEnd]);
    out.push([stage, at(timing.completed_at) - at(timing.started_at)]);
    prevEnd = at(timing.completed_at);
    prevName = stage;
  }
  out.push(['completed → client saw it', seen - at(job.completed_at)]);
  return out;
}

/** The builder's steps, from the timestamps of its log lines. */
function buildSteps(logs: string, job: JobView): Record<string, number> {
  const lines = logs.split('\n').filter((l) => l.length > 0);
  const ts = (l: string | undefined) => (l ? Date.parse(l.slice(0, l.indexOf(' '))) : Number.NaN);
  const built = job.stage_timings.building;
  const install = lines.findIndex((l) => l.includes('build: $ npm '));
  const artifact = lines.findIndex((l) => l.includes('build: artifact '));
  if (!built || install < 0 || artifact < 0) return {};
  const buildStart = Date.parse(built.started_at);
  return {
    'submit + extract source': ts(lines[install]) - buildStart,
    'npm install (to its last output line)': ts(lines[artifact - 1]) - ts(lines[install]),
    'pack node_modules + digest + store artifact': ts(lines[artifact]) - ts(lines[artifact - 1]),
  };
}

interface OverheadResult {
  n: number;
  concurrency: number;
  client: Summary;
  server: Summary;
  wall_client: Summary;
  build: Summary;
  startup: Summary;
  strict: Summary;
  spawn_to_listen: Summary;
  deploy_to_spawn: Summary;
  segments_p50: [string, number][];
  /** The segments of the run with the largest overhead. */
  segments_worst: [string, number][];
  build_steps_p50: [string, number][];
  runs: DeployRecord[];
}

function medianSegments(records: readonly { segments: [string, number][] }[]): [string, number][] {
  const names = records[0]?.segments.map(([n]) => n) ?? [];
  return names.map((name) => [
    name,
    median(records.map((r) => r.segments.find(([n]) => n === name)?.[1] ?? Number.NaN).filter(Number.isFinite)),
  ]);
}

function medianRecord(records: readonly Record<string, number>[]): [string, number][] {
  const names = Object.keys(records[0] ?? {});
  return names.map((name) => [name, median(records.map((r) => r[name]).filter(Number.isFinite))]);
}

async function benchOverhead(stack: LocalStack, source: string): Promise<OverheadResult> {
  progress('deploy warm-up (not counted)');
  await deployOnce(stack, 'bench-warm', source);
  const runs = await pool(SETTINGS.deploys, SETTINGS.deployConcurrency, async (i) => {
    const r = await deployOnce(stack, `bench-ovh-${i}`, source);
    progress(`deploy ${i + 1}/${SETTINGS.deploys}: ${ms(r.client_ms)} wall, overhead ${ms(r.overhead_client_ms)}`);
    return r;
  });
  return {
    n: runs.length,
    concurrency: SETTINGS.deployConcurrency,
    client: summarize(runs.map((r) => r.overhead_client_ms)),
    server: summarize(runs.map((r) => r.overhead_server_ms)),
    wall_client: summarize(runs.map((r) => r.client_ms)),
    build: summarize(runs.map((r) => r.build_ms)),
    startup: summarize(runs.map((r) => r.startup_ms)),
    strict: summarize(runs.map((r) => r.overhead_strict_ms).filter(Number.isFinite)),
    spawn_to_listen: summarize(runs.map((r) => r.spawn_to_listen_ms).filter(Number.isFinite)),
    deploy_to_spawn: summarize(runs.map((r) => r.deploy_to_spawn_ms).filter(Number.isFinite)),
    segments_p50: medianSegments(runs),
    segments_worst: runs.reduce((a, r) => (r.overhead_client_ms > a.overhead_client_ms ? r : a)).segments,
    build_steps_p50: medianRecord(runs.map((r) => r.build_steps)),
    runs,
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Delay from a committed change of a job to an SSE client (a process of its own) parsing it.

interface SseResult {
  summary: Summary;
  changes: number;
  received: number;
  events: number;
  out_of_order: number;
  spacing_ms: number;
  elapsed_ms: number;
}

function lines(child: ChildProcess, onLine: (line: string) => void): void {
  if (!child.stdout) return;
  createInterface({ input: child.stdout }).on('line', onLine);
}

async function benchSse(stack: LocalStack): Promise<SseResult> {
  const id = `bench-sse-${randomUUID()}`;
  const request = DeploymentRequestSchema.parse({ agent_id: 'bench-sse', source: { type: 'image', image: 'x' } });
  // Inserted directly: never published, so no stage moves it; only this benchmark changes it.
  await stack.jobs.create(newJob(id, request, new Date().toISOString()));
  const child = track(
    spawn(process.execPath, [...process.execArgv, join(HERE, 'sse-client.ts'), `${stack.url}/deployments/${id}/stream`], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    }),
  );
  let ready: () => void = () => {};
  const isReady = new Promise<void>((r) => {
    ready = r;
  });
  let report: string | null = null;
  lines(child, (line) => {
    if (line === 'ready') ready();
    else if (line.startsWith('{')) report = line;
  });
  const code = exited(child);
  const first = await Promise.race([
    isReady.then(() => 'ready' as const),
    code.then(() => 'exited' as const),
    sleep(20_000, 'timeout' as const),
  ]);
  if (first !== 'ready') throw new Error(`the SSE client did not connect (${first})`);

  const began = performance.now();
  for (let i = 0; i < SETTINGS.sseChanges; i++) {
    await stack.jobs.update(id, (j) => ({ ...j, current_step: `bench ${i} ${nowMs().toFixed(4)}` }));
    if (SETTINGS.sseSpacingMs > 0) await sleep(SETTINGS.sseSpacingMs);
  }
  const elapsed = performance.now() - began;
  // A final status closes the stream, and the client reports.
  const end = new Date().toISOString();
  await stack.jobs.update(id, (j) => ({ ...j, status: 'cancelled', current_step: 'Cancelled', updated_at: end, completed_at: end }));
  const exitCode = await Promise.race([code, sleep(20_000, 'timeout' as const)]);
  if (exitCode !== 0 || report === null)
    throw new Error(`the SSE client ended with ${String(exitCode)} and ${report === null ? 'no report' : 'a report'}`);
  const parsed = JSON.parse(report) as { events: number; out_of_order: number; samples: { seq: number; delay_ms: number }[] };
  return {
    summary: summarize(parsed.samples.map((s) => s.delay_ms)),
    changes: SETTINGS.sseChanges,
    received: parsed.samples.length,
    events: parsed.events,
    out_of_order: parsed.out_of_order,
    spacing_ms: SETTINGS.sseSpacingMs,
    elapsed_ms: elapsed,
  };
}

// ---------------------------------------------------------------------------------------------
// 4. A whole deployment through Baton against the same by hand (bench/by-hand.sh), alternating.

interface HandRecord {
  /** bash started → the script printed `ready` (/health answered 200). */
  ms: number;
  steps: Record<string, number>;
}

async function byHand(source: string, work: string): Promise<HandRecord> {
  const dir = mkdtempSync(join(work, 'by-hand-'));
  const port = await freePort();
  const marks = new Map<string, number>();
  let readyAt = Number.NaN;
  let stderr = '';
  const t0 = nowMs();
  const child = track(
    spawn('bash', [join(HERE, 'by-hand.sh'), source, dir, String(port)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
  );
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-2000);
  });
  lines(child, (line) => {
    if (line === 'ready') readyAt = nowMs();
    const m = /^mark (\w+) ([\d.]+)$/.exec(line);
    if (m) marks.set(m[1], Number(m[2]) * 1000);
  });
  const code = await Promise.race([exited(child), sleep(DEPLOY_TIMEOUT_MS, 'timeout' as const)]);
  rmSync(dir, { recursive: true, force: true });
  if (code !== 0 || !Number.isFinite(readyAt)) throw new Error(`bench/by-hand.sh failed (${String(code)}): ${stderr.trim()}`);
  const mark = (name: string) => marks.get(name) ?? Number.NaN;
  return {
    ms: readyAt - t0,
    steps: {
      'bash start': mark('start') - t0,
      copy: mark('copied') - mark('start'),
      'npm install': mark('installed') - mark('copied'),
      'start → /health 200': mark('healthy') - mark('installed'),
    },
  };
}

interface RatioResult {
  runs: number;
  baton: Summary;
  hand: Summary;
  ratio: number;
  per_run: { order: string; baton_ms: number; hand_ms: number }[];
  baton_segments_p50: [string, number][];
  baton_build_steps_p50: [string, number][];
  baton_build_p50: number;
  baton_startup_p50: number;
  hand_steps_p50: [string, number][];
}

async function benchRatio(stack: LocalStack, source: string, work: string): Promise<RatioResult> {
  progress('by-hand warm-up (not counted)');
  await byHand(source, work);
  const per: RatioResult['per_run'] = [];
  const batonRuns: DeployRecord[] = [];
  const handRuns: HandRecord[] = [];
  for (let i = 0; i < SETTINGS.ratioRuns; i++) {
    const batonFirst = i % 2 === 0;
    let b: DeployRecord | null = null;
    let h: HandRecord | null = null;
    for (const side of batonFirst ? ['baton', 'hand'] : ['hand', 'baton']) {
      if (side === 'baton') b = await deployOnce(stack, `bench-ratio-${i}`, source);
      else h = await byHand(source, work);
    }
    if (!b || !h) throw new Error('a ratio run did not complete');
    batonRuns.push(b);
    handRuns.push(h);
    per.push({ order: batonFirst ? 'baton, hand' : 'hand, baton', baton_ms: b.client_ms, hand_ms: h.ms });
    progress(`ratio run ${i + 1}/${SETTINGS.ratioRuns}: Baton ${ms(b.client_ms)}, by hand ${ms(h.ms)}`);
  }
  const baton = summarize(batonRuns.map((r) => r.client_ms));
  const hand = summarize(handRuns.map((r) => r.ms));
  return {
    runs: SETTINGS.ratioRuns,
    baton,
    hand,
    ratio: baton.p50 / hand.p50,
    per_run: per,
    baton_segments_p50: medianSegments(batonRuns),
    baton_build_steps_p50: medianRecord(batonRuns.map((r) => r.build_steps)),
    baton_build_p50: median(batonRuns.map((r) => r.build_ms)),
    baton_startup_p50: median(batonRuns.map((r) => r.startup_ms)),
    hand_steps_p50: medianRecord(handRuns.map((r) => r.steps)),
  };
}

// ---------------------------------------------------------------------------------------------
// Report.

interface Figure {
  name: string;
  value: number;
  unit: 'ms' | 'x';
  target: string | null;
  pass: boolean | null;
}

function figure(name: string, value: number, unit: Figure['unit'], limit?: number): Figure {
  return {
    name,
    value,
    unit,
    target: limit === undefined ? null : `< ${limit}${unit === 'ms' ? ' ms' : ''}`,
    pass: limit === undefined ? null : value < limit,
  };
}

const show = (f: Figure) => (f.unit === 'ms' ? ms(f.value) : f.value.toFixed(2));

function print(title: string, rows: [string, number][], worst?: [string, number][]): void {
  console.log(`\n${title}`);
  if (!worst) {
    console.log(
      table(
        ['', 'p50'],
        rows.map(([n, v]) => [`  ${n}`, ms(v)]),
      ),
    );
    return;
  }
  const w = new Map(worst);
  console.log(
    table(
      ['', 'p50', 'worst run'],
      rows.map(([n, v]) => [`  ${n}`, ms(v), ms(w.get(n) ?? Number.NaN)]),
    ),
  );
}

function batonEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('BATON_') && e[1] !== undefined),
  );
}

async function main(): Promise<void> {
  process.env.METADATA_SERVER_DETECTION = 'none';
  installSpawnProbe();
  const { startLocalStack } = await import('../functions/local/stack.js');
  const { loadConfig } = await import('../shared/config.js');

  const started = performance.now();
  const loadAtStart = loadavg().map((v) => Number(v.toFixed(2)));
  const work = mkdtempSync(join(tmpdir(), 'baton-bench-'));
  let stack: LocalStack | null = null;
  let stopping: Promise<void> | null = null;
  const cleanup = () => {
    stopping ??= (async () => {
      killChildren();
      if (stack) await stack.stop().catch((err: unknown) => console.error(`bench: stopping the stack failed: ${String(err)}`));
      killChildren();
      rmSync(work, { recursive: true, force: true });
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const config: Config = loadConfig({ ...batonEnv(), BATON_DATA_DIR: join(work, 'data'), PORT: '0' });
    stack = await startLocalStack(config);
    const source = join(work, 'hello');
    cpSync(EXAMPLE, source, { recursive: true });
    progress(`stack at ${stack.url}, data in ${config.BATON_DATA_DIR}`);

    progress(`accept: ${SETTINGS.acceptWarmup} warm-up + ${SETTINGS.accepts} sequential POST /deploy`);
    const accept = await benchAccept(stack);
    await stack.bus.idle();

    progress(`sse: ${SETTINGS.sseChanges} committed changes, ${SETTINGS.sseSpacingMs} ms apart`);
    const sse = await benchSse(stack);

    progress(`overhead: ${SETTINGS.deploys} deployments of examples/hello, ${SETTINGS.deployConcurrency} at a time`);
    const overhead = await benchOverhead(stack, source);

    progress(`ratio: ${SETTINGS.ratioRuns} runs each of Baton and bench/by-hand.sh, alternating`);
    const ratio = await benchRatio(stack, source, work);

    const figures: Figure[] = [
      figure(`Accept latency p50 (POST /deploy, n=${accept.summary.n})`, accept.summary.p50, 'ms'),
      figure('Accept latency p99', accept.summary.p99, 'ms', 20),
      figure(`Control-plane overhead p50 (n=${overhead.n}, ${overhead.concurrency} at a time)`, overhead.client.p50, 'ms', 100),
      figure('Control-plane overhead p99', overhead.client.p99, 'ms'),
      figure('  same, startup taken as spawn → listening, p50', overhead.strict.p50, 'ms'),
      figure(`SSE delay p50 (n=${sse.received})`, sse.summary.p50, 'ms'),
      figure('SSE delay p99', sse.summary.p99, 'ms', 100),
      figure(`Deployment via Baton, median (n=${ratio.runs})`, ratio.baton.p50, 'ms'),
      figure(`Deployment by hand, median (n=${ratio.runs})`, ratio.hand.p50, 'ms'),
      figure('Ratio Baton / by hand (medians)', ratio.ratio, 'x', 1.3),
    ];

    const machine = {
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${platform()} ${release()}`,
      total_mem_gib: Number((totalmem() / 2 ** 30).toFixed(1)),
      loadavg_at_start: loadAtStart,
      loadavg_at_end: loadavg().map((v) => Number(v.toFixed(2))),
    };

    console.log(`\nBaton benchmark — ${machine.cpus} CPUs (${machine.cpu_model}), Node ${machine.node}, ${machine.platform}`);
    console.log(
      `stack: verify poll ${config.BATON_VERIFY_POLL_MS} ms; deployments of examples/hello ${overhead.concurrency} at a time (sequential when 1); load average ${machine.loadavg_at_start.join(' ')} at start, ${machine.loadavg_at_end.join(' ')} at end (other work on this machine shows here)\n`,
    );
    console.log(
      table(
        ['Figure', 'Value', 'Target', 'Result'],
        figures.map((f) => [f.name, show(f), f.target ?? '—', f.pass === null ? 'info' : f.pass ? 'PASS' : 'MISS']),
      ),
    );

    console.log(
      `\nAccept: p50 ${ms(accept.summary.p50)}, p90 ${ms(accept.summary.p90)}, p99 ${ms(accept.summary.p99)}, max ${ms(accept.summary.max)}; ${accept.non_202} answers were not 202${accept.first_error ? ` (first: ${accept.first_error})` : ''}`,
    );
    console.log(
      `  the stack's event loop meanwhile (this process): delay p50 ${ms(accept.event_loop_delay.p50)}, p99 ${ms(accept.event_loop_delay.p99)}, max ${ms(accept.event_loop_delay.max)}`,
    );
    console.log(
      `SSE: ${sse.received}/${sse.changes} changes seen (${sse.events} events, ${sse.out_of_order} out of order) over ${ms(sse.elapsed_ms)}; p50 ${ms(sse.summary.p50)}, p90 ${ms(sse.summary.p90)}, p99 ${ms(sse.summary.p99)}, max ${ms(sse.summary.max)}`,
    );
    console.log(
      `Deployments: wall p50 ${ms(overhead.wall_client.p50)} = build_ms p50 ${ms(overhead.build.p50)} + startup_ms p50 ${ms(overhead.startup.p50)} + overhead; overhead p50/p99 client-side ${ms(overhead.client.p50)}/${ms(overhead.client.p99)}, from the job's own timestamps (created_at → completed_at) ${ms(overhead.server.p50)}/${ms(overhead.server.p99)}`,
    );
    console.log(
      `  startup_ms (p50 ${ms(overhead.startup.p50)}) is the runtime's own spawn → port accepting; checked from outside: deploying started → process spawned p50 ${ms(overhead.deploy_to_spawn.p50)} (artifact digest, extraction, port: control-plane time), spawn → first output p50 ${ms(overhead.spawn_to_listen.p50)}. With startup taken as spawn → first output, overhead p50/p99 ${ms(overhead.strict.p50)}/${ms(overhead.strict.p99)}`,
    );
    print(
      "Where a deployment's wall time goes (overhead runs; stage durations include build_ms and startup_ms; job timestamps have ms resolution):",
      overhead.segments_p50,
      overhead.segments_worst,
    );
    print(`Inside build_ms (p50 ${ms(overhead.build.p50)}; from build log timestamps):`, overhead.build_steps_p50);
    print(
      `Ratio, Baton side (p50 ${ms(ratio.baton.p50)}: build_ms ${ms(ratio.baton_build_p50)}, startup_ms ${ms(ratio.baton_startup_p50)}):`,
      [...ratio.baton_segments_p50, ...ratio.baton_build_steps_p50.map(([n, v]): [string, number] => [`  build: ${n}`, v])],
    );
    print(`Ratio, by-hand side (p50 ${ms(ratio.hand.p50)}):`, ratio.hand_steps_p50);
    console.log(`\nRatio runs: ${ratio.per_run.map((r) => `[${r.order}] ${ms(r.baton_ms)} / ${ms(r.hand_ms)}`).join('; ')}`);

    const results = {
      generated_at: new Date().toISOString(),
      duration_s: Number(((performance.now() - started) / 1000).toFixed(1)),
      machine,
      settings: { ...SETTINGS, verify_poll_ms: config.BATON_VERIFY_POLL_MS },
      figures: figures.map((f) => ({ ...f, value: Number(f.value.toFixed(3)) })),
      accept: { ...accept, summary: rounded(accept.summary) },
      overhead: {
        ...overhead,
        client: rounded(overhead.client),
        server: rounded(overhead.server),
        wall_client: rounded(overhead.wall_client),
        build: rounded(overhead.build),
        startup: rounded(overhead.startup),
        strict: rounded(overhead.strict),
        spawn_to_listen: rounded(overhead.spawn_to_listen),
        deploy_to_spawn: rounded(overhead.deploy_to_spawn),
      },
      sse: { ...sse, summary: rounded(sse.summary) },
      ratio: { ...ratio, baton: rounded(ratio.baton), hand: rounded(ratio.hand) },
    };
    writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nResults: ${RESULTS} (the whole run took ${results.duration_s} s)`);
  } finally {
    await cleanup();
  }
}

void main()
  .catch((err: unknown) => {
    console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => {
    // Anything still open (a keep-alive socket) must not keep the process alive.
    setTimeout(() => process.exit(), 2000).unref();
  });
