import type { Firestore } from '@google-cloud/firestore';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FirestoreJobStore } from '../../shared/adapters/gcp/job-store.js';
import { BatonClient } from '../../shared/client/client.js';
import { firestoreWatcher } from '../../shared/client/firestore-watcher.js';
import { newJob } from '../../shared/domain/job.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { describeWithEmulators, type Emulator, firestoreClient, startEmulator, uniqueProjectId } from '../support/emulators.js';

/** The client following a job with onSnapshot on Google's Firestore emulator, as the CLI does on the gcp target. */
describeWithEmulators('the client watching a job through Firestore onSnapshot', () => {
  const project = uniqueProjectId('baton-watch');
  let emulator: Emulator;
  let writer: Firestore;
  let reader: Firestore;

  beforeAll(async () => {
    emulator = await startEmulator('firestore', { projectId: project });
    writer = firestoreClient(emulator, project);
    reader = firestoreClient(emulator, project);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([writer?.terminate(), reader?.terminate()]);
    await emulator?.stop();
  });

  it('sees each committed change and resolves at the final status, without calling the API', async () => {
    const store = new FirestoreJobStore(writer);
    const job = newJob('w1', DeploymentRequestSchema.parse({ agent_id: 'watched' }), new Date().toISOString());
    await store.create(job);
    const client = new BatonClient({
      baseUrl: 'http://127.0.0.1:9',
      documentWatcher: firestoreWatcher(reader),
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
    expect(seen).toEqual(expect.arrayContaining(['validating', 'preparing']));
  });
}, ['firestore']);
