import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { revisionName, serviceName } from '../../shared/domain/names.js';
import { getText, TestStack } from '../support/stack.js';

/**
 * Apps made here, shaped like real ones: a start script that calls a dependency's bin (a local
 * package, so node_modules/.bin holds a link), a build that links packages under .next/node_modules
 * as Next.js does, a top-level @types/ folder, a .gitignore, dev dependencies; and a data folder
 * inside a project, as the default .baton sits inside Baton's own checkout.
 */
const BATON_ROOT = resolve(import.meta.dirname, '../..');
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function app(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'baton-e2e-app-'));
  roots.push(root);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), content, { mode: 0o755 });
  }
  return root;
}

const json = (v: unknown) => JSON.stringify(v, null, 2);
/** A bin that serves what the revision's folder holds, as JSON. */
const SERVER = `#!/usr/bin/env node
const fs = require('node:fs');
const report = () => ({
  next: fs.existsSync('.next/node_modules/greeter-1a2b3c/package.json') && JSON.parse(fs.readFileSync('.next/node_modules/greeter-1a2b3c/package.json', 'utf8')).name,
  devtool: fs.existsSync('node_modules/devtool'),
  types: fs.existsSync('@types/global.d.ts'),
  big: fs.existsSync('big'),
  secret: fs.existsSync('secret.local'),
});
require('node:http').createServer((q, s) => s.end(JSON.stringify({ status: 'ok', ...report() }))).listen(Number(process.env.PORT));
`;

async function deployFolder(t: TestStack, agent: string, path: string): Promise<string> {
  const res = await t.request('POST', '/deploy', { agent_id: agent, source: { type: 'directory', path } });
  if (res.status !== 202) throw new Error(`deploy answered ${res.status}: ${JSON.stringify(res.json)}`);
  return String(res.json.deployment_id);
}

