import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { blobStoreContract } from './suites/blob-store.suite.js';
import { TempDirs } from './suites/util.js';

const temp = new TempDirs();
afterEach(() => temp.removeAll());

blobStoreContract('FolderBlobStore', async () => ({ store: new FolderBlobStore(temp.make('blobs')), cleanup: async () => {} }));

describe('FolderBlobStore: pathOf', () => {
  it('maps a key to a file under the root', async () => {
    const root = temp.make('blobs-path');
    const store = new FolderBlobStore(root);
    expect(store.pathOf('a/b/c.txt')).toBe(join(root, 'a', 'b', 'c.txt'));
    await store.put('a/b/c.txt', 'content');
    expect(readFileSync(store.pathOf('a/b/c.txt'), 'utf8')).toBe('content');
  });

  it('refuses keys that are empty, absolute, or have "..", "." or empty segments', () => {
    const store = new FolderBlobStore(temp.make('blobs-bad'));
    for (const key of ['', '/etc/passwd', '..', '../x', 'a/../../x', 'a/./b', 'a//b', 'a/', './a']) {
      expect(() => store.pathOf(key), JSON.stringify(key)).toThrow(/invalid blob key/);
    }
  });
});
