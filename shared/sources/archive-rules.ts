import { posix } from 'node:path';
import type { ArchiveLimits } from './archive-reader.js';

/** An entry the reader will not unpack, and why. */
export interface ArchiveProblem {
  path: string;
  problem: string;
}

/**
 * An archive refused: `too_large` for a cap (413 at upload), `invalid` for the rest (400). The
 * message names what was found, the fix what to upload instead.
 */
export class ArchiveRefused extends Error {
  override readonly name = 'ArchiveRefused';
  constructor(
    readonly kind: 'too_large' | 'invalid',
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }

  static forProblems(problems: ArchiveProblem[]): ArchiveRefused {
    const shown = problems.slice(0, 5).map((p) => `${JSON.stringify(p.path)} ${p.problem}`);
    const more = problems.length > 5 ? ` and ${problems.length - 5} more` : '';
    return new ArchiveRefused(
      'invalid',
      `The archive holds ${problems.length === 1 ? 'an entry' : `${problems.length} entries`} Baton will not unpack: ${shown.join('; ')}${more}`,
      'Upload an archive of plain files and folders with relative paths (symbolic links may point only inside it; no hard links, devices or pipes)',
    );
  }

  userMessage(): string {
    return `${this.message}. ${this.fix}`;
  }
}

export function limitProblem(which: 'entries' | 'bytes' | 'ratio', limits: ArchiveLimits): ArchiveRefused {
  switch (which) {
    case 'entries':
      return new ArchiveRefused(
        'too_large',
        `The archive holds more than ${limits.maxEntries} entries`,
        'Upload a smaller archive (leave node_modules and build output out), or raise BATON_MAX_SOURCE_FILES',
      );
    case 'bytes':
      return new ArchiveRefused(
        'too_large',
        `The archive unpacks to more than ${Math.round(limits.maxBytes / 1048576)} MiB`,
        'Upload a smaller archive, or raise BATON_MAX_SOURCE_BYTES',
      );
    case 'ratio':
      return new ArchiveRefused(
        'too_large',
        `The archive unpacks to more than ${limits.maxRatio} times its own size (a compression bomb?)`,
        'Upload the source itself, or raise BATON_MAX_ARCHIVE_RATIO',
      );
  }
}

/**
 * The entry's path as it will be written below the root ('/'-separated, no leading "./"), or null
 * with a problem recorded: absolute, "..", a drive letter, a backslash, a NUL, or too long.
 */
export function checkEntryPath(raw: string, problems: ArchiveProblem[]): string | null {
  const path = raw.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  const refuse = (problem: string) => {
    problems.push({ path: raw, problem });
    return null;
  };
  if (path === '' || path === '.') return raw === './' || raw === '.' ? null : refuse('has an empty name');
  if (path.length > 1024) return refuse('has a path longer than 1024 characters');
  if (path.includes('\0')) return refuse('has a NUL in its name');
  if (path.includes('\\')) return refuse('has a backslash in its name');
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return refuse('has an absolute path');
  if (path.split('/').some((p) => p === '..')) return refuse('has ".." in its path (it would land outside the folder)');
  return posix.normalize(path);
}

/**
 * A link's target read lexically from where the link sits: absolute or leading above the root is
 * refused. (What is on disk is checked again hop by hop after unpacking: a link through another
 * link can still leave the root.)
 */
export function checkLinkTarget(path: string, target: string, problems: ArchiveProblem[]): boolean {
  if (target === '' || target.includes('\0')) {
    problems.push({ path, problem: 'is a symbolic link with no target' });
    return false;
  }
  if (posix.isAbsolute(target)) {
    problems.push({ path, problem: `is a symbolic link to ${target}, an absolute path` });
    return false;
  }
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  if (resolved === '..' || resolved.startsWith('../')) {
    problems.push({ path, problem: `is a symbolic link to ${target}, outside the archive` });
    return false;
  }
  return true;
}
