import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatonClient } from '../../clients/typescript/src/index.js';
import { DesignAgents } from '../support/design-agents.js';
import { fixture, TestStack } from '../support/stack.js';

/**
 * The web dashboard in Debian's Chromium (playwright-core, one browser and one stack for the
 * file), built by Vite into a folder of its own and served by the local stack at /. At 360 px:
 * deploy through the form and watch it complete without a reload, a failure explained, a
 * rollback, a design deployed, run and its execution read; axe-core finds no serious or critical
 * violation on any page, and nothing is wider than the screen. Screenshots of every page go to
 * SCREENSHOTS. The Firestore live source is test/e2e/dashboard-firestore.test.ts (emulator, rules loaded).
 */
const ROOT = resolve(import.meta.dirname, '../..');
const SCREENSHOTS = join(ROOT, 'test-artifacts/dashboard');
const CHROMIUM = process.env.BATON_CHROMIUM ?? '/usr/bin/chromium';
// CI installs Debian's chromium (.ci/run) and must run this file; elsewhere a machine without it
// skips the file and says how to get it, so `npm test` still works on a fresh machine.
const BROWSER = existsSync(CHROMIUM) || Boolean(process.env.CI);
if (!BROWSER) console.warn(`dashboard browser tests skipped: no ${CHROMIUM} (apt-get install chromium, or set BATON_CHROMIUM)`);
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let stack: TestStack;
let agents: DesignAgents;
let browser: Browser;
let page: Page;
let built: string;
let client: BatonClient;

beforeAll(async () => {
  if (!BROWSER) return;
  built = mkdtempSync(join(tmpdir(), 'baton-dashboard-'));
  await promisify(execFile)(
    process.execPath,
    [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'dashboard/vite.config.ts'],
    {
      cwd: ROOT,
      env: { ...process.env, BATON_DASHBOARD_OUT: built },
    },
  );
  mkdirSync(SCREENSHOTS, { recursive: true });
  agents = await new DesignAgents().start();
  stack = await TestStack.start({ BATON_DASHBOARD_DIR: built });
  client = new BatonClient({ baseUrl: stack.url });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 360, height: 780 } });
  page.on('dialog', (d) => void d.accept());
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await agents?.stop();
  if (built) rmSync(built, { recursive: true, force: true });
});

/** axe-core on the page as it is: no serious or critical violation; nothing wider than 360 px; a screenshot. */
async function check(name: string): Promise<void> {
  await page.addScriptTag({ content: AXE });
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }
    ).axe;
    const result = await axe.run();
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  expect(violations, name).toEqual([]);
  expect(await page.evaluate(() => document.documentElement.scrollWidth), `${name} fits 360 px`).toBeLessThanOrEqual(360);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

const waitText = (text: string, timeout = 90_000) => page.getByText(text, { exact: false }).first().waitFor({ timeout });

