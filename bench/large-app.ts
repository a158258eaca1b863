/**
 * Time from POST /deploy to serving, through Baton's local target, for an app with a large
 * node_modules, against doing the same by hand (`npm ci && npm start`, then GET /health until 200),
 * side by side in one run: alternating, BENCH_LARGE_RUNS times each. Goal: Baton ≤ 1.3× by hand.
 *
 *   npm run bench:large
 *
 * The app is generated: BENCH_LARGE_PACKAGES (120) packages of BENCH_LARGE_FILES (40) small files
 * each (about 700 bytes, in two folders per package), as local tarball dependencies pinned in a
 * package-lock.json, so `npm ci` installs them with no network. Defaults: 4,800 files, 3.3 MiB.
 *
 * Same starting state on both sides: each has an npm cache of its own, empty when the bench starts
 * (Baton's is `<data>/cache/npm`, kept between builds; by hand `npm ci --cache <tmp>/npm-cache-by-hand`,
 * the same flags Baton's install uses), and each side runs once uncounted first, so in every run
 * counted both caches are warm, as for anyone's second deployment. Both sides copy the app first
 * (by hand: cp; Baton: the source preparation), install, start it with `node server.js`'s script,
 * and are timed until GET /health answers 200.
 *
 * Baton runs twice per round, each with its own stack: as configured by default (its dependency
 * cache on: a build whose npm lock file was installed before gets a copy of that node_modules),
 * and with BATON_DEPS_CACHE=off, which runs npm ci every time as the by-hand side does. The goal
 * is judged on the default; the other line shows what the install itself costs inside Baton.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { type LocalStack, startLocalStack } from '../functions/local/stack.js';
import { freePort } from '../shared/adapters/local/router.js';
import { loadConfig } from '../shared/config.js';
import { FINAL, getJson, type JobView, postJson } from './http.js';

const int = (name: string, def: number) => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
};
const PACKAGES = int('BENCH_LARGE_PACKAGES', 120);
const FILES = int('BENCH_LARGE_FILES', 40);
const RUNS = int('BENCH_LARGE_RUNS', 2);
const GOAL = 1.3;
const progress = (line: string) => process.stderr.write(`bench:large: ${line}\n`);

const SERVER = `const http = require('node:http');
// Loads every dependency at start-up, as a real app would.
const deps = Object.keys(require('./package.json').dependencies).map((d) => require(d));
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(req.url === '/health' ? { status: 'ok' } : { deps: deps.length }));
}).listen(Number(process.env.PORT));
`;

/** Writes the packages as npm tarballs and the app depending on them, with its lock file. */
async function generate(root: string): Promise<{ app: string; files: number; bytes: number }> {
  const pkgs = join(root, 'pkgs');
  const app = join(root, 'app');
  mkdirSync(app, { recursive: true });
  let files = 0;
  let bytes = 0;
  const dependencies: Record<string, string> = {};
  for (let p = 0; p < PACKAGES; p++) {
    const name = `large-dep-${p}`;
    const dir = join(pkgs, name, 'package');
    mkdirSync(join(dir, 'lib'), { recursive: true });
    mkdirSync(join(dir, 'data'), { recursive: true });
    const lines: string[] = [];
    for (let f = 0; f < FILES - 2; f++) {
      const rel = `${f % 2 ? 'data' : 'lib'}/part-${f}.js`;
      const body = `// ${name} ${rel}\nmodule.exports = ${JSON.stringify('x'.repeat(640))};\n`;
      writeFileSync(join(dir, rel), body);
      if (f < 4) lines.push(`require('./${rel}')`);
      bytes += body.length;
    }
    const index = `module.exports = [${lines.join(', ')}].length;\n`;
    const manifest = JSON.stringify({ name, version: '1.0.0', main: 'index.js' });
    writeFileSync(join(dir, 'index.js'), index);
    writeFileSync(join(dir, 'package.json'), manifest);
    files += FILES;
    bytes += index.length + manifest.length;
    const tgz = join(pkgs, `${name}-1.0.0.tgz`);
    await create({ gzip: true, cwd: join(pkgs, name), file: tgz, portable: true }, ['package']);
    dependencies[name] = `file:${tgz}`;
  }
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'large-app', version: '1.0.0', private: true, scripts: { start: 'node server.js' }, dependencies }, null, 2),
  );
  writeFileSync(join(app, 'server.js'), SERVER);
  execFileSync('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund'], { cwd: app, stdio: 'ignore' });
  return { app, files, bytes };
}

