import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Caps, listSource } from '../adapters/local/archive.js';
import { type SourceReader, wantsContent } from '../domain/analysis/schema.js';
import { type ArchiveLimits, readArchive } from './archive-reader.js';

/** At most this much text is loaded for analysis and the lint, whatever the source's size. */
const CONTENT_BUDGET = 8 * 1024 * 1024;

function memoryReader(paths: string[], contents: Map<string, string>): SourceReader {
  return { paths, read: (p) => contents.get(p) ?? null };
}

/**
 * A folder as analysis reads it: every file its ignore files keep (node_modules and .git
 * skipped, as the build copies it), with the contents analysis wants (wantsContent) loaded.
 */
export async function folderReader(root: string, caps: Caps): Promise<SourceReader> {
  const { files } = await listSource(root, caps, { ignoreFiles: true });
  const contents = new Map<string, string>();
  let budget = CONTENT_BUDGET;
  for (const file of files) {
    const info = await stat(join(root, file)).catch(() => null);
    if (!info?.isFile() || !wantsContent(file, info.size) || info.size > budget) continue;
    budget -= info.size;
    contents.set(file, await readFile(join(root, file), 'utf8'));
  }
  return memoryReader(files, contents);
}

/** An uploaded archive read once through (all its caps applied), keeping the wanted contents, writing nothing. */
export async function archiveSourceReader(data: Buffer, format: 'tar.gz' | 'zip', limits: ArchiveLimits): Promise<SourceReader> {
  const paths: string[] = [];
  const contents = new Map<string, string>();
  let budget = CONTENT_BUDGET;
  await readArchive(data, format, limits, {
    directory: async () => undefined,
    file: async (path, _mode, content) => {
      paths.push(path);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of content as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size <= 256 * 1024) chunks.push(chunk);
      }
      if (wantsContent(path, size) && size <= budget) {
        budget -= size;
        contents.set(path, Buffer.concat(chunks).toString('utf8'));
      }
    },
    symlink: async (path) => {
      paths.push(path);
    },
  });
  return memoryReader(paths.sort(), contents);
}
