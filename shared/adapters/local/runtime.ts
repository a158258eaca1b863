import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join, relative, sep } from 'node:path';
import { quote } from 'shell-quote';
import { z } from 'zod';
import { ArtifactSchema } from '../../domain/job.js';
import type { RevisionSpec, RevisionState, RevisionStatus, Runtime, ServiceStatus, TrafficTarget } from '../../ports/index.js';
import { chownTree } from './archive.js';
import type { FolderBlobStore } from './blob-store.js';
import { codeOf, PRIVATE_DIR, permanentFsErrors, writeFileAtomic } from './fs-util.js';
import { imageEnv, readImageConfig } from './image-config.js';
import { listeningPorts } from './listening.js';
import {
  onLines,
  type ProcessRecord,
  type ProcessUser,
  recordOf,
  revisionUser,
  spawnGroup,
  stopGroup,
  stopRecordedGroup,
} from './process.js';
import type { RequestStats } from './request-stats.js';
import { withMemoryCap } from './resource-caps.js';
import { chooseNode, revisionEnv } from './revision-env.js';
import type { RevisionLogFiles } from './revision-logs.js';
import { freePort, Router } from './router.js';
import { type Packed, UnpackedCopies } from './unpacked.js';

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
          /** The fingerprint of its folder as made from the verified artifact (see UnpackedCopies). */
          fingerprint: z.string().nullable().default(null),
          /** The process group running it (its leader's PID and start time), while one runs. */
          process: z.object({ pid: z.number(), start: z.string() }).nullable().default(null),
        }),
      ),
    }),
  ),
  /** The fingerprints of parked build folders (see UnpackedCopies.adopt), by artifact digest. */
  parked: z.record(z.string(), z.string()).default({}),
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
  fingerprint: string | null;
  process: ProcessRecord | null;
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
/** How often a starting revision's listening sockets are read (/proc). */
const PORT_CHECK_EVERY_MS = 200;
/** How long a revision may listen on other ports only before it is failed as ignoring PORT (a server may open an admin port first). */
export const DEFAULT_PORT_GRACE_MS = 2000;

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
      /** Keeps every line a revision writes, after it is ready too (revision-logs.ts). */
      revisionLogs?: Pick<RevisionLogFiles, 'append'>;
      /** Who runs revisions; by default revisionUser(): nobody when Baton runs as root. */
      user?: ProcessUser | null;
      /** Where built folders wait for their first revision; by default `unpacked` beside workDir. */
      unpackedDir?: string;
      /** How long a starting revision may listen only on other ports than PORT before it fails (DEFAULT_PORT_GRACE_MS). */
      portGraceMs?: number;
    },
  ) {
    this.user = deps.user === undefined ? revisionUser() : deps.user;
    this.portGraceMs = deps.portGraceMs ?? DEFAULT_PORT_GRACE_MS;
    this.copies = new UnpackedCopies(deps.unpackedDir ?? join(dirname(deps.workDir), 'unpacked'), deps.blobs);
  }

  private readonly copies: UnpackedCopies;
  /** Fingerprints of the parked build folders, by artifact digest (saved with the state). */
  private readonly parked = new Map<string, string>();

  private readonly user: ProcessUser | null;
  private readonly portGraceMs: number;
  /** Warnings already given, once each: what isolation is not enforced and why. */
  private readonly warned = new Set<string>();

  /**
   * Loads the saved state, stops what a previous run that did not stop cleanly (kill -9) left
   * running, reopens the URLs and starts the revisions that serve or are tagged.
   */
  async resume(): Promise<void> {
    const state = this.readState();
    if (!state) return;
    for (const [digest, fp] of Object.entries(state.parked)) this.parked.set(digest, fp);
    await this.stopLeftovers(state);
    for (const s of state.services) {
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
        svc.revisions.set(r.name, { ...r, process: null, service: s.name, child: null, port: null, tail: [], starting: null });
      }
      this.services.set(s.name, svc);
      svc.port = await this.router.listen(`svc:${s.name}`, () => this.pick(svc), s.port, s.name);
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

  /**
   * A revision process still running from a stack that died (its PID recorded with its start
   * time, so a reused PID is left alone) is stopped before anything starts: it holds no router
   * and nobody reads its output, and starting the revision beside it would run it twice.
   */
  private async stopLeftovers(state: z.infer<typeof StateSchema>): Promise<void> {
    const left = state.services.flatMap((s) => s.revisions.filter((r) => r.process !== null));
    await Promise.all(
      left.map(async (r) => {
        const rec = r.process as ProcessRecord;
        if (!(await stopRecordedGroup(rec))) return;
        const line = `baton: revision ${r.name} was still running (PID ${rec.pid}) from a stack that did not stop cleanly: stopped it before starting again`;
        console.warn(line);
        this.deps.onOutput(r.deployment_id, r.name, line);
      }),
    );
  }

  /**
   * The saved state, or null when there is none yet. A file that exists but cannot be read or
   * parsed stops the start: carrying on would start with no services and then overwrite it,
   * losing every service, URL and revision it records.
   */
  private readState(): z.infer<typeof StateSchema> | null {
    const file = this.deps.stateFile;
    if (!file) return null;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return null;
      throw new Error(
        `${file} cannot be read (${err instanceof Error ? err.message : String(err)}). It records every service, URL and revision of the local runtime; fix its permissions and start again (move it aside only to start with no services)`,
      );
    }
    let parsed: z.ZodSafeParseResult<z.infer<typeof StateSchema>>;
    try {
      parsed = StateSchema.safeParse(JSON.parse(text));
    } catch (err) {
      throw new Error(
        `${file} is not valid JSON (${err instanceof Error ? err.message : String(err)}). It records every service, URL and revision of the local runtime; restore it from a backup, or move it aside (mv ${file} ${file}.bad) to start with no services, then start again`,
      );
    }
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `${file} does not hold a runtime state (${issue?.path.join('.') || 'top level'}: ${issue?.message ?? 'invalid'}). Restore it from a backup, or move it aside (mv ${file} ${file}.bad) to start with no services, then start again`,
      );
    }
    return parsed.data;
  }

  /** Keeps a build's folder for the first revision of the artifact packed from it, when it matches exactly. */
  async adoptBuild(artifact: RevisionSpec['artifact'], built: string, packed?: Packed): Promise<void> {
    const fp = await this.copies.adopt(artifact, built, packed);
    if (!fp) return;
    this.parked.set(artifact.digest, fp);
    this.save();
  }

  /** Whether a revision of any service was made from the artifact stored under `ref` (the cleanup keeps it). */
  usesArtifact(ref: string): boolean {
    for (const svc of this.services.values()) for (const r of svc.revisions.values()) if (r.artifact.ref === ref) return true;
    return false;
  }

  deployRevision(spec: RevisionSpec): Promise<void> {
    return permanentFsErrors(() => this.deployRevisionIn(spec));
  }

  private async deployRevisionIn(spec: RevisionSpec): Promise<void> {
    const svc = await this.ensureService(spec.service);
    if (svc.revisions.has(spec.revision)) return;
    const rev: Revision = {
      name: spec.revision,
      service: spec.service,
      artifact: spec.artifact,
      env: withMemoryCap(spec.env, spec.resources?.memory_mb),
      deployment_id: spec.deployment_id,
      start_timeout_seconds: spec.start_timeout_seconds,
      state: 'starting',
      message: null,
      fingerprint: null,
      process: null,
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
      // setTraffic returns once the routers serve the new split: nothing is left to apply.
      reconciling: false,
    };
  }

  setTraffic(service: string, traffic: TrafficTarget[]): Promise<void> {
    return permanentFsErrors(() => this.setTrafficIn(service, traffic));
  }

  private async setTrafficIn(service: string, traffic: TrafficTarget[]): Promise<void> {
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

  deleteRevision(service: string, revision: string): Promise<void> {
    return permanentFsErrors(() => this.deleteRevisionIn(service, revision));
  }

  private async deleteRevisionIn(service: string, revision: string): Promise<void> {
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
    const unused = ![...this.services.values()].some((s) =>
      [...s.revisions.values()].some((r) => r.artifact.digest === rev.artifact.digest),
    );
    if (unused) this.parked.delete(rev.artifact.digest);
    await this.syncTags(svc);
    this.save();
    await rm(this.revisionDir(rev), { recursive: true, force: true });
    if (unused) await this.copies.remove(rev.artifact.digest);
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
    svc.port = await this.router.listen(`svc:${name}`, () => this.pick(s), undefined, name);
    return svc;
  }

  /** What each service URL served, per revision: the canary analysis's numbers (LocalCanaryMetrics). */
  get requestStats(): RequestStats {
    return this.router.stats;
  }

  private pick(svc: Service): { port: number; revision: string } | { error: string; revision?: string } {
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
    return { ...this.portOf(svc, chosen.revision), revision: chosen.revision };
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
    const fail = (message: string) => {
      rev.state = 'failed';
      rev.message = message;
      rev.starting = null;
      rev.process = null;
      try {
        this.save();
      } catch (err) {
        console.error(`baton: could not save the runtime state: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    const say = (line: string) => this.deps.onOutput(rev.deployment_id, rev.name, line);
    try {
      const home = join(this.revisionDir(rev), 'home');
      const user = await this.runAs(rev, home);
      // Baton's own time: verifying (or making) the revision's folder. The start-up clock has not started.
      const parked = this.parked.get(rev.artifact.digest) ?? null;
      const prepared = await this.copies.prepare(rev.artifact, join(this.revisionDir(rev), 'app'), rev.fingerprint, parked, user);
      if (prepared.warning) {
        console.warn(prepared.warning);
        say(prepared.warning);
      }
      if ('refused' in prepared) return fail(prepared.refused);
      if (prepared.claimed) this.parked.delete(rev.artifact.digest);
      rev.fingerprint = prepared.fingerprint;
      const dir = prepared.dir;
      // A Python or Go artifact says how it starts, as an image does; a Node one starts from package.json.
      const image = await readImageConfig(dir);
      const pkg = image
        ? {}
        : (JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
            scripts?: Record<string, string>;
            engines?: { node?: unknown };
          });
      const command = image ? quote(image.argv) : (pkg.scripts?.start ?? 'node .');
      const node = chooseNode(pkg.engines?.node);
      if (node.note) say(`baton: ${node.note}`);
      const port = await freePort();
      rev.port = port;
      const base = revisionEnv({ appDir: dir, home, node, request: rev.env, port, service: svc.name, revision: rev.name });
      const env = image ? imageEnv(image, dir, base) : base;
      // Deleted or stopped while it was being unpacked: start nothing that nobody would own.
      if (this.stopping || svc.revisions.get(rev.name) !== rev) {
        rev.starting = null;
        return;
      }
      // Never two processes of one revision: a group recorded for it and still alive goes first.
      if (rev.process) await stopRecordedGroup(rev.process);
      // Start-up is measured from the spawn: unpacking the artifact counts as the control plane's time.
      const spawnedAt = Date.now();
      const child = spawnGroup(command, { cwd: dir, env, user });
      rev.child = child;
      rev.process = recordOf(child);
      this.save();
      let forwardUntil = Number.POSITIVE_INFINITY;
      const onLine = (line: string) => {
        rev.tail.push(line);
        if (rev.tail.length > OUTPUT_TAIL) rev.tail.shift();
        if (Date.now() < forwardUntil) this.deps.onOutput(rev.deployment_id, rev.name, line);
      };
      const kept = (stream: 'stdout' | 'stderr') => (line: string) => {
        this.deps.revisionLogs?.append(svc.name, rev.name, stream, line);
        onLine(line);
      };
      onLines(child.stdout, kept('stdout'));
      onLines(child.stderr, kept('stderr'));
      let exited: string | null = null;
      child.on('exit', (code, signal) => {
        exited = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        if (rev.child !== child) return;
        rev.child = null;
        if (rev.state === 'ready') fail(`the process ${exited} after it started${this.lastOutput(rev)}`);
      });
      const deadline = spawnedAt + rev.start_timeout_seconds * 1000;
      let nextPortCheck = spawnedAt + PORT_CHECK_EVERY_MS;
      let elsewhereSince: number | null = null;
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
        // Not on PORT yet: listening on another port instead, for longer than a server takes to open two, is final.
        if (child.pid !== undefined && Date.now() >= nextPortCheck) {
          nextPortCheck = Date.now() + PORT_CHECK_EVERY_MS;
          const elsewhere = listeningPorts(child.pid).filter((p) => p !== port);
          if (elsewhere.length === 0) elsewhereSince = null;
          else if (elsewhereSince === null) elsewhereSince = Date.now();
          else if (Date.now() - elsewhereSince >= this.portGraceMs && !(await canConnect(port))) {
            await stopGroup(child, 500);
            rev.child = null;
            const which = elsewhere.length === 1 ? `port ${elsewhere[0]}` : `ports ${elsewhere.join(', ')}`;
            return fail(
              `It listens on ${which}, not PORT=${port}: the process has been listening there for ${seconds(Date.now() - elsewhereSince)} s and never on the port it was given. The server must listen on process.env.PORT (not a fixed port)${this.lastOutput(rev)}`,
            );
          }
        }
        if (Date.now() > deadline) {
          await stopGroup(child, 500);
          rev.child = null;
          const ours =
            prepared.unpacked_ms > 0
              ? `; unpacking its artifact before that took Baton ${seconds(prepared.unpacked_ms)} s, not counted`
              : '';
          return fail(
            `Failed to start and then listen on the port defined by the PORT environment variable (PORT=${port}) within ${rev.start_timeout_seconds} s of its start${ours}. The server must listen on process.env.PORT (not a fixed port); if it only needs longer to start, raise start_timeout_seconds${this.lastOutput(rev)}`,
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

  /**
   * Who runs the revision, and what they may reach: as root, the unprivileged user gets its home
   * (and its app folder, given to it once made), and the folders above them, up to the data
   * folder, become 0711 (traverse, not list), while the rest of Baton's state stays 0700/0600.
   * When that user could not reach them (a folder above the data folder that others may not
   * traverse, such as /root) or Baton is not root, the revision runs as Baton's user and a warning
   * says what that leaves open.
   */
  private async runAs(rev: Revision, home: string): Promise<ProcessUser | null> {
    const user = this.user;
    const top = this.deps.stateFile ? dirname(this.deps.stateFile) : this.deps.workDir;
    const blocked = user ? await closedAbove(top) : null;
    if (!user || blocked) {
      const why = user
        ? `${blocked} does not let uid ${user.uid} reach ${top}: put BATON_DATA_DIR under folders others may traverse (e.g. /var/lib/baton) to isolate revisions`
        : 'Baton does not run as root: run it as root to run revisions as an unprivileged user';
      const line = `baton: revision ${rev.name} runs as uid ${process.getuid?.() ?? '?'}, the control plane's own user, so it can read Baton's state (job documents, runtime.json, logs); ${why}`;
      if (!this.warned.has(why)) {
        this.warned.add(why);
        console.warn(line);
      }
      this.deps.onOutput(rev.deployment_id, rev.name, line);
      await mkdir(home, { recursive: true, mode: PRIVATE_DIR });
      return null;
    }
    let at = top;
    for (const part of ['', ...relative(top, dirname(home)).split(sep).filter(Boolean)]) {
      at = part ? join(at, part) : at;
      await mkdir(at, { recursive: true, mode: PRIVATE_DIR });
      await chmod(at, 0o711);
    }
    await mkdir(home, { recursive: true, mode: PRIVATE_DIR });
    await chmod(home, PRIVATE_DIR);
    if ((await stat(home)).uid !== user.uid) await chownTree(home, user.uid, user.gid);
    return user;
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
          fingerprint: r.fingerprint,
          process: r.child ? r.process : null,
        })),
      })),
      parked: Object.fromEntries(this.parked),
    };
    writeFileAtomic(this.deps.stateFile, JSON.stringify(state));
  }
}

/** The first folder above `dir` that others may not traverse, or null. */
async function closedAbove(dir: string): Promise<string | null> {
  for (let up = dirname(dir); ; up = dirname(up)) {
    const info = await stat(up);
    if (!(info.mode & 0o001)) return `${up} (mode ${(info.mode & 0o777).toString(8)})`;
    if (up === dirname(up)) return null;
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

const seconds = (ms: number) => Math.round(ms / 100) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Lets the last lines a dying process wrote reach its tail before the message quotes it. */
const settleOutput = () => sleep(30);
