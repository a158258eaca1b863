import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { classifyFsError, jsonFilesIn, writeFileAtomic } from '../../shared/adapters/local/fs-util.js';
import { LocalRuntime } from '../../shared/adapters/local/runtime.js';
import { LocalSourcePreparer } from '../../shared/adapters/local/source-preparer.js';
import { PermanentError } from '../../shared/domain/errors.js';
import { splitPrivate, withoutCredentials } from '../../shared/domain/job.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { redact } from '../../shared/pipeline/logs.js';
import { acceptDeployment } from '../../shared/pipeline/requests.js';
import { QUEUED_DEADLINE_MS, QUEUED_ROLLBACK_GIVE_UP_MS, sweepStuckDeployments } from '../../shared/pipeline/watchdog.js';
import { harness } from '../support/fakes.js';

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'baton-abuse-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the watchdog and queued jobs', () => {
  it('fails a deployment still queued past the deadline, with the reason, which frees its agent', async () => {
    const h = harness();
    await h.job('lost');
    h.clock.advance(QUEUED_DEADLINE_MS - 1000);
    expect(await sweepStuckDeployments(h.deps)).toEqual([]);
    h.clock.advance(2000);
    expect(await sweepStuckDeployments(h.deps)).toEqual(['lost']);
    const job = await h.jobs.get('lost');
    expect(job).toMatchObject({ status: 'failed', failed_stage: 'validating' });
    expect(job?.error_message).toContain('Still queued');
    const res = await acceptDeployment(h.deps, DeploymentRequestSchema.parse({ agent_id: 'svc' }));
    expect(res.status).toBe('queued');
  });

  it('sends a queued rollback job again instead of failing it', async () => {
    const h = harness();
    await h.job('rb', {}, { kind: 'rollback', rollback_of: 'd1', revision: 'svc-1' });
    h.clock.advance(QUEUED_DEADLINE_MS + 1000);
    expect(await sweepStuckDeployments(h.deps)).toEqual([]);
    expect(h.bus.types()).toEqual(['deployment.rollback_requested.v1']);
    expect((await h.jobs.get('rb'))?.status).toBe('queued');
  });

  it('fails a queued rollback job that is still queued past the give-up time, which frees its agent', async () => {
    const h = harness();
    await h.job('rb', {}, { kind: 'rollback', rollback_of: 'd1', revision: 'svc-1' });
    h.clock.advance(QUEUED_ROLLBACK_GIVE_UP_MS + 1000);
    expect(await sweepStuckDeployments(h.deps)).toEqual(['rb']);
    const job = await h.jobs.get('rb');
    expect([job?.status, job?.failed_stage]).toEqual(['failed', 'rolling_back']);
    expect(job?.error_message).toMatch(/Rollback still queued \d+ minutes.*Roll back again/);
    expect(
      await h.jobs.createUnlessBusy(
        { ...(job as NonNullable<typeof job>), deployment_id: 'next', kind: 'deployment', status: 'queued' },
        1,
      ),
    ).toBe('created');
  });
});

describe('the busy check counts rollbacks', () => {
  const request = DeploymentRequestSchema.parse({ agent_id: 'svc' });
  for (const [what, patch] of [
    ['a queued rollback job', { kind: 'rollback' as const, rollback_of: 'd0', revision: 'svc-1' }],
    ['a running rollback job', { kind: 'rollback' as const, status: 'rolling_back' as const, rollback_of: 'd0', revision: 'svc-1' }],
    ['a deployment rolling back', { status: 'rolling_back' as const, revision: 'svc-2', previous_revision: 'svc-1' }],
  ] as const) {
    it(`refuses a deployment while ${what} runs: 409 naming agent_id, nothing created`, async () => {
      const h = harness();
      await h.job('rb', {}, patch);
      await expect(acceptDeployment(h.deps, request)).rejects.toMatchObject({ code: 'conflict', field: 'agent_id' });
      expect((await h.jobs.list({ limit: 10 })).items.map((j) => j.deployment_id)).toEqual(['rb']);
      expect(h.bus.types()).toEqual([]);
    });
  }
});

