import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { describe, it } from 'vitest';

/**
 * Google's own Firestore and Pub/Sub emulators for tests (the gcloud components
 * `cloud-firestore-emulator` and `pubsub-emulator`, run by Java).
 *
 * Each emulator runs in its own process group (spawn `detached`, i.e. setsid) on a free port of
 * 127.0.0.1, and `stop()` kills the whole group: gcloud starts a launcher that starts Java, and
 * killing gcloud alone leaves Java running. Start each emulator once per test file (beforeAll) and
 * give every suite run its own project id (`uniqueProjectId`): the emulators keep each project's
 * data apart, so parallel files and tests do not see each other's documents.
 *
 * The clients for tests are built here with the emulator's host passed to the constructor, never
 * through FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST, so nothing leaks into other clients of
 * the process. (Production clients are built in shared/wiring/gcp-clients.ts only.)
 *
 * What an emulator does NOT prove: IAM (everything is allowed), quotas and limits (document and
 * write rates, 500 dispatches, message sizes), index requirements (Firestore serves any query
 * without an index), the real services' latencies and contention behaviour, and TLS/auth set-up.
 */

export type EmulatorKind = 'firestore' | 'pubsub';

export interface Emulator {
  kind: EmulatorKind;
  /** host:port, e.g. 127.0.0.1:40123. */
  host: string;
  /** Kills the emulator's process group; safe to call more than once. */
  stop(): Promise<void>;
}

const COMPONENT_DIR: Record<EmulatorKind, string> = {
  firestore: 'cloud-firestore-emulator',
  pubsub: 'pubsub-emulator',
};

const START_TIMEOUT_MS = 45_000;
const STOP_GRACE_MS = 5_000;

export const SKIP_MESSAGE = 'skipped: gcloud and its emulators are not installed; CI=true makes this a failure';

/** The gcloud binary on PATH, or null (`which gcloud`). */
export function findGcloud(): string | null {
  const res = spawnSync('which', ['gcloud'], { encoding: 'utf8' });
  const path = res.status === 0 ? res.stdout.trim().split('\n')[0] : '';
  return path ? path : null;
}

/** Why the emulators cannot run here, or null when they can. */
export function emulatorsMissing(kinds: readonly EmulatorKind[] = ['firestore', 'pubsub']): string | null {
  const gcloud = findGcloud();
  if (!gcloud) return 'gcloud is not on the PATH';
  if (spawnSync('which', ['java']).status !== 0) return 'java is not on the PATH (the emulators run on Java)';
  // gcloud lives in <sdk>/bin/gcloud; the emulators in <sdk>/platform/<component>.
  let sdk: string;
  try {
    sdk = dirname(dirname(realpathSync(gcloud)));
  } catch {
    return `cannot resolve ${gcloud}`;
  }
  const missing = kinds.filter((k) => !existsSync(join(sdk, 'platform', COMPONENT_DIR[k])));
  if (missing.length > 0) return `the gcloud components ${missing.map((k) => COMPONENT_DIR[k]).join(', ')} are not installed in ${sdk}`;
  return null;
}

export function emulatorsAvailable(kinds: readonly EmulatorKind[] = ['firestore', 'pubsub']): boolean {
  return emulatorsMissing(kinds) === null;
}

export function isCi(): boolean {
  const ci = (process.env.CI ?? '').toLowerCase();
  return ci === 'true' || ci === '1';
}

/**
 * `describe` when the emulators can run. Without them: `describe.skip`, with the reason printed,
 * or, when CI=true, a suite that fails with that reason (CI must run these, never skip them).
 */
export function describeWithEmulators(name: string, fn: () => void, kinds: readonly EmulatorKind[] = ['firestore', 'pubsub']): void {
  const missing = emulatorsMissing(kinds);
  if (missing === null) {
    describe(name, fn);
    return;
  }
  if (isCi()) {
    describe(name, () => {
      it('needs gcloud and its emulators', () => {
        throw new Error(
          `${name}: CI=true, and gcloud and its emulators are not installed (${missing}): this suite must run in CI, not skip`,
        );
      });
    });
    return;
  }
  console.warn(`${name}: ${SKIP_MESSAGE} (${missing})`);
  describe.skip(`${name} [${SKIP_MESSAGE}]`, fn);
}

