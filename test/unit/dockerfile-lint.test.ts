import { describe, expect, it } from 'vitest';
import { ALL_RULES, fails, LintConfigSchema, lintDockerfile, parseLintConfig, toJson, toSarif } from '../../shared/domain/lint/lint.js';

const GOOD_TAIL = 'USER node\nCMD ["node", "server.js"]\n';
const base = (body: string, tail = GOOD_TAIL) => `FROM node:22-slim\nWORKDIR /app\n${body}\n${tail}`;
type Case = { bad: string; good: string; files?: Record<string, string> };

/** Per rule: a Dockerfile that breaks it and one that does not (both otherwise typical). */
const CASES: Record<string, Case> = {
  DL3061: {
    bad: 'RUN echo hi\nFROM node:22-slim\nUSER node\nCMD ["node","a.js"]',
    good: 'ARG V=22\nFROM node:${V}-slim\nUSER node\nCMD ["node","a.js"]',
  },
  DL3024: {
    bad: 'FROM node:22-slim AS a\nFROM node:22-slim AS a\nUSER node\nCMD ["node","a.js"]',
    good: 'FROM node:22-slim AS a\nFROM node:22-slim AS b\nUSER node\nCMD ["node","a.js"]',
  },
  DL3022: {
    bad: 'FROM node:22-slim\nWORKDIR /app\nCOPY --from=builder /app /app\nUSER node\nCMD ["node","a.js"]',
    good: 'FROM node:22-slim AS builder\nFROM node:22-slim\nWORKDIR /app\nCOPY --from=builder /app /app\nUSER node\nCMD ["node","a.js"]',
  },
  DL3023: {
    bad: 'FROM node:22-slim AS app\nWORKDIR /app\nCOPY --from=app /x /y\nUSER node\nCMD ["node","a.js"]',
    good: 'FROM node:22-slim AS b\nFROM node:22-slim AS app\nWORKDIR /app\nCOPY --from=b /x /y\nUSER node\nCMD ["node","a.js"]',
  },
  DL3021: { bad: base('COPY a.js b.js /app'), good: base('COPY a.js b.js /app/') },
  DL3000: { bad: 'FROM node:22-slim\nWORKDIR app\nUSER node\nCMD ["node","a.js"]', good: base('') },
  DL3014: {
    bad: base('RUN apt-get update && apt-get install --no-install-recommends curl && rm -rf /var/lib/apt/lists/*'),
    good: base('RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*'),
  },
  DL3004: { bad: base('RUN sudo mkdir /x'), good: base('RUN mkdir /x') },
  DL4006: {
    bad: base('RUN curl -fsS https://x | tar -x'),
    good: base('SHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN curl -fsS https://x | tar -x'),
  },
  DL4003: { bad: base('CMD ["node","x.js"]'), good: base('') },
  DL4004: { bad: base('ENTRYPOINT ["node"]\nENTRYPOINT ["node"]'), good: base('ENTRYPOINT ["node"]') },
  DL3025: { bad: base('', 'USER node\nCMD node server.js'), good: base('') },
  DL3006: {
    bad: 'ARG BASE=node\nFROM $BASE\nUSER node\nCMD ["node","a.js"]',
    good: 'ARG BASE=node:22-slim\nFROM $BASE\nUSER node\nCMD ["node","a.js"]',
  },
  DL3007: { bad: 'FROM node:latest\nUSER node\nCMD ["node","a.js"]', good: 'FROM node:22.11-slim\nUSER node\nCMD ["node","a.js"]' },
  DL3002: { bad: base('', 'USER root\nCMD ["node","a.js"]'), good: base('') },
  DL3064: { bad: base('ENV API_TOKEN=abc123'), good: base('ENV API_TOKEN_FILE=/run/secrets/token\nARG NPM_TOKEN') },
  DL3067: {
    bad: 'FROM node:22-slim AS b\nFROM node:22-slim\nCOPY --from=b / /\nUSER node\nCMD ["node","a.js"]',
    good: 'FROM node:22-slim AS b\nFROM node:22-slim\nCOPY --from=b /app /app\nUSER node\nCMD ["node","a.js"]',
  },
  DL3045: {
    bad: 'FROM node:22-slim\nCOPY . app\nUSER node\nCMD ["node","a.js"]',
    good: 'FROM node:22-slim\nWORKDIR /srv\nCOPY . app\nUSER node\nCMD ["node","a.js"]',
  },
  DL3009: {
    bad: base('RUN apt-get update && apt-get install -y --no-install-recommends curl'),
    good: base('RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*'),
  },
  DL3015: {
    bad: base('RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*'),
    good: base('RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*'),
  },
  DL3042: { bad: base('RUN pip install -r requirements.txt'), good: base('RUN pip install --no-cache-dir -r requirements.txt') },
  DL3060: { bad: base('RUN yarn install --frozen-lockfile'), good: base('RUN yarn install --frozen-lockfile && yarn cache clean') },
  DL3020: { bad: base('ADD src /app/src'), good: base('ADD https://example.com/x.tar.gz /tmp/\nCOPY src /app/src') },
  DL3003: { bad: base('RUN cd /app && npm ci'), good: base('RUN npm ci') },
  DL3026: { bad: 'FROM quay.io/x/y:1\nUSER node\nCMD ["node","a.js"]', good: 'FROM gcr.io/x/y:1\nUSER node\nCMD ["node","a.js"]' },
  BTN001: {
    bad: base('RUN curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs'),
    good: 'FROM python:3.12-slim\nCOPY --from=node:22-slim /usr/local/bin/node /usr/local/bin/\nUSER nobody\nCMD ["node","a.js"]',
  },
  BTN002: {
    bad: 'FROM python:3.12-slim\nRUN pip install --no-cache-dir --user gunicorn\nUSER nobody\nCMD ["gunicorn","app:app"]',
    good: 'FROM python:3.12-slim\nRUN python -m venv /opt/venv\nENV PATH=/opt/venv/bin:$PATH\nRUN pip install --no-cache-dir gunicorn\nUSER nobody\nCMD ["gunicorn","app:app"]',
  },
  BTN003: {
    bad: 'FROM python:3.12-slim AS build\nWORKDIR /app\nRUN pip install --no-cache-dir prisma && prisma generate\nFROM python:3.12-slim\nWORKDIR /app\nCOPY --from=build /app /app\nUSER nobody\nCMD ["python","main.py"]',
    good: 'FROM python:3.12-slim AS build\nWORKDIR /app\nENV PRISMA_BINARY_CACHE_DIR=/app/.prisma\nRUN pip install --no-cache-dir prisma && prisma generate\nFROM python:3.12-slim\nWORKDIR /app\nCOPY --from=build /app /app\nUSER nobody\nCMD ["python","main.py"]',
  },
  BTN004: {
    bad: base('', 'USER node\nCMD ["npm", "start"]'),
    good: base('RUN npx prisma generate', 'USER node\nCMD ["npm", "start"]'),
    files: { 'package.json': '{"scripts":{"start":"prisma generate && node server.js"}}' },
  },
  BTN005: {
    bad: 'FROM python:3.12-slim\nUSER nobody\nCMD ["uvicorn", "main:app", "--port", "$PORT"]',
    good: 'FROM python:3.12-slim\nUSER nobody\nCMD ["sh", "-c", "exec uvicorn main:app --host 0.0.0.0 --port $PORT"]',
  },
  BTN006: { bad: 'FROM node:22-slim\nCMD ["node","a.js"]', good: 'FROM gcr.io/distroless/nodejs22-debian12:nonroot\nCMD ["a.js"]' },
  BTN008: {
    bad: base('RUN echo "//registry.npmjs.org/:_authToken=$NPM_TOKEN" > .npmrc && npm ci'),
    good: base('RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci'),
  },
  BTN009: { bad: base('COPY . .'), good: base('COPY . .'), files: { '.env': 'X=1' } },
};

