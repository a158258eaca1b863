import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { listSource, packTarGz, sha256File } from '../../shared/adapters/local/archive.js';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { LocalRuntime } from '../../shared/adapters/local/runtime.js';
import type { Artifact } from '../../shared/domain/job.js';
import { echo, type RuntimeHarness, runtimeContract, waitSettled, writeEchoService } from './suites/runtime.suite.js';
import { acceptsConnections, isRunning, TempDirs, waitFor } from './suites/util.js';

const temp = new TempDirs();
afterEach(() => temp.removeAll());

/** A LocalRuntime over a FolderBlobStore in a temp folder; `restart` reopens it on the same state file. */
function localRuntimeHarness(): RuntimeHarness & { output: string[]; local(): LocalRuntime; workDir: string } {
  const root = temp.make('runtime');
  const blobs = new FolderBlobStore(join(root, 'blobs'));
  const output: string[] = [];
  const open = () =>
    new LocalRuntime({
      blobs,
      workDir: join(root, 'work'),
      stateFile: join(root, 'state.json'),
      onOutput: (_d, rev, line) => output.push(`${rev}: ${line}`),
    });
  let runtime = open();
  let packed = 0;
  return {
    get runtime() {
      return runtime;
    },
    output,
    workDir: join(root, 'work'),
    local: () => runtime,
    async artifact(dir: string): Promise<Artifact> {
      const { files } = await listSource(dir, { maxBytes: 10_000_000, maxFiles: 1000 });
      const out = join(root, `artifact-${packed++}.tar.gz`);
      await packTarGz(dir, files, out);
      const digest = await sha256File(out);
      const key = `artifacts/test/${digest}.tar.gz`;
      await blobs.put(key, await readFile(out));
      await rm(out);
      return { ref: key, digest: `sha256:${digest}` };
    },
    async restart() {
      await runtime.stop();
      runtime = open();
      await runtime.resume();
    },
    async cleanup() {
      await runtime.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

runtimeContract('LocalRuntime', async () => localRuntimeHarness());

describe('LocalRuntime: processes', () => {
  let harness: ReturnType<typeof localRuntimeHarness> | null = null;
  afterEach(async () => {
    await harness?.cleanup();
    harness = null;
  });

  async function twoRevisions(h: ReturnType<typeof localRuntimeHarness>, service: string) {
    const artifact = await h.artifact(writeEchoService(temp.make('echo-src')));
    const base = { artifact, env: {}, deployment_id: 'dep-1', start_timeout_seconds: 20 };
    await h.runtime.deployRevision({ ...base, service, revision: `${service}-r1`, tag: 'one' });
    expect((await waitSettled(h.runtime, service, `${service}-r1`)).state).toBe('ready');
    await h.runtime.setTraffic(service, [{ revision: `${service}-r1`, percent: 100 }]);
    await h.runtime.deployRevision({ ...base, service, revision: `${service}-r2`, tag: 'two' });
    const r2 = await waitSettled(h.runtime, service, `${service}-r2`);
    expect(r2.state).toBe('ready');
    const url = (await h.runtime.getService(service))?.url ?? '';
    return { url, r1: await echo(url), r2: await echo(r2.tag_url ?? ''), tagUrl: r2.tag_url ?? '' };
  }

  it('stop() stops every revision process and closes every URL', async () => {
    harness = localRuntimeHarness();
    const { url, r1, r2, tagUrl } = await twoRevisions(harness, 'svc-stop');
    expect(r1.pid).not.toBe(r2.pid);
    expect(isRunning(r1.pid) && isRunning(r2.pid)).toBe(true);
    await harness.local().stop();
    // stop() resolves when each process group's leader (the /bin/sh running the start script) has
    // exited; the group's last member is killed just after, so wait (briefly) for it.
    await waitFor('both revision processes to be gone', () => !isRunning(r1.pid) && !isRunning(r2.pid), 5000);
    await waitFor(
      'both revision ports to close',
      async () => !(await acceptsConnections(r1.port)) && !(await acceptsConnections(r2.port)),
      5000,
    );
    expect(await acceptsConnections(Number(new URL(url).port))).toBe(false);
    expect(await acceptsConnections(Number(new URL(tagUrl).port))).toBe(false);
  });

  it('a revision left with neither traffic nor a tag is scaled to zero: its process stops', async () => {
    harness = localRuntimeHarness();
    const service = 'svc-idle';
    const { r1 } = await twoRevisions(harness, service);
    await harness.runtime.setTraffic(service, [{ revision: `${service}-r2`, percent: 100 }]);
    await waitFor('the idle revision process to be gone', () => !isRunning(r1.pid), 5000);
    await waitFor('the idle revision port to close', async () => !(await acceptsConnections(r1.port)), 5000);
    expect((await harness.runtime.getRevision(service, `${service}-r1`))?.state).not.toBe('failed');
  });

  it("forwards the revision's output to its deployment log", async () => {
    harness = localRuntimeHarness();
    await twoRevisions(harness, 'svc-out');
    await waitFor('the start-up line', () => harness?.output.some((l) => l.startsWith('svc-out-r1: echo listening on')));
  });
});

/** Local addresses (hex, as in /proc/net/tcp*) of the TCP sockets that processes running in `cwd` listen on. */
function listeningAddresses(cwd: string): string[] {
  const inodes = new Set<string>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readlinkSync(`/proc/${pid}/cwd`) !== cwd) continue;
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      }
    } catch {
      // The process ended or is not ours: it is not the revision.
    }
  }
  const out: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && inodes.has(f[9])) out.push(f[1].split(':')[0]);
    }
  }
  return out;
}

describe.skipIf(!existsSync('/proc/net/tcp'))('LocalRuntime: the agent runtime', () => {
  let harness: ReturnType<typeof localRuntimeHarness> | null = null;
  afterEach(async () => {
    await harness?.cleanup();
    harness = null;
  });

  it('listens on loopback only on the local target, which sets BATON_LISTEN_HOST', async () => {
    harness = localRuntimeHarness();
    const src = temp.make('agent-runtime');
    await cp(fileURLToPath(new URL('../../shared/adapters/local/agent-runtime', import.meta.url)), src, { recursive: true });
    await writeFile(join(src, 'agent-config.json'), JSON.stringify({ name: 'helper' }));
    const artifact = await harness.artifact(src);
    await harness.runtime.deployRevision({
      service: 'agent-rt',
      revision: 'agent-rt-r1',
      tag: 'candidate',
      artifact,
      env: {},
      deployment_id: 'd1',
      start_timeout_seconds: 20,
    });
    const rev = await waitSettled(harness.runtime, 'agent-rt', 'agent-rt-r1');
    expect(rev.state).toBe('ready');
    const addresses = listeningAddresses(join(harness.workDir, 'agent-rt', 'agent-rt-r1', 'app'));
    expect(addresses).toEqual(['0100007F']);
  });
});
