import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerfileScript } from '../../shared/adapters/gcp/builder.js';
import { analyseSource } from '../../shared/domain/analysis/analyse.js';
import { generateDockerfile } from '../../shared/domain/dockerfile-gen/generate.js';
import { lintDockerfile } from '../../shared/domain/lint/lint.js';
import { parseDockerfile } from '../../shared/domain/lint/model.js';
import { startBuild } from '../../shared/pipeline/build.js';
import { prepareSource } from '../../shared/pipeline/prepare-source.js';
import { validateDeployment } from '../../shared/pipeline/validate.js';
import { FAILURE_MODES, MONOREPO, STACKS, subfolder } from '../support/corpus.js';
import { harness } from '../support/fakes.js';
import { reader } from '../support/source-reader.js';

const generated = (files: Record<string, string>) => {
  const r = analyseSource(reader(files));
  if (!r.ok) throw new Error(`${r.found}: ${r.add}`);
  const g = generateDockerfile(r.analysis);
  if (!g) throw new Error('nothing generated');
  return { analysis: r.analysis, ...g };
};

describe('generated Dockerfiles over the corpus', () => {
  for (const [name, files] of [...Object.entries(STACKS), ['monorepo apps/api', subfolder(MONOREPO, 'apps/api')] as const]) {
    it(`${name}: multi-stage, pinned slim base, non-root, JSON CMD, and no lint error`, () => {
      const { analysis, dockerfile, dockerignore } = generated(files);
      const model = parseDockerfile(dockerfile);
      expect(model.stages.length).toBeGreaterThanOrEqual(2);
      const final = model.stages[model.stages.length - 1];
      expect(final.resolved).toMatch(/:(\d[\w.-]*-slim|1\.1-slim|nonroot)$|debian12:nonroot$/);
      const user = final.instrs.filter((i) => i.keyword === 'USER').pop();
      expect(user?.text).not.toMatch(/^root/);
      const cmd = final.instrs.find((i) => i.keyword === 'CMD');
      expect(cmd?.json).toEqual(analysis.language === 'go' ? ['/server'] : analysis.start_argv);
      const findings = lintDockerfile({
        text: dockerfile,
        files: [...Object.keys(files), '.dockerignore'],
        read: (p) => (p === '.dockerignore' ? dockerignore : (files[p] ?? null)),
      });
      expect(findings.filter((f) => f.level === 'error')).toEqual([]);
      expect(dockerignore).toContain('.env');
    });
  }

  it('installs from the lock file before copying the code, builds, then prunes dev dependencies (Node)', () => {
    const { dockerfile } = generated(STACKS['node-nest']);
    const order = [
      'COPY package.json package-lock.json* .npmrc* ./',
      'RUN npm ci',
      'COPY . .',
      'RUN npm run build',
      'RUN npm prune --omit=dev',
    ].map((l) => dockerfile.indexOf(l));
    expect(order.every((p, k) => p >= 0 && (k === 0 || p > order[k - 1]))).toBe(true);
    expect(dockerfile).toContain('FROM node:22-slim AS deps');
    expect(generated(STACKS['node-koa-yarn']).dockerfile).toContain('FROM node:20-slim');
  });

  it('Next standalone: static files copied in, HOSTNAME=0.0.0.0; Python: a virtualenv; Go: a static binary on distroless', () => {
    expect(generated(STACKS['node-next']).dockerfile).toContain('ENV HOSTNAME="0.0.0.0"');
    const py = generated(STACKS['python-fastapi']).dockerfile;
    expect(py).toContain('RUN python -m venv /opt/venv');
    expect(py).toContain('CMD ["sh","-c","exec uvicorn app.main:app --host 0.0.0.0 --port $PORT"]');
    expect(generated(STACKS['python-flask-uv']).dockerfile).toContain(
      'RUN pip install uv && uv sync --frozen --no-dev --no-install-project',
    );
    const go = generated(STACKS['go-cmd']).dockerfile;
    expect(go).toContain('FROM golang:1.23-bookworm AS build');
    expect(go).toContain('-o /out/server ./cmd/svc');
  });
});

describe('seed 001 failure modes in the corpus are caught by the lint', () => {
  for (const mode of FAILURE_MODES) {
    it(`${mode.name}: ${mode.code}`, () => {
      const r = analyseSource(reader(mode.files));
      expect(r).toMatchObject({ ok: true, analysis: { dockerfile: 'provided' } });
      const findings = lintDockerfile({ text: mode.files.Dockerfile, files: Object.keys(mode.files), read: (p) => mode.files[p] ?? null });
      expect(findings.map((f) => f.code)).toContain(mode.code);
    });
  }
});

describe('the generated Dockerfile reaches the build', () => {
  it('the build stage hands it to the builder, and the Cloud Build step writes it (and .dockerignore) when the source has none', async () => {
    const { analysis, dockerfile, dockerignore } = generated(STACKS['python-fastapi']);
    const h = harness();
    h.sources.files = STACKS['python-fastapi'];
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    await prepareSource(h.deps, 'd1');
    expect((await h.jobs.get('d1'))?.analysis).toEqual(analysis);
    await startBuild(h.deps, 'd1');
    expect(h.builder.submitted[0]?.generated).toEqual({ dockerfile, dockerignore });
    const dir = mkdtempSync(join(tmpdir(), 'baton-gen-'));
    try {
      execFileSync('bash', ['-c', dockerfileScript({ dockerfile, dockerignore })], { cwd: dir });
      expect(readFileSync(join(dir, 'Dockerfile'), 'utf8')).toBe(dockerfile);
      expect(readFileSync(join(dir, '.dockerignore'), 'utf8')).toBe(dockerignore);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
