import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { type ArchiveLimits, readArchive } from '../../shared/sources/archive-reader.js';
import { ArchiveRefused } from '../../shared/sources/archive-rules.js';
import { extractArchive } from '../../shared/sources/extract.js';
import { manyEntriesTarGz, rawTar, tarGz, zerosTarGz, zip } from '../support/hostile-archives.js';

const LIMITS: ArchiveLimits = { maxEntries: 1000, maxBytes: 1024 * 1024, maxRatio: 50 };
const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'baton-archive-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<ArchiveRefused> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ArchiveRefused);
  return err as ArchiveRefused;
}

const app = { path: 'package.json', content: '{"name":"app"}' };

/** Both formats for the cases both can hold. */
const both = (entries: { path: string; content?: string; mode?: number }[]) => ({
  'tar.gz': tarGz(
    entries
      .map((e) => ({
        path: e.path,
        content: e.content,
        type: e.mode && (e.mode & 0o170000) === 0o120000 ? '2' : undefined,
        linkpath: e.mode && (e.mode & 0o170000) === 0o120000 ? e.content : undefined,
      }))
      .map((e) => (e.type === '2' ? { ...e, content: undefined } : e)),
  ),
  zip: zip(entries),
});

describe('readArchive: what it accepts', () => {
  for (const format of ['tar.gz', 'zip'] as const) {
    it(`${format}: unpacks files, folders, modes and a link inside the folder`, async () => {
      const data = both([
        app,
        { path: 'src/index.js', content: 'console.log(1)\n' },
        { path: 'bin/run', content: '#!/bin/sh\n', mode: 0o100755 },
        { path: 'README', content: 'src/index.js', mode: 0o120777 },
      ])[format];
      const dest = join(temp(), 'out');
      const summary = await extractArchive(data, format, dest, LIMITS);
      expect(summary).toMatchObject({ files: 3, symlinks: 1 });
      expect(readFileSync(join(dest, 'src/index.js'), 'utf8')).toBe('console.log(1)\n');
      expect(readlinkSync(join(dest, 'README'))).toBe('src/index.js');
      if (format === 'zip') expect(lstatSync(join(dest, 'bin/run')).mode & 0o111).not.toBe(0);
    });
  }

  it('checking alone writes nothing and says what it found', async () => {
    expect(await readArchive(tarGz([app, { path: 'a/', type: '5' }]), 'tar.gz', LIMITS)).toEqual({
      entries: 2,
      files: 1,
      symlinks: 0,
      bytes: app.content.length,
    });
  });
});