async function waitHealthy(url: string, child: ChildProcess | null, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) }).catch(() => null);
    if (res?.status === 200) return;
    if (child && child.exitCode !== null) throw new Error(`the app exited (${child.exitCode}) before it answered`);
    if (Date.now() > until) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface HandRun {
  ms: number;
  install_ms: number;
}

/** `npm ci && npm start` in a fresh copy of the app; ms until GET /health answers 200, and of them the install's. */
async function byHand(app: string, root: string, cache: string): Promise<HandRun> {
  const work = mkdtempSync(join(root, 'by-hand-'));
  const port = await freePort();
  const began = performance.now();
  const beganWall = Date.now();
  cpSync(app, join(work, 'app'), { recursive: true });
  const installed = join(work, 'installed');
  const install = `npm ci --no-audit --no-fund --prefer-offline --cache '${cache}' >/dev/null`;
  const child = spawn('/bin/sh', ['-c', `${install} && : > '${installed}' && exec npm start >/dev/null`], {
    cwd: join(work, 'app'),
    env: { ...process.env, PORT: String(port), npm_config_update_notifier: 'false' },
    detached: true,
    stdio: 'ignore',
  });
  try {
    await waitHealthy(`http://127.0.0.1:${port}/health`, child, 300_000);
    const ms = performance.now() - began;
    return { ms, install_ms: statSync(installed).mtimeMs - beganWall };
  } finally {
    try {
      process.kill(-(child.pid ?? 0), 'SIGKILL');
    } catch {
      // Gone.
    }
    rmSync(work, { recursive: true, force: true });
  }
}

