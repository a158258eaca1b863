import type { SourceReader } from '../../shared/domain/analysis/schema.js';

/** A reader over an in-memory folder: every path listed, every content loaded. */
export function reader(files: Record<string, string>): SourceReader {
  return { paths: Object.keys(files), read: (p) => files[p] ?? null };
}
