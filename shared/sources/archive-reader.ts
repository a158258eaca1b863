import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { type ArchiveProblem, ArchiveRefused, checkEntryPath, checkLinkTarget, limitProblem } from './archive-rules.js';

/**
 * One reader for uploaded .tar.gz and .zip archives, used twice: at upload (no sink: every entry
 * is read and thrown away, to refuse a bad archive with a 4xx before anything is queued) and when
 * the source is prepared (a sink writes the entries to disk). Everything streams: the caps on
 * entries, unpacked bytes and ratio are enforced while reading, on the bytes actually inflated
 * as well as on the sizes the headers declare, so a gzip bomb stops at the cap and never sits in
 * memory, and a 100,000-entry archive stops at the entry cap without holding the event loop.
 */

export interface ArchiveLimits {
  maxEntries: number;
  /** Unpacked bytes, all entries together. */
  maxBytes: number;
  /** Unpacked bytes over the archive's bytes, checked once past RATIO_FLOOR unpacked. */
  maxRatio: number;
}

/** BATON_MAX_SOURCE_FILES, BATON_MAX_SOURCE_BYTES and BATON_MAX_ARCHIVE_RATIO's defaults. */
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxEntries: 20_000, maxBytes: 50 * 1024 * 1024, maxRatio: 200 };

/** Below this many unpacked bytes the ratio is not checked: a small text file compresses well. */
export const RATIO_FLOOR = 8 * 1024 * 1024;

export interface ArchiveSink {
  directory(path: string, mode: number): Promise<void>;
  file(path: string, mode: number, content: Readable): Promise<void>;
  /** Called after every file and folder, so nothing is ever written through a link. */
  symlink(path: string, target: string): Promise<void>;
}

export interface ArchiveSummary {
  entries: number;
  files: number;
  symlinks: number;
  /** Unpacked bytes of the files. */
  bytes: number;
}

type Kind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'device' | 'fifo' | 'socket' | 'other';

/** What both formats feed the rules with, one entry at a time. */
class Tally {
  entries = 0;
  files = 0;
  bytes = 0;
  readonly problems: ArchiveProblem[] = [];
  readonly links: { path: string; target: string }[] = [];
  private readonly seen = new Map<string, Kind>();

  constructor(
    readonly limits: ArchiveLimits,
    private readonly compressed: number,
  ) {}

  /** Counts an entry and says whether its content is wanted; throws at a cap. */
  enter(rawPath: string, kind: Kind, declaredSize: number): string | null {
    this.entries++;
    if (this.entries > this.limits.maxEntries) throw limitProblem('entries', this.limits);
    const path = checkEntryPath(rawPath, this.problems);
    if (path === null) return null;
    if (kind !== 'file' && kind !== 'directory' && kind !== 'symlink') {
      this.problems.push({ path, problem: describeKind(kind) });
      return null;
    }
    for (const [other, otherKind] of [...ancestors(path)].map((a) => [a, this.seen.get(a)] as const)) {
      if (otherKind === 'symlink' || otherKind === 'file') {
        this.problems.push({ path, problem: `lies under ${other}, which the archive makes a ${otherKind === 'file' ? 'file' : 'link'}` });
        return null;
      }
    }
    const before = this.seen.get(path);
    if (before && !(before === 'directory' && kind === 'directory')) {
      this.problems.push({ path, problem: 'appears twice in the archive' });
      return null;
    }
    this.seen.set(path, kind);
    if (kind === 'file') {
      this.files++;
      this.count(declaredSize);
    }
    return path;
  }

  count(bytes: number): void {
    this.bytes += bytes;
    if (this.bytes > this.limits.maxBytes) throw limitProblem('bytes', this.limits);
  }

  /**
   * Inflated bytes of the whole stream against the caps: at most the files' bytes plus a header
   * and padding per entry (a stream inflating past that holds more than its tar), and the ratio.
   */
  inflated(total: number): void {
    if (total > this.limits.maxBytes + this.limits.maxEntries * 1024 + 1024 * 1024) throw limitProblem('bytes', this.limits);
    if (total > RATIO_FLOOR && total / Math.max(1, this.compressed) > this.limits.maxRatio) throw limitProblem('ratio', this.limits);
  }

  link(path: string, target: string): void {
    if (checkLinkTarget(path, target, this.problems)) this.links.push({ path, target });
  }

  summary(): ArchiveSummary {
    if (this.problems.length > 0) throw ArchiveRefused.forProblems(this.problems);
    if (this.files === 0) throw new ArchiveRefused('invalid', 'The archive holds no files', 'Upload an archive of the service folder');
    return { entries: this.entries, files: this.files, symlinks: this.links.length, bytes: this.bytes };
  }
}

function* ancestors(path: string): Generator<string> {
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) yield parts.slice(0, i).join('/');
}

function describeKind(kind: Kind): string {
  switch (kind) {
    case 'hardlink':
      return 'is a hard link';
    case 'device':
      return 'is a device file';
    case 'fifo':
      return 'is a named pipe';
    case 'socket':
      return 'is a socket';
    default:
      return 'is neither a file, a folder nor a symbolic link';
  }
}

/**
 * Reads an archive, checking every entry; with a sink, writes them. Throws ArchiveRefused
 * (with every refused entry named, up to a few) for anything it will not unpack.
 */
