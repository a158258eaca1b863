import { describe, expect, it } from 'vitest';
import { BatonClient, type DocumentWatcher } from '../../clients/typescript/src/index.js';

const doc = (status: string, progress: number) => ({
  deployment_id: 'd1',
  agent_id: 'svc',
  status,
  progress,
  current_step: status,
  logs: [],
  created_at: '2026-01-01T00:00:00.000Z',
});

describe('watch() through a document watcher (Firestore onSnapshot on the gcp target)', () => {
  it('reports each state, resolves at the final one and unsubscribes; never calls the API', async () => {
    let unsubscribed = 0;
    const watcher: DocumentWatcher = (id, onDoc) => {
      expect(id).toBe('d1');
      const states = [doc('queued', 0), doc('building', 30), doc('building', 30), doc('completed', 100)];
      const timer = setInterval(() => {
        const next = states.shift();
        if (next) onDoc(next);
      }, 5);
      return () => {
        clearInterval(timer);
        unsubscribed++;
      };
    };
    const client = new BatonClient({
      baseUrl: 'http://127.0.0.1:9',
      documentWatcher: watcher,
      fetch: () => Promise.reject(new Error('the API must not be called')),
    });
    const seen: string[] = [];
    const job = await client.watch('d1', (j) => seen.push(`${j.status} ${j.progress}`));
    expect(job.status).toBe('completed');
    expect(seen).toEqual(['queued 0', 'building 30', 'completed 100']);
    expect(unsubscribed).toBe(1);
  });

  it('rejects with a 404 error for a missing document, and with the store error on failure', async () => {
    /** A watcher that reports one thing at once, as onSnapshot does with the current document. */
    const once =
      (report: (onDoc: (d: unknown) => void, onError: (e: Error) => void) => void): DocumentWatcher =>
      (_id, onDoc, onError) => {
        report(onDoc, onError);
        return () => {};
      };
    const missing = new BatonClient({ documentWatcher: once((onDoc) => onDoc(null)) });
    await expect(missing.watch('nope', () => {})).rejects.toMatchObject({ status: 404, code: 'not_found' });
    const broken = new BatonClient({ documentWatcher: once((_onDoc, onError) => onError(new Error('PERMISSION_DENIED'))) });
    await expect(broken.watch('d1', () => {})).rejects.toThrow('PERMISSION_DENIED');
    const garbled = new BatonClient({ documentWatcher: once((onDoc) => onDoc({ status: 'exploded' })) });
    await expect(garbled.watch('d1', () => {})).rejects.toThrow('could not be read');
  });
});