const codes = (text: string, files: Record<string, string> = {}, config = LintConfigSchema.parse({ trustedRegistries: [] })) =>
  lintDockerfile({ text, files: Object.keys(files), read: (p) => files[p] ?? null, config }).map((f) => f.code);

describe('every lint rule fails one Dockerfile and passes another', () => {
  it('each rule has a case', () => {
    expect(ALL_RULES.map((r) => r.code).filter((c) => !CASES[c])).toEqual([]);
  });
  for (const [code, c] of Object.entries(CASES)) {
    it(code, () => {
      const config = LintConfigSchema.parse({ trustedRegistries: code === 'DL3026' ? ['gcr.io', 'docker.io'] : [] });
      const badFiles = code === 'BTN009' ? c.files : c.files;
      const goodFiles =
        code === 'BTN009'
          ? { ...c.files, '.dockerignore': '.env*\n' }
          : code === 'BTN004'
            ? { 'package.json': '{"scripts":{"start":"node server.js"}}' }
            : c.files;
      expect(codes(c.bad, badFiles, config)).toContain(code);
      expect(codes(c.good, goodFiles, config)).not.toContain(code);
    });
  }
});

describe('seed 001 failure modes, more shapes', () => {
  it('BTN005: localhost binds, flask run, runserver, vite preview, Next standalone without HOSTNAME, a fixed port', () => {
    const cmd = (c: string, extra = '') => `FROM python:3.12-slim\n${extra}USER nobody\nCMD ${c}\n`;
    expect(codes(cmd('["gunicorn", "-b", "127.0.0.1:8000", "app:app"]'))).toContain('BTN005');
    expect(codes(cmd('["flask", "run"]'))).toContain('BTN005');
    expect(codes(cmd('["python", "manage.py", "runserver"]'))).toContain('BTN005');
    expect(codes(cmd('["npx", "vite", "preview"]'))).toContain('BTN005');
    expect(codes(cmd('["node", "server.js"]', 'COPY --from=node:22 /app/.next/standalone ./\n'))).toContain('BTN005');
    expect(codes(cmd('["node", "server.js"]', 'COPY --from=node:22 /app/.next/standalone ./\nENV HOSTNAME=0.0.0.0\n'))).not.toContain(
      'BTN005',
    );
    const fixed = lintDockerfile({ text: cmd('["gunicorn", "--bind", "0.0.0.0:5000", "app:app"]') }).find((f) => f.code === 'BTN005');
    expect(fixed?.level).toBe('warning');
  });

  it('BTN004: followed through sh -c and an entrypoint script copied from the context; migrations are a warning', () => {
    expect(codes('FROM node:22-slim\nUSER node\nCMD ["sh", "-c", "npm install && node a.js"]')).toContain('BTN004');
    const files = { 'docker-entrypoint.sh': '#!/bin/sh\nnpx prisma generate\nexec node server.js\n' };
    expect(codes('FROM node:22-slim\nCOPY docker-entrypoint.sh /\nUSER node\nENTRYPOINT ["/docker-entrypoint.sh"]', files)).toContain(
      'BTN004',
    );
    const m = lintDockerfile({
      text: 'FROM python:3.12-slim\nUSER nobody\nCMD ["sh", "-c", "python manage.py migrate && exec gunicorn p.wsgi"]',
    });
    expect(m.filter((f) => f.code === 'BTN004').map((f) => f.level)).toEqual(['warning']);
  });

  it('BTN002: /root/.local copied into a non-root stage', () => {
    const text =
      'FROM python:3.12 AS b\nRUN python -m venv /v\nFROM python:3.12-slim\nCOPY --from=b /root/.local /root/.local\nUSER app\nCMD ["app"]';
    expect(codes(text)).toContain('BTN002');
  });

  it('BTN001: apt-key, add-apt-repository and sources.list writes', () => {
    for (const run of [
      'apt-key add key.gpg',
      'add-apt-repository ppa:x/y',
      'echo "deb https://x stable main" > /etc/apt/sources.list.d/x.list',
    ])
      expect(codes(base(`RUN ${run}`))).toContain('BTN001');
  });

  it('DL3064: secret-shaped values whatever the name', () => {
    expect(codes(base('ENV DATABASE_URL=postgres://admin:hunter2@db/app'))).toContain('DL3064');
    expect(codes(base('ARG CONFIG=AKIAABCDEFGHIJKLMNOP'))).toContain('DL3064');
  });
});