export async function readArchive(
  data: Buffer,
  format: 'tar.gz' | 'zip',
  limits: ArchiveLimits,
  sink?: ArchiveSink,
): Promise<ArchiveSummary> {
  const tally = new Tally(limits, data.length);
  if (format === 'zip') await readZip(data, tally, sink);
  else await readTarGz(data, tally, sink);
  const summary = tally.summary();
  if (sink) for (const link of tally.links) await sink.symlink(link.path, link.target);
  return summary;
}

function tarKind(type: string): Kind {
  switch (type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return 'file';
    case 'Directory':
    case 'GNUDumpDir':
      return 'directory';
    case 'SymbolicLink':
      return 'symlink';
    case 'Link':
      return 'hardlink';
    case 'CharacterDevice':
    case 'BlockDevice':
      return 'device';
    case 'FIFO':
      return 'fifo';
    default:
      return 'other';
  }
}

async function readTarGz(data: Buffer, tally: Tally, sink?: ArchiveSink): Promise<void> {
  const writes: Promise<void>[] = [];
  let failure: unknown = null;
  const fail = (err: unknown) => {
    failure ??= err;
  };
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      try {
        const kind = tarKind(entry.type);
        const path = failure === null ? tally.enter(entry.path, kind, entry.size ?? 0) : null;
        if (path === null) {
          entry.resume();
          return;
        }
        if (kind === 'symlink') {
          tally.link(path, entry.linkpath ?? '');
          entry.resume();
        } else if (kind === 'directory') {
          entry.resume();
          if (sink) writes.push(sink.directory(path, entry.mode ?? 0o755).catch(fail));
        } else if (sink) {
          writes.push(sink.file(path, entry.mode ?? 0o644, Readable.from(entry as unknown as AsyncIterable<Buffer>)).catch(fail));
        } else entry.resume();
      } catch (err) {
        fail(err);
        entry.resume();
      }
    },
  });
  let inflated = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      inflated += chunk.length;
      try {
        tally.inflated(inflated);
        if (failure) throw failure;
      } catch (err) {
        done(err as Error);
        return;
      }
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.from([data]), createGunzip(), counter, parser as unknown as NodeJS.WritableStream);
  } catch (err) {
    fail(err);
  }
  await Promise.all(writes);
  if (failure !== null) throw asRefusal(failure);
}

function zipKind(entry: Entry): Kind {
  const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
  const madeOnUnix = entry.versionMadeBy >> 8 === 3;
  if (!madeOnUnix || mode === 0) return entry.fileName.endsWith('/') ? 'directory' : 'file';
  switch (mode) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'directory';
    case 0o120000:
      return 'symlink';
    case 0o020000:
    case 0o060000:
      return 'device';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    default:
      return 'other';
  }
}

function openZip(data: Buffer): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    // yauzl refuses absolute paths, ".." and backslashes itself (strictFileNames), and checks
    // that each entry inflates to the size its header declares (validateEntrySizes).
    yauzl.fromBuffer(data, { lazyEntries: true, validateEntrySizes: true, strictFileNames: true, decodeStrings: true }, (err, zip) =>
      err ? reject(err) : resolve(zip),
    );
  });
}

async function readZip(data: Buffer, tally: Tally, sink?: ArchiveSink): Promise<void> {
  let zip: ZipFile;
  try {
    zip = await openZip(data);
  } catch (err) {
    throw asRefusal(err);
  }
  // The central directory's count is known before any entry is read.
  if (zip.entryCount > tally.limits.maxEntries) throw limitProblem('entries', tally.limits);
  try {
    for await (const entry of zip.eachEntry()) {
      const kind = zipKind(entry);
      if (entry.isEncrypted())
        throw new ArchiveRefused('invalid', `${entry.fileName} is encrypted`, 'Upload an archive without a password');
      const path = tally.enter(entry.fileName, kind, entry.uncompressedSize);
      if (path === null || kind === 'directory') {
        if (path !== null && sink) await sink.directory(path, 0o755);
        continue;
      }
      if (!entry.canDecodeFileData())
        throw new ArchiveRefused('invalid', `${entry.fileName} uses a compression method Baton cannot unpack`, 'Zip it with deflate');
      const stream = await zip.openReadStreamPromise(entry);
      if (kind === 'symlink') {
        tally.link(path, await readSmall(stream, 4096));
        continue;
      }
      let total = 0;
      const counted = stream.pipe(
        new Transform({
          transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback) {
            total += chunk.length;
            // validateEntrySizes refuses a mismatch only at the end: stop a liar as soon as it passes its declared size.
            if (total > entry.uncompressedSize)
              done(new ArchiveRefused('invalid', `${path} inflates past the size it declares`, 'Upload a valid archive'));
            else done(null, chunk);
          },
        }),
      );
      stream.on('error', (err: Error) => counted.destroy(err));
      const mode = (entry.externalFileAttributes >>> 16) & 0o777;
      if (sink) await sink.file(path, mode || 0o644, counted);
      else await pipeline(counted, new Transform({ transform: (_c, _e, done) => done() }));
    }
  } catch (err) {
    throw asRefusal(err);
  } finally {
    zip.close();
  }
}

async function readSmall(stream: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      stream.destroy();
      throw new ArchiveRefused('invalid', 'a symbolic link target is longer than 4 KiB', 'Upload a valid archive');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function asRefusal(err: unknown): unknown {
  if (err instanceof ArchiveRefused) return err;
  const code = (err as { code?: unknown }).code;
  // An error of the file system while writing is the machine's, not the archive's.
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ArchiveRefused(
    'invalid',
    `The archive cannot be read: ${message.split('\n')[0]?.slice(0, 200)}`,
    'Upload a valid .tar.gz or .zip',
  );
}
