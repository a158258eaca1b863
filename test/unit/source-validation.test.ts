import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { LocalSourcePreparer } from '../../shared/adapters/local/source-preparer.js';
import { validateDeployment } from '../../shared/pipeline/validate.js';
import { harness } from '../support/fakes.js';
import { tarGz } from '../support/hostile-archives.js';

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'baton-srcval-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('validating looks at the source', () => {
  it('records the analysis on the job and a passed source_analysis check', async () => {
    const h = harness();
    await h.job('d1');
    expect(await validateDeployment(h.deps, 'd1')).toBe('ran');
    const job = await h.jobs.get('d1');
    expect(job?.analysis).toMatchObject({
      language: 'node',
      package_manager: 'npm',
      start_argv: ['node', 'server.js'],
      dockerfile: 'generated',
    });
    expect(job?.validation_results.find((r) => r.test_name === 'source_analysis')).toMatchObject({ passed: true, severity: 'critical' });
  });

  it('an unsupported repository fails in validating, saying what was found and what to add', async () => {
    const h = harness();
    h.sources.files = { 'Cargo.toml': '', 'src/main.rs': '' };
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    const job = await h.jobs.get('d1');
    expect(job).toMatchObject({ status: 'failed', failed_stage: 'validating', analysis: null });
    expect(job?.error_message).toMatch(
      /source_analysis \(critical\) source: Found Cargo\.toml, src, but no package\.json.*Add a package\.json/,
    );
    expect(h.bus.published.filter((p) => p.json.type === 'deployment.validated')).toEqual([]);
  });

  it('analysis notes are warnings that block at no level', async () => {
    const h = harness();
    h.sources.files = {
      'package.json': '{"scripts":{"start":"node a.js"},"dependencies":{"express":"^5.0.0"}}',
      'a.js': 'app.listen(3000)',
    };
    await h.job('d1', { environment: 'production' });
    expect(await validateDeployment(h.deps, 'd1')).toBe('ran');
    const notes = (await h.jobs.get('d1'))?.validation_results.filter((r) => r.test_name === 'source_analysis_note') ?? [];
    expect(notes.map((n) => n.message)).toEqual(
      expect.arrayContaining([expect.stringContaining('fixed port 3000'), expect.stringContaining('no lock file')]),
    );
    expect(notes.every((n) => n.severity === 'low' && !n.passed)).toBe(true);
  });

  it('the request build_options win over what analysis finds', async () => {
    const h = harness();
    await h.job('d1', { build_options: { start_command: 'node other.js', runtime_version: '20' } });
    await validateDeployment(h.deps, 'd1');
    expect((await h.jobs.get('d1'))?.analysis).toMatchObject({
      start_argv: ['node', 'other.js'],
      runtime_version: '20',
      sources: { start_command: 'request' },
    });
  });
});

describe('LocalSourcePreparer.inspect', () => {
  it('reads a folder as the build copies it (ignore files honoured, node_modules skipped)', async () => {
    const root = temp();
    writeFileSync(join(root, 'package.json'), '{"scripts":{"start":"node s.js"}}');
    writeFileSync(join(root, '.dockerignore'), 'secret.txt\n');
    writeFileSync(join(root, 'secret.txt'), 'x');
    mkdirSync(join(root, 'node_modules/x'), { recursive: true });
    writeFileSync(join(root, 'node_modules/x/index.js'), '');
    const preparer = new LocalSourcePreparer(new FolderBlobStore(join(temp(), 'blobs')), { maxBytes: 1e6, maxFiles: 100 }, temp());
    const r = await preparer.inspect({ deployment_id: 'd', source: { type: 'directory', path: root }, config: {} });
    expect(r?.paths).toEqual(['.dockerignore', 'package.json']);
    expect(r?.read('package.json')).toContain('node s.js');
  });

  it('reads an uploaded archive without unpacking it to disk', async () => {
    const blobs = new FolderBlobStore(join(temp(), 'blobs'));
    await blobs.put(
      'uploads/a.tar.gz',
      tarGz([
        { path: 'main.py', content: 'print(1)' },
        { path: 'big.bin', content: Buffer.alloc(300 * 1024) },
      ]),
    );
    const preparer = new LocalSourcePreparer(blobs, { maxBytes: 1e7, maxFiles: 100 }, temp());
    const r = await preparer.inspect({
      deployment_id: 'd',
      source: { type: 'archive', blob_key: 'uploads/a.tar.gz', format: 'tar.gz' },
      config: {},
    });
    expect(r?.paths).toEqual(['big.bin', 'main.py']);
    expect(r?.read('main.py')).toBe('print(1)');
    expect(r?.read('big.bin')).toBeNull();
  });
});

describe('the preflight lint in validating', () => {
  const node = {
    'package.json': '{"scripts":{"start":"node server.js"}}',
    'package-lock.json': '{}',
    'server.js': 'listen(process.env.PORT)',
  };

  it('a lint error in the source Dockerfile fails the deployment in validating, before any build', async () => {
    const h = harness();
    h.sources.files = {
      ...node,
      Dockerfile: 'FROM node:22-slim\nWORKDIR /app\nCOPY . .\nUSER node\nCMD ["sh", "-c", "npm install && node server.js"]\n',
    };
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    const job = await h.jobs.get('d1');
    expect(job).toMatchObject({ status: 'failed', failed_stage: 'validating', analysis: { dockerfile: 'provided' } });
    expect(job?.error_message).toContain('dockerfile_lint:BTN004 (critical) Dockerfile: Dockerfile:5 BTN004 error');
    expect(h.builder.submitted).toEqual([]);
  });

  it('warnings are reported in validation_results and do not block; # baton ignore and the config file silence rules', async () => {
    const h = harness();
    h.sources.files = {
      ...node,
      Dockerfile: 'FROM node:22\nWORKDIR /app\n# baton ignore=DL3025\nCMD node server.js\n',
      'baton.lint.json': '{"ignored": ["BTN006"]}',
    };
    await h.job('d1');
    expect(await validateDeployment(h.deps, 'd1')).toBe('ran');
    const lint = (await h.jobs.get('d1'))?.validation_results.filter((r) => r.test_type === 'dockerfile_lint') ?? [];
    expect(lint.map((r) => [r.test_name, r.passed])).toEqual([['dockerfile_lint', true]]);
  });

  it('the generated Dockerfile is linted too, with no error', async () => {
    const h = harness();
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    const lint = (await h.jobs.get('d1'))?.validation_results.filter((r) => r.test_type === 'dockerfile_lint') ?? [];
    expect(lint[0]).toMatchObject({ test_name: 'dockerfile_lint', passed: true, field: 'Dockerfile' });
    expect(lint.some((r) => r.severity === 'critical' && !r.passed)).toBe(false);
  });
});