describe('credentials in URLs', () => {
  it.each([
    ['https://github.com/o/r.git?access_token=ghp_S3CRET', 'https://github.com/o/r.git?access_token=[REDACTED]'],
    [
      'https://h.example/r.git?ref=main&token=T0K&key=K3Y&sig=S1G&X-Goog-Signature=G00G&password=P&client_secret=C',
      'https://h.example/r.git?ref=main&token=[REDACTED]&key=[REDACTED]&sig=[REDACTED]&X-Goog-Signature=[REDACTED]&password=[REDACTED]&client_secret=[REDACTED]',
    ],
    ['https://deploy:pa/ss@gitlab.example/x.git', 'https://gitlab.example/x.git'],
    ['https://deploy:p?a#s/s@gitlab.example/x.git', 'https://gitlab.example/x.git'],
    ['https://deploy:p@ss@gitlab.example/x.git', 'https://gitlab.example/x.git'],
    ['https://gitlab.example:8443/x.git?ref=v1', 'https://gitlab.example:8443/x.git?ref=v1'],
  ])('withoutCredentials(%s)', (url, out) => {
    expect(withoutCredentials(url)).toBe(out);
  });

  it("the job's source.url keeps the redacted form; the URL as given goes to the private document", () => {
    const url = 'https://deploy:pa/ss@gitlab.example/x.git?access_token=S3CRET';
    const split = splitPrivate(DeploymentRequestSchema.parse({ agent_id: 'svc', source: { type: 'git', url, ref: 'main' } }));
    expect(split.request.source).toMatchObject({ url: 'https://gitlab.example/x.git?access_token=[REDACTED]' });
    expect(split.private?.source_url).toBe(url);
  });

  it('redacts them in a log line or an error, wherever the URL sits', () => {
    const line = redact("fatal: unable to access 'https://deploy:pa/ss@gitlab.example/x.git/?private_token=abc&sig=xyz': 403");
    expect(line).not.toMatch(/pa\/ss|abc|xyz/);
    expect(line).toContain('https://[REDACTED]@gitlab.example/x.git/');
  });

  it("keeps git's own error message free of the credentials", async () => {
    const root = temp();
    const preparer = new LocalSourcePreparer(new FolderBlobStore(join(root, 'blobs')), { maxBytes: 1e6, maxFiles: 100 }, join(root, 'w'));
    const lines: string[] = [];
    const err = await preparer
      .prepare({
        agent_id: 'svc',
        deployment_id: 'd1',
        source: { type: 'git', url: 'http://user:pa/ss@127.0.0.1:9/r.git?access_token=S3CRET', ref: 'main' },
        config: {},
        log: (l) => lines.push(l),
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    const text = `${(err as Error).message} ${lines.join(' ')}`;
    expect(text).toContain('127.0.0.1:9');
    expect(text).not.toMatch(/pa\/ss|S3CRET/);
  });
});

describe('file errors on the local target', () => {
  it('classes deterministic errors as permanent, naming the path and what to do; a full disk says so', () => {
    const err = (code: string) => Object.assign(new Error(code), { code, syscall: 'open', path: '/data/x.json' });
    for (const code of ['EEXIST', 'EACCES', 'EISDIR', 'ENOTDIR', 'ENAMETOOLONG', 'EROFS', 'ENOSPC']) {
      const classified = classifyFsError(err(code));
      expect(classified, code).toBeInstanceOf(PermanentError);
      expect((classified as PermanentError).userMessage()).toContain('/data/x.json');
    }
    expect((classifyFsError(err('ENOSPC')) as PermanentError).userMessage()).toContain('disk is full');
    for (const code of ['EMFILE', 'EBUSY', 'EIO', 'EAGAIN']) expect(classifyFsError(err(code))).not.toBeInstanceOf(PermanentError);
  });

  it('a blob store write onto a folder fails permanently with the path', async () => {
    const root = temp();
    const blobs = new FolderBlobStore(root);
    mkdirSync(join(root, 'sources', 'x.tar.gz'), { recursive: true });
    const err = await blobs.put('sources/x.tar.gz', 'data').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).userMessage()).toContain(join(root, 'sources', 'x.tar.gz'));
  });

  it('writes state files 0600 in 0700 folders', async () => {
    const root = temp();
    writeFileAtomic(join(root, 'a', 'b.json'), '{}');
    await new FolderBlobStore(join(root, 'blobs')).append('deployment_logs/a/d.log', 'line\n');
    expect(statSync(join(root, 'a', 'b.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'a')).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, 'blobs', 'deployment_logs', 'a', 'd.log')).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'blobs', 'deployment_logs')).mode & 0o777).toBe(0o700);
  });

  it('lists no files for a missing folder, and throws for one it cannot list instead of reading "none"', () => {
    const root = temp();
    expect(jsonFilesIn(join(root, 'missing'))).toEqual([]);
    writeFileSync(join(root, 'jobs'), 'not a folder');
    expect(() => jsonFilesIn(join(root, 'jobs'))).toThrow(/cannot list .*jobs \(ENOTDIR/);
  });
});

describe('an unreadable runtime.json', () => {
  const open = (root: string) =>
    new LocalRuntime({
      blobs: new FolderBlobStore(join(root, 'blobs')),
      workDir: join(root, 'work'),
      stateFile: join(root, 'runtime.json'),
      onOutput: () => undefined,
    });

  it('stops the start naming the file and what to do, and is left as it was', async () => {
    const root = temp();
    const file = join(root, 'runtime.json');
    writeFileSync(file, '{"services": [ truncated');
    await expect(open(root).resume()).rejects.toThrow(/runtime\.json is not valid JSON.*move it aside/);
    expect(readFileSync(file, 'utf8')).toBe('{"services": [ truncated');
    writeFileSync(file, '{"services": 3}');
    await expect(open(root).resume()).rejects.toThrow(/does not hold a runtime state \(services:/);
    rmSync(file);
    mkdirSync(file);
    await expect(open(root).resume()).rejects.toThrow(/runtime\.json cannot be read .*EISDIR/);
  });

  it('a missing one is a first start', async () => {
    const runtime = open(temp());
    await runtime.resume();
    expect(await runtime.getService('none')).toBeNull();
    await runtime.stop();
  });
});
