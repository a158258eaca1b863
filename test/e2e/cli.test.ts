import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../shared/cli/main.js';
import { fixture, getText, TestStack } from '../support/stack.js';

/** The CLI against a real local stack: deploy --wait, status, logs, service, rollback --wait. */
describe('the baton CLI', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await TestStack.start();
  });
  afterAll(async () => {
    await t.close();
  });

  async function baton(...argv: string[]) {
    let out = '';
    let err = '';
    const code = await run(argv, {
      stdout: { write: (s: string) => (out += s), isTTY: false },
      stderr: { write: (s: string) => (err += s) },
      env: { BATON_URL: t.url },
      cwd: fixture('.'),
    });
    return { code, out, err };
  }

  it('deploys a folder and waits, printing progress and the URL; status, logs and rollback follow', async () => {
    const v1 = await baton('deploy', fixture('healthy'), '--agent', 'cli-app', '--wait');
    expect(v1.code, v1.err).toBe(0);
    expect(v1.out).toContain('100% completed');
    const url = /Service URL: (\S+)/.exec(v1.out)?.[1] ?? '';
    expect((await getText(url)).status).toBe(200);

    const v2 = await baton('deploy', 'healthy', '--agent', 'cli-app', '--wait');
    expect(v2.code, v2.err).toBe(0);
    const id = /Deployment (\S+) completed/.exec(v2.out)?.[1] ?? '';

    const status = await baton('status', '--agent', 'cli-app');
    expect(status.out.match(/completed/g)).toHaveLength(2);
    const logs = await baton('logs', id);
    expect(logs.out).toContain('[promoting] Traffic:');

    const rb = await baton('rollback', id, '--reason', 'cli test', '--wait');
    expect(rb.code, rb.err + rb.out).toBe(0);
    const svc = await baton('service', 'cli-app', '--json');
    const first = /Revision:\s+(\S+)/.exec(v1.out)?.[1];
    expect(JSON.parse(svc.out).serving_revision).toBe(first);
  });

  it('exits 1 with the reason when the deployment fails, and 2 on bad usage', async () => {
    const bad = await baton('deploy', fixture('crash'), '--agent', 'cli-crash', '--wait');
    expect(bad.code).toBe(1);
    expect(bad.out + bad.err).toContain('exited with code 3');
    expect((await baton('deploy')).code).toBe(2);
    const refused = await baton('deploy', fixture('healthy'), '--agent', 'NO WAY');
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('agent_id');
  });
});