describe.runIf(BROWSER)('the dashboard', () => {
  it('deploys through the form and follows it live to completed, without a reload', async () => {
    await page.goto(`${stack.url}/`);
    await waitText('No deployments yet');
    await check('deployments-empty');
    await page.getByRole('link', { name: 'Deploy', exact: true }).click();
    await page.getByLabel('Agent id').fill('web-form');
    await page
      .getByLabel('Config file (YAML or JSON)')
      .setInputFiles({ name: 'service.yaml', mimeType: 'application/yaml', buffer: Buffer.from('greeting: hello\n') });
    await check('deploy-form');
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    await page.getByRole('button', { name: 'Deploy' }).click();
    await page.waitForURL(/#\/deployments\//);
    await page.locator('.badge.s-completed').first().waitFor({ timeout: 120_000 });
    // The same document all along: it was the stream, not a reload, that showed the end.
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    await waitText('100%');
    await check('deployment-completed');
    await page.goto(`${stack.url}/#/`);
    await page.locator('.jobs li').first().waitFor();
    expect(await page.locator('.jobs li').first().textContent()).toContain('web-form');
    await check('deployments');
  }, 180_000);

  it('explains a failure: the reason code, the hint and the revision output', async () => {
    const accepted = await client.deploy({ agent_id: 'web-crash', source: { type: 'directory', path: fixture('crash') } });
    await page.goto(`${stack.url}/#/deployments/${accepted.deployment_id}`);
    await page.getByRole('heading', { name: 'Why it failed' }).waitFor({ timeout: 120_000 });
    const text = await page.getByRole('region', { name: 'Why it failed' }).textContent();
    expect(text).toContain('crashed_at_startup');
    expect(text).toContain('What to do:');
    await check('deployment-failed');
  }, 180_000);

  it('rolls back from the deployment page and follows the rollback; the service page shows the revision back', async () => {
    const first = await client.deployAndWait({ agent_id: 'web-rb', config: { v: 1 } });
    const second = await client.deployAndWait({ agent_id: 'web-rb', config: { v: 2 } });
    expect([first.status, second.status]).toEqual(['completed', 'completed']);
    await page.goto(`${stack.url}/#/deployments/${second.deployment_id}`);
    await page.getByRole('button', { name: 'Roll back' }).click();
    await page.waitForURL((u) => !u.hash.includes(second.deployment_id));
    await page.locator('.badge.s-rolled_back').first().waitFor({ timeout: 120_000 });
    await check('rollback');
    await page.goto(`${stack.url}/#/services/web-rb`);
    await waitText(`serving ${first.revision}`);
    await check('service-after-rollback');
  }, 240_000);

  it('a service: rolls back to a named revision, shows the pin and its history, unpins; a refusal is shown as the API says it', async () => {
    const revs: string[] = [];
    for (const v of [1, 2, 3]) {
      const job = await client.deployAndWait({ agent_id: 'web-svc', config: { v } });
      expect(job.status, job.error_message ?? '').toBe('completed');
      revs.push(job.revision ?? '');
    }
    await page.goto(`${stack.url}/#/services/web-svc`);
    await waitText(`serving ${revs[2]}`);
    expect(await page.getByTestId('pin').textContent()).toContain('Not pinned');
    // The audit trail: each deployment's creation and status changes, newest first.
    const history = page.getByRole('list', { name: 'history' });
    expect(await history.locator('li').count()).toBeGreaterThan(6);
    expect(await history.locator('li').first().textContent()).toContain('→ completed');

    // A revision that does not exist: refused with the API's reason, nothing changes.
    await page.getByLabel('Return to').selectOption('other');
    await page.getByLabel('Revision name').fill('web-svc-nope');
    await page.getByRole('button', { name: 'Roll back to web-svc-nope' }).click();
    await page.getByRole('alert').filter({ hasText: 'does not exist' }).waitFor();
    expect((await client.getService('web-svc')).serving_revision).toBe(revs[2]);

    // The first revision, by name from the ones that served.
    await page.getByLabel('Return to').selectOption(revs[0]);
    await page.getByLabel('Reason').fill('v2 and v3 are bad');
    await page.getByRole('button', { name: `Roll back to ${revs[0]}` }).click();
    await page.waitForURL(/#\/deployments\//);
    await page.locator('.badge.s-rolled_back').first().waitFor({ timeout: 120_000 });
    await page.goto(`${stack.url}/#/services/web-svc`);
    await waitText(`serving ${revs[0]}`);
    const pin = await page.getByTestId('pin').textContent();
    expect(pin).toContain(`Pinned to ${revs[0]}`);
    expect(pin).toContain('v2 and v3 are bad');
    expect(await history.locator('li').filter({ hasText: 'rollback' }).first().textContent()).toContain('v2 and v3 are bad');
    await check('service-pinned');

    await page.getByRole('button', { name: 'Unpin' }).click();
    await page.getByTestId('pin').filter({ hasText: 'Not pinned' }).waitFor();
    expect((await client.getService('web-svc')).pinned).toBe(false);
    expect(await history.locator('li').first().textContent()).toContain('unpin');
    await check('service');
    await page.goto(`${stack.url}/#/services`);
    await page.getByRole('link', { name: 'web-svc' }).waitFor();
    await check('services');
  }, 300_000);

  it('deploys a design, runs it with a JSON input and reads its execution', async () => {
    await page.goto(`${stack.url}/#/designs`);
    await page.getByLabel('Endpoint path').fill('/web/echo');
    const design = { version: 1, name: 'web-echo', blocks: [{ id: 'only', agent: agents.agent('/upper') }], output: 'only' };
    await page.getByLabel('Design (JSON)').fill(JSON.stringify(design));
    await page.getByRole('button', { name: 'Deploy design' }).click();
    await waitText('/web/echo', 30_000);
    await page.getByLabel('Input (JSON)').fill('"from the browser"');
    await page.getByRole('button', { name: 'Run' }).click();
    await page.getByTestId('last-result').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('last-result').textContent()).toContain('FROM THE BROWSER');
    await page.getByRole('list', { name: 'executions' }).getByRole('button').first().click();
    await page.getByTestId('steps').waitFor();
    await check('designs');
  }, 120_000);

  it('metrics come from GET /metrics: totals, stage p50/p95 and charts over time, filtered by agent, environment and window', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const week = new Date(Date.now() - 6 * 86_400_000).toISOString().slice(0, 10);
    const server = (await client.getMetrics({ from: week })).metrics;
    // The earlier tests' deployments: a failure among them, so the rate is neither 0 nor 100.
    expect(server.total_deployments).toBeGreaterThan(4);
    expect(server.failed_deployments).toBeGreaterThan(0);
    await page.goto(`${stack.url}/#/metrics`);
    const summary = page.getByTestId('summary');
    await summary.waitFor({ timeout: 30_000 });
    expect(await summary.textContent()).toContain(
      `${server.total_deployments} deployments · ${Math.round(server.success_rate * 100)}% succeeded`,
    );
    await page.getByRole('img', { name: 'success rate (%) by hour' }).locator('canvas').waitFor({ timeout: 30_000 });
    await page.getByRole('img', { name: 'deployment duration p50 and p95 (s) by hour' }).locator('canvas').waitFor();
    await page.getByRole('img', { name: 'building duration p50 and p95 (s) by day' }).locator('canvas').waitFor();
    const building = page.getByRole('row', { name: /^building/ });
    expect(await building.locator('td').nth(3).textContent()).toBe(String(server.stages.building?.count));
    await page.getByRole('region', { name: 'Environments' }).getByText('development', { exact: false }).first().waitFor();
    await check('metrics');

    // One agent: the page asks the server with the filter and shows its answer.
    await page.getByLabel('Agent', { exact: true }).fill('web-svc');
    await page.getByLabel('Agent', { exact: true }).press('Enter');
    await summary.filter({ hasText: '3 deployments · 100% succeeded' }).waitFor();
    // An environment nothing ran in: no points to chart.
    await page.getByRole('combobox', { name: /^Environment/ }).selectOption('production');
    await summary.filter({ hasText: '0 deployments' }).waitFor();
    await page.getByRole('img', { name: 'success rate (%) by hour' }).filter({ hasText: 'No finished deployments' }).waitFor();
    // A 30-day window: the series by day.
    await page.getByRole('combobox', { name: /^Environment/ }).selectOption('');
    await page.getByRole('combobox', { name: /^Window/ }).selectOption('30');
    await page.getByRole('img', { name: 'success rate (%) by day' }).locator('canvas').waitFor();
    const daily = await client.getMetrics({ agent_id: 'web-svc', resolution: 'day' });
    expect(daily.series.points.at(-1)).toMatchObject({ start: `${today}T00:00:00.000Z`, total: 3 });
    await check('metrics-filtered');
  }, 120_000);
});
