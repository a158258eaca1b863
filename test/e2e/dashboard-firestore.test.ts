import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Firestore } from '@google-cloud/firestore';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApi } from '../../functions/api/index.js';
import { dashboardHandler } from '../../functions/local/dashboard.js';
import { FirestoreJobStore } from '../../shared/adapters/gcp/job-store.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { acceptDeployment } from '../../shared/pipeline/requests.js';
import { describeWithEmulators, type Emulator, firestoreClient, startEmulator, uniqueProjectId } from '../support/emulators.js';
import { harness } from '../support/fakes.js';

/**
 * The dashboard's Firestore live source in Debian's Chromium: the Firebase web SDK's onSnapshot
 * (its WebChannel transport, in a real browser) on Google's Firestore emulator with
 * firestore.rules loaded, signed in as alice. The dashboard is built as for Google Cloud
 * (VITE_FIREBASE_CONFIG) plus VITE_FIREBASE_EMULATOR, which points it at the emulator and makes the
 * user a mock ID token (as @firebase/rules-unit-testing does). The jobs are written by the server
 * SDK (FirestoreJobStore, as the functions do); the page's API calls go to the api handler on the
 * same store, and each must carry alice's token as `Authorization: Bearer`, which the api takes the
 * caller from.
 *
 * What this does NOT prove: the Google sign-in popup and a real Firebase Auth ID token (no Auth
 * emulator here: the emulator accepts the unsigned mock token, a real project verifies a signed
 * one; the api's verification of signed tokens is test/unit/firebase-id-token.test.ts), the
 * composite index the list query needs (the emulator needs none; terraform declares it), and
 * Firestore's real latency.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const SCREENSHOTS = join(ROOT, 'test-artifacts/dashboard');
const CHROMIUM = process.env.BATON_CHROMIUM ?? '/usr/bin/chromium';
const BROWSER = existsSync(CHROMIUM) || Boolean(process.env.CI);
const ALICE = { sub: 'alice', email: 'alice@example.com', email_verified: true };
const AXE = readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');

describeWithEmulators('the dashboard on the Firestore live source (emulator, rules loaded)', () => {
  const project = uniqueProjectId('baton-dash');
  let emulator: Emulator;
  let server: Firestore;
  let store: FirestoreJobStore;
  let http: Server;
  let url: string;
  let built: string;
  let browser: Browser;
  let page: Page;
  const calls: { method: string; path: string; authorization: string | undefined }[] = [];
  const h = harness();
  let n = 0;

  const accept = async (agent: string, owner: string | null) =>
    (await acceptDeployment(h.deps, DeploymentRequestSchema.parse({ agent_id: agent }), owner)).deployment_id;
  const set = (id: string, status: 'validating' | 'preparing' | 'building' | 'completed', progress: number) =>
    store.update(id, (j) => ({
      ...j,
      status,
      progress,
      current_step: `now ${status}`,
      updated_at: new Date().toISOString(),
      ...(status === 'completed' ? { completed_at: new Date().toISOString() } : {}),
    }));

  beforeAll(async () => {
    if (!BROWSER) return;
    emulator = await startEmulator('firestore', { projectId: project });
    const rules = await fetch(`http://${emulator.host}/emulator/v1/projects/${project}:securityRules`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        rules: { files: [{ name: 'firestore.rules', content: readFileSync(join(ROOT, 'firestore.rules'), 'utf8') }] },
      }),
    });
    expect(rules.status, await rules.text()).toBe(200);
    server = firestoreClient(emulator, project);
    store = new FirestoreJobStore(server);
    h.deps.jobs = store;
    h.deps.clock = { now: () => new Date() };
    h.deps.newId = () => `fs-${Date.now().toString(36)}-${++n}`;

    built = mkdtempSync(join(tmpdir(), 'baton-dashboard-fs-'));
    await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'dashboard/vite.config.ts'],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          BATON_DASHBOARD_OUT: built,
          VITE_FIREBASE_CONFIG: JSON.stringify({ projectId: project, apiKey: 'emulator' }),
          VITE_FIREBASE_EMULATOR: JSON.stringify({ firestore: emulator.host, user: ALICE }),
        },
      },
    );
    const dashboard = dashboardHandler(built);
    const api = createApi(h.deps, { maxUploadBytes: 1024 * 1024, target: 'gcp' });
    http = createServer((req, res) => {
      if (dashboard(req, res)) return;
      calls.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
      void api(req, res);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 360, height: 780 } });
    page.on('dialog', (d) => void d.accept());
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    http?.closeAllConnections();
    await new Promise((r) => (http ? http.close(r) : r(null)));
    await server?.terminate();
    await emulator?.stop();
    if (built) rmSync(built, { recursive: true, force: true });
  });

  async function check(name: string): Promise<void> {
    await page.addScriptTag({ content: AXE });
    const violations = await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string }[] }> } }).axe;
      return (await axe.run()).violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id);
    });
    expect(violations, name).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth), `${name} fits 360 px`).toBeLessThanOrEqual(360);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }
  const marker = () => page.evaluate(() => (window as unknown as { marker?: number }).marker);

  it.runIf(BROWSER)(
    "lists the signed-in user's jobs only and follows them live, a new one included, without a reload",
    async () => {
      const mine = await accept('live-a', ALICE.email);
      await accept('live-b', 'bob@example.com');
      await accept('live-nobody', null);
      await page.goto(`${url}/#/`);
      await page.locator('.jobs li').filter({ hasText: 'live-a' }).waitFor({ timeout: 30_000 });
      expect(await page.getByTestId('signed-in').textContent()).toBe(ALICE.email);
      await page.evaluate(() => {
        (window as unknown as { marker: number }).marker = 7;
      });
      await set(mine, 'validating', 30);
      await page.locator('.jobs li').filter({ hasText: 'live-a' }).locator('.badge.s-validating').waitFor({ timeout: 15_000 });
      const second = await accept('live-a2', ALICE.email);
      await page.locator('.jobs li').filter({ hasText: 'live-a2' }).waitFor({ timeout: 15_000 });
      const text = (await page.locator('.jobs').textContent()) ?? '';
      expect(text).not.toContain('live-b');
      expect(text).not.toContain('live-nobody');
      expect(await page.locator('.jobs li').count()).toBe(2);
      expect(await marker()).toBe(7);
      await check('firestore-deployments');
      // The list itself came from Firestore: the page asked the API for no list.
      expect(calls.filter((c) => c.path.startsWith('/deployments?'))).toEqual([]);
      expect(second).not.toBe(mine);
    },
    120_000,
  );

  it.runIf(BROWSER)(
    "a job's page follows its document to completed; cancel goes to the API with the user's ID token, which names the caller",
    async () => {
      const followed = await accept('live-c', ALICE.email);
      await page.goto(`${url}/#/deployments/${followed}`);
      await page.locator('.badge.s-queued').waitFor({ timeout: 30_000 });
      await page.evaluate(() => {
        (window as unknown as { marker: number }).marker = 8;
      });
      for (const [status, progress] of [
        ['preparing', 20],
        ['building', 50],
        ['completed', 100],
      ] as const) {
        await set(followed, status, progress);
        await page.locator(`h1 .badge.s-${status}`).waitFor({ timeout: 15_000 });
      }
      await page.getByText('100%').first().waitFor();
      expect(await marker()).toBe(8);
      await check('firestore-deployment');

      const cancelled = await accept('live-d', ALICE.email);
      await page.goto(`${url}/#/deployments/${cancelled}`);
      await page.locator('h1 .badge.s-queued').waitFor({ timeout: 30_000 });
      await page.getByRole('button', { name: 'Cancel' }).click();
      // The API changed the document; the page saw it through its listener.
      await page.locator('h1 .badge.s-cancelled').waitFor({ timeout: 15_000 });
      const call = calls.find((c) => c.method === 'POST' && c.path === `/deployments/${cancelled}/cancel`);
      expect(call?.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.$/);
      const claims = JSON.parse(Buffer.from((call?.authorization ?? '').split('.')[1], 'base64url').toString('utf8'));
      expect(claims).toMatchObject({
        email: ALICE.email,
        email_verified: true,
        aud: project,
        iss: `https://securetoken.google.com/${project}`,
      });
      const history = await store.history('live-d', 10);
      expect(history.find((e) => e.action === 'cancel')?.by).toBe(ALICE.email);
    },
    120_000,
  );

  it.runIf(BROWSER)(
    "another owner's job is refused by the rules, and the page says so",
    async () => {
      const bobs = await accept('live-e', 'bob@example.com');
      await page.goto(`${url}/#/deployments/${bobs}`);
      await page.getByRole('alert').filter({ hasText: 'does not exist or is not yours' }).waitFor({ timeout: 30_000 });
      await check('firestore-refused');
    },
    60_000,
  );
}, ['firestore']);
