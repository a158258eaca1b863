import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Firestore as ServerFirestore } from '@google-cloud/firestore';
import { deleteApp, type FirebaseApp, initializeApp } from 'firebase/app';
import {
  collection,
  connectFirestoreEmulator,
  deleteDoc,
  doc,
  type Firestore,
  getDoc,
  getDocs,
  getFirestore,
  query,
  setDoc,
  setLogLevel,
  updateDoc,
  where,
} from 'firebase/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firestoreWatcher } from '../../clients/typescript/src/firestore-watcher.js';
import { BatonClient } from '../../clients/typescript/src/index.js';
import { FirestoreJobStore } from '../../shared/adapters/gcp/job-store.js';
import { run } from '../../shared/cli/main.js';
import { newJob } from '../../shared/domain/job.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { acceptDeployment } from '../../shared/pipeline/requests.js';
import { describeWithEmulators, type Emulator, firestoreClient, startEmulator, uniqueProjectId } from '../support/emulators.js';
import { harness } from '../support/fakes.js';

/**
 * firestore.rules on Google's Firestore emulator, loaded through its REST endpoint, with clients
 * on the Firebase client SDK (what the CLI and a dashboard use), authenticated by mock ID tokens.
 * The jobs are written by the server SDK (admin on the emulator, as the functions are in production).
 *
 * What this does NOT prove: that Terraform's ruleset/release deploys this file (test/infra checks
 * the wiring offline), that a real Firebase Auth session from a Google ID token carries the same
 * email (signInWithCredential needs the project's Google provider to accept the token's audience),
 * and the CLI's sign-in on a real project.
 */
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const SECRET = 'sk-live-41ce';

