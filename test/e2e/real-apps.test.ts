import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../shared/cli/main.js';
import { REAL_APP_NAMES, writeRealApp } from '../support/real-apps.js';
import { getText, TestStack } from '../support/stack.js';

/**
 * Apps shaped like the public ones a new user tries first, each deployed end to end with no
 * options — `baton deploy <folder> --wait`, the agent named after the folder — as
 * `gcloud run deploy --source .` takes them, and checked to serve. One stack serves every case;
 * the cases deploy side by side.
 */
describe('real-world-shaped apps deploy with no options', () => {
  let t: TestStack;
  let root: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'baton-real-apps-'));
    t = await TestStack.start();
  });
  afterAll(async () => {
    await t?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it.concurrent.each(REAL_APP_NAMES)('%s', async (name) => {
    const app = await writeRealApp(root, name);
    let out = '';
    const code = await run(['deploy', app.dir, '--wait'], {
      stdout: { write: (text: string) => (out += text), isTTY: false },
      stderr: { write: (text: string) => (out += text) },
      env: { BATON_URL: t.url },
      cwd: root,
    });
    const id = /Deployment (\S+) queued/.exec(out)?.[1];
    expect(code, `${out}\n${id ? await t.logs(id) : ''}`).toBe(0);
    expect(out).toContain(`deploying as agent "${name}", from the folder name`);
    const url = /Service URL: (\S+)/.exec(out)?.[1];
    expect(url).toBeDefined();
    const answer = await getText(new URL(app.path, url).toString());
    expect(answer.status).toBe(app.status);
    expect(answer.body).toMatch(app.body);
    if (app.logs) await expectLogs(name, app.logs);
  });

  /** The revision's log lines reach its log file a moment after it wrote them. */
  async function expectLogs(agent: string, want: { severity: string; message: string }[]): Promise<void> {
    let got: { severity: string; message: string }[] = [];
    for (const until = Date.now() + 5000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      const res = await t.request('GET', `/services/${agent}/logs`);
      got = ((res.json.entries ?? []) as typeof got).map(({ severity, message }) => ({ severity, message }));
      if (want.every((w) => got.some((g) => g.severity === w.severity && g.message === w.message))) return;
    }
    expect(got).toEqual(expect.arrayContaining(want));
  }
});
