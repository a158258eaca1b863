import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../../shared/ports/index.js';

/**
 * The BlobStore contract (Cloud Storage objects by key).
 *
 * What the local adapter does NOT prove about the real service: FolderBlobStore's appends are
 * ordered by an in-process promise chain, so "concurrent appends keep their order" holds only
 * within one process; Cloud Storage has no append, so a gcp adapter composes or rewrites objects
 * and must serialise appends itself (per key, with preconditions on the object generation) to
 * pass the append cases across instances. Listing here is a directory walk (strongly consistent,
 * sorted); GCS lists are paginated. Keys are relative paths here: the gcp adapter must refuse the
 * same traversal-looking keys, which GCS itself would accept as names.
 */

export interface BlobStoreHandle {
  store: BlobStore;
  cleanup(): Promise<void>;
}

export function blobStoreContract(name: string, makeStore: () => Promise<BlobStoreHandle>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let handle: BlobStoreHandle;
    let store: BlobStore;

    beforeEach(async () => {
      handle = await makeStore();
      store = handle.store;
    });
    afterEach(async () => {
      await handle.cleanup();
    });

    it('put then get returns the bytes, for strings and binary buffers', async () => {
      await store.put('a/text.txt', 'héllo wörld\n');
      const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      await store.put('a/bin.dat', binary);
      expect((await store.get('a/text.txt'))?.toString('utf8')).toBe('héllo wörld\n');
      const got = await store.get('a/bin.dat');
      expect(got).toBeInstanceOf(Buffer);
      expect(Buffer.compare(got as Buffer, binary)).toBe(0);
    });

    it('put overwrites', async () => {
      await store.put('k', 'first, and longer');
      await store.put('k', 'second');
      expect((await store.get('k'))?.toString()).toBe('second');
    });

    it('get of a missing key is null; exists is false', async () => {
      expect(await store.get('missing/key.txt')).toBeNull();
      expect(await store.exists('missing/key.txt')).toBe(false);
    });

    it('exists is true after put and false after delete; delete of a missing key is fine', async () => {
      await store.put('d/x.txt', 'x');
      expect(await store.exists('d/x.txt')).toBe(true);
      await store.delete('d/x.txt');
      expect(await store.exists('d/x.txt')).toBe(false);
      expect(await store.get('d/x.txt')).toBeNull();
      await store.delete('d/x.txt');
      await store.delete('never/there.txt');
    });

    it('a "folder" prefix is not an object', async () => {
      await store.put('dir/child.txt', 'c');
      expect(await store.exists('dir')).toBe(false);
    });

    it('lists keys by prefix, sorted, with full keys', async () => {
      for (const k of ['a/2', 'a/1', 'a/b/3', 'ab/4', 'c/5']) await store.put(k, k);
      expect(await store.list('a/')).toEqual(['a/1', 'a/2', 'a/b/3']);
      expect(await store.list('a')).toEqual(['a/1', 'a/2', 'a/b/3', 'ab/4']);
      expect(await store.list('a/b/')).toEqual(['a/b/3']);
      expect(await store.list('')).toEqual(['a/1', 'a/2', 'a/b/3', 'ab/4', 'c/5']);
      expect(await store.list('zzz/')).toEqual([]);
      await store.delete('a/1');
      expect(await store.list('a/')).toEqual(['a/2', 'a/b/3']);
    });

    it('append creates the object, then adds to it', async () => {
      await store.append('logs/new.log', 'one\n');
      await store.append('logs/new.log', 'two\n');
      expect((await store.get('logs/new.log'))?.toString()).toBe('one\ntwo\n');
      await store.put('logs/existing.log', 'head\n');
      await store.append('logs/existing.log', 'tail\n');
      expect((await store.get('logs/existing.log'))?.toString()).toBe('head\ntail\n');
    });

    it('keeps the order of 200 concurrent appends to one key', async () => {
      const lines = Array.from({ length: 200 }, (_, i) => `line ${String(i).padStart(3, '0')} ${'x'.repeat(i % 17)}\n`);
      await Promise.all(lines.map((l) => store.append('logs/busy.log', l)));
      expect((await store.get('logs/busy.log'))?.toString()).toBe(lines.join(''));
    });

    it('a get right after unawaited appends sees all of them', async () => {
      const appends = ['a\n', 'b\n', 'c\n'].map((l) => store.append('logs/race.log', l));
      const read = await store.get('logs/race.log');
      await Promise.all(appends);
      expect(read?.toString()).toBe('a\nb\nc\n');
    });

    it('appends to different keys do not mix', async () => {
      await Promise.all(Array.from({ length: 40 }, (_, i) => store.append(`logs/k${i % 2}.log`, `${i}\n`)));
      const expected = (r: number) =>
        Array.from({ length: 40 }, (_, i) => i)
          .filter((i) => i % 2 === r)
          .map((i) => `${i}\n`)
          .join('');
      expect((await store.get('logs/k0.log'))?.toString()).toBe(expected(0));
      expect((await store.get('logs/k1.log'))?.toString()).toBe(expected(1));
    });

    it('refuses keys with ".." or a leading "/", and writes nothing for them', async () => {
      for (const key of ['../escape.txt', '/abs.txt', 'a/../../escape.txt', 'a/../b.txt', '..']) {
        await expect(store.put(key, 'x'), key).rejects.toThrow();
        await expect(store.append(key, 'x'), key).rejects.toThrow();
      }
      await expect(store.get('../escape.txt')).rejects.toThrow();
      expect(await store.list('')).toEqual([]);
    });
  });
}
