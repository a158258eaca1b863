import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listSource, packTarGz, sha256File } from '../../shared/adapters/local/archive.js';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { startTimeOf } from '../../shared/adapters/local/process.js';
import { SYSTEM_PATH } from '../../shared/adapters/local/revision-env.js';
import { LocalRuntime } from '../../shared/adapters/local/runtime.js';
import { CTIME_SLACK_MS } from '../../shared/adapters/local/unpacked.js';
import type { Artifact } from '../../shared/domain/job.js';
import { echo, waitSettled, writeEchoService } from './suites/runtime.suite.js';
import { isRunning, TempDirs, waitFor, writeFiles } from './suites/util.js';

/**
 * What a local revision sees and how it is started: its own environment (nothing of the control
 * plane's), a verified folder of its own made once, a start-up clock that starts at its spawn, and no
 * process left from a stack that died.
 */
const temp = new TempDirs();
const runtimes: LocalRuntime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.stop()));
  temp.removeAll();
});

function setup() {
  const root = temp.make('isolation');
  const blobs = new FolderBlobStore(join(root, 'blobs'));
  const output: string[] = [];
  /** `user: null` runs revisions as Baton's own user (a folder is then never given to another). */
  const open = (opts: { user?: null } = {}) => {
    const r = new LocalRuntime({
      ...opts,
      blobs,
      workDir: join(root, 'work'),
      stateFile: join(root, 'runtime.json'),
      onOutput: (_d, _r, l) => output.push(l),
    });
    runtimes.push(r);
    return r;
  };
  /** Packs `dir` whole, node_modules included, as the builder's artifact would hold it (or just `entries`). */
  const artifact = async (dir: string, entries?: string[]): Promise<Artifact> => {
    const out = join(root, 'a.tar.gz');
    const all = async () => (await listSource(dir, { maxBytes: 1e9, maxFiles: 1e6 }, { skip: new Set(['.git', '.baton']) })).entries;
    await packTarGz(dir, entries ?? (await all()), out);
    const digest = await sha256File(out);
    const ref = `artifacts/sha256/${digest}.tar.gz`;
    await blobs.put(ref, await readFile(out));
    await rm(out);
    return { ref, digest: `sha256:${digest}` };
  };
  return {
    root,
    output,
    open,
    artifact,
    parked: (a: Artifact) => join(root, 'unpacked', a.digest.slice('sha256:'.length)),
    folder: (revision: string) => join(root, 'work', 'iso', revision, 'app'),
  };
}

const spec = (artifact: Artifact, revision: string, extra: Record<string, unknown> = {}) => ({
  service: 'iso',
  revision,
  tag: revision,
  artifact,
  env: {},
  deployment_id: 'd1',
  start_timeout_seconds: 20,
  ...extra,
});

const ENV_APP = `const http = require('node:http');
const { execSync } = require('node:child_process');
const fs = require('node:fs');
const run = (c) => { try { return execSync(c, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; } };
const tools = { apptool: run('apptool'), tsc: run('command -v tsc'), biome: run('command -v biome') };
let wroteHome = false;
try { fs.writeFileSync(require('node:path').join(process.env.HOME, 'x'), '1'); wroteHome = true; } catch {}
let wroteCwd = 'yes';
try { fs.writeFileSync('written-by-app', '1'); } catch (e) { wroteCwd = e.code; }
http.createServer((q, s) => s.end(JSON.stringify({ env: process.env, tools, cwd: process.cwd(), node: process.version, wroteHome, wroteCwd, uid: process.getuid() })))
  .listen(Number(process.env.PORT));
`;

function writeEnvApp(dir: string, engines: string): string {
  writeFiles(dir, {
    'package.json': JSON.stringify({ name: 'envdump', version: '1.0.0', engines: { node: engines }, scripts: { start: 'node server.js' } }),
    'server.js': ENV_APP,
    'node_modules/.bin/apptool': `#!/bin/sh\necho "the app's own apptool"\n`,
  });
  chmodSync(join(dir, 'node_modules/.bin/apptool'), 0o755);
  return dir;
}

/** Runs `body` with the control plane's environment looking as it does under `npm start`. */
async function asUnderNpm<T>(body: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  process.env.PATH = `${resolve(import.meta.dirname, '../../node_modules/.bin')}:${process.env.PATH ?? ''}`;
  process.env.npm_package_name = 'baton';
  process.env.npm_lifecycle_event = 'start';
  process.env.GOOGLE_APPLICATION_CREDENTIALS = '/secret/key.json';
  try {
    return await body();
  } finally {
    process.env = saved;
  }
}

