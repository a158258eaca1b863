import { afterEach, describe, expect, it } from 'vitest';
import type { Artifact } from '../../../shared/domain/job.js';
import type { RevisionSpec, RevisionStatus, Runtime } from '../../../shared/ports/index.js';
import { TempDirs, waitFor, writeFiles } from './util.js';

/**
 * The Runtime contract (Cloud Run: services with revisions, a traffic split by percent, a URL per
 * tag), driven with tiny dependency-free Node services written by the suite.
 *
 * What the local adapter does NOT prove about the real service: a local revision is one process
 * on 127.0.0.1 and its readiness is "accepts a TCP connection on PORT"; Cloud Run runs containers
 * on many instances, checks startup with its own probes, scales by load, routes traffic splits per
 * request at its front end with different randomness, and its URLs are HTTPS with DNS names. The
 * local traffic split is exact per request; Cloud Run's converges. Restart here means a new
 * process re-reading a state file; Cloud Run's state is simply the service resource.
 */

export interface RuntimeHarness {
  /** The current runtime (a new one after `restart`). */
  readonly runtime: Runtime;
  /** Turns a service folder into an artifact the runtime can run (an archive locally, an image on gcp). */
  artifact(serviceDir: string): Promise<Artifact>;
  /** Stops the runtime's own processes and opens a new runtime over the same saved state. */
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

/** What the echo service answers to every request. */
export interface Echo {
  revision: string;
  path: string;
  method: string;
  pid: number;
  port: number;
  greeting: string | null;
}

const PACKAGE_JSON = JSON.stringify({ name: 'contract-service', version: '1.0.0', private: true, scripts: { start: 'node server.js' } });

/** Answers every request with JSON naming its revision (K_REVISION), the request path, its pid and PORT. */
export function writeEchoService(dir: string): string {
  return writeFiles(dir, {
    'package.json': PACKAGE_JSON,
    'server.js': `const http = require('node:http');
http
  .createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ revision: process.env.K_REVISION, path: req.url, method: req.method, pid: process.pid, port: Number(process.env.PORT), greeting: process.env.GREETING || null }));
  })
  .listen(Number(process.env.PORT), () => console.log('echo listening on ' + process.env.PORT));
`,
  });
}

/** Exits during start-up with a last line that names the problem. */
export function writeCrashService(dir: string): string {
  return writeFiles(dir, {
    'package.json': PACKAGE_JSON,
    'server.js': `console.log('starting up');
console.error('fatal: DATABASE_URL is not set');
process.exit(3);
`,
  });
}

/** Listens, but on a port of its own choosing instead of PORT. */
export function writeIgnoresPortService(dir: string): string {
  return writeFiles(dir, {
    'package.json': PACKAGE_JSON,
    'server.js': `const http = require('node:http');
const server = http.createServer((req, res) => res.end('wrong port'));
server.listen(0, () => console.log('listening on my own port ' + server.address().port));
`,
  });
}

export async function httpGet(url: string): Promise<{ status: number; json: Record<string, unknown> | null; contentType: string | null }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: res.status, json, contentType: res.headers.get('content-type') };
}

