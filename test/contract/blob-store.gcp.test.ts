import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GcsBlobStore, type GcsBlobStoreOptions } from '../../shared/adapters/gcp/blob-store.js';
import { buildGcpClients } from '../../shared/wiring/gcp-clients.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { type FakeStorageOptions, FakeStorageServer } from '../support/gcp-fakes/storage-server.js';
import { blobStoreContract } from './suites/blob-store.suite.js';

/**
 * GcsBlobStore against the in-process Storage JSON API fake (see its header for what that does
 * not prove). The client is built by buildGcpClients with BATON_STORAGE_ENDPOINT at the fake.
 */

const fakes: FakeStorageServer[] = [];
let shared: FakeStorageServer;

beforeAll(async () => {
  shared = await FakeStorageServer.start();
  fakes.push(shared);
});
afterAll(async () => {
  for (const f of fakes.splice(0)) await f.close();
});

function storeOn(fake: FakeStorageServer, options: GcsBlobStoreOptions = {}): { store: GcsBlobStore; bucket: string } {
  const bucket = `baton-test-${randomUUID().slice(0, 8)}`;
  fake.createBucket(bucket);
  const config = GcpConfigSchema.parse({ BATON_GCP_PROJECT: 'baton-test', BATON_BUCKET: bucket, BATON_STORAGE_ENDPOINT: fake.url });
  const { storage } = buildGcpClients(config);
  return { store: new GcsBlobStore(storage, config.BATON_BUCKET, options), bucket };
}

async function fakeWith(options: FakeStorageOptions): Promise<FakeStorageServer> {
  const fake = await FakeStorageServer.start(options);
  fakes.push(fake);
  return fake;
}

// The production settings (one write per object per second), on a fresh bucket per test.
blobStoreContract('GcsBlobStore on the fake Storage API', async () => ({ store: storeOn(shared).store, cleanup: async () => {} }));