describeWithEmulators('firestore.rules for clients on the Firebase client SDK', () => {
  const project = uniqueProjectId('baton-rules');
  let emulator: Emulator;
  let server: ServerFirestore;
  let store: FirestoreJobStore;
  const apps: FirebaseApp[] = [];

  /** A client SDK Firestore as `token` (a mock ID token), or unauthenticated. */
  function clientAs(token?: { sub: string; email?: string; email_verified?: boolean }): Firestore {
    const app = initializeApp({ projectId: project, apiKey: 'test' }, `rules-${apps.length}`);
    apps.push(app);
    const db = getFirestore(app);
    const [host, port] = emulator.host.split(':');
    connectFirestoreEmulator(db, host, Number(port), token ? { mockUserToken: token } : {});
    return db;
  }
  const alice = () => clientAs({ sub: 'alice', email: ALICE, email_verified: true });

  beforeAll(async () => {
    // Each refused write is also logged by the SDK: the assertions say what matters.
    setLogLevel('silent');
    emulator = await startEmulator('firestore', { projectId: project });
    const res = await fetch(`http://${emulator.host}/emulator/v1/projects/${project}:securityRules`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        rules: {
          files: [{ name: 'firestore.rules', content: readFileSync(resolve(import.meta.dirname, '../../firestore.rules'), 'utf8') }],
        },
      }),
    });
    expect(res.status, await res.text()).toBe(200);
    server = firestoreClient(emulator, project);
    store = new FirestoreJobStore(server);
    // Jobs as the api creates them: env values and the credentialed URL in the private document.
    const h = harness();
    h.deps.jobs = store;
    let n = 0;
    h.deps.newId = () => ['job-alice', 'job-bob', 'job-nobody'][n++] ?? `job-${n}`;
    const request = DeploymentRequestSchema.parse({
      agent_id: 'shop',
      env: { API_KEY: SECRET },
      source: { type: 'git', url: `https://bot:${SECRET}@git.example.com/shop.git` },
    });
    await acceptDeployment(h.deps, request, ALICE);
    await acceptDeployment(h.deps, { ...request, agent_id: 'bobs' }, BOB);
    await acceptDeployment(h.deps, { ...request, agent_id: 'anon' }, null);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(apps.map((a) => deleteApp(a)));
    await server?.terminate();
    await emulator?.stop();
  });

  it('an owner reads their own job, which holds no env value and no git credential', async () => {
    const snap = await getDoc(doc(alice(), 'deployment_jobs', 'job-alice'));
    expect(snap.get('owner')).toBe(ALICE);
    expect(JSON.stringify(snap.data())).not.toContain(SECRET);
  });

  it('an owner lists their own jobs only with the owner filter: rules are not filters', async () => {
    const db = alice();
    const mine = await getDocs(query(collection(db, 'deployment_jobs'), where('owner', '==', ALICE)));
    expect(mine.docs.map((d) => d.id)).toEqual(['job-alice']);
    await expect(getDocs(collection(db, 'deployment_jobs'))).rejects.toMatchObject({ code: 'permission-denied' });
  });

  it('no cross-owner read, no read of a job without an owner', async () => {
    await expect(getDoc(doc(alice(), 'deployment_jobs', 'job-bob'))).rejects.toMatchObject({ code: 'permission-denied' });
    await expect(getDoc(doc(alice(), 'deployment_jobs', 'job-nobody'))).rejects.toMatchObject({ code: 'permission-denied' });
  });

  it('refuses the unauthenticated and an unverified email', async () => {
    await expect(getDoc(doc(clientAs(), 'deployment_jobs', 'job-alice'))).rejects.toMatchObject({ code: 'permission-denied' });
    const unverified = clientAs({ sub: 'mallory', email: ALICE, email_verified: false });
    await expect(getDoc(doc(unverified, 'deployment_jobs', 'job-alice'))).rejects.toMatchObject({ code: 'permission-denied' });
  });

  it('no client write of any kind, not even by the owner', async () => {
    const db = alice();
    const own = doc(db, 'deployment_jobs', 'job-alice');
    await expect(updateDoc(own, { status: 'completed' })).rejects.toMatchObject({ code: 'permission-denied' });
    await expect(setDoc(own, { owner: ALICE, status: 'completed' })).rejects.toMatchObject({ code: 'permission-denied' });
    await expect(deleteDoc(own)).rejects.toMatchObject({ code: 'permission-denied' });
    await expect(setDoc(doc(db, 'deployment_jobs', 'new-job'), { owner: ALICE })).rejects.toMatchObject({ code: 'permission-denied' });
    await expect(setDoc(doc(db, 'services', 'shop'), { agent_id: 'shop' })).rejects.toMatchObject({ code: 'permission-denied' });
    expect((await store.get('job-alice'))?.status).toBe('queued');
  });

  it('the private data is unreadable to every client, its owner included; the server reads it', async () => {
    for (const db of [alice(), clientAs({ sub: 'bob', email: BOB, email_verified: true }), clientAs()]) {
      await expect(getDoc(doc(db, 'deployment_private', 'job-alice'))).rejects.toMatchObject({ code: 'permission-denied' });
      await expect(getDocs(collection(db, 'deployment_private'))).rejects.toMatchObject({ code: 'permission-denied' });
    }
    await expect(getDoc(doc(alice(), 'services', 'shop'))).rejects.toMatchObject({ code: 'permission-denied' });
    expect((await store.getPrivate('job-alice'))?.env).toEqual({ API_KEY: SECRET });
  });

  describe('the client following a job with onSnapshot under the rules', () => {
    it('sees each committed change of its own job and resolves at the final status, without calling the API', async () => {
      const job = { ...newJob('w1', DeploymentRequestSchema.parse({ agent_id: 'watched' }), new Date().toISOString()), owner: ALICE };
      await store.create(job);
      const client = new BatonClient({
        baseUrl: 'http://127.0.0.1:9',
        documentWatcher: firestoreWatcher(alice()),
        fetch: () => Promise.reject(new Error('the API must not be called')),
      });
      const seen: string[] = [];
      const watching = client.watch('w1', (j) => seen.push(j.status));
      for (const status of ['validating', 'preparing', 'completed'] as const) {
        await new Promise((r) => setTimeout(r, 150));
        await store.update('w1', (j) => ({ ...j, status, progress: status === 'completed' ? 100 : j.progress }));
      }
      const final = await watching;
      expect(final.status).toBe('completed');
      expect(seen[0]).toBe('queued');
      expect(seen.at(-1)).toBe('completed');
    });

    it("is refused on another owner's job with a 403 that says so", async () => {
      const client = new BatonClient({ baseUrl: 'http://127.0.0.1:9', documentWatcher: firestoreWatcher(alice()) });
      await expect(client.watch('job-bob', () => {})).rejects.toMatchObject({ status: 403, code: 'forbidden' });
    });

    it("the CLI with BATON_WATCH=firestore follows its owner's job by the client SDK, and is refused on another's", async () => {
      await store.update('job-alice', (j) => ({ ...j, status: 'completed', progress: 100 }));
      // An ID token as gcloud prints one; on the emulator only its claims matter.
      const token = (email: string) =>
        `e30.${Buffer.from(JSON.stringify({ sub: email, email, email_verified: true })).toString('base64url')}.x`;
      const rollbackOf = async (email: string, watched: string) => {
        const out: string[] = [];
        const err: string[] = [];
        // The API only accepts the rollback; following it is the watcher's, under the rules.
        const api = async (url: string | URL | Request) => {
          if (!String(url).endsWith('/rollback')) throw new Error(`the API must not be called for ${String(url)}`);
          const body = { rollback_id: watched, deployment_id: 'd0', agent_id: 'shop', status: 'queued' };
          return new Response(JSON.stringify(body), { status: 202, headers: { 'content-type': 'application/json' } });
        };
        const code = await run(['rollback', 'd0', '--wait'], {
          stdout: { write: (t: string) => out.push(t) },
          stderr: { write: (t: string) => err.push(t) },
          env: { BATON_WATCH: 'firestore', BATON_GCP_PROJECT: project, BATON_TOKEN: token(email), FIRESTORE_EMULATOR_HOST: emulator.host },
          cwd: process.cwd(),
          fetch: api as typeof fetch,
        });
        return { code, out: out.join(''), err: err.join('') };
      };
      const own = await rollbackOf(ALICE, 'job-alice');
      expect(own.err).toBe('');
      expect(own.out).toContain('completed');
      expect(own.code).toBe(0);
      const other = await rollbackOf(ALICE, 'job-bob');
      expect(other.code).toBe(1);
      expect(other.err).toMatch(/job-bob does not exist or is not yours/);
    });
  });
}, ['firestore']);
