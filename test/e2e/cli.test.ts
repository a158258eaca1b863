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

  it('exits 1 with the reason when the deployment fails, 4 on bad usage and bad input', async () => {
    const bad = await baton('deploy', fixture('crash'), '--agent', 'cli-crash', '--wait');
    expect(bad.code).toBe(1);
    expect(bad.out + bad.err).toContain('exited with code 3');
    expect((await baton('deploy')).code).toBe(4);
    const refused = await baton('deploy', fixture('healthy'), '--agent', 'NO WAY');
    expect(refused.code).toBe(4);
    expect(refused.err).toContain('agent_id');
    // With --json the refusal is JSON too, naming the field.
    const asJson = await baton('deploy', fixture('healthy'), '--agent', 'NO WAY', '--json');
    expect(asJson.code).toBe(4);
    expect(JSON.parse(asJson.err)).toMatchObject({ exit_code: 4, error: { code: 'invalid', status: 400, field: 'agent_id' } });
  });

  it('exits 2 when the deployment was rolled back; open prints the dashboard URL; completion scripts name every command', async () => {
    expect((await baton('deploy', fixture('healthy'), '--agent', 'cli-rb', '--wait')).code).toBe(0);
    const rolled = await baton('deploy', fixture('unhealthy'), '--agent', 'cli-rb', '--wait', '--json');
    expect(JSON.parse(rolled.out).status).toBe('rolled_back');
    expect(rolled.code).toBe(2);

    const open = await baton('open', 'abc', '--json');
    expect(JSON.parse(open.out)).toEqual({ url: `${t.url}/#/deployments/abc` });
    const bash = await baton('completion', 'bash');
    expect(bash.code).toBe(0);
    for (const word of ['deploy', 'designs', 'open', 'completion', '--wait', '--json']) expect(bash.out).toContain(word);
    expect((await baton('completion', 'zsh')).out).toContain('bashcompinit');
    expect((await baton('completion', 'fish')).code).toBe(4);
  });
});
