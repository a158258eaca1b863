import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * @baton/client as a package: built with its own tsconfig, then used from a project of its own
 * through the exports map only (node resolves it, tsc type-checks a consumer with skipLibCheck
 * off). Does not prove: publishing to a registry (zod comes from this repository's node_modules).
 */

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const PKG = join(ROOT, 'clients/typescript');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
let dir: string;
let app: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-client-pkg-'));
  app = join(dir, 'app');
  // Installed as npm would: a real folder under the app's node_modules, zod beside it.
  const pkg = join(app, 'node_modules/@baton/client');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(PKG, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(PKG, 'README.md'), join(pkg, 'README.md'));
  await run(process.execPath, [TSC, '-p', join(PKG, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], { cwd: PKG });
  symlinkSync(join(ROOT, 'node_modules/zod'), join(app, 'node_modules/zod'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', type: 'module', private: true }));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('@baton/client as a package', () => {
  it('declares what a registry needs: exports with types, files, its one dependency', () => {
    const pkg = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.name).toBe('@baton/client');
    expect(pkg.private).toBeUndefined();
    expect(Object.keys(pkg.dependencies as object)).toEqual(['zod']);
    expect((pkg.exports as Record<string, { types: string }>)['.'].types).toMatch(/\.d\.ts$/);
    expect(pkg.files).toEqual(['dist', 'README.md']);
  });

  it('loads through its exports map in plain Node, and hides its internals', async () => {
    writeFileSync(
      join(app, 'main.mjs'),
      `import * as baton from '@baton/client';
       const c = new baton.BatonClient({ baseUrl: 'http://127.0.0.1:9' });
       const e = baton.apiErrorFrom(409, JSON.stringify({ error: { code: 'conflict', message: 'busy' } }));
       let hidden = 'resolved';
       try { await import('@baton/client/dist/clients/typescript/src/retry.js'); } catch (err) { hidden = err.code; }
       console.log(JSON.stringify({ base: c.baseUrl, conflict: e instanceof baton.BatonConflictError, hidden,
         exported: ['BatonClient', 'BatonNotFoundError', 'BatonUnavailableError', 'JobViewSchema', 'SseParser'].filter((k) => k in baton) }));`,
    );
    const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: app });
    expect(JSON.parse(stdout)).toEqual({
      base: 'http://127.0.0.1:9',
      conflict: true,
      hidden: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
      exported: ['BatonClient', 'BatonNotFoundError', 'BatonUnavailableError', 'JobViewSchema', 'SseParser'],
    });
  });

  it('type-checks a consumer against its declarations, which refuse a wrong call', async () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        // skipLibCheck: zod's own declarations are zod's business; an unused @ts-expect-error below
        // fails if the package's types were missing (any).
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          lib: ['ES2023', 'DOM'],
          types: [],
          noEmit: true,
          skipLibCheck: true,
        },
        include: ['consumer.ts'],
      }),
    );
    writeFileSync(
      join(app, 'consumer.ts'),
      `import { BatonClient, BatonConflictError, type Job } from '@baton/client';
      const client = new BatonClient({ retry: { retries: 2 } });
      export async function main(signal: AbortSignal): Promise<Job> {
        try {
          const { deployment_id } = await client.deploy({ agent_id: 'hello', source: { type: 'git', url: 'https://x/y.git' } }, { signal });
          return await client.waitForDeployment(deployment_id, (job) => console.log(job.progress), { signal, timeoutMs: 1000 });
        } catch (err) {
          if (err instanceof BatonConflictError) console.log(err.field);
          throw err;
        }
      }
      // @ts-expect-error: no such strategy
      client.deploy({ agent_id: 'x', deployment_options: { strategy: { type: 'sideways' } } });
      // @ts-expect-error: a signal, not a number
      client.getStatus('x', { signal: 5 });
      `,
    );
    await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app });
  }, 180_000);
});