describe('LocalRuntime: a revision sees its own environment, not Baton’s', () => {
  it("gets its bin folder, its Node and the system PATH, NODE_ENV, PORT, Cloud Run's K_ variables, its own HOME and the request's env: nothing else", async () => {
    const s = setup();
    const src = temp.make('envapp');
    const a = await s.artifact(writeEnvApp(src, '>=18'));
    const seen = await asUnderNpm(async () => {
      const rt = s.open();
      await rt.deployRevision(spec(a, 'iso-env', { env: { GREETING: 'hi' } }));
      const rev = await waitSettled(rt, 'iso', 'iso-env');
      expect(rev.state, rev.message ?? '').toBe('ready');
      return JSON.parse(await (await fetch(rev.tag_url ?? '')).text()) as {
        env: Record<string, string>;
        tools: Record<string, string | null>;
        cwd: string;
        node: string;
        wroteHome: boolean;
        wroteCwd: string;
        uid: number;
      };
    });
    // What a shell or Node adds by itself is not Baton's.
    const keys = Object.keys(seen.env).filter((k) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(k));
    expect(keys.sort()).toEqual([
      'BATON_LISTEN_HOST',
      'GREETING',
      'HOME',
      'K_CONFIGURATION',
      'K_REVISION',
      'K_SERVICE',
      'NODE_ENV',
      'PATH',
      'PORT',
    ]);
    expect(seen.env).toMatchObject({
      NODE_ENV: 'production',
      GREETING: 'hi',
      K_SERVICE: 'iso',
      K_REVISION: 'iso-env',
      K_CONFIGURATION: 'iso',
    });
    expect(seen.env.PATH).toBe(`${seen.cwd}/node_modules/.bin:${dirname(realpathSync(process.execPath))}:${SYSTEM_PATH}`);
    expect(seen.node).toBe(process.version);
    // Its own tool is found; Baton's TypeScript and Biome are not.
    expect(seen.tools).toEqual({ apptool: "the app's own apptool", tsc: null, biome: null });
    expect(seen.env.HOME).not.toBe(seen.cwd);
    expect(seen.wroteHome).toBe(true);
    // Its folder is its own and writable, as a Cloud Run container's filesystem is (`nest start` compiles into dist/).
    expect(seen.wroteCwd).toBe('yes');
    if (process.getuid?.() === 0) expect(seen.uid).toBe(65534);
  });

  it('says in its log when engines.node cannot be satisfied, and runs on the Node running Baton', async () => {
    const s = setup();
    const src = temp.make('engines');
    const a = await s.artifact(writeEnvApp(src, '>=99'));
    const rt = s.open();
    await rt.deployRevision(spec(a, 'iso-engines'));
    expect((await waitSettled(rt, 'iso', 'iso-engines')).state).toBe('ready');
    expect(s.output.some((l) => l.includes('engines.node ">=99" is not satisfied by any Node found') && l.includes(process.version))).toBe(
      true,
    );
  });
});

