import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { ArtifactSchema } from '../../domain/job.js';
import type { RevisionSpec, RevisionState, RevisionStatus, Runtime, ServiceStatus, TrafficTarget } from '../../ports/index.js';
import { extractTarGz, sha256File } from './archive.js';
import type { FolderBlobStore } from './blob-store.js';
import { writeFileAtomic } from './fs-util.js';
import { childEnv, onLines, spawnGroup, stopGroup } from './process.js';
import { freePort, Router } from './router.js';

const TrafficSchema = z.object({ revision: z.string(), percent: z.number(), tag: z.string().optional() });
const StateSchema = z.object({
  services: z.array(
    z.object({
      name: z.string(),
      port: z.number(),
      tag_ports: z.record(z.string(), z.number()),
      traffic: z.array(TrafficSchema),
      latest_created: z.string().nullable(),
      latest_ready: z.string().nullable(),
      revisions: z.array(
        z.object({
          name: z.string(),
          artifact: ArtifactSchema,
          env: z.record(z.string(), z.string()),
          deployment_id: z.string(),
          start_timeout_seconds: z.number(),
          state: z.enum(['starting', 'ready', 'failed', 'stopped']),
          message: z.string().nullable(),
        }),
      ),
    }),
  ),
});

interface Revision {
  name: string;
  service: string;
  artifact: RevisionSpec['artifact'];
  env: Record<string, string>;
  deployment_id: string;
  start_timeout_seconds: number;
  state: RevisionState;
  message: string | null;
  child: ChildProcess | null;
  port: number | null;
  startup_ms?: number;
  tail: string[];
  /** Started and awaited by setTraffic when it scales a revision up from zero. */
  starting: Promise<void> | null;
}

interface Service {
  name: string;
  port: number;
  tagPorts: Map<string, number>;
  traffic: TrafficTarget[];
  revisions: Map<string, Revision>;
  latestCreated: string | null;
  latestReady: string | null;
}

const OUTPUT_TAIL = 20;
/** Output after a revision is ready still goes to its deployment's log for this long. */
const FORWARD_AFTER_READY_MS = 1500;

/**
 * Cloud Run's stand-in with no container engine: each revision is a process of the built
 * artifact with PORT set, behind a router that gives each service a stable URL, splits traffic
 * by percent and serves a URL per tag. A revision with neither traffic nor a tag is stopped (scaled
 * to zero) and started again when traffic returns to it. State survives a restart of the stack.
 */
export class LocalRuntime implements Runtime {
  private readonly services = new Map<string, Service>();
  private readonly router = new Router();
  /** Set by stop(): a start in progress neither spawns nor records a failure after it. */
  private stopping = false;

  constructor(
    private readonly deps: {
      blobs: FolderBlobStore;
      workDir: string;
      stateFile: string | null;
      onOutput: (deploymentId: string, revision: string, line: string) => void;
    },
  ) {}

