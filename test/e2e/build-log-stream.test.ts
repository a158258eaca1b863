import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestStack } from '../support/stack.js';

/**
 * The local builder's output reaches the job's log tail, and so its event stream, while the build
 * still runs, each line naming its step. (The gcp target's copy of Cloud Build's log:
 * test/e2e/gcp-pipeline.test.ts and test/unit/build-log.test.ts.)
 */
let t: TestStack;
let app: string;

beforeAll(async () => {
  t = await TestStack.start();
  app = mkdtempSync(join(tmpdir(), 'baton-buildlog-app-'));
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'buildlog', version: '1.0.0', private: true, scripts: { build: 'node build.js', start: 'node server.js' } }),
  );
  // The second line waits until the test has seen the first one while the build runs (a file it writes), or 20 s.
  writeFileSync(
    join(app, 'build.js'),
    [
      "console.log('compiling part 1');",
      "const fs = require('node:fs');",
      'const until = Date.now() + 20000;',
      `const go = ${JSON.stringify(join(app, 'go'))};`,
      "const wait = () => (fs.existsSync(go) || Date.now() > until ? console.log('compiling part 2') : setTimeout(wait, 50));",
      'wait();',
    ].join('\n'),
  );
  writeFileSync(join(app, 'server.js'), "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT));\n");
});
afterAll(async () => {
  await t.close();
  rmSync(app, { recursive: true, force: true });
});

it("streams the build's output into the job's log and its event stream while it builds, the step named", async () => {
  const go = join(app, 'go');
  const res = await t.request('POST', '/deploy', { agent_id: 'buildlog', source: { type: 'directory', path: app } });
  expect(res.status).toBe(202);
  const id = String(res.json.deployment_id);
  const stream = await fetch(`${t.url}/deployments/${id}/stream`);
  const reader = stream.body?.getReader();
  if (!reader) throw new Error('no stream body');
  const decoder = new TextDecoder();
  let buffered = '';
  let seenWhileBuilding: string[] | null = null;
  const statuses = new Set<string>();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    const events = buffered.split('\n\n');
    buffered = events.pop() ?? '';
    for (const e of events.filter((x) => x.startsWith('event: job'))) {
      const job = JSON.parse(e.split('\ndata: ')[1]) as { status: string; logs: string[] };
      statuses.add(job.status);
      const lines = job.logs.filter((l) => l.includes('build: [npm run build] compiling'));
      if (!seenWhileBuilding && job.status === 'building' && lines.length > 0) {
        seenWhileBuilding = lines;
        writeFileSync(go, 'go');
      }
    }
  }
  expect(statuses.has('completed')).toBe(true);
  // Seen in a `job` event while the build ran, before the build's next output line existed.
  expect(seenWhileBuilding?.map((l) => l.slice(l.indexOf('[building]')))).toEqual(['[building] build: [npm run build] compiling part 1']);
  const log = await t.logs(id);
  expect(
    log
      .split('\n')
      .filter((l) => l.includes('compiling part'))
      .map((l) => l.slice(l.indexOf('build:'))),
  ).toEqual(['build: [npm run build] compiling part 1', 'build: [npm run build] compiling part 2']);
  expect(log).toContain('build: $ npm run build');
}, 90_000);