describe('readArchive: hostile archives', () => {
  it('a path with ".." is refused, named', async () => {
    for (const format of ['tar.gz', 'zip'] as const) {
      const data = format === 'zip' ? zip([app, { path: 'a/../../evil', content: 'x' }]) : tarGz([app, { path: '../evil', content: 'x' }]);
      const err = await refusal(readArchive(data, format, LIMITS));
      expect(err.kind).toBe('invalid');
      expect(err.message).toMatch(/evil/);
    }
  });

  it('an absolute path is refused', async () => {
    const err = await refusal(readArchive(tarGz([app, { path: '/etc/cron.d/x', content: 'x' }]), 'tar.gz', LIMITS));
    expect(err.message).toContain('/etc/cron.d/x');
    await refusal(readArchive(zip([app, { path: '/etc/x', content: 'x' }]), 'zip', LIMITS));
  });

  it('a symbolic link out of the folder (absolute or by "..") is refused, not dropped', async () => {
    const abs = await refusal(readArchive(tarGz([app, { path: 'l', type: '2', linkpath: '/etc/passwd' }]), 'tar.gz', LIMITS));
    expect(abs.message).toContain('"l" is a symbolic link to /etc/passwd');
    const up = await refusal(readArchive(zip([app, { path: 'a/l', content: '../../x', mode: 0o120777 }]), 'zip', LIMITS));
    expect(up.message).toContain('outside the archive');
  });

  it('a link through another link that leaves the folder is refused once on disk', async () => {
    // Each is inside lexically: d -> . and e -> d/.. ; on disk e resolves to the folder's parent.
    const data = tarGz([app, { path: 'd', type: '2', linkpath: '.' }, { path: 'e', type: '2', linkpath: 'd/..' }]);
    await expect(extractArchive(data, 'tar.gz', join(temp(), 'out'), LIMITS)).rejects.toThrow(/outside the folder/);
  });

  it('an entry written through a link of the same archive is refused', async () => {
    const data = tarGz([app, { path: 'l', type: '2', linkpath: 'sub' }, { path: 'l/x', content: 'x' }]);
    expect((await refusal(readArchive(data, 'tar.gz', LIMITS))).message).toContain('lies under l');
  });

  it('hard links, devices and pipes are refused, each named', async () => {
    const data = tarGz([
      app,
      { path: 'hard', type: '1', linkpath: 'package.json' },
      { path: 'tty', type: '3' },
      { path: 'disk', type: '4' },
      { path: 'pipe', type: '6' },
    ]);
    const err = await refusal(readArchive(data, 'tar.gz', LIMITS));
    expect(err.message).toContain('4 entries');
    for (const s of ['"hard" is a hard link', '"tty" is a device file', '"disk" is a device file', '"pipe" is a named pipe'])
      expect(err.message).toContain(s);
    const z = await refusal(readArchive(zip([app, { path: 'dev', mode: 0o020644 }, { path: 'fifo', mode: 0o010644 }]), 'zip', LIMITS));
    expect(z.message).toContain('"dev" is a device file');
    expect(z.message).toContain('"fifo" is a named pipe');
  });

  it('a duplicate entry is refused', async () => {
    await refusal(readArchive(tarGz([app, { path: 'a', content: '1' }, { path: 'a', content: '2' }]), 'tar.gz', LIMITS));
  });

  it('more entries than the cap stop at the cap (413), without reading the rest', async () => {
    const err = await refusal(readArchive(manyEntriesTarGz(5000), 'tar.gz', LIMITS));
    expect(err.kind).toBe('too_large');
    expect(err.message).toContain('more than 1000 entries');
    const files = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`f${i}`, 'x']));
    await expect(readArchive(zip(Object.entries(files).map(([path, content]) => ({ path, content }))), 'zip', LIMITS)).rejects.toThrow(
      /more than 1000 entries/,
    );
  });

  it('a gzip bomb (a header declaring more than the cap) is refused at its header', async () => {
    const bomb = zerosTarGz(64 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(200 * 1024);
    const err = await refusal(readArchive(bomb, 'tar.gz', { ...LIMITS, maxBytes: 32 * 1024 * 1024, maxRatio: 1e6 }));
    expect(err.message).toContain('more than 32 MiB');
  });

  it('a stream that inflates past the tar it holds is stopped by the ratio while inflating', async () => {
    // A valid tiny tar, then 16 MiB of zeros the tar parser would skip after its end blocks.
    const data = gzipSync(Buffer.concat([rawTar([app]), Buffer.alloc(16 * 1024 * 1024)]), { level: 9 });
    const err = await refusal(readArchive(data, 'tar.gz', { ...LIMITS, maxBytes: 1e9 }));
    expect(err.message).toContain('more than 50 times its own size');
  });

  it('a zip declaring a size over the cap is refused before inflating; one lying about its size stops at what it declared', async () => {
    const big = zip([app, { path: 'zeros', content: Buffer.alloc(2 * 1024 * 1024).toString() }]);
    expect((await refusal(readArchive(big, 'zip', LIMITS))).message).toContain('more than 1 MiB');
    const liar = Buffer.from(zip([app, { path: 'zeros', content: Buffer.alloc(512 * 1024).toString() }]));
    // Make the zeros' headers (local and central) declare 10 bytes.
    for (let i = 0; i + 4 < liar.length; i++) {
      const sig = liar.readUInt32LE(i);
      if (sig === 0x04034b50 && liar.readUInt32LE(i + 22) === 512 * 1024) liar.writeUInt32LE(10, i + 22);
      if (sig === 0x02014b50 && liar.readUInt32LE(i + 24) === 512 * 1024) liar.writeUInt32LE(10, i + 24);
    }
    expect((await refusal(readArchive(liar, 'zip', LIMITS))).message).toMatch(/too many bytes|past the size/);
  });

  it('bytes that are not an archive are a 400 naming the problem', async () => {
    expect((await refusal(readArchive(Buffer.from('hello'), 'tar.gz', LIMITS))).message).toContain('cannot be read');
    expect((await refusal(readArchive(Buffer.from('hello'), 'zip', LIMITS))).message).toContain('cannot be read');
    expect((await refusal(readArchive(tarGz([{ path: 'empty/', type: '5' }]), 'tar.gz', LIMITS))).message).toContain('no files');
  });

  it('lets other work run while it reads: timers set meanwhile fire before a 20,000-entry archive is through', async () => {
    const data = manyEntriesTarGz(20_000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      await readArchive(data, 'tar.gz', { maxEntries: 100_000, maxBytes: 1e9, maxRatio: 1e6 });
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(2);
  });
});