  /** Loads the saved state, reopens the URLs and starts the revisions that serve or are tagged. */
  async resume(): Promise<void> {
    if (!this.deps.stateFile) return;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.deps.stateFile, 'utf8'));
    } catch {
      return;
    }
    const parsed = StateSchema.safeParse(raw);
    if (!parsed.success) return;
    for (const s of parsed.data.services) {
      const svc: Service = {
        name: s.name,
        port: s.port,
        tagPorts: new Map(Object.entries(s.tag_ports)),
        traffic: s.traffic,
        revisions: new Map(),
        latestCreated: s.latest_created,
        latestReady: s.latest_ready,
      };
      for (const r of s.revisions) {
        svc.revisions.set(r.name, { ...r, service: s.name, child: null, port: null, tail: [], starting: null });
      }
      this.services.set(s.name, svc);
      svc.port = await this.router.listen(`svc:${s.name}`, () => this.pick(svc), s.port);
      for (const r of svc.revisions.values()) {
        if (r.state === 'starting' || (r.state === 'ready' && this.isReferenced(svc, r.name))) {
          r.state = 'starting';
          r.starting = this.start(svc, r);
        }
      }
      await this.syncTags(svc);
    }
    this.save();
  }

  async deployRevision(spec: RevisionSpec): Promise<void> {
    const svc = await this.ensureService(spec.service);
    if (svc.revisions.has(spec.revision)) return;
    const rev: Revision = {
      name: spec.revision,
      service: spec.service,
      artifact: spec.artifact,
      env: spec.env,
      deployment_id: spec.deployment_id,
      start_timeout_seconds: spec.start_timeout_seconds,
      state: 'starting',
      message: null,
      child: null,
      port: null,
      tail: [],
      starting: null,
    };
    svc.revisions.set(rev.name, rev);
    svc.latestCreated = rev.name;
    svc.traffic = [...svc.traffic.filter((t) => t.tag !== spec.tag), { revision: rev.name, percent: 0, tag: spec.tag }];
    await this.syncTags(svc);
    this.save();
    rev.starting = this.start(svc, rev);
  }

  async getRevision(service: string, revision: string): Promise<RevisionStatus | null> {
    const svc = this.services.get(service);
    const rev = svc?.revisions.get(revision);
    if (!svc || !rev) return null;
    const tag = svc.traffic.find((t) => t.revision === revision && t.tag)?.tag;
    const tagPort = tag ? svc.tagPorts.get(tag) : undefined;
    return {
      name: rev.name,
      state: rev.state,
      message: rev.message,
      tag_url: tagPort ? `http://127.0.0.1:${tagPort}/` : null,
      ...(rev.startup_ms !== undefined ? { startup_ms: rev.startup_ms } : {}),
    };
  }

  async getService(service: string): Promise<ServiceStatus | null> {
    const svc = this.services.get(service);
    if (!svc) return null;
    return {
      name: svc.name,
      url: `http://127.0.0.1:${svc.port}/`,
      traffic: svc.traffic.map((t) => {
        const tagPort = t.tag ? svc.tagPorts.get(t.tag) : undefined;
        return tagPort ? { ...t, url: `http://127.0.0.1:${tagPort}/` } : { ...t };
      }),
      latest_created_revision: svc.latestCreated,
      latest_ready_revision: svc.latestReady,
    };
  }

  async setTraffic(service: string, traffic: TrafficTarget[]): Promise<void> {
    const svc = this.services.get(service);
    if (!svc) throw new Error(`no service ${service}`);
    const sum = traffic.reduce((a, t) => a + t.percent, 0);
    if (sum !== 100) throw new Error(`traffic percents must sum to 100, not ${sum}`);
    for (const t of traffic) {
      const rev = svc.revisions.get(t.revision);
      if (!rev) throw new Error(`revision ${t.revision} does not exist`);
      if (rev.state === 'failed') throw new Error(`revision ${t.revision} failed: ${rev.message}`);
    }
    // Scale up from zero before any request is routed there.
    await Promise.all(traffic.map((t) => this.ensureRunning(svc, t.revision)));
    svc.traffic = traffic.map((t) => ({ ...t }));
    await this.syncTags(svc);
    this.save();
    await this.scaleIdleToZero(svc);
  }

  async deleteRevision(service: string, revision: string): Promise<void> {
    const svc = this.services.get(service);
    const rev = svc?.revisions.get(revision);
    if (!svc || !rev) return;
    if (svc.traffic.some((t) => t.revision === revision && t.percent > 0)) {
      throw new Error(`revision ${revision} still serves traffic; move the traffic first`);
    }
    svc.traffic = svc.traffic.filter((t) => t.revision !== revision);
    svc.revisions.delete(revision);
    if (svc.latestReady === revision) svc.latestReady = null;
    const child = rev.child;
    rev.child = null;
    rev.state = 'stopped';
    if (child) await stopGroup(child);
    await this.syncTags(svc);
    this.save();
    await rm(this.revisionDir(rev), { recursive: true, force: true });
  }

  /** Stops every revision process and closes every URL; the saved state brings them back. */
  async stop(): Promise<void> {
    this.stopping = true;
    const revisions = [...this.services.values()].flatMap((s) => [...s.revisions.values()]);
    const children = revisions.map((r) => r.child);
    // Detach first, so the exits are not taken for crashes and the saved state stays as it was.
    for (const r of revisions) r.child = null;
    await Promise.all(children.map((c) => (c ? stopGroup(c) : undefined)));
    await this.router.closeAll();
  }

  private async ensureService(name: string): Promise<Service> {
    let svc = this.services.get(name);
    if (svc) return svc;
    svc = { name, port: 0, tagPorts: new Map(), traffic: [], revisions: new Map(), latestCreated: null, latestReady: null };
    this.services.set(name, svc);
    const s = svc;
    svc.port = await this.router.listen(`svc:${name}`, () => this.pick(s));
    return svc;
  }

  private pick(svc: Service): { port: number } | { error: string } {
    const live = svc.traffic.filter((t) => t.percent > 0);
    if (live.length === 0) return { error: `service ${svc.name} has no revision serving traffic yet` };
    let roll = Math.random() * 100;
    let chosen = live[live.length - 1];
    for (const t of live) {
      roll -= t.percent;
      if (roll < 0) {
        chosen = t;
        break;
      }
    }
    return this.portOf(svc, chosen.revision);
  }

  private portOf(svc: Service, revision: string): { port: number } | { error: string } {
    const rev = svc.revisions.get(revision);
    if (!rev || rev.port === null || rev.state !== 'ready') {
      return { error: `revision ${revision} of ${svc.name} is ${rev?.state ?? 'gone'}${rev?.message ? `: ${rev.message}` : ''}` };
    }
    return { port: rev.port };
  }

  private async syncTags(svc: Service): Promise<void> {
    const wanted = new Map(svc.traffic.filter((t) => t.tag).map((t) => [t.tag as string, t.revision]));
    for (const [tag, revision] of wanted) {
      const port = await this.router.listen(`tag:${svc.name}:${tag}`, () => this.tagRoute(svc, tag), svc.tagPorts.get(tag));
      svc.tagPorts.set(tag, port);
      void revision;
    }
    for (const tag of [...svc.tagPorts.keys()]) {
      if (!wanted.has(tag)) await this.router.close(`tag:${svc.name}:${tag}`);
    }
  }

  private tagRoute(svc: Service, tag: string): { port: number } | { error: string } {
    const t = svc.traffic.find((x) => x.tag === tag);
    return t ? this.portOf(svc, t.revision) : { error: `no revision is tagged ${tag}` };
  }

  private isReferenced(svc: Service, revision: string): boolean {
    return svc.traffic.some((t) => t.revision === revision && (t.percent > 0 || t.tag));
  }

  private async ensureRunning(svc: Service, revision: string): Promise<void> {
    const rev = svc.revisions.get(revision);
    if (!rev) return;
    if (rev.state === 'ready' && rev.child) return;
    if (!rev.starting) {
      rev.state = 'starting';
      rev.starting = this.start(svc, rev);
    }
    await rev.starting;
    if (rev.state !== 'ready') throw new Error(`revision ${revision} could not be started: ${rev.message}`);
  }

  private async scaleIdleToZero(svc: Service): Promise<void> {
    const idle = [...svc.revisions.values()].filter((r) => r.child && r.state === 'ready' && !this.isReferenced(svc, r.name));
    await Promise.all(
      idle.map(async (r) => {
        const child = r.child;
        r.child = null;
        r.port = null;
        if (child) await stopGroup(child);
      }),
    );
  }

  private revisionDir(rev: Revision): string {
    return join(this.deps.workDir, rev.service, rev.name);
  }

  private async start(svc: Service, rev: Revision): Promise<void> {
    const began = Date.now();
    const dir = this.revisionDir(rev);
    const fail = (message: string) => {
      rev.state = 'failed';
      rev.message = message;
      rev.starting = null;
      this.save();
    };
    try {
      if (!(await stat(join(dir, 'package.json')).catch(() => null))) {
        const file = this.deps.blobs.pathOf(rev.artifact.ref);
        const digest = `sha256:${await sha256File(file)}`;
        if (rev.artifact.digest && digest !== rev.artifact.digest)
          return fail(`artifact ${rev.artifact.ref} does not match digest ${rev.artifact.digest}`);
        await extractTarGz(file, dir, { maxBytes: Number.MAX_SAFE_INTEGER, maxFiles: Number.MAX_SAFE_INTEGER });
      }
      const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
      const command = pkg.scripts?.start ?? 'node .';
      const port = await freePort();
      rev.port = port;
      const env = childEnv({
        ...rev.env,
        PORT: String(port),
        K_SERVICE: svc.name,
        K_REVISION: rev.name,
        PATH: `${join(dir, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
      });
      // Deleted or stopped while it was being unpacked: start nothing that nobody would own.
      if (this.stopping || svc.revisions.get(rev.name) !== rev) {
        rev.starting = null;
        return;
      }
      // Start-up is measured from the spawn: unpacking the artifact counts as the control plane's time.
      const spawnedAt = Date.now();
      const child = spawnGroup(command, { cwd: dir, env });
      rev.child = child;
      let forwardUntil = Number.POSITIVE_INFINITY;
      const onLine = (line: string) => {
        rev.tail.push(line);
        if (rev.tail.length > OUTPUT_TAIL) rev.tail.shift();
        if (Date.now() < forwardUntil) this.deps.onOutput(rev.deployment_id, rev.name, line);
      };
      onLines(child.stdout, onLine);
      onLines(child.stderr, onLine);
      let exited: string | null = null;
      child.on('exit', (code, signal) => {
        exited = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        if (rev.child !== child) return;
        rev.child = null;
        if (rev.state === 'ready') fail(`the process ${exited} after it started${this.lastOutput(rev)}`);
      });
      const deadline = began + rev.start_timeout_seconds * 1000;
      while (true) {
        if (this.stopping || svc.revisions.get(rev.name) !== rev) {
          // stop() or deleteRevision() took the process away: not a start-up failure.
          rev.starting = null;
          return;
        }
        if (exited) {
          await settleOutput();
          return fail(`the process ${exited} during start-up, before it listened on PORT=${port}${this.lastOutput(rev)}`);
        }
        if (await canConnect(port)) break;
        if (Date.now() > deadline) {
          await stopGroup(child, 500);
          rev.child = null;
          return fail(
            `it did not listen on PORT=${port} within ${rev.start_timeout_seconds} s. The server must listen on the port in the PORT environment variable (process.env.PORT), not a fixed one${this.lastOutput(rev)}`,
          );
        }
        await sleep(5);
      }
      rev.state = 'ready';
      rev.message = null;
      rev.startup_ms = Date.now() - spawnedAt;
      rev.starting = null;
      forwardUntil = Date.now() + FORWARD_AFTER_READY_MS;
      if (svc.latestCreated === rev.name) svc.latestReady = rev.name;
      this.save();
    } catch (err) {
      fail(`it could not be started: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private lastOutput(rev: Revision): string {
    return rev.tail.length > 0 ? `. Last output:\n${rev.tail.slice(-10).join('\n')}` : '. It printed nothing';
  }

  private save(): void {
    if (!this.deps.stateFile) return;
    const state: z.infer<typeof StateSchema> = {
      services: [...this.services.values()].map((s) => ({
        name: s.name,
        port: s.port,
        tag_ports: Object.fromEntries(s.tagPorts),
        traffic: s.traffic,
        latest_created: s.latestCreated,
        latest_ready: s.latestReady,
        revisions: [...s.revisions.values()].map((r) => ({
          name: r.name,
          artifact: r.artifact,
          env: r.env,
          deployment_id: r.deployment_id,
          start_timeout_seconds: r.start_timeout_seconds,
          state: r.state,
          message: r.message,
        })),
      })),
    };
    writeFileAtomic(this.deps.stateFile, JSON.stringify(state));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Lets the last lines a dying process wrote reach its tail before the message quotes it. */
const settleOutput = () => sleep(30);
