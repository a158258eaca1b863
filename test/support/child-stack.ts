import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach } from 'vitest';
import { FINAL_STATUSES } from '../../shared/domain/status.js';
import { fixture, type JobView, TEST_ENV } from './stack.js';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The local stack as `npm start` runs it, in a child process, so a test can kill it with SIGKILL
 * (nothing flushed, nothing stopped) and start it again on the same data folder.
 */
export class ChildStack {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly output: string[],
  ) {}

  /** `via: 'npm'` runs `npm start` (npm → sh → tsx → node), as a user does. */
  static async start(dataDir: string, env: Record<string, string> = {}, via: 'node' | 'npm' = 'node'): Promise<ChildStack> {
    const [command, args] = via === 'npm' ? ['npm', ['start']] : [process.execPath, ['--import', 'tsx', 'functions/local-stack.ts']];
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, ...TEST_ENV, METADATA_SERVER_DETECTION: 'none', BATON_DATA_DIR: dataDir, PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    createInterface({ input: child.stderr }).on('line', (l) => output.push(l));
    const url = await new Promise<string>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`the stack did not start within 30 s:\n${output.join('\n')}`)), 30_000);
      createInterface({ input: child.stdout }).on('line', (l) => {
        output.push(l);
        const m = /listening on (http:\/\/\S+)/.exec(l);
        if (m) {
          clearTimeout(timer);
          res(m[1]);
        }
      });
      child.once('exit', (code) => rej(new Error(`the stack exited (${code}) before listening:\n${output.join('\n')}`)));
    });
    return new ChildStack(child, url, output);
  }

  /** The PID of the process started (npm's with `via: 'npm'`). */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Baton's own PID, as it prints it when it listens. */
  get batonPid(): number {
    return Number(this.output.map((l) => /listening on \S+ \(PID (\d+)\)/.exec(l)?.[1]).find(Boolean) ?? 0);
  }

  /** Sends `sig` to the process started; resolves when it has exited. */
  async signal(sig: NodeJS.Signals): Promise<void> {
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.kill(sig);
    await gone;
  }

  /** kill -9: the process gets no chance to write anything more. */
  async kill(): Promise<void> {
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await gone;
  }

  /** A clean stop (SIGTERM: revisions stopped, everything flushed). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await gone;
  }

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  async deploy(agentId: string, source: Record<string, unknown> = { type: 'directory', path: fixture('healthy') }): Promise<string> {
    const res = await this.request('POST', '/deploy', { agent_id: agentId, source });
    if (res.status !== 202) throw new Error(`deploy answered ${res.status}: ${JSON.stringify(res.json)}`);
    return String(res.json.deployment_id);
  }

  /** The job, or null on 404. */
  async job(id: string): Promise<JobView | null> {
    const res = await this.request('GET', `/deployments/${id}`);
    if (res.status === 404) return null;
    if (res.status !== 200) throw new Error(`GET /deployments/${id} answered ${res.status}`);
    return res.json as unknown as JobView;
  }

  /** Polls until `done(job)` holds; returns the job and how long that took. */
  async waitFor(id: string, done: (job: JobView) => boolean, timeoutMs: number, everyMs = 25): Promise<{ job: JobView; ms: number }> {
    const t0 = performance.now();
    for (;;) {
      const job = await this.job(id);
      if (job && done(job)) return { job, ms: performance.now() - t0 };
      if (performance.now() - t0 > timeoutMs) throw new Error(`deployment ${id} not there within ${timeoutMs} ms: ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  waitFinal(id: string, timeoutMs: number): Promise<{ job: JobView; ms: number }> {
    return this.waitFor(id, (j) => isFinal(j.status), timeoutMs);
  }
}

export const isFinal = (status: string) => (FINAL_STATUSES as readonly string[]).includes(status);

/** The processes whose working folder is inside `dataDir`: a stack's builds and revisions. */
export function processesIn(dataDir: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd === dataDir || cwd.startsWith(`${dataDir}/`)) out.push(Number(pid));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return out;
}

/**
 * Kills what a killed stack left running (its builds and revisions run in process groups of their
 * own, under its data folder).
 */
export function killLeftovers(dataDir: string): number {
  let n = 0;
  for (const pid of processesIn(dataDir)) {
    try {
      process.kill(pid, 'SIGKILL');
      n++;
    } catch {
      // Gone meanwhile.
    }
  }
  return n;
}

/**
 * The stacks and data folders of one test file: after each test the stacks are stopped, whatever
 * a killed stack left running under a folder is killed, and the folders are removed.
 */
export function stackFixtures<S extends { stop(): Promise<void> }>(prefix: string) {
  const dirs: string[] = [];
  const stacks: S[] = [];
  afterEach(async () => {
    await Promise.all(stacks.splice(0).map((s) => s.stop()));
    for (const d of dirs.splice(0)) {
      killLeftovers(d);
      rmSync(d, { recursive: true, force: true });
    }
  });
  const dataDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  return { dirs, stacks, dataDir };
}
