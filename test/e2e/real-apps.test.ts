import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executables } from '../../shared/adapters/local/toolchains.js';
import { run } from '../../shared/cli/main.js';
import { buildTools, REAL_APP_NAMES, writeRealApp } from '../support/real-apps.js';
import { getText, TestStack } from '../support/stack.js';

/**
 * Apps shaped like the public ones a new user tries first (issue 7's corpus, and issue 11's per
 * stack: Express, Fastify with pnpm, Koa with yarn, Nest, Next, plain Node, Python on the
 * standard library, Flask under gunicorn), each deployed end to end with no options — `baton
 * deploy <folder> --wait`, the agent named after the folder — as `gcloud run deploy --source .`
 * takes them, checked to reach `completed` and serve, with the job's `analysis` saying what was
 * detected. One stack serves every case; the cases deploy side by side. pnpm and yarn are Baton's
 * own devDependencies, given to the builds by BATON_BUILD_PATH. Go: built and served when a `go`
 * is on the PATH; without one (this machine), the deployment fails in validating naming what to
 * install. What the stand-ins leave unproven is in test/support/real-apps.ts and python-apps.ts.
 */
describe('real-world-shaped apps deploy with no options', () => {
  let t: TestStack;
  let root: string;
  let tools: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'baton-real-apps-'));
    tools = buildTools(root);
    t = await TestStack.start({ BATON_BUILD_PATH: `${tools}:${process.env.PATH ?? ''}` });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it.concurrent.each(REAL_APP_NAMES)('%s', { timeout: 180_000 }, async (name) => {
    const app = await writeRealApp(root, name, tools);
    const { code, out, id } = await deploy(app.dir);
    expect(code, `${out}\n${id ? await t.logs(id) : ''}`).toBe(0);
    expect(out).toContain(`deploying as agent "${name}", from the folder name`);
    const job = (await t.request('GET', `/deployments/${id}`)).json;
    expect(job.status).toBe('completed');
    expect(job.analysis).toMatchObject({ ...app.analysis, dockerfile: 'generated' });
    const url = /Service URL: (\S+)/.exec(out)?.[1];
    expect(url).toBeDefined();
    const answer = await getText(new URL(app.path, url).toString());
    expect(answer.status).toBe(app.status);
    expect(answer.body).toMatch(app.body);
    if (app.logs) await expectLogs(name, app.logs);
  });

  const hasGo = executables('go', process.env.PATH ?? '').length > 0;
  const GO_APP = {
    'go.mod': 'module example.com/hello\n\ngo 1.21\n',
    'main.go':
      'package main\n\nimport (\n\t"fmt"\n\t"net/http"\n\t"os"\n)\n\nfunc main() {\n\thttp.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello go") })\n\thttp.ListenAndServe(":"+os.Getenv("PORT"), nil)\n}\n',
  };

  it(
    hasGo ? 'go: built with go build and served' : 'go: no Go toolchain here, so the deployment fails in validating naming what to install',
    async () => {
      const dir = join(root, 'apps', 'go-hello');
      mkdirSync(dir, { recursive: true });
      for (const [f, text] of Object.entries(GO_APP)) writeFileSync(join(dir, f), text);
      const { code, out, id } = await deploy(dir);
      const job = (await t.request('GET', `/deployments/${id}`)).json as {
        status: string;
        failed_stage: string | null;
        error_message: string | null;
        analysis: unknown;
      };
      expect(job.analysis).toMatchObject({
        language: 'go',
        framework: 'plain',
        package_manager: 'go',
        runtime_version: '1.21',
        dockerfile: 'generated',
      });
      if (hasGo) {
        expect(code, out).toBe(0);
        const url = /Service URL: (\S+)/.exec(out)?.[1];
        expect((await getText(url ?? '')).body).toBe('hello go');
      } else {
        expect(code).toBe(1);
        expect(job).toMatchObject({ status: 'failed', failed_stage: 'validating' });
        expect(job.error_message).toMatch(
          /build_toolchain \(critical\) source: This is a Go module \(go 1\.21\) and no Go toolchain is on the PATH .*Install Go 1\.21 or newer/,
        );
      }
    },
  );

  async function deploy(dir: string): Promise<{ code: number; out: string; id: string | undefined }> {
    let out = '';
    const code = await run(['deploy', dir, '--wait'], {
      stdout: { write: (text: string) => (out += text), isTTY: false },
      stderr: { write: (text: string) => (out += text) },
      env: { BATON_URL: t.url },
      cwd: root,
    });
    return { code, out, id: /Deployment (\S+) queued/.exec(out)?.[1] };
  }

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