describe('GcsBlobStore on the fake: requests', () => {
  it('an append to an existing object is exactly: upload the chunk, compose [key, chunk] into key, delete the chunk', async () => {
    const { store, bucket } = storeOn(shared, { minWriteIntervalMs: 0 });
    await store.put('logs/a.log', 'one\n');
    const generation = shared.object(bucket, 'logs/a.log')?.generation;
    const from = shared.requests.length;

    await store.append('logs/a.log', 'two\n');

    const reqs = shared.requests.slice(from);
    expect(reqs.map((r) => `${r.method} ${r.kind}`)).toEqual(['POST upload', 'POST compose', 'DELETE delete']);
    const [upload, compose, del] = reqs;
    expect(upload.object).toMatch(/^logs\/a\.log\.chunks\/.+/);
    expect(upload.query).toMatchObject({ uploadType: 'multipart', ifGenerationMatch: '0' });
    expect(compose.path).toBe(`/storage/v1/b/${bucket}/o/logs/a.log/compose`);
    expect(compose.query.ifGenerationMatch).toBe(String(generation));
    expect(del.path).toBe(`/storage/v1/b/${bucket}/o/${upload.object}`);
    expect(reqs.every((r) => r.status >= 200 && r.status < 300)).toBe(true);
    expect(shared.object(bucket, 'logs/a.log')?.data.toString()).toBe('one\ntwo\n');
    expect(shared.objectNames(bucket)).toEqual(['logs/a.log']);
    expect(store.counters).toEqual({ writes: 2, reads: 0, composes: 1 });
  });

  it('the first append to a new key creates it with one upload that must not overwrite', async () => {
    const { store, bucket } = storeOn(shared);
    const from = shared.requests.length;
    await store.append('logs/new.log', 'first\n');
    const reqs = shared.requests.slice(from);
    expect(reqs.map((r) => `${r.method} ${r.kind} ${r.object}`)).toEqual(['POST upload logs/new.log']);
    expect(reqs[0].query.ifGenerationMatch).toBe('0');
    expect(shared.object(bucket, 'logs/new.log')?.data.toString()).toBe('first\n');
  });

  it('an object another process changed between two appends is re-read, not overwritten', async () => {
    const { store, bucket } = storeOn(shared, { minWriteIntervalMs: 0 });
    await store.append('logs/shared.log', 'mine 1\n');
    shared.writeObject(bucket, 'logs/shared.log', 'mine 1\ntheirs\n');
    const from = shared.requests.length;
    await store.append('logs/shared.log', 'mine 2\n');
    expect(shared.object(bucket, 'logs/shared.log')?.data.toString()).toBe('mine 1\ntheirs\nmine 2\n');
    // The stale compose is refused: 404 for the old source generation (GCS may answer 412 for the destination's precondition first).
    const kinds = shared.requests.slice(from).map((r) => `${r.kind} ${r.status}`);
    expect(kinds).toEqual(['upload 200', expect.stringMatching(/^compose (404|412)$/), 'metadata 200', 'compose 200', 'delete 204']);
  });

  it('an object deleted by another process between appends is created again', async () => {
    const { store, bucket } = storeOn(shared, { minWriteIntervalMs: 0 });
    await store.append('logs/gone.log', 'a\n');
    shared.deleteObject(bucket, 'logs/gone.log');
    await store.append('logs/gone.log', 'b\n');
    await store.append('logs/gone.log', 'c\n');
    expect((await store.get('logs/gone.log'))?.toString()).toBe('b\nc\n');
    expect(shared.objectNames(bucket)).toEqual(['logs/gone.log']);
  });

  it('two instances appending to one key at once lose nothing, and each keeps its own order', async () => {
    const { store: a, bucket } = storeOn(shared, { minWriteIntervalMs: 0 });
    const config = GcpConfigSchema.parse({ BATON_GCP_PROJECT: 'baton-test', BATON_BUCKET: bucket, BATON_STORAGE_ENDPOINT: shared.url });
    const b = new GcsBlobStore(buildGcpClients(config).storage, bucket, { minWriteIntervalMs: 0 });
    const linesA = Array.from({ length: 25 }, (_, i) => `A${i}\n`);
    const linesB = Array.from({ length: 25 }, (_, i) => `B${i}\n`);
    // Sequential within each instance, so every line is its own write and the two interleave.
    const run = async (store: GcsBlobStore, lines: string[]) => {
      for (const l of lines) await store.append('logs/both.log', l);
    };
    await Promise.all([run(a, linesA), run(b, linesB)]);
    const lines = ((await a.get('logs/both.log'))?.toString() ?? '').split('\n').filter(Boolean);
    expect([...lines].sort()).toEqual([...linesA, ...linesB].map((l) => l.trim()).sort());
    expect(lines.filter((l) => l.startsWith('A'))).toEqual(linesA.map((l) => l.trim()));
    expect(lines.filter((l) => l.startsWith('B'))).toEqual(linesB.map((l) => l.trim()));
    // The race really happened: some composes were refused and retried.
    expect(shared.requests.some((r) => r.bucket === bucket && r.kind === 'compose' && (r.status === 412 || r.status === 404))).toBe(true);
    expect(shared.objectNames(bucket)).toEqual(['logs/both.log']);
  });

  it('rewrites the object whole before it would pass the composite component limit', async () => {
    const fake = await fakeWith({ maxComponents: 4 });
    const { store, bucket } = storeOn(fake, { minWriteIntervalMs: 0, maxComponents: 4 });
    const lines = Array.from({ length: 12 }, (_, i) => `line ${i}\n`);
    for (const l of lines) await store.append('logs/long.log', l);
    expect((await store.get('logs/long.log'))?.toString()).toBe(lines.join(''));
    expect(fake.requests.filter((r) => r.status === 400)).toEqual([]);
    expect(fake.object(bucket, 'logs/long.log')?.componentCount ?? 1).toBeLessThanOrEqual(4);
    // Each rewrite reads the object and uploads it with its generation as the precondition.
    expect(fake.requests.filter((r) => r.kind === 'download' && r.object === 'logs/long.log').length).toBeGreaterThanOrEqual(2);
  });

  it('recovers when the service refuses a compose for its component count (limit lower than configured)', async () => {
    const fake = await fakeWith({ maxComponents: 3 });
    const { store } = storeOn(fake, { minWriteIntervalMs: 0 });
    const lines = Array.from({ length: 8 }, (_, i) => `${i}\n`);
    for (const l of lines) await store.append('logs/x.log', l);
    expect((await store.get('logs/x.log'))?.toString()).toBe(lines.join(''));
    expect(fake.requests.some((r) => r.kind === 'compose' && r.status === 400)).toBe(true);
  });

  it('batches appends made while one is in flight, and writes one object at most once a second', async () => {
    const { store, bucket } = storeOn(shared);
    const lines = Array.from({ length: 50 }, (_, i) => `${i}\n`);
    await Promise.all(lines.map((l) => store.append('logs/batched.log', l)));
    expect((await store.get('logs/batched.log'))?.toString()).toBe(lines.join(''));
    expect(store.counters.composes).toBe(1);
    const writes = shared.requests.filter(
      (r) => r.bucket === bucket && ((r.kind === 'upload' && r.object === 'logs/batched.log') || r.kind === 'compose'),
    );
    expect(writes).toHaveLength(2);
    expect(writes[1].at - writes[0].at).toBeGreaterThanOrEqual(950);
  });

  it('lists across pages, without append chunks', async () => {
    const fake = await fakeWith({ pageSize: 2 });
    const { store, bucket } = storeOn(fake);
    for (const k of ['p/1', 'p/2', 'p/3', 'p/4', 'p/5', 'q/1']) await store.put(k, k);
    fake.writeObject(bucket, 'p/3.chunks/leftover', 'x');
    expect(await store.list('p/')).toEqual(['p/1', 'p/2', 'p/3', 'p/4', 'p/5']);
    expect(fake.requestsOf('list').length).toBeGreaterThanOrEqual(3);
  });

  it('uploads large objects resumably, and the bytes survive', async () => {
    const { store, bucket } = storeOn(shared, { resumableThresholdBytes: 1024 });
    const big = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256));
    const from = shared.requests.length;
    await store.put('sources/a.tar.gz', big);
    expect(shared.requests.slice(from).map((r) => r.kind)).toEqual(['upload-init', 'upload-chunk']);
    expect(Buffer.compare(shared.object(bucket, 'sources/a.tar.gz')?.data ?? Buffer.alloc(0), big)).toBe(0);
    expect(Buffer.compare((await store.get('sources/a.tar.gz')) ?? Buffer.alloc(0), big)).toBe(0);
  });

  it('puts, appends and deletes to one key take effect in call order, even unawaited', async () => {
    const { store } = storeOn(shared, { minWriteIntervalMs: 0 });
    const steps = [store.put('k.log', 'put 1\n'), store.append('k.log', 'a\n'), store.append('k.log', 'b\n')];
    const afterPut = store.put('k.log', 'put 2\n');
    const tail = store.append('k.log', 'c\n');
    await Promise.all([...steps, afterPut, tail]);
    expect((await store.get('k.log'))?.toString()).toBe('put 2\nc\n');
    const gone = store.delete('k.log');
    const again = store.append('k.log', 'fresh\n');
    await Promise.all([gone, again]);
    expect((await store.get('k.log'))?.toString()).toBe('fresh\n');
  });

  it('refuses keys that would collide with append chunks', async () => {
    const { store } = storeOn(shared);
    await expect(store.put('logs/a.log.chunks/1', 'x')).rejects.toThrow(/invalid blob key/);
  });
});
