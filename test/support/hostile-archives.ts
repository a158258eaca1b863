import { gzipSync } from 'node:zlib';
import { zipSync } from 'fflate';

/**
 * Archives built byte by byte, so a test can hold what no well-behaved tool writes: "..", absolute
 * names, devices, hard links, headers that lie. Tar entries are ustar headers with a correct
 * checksum; zips come from fflate with the Unix mode set in the external attributes.
 */

export interface TarEntry {
  path: string;
  /** ustar type flag: '0' file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' folder, '6' FIFO. */
  type?: string;
  content?: Buffer | string;
  linkpath?: string;
  mode?: number;
  /** A size to write in the header instead of the content's (only for entries with no content). */
  size?: number;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

export function tarHeader(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.path, 0, 100, 'utf8');
  h.write(octal(e.mode ?? 0o644, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(0, 12), 136);
  h.write('        ', 148);
  h.write(e.type ?? '0', 156);
  if (e.linkpath) h.write(e.linkpath, 157, 100, 'utf8');
  h.write('ustar\x0000', 257, 'binary');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'binary');
  return h;
}

/** A raw (uncompressed) tar of the entries, with the end-of-archive blocks. */
export function rawTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const content = e.content === undefined ? Buffer.alloc(0) : Buffer.from(e.content);
    parts.push(tarHeader(e, e.size ?? content.length), content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function tarGz(entries: TarEntry[]): Buffer {
  return gzipSync(rawTar(entries));
}

/** `count` empty files, a.k.a. the archive that once held /health for 9 s. */
export function manyEntriesTarGz(count: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) parts.push(tarHeader({ path: `f/${i}.txt` }, 0));
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts), { level: 1 });
}

/** A tar.gz of one file of `bytes` zeros: gzip's ratio on zeros is ~1000, so 1 GiB packs to ~1 MiB. */
export function zerosTarGz(bytes: number): Buffer {
  const header = tarHeader({ path: 'zeros.bin' }, bytes);
  const chunk = Buffer.alloc(1024 * 1024);
  const parts: Buffer[] = [header];
  for (let left = bytes; left > 0; left -= chunk.length) parts.push(left >= chunk.length ? chunk : chunk.subarray(0, left));
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts), { level: 9 });
}

export interface ZipEntry {
  path: string;
  content?: Buffer | string;
  /** Unix mode including the file type bits (0o100644 file, 0o120777 link, 0o020644 device). */
  mode?: number;
}

export function zip(entries: ZipEntry[]): Buffer {
  const files: Record<string, [Uint8Array, { os: number; attrs: number }]> = {};
  for (const e of entries) {
    const data = typeof e.content === 'string' ? new TextEncoder().encode(e.content) : new Uint8Array(e.content ?? []);
    files[e.path] = [data, { os: 3, attrs: ((e.mode ?? 0o100644) << 16) >>> 0 }];
  }
  return Buffer.from(zipSync(files, { level: 6 }));
}