/** POST /deploy of the app's folder; ms until the service URL answers /health with 200. */
async function throughBaton(
  stack: LocalStack,
  app: string,
  run: number,
): Promise<{ ms: number; job: JobView; began: number; ended: number }> {
  const began = performance.now();
  const beganWall = Date.now();
  const res = await postJson(`${stack.url}/deploy`, {
    agent_id: run < 0 ? 'large-warm-up' : `large-${run}`,
    source: { type: 'directory', path: app },
  });
  if (res.status !== 202) throw new Error(`POST /deploy answered ${res.status}: ${JSON.stringify(res.json)}`);
  const id = String(res.json.deployment_id);
  for (;;) {
    const job = (await getJson(`${stack.url}/deployments/${id}`)) as unknown as JobView;
    if (FINAL.has(job.status)) {
      if (job.status !== 'completed') throw new Error(`the deployment ended ${job.status}: ${job.error_message}`);
      await waitHealthy(`${job.service_url}health`, null, 10_000);
      return { ms: performance.now() - began, job, began: beganWall, ended: Date.now() };
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Where Baton's time went, from the deployment log's timestamps (ms resolution). */
function batonPhases(log: string, began: number, ended: number, startupMs: number): [string, number][] {
  const lines = log.split('\n');
  const at = (re: RegExp, from = 0) => {
    const i = lines.findIndex((l, n) => n >= from && re.test(l));
    return { i, t: i >= 0 ? Date.parse(lines[i].slice(0, lines[i].indexOf(' '))) : Number.NaN };
  };
  const stamp = (i: number) => Date.parse((lines[i] ?? '').slice(0, (lines[i] ?? '').indexOf(' ')));
  const npm = at(/build: \$ npm /);
  const restored = at(/build: node_modules restored from the dependency cache/);
  // A copy from the cache is logged when it ends: it began after the line before it.
  const install = npm.i >= 0 ? npm : { i: restored.i - 1, t: stamp(restored.i - 1) };
  const artifact = at(/build: artifact /);
  const installed = { t: stamp(artifact.i - 1) };
  const built = at(/Build .* succeeded/);
  const deploying = at(/Deploying new revision/);
  const healthy = at(/is ready and healthy/);
  return [
    ['POST → npm ci starts (accept, validate, copy source, build set-up)', install.t - began],
    ["install: npm ci (to its last output line) or the cache's copy", installed.t - install.t],
    ['list + pack + digest + store the artifact', artifact.t - installed.t],
    ['park the build folder + build SUCCESS', built.t - artifact.t],
    ['SUCCESS → deploying', deploying.t - built.t],
    ['deploying → ready and healthy (folder, spawn, app start, polls)', healthy.t - deploying.t],
    ['  of which the app: spawn → accepting on PORT (startup_ms)', startupMs],
    ['healthy → serving (test, promote, client sees it)', ended - healthy.t],
  ];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const root = mkdtempSync(join(tmpdir(), 'baton-bench-large-'));
  let stack: LocalStack | null = null;
  let stackOff: LocalStack | null = null;
  try {
    progress(`generating ${PACKAGES} packages × ${FILES} files…`);
    const { app, files, bytes } = await generate(root);
    progress(`app: ${files} files in node_modules once installed, ${(bytes / 1048576).toFixed(1)} MiB`);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BATON_'))) as Record<string, string>;
    stack = await startLocalStack(loadConfig({ ...env, PORT: '0', BATON_DATA_DIR: join(root, 'data') }));
    stackOff = await startLocalStack(loadConfig({ ...env, PORT: '0', BATON_DATA_DIR: join(root, 'data-off'), BATON_DEPS_CACHE: 'off' }));
    const handCache = join(root, 'npm-cache-by-hand');
    progress('warm-up, not counted: one run of each side, so both npm caches are warm');
    await byHand(app, root, handCache);
    await throughBaton(stack, app, -1);
    await throughBaton(stackOff, app, -1);
    const hand: number[] = [];
    const handInstall: number[] = [];
    const baton: number[] = [];
    const batonOff: number[] = [];
    const phases: [string, number][][] = [];
    const phasesOff: [string, number][][] = [];
    for (let run = 0; run < RUNS; run++) {
      let cpu = process.cpuUsage();
      const h = await byHand(app, root, handCache);
      const cpuHand = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      hand.push(h.ms);
      handInstall.push(h.install_ms);
      const b = await throughBaton(stack, app, run);
      const cpuBaton = process.cpuUsage(cpu);
      progress(
        `this process's CPU (the stack and the bench's client): ${s((cpuHand.user + cpuHand.system) / 1000)} during by hand, ${s((cpuBaton.user + cpuBaton.system) / 1000)} during Baton`,
      );
      baton.push(b.ms);
      const log = String((await getJson(`${stack.url}/deployments/${b.job.deployment_id}/logs`)).logs);
      phases.push(batonPhases(log, b.began, b.ended, b.job.measurements.startup_ms ?? Number.NaN));
      const off = await throughBaton(stackOff, app, run);
      batonOff.push(off.ms);
      const logOff = String((await getJson(`${stackOff.url}/deployments/${off.job.deployment_id}/logs`)).logs);
      phasesOff.push(batonPhases(logOff, off.began, off.ended, off.job.measurements.startup_ms ?? Number.NaN));
      progress(
        `run ${run + 1}/${RUNS}: by hand ${s(h.ms)} (npm ci ${s(h.install_ms)}), through Baton ${s(b.ms)}, Baton with the dependency cache off ${s(off.ms)}`,
      );
      if (process.env.BENCH_LARGE_VERBOSE) progress(`the deployment's log:\n${log}`);
    }
    const ratio = median(baton) / median(hand);
    const ratioOff = median(batonOff) / median(hand);
    console.log(`large node_modules: ${files} files, ${(bytes / 1048576).toFixed(1)} MiB, ${RUNS} runs each, alternating`);
    console.log(`  by hand (npm ci && npm start → /health 200): median ${s(median(hand))}  [${hand.map(s).join(', ')}]`);
    console.log(`  Baton (POST /deploy → serving):              median ${s(median(baton))}  [${baton.map(s).join(', ')}]`);
    console.log(`  Baton, BATON_DEPS_CACHE=off (npm ci every build): median ${s(median(batonOff))}  [${batonOff.map(s).join(', ')}]`);
    console.log(`  ratio ${ratio.toFixed(2)}× (goal ≤ ${GOAL}×): ${ratio <= GOAL ? 'met' : 'NOT met'}`);
    console.log(`  ratio with the dependency cache off ${ratioOff.toFixed(2)}× (not the goal: npm ci inside Baton against npm ci by hand)`);
    console.log('  npm cache: each side its own, empty at the start, warmed by one uncounted run of each side before these');
    console.log(
      `  by hand, npm ci (cp included): median ${s(median(handInstall))}; the rest (npm start → /health 200) ${s(median(hand) - median(handInstall))}`,
    );
    console.log('  Baton, median per phase:');
    console.log(`    ${''.padEnd(68)} default  cache off`);
    for (const [i, [name]] of (phases[0] ?? []).entries()) {
      console.log(`    ${name.padEnd(68)} ${s(median(phases.map((p) => p[i][1])))}  ${s(median(phasesOff.map((p) => p[i][1])))}`);
    }
    console.log(
      `  load average at the end: ${loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')} (other work on the machine shows here)`,
    );
    if (ratio > GOAL) process.exitCode = 1;
  } finally {
    await stack?.stop();
    await stackOff?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:large failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