/** A project id of its own for one suite run or test: the emulators keep projects apart. */
export function uniqueProjectId(prefix = 'baton-test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A Firestore client on the emulator, with the settings of buildGcpClients. Terminate it when done. */
export function firestoreClient(emulator: Emulator, projectId: string): Firestore {
  return new Firestore({ projectId, host: emulator.host, ssl: false, ignoreUndefinedProperties: true });
}

/** A Pub/Sub client on the emulator (apiEndpoint that is not *.googleapis.com means plain text, no auth). Close it when done. */
export function pubsubClient(emulator: Emulator, projectId: string): PubSub {
  return new PubSub({ projectId, apiEndpoint: emulator.host });
}

/** Process groups still running, killed if the test process exits without stopping them. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function trackGroup(pgid: number): void {
  liveGroups.add(pgid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const g of liveGroups) signalGroup(g, 'SIGKILL');
  });
}

/** Starts one emulator and resolves once it answers HTTP on its port. */
export async function startEmulator(kind: EmulatorKind, options: { projectId?: string } = {}): Promise<Emulator> {
  const gcloud = findGcloud();
  const missing = emulatorsMissing([kind]);
  if (!gcloud || missing) throw new Error(`cannot start the ${kind} emulator: ${missing ?? 'gcloud is not on the PATH'}`);
  let lastError: Error | undefined;
  // A free port may be taken between finding it and the emulator binding it: try again on another.
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(gcloud, kind, await freePort(), options.projectId ?? uniqueProjectId());
    } catch (err) {
      lastError = err as Error;
      if (!/address already in use|BindException/i.test(lastError.message)) throw lastError;
    }
  }
  throw lastError ?? new Error(`cannot start the ${kind} emulator`);
}

async function startOnce(gcloud: string, kind: EmulatorKind, port: number, projectId: string): Promise<Emulator> {
  const dir = mkdtempSync(join(tmpdir(), `baton-${kind}-emulator-`));
  const logPath = join(dir, 'emulator.log');
  const host = `127.0.0.1:${port}`;
  const args =
    kind === 'firestore'
      ? ['emulators', 'firestore', 'start', `--host-port=${host}`, '--quiet']
      : ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, `--project=${projectId}`, `--data-dir=${dir}`, '--quiet'];
  const log = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(gcloud, args, {
      // detached: the child calls setsid(), so it leads a process group of its own (gcloud, the launcher, Java).
      detached: true,
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
        CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: '1',
        // Keep the JVM small: two emulators and the tests share a 2-core machine.
        JAVA_TOOL_OPTIONS: `${process.env.JAVA_TOOL_OPTIONS ?? ''} -XX:+UseSerialGC -XX:TieredStopAtLevel=1`.trim(),
      },
    });
  } finally {
    closeSync(log);
  }
  const pgid = child.pid;
  if (pgid === undefined) throw new Error(`cannot spawn ${gcloud}`);
  trackGroup(pgid);
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });
  child.unref();

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await killGroup(pgid);
      liveGroups.delete(pgid);
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const started = Date.now();
  while (true) {
    if (exited !== null) {
      const out = tail(logPath);
      await stop();
      throw new Error(`the ${kind} emulator ${exited} before it was ready:\n${out}`);
    }
    if (await answers(host)) return { kind, host, stop };
    if (Date.now() - started > START_TIMEOUT_MS) {
      const out = tail(logPath);
      await stop();
      throw new Error(`the ${kind} emulator did not answer on ${host} within ${START_TIMEOUT_MS} ms:\n${out}`);
    }
    await sleep(100);
  }
}

/** Both emulators answer `GET /` with 200 "Ok" once they serve. */
async function answers(host: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone
  }
}

/** SIGTERM to the group, SIGKILL to whatever still runs after the grace period. */
async function killGroup(pgid: number): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  const until = Date.now() + STOP_GRACE_MS;
  while (groupRunning(pgid) && Date.now() < until) await sleep(50);
  if (groupRunning(pgid)) signalGroup(pgid, 'SIGKILL');
}

/**
 * True while a process of the group runs. On Linux, zombies (exited, waiting for a parent that
 * may be a container's non-reaping init) do not count: they run nothing and hold no port.
 */
function groupRunning(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // After "pid (comm) ": state, ppid, pgrp, ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
    } catch {
      // the process ended while we looked
    }
  }
  return false;
}

function tail(path: string, chars = 4000): string {
  try {
    return readFileSync(path, 'utf8').slice(-chars);
  } catch {
    return '(no output)';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
