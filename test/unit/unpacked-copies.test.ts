import { cpSync, existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listSource, packTarGz, sha256File } from '../../shared/adapters/local/archive.js';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { UnpackedCopies } from '../../shared/adapters/local/unpacked.js';
import { TempDirs, writeFiles } from '../contract/suites/util.js';

const temp = new TempDirs();
afterEach(() => temp.removeAll());

describe('UnpackedCopies: one digest’s parked folder', () => {
  // Seen in the crash test's burst of identical apps: a revision started without its package.json.
  // Without the per-digest order this test failed in 8–9 rounds of 60 (measured twice on a quiet machine).
  it('a revision claiming it while a second build of that digest parks its own folder always gets a whole folder', async () => {
    const root = temp.make('unpacked');
    const blobs = new FolderBlobStore(join(root, 'blobs'));
    const src = join(root, 'src');
    const files = Array.from({ length: 400 }, (_, i) => [`node_modules/dep/f${i}.js`, `module.exports = ${i};\n`]);
    writeFiles(src, { 'package.json': '{"name":"app"}', ...Object.fromEntries(files) });
    const tgz = join(root, 'a.tar.gz');
    await packTarGz(src, (await listSource(src, { maxBytes: 1e9, maxFiles: 1e6 }, { skip: new Set() })).entries, tgz);
    const digest = await sha256File(tgz);
    const artifact = { ref: `artifacts/sha256/${digest}.tar.gz`, digest: `sha256:${digest}` };
    await blobs.put(artifact.ref, await readFile(tgz));
    const copies = new UnpackedCopies(join(root, 'unpacked'), blobs);
    const broken: string[] = [];
    for (let round = 0; round < 60; round++) {
      const first = join(root, `build-${round}-a`);
      cpSync(src, first, { recursive: true });
      const parked = await copies.adopt(artifact, first);
      expect(parked).not.toBeNull();
      const second = join(root, `build-${round}-b`);
      cpSync(src, second, { recursive: true });
      const dir = join(root, 'revisions', `r${round}`);
      const park = new Promise((r) => setTimeout(r, (round % 20) / 4)).then(() => copies.adopt(artifact, second));
      const [prepared] = await Promise.all([copies.prepare(artifact, dir, null, parked, null), park]);
      expect('dir' in prepared, JSON.stringify(prepared)).toBe(true);
      const whole = existsSync(join(dir, 'package.json')) && readdirSync(join(dir, 'node_modules/dep')).length === files.length;
      if (!whole) broken.push(`round ${round}`);
    }
    expect(broken).toEqual([]);
  }, 60_000);
});
