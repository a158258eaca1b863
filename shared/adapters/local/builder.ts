import type { ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cp, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { localStartArgv } from '../../domain/analysis/local-start.js';
import type { Analysis } from '../../domain/analysis/schema.js';
import { localStepName } from '../../domain/build-log.js';
import type { BuildNotification, BuildStatus } from '../../domain/events.js';
import type { Artifact } from '../../domain/job.js';
import { TOPICS } from '../../domain/topics.js';
import type { DeploymentLogs } from '../../pipeline/logs.js';
import type { Builder, BuildSpec, EventBus } from '../../ports/index.js';
import { type Caps, extractTarGz, listSource, packTarGz, sha256File } from './archive.js';
import type { FolderBlobStore } from './blob-store.js';
import type { DepsCache } from './deps-cache.js';
import { jsonFilesIn, PRIVATE_DIR, permanentFsErrors, writeFileAtomic } from './fs-util.js';
import { IMAGE_CONFIG, type ImageConfig } from './image-config.js';
import { devDependenciesAtStart, type InstallPlan, type Manager, type Manifest, onPath, planInstall } from './package-manager.js';
import { childEnv, onLines, spawnGroup, stopGroup } from './process.js';
import { findGo, findPython, missingForLocalBuild, relocateVenvScripts } from './toolchains.js';
import { CTIME_SLACK_MS, type Packed } from './unpacked.js';

interface RunningBuild {
  spec: BuildSpec;
  child: ChildProcess | null;
  cancelled: boolean;
  createTime: string;
}

/**
 * Cloud Build's stand-in: builds a service natively in a work folder of its own, following the
 * plan the generated Dockerfile follows — Node: install with the lock file's package manager, its
 * build script, prune; Python: a virtualenv (.venv, `python3 -m venv --copies`), the analysis'
 * install command (pip from requirements.txt, or uv, poetry, pipenv when on the PATH) and build
 * command inside it; Go: `go mod download` and `go build` with the toolchain on the PATH. It packs
 * the result as a content-addressed artifact in the blob store (a Python or Go one with its
 * start command in IMAGE_CONFIG, as an image carries its CMD), and reports every state change as
 * a notification on the `baton-builds` topic, as Cloud Build does for the builds Baton submits
 * (their options.pubsubTopic). Build output streams into the deployment's log. What the machine
 * lacks for a stack is said in validating (missingTools) and again here.
 */
export class LocalBuilder implements Builder {
  private readonly running = new Map<string, RunningBuild>();
  private readonly finished = new Set<Promise<void>>();
  /** Virtualenv seeds being made, by folder (see venvFrom). */
  private readonly seeding = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(
    private readonly deps: {
      blobs: FolderBlobStore;
      bus: EventBus;
      logs: DeploymentLogs;
      workDir: string;
      caps: Caps;
      /** Package caches kept between builds (npm's --cache, pnpm's store …). */
      cacheDir: string;
      /** node_modules trees kept between builds by what decides them; null installs every time. */
      depsCache?: DepsCache | null;
      timeoutMs: number;
      /** Where builds in progress are recorded, so a restart runs them again as Cloud Build would carry on. */
      stateDir: string | null;
      /** Called after each build ends, whatever its outcome, with its agent (the wiring runs that agent's cleanup then). */
      onFinished?: (agentId: string) => void;
      /** Offered the built folder once packed as `artifact` (LocalRuntime.adoptBuild). */
      keepBuilt?: (artifact: Artifact, dir: string, packed: Packed) => Promise<void>;
      /** The PATH toolchains are looked up on and builds run with (BATON_BUILD_PATH; default Baton's own). */
      path?: string;
      /** Whether revisions run as another user than Baton's (root runs them as nobody): their Python must be one that user can run. */
      revisionsRunAsOther?: boolean;
    },
  ) {}

  /** The PATH of every build step: the Node running Baton first, then the configured or inherited PATH. */
  private get path(): string {
    return buildPath(this.deps.path ?? process.env.PATH ?? '');
  }

  /** What this machine lacks to build the analysed source (null: nothing), in words saying what to install. */
  missingTools(analysis: Analysis): Promise<string | null> {
    return missingForLocalBuild(analysis, this.path, this.deps.revisionsRunAsOther ?? process.getuid?.() === 0);
  }

  async submit(spec: BuildSpec): Promise<{ build_id: string; log_url: string }> {
    const id = randomUUID();
    const build: RunningBuild = { spec, child: null, cancelled: false, createTime: new Date().toISOString() };
    await permanentFsErrors(async () => this.record(id, build));
    await this.notify(id, build, 'QUEUED');
    this.launch(id, build);
    return { build_id: id, log_url: `deployment_logs/${spec.agent_id}/${spec.deployment_id}.log` };
  }

  /** Runs again the builds a previous run of the stack left unfinished, under the same ids. */
  resume(): number {
    const dir = this.deps.stateDir;
    if (!dir) return 0;
    const resumed = new Set<string>();
    for (const f of jsonFilesIn(dir)) {
      try {
        const saved = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { id: string; spec: BuildSpec; createTime: string };
        this.launch(saved.id, { spec: saved.spec, child: null, cancelled: false, createTime: saved.createTime });
        resumed.add(saved.id);
      } catch {
        // An unreadable record cannot be resumed; the deployment's lease will lapse instead.
      }
    }
    // Work folders a stopped stack left that no build resumes (a crash between the end of a build and its removal).
    const left = existsSync(this.deps.workDir) ? readdirSync(this.deps.workDir) : [];
    for (const name of left) if (!resumed.has(name)) rmSync(join(this.deps.workDir, name), { recursive: true, force: true });
    return resumed.size;
  }

  private launch(id: string, build: RunningBuild): void {
    this.running.set(id, build);
    const work = this.run(id, build).finally(() => {
      this.running.delete(id);
      this.finished.delete(work);
    });
    this.finished.add(work);
  }

  private record(id: string, build: RunningBuild): void {
    if (this.deps.stateDir)
      writeFileAtomic(join(this.deps.stateDir, `${id}.json`), JSON.stringify({ id, spec: build.spec, createTime: build.createTime }));
  }

  private forget(id: string): void {
    if (this.deps.stateDir) rmSync(join(this.deps.stateDir, `${id}.json`), { force: true });
  }

  async cancel(buildId: string): Promise<void> {
    const build = this.running.get(buildId);
    if (!build) return;
    build.cancelled = true;
    if (build.child) await stopGroup(build.child, 500);
  }

  /** Stops running builds without reporting them (the stack is stopping); resume() runs them again. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.running.values()].map((b) => (b.child ? stopGroup(b.child, 500) : undefined)));
    await Promise.allSettled([...this.finished]);
  }

  private async run(id: string, build: RunningBuild): Promise<void> {
    const { spec } = build;
    const dir = join(this.deps.workDir, id);
    const app = join(dir, 'app');
    const log = (line: string) => this.deps.logs.write(spec.agent_id, spec.deployment_id, 'INFO', `build: ${line}`, 'building');
    try {
      await this.notify(id, build, 'WORKING');
      await rm(dir, { recursive: true, force: true });
      await extractTarGz(this.deps.blobs.pathOf(spec.source_key), app, this.deps.caps);
      // An artifact's start command is the build's to write, never the source's.
      await rm(join(app, IMAGE_CONFIG), { force: true });
      const a = spec.analysis;
      if (a && a.language !== 'node') {
        const missing = await this.missingTools(a);
        if (missing) throw new Error(missing);
      }
      if (a?.language === 'python') await this.buildPython(build, app, a, log);
      else if (a?.language === 'go') await this.buildGo(build, app, a, log);
      else await this.buildNode(build, app, log);
      // Everything the build left, node_modules included, links kept (a link out of the folder fails the build).
      // Listed once the build's last writes are older than the ctime slack, so the runtime can tell
      // from ctimes alone that nothing changed since (its files were packed as they are).
      await new Promise((r) => setTimeout(r, 2 * CTIME_SLACK_MS));
      const since_ms = Date.now();
      const { entries } = await listSource(app, UNCAPPED, { skip: ARTIFACT_SKIPPED });
      const tmp = join(dir, 'artifact.tar.gz');
      await packTarGz(app, entries, tmp);
      const digest = await sha256File(tmp);
      const key = `artifacts/sha256/${digest}.tar.gz`;
      await this.deps.blobs.adopt(key, tmp);
      log(`artifact ${key}`);
      // The runtime may take the folder just packed as the artifact's unpacked copy (it checks it matches).
      await this.deps.keepBuilt?.({ ref: key, digest: `sha256:${digest}` }, app, { entries, since_ms }).catch(() => undefined);
      await this.notify(id, build, 'SUCCESS', { results: { images: [{ name: key, digest: `sha256:${digest}` }] } });
      this.forget(id);
    } catch (err) {
      if (this.stopping) return;
      const status: BuildStatus = build.cancelled ? 'CANCELLED' : err instanceof BuildTimeout ? 'TIMEOUT' : 'FAILURE';
      const detail = err instanceof Error ? err.message : String(err);
      if (!build.cancelled) log(`FAILED: ${detail}`);
      await this.notify(id, build, status, { failureInfo: { type: 'USER_BUILD_STEP', detail } });
      this.forget(id);
    } finally {
      await rm(dir, { recursive: true, force: true });
      if (!this.stopping) this.deps.onFinished?.(spec.agent_id);
    }
  }

  /** Node, as the local target always built it: the lock file's package manager, the build script, the prune. */
  private async buildNode(build: RunningBuild, app: string, log: (l: string) => void): Promise<void> {
    const pkg = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as Manifest;
    const path = this.path;
    const plan = await planInstall(app, this.deps.cacheDir, (tool) => onPath(tool, path));
    for (const note of plan.notes) log(note);
    await this.install(build, app, plan, log);
    if (pkg.scripts?.build) await this.step(build, app, buildCommand(plan.manager), log, plan.env);
    if (!pkg.scripts?.start) log('No "start" script: the revision will run "node ." (package.json "main", else index.js)');
    const devAtStart = await devDependenciesAtStart(app, pkg);
    if (devAtStart.length > 0) {
      log(
        `Dev dependencies kept: the start script runs ${devAtStart.join(', ')}, listed in devDependencies (move ${devAtStart.length > 1 ? 'them' : 'it'} to "dependencies", or start with node and the built files, to ship without them)`,
      );
    } else if (plan.prune && Object.keys(pkg.devDependencies ?? {}).length > 0 && (await exists(join(app, 'node_modules')))) {
      // With no devDependencies there is nothing to prune (a prune still walks the whole tree).
      await this.step(build, app, plan.prune, log, plan.env);
    }
  }

  /**
   * Python, as the generated Dockerfile does it, with the virtualenv in the app's folder (.venv)
   * instead of /opt/venv: `python3 -m venv --copies` (a copy of the interpreter, not a link out of
   * the folder), the analysis' install and build commands with the venv first on PATH, then the
   * console scripts pip wrote made to find the venv's python wherever the folder is unpacked.
   */
  private async buildPython(build: RunningBuild, app: string, a: Analysis, log: (l: string) => void): Promise<void> {
    const py = await findPython(a.runtime_version, this.path, this.deps.revisionsRunAsOther ?? process.getuid?.() === 0);
    if (!py.ok) throw new Error(py.problem);
    log(`Python ${py.value.version} (${py.value.path})`);
    if (py.value.note) log(py.value.note);
    const venv = join(app, '.venv');
    if (await exists(venv)) {
      log('The source has a .venv folder: replaced by the one this build makes (leave it out of the source)');
      await rm(venv, { recursive: true, force: true });
    }
    const cache = (tool: string) => join(this.deps.cacheDir, tool);
    const env = {
      PATH: `${join(venv, 'bin')}${delimiter}${this.path}`,
      VIRTUAL_ENV: venv,
      UV_PROJECT_ENVIRONMENT: venv,
      UV_CACHE_DIR: cache('uv'),
      UV_PYTHON: join(venv, 'bin', 'python'),
      POETRY_VIRTUALENVS_CREATE: 'false',
      POETRY_CACHE_DIR: cache('poetry'),
      PIPENV_VERBOSITY: '-1',
      PIPENV_CACHE_DIR: cache('pipenv'),
      PIP_DISABLE_PIP_VERSION_CHECK: '1',
      PIP_NO_INPUT: '1',
      PYTHONUNBUFFERED: '1',
    };
    await this.venvFrom(build, py.value, venv, log, { ...env, PATH: this.path });
    if (a.install_command) await this.step(build, app, a.install_command, log, env);
    else log('Nothing to install (no requirements.txt, pyproject.toml or Pipfile): the standard library only');
    if (a.build_command) await this.step(build, app, a.build_command, log, env);
    const relocated = await relocateVenvScripts(venv);
    log(`virtualenv .venv ready (${relocated} console scripts made relocatable)`);
    await this.writeImageConfig(app, a, { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' }, ['.venv/bin'], '.venv', log);
  }

  /**
   * The build's virtualenv: a copy of a seed made once per interpreter with `python3 -m venv
   * --copies` (ensurepip installing pip costs seconds of CPU per build otherwise) and kept in the
   * cache folder, its scripts already relocatable. Two builds making the same seed at once each
   * make their own and the second rename loses harmlessly.
   */
  private async venvFrom(
    build: RunningBuild,
    py: { path: string; version: string },
    venv: string,
    log: (l: string) => void,
    env: Record<string, string>,
  ): Promise<void> {
    const seeds = join(this.deps.cacheDir, 'python-venvs');
    const seed = join(seeds, `${py.version}-${createHash('sha256').update(py.path).digest('hex').slice(0, 12)}`);
    // Builds running side by side wait for one seed rather than each making its own.
    const pending = this.seeding.get(seed);
    if (pending) await pending.catch(() => undefined);
    if (!(await exists(join(seed, 'pyvenv.cfg')))) {
      const made = this.makeSeed(build, py.path, seed, log, env);
      this.seeding.set(seed, made);
      try {
        await made;
      } finally {
        this.seeding.delete(seed);
      }
    } else log(`virtualenv: a copy of the one made with ${py.path} -m venv --copies (kept in the cache)`);
    await cp(seed, venv, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  }

  private async makeSeed(
    build: RunningBuild,
    python: string,
    seed: string,
    log: (l: string) => void,
    env: Record<string, string>,
  ): Promise<void> {
    await mkdir(dirname(seed), { recursive: true });
    const making = `${seed}.making-${randomUUID()}`;
    try {
      await this.step(build, dirname(seed), `${shq(python)} -m venv --copies ${shq(making)}`, log, env);
      await relocateVenvScripts(making);
      await rename(making, seed).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      });
    } finally {
      await rm(making, { recursive: true, force: true });
    }
  }

  /** Go, as the generated Dockerfile does it: `go mod download`, then the analysis' `go build` (a static binary, ./server). */
  private async buildGo(build: RunningBuild, app: string, a: Analysis, log: (l: string) => void): Promise<void> {
    const go = await findGo(a.runtime_version, this.path);
    if (!go.ok) throw new Error(go.problem);
    log(`Go ${go.value.version} (${go.value.path})`);
    const env = {
      PATH: this.path,
      // No toolchain download mid-build: a go directive newer than the installed Go fails, saying so.
      GOTOOLCHAIN: 'local',
      GOPATH: join(this.deps.cacheDir, 'go'),
      GOMODCACHE: join(this.deps.cacheDir, 'go', 'pkg', 'mod'),
      GOCACHE: join(this.deps.cacheDir, 'go-build'),
      GOFLAGS: '-modcacherw',
    };
    if (a.install_command) await this.step(build, app, a.install_command, log, env);
    if (a.build_command) await this.step(build, app, a.build_command, log, env);
    await this.writeImageConfig(app, a, {}, [], null, log);
  }

  /** The artifact's start: what an image's CMD and ENV are to Cloud Run (read by LocalRuntime). */
  private async writeImageConfig(
    app: string,
    a: Analysis,
    env: Record<string, string>,
    path: string[],
    virtualEnv: string | null,
    log: (l: string) => void,
  ): Promise<void> {
    const config: ImageConfig = {
      language: a.language === 'go' ? 'go' : 'python',
      argv: localStartArgv(a),
      env: { ...env, ...a.env },
      path,
      virtual_env: virtualEnv,
    };
    await writeFile(join(app, IMAGE_CONFIG), `${JSON.stringify(config, null, 2)}\n`);
    log(`start: ${config.argv.join(' ')}`);
  }

  /** The plan's install, or a copy of the tree the same install made before (see DepsCache). */
  private async install(build: RunningBuild, app: string, plan: InstallPlan, log: (l: string) => void): Promise<void> {
    const cache = this.deps.depsCache;
    if (!cache) return this.step(build, app, plan.install, log, plan.env);
    const lookup = await cache.lookup(app, plan, this.path);
    if ('skip' in lookup) {
      log(`Dependency cache not used: ${lookup.skip}`);
      return this.step(build, app, plan.install, log, plan.env);
    }
    if (await cache.restore(lookup.use, app)) {
      log(
        `node_modules restored from the dependency cache (${lookup.use.describe}): "${plan.install}" skipped, as it would install the same tree (BATON_DEPS_CACHE=off always installs)`,
      );
      return;
    }
    await this.step(build, app, plan.install, log, plan.env);
    await cache.save(lookup.use, app).catch((err: unknown) => {
      log(`node_modules not kept in the dependency cache: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  private step(build: RunningBuild, cwd: string, command: string, log: (l: string) => void, env: Record<string, string>): Promise<void> {
    log(`$ ${command}`);
    // Each line of its output names the step it comes from: build: [npm ci] added 12 packages.
    const name = localStepName(command);
    const tail: string[] = [];
    return new Promise((resolve, reject) => {
      if (build.cancelled || this.stopping) return reject(new Error('cancelled'));
      // NODE_ENV is the build's to set: inherited as production it would make the install skip the dev dependencies the build needs.
      const child = spawnGroup(command, {
        cwd,
        env: { ...childEnv({ npm_config_update_notifier: 'false', CI: 'true', ...env }), NODE_ENV: undefined, PATH: env.PATH ?? this.path },
      });
      build.child = child;
      const keep = (l: string) => {
        log(`[${name}] ${l}`);
        tail.push(l);
        if (tail.length > 15) tail.shift();
      };
      onLines(child.stdout, keep);
      onLines(child.stderr, keep);
      const timer = setTimeout(() => {
        void stopGroup(child, 500);
        reject(new BuildTimeout(`"${command}" took longer than ${Math.round(this.deps.timeoutMs / 1000)} s`));
      }, this.deps.timeoutMs);
      child.on('error', (e) => reject(e));
      child.on('close', (code) => {
        clearTimeout(timer);
        build.child = null;
        if (code === 0) resolve();
        else reject(new Error(`"${command}" exited with code ${code}. Last output:\n${tail.join('\n')}`));
      });
    });
  }

  private async notify(id: string, build: RunningBuild, status: BuildStatus, extra: Partial<BuildNotification> = {}): Promise<void> {
    const terminal = !['QUEUED', 'WORKING', 'PENDING', 'STATUS_UNKNOWN'].includes(status);
    const resource: BuildNotification = {
      id,
      status,
      tags: build.spec.tags,
      substitutions: build.spec.substitutions,
      logUrl: `deployment_logs/${build.spec.agent_id}/${build.spec.deployment_id}.log`,
      createTime: build.createTime,
      ...(terminal ? { finishTime: new Date().toISOString() } : {}),
      ...extra,
    };
    await this.deps.bus.publish(TOPICS.builds, Buffer.from(JSON.stringify(resource)), { buildId: id, status });
  }
}

class BuildTimeout extends Error {}

const UNCAPPED: Caps = { maxBytes: Number.MAX_SAFE_INTEGER, maxFiles: Number.MAX_SAFE_INTEGER };
const ARTIFACT_SKIPPED: ReadonlySet<string> = new Set(['.git', '.baton']);

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

function buildCommand(manager: Manager): string {
  return manager === 'npm' ? 'npm run build' : `${manager} run build`;
}

/**
 * The PATH of a build: the Node that runs Baton first (the one revisions are tested with), then the
 * machine's PATH without any node_modules/.bin folder. Run by `npm start`, Baton's PATH begins
 * with its own checkout's node_modules/.bin and those of every folder above it, so a build calling
 * `tsc` without depending on TypeScript would get Baton's.
 */
export function buildPath(path = process.env.PATH ?? '', node = process.execPath): string {
  const kept = path.split(delimiter).filter((dir) => dir && !/(^|[/\\])node_modules[/\\]\.bin[/\\]?$/.test(dir));
  return [...new Set([dirname(node), ...kept])].join(delimiter);
}

/** What Node tooling takes for a project or workspace root when it finds it in a folder above a build. */
export const WORKSPACE_MARKERS = [
  'package.json',
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'pnpm-workspace.yaml',
  'bun.lock',
  'bun.lockb',
  'node_modules',
  '.pnp.cjs',
];

/** The first workspace marker in a folder above `dir` (or in it), or null. */
export function workspaceMarkerAbove(dir: string): string | null {
  for (let up = resolve(dir); ; up = dirname(up)) {
    for (const m of WORKSPACE_MARKERS) if (existsSync(join(up, m))) return join(up, m);
    if (up === dirname(up)) return null;
  }
}

/**
 * Where builds run: never below a project. Next.js takes the outermost lock file it finds above
 * the app for its workspace root (the default data folder, .baton inside Baton's checkout, has
 * Baton's package-lock.json above it), npm looks up for a workspace root, and Node resolves a
 * missing module from any node_modules above. So builds run in the data folder only when nothing
 * of the kind is above it, else in a private folder under the OS temp dir; `explicit`
 * (BATON_BUILD_DIR) is used as given, and refused if it has a marker above it. Checked at start-up.
 */
export function isolatedBuildRoot(dataDir: string, explicit: string | null): string {
  const candidates = explicit
    ? [resolve(explicit)]
    : [
        join(dataDir, 'work', 'builds'),
        join(
          tmpdir(),
          `baton-builds-${process.getuid?.() ?? 'user'}-${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 10)}`,
        ),
      ];
  let marker: string | null = null;
  for (const dir of candidates) {
    marker = workspaceMarkerAbove(dirname(dir));
    if (marker) continue;
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
    const info = lstatSync(dir);
    // Under a shared temp dir someone else could have made it first: only a folder of our own will do.
    if (!info.isDirectory() || (process.getuid && info.uid !== process.getuid())) {
      throw new Error(`${dir} is not a folder owned by the user running Baton: remove it, or set BATON_BUILD_DIR to a folder of your own`);
    }
    chmodSync(dir, PRIVATE_DIR);
    return dir;
  }
  throw new Error(
    `Builds cannot run in ${candidates.join(' or ')}: ${marker} is above it, and Node tooling (npm, Next.js) would take that folder for the app's workspace root. Set BATON_BUILD_DIR to a folder with no package.json, lock file or node_modules above it`,
  );
}