export async function echo(url: string): Promise<Echo> {
  const res = await httpGet(url);
  if (res.status !== 200 || !res.json) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(res.json)}`);
  return res.json as unknown as Echo;
}

/** Status, or 'unreachable' when the connection is refused. */
export async function statusOrUnreachable(url: string): Promise<number | 'unreachable'> {
  try {
    return (await httpGet(url)).status;
  } catch {
    return 'unreachable';
  }
}

export async function waitSettled(runtime: Runtime, service: string, revision: string, timeoutMs = 20_000): Promise<RevisionStatus> {
  return waitFor(
    `${revision} to leave "starting"`,
    async () => {
      const r = await runtime.getRevision(service, revision);
      return r && r.state !== 'starting' ? r : undefined;
    },
    timeoutMs,
  );
}

const uid = () => Math.random().toString(36).slice(2, 8);

export function runtimeContract(name: string, makeHarness: () => Promise<RuntimeHarness>): void {
  describe(`Runtime contract: ${name}`, () => {
    const temp = new TempDirs();
    let h: RuntimeHarness | null = null;
    const open = async () => {
      h = await makeHarness();
      return h;
    };
    afterEach(async () => {
      await h?.cleanup();
      h = null;
      temp.removeAll();
    });

    const spec = (service: string, revision: string, artifact: Artifact, extra: Partial<RevisionSpec> = {}): RevisionSpec => ({
      service,
      revision,
      artifact,
      env: {},
      tag: `t-${revision}`,
      deployment_id: `dep-${revision}`,
      start_timeout_seconds: 20,
      ...extra,
    });
    const echoArtifact = (harness: RuntimeHarness) => harness.artifact(writeEchoService(temp.make('echo-src')));

    /** A service with one ready revision serving 100%. */
    async function serving(harness: RuntimeHarness, service: string, revision: string): Promise<{ url: string; artifact: Artifact }> {
      const artifact = await echoArtifact(harness);
      await harness.runtime.deployRevision(spec(service, revision, artifact));
      expect((await waitSettled(harness.runtime, service, revision)).state).toBe('ready');
      await harness.runtime.setTraffic(service, [{ revision, percent: 100 }]);
      const svc = await harness.runtime.getService(service);
      return { url: svc?.url ?? '', artifact };
    }

    it('deploys a revision with no traffic: starting, then ready, reachable through its tag URL only', async () => {
      const harness = await open();
      const service = `svc-${uid()}`;
      const rev = `${service}-r1`;
      const artifact = await echoArtifact(harness);
      await harness.runtime.deployRevision(spec(service, rev, artifact, { tag: 'candidate', env: { GREETING: 'hello there' } }));

      const first = await harness.runtime.getRevision(service, rev);
      expect(first?.name).toBe(rev);
      expect(first?.state).toBe('starting');
      const ready = await waitSettled(harness.runtime, service, rev);
      expect(ready.state).toBe('ready');
      expect(ready.message).toBeNull();
      expect(ready.startup_ms).toEqual(expect.any(Number));
      expect(ready.startup_ms).toBeGreaterThan(0);
      expect(ready.startup_ms).toBeLessThan(20_000);
      expect(ready.tag_url).toMatch(/^https?:\/\//);

      const answer = await echo(`${ready.tag_url}hello?a=b`);
      expect(answer).toMatchObject({ revision: rev, path: '/hello?a=b', greeting: 'hello there' });

      const svc = await harness.runtime.getService(service);
      expect(svc?.name).toBe(service);
      expect(svc?.latest_created_revision).toBe(rev);
      expect(svc?.latest_ready_revision).toBe(rev);
      expect(svc?.traffic).toEqual([{ revision: rev, percent: 0, tag: 'candidate', url: ready.tag_url }]);
      const direct = await httpGet(svc?.url ?? '');
      expect(direct.status).toBe(503);
      expect(direct.contentType).toContain('application/json');
      expect(direct.json?.error).toEqual(expect.any(String));
    });

    it('getRevision and getService are null for what does not exist', async () => {
      const harness = await open();
      expect(await harness.runtime.getService(`svc-${uid()}`)).toBeNull();
      expect(await harness.runtime.getRevision(`svc-${uid()}`, 'nope')).toBeNull();
    });

    it('deployRevision is idempotent for the same revision name', async () => {
      const harness = await open();
      const service = `svc-${uid()}`;
      const rev = `${service}-r1`;
      const artifact = await echoArtifact(harness);
      await harness.runtime.deployRevision(spec(service, rev, artifact));
      const ready = await waitSettled(harness.runtime, service, rev);
      const before = await echo(ready.tag_url ?? '');
      await harness.runtime.deployRevision(spec(service, rev, artifact));
      expect((await harness.runtime.getRevision(service, rev))?.state).toBe('ready');
      expect((await echo(ready.tag_url ?? '')).pid).toBe(before.pid);
      expect((await harness.runtime.getService(service))?.traffic.filter((t) => t.revision === rev)).toHaveLength(1);
    });

    it('setTraffic 100% makes the service URL answer from the revision, the request path unchanged', async () => {
      const harness = await open();
      const service = `svc-${uid()}`;
      const rev = `${service}-r1`;
      const { url } = await serving(harness, service, rev);
      expect(url).toMatch(/^https?:\/\//);
      const answer = await echo(`${url}some/path?x=1&y=two%20words`);
      expect(answer).toMatchObject({ revision: rev, path: '/some/path?x=1&y=two%20words', method: 'GET' });
      expect((await harness.runtime.getService(service))?.traffic).toEqual([{ revision: rev, percent: 100 }]);
    });

    it('refuses a split that does not sum to 100 or names an unknown revision, and keeps the old split', async () => {
      const harness = await open();
      const service = `svc-${uid()}`;
      const rev = `${service}-r1`;
      const { url } = await serving(harness, service, rev);
      await expect(harness.runtime.setTraffic(service, [{ revision: rev, percent: 50 }])).rejects.toThrow();
      await expect(harness.runtime.setTraffic(service, [{ revision: `${service}-ghost`, percent: 100 }])).rejects.toThrow();
      expect((await harness.runtime.getService(service))?.traffic).toEqual([{ revision: rev, percent: 100 }]);
      expect((await echo(url)).revision).toBe(rev);
    });

    it('a second revision gets 0% behind its tag while the first keeps 100%', async () => {
      const harness = await open();
      const service = `svc-${uid()}`;
      const [r1, r2] = [`${service}-r1`, `${service}-r2`];
      const { url, artifact } = await serving(harness, service, r1);
      await harness.runtime.deployRevision(spec(service, r2, artifact, { tag: 'canary' }));
      const ready = await waitSettled(harness.runtime, service, r2);
      expect(ready.state).toBe('ready');
      expect((await echo(ready.tag_url ?? '')).revision).toBe(r2);
      for (let i = 0; i < 20; i++) expect((await echo(url)).revision).toBe(r1);
      const svc = await harness.runtime.getService(service);
      expect(svc?.traffic).toEqual([
        { revision: r1, percent: 100 },
        { revision: r2, percent: 0, tag: 'canary', url: ready.tag_url },
      ]);
      expect(svc?.latest_created_revision).toBe(r2);
      expect(svc?.latest_ready_revision).toBe(r2);
    });

    it('a 50/50 split sends both revisions a fair share of 200 requests', async () => {
      const harness = await open();
      const service = `svc-${uid()}`;
      const [r1, r2] = [`${service}-r1`, `${service}-r2`];
      const { url, artifact } = await serving(harness, service, r1);
      await harness.runtime.deployRevision(spec(service, r2, artifact, { tag: 'canary' }));
      expect((await waitSettled(harness.runtime, service, r2)).state).toBe('ready');
      await harness.runtime.setTraffic(service, [
        { revision: r1, percent: 50 },
        { revision: r2, percent: 50, tag: 'canary' },
      ]);
      const counts = new Map<string, number>();
      for (let batch = 0; batch < 10; batch++) {
        const answers = await Promise.all(Array.from({ length: 20 }, () => echo(url)));
        for (const a of answers) counts.set(a.revision, (counts.get(a.revision) ?? 0) + 1);
      }
      expect([...counts.keys()].sort()).toEqual([r1, r2].sort());
      for (const r of [r1, r2]) {
        expect(counts.get(r)).toBeGreaterThanOrEqual(50);
        expect(counts.get(r)).toBeLessThanOrEqual(150);
      }
    });

    it('a process that exits at start fails with "exited" and its last output line', async () => {
      const harness = await open();
      const service = `svc-${uid()}`;
      const rev = `${service}-crash`;
      const artifact = await harness.artifact(writeCrashService(temp.make('crash-src')));
      await harness.runtime.deployRevision(spec(service, rev, artifact));
      const status = await waitSettled(harness.runtime, service, rev);
      expect(status.state).toBe('failed');
      expect(status.message).toContain('exited');
      expect(status.message).toContain('fatal: DATABASE_URL is not set');
      expect((await harness.runtime.getService(service))?.latest_ready_revision).toBeNull();
      await expect(harness.runtime.setTraffic(service, [{ revision: rev, percent: 100 }])).rejects.toThrow();
    });

    it('a process that does not listen on PORT fails after start_timeout_seconds, naming PORT', async () => {
      const harness = await open();
      const service = `svc-${uid()}`;
      const rev = `${service}-deaf`;
      const artifact = await harness.artifact(writeIgnoresPortService(temp.make('deaf-src')));
      const began = Date.now();
      await harness.runtime.deployRevision(spec(service, rev, artifact, { start_timeout_seconds: 2 }));
      const status = await waitSettled(harness.runtime, service, rev);
      expect(status.state).toBe('failed');
      expect(status.message).toContain('Failed to start and then listen on the port defined by the PORT environment variable');
      expect(Date.now() - began).toBeGreaterThanOrEqual(1900);
    });

    it('setTraffic to a revision that was scaled to zero starts it again', async () => {
      const harness = await open();
      const service = `svc-${uid()}`;
      const [r1, r2] = [`${service}-r1`, `${service}-r2`];
      const { url, artifact } = await serving(harness, service, r1);
      const firstPid = (await echo(url)).pid;
      await harness.runtime.deployRevision(spec(service, r2, artifact));
      expect((await waitSettled(harness.runtime, service, r2)).state).toBe('ready');
      // r1 keeps neither traffic nor a tag: it may be scaled to zero.
      await harness.runtime.setTraffic(service, [{ revision: r2, percent: 100 }]);
      expect((await echo(url)).revision).toBe(r2);

      await harness.runtime.setTraffic(service, [{ revision: r1, percent: 100 }]);
      const back = await echo(`${url}again`);
      expect(back).toMatchObject({ revision: r1, path: '/again' });
      expect(back.pid).not.toBe(firstPid);
      expect((await harness.runtime.getRevision(service, r1))?.state).toBe('ready');
    });

    it('deleteRevision refuses a revision with traffic and removes one without', async () => {
      const harness = await open();
      const service = `svc-${uid()}`;
      const [r1, r2] = [`${service}-r1`, `${service}-r2`];
      const { url, artifact } = await serving(harness, service, r1);
      await harness.runtime.deployRevision(spec(service, r2, artifact, { tag: 'old' }));
      const r2Status = await waitSettled(harness.runtime, service, r2);
      expect(r2Status.state).toBe('ready');

      await expect(harness.runtime.deleteRevision(service, r1)).rejects.toThrow();
      expect((await harness.runtime.getRevision(service, r1))?.state).toBe('ready');
      expect((await echo(url)).revision).toBe(r1);

      await harness.runtime.deleteRevision(service, r2);
      expect(await harness.runtime.getRevision(service, r2)).toBeNull();
      expect((await harness.runtime.getService(service))?.traffic).toEqual([{ revision: r1, percent: 100 }]);
      expect(await statusOrUnreachable(r2Status.tag_url ?? '')).not.toBe(200);
      expect((await echo(url)).revision).toBe(r1);
    });

    it('state survives a restart: the same service URL serves the same revision', async () => {
      const harness = await open();
      const service = `svc-${uid()}`;
      const [r1, r2] = [`${service}-r1`, `${service}-r2`];
      const { url, artifact } = await serving(harness, service, r1);
      await harness.runtime.deployRevision(spec(service, r2, artifact, { tag: 'next' }));
      expect((await waitSettled(harness.runtime, service, r2)).state).toBe('ready');
      const before = await harness.runtime.getService(service);

      await harness.restart();
      const after = await harness.runtime.getService(service);
      expect(after?.url).toBe(url);
      expect(after?.traffic).toEqual(before?.traffic);
      expect(after?.latest_created_revision).toBe(r2);
      const answer = await waitFor('the service URL to answer again', async () => {
        const res = await httpGet(`${url}after-restart`).catch(() => null);
        return res?.status === 200 ? (res.json as unknown as Echo) : undefined;
      });
      expect(answer).toMatchObject({ revision: r1, path: '/after-restart' });
      expect((await waitSettled(harness.runtime, service, r2)).state).toBe('ready');
      const tagUrl = (await harness.runtime.getRevision(service, r2))?.tag_url ?? '';
      expect((await echo(tagUrl)).revision).toBe(r2);
    });
  });
}
