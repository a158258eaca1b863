import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerfileScript } from '../../shared/adapters/gcp/builder.js';
import { DEFAULT_NODE_IMAGE, generateNodeDockerfile } from '../../shared/domain/dockerfile.js';

const INSTRUCTIONS = new Set(['FROM', 'WORKDIR', 'COPY', 'RUN', 'ENV', 'EXPOSE', 'CMD']);

describe('generateNodeDockerfile', () => {
  const text = generateNodeDockerfile();
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));

  it('builds a Node 22 service: install, build if there is a build script, npm start', () => {
    expect(lines[0]).toBe(`FROM ${DEFAULT_NODE_IMAGE}`);
    expect(DEFAULT_NODE_IMAGE).toBe('node:22-slim');
    expect(text).toContain('if [ -f package-lock.json ]; then npm ci');
    expect(text).toContain('else npm install');
    expect(text).toContain('npm run build --if-present');
    expect(lines.at(-1)).toBe('CMD ["npm","start"]');
  });

  it('installs devDependencies for the build, then prunes them; NODE_ENV=production only after', () => {
    const install = lines.findIndex((l) => l.includes('npm ci'));
    const build = lines.findIndex((l) => l.includes('npm run build'));
    const env = lines.findIndex((l) => l.startsWith('ENV NODE_ENV=production'));
    expect(install).toBeGreaterThan(lines.indexOf('COPY . .'));
    expect(build).toBeGreaterThan(install);
    expect(lines[build]).toContain('npm prune --omit=dev');
    expect(env).toBeGreaterThan(build);
  });

  it('tells the server to listen on $PORT, defaulting to 8080 as Cloud Run does', () => {
    expect(text).toContain('ENV PORT=8080');
    expect(text).toContain('EXPOSE 8080');
    expect(text).toMatch(/listen on the port in the PORT environment variable/);
    expect(generateNodeDockerfile({ defaultPort: 3000 })).toContain('ENV PORT=3000');
  });

  it('uses only plain Dockerfile instructions, one per line, in exec form for CMD', () => {
    for (const l of lines) expect(INSTRUCTIONS.has(l.split(' ')[0])).toBe(true);
    expect(JSON.parse(lines.at(-1)?.slice('CMD '.length) ?? '')).toEqual(['npm', 'start']);
  });

  it('is pure: the same options give the same text', () => {
    expect(generateNodeDockerfile()).toBe(text);
    expect(generateNodeDockerfile({ baseImage: 'node:22-bookworm-slim' })).toContain('FROM node:22-bookworm-slim');
  });

  it('refuses a base image or port that would break the file', () => {
    expect(() => generateNodeDockerfile({ baseImage: 'node:22\nRUN rm -rf /' })).toThrow(/not an image reference/);
    expect(() => generateNodeDockerfile({ defaultPort: 0 })).toThrow(/not a port/);
  });
});

describe("the build's Dockerfile step", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const run = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-dockerfile-'));
    dirs.push(dir);
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    const out = execFileSync('bash', ['-c', dockerfileScript()], { cwd: dir, encoding: 'utf8' });
    return { out, dockerfile: readFileSync(join(dir, 'Dockerfile'), 'utf8') };
  };

  it('writes the generated Dockerfile when the source has none, and shows it in the build log', () => {
    const { out, dockerfile } = run({ 'package.json': '{}' });
    expect(dockerfile).toBe(generateNodeDockerfile());
    expect(out).toContain('No Dockerfile in the source');
    expect(out).toContain('CMD ["npm","start"]');
  });

  it("keeps the source's own Dockerfile", () => {
    const own = 'FROM gcr.io/distroless/nodejs22\nCMD ["server.js"]\n';
    const { out, dockerfile } = run({ Dockerfile: own });
    expect(dockerfile).toBe(own);
    expect(out).toContain('Building with the Dockerfile in the source');
  });

  it("has no '$' Cloud Build would take for a substitution", () => {
    expect(dockerfileScript()).not.toContain('$');
  });
});
