import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listSource, packTarGz, sha256File } from '../../shared/adapters/local/archive.js';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { LocalRuntime } from '../../shared/adapters/local/runtime.js';
import { echo, waitSettled, writeEchoService } from './suites/runtime.suite.js';
import { TempDirs } from './suites/util.js';

const temp = new TempDirs();
let runtime: LocalRuntime | null = null;
afterEach(async () => {
  await runtime?.stop();
  runtime = null;
  temp.removeAll();
});

/** One echo revision serving 100 %, then the stack stopped: the folder and artifact are there to tamper with. */
async function servedThenStopped(underClosedFolder = false) {
  const base = temp.make('integrity');
  const root = underClosedFolder ? join(base, 'closed', 'data') : base;
  await mkdir(root, { recursive: true });
  if (underClosedFolder) await chmod(join(base, 'closed'), 0o700);
  const blobs = new FolderBlobStore(join(root, 'blobs'));
  const output: string[] = [];
  const open = () =>
    new LocalRuntime({
      blobs,
      workDir: join(root, 'work'),
      stateFile: join(root, 'runtime.json'),
      onOutput: (_d, _r, l) => output.push(l),
    });
  const src = writeEchoService(temp.make('echo'));
  const { files } = await listSource(src, { maxBytes: 1e7, maxFiles: 100 });
  const packed = join(root, 'a.tar.gz');
  await packTarGz(src, files, packed);
  const digest = await sha256File(packed);
  const ref = `artifacts/sha256/${digest}.tar.gz`;
  await blobs.put(ref, await readFile(packed));
  await rm(packed);
  runtime = open();
  await runtime.deployRevision({
    service: 'svc',
    revision: 'svc-1',
    tag: 'candidate',
    artifact: { ref, digest: `sha256:${digest}` },
    env: {},
    deployment_id: 'd1',
    start_timeout_seconds: 20,
  });
  expect((await waitSettled(runtime, 'svc', 'svc-1')).state).toBe('ready');
  await runtime.setTraffic('svc', [{ revision: 'svc-1', percent: 100 }]);
  await runtime.stop();
  return { root, blobs, output, open, folder: join(root, 'work', 'svc', 'svc-1', 'app'), artifact: blobs.pathOf(ref) };
}

const TAMPERED = `require('node:http').createServer((q, s) => s.end(JSON.stringify({ revision: 'tampered' }))).listen(Number(process.env.PORT));\n`;

describe('LocalRuntime: a revision folder is verified at every start', () => {
  it('never runs a folder modified after it was unpacked: it is unpacked again from the verified artifact, saying so', async () => {
    const h = await servedThenStopped();
    await writeFile(join(h.folder, 'server.js'), TAMPERED);
    runtime = h.open();
    await runtime.resume();
    expect((await waitSettled(runtime, 'svc', 'svc-1')).state).toBe('ready');
    const url = (await runtime.getService('svc'))?.url ?? '';
    expect((await echo(url)).revision).toBe('svc-1');
    expect(h.output.some((l) => l.includes('was modified since it was unpacked'))).toBe(true);
    expect(await readFile(join(h.folder, 'server.js'), 'utf8')).not.toBe(TAMPERED);
  });

  it('refuses to run a revision whose artifact no longer matches its digest, with a clear message', async () => {
    const h = await servedThenStopped();
    await writeFile(join(h.folder, 'server.js'), TAMPERED);
    await writeFile(h.artifact, Buffer.concat([await readFile(h.artifact), Buffer.from('x')]));
    runtime = h.open();
    await runtime.resume();
    const rev = await waitSettled(runtime, 'svc', 'svc-1');
    expect(rev.state).toBe('failed');
    expect(rev.message).toMatch(/does not match the digest recorded at build time .* it was modified, so the revision is not run/);
  });
});

describe('LocalRuntime: who runs a revision', () => {
  it("says in the revision's log when it runs as Baton's own user and so can read Baton's state", async () => {
    // As root, a data folder under a folder others may not traverse cannot isolate revisions; as anyone else, none can.
    const h = await servedThenStopped(true);
    expect(h.output.some((l) => l.includes('runs as uid') && l.includes("so it can read Baton's state"))).toBe(true);
  });
});