describe('ignores, config and output', () => {
  const text = 'FROM node:latest\n# baton ignore=DL3025\nCMD node a.js\n';
  it('# baton ignore=RULE (and # hadolint ignore=) skip the next instruction; global ignore the whole file', () => {
    expect(codes(text)).toEqual(['BTN006', 'DL3007']);
    expect(codes(text.replace('baton', 'hadolint'))).not.toContain('DL3025');
    expect(codes(`# baton global ignore=DL3007,BTN006\n${text}`)).toEqual([]);
    expect(codes('FROM node:latest\nCMD node a.js\n')).toContain('DL3025');
  });

  it('a config file ignores, overrides levels and sets the failure threshold', () => {
    const parsed = parseLintConfig('.hadolint.yaml', 'ignored: [BTN006]\noverride:\n  error: [DL3007]\nfailure-threshold: warning\n');
    if (!parsed.ok) throw new Error(parsed.error);
    const config = parsed.config;
    const found = lintDockerfile({ text, config });
    expect(found.map((f) => [f.code, f.level])).toEqual([['DL3007', 'error']]);
    expect(found.every((f) => fails(f, config))).toBe(true);
    expect(parseLintConfig('baton.lint.json', '{"ignored": 3}')).toMatchObject({ error: expect.stringContaining('ignored') });
  });

  it('JSON as hadolint writes it, and SARIF 2.1.0', () => {
    const found = lintDockerfile({ text: 'FROM node\nUSER node\nCMD ["node","a.js"]' });
    expect(JSON.parse(toJson(found))).toEqual([
      {
        file: 'Dockerfile',
        line: 1,
        column: 1,
        level: 'warning',
        code: 'DL3006',
        message: expect.any(String),
        fix: expect.stringContaining('Pin a version'),
      },
    ]);
    const sarif = JSON.parse(toSarif(found));
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0].tool.driver.rules[0].id).toBe('DL3006');
    expect(sarif.runs[0].results[0].locations[0].physicalLocation.region.startLine).toBe(1);
  });
});
