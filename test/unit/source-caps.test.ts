import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listSource } from '../../shared/adapters/local/archive.js';
import { PermanentError } from '../../shared/domain/errors.js';

describe('copying a source folder', () => {
  const root = mkdtempSync(join(tmpdir(), 'baton-caps-'));
  for (let i = 0; i < 30; i++) writeFileSync(join(root, `f${i}.txt`), 'x'.repeat(100));
  mkdirSync(join(root, 'node_modules', 'dep'), { recursive: true });
  writeFileSync(join(root, 'node_modules', 'dep', 'big.bin'), Buffer.alloc(1_000_000));
  mkdirSync(join(root, '.git'));
  writeFileSync(join(root, '.git', 'HEAD'), 'ref');
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('skips node_modules and .git', async () => {
    const { files, bytes } = await listSource(root, { maxBytes: 1e9, maxFiles: 1000 });
    expect(files).toHaveLength(30);
    expect(bytes).toBe(3000);
  });

  it('stops at the file cap with an error that says what to do', async () => {
    const err = await listSource(root, { maxBytes: 1e9, maxFiles: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).userMessage()).toContain('more than 10 files');
    expect((err as PermanentError).userMessage()).toContain('BATON_MAX_SOURCE_FILES');
  });

  it('stops at the size cap', async () => {
    const err = await listSource(root, { maxBytes: 1000, maxFiles: 1000 }).catch((e: unknown) => e);
    expect((err as PermanentError).userMessage()).toContain('BATON_MAX_SOURCE_BYTES');
  });
});
