import { createWriteStream } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { refuseEscapingLink } from '../adapters/local/archive.js';
import { type ArchiveLimits, type ArchiveSummary, readArchive } from './archive-reader.js';

/**
 * Unpacks an uploaded archive into `dest` (which must not exist yet or be empty) through the same
 * reader the upload was checked with. Files are created exclusively (never through an existing
 * entry), links only after every file, and each link is then followed hop by hop on disk.
 */
export async function extractArchive(data: Buffer, format: 'tar.gz' | 'zip', dest: string, limits: ArchiveLimits): Promise<ArchiveSummary> {
  await mkdir(dest, { recursive: true, mode: 0o700 });
  const links: string[] = [];
  const summary = await readArchive(data, format, limits, {
    directory: async (path, mode) => {
      await mkdir(join(dest, path), { recursive: true, mode: (mode & 0o755) | 0o700 });
    },
    file: async (path, mode, content: Readable) => {
      const target = join(dest, path);
      await mkdir(dirname(target), { recursive: true, mode: 0o755 });
      await pipeline(content, createWriteStream(target, { flags: 'wx', mode: (mode & 0o755) | 0o600 }));
    },
    symlink: async (path, target) => {
      await mkdir(dirname(join(dest, path)), { recursive: true, mode: 0o755 });
      await symlink(target, join(dest, path));
      links.push(path);
    },
  });
  for (const link of links) await refuseEscapingLink(dest, link);
  return summary;
}
