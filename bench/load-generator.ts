/**
 * The test stage's load generator (FetchTester.load: autocannon driven from the control plane's
 * process, as a load slice runs it) against `autocannon` run by hand (its CLI,
 * node_modules/.bin/autocannon, a process of its own), in the same run, against the same trivial
 * local service (a child process answering "ok"), same connections and duration, alternating
 * rounds so a busy machine slows both alike. Prints both achieved requests per second and the
 * ratio (goal >= 0.9).
 *
 *   npm run bench:load-generator     BENCH_LOAD_SECONDS (5), BENCH_LOAD_CONNECTIONS (10), BENCH_LOAD_ROUNDS (3)
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { FetchTester } from '../shared/adapters/local/http-tester.js';
import { intEnv, summarize } from './stats.js';

const SECONDS = intEnv('BENCH_LOAD_SECONDS', 5);
const CONNECTIONS = intEnv('BENCH_LOAD_CONNECTIONS', 10);
const ROUNDS = intEnv('BENCH_LOAD_ROUNDS', 3);
const GOAL = 0.9;
const AUTOCANNON_CLI = resolve(import.meta.dirname, '..', 'node_modules', '.bin', 'autocannon');
const run = promisify(execFile);

/** A service with nothing to do: what is measured is the load generator. */
async function startTrivialService(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "require('node:http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', function () { console.log(this.address().port) })",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const stdout = child.stdout;
  if (!stdout) throw new Error('the service has no stdout');
  const port = await new Promise<string>((ok, fail) => {
    child.once('exit', (code) => fail(new Error(`the trivial service exited (${code})`)));
    createInterface({ input: stdout }).once('line', ok);
  });
  return { url: `http://127.0.0.1:${port.trim()}/`, child };
}

async function baton(url: string): Promise<number> {
  const slice = await new FetchTester().load(url, { connections: CONNECTIONS, duration_ms: SECONDS * 1000, timeout_ms: 10_000 });
  return slice.total / (slice.duration_ms / 1000);
}

async function byHand(url: string): Promise<number> {
  const { stdout } = await run(AUTOCANNON_CLI, ['-c', String(CONNECTIONS), '-d', String(SECONDS), '-j', url], {
    maxBuffer: 16 * 1024 * 1024,
  });
  const r = JSON.parse(stdout) as { requests: { total: number }; duration: number; errors: number; non2xx: number };
  return (r.requests.total + r.errors) / r.duration;
}

async function main() {
  const { url, child } = await startTrivialService();
  const ours: number[] = [];
  const theirs: number[] = [];
  try {
    // Warm both up (the service's JIT, the sockets) before anything counts.
    await new FetchTester().load(url, { connections: CONNECTIONS, duration_ms: 1000, timeout_ms: 10_000 });
    for (let i = 1; i <= ROUNDS; i++) {
      // Alternate which goes first, so a drift in the machine's load favours neither.
      const order = i % 2 === 1 ? ([baton, byHand] as const) : ([byHand, baton] as const);
      for (const f of order) (f === baton ? ours : theirs).push(await f(url));
      process.stderr.write(
        `bench:load-generator: round ${i}/${ROUNDS}: Baton ${ours.at(-1)?.toFixed(0)} req/s, autocannon CLI ${theirs.at(-1)?.toFixed(0)} req/s\n`,
      );
    }
  } finally {
    child.kill();
  }
  const o = summarize(ours).p50;
  const t = summarize(theirs).p50;
  // Each round's pair ran back to back: their ratio is less exposed to the machine's drift than the medians'.
  const ratio = summarize(ours.map((v, i) => v / (theirs[i] ?? Number.NaN))).p50;
  console.log(`Load generator against a trivial local service, ${CONNECTIONS} connections × ${SECONDS} s, ${ROUNDS} rounds (medians)`);
  console.log(`  Baton's load slice (FetchTester.load, autocannon in-process)  ${o.toFixed(0)} req/s`);
  console.log(`  autocannon CLI by hand (node_modules/.bin/autocannon)        ${t.toFixed(0)} req/s`);
  console.log(`  ratio (median of the rounds' ratios) ${ratio.toFixed(3)}; goal >= ${GOAL}: ${ratio >= GOAL ? 'met' : 'NOT met'}`);
  console.log(`  per round: Baton ${ours.map((v) => v.toFixed(0)).join(', ')}; CLI ${theirs.map((v) => v.toFixed(0)).join(', ')}`);
}

await main();