describe('LocalRuntime: a folder made once per revision, and the clock starts at the spawn', () => {
  it('a restart runs the revision from its verified folder: nothing is unpacked again', async () => {
    const s = setup();
    const a = await s.artifact(writeEchoService(temp.make('echo')), ['package.json', 'server.js']);
    let rt = s.open();
    await rt.deployRevision(spec(a, 'iso-1'));
    expect((await waitSettled(rt, 'iso', 'iso-1')).state).toBe('ready');
    await rt.setTraffic('iso', [{ revision: 'iso-1', percent: 100 }]);
    const before = statSync(s.folder('iso-1'));
    await rt.stop();
    rt = s.open();
    await rt.resume();
    expect((await waitSettled(rt, 'iso', 'iso-1')).state).toBe('ready');
    const after = statSync(s.folder('iso-1'));
    expect([after.ino, after.ctimeMs]).toEqual([before.ino, before.ctimeMs]);
    expect(s.output.filter((l) => l.includes('unpacking it again'))).toEqual([]);
  });

  it('does not count unpacking a large artifact against start_timeout_seconds', async () => {
    const s = setup();
    const src = writeEchoService(temp.make('large'));
    // 10,000 files: unpacking and verifying them takes longer than the 1 s the app is given to listen
    // (1 s, not less: on a loaded 2-core machine Node alone can take over 0.5 s to start).
    for (let p = 0; p < 100; p++) {
      mkdirSync(join(src, 'node_modules', `pkg-${p}`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(src, 'node_modules', `pkg-${p}`, `f${f}.js`), `module.exports = ${f};\n`);
    }
    const a = await s.artifact(src);
    const rt = s.open();
    const began = Date.now();
    await rt.deployRevision(spec(a, 'iso-large', { start_timeout_seconds: 1 }));
    const rev = await waitSettled(rt, 'iso', 'iso-large');
    expect(rev.state, rev.message ?? '').toBe('ready');
    // The premise: unpacking took longer than the start timeout, which still did not run out.
    expect(Date.now() - began - (rev.startup_ms ?? 0)).toBeGreaterThan(1000);
    expect(rev.startup_ms).toBeLessThan(1000);
  });
});

describe('LocalRuntime: the folder a build leaves', () => {
  it("gives a build's folder that matches its artifact (what the archive lacks removed) to the first revision: nothing is unpacked", async () => {
    const s = setup();
    const built = writeEchoService(temp.make('built'));
    const a = await s.artifact(built, ['package.json', 'server.js']);
    mkdirSync(join(built, '.git', 'objects'), { recursive: true });
    writeFileSync(join(built, '.git', 'HEAD'), 'ref: main\n');
    const ino = statSync(built).ino;
    const rt = s.open();
    await rt.adoptBuild(a, built);
    expect(statSync(s.parked(a)).ino).toBe(ino);
    expect(existsSync(join(s.parked(a), '.git'))).toBe(false);
    await rt.deployRevision(spec(a, 'iso-built'));
    const rev = await waitSettled(rt, 'iso', 'iso-built');
    expect(rev.state).toBe('ready');
    expect(statSync(s.folder('iso-built')).ino).toBe(ino);
    expect(existsSync(s.parked(a))).toBe(false);
    // A second revision of the same artifact gets its own folder, unpacked.
    await rt.deployRevision(spec(a, 'iso-built-2'));
    expect((await waitSettled(rt, 'iso', 'iso-built-2')).state).toBe('ready');
    expect(statSync(s.folder('iso-built-2')).ino).not.toBe(ino);
    expect((await echo(rev.tag_url ?? '')).revision).toBe('iso-built');
  });

  it('the fingerprint recorded for a folder taken from the build (walked once, then moved twice) is the one its next start finds', async () => {
    const s = setup();
    const built = writeEchoService(temp.make('built-fp'));
    const a = await s.artifact(built, ['package.json', 'server.js']);
    const ino = statSync(built).ino;
    // Given to no other user, the folder is not walked again after its move (a chown would change every entry).
    let rt = s.open({ user: null });
    await rt.adoptBuild(a, built);
    await rt.deployRevision(spec(a, 'iso-fp'));
    expect((await waitSettled(rt, 'iso', 'iso-fp')).state).toBe('ready');
    await rt.setTraffic('iso', [{ revision: 'iso-fp', percent: 100 }]);
    await rt.stop();
    rt = s.open({ user: null });
    await rt.resume();
    expect((await waitSettled(rt, 'iso', 'iso-fp')).state).toBe('ready');
    expect(statSync(s.folder('iso-fp')).ino).toBe(ino);
    expect(s.output.filter((l) => l.includes('unpacking it again'))).toEqual([]);
    await rt.stop();
  });

  it('revisions of one parked artifact starting at once: one takes the folder, the others unpack, all serve', async () => {
    const s = setup();
    const built = writeEchoService(temp.make('built'));
    const a = await s.artifact(built, ['package.json', 'server.js']);
    const rt = s.open();
    await rt.adoptBuild(a, built);
    const names = ['iso-race-1', 'iso-race-2', 'iso-race-3', 'iso-race-4'];
    await Promise.all(names.map((n) => rt.deployRevision(spec(a, n))));
    const states = await Promise.all(names.map(async (n) => (await waitSettled(rt, 'iso', n)).message ?? 'ready'));
    expect(states).toEqual(names.map(() => 'ready'));
  });

  it('leaves a folder that differs from its artifact, and the start unpacks the artifact instead', async () => {
    const s = setup();
    const built = writeEchoService(temp.make('built'));
    const a = await s.artifact(built, ['package.json', 'server.js']);
    writeFileSync(
      join(built, 'server.js'),
      `require('node:http').createServer((q, r) => r.end('changed after packing')).listen(Number(process.env.PORT));\n`,
    );
    const rt = s.open();
    await rt.adoptBuild(a, built);
    expect(existsSync(s.parked(a))).toBe(false);
    await rt.deployRevision(spec(a, 'iso-diff'));
    const rev = await waitSettled(rt, 'iso', 'iso-diff');
    expect(rev.state).toBe('ready');
    expect((await echo(rev.tag_url ?? '')).revision).toBe('iso-diff');
  });

  it('told what the build packed and since when, adopts the folder without reading the archive back, unless an entry changed since (same size included)', async () => {
    const s = setup();
    const pause = () => new Promise((r) => setTimeout(r, 3 * CTIME_SLACK_MS));
    const build = async (name: string) => {
      const built = writeEchoService(temp.make(name));
      mkdirSync(join(built, '.git'));
      writeFileSync(join(built, '.git', 'HEAD'), 'ref: main\n');
      await pause();
      const since_ms = Date.now();
      const entries = ['package.json', 'server.js'];
      return { built, a: await s.artifact(built, entries), packed: { entries, since_ms } };
    };
    const rt = s.open();
    const ok = await build('packed-ok');
    const ino = statSync(ok.built).ino;
    await rt.adoptBuild(ok.a, ok.built, ok.packed);
    expect(statSync(s.parked(ok.a)).ino).toBe(ino);
    expect(existsSync(join(s.parked(ok.a), '.git'))).toBe(false);

    const changed = await build('packed-changed');
    // The same number of bytes: only its ctime tells.
    const text = await readFile(join(changed.built, 'server.js'), 'utf8');
    writeFileSync(join(changed.built, 'server.js'), text.replace('revision', 'REVISION'));
    await rt.adoptBuild(changed.a, changed.built, changed.packed);
    expect(existsSync(s.parked(changed.a))).toBe(false);

    const extra = await build('packed-extra');
    // Listed as packed but missing: not what the archive holds.
    await rt.adoptBuild(extra.a, extra.built, { ...extra.packed, entries: [...extra.packed.entries, 'gone.js'] });
    expect(existsSync(s.parked(extra.a))).toBe(false);
  });

  it('refuses an artifact that holds a link out of it', async () => {
    const s = setup();
    const src = writeEchoService(temp.make('link'));
    mkdirSync(join(src, 'node_modules'));
    symlinkSync('/etc/passwd', join(src, 'node_modules', 'passwd'));
    const a = await s.artifact(src, ['package.json', 'server.js', 'node_modules', 'node_modules/passwd']);
    const rt = s.open();
    await rt.deployRevision(spec(a, 'iso-link'));
    const rev = await waitSettled(rt, 'iso', 'iso-link');
    expect(rev.state).toBe('failed');
    expect(rev.message).toContain('holds a link out of it (node_modules/passwd -> /etc/passwd)');
  });
});

describe('LocalRuntime: processes a dead stack left', () => {
  it('stops a recorded revision process group still running, and leaves alone a PID now used by another process', async () => {
    const s = setup();
    const a = await s.artifact(writeEchoService(temp.make('echo')), ['package.json', 'server.js']);
    let rt = s.open();
    await rt.deployRevision(spec(a, 'iso-left'));
    await rt.deployRevision(spec(a, 'iso-other'));
    expect((await waitSettled(rt, 'iso', 'iso-left')).state).toBe('ready');
    expect((await waitSettled(rt, 'iso', 'iso-other')).state).toBe('ready');
    await rt.stop();
    // Stand-ins for what a kill -9 leaves: a group of its own still running, recorded with its start time,
    // and a live process whose PID is recorded with another start time (the PID was reused).
    const leftover = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    const stranger = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    try {
      const file = join(s.root, 'runtime.json');
      const state = JSON.parse(await readFile(file, 'utf8')) as { services: { revisions: { name: string; process: unknown }[] }[] };
      for (const r of state.services[0].revisions) {
        r.process =
          r.name === 'iso-left'
            ? { pid: leftover.pid, start: startTimeOf(leftover.pid ?? 0) }
            : { pid: stranger.pid, start: String(Number(startTimeOf(stranger.pid ?? 0)) - 1) };
      }
      writeFileSync(file, JSON.stringify(state));
      rt = s.open();
      await rt.resume();
      await waitFor('the leftover group to be stopped', () => !isRunning(leftover.pid ?? 0), 5000);
      expect(isRunning(stranger.pid ?? 0)).toBe(true);
      expect(s.output.some((l) => l.includes(`revision iso-left was still running (PID ${leftover.pid})`))).toBe(true);
      const rev = await waitSettled(rt, 'iso', 'iso-left');
      expect(rev.state).toBe('ready');
      expect((await echo(rev.tag_url ?? '')).revision).toBe('iso-left');
    } finally {
      leftover.kill('SIGKILL');
      stranger.kill('SIGKILL');
    }
  });
});