describe('real-shaped sources on the local target', () => {
  it("a start script calling a dependency's bin, Next-style linked packages, @types/, a .gitignore, dev dependencies pruned", async () => {
    const src = app({
      'package.json': json({
        name: 'bin-app',
        version: '1.0.0',
        private: true,
        scripts: { start: 'greet-server', build: 'node build.js' },
        dependencies: { greeter: 'file:./tools/greeter' },
        devDependencies: { devtool: 'file:./tools/devtool' },
      }),
      'tools/greeter/package.json': json({ name: 'greeter', version: '1.0.0', bin: { 'greet-server': 'server.js' } }),
      'tools/greeter/server.js': SERVER,
      'tools/devtool/package.json': json({ name: 'devtool', version: '1.0.0' }),
      'build.js':
        "const fs = require('node:fs');\nfs.mkdirSync('.next/node_modules', { recursive: true });\nfs.symlinkSync('../../node_modules/greeter', '.next/node_modules/greeter-1a2b3c');\n",
      '@types/global.d.ts': 'declare const x: number;\n',
      '.gitignore': 'big/\n*.local\n',
      'big/blob.bin': 'x'.repeat(100_000),
      'secret.local': 'TOKEN=1',
    });
    const t = await TestStack.start();
    try {
      const id = await deployFolder(t, 'bin-app', src);
      const job = await t.waitFinal(id, 60_000);
      expect(job.status, `${job.error_message}\n${await t.logs(id)}`).toBe('completed');
      const served = JSON.parse((await getText(String(job.service_url))).body) as Record<string, unknown>;
      expect(served).toEqual({ status: 'ok', next: 'greeter', devtool: false, types: true, big: false, secret: false });
      const logs = await t.logs(id);
      expect(logs).toContain('left out by its .gitignore');
      expect(logs).toContain('npm prune --omit=dev');
    } finally {
      await t.close();
    }
  }, 90_000);

  describe('a data folder inside a project, cleanup keeping one revision', () => {
    const project = mkdtempSync(join(tmpdir(), 'baton-e2e-project-'));
    roots.push(project);
    writeFileSync(join(project, 'package.json'), json({ name: 'control-plane', private: true }));
    writeFileSync(join(project, 'package-lock.json'), json({ name: 'control-plane', lockfileVersion: 3 }));
    // The build fails if it can see a lock file above its own folder (Next.js would take it for the workspace root).
    const src = app({
      'package.json': json({
        name: 'dev-start',
        version: '1.0.0',
        private: true,
        scripts: { start: 'devserve', build: 'node check-root.js' },
        devDependencies: { devserve: 'file:./tools/devserve' },
      }),
      'tools/devserve/package.json': json({ name: 'devserve', version: '1.0.0', bin: { devserve: 'serve.js' } }),
      'tools/devserve/serve.js':
        '#!/usr/bin/env node\nrequire(\'node:http\').createServer((q, s) => s.end(\'{"status":"ok"}\')).listen(Number(process.env.PORT));\n',
      'check-root.js': `const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');
for (let up = dirname(process.cwd()); ; up = dirname(up)) {
  for (const f of ['package.json', 'package-lock.json']) if (existsSync(join(up, f))) { console.error('found ' + join(up, f)); process.exit(3); }
  if (up === dirname(up)) break;
}
// Nor Baton's own tools: its node_modules/.bin is on the PATH Baton was started with.
const baton = ${JSON.stringify(BATON_ROOT)};
const leaked = (process.env.PATH || '').split(':').filter((d) => d.startsWith(baton) && d.endsWith('.bin'));
if (leaked.length > 0) { console.error('Baton tools on PATH: ' + leaked.join(':')); process.exit(4); }
console.log('no project above ' + process.cwd());
`,
    });

    it('builds outside the project, keeps the dev dependency the start script runs, and removes what is no longer kept', async () => {
      const t = await TestStack.start({ BATON_KEEP_REVISIONS: '1' }, join(project, '.baton'));
      try {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const id = await deployFolder(t, 'dev-start', src);
          const job = await t.waitFinal(id, 60_000);
          expect(job.status, `${job.error_message}\n${await t.logs(id)}`).toBe('completed');
          ids.push(id);
        }
        const logs = await t.logs(ids[0]);
        expect(logs).toMatch(/no project above \/(?!.*baton-e2e-project)/);
        expect(logs).toContain('Dev dependencies kept: the start script runs devserve');
        const cleanup = t.stack.cleanup;
        if (!cleanup) throw new Error('cleanup is on by default');
        await cleanup.idle();
        const service = serviceName('dev-start');
        const [first, second, third] = ids.map((id) => revisionName('dev-start', id));
        // Runtime logs of both (this app writes none itself): the removed revision's go with it.
        for (const r of [first, second]) t.stack.runtimeLogs.append(service, r, 'stdout', `a line of ${r}`);
        t.stack.runtimeLogs.flush();
        const runtimeLog = (r: string) => join(project, '.baton', 'logs', 'revisions', service, `${r}.log`);
        const removed = await cleanup.collect();
        expect(existsSync(runtimeLog(first))).toBe(false);
        expect(existsSync(runtimeLog(second))).toBe(true);
        // The third serves, the second is where a rollback returns: the first goes, with everything of it.
        expect(removed.revisions).toEqual([{ service, revision: first }]);
        expect(await t.stack.runtime.getRevision(service, first)).toBeNull();
        expect(await t.stack.runtime.getRevision(service, second)).not.toBeNull();
        const job1 = await t.job(ids[0]);
        const artifact = (await t.stack.jobs.get(ids[0]))?.artifact?.ref;
        expect(artifact && (await t.stack.blobs.exists(artifact))).toBe(false);
        expect(await t.stack.blobs.exists(`deployment_logs/dev-start/${ids[0]}.log`)).toBe(false);
        expect(await t.stack.blobs.exists(`sources/dev-start/${ids[0]}.tar.gz`)).toBe(false);
        expect(existsSync(join(project, '.baton', 'work', 'revisions', service, first))).toBe(false);
        expect(await t.stack.blobs.exists(`deployment_logs/dev-start/${ids[2]}.log`)).toBe(true);
        expect((await getText(String(job1.service_url))).body).toBe('{"status":"ok"}');
        expect(third).toBe(revisionName('dev-start', ids[2]));
        // A rollback of the serving deployment still has its revision to return to.
        const rb = await t.request('POST', '/rollback', { deployment_id: ids[2] });
        expect(rb.status).toBe(202);
        expect((await t.waitFinal(String(rb.json.rollback_id))).status).toBe('rolled_back');
      } finally {
        await t.close();
      }
    }, 120_000);
  });
});
