import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeIam } from './iam.js';

/**
 * An in-process stand-in for the Cloud Storage JSON API, for the subset `@google-cloud/storage`
 * uses on a bucket's objects: simple (`uploadType=media`), multipart and resumable uploads under
 * /upload/storage/v1/b/{b}/o, metadata GET, media download (`alt=media`, with `x-goog-hash`),
 * list with `prefix` (paginated: `maxResults`/`pageToken`), DELETE, and compose
 * (POST /storage/v1/b/{b}/o/{dest}/compose, at most 32 sources, `componentCount` capped at 1,024
 * as on GCS). Objects carry a generation (no versioning: only the live one exists, so naming an
 * older `generation` on a read or a compose source is a 404); `ifGenerationMatch` (0: must not
 * exist) and `ifMetagenerationMatch` are honoured on writes, compose, delete and reads, and a
 * source's `objectPreconditions.ifGenerationMatch` in compose. Every object resource carries
 * `crc32c` (and `md5Hash`, except composite objects, as on GCS), and downloads `x-goog-hash`,
 * computed here, so the client's integrity checks really run.
 * Every request is recorded in `requests`. A permission revoked through `iam`
 * (`storage.objects.create|get|list|delete`) is refused before anything else with GCS's 403 JSON
 * body: reason `forbidden` and the message "<principal> does not have <permission> access to the
 * Google Cloud Storage object. Permission '<permission>' denied on resource (or it may not exist).".
 *
 * What it does NOT prove: authentication and IAM (the client skips auth for a custom endpoint);
 * rate limits (one write per second per object name, 429/503 and the client's retries); eventual
 * behaviours and real latencies; gzip downloads and multi-range or suffix (`bytes=-N`) ranges (a
 * single `bytes=a-b` / `bytes=a-` range is served: 206, or 416 from the end on), ACLs, object metadata beyond
 * contentType, versioning, lifecycle rules, retention; resumable uploads interrupted and resumed
 * across processes; exact error texts. Requests are served one at a time on one event loop, so
 * operations are atomic here in a way GCS does not promise: cross-instance races are proved only
 * through the preconditions above, not by true concurrency. A query parameter it does not know is
 * refused (400) rather than ignored, so a test never passes by silently skipping a precondition.
 */

export interface FakeObject {
  name: string;
  data: Buffer;
  generation: number;
  metageneration: number;
  contentType: string;
  /** Set on composite objects: the number of components, at most `maxComponents`. */
  componentCount?: number;
  timeCreated: string;
  updated: string;
}

export type RequestKind = 'upload' | 'upload-init' | 'upload-chunk' | 'download' | 'metadata' | 'list' | 'delete' | 'compose' | 'other';

export interface RecordedStorageRequest {
  method: string;
  /** Decoded path, e.g. /storage/v1/b/bucket/o/logs/a.log */
  path: string;
  query: Record<string, string>;
  kind: RequestKind;
  bucket?: string;
  /** The object the request names (for an upload, the `name` parameter; for compose, the destination). */
  object?: string;
  bodyBytes: number;
  status: number;
  /** When the request arrived (ms since epoch). */
  at: number;
}

export interface FakeStorageOptions {
  buckets?: string[];
  /** Items per list page when the request does not ask for fewer (GCS: 1,000). */
  pageSize?: number;
  /** Most components a composite object may have (GCS: 1,024). */
  maxComponents?: number;
  /** The identity named in a 403 (the caller's service account on GCS). */
  principal?: string;
}

interface UploadSession {
  bucket: string;
  name: string;
  contentType: string;
  query: Record<string, string>;
  chunks: Buffer[];
  received: number;
  done?: FakeObject;
}

/**
 * A `Range: bytes=a-b` / `bytes=a-` header against an object of `size` bytes: the inclusive byte
 * range to send, null for no Range header; a start at or past the end is 416, as GCS answers it
 * ("The requested range cannot be satisfied").
 */
function rangeOf(header: string | undefined, size: number): [number, number] | null {
  if (header === undefined) return null;
  const m = /^bytes=(\d+)-(\d*)$/.exec(header);
  if (!m) throw new HttpError(400, `unsupported Range ${header}`, 'invalid');
  const start = Number(m[1]);
  if (start >= size) throw new HttpError(416, 'The requested range cannot be satisfied.', 'requestedRangeNotSatisfiable');
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (end < start) throw new HttpError(416, 'The requested range cannot be satisfied.', 'requestedRangeNotSatisfiable');
  return [start, end];
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

const KNOWN_QUERY = new Set([
  'alt',
  'uploadType',
  'name',
  'upload_id',
  'generation',
  'prefix',
  'pageToken',
  'maxResults',
  'ifGenerationMatch',
  'ifMetagenerationMatch',
  'projection',
  'userProject',
  'autoPaginate',
  'versions',
  'includeFoldersAsPrefixes',
]);

export class FakeStorageServer {
  readonly requests: RecordedStorageRequest[] = [];
  readonly iam = new FakeIam();
  private readonly principal: string;
  private readonly buckets = new Map<string, Map<string, FakeObject>>();
  private readonly sessions = new Map<string, UploadSession>();
  private nextGeneration = 1_700_000_000_000_000;
  private readonly pageSize: number;
  private readonly maxComponents: number;

  private constructor(
    private readonly server: Server,
    options: FakeStorageOptions,
  ) {
    this.pageSize = options.pageSize ?? 1000;
    this.maxComponents = options.maxComponents ?? 1024;
    this.principal = options.principal ?? 'baton-functions@baton-project.iam.gserviceaccount.com';
    for (const b of options.buckets ?? []) this.createBucket(b);
  }

  static async start(options: FakeStorageOptions = {}): Promise<FakeStorageServer> {
    let fake: FakeStorageServer | undefined;
    const server = createServer((req, res) => {
      void fake?.handle(req, res);
    });
    fake = new FakeStorageServer(server, options);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** The base URL to give the client as `apiEndpoint` (BATON_STORAGE_ENDPOINT). */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  createBucket(name: string): void {
    if (!this.buckets.has(name)) this.buckets.set(name, new Map());
  }

  object(bucket: string, name: string): FakeObject | undefined {
    return this.buckets.get(bucket)?.get(name);
  }

  objectNames(bucket: string): string[] {
    return [...(this.buckets.get(bucket)?.keys() ?? [])].sort();
  }

  /** Writes an object directly, as another process would: a new generation. */
  writeObject(bucket: string, name: string, data: Buffer | string, contentType = 'application/octet-stream'): FakeObject {
    return this.store(bucket, name, Buffer.from(data), contentType, undefined);
  }

  /** Deletes an object directly, as another process would. */
  deleteObject(bucket: string, name: string): void {
    this.buckets.get(bucket)?.delete(name);
  }

  /** Requests of the given kinds, in order. */
  requestsOf(...kinds: RequestKind[]): RecordedStorageRequest[] {
    return this.requests.filter((r) => kinds.includes(r.kind));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    const body = await readBody(req);
    const record: RecordedStorageRequest = {
      method: req.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      query,
      kind: 'other',
      bodyBytes: body.length,
      status: 0,
      at: Date.now(),
    };
    this.requests.push(record);
    try {
      for (const k of Object.keys(query)) {
        if (!KNOWN_QUERY.has(k)) throw new HttpError(400, `the fake does not implement the query parameter ${k}`, 'invalid');
      }
      this.checkPermission(req.method ?? 'GET', url.pathname);
      this.route(req, res, url, query, body, record);
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, err instanceof Error ? err.message : String(err), 'backendError');
      record.status = e.status;
      sendJson(res, e.status, {
        error: { code: e.status, message: e.message, errors: [{ message: e.message, domain: 'global', reason: e.reason }] },
      });
    }
  }

  private checkPermission(method: string, path: string): void {
    const isList = /^\/storage\/v1\/b\/[^/]+\/o$/.test(path) && method === 'GET';
    const permission =
      path.startsWith('/upload/') || path.endsWith('/compose')
        ? 'storage.objects.create'
        : isList
          ? 'storage.objects.list'
          : method === 'DELETE'
            ? 'storage.objects.delete'
            : 'storage.objects.get';
    if (!this.iam.isDenied(permission)) return;
    const what = isList ? 'bucket' : 'object';
    throw new HttpError(
      403,
      `${this.principal} does not have ${permission} access to the Google Cloud Storage ${what}. Permission '${permission}' denied on resource (or it may not exist).`,
      'forbidden',
    );
  }

  private route(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    query: Record<string, string>,
    body: Buffer,
    record: RecordedStorageRequest,
  ): void {
    const method = req.method ?? 'GET';
    // Path segments stay encoded until split, so an object name may contain '/'.
    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    const list = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    const compose = /^\/storage\/v1\/b\/([^/]+)\/o\/([^/]+)\/compose$/.exec(url.pathname);
    const object = /^\/storage\/v1\/b\/([^/]+)\/o\/([^/]+)$/.exec(url.pathname);

    if (upload && method === 'POST') {
      const bucket = this.bucket(decodeURIComponent(upload[1]));
      record.bucket = decodeURIComponent(upload[1]);
      const type = query.uploadType;
      if (type === 'resumable') {
        record.kind = 'upload-init';
        const meta = body.length > 0 ? (JSON.parse(body.toString('utf8')) as { name?: string; contentType?: string }) : {};
        const name = query.name ?? meta.name;
        if (!name) throw new HttpError(400, 'Required parameter: name', 'required');
        record.object = name;
        this.checkPreconditions(bucket.get(name), query);
        const id = randomUUID();
        const contentType = String(req.headers['x-upload-content-type'] ?? meta.contentType ?? 'application/octet-stream');
        this.sessions.set(id, { bucket: record.bucket, name, contentType, query, chunks: [], received: 0 });
        const location = `${this.url}/upload/storage/v1/b/${upload[1]}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
        record.status = 200;
        res.writeHead(200, { location, 'content-length': '0' });
        res.end();
        return;
      }
      record.kind = 'upload';
      let data: Buffer;
      let meta: { name?: string; contentType?: string } = {};
      let contentType = String(req.headers['content-type'] ?? 'application/octet-stream');
      if (type === 'multipart') {
        const parts = parseMultipart(body, contentType);
        if (parts.length !== 2) throw new HttpError(400, `a multipart upload has 2 parts, got ${parts.length}`, 'invalid');
        meta = JSON.parse(parts[0].body.toString('utf8')) as typeof meta;
        data = parts[1].body;
        contentType = meta.contentType ?? parts[1].contentType ?? 'application/octet-stream';
      } else if (type === 'media') {
        data = body;
      } else {
        throw new HttpError(400, `uploadType ${String(type)} is not supported`, 'invalid');
      }
      const name = query.name ?? meta.name;
      if (!name) throw new HttpError(400, 'Required parameter: name', 'required');
      record.object = name;
      this.checkPreconditions(bucket.get(name), query);
      const stored = this.store(record.bucket, name, data, contentType, undefined);
      record.status = 200;
      sendJson(res, 200, this.resource(record.bucket, stored));
      return;
    }

    if (upload && method === 'PUT') {
      record.kind = 'upload-chunk';
      const session = this.sessions.get(query.upload_id ?? '');
      if (!session) throw new HttpError(404, 'No such upload session', 'notFound');
      record.bucket = session.bucket;
      record.object = session.name;
      if (session.done) {
        record.status = 200;
        sendJson(res, 200, this.resource(session.bucket, session.done));
        return;
      }
      const range = /^bytes (\*|(\d+)-(\d+|\*))\/(\*|\d+)$/.exec(String(req.headers['content-range'] ?? ''));
      if (!range) throw new HttpError(400, `bad Content-Range ${String(req.headers['content-range'])}`, 'invalid');
      const total = range[4] === '*' ? undefined : Number(range[4]);
      if (range[1] !== '*') {
        const start = Number(range[2]);
        if (start !== session.received) throw new HttpError(400, `chunk starts at ${start}, expected ${session.received}`, 'invalid');
        session.chunks.push(body);
        session.received += body.length;
      }
      const finished = total !== undefined ? session.received === total : range[3] === '*';
      if (!finished) {
        record.status = 308;
        res.writeHead(
          308,
          session.received > 0 ? { range: `bytes=0-${session.received - 1}`, 'content-length': '0' } : { 'content-length': '0' },
        );
        res.end();
        return;
      }
      const bucket = this.bucket(session.bucket);
      this.checkPreconditions(bucket.get(session.name), session.query);
      session.done = this.store(session.bucket, session.name, Buffer.concat(session.chunks), session.contentType, undefined);
      record.status = 200;
      sendJson(res, 200, this.resource(session.bucket, session.done));
      return;
    }

    if (list && method === 'GET') {
      record.kind = 'list';
      record.bucket = decodeURIComponent(list[1]);
      const bucket = this.bucket(record.bucket);
      const prefix = query.prefix ?? '';
      const names = [...bucket.keys()].filter((n) => n.startsWith(prefix)).sort();
      const size = Math.min(this.pageSize, query.maxResults ? Number(query.maxResults) : this.pageSize);
      const start = query.pageToken ? names.findIndex((n) => n > Buffer.from(query.pageToken, 'base64url').toString('utf8')) : 0;
      const page = start < 0 ? [] : names.slice(start, start + size);
      const more = start >= 0 && start + size < names.length;
      const out: Record<string, unknown> = { kind: 'storage#objects' };
      if (page.length > 0) out.items = page.map((n) => this.resource(record.bucket ?? '', bucket.get(n) as FakeObject));
      if (more) out.nextPageToken = Buffer.from(page[page.length - 1]).toString('base64url');
      record.status = 200;
      sendJson(res, 200, out);
      return;
    }

    if (compose && method === 'POST') {
      record.kind = 'compose';
      record.bucket = decodeURIComponent(compose[1]);
      const name = decodeURIComponent(compose[2]);
      record.object = name;
      const bucket = this.bucket(record.bucket);
      const request = JSON.parse(body.toString('utf8')) as {
        destination?: { contentType?: string };
        sourceObjects?: { name: string; generation?: number | string; objectPreconditions?: { ifGenerationMatch?: number | string } }[];
      };
      const sources = request.sourceObjects ?? [];
      if (sources.length === 0) throw new HttpError(400, 'Required: sourceObjects', 'required');
      if (sources.length > 32)
        throw new HttpError(400, `The number of source objects provided (${sources.length}) exceeds the maximum (32)`, 'invalid');
      const parts: FakeObject[] = [];
      for (const s of sources) {
        const o = bucket.get(s.name);
        if (!o || (s.generation !== undefined && Number(s.generation) !== o.generation)) {
          throw new HttpError(404, `No such object: ${record.bucket}/${s.name}`, 'notFound');
        }
        const want = s.objectPreconditions?.ifGenerationMatch;
        if (want !== undefined && Number(want) !== o.generation) throw new HttpError(412, 'Precondition Failed', 'conditionNotMet');
        parts.push(o);
      }
      this.checkPreconditions(bucket.get(name), query);
      const components = parts.reduce((n, p) => n + (p.componentCount ?? 1), 0);
      if (components > this.maxComponents) {
        throw new HttpError(
          400,
          `The number of components in the composite object (${components}) would exceed the maximum (${this.maxComponents})`,
          'invalid',
        );
      }
      const contentType = request.destination?.contentType ?? bucket.get(name)?.contentType ?? 'application/octet-stream';
      const stored = this.store(record.bucket, name, Buffer.concat(parts.map((p) => p.data)), contentType, components);
      record.status = 200;
      sendJson(res, 200, this.resource(record.bucket, stored));
      return;
    }

    if (object) {
      record.bucket = decodeURIComponent(object[1]);
      const name = decodeURIComponent(object[2]);
      record.object = name;
      const bucket = this.bucket(record.bucket);
      const found = bucket.get(name);
      if (method === 'GET') {
        record.kind = query.alt === 'media' ? 'download' : 'metadata';
        // Without versioning, only the live generation exists.
        if (!found || (query.generation !== undefined && Number(query.generation) !== found.generation)) {
          throw new HttpError(404, `No such object: ${record.bucket}/${name}`, 'notFound');
        }
        this.checkPreconditions(found, query);
        record.status = 200;
        if (query.alt === 'media') {
          const range = rangeOf(req.headers.range, found.data.length);
          if (range) {
            // A range of the object: 206 with Content-Range (the hash header still covers the whole object, as on GCS).
            const [start, end] = range;
            record.status = 206;
            res.writeHead(206, {
              'content-type': found.contentType,
              'content-length': String(end - start + 1),
              'content-range': `bytes ${start}-${end}/${found.data.length}`,
              'x-goog-hash': `crc32c=${crc32cBase64(found.data)}${found.componentCount === undefined ? `,md5=${md5Base64(found.data)}` : ''}`,
              'x-goog-generation': String(found.generation),
              'x-goog-metageneration': String(found.metageneration),
              'x-goog-stored-content-encoding': 'identity',
              'x-goog-stored-content-length': String(found.data.length),
            });
            res.end(found.data.subarray(start, end + 1));
            return;
          }
          res.writeHead(200, {
            'content-type': found.contentType,
            'content-length': String(found.data.length),
            // Composite objects have no MD5 on GCS.
            'x-goog-hash': `crc32c=${crc32cBase64(found.data)}${found.componentCount === undefined ? `,md5=${md5Base64(found.data)}` : ''}`,
            'x-goog-generation': String(found.generation),
            'x-goog-metageneration': String(found.metageneration),
            'x-goog-stored-content-encoding': 'identity',
            'x-goog-stored-content-length': String(found.data.length),
          });
          res.end(found.data);
        } else {
          sendJson(res, 200, this.resource(record.bucket, found));
        }
        return;
      }
      if (method === 'DELETE') {
        record.kind = 'delete';
        if (!found) throw new HttpError(404, `No such object: ${record.bucket}/${name}`, 'notFound');
        this.checkPreconditions(found, query);
        bucket.delete(name);
        record.status = 204;
        res.writeHead(204);
        res.end();
        return;
      }
    }
    throw new HttpError(404, `the fake does not serve ${method} ${url.pathname}`, 'notFound');
  }

  private bucket(name: string): Map<string, FakeObject> {
    const b = this.buckets.get(name);
    if (!b) throw new HttpError(404, 'The specified bucket does not exist.', 'notFound');
    return b;
  }

  private checkPreconditions(current: FakeObject | undefined, query: Record<string, string>): void {
    if (query.ifGenerationMatch !== undefined) {
      const want = Number(query.ifGenerationMatch);
      const have = current?.generation ?? 0;
      if (want !== have) throw new HttpError(412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
    }
    if (query.ifMetagenerationMatch !== undefined && Number(query.ifMetagenerationMatch) !== current?.metageneration) {
      throw new HttpError(412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
    }
  }

  private store(bucketName: string, name: string, data: Buffer, contentType: string, componentCount: number | undefined): FakeObject {
    const bucket = this.bucket(bucketName);
    const now = new Date().toISOString();
    const o: FakeObject = {
      name,
      data,
      generation: this.nextGeneration++,
      metageneration: 1,
      contentType,
      componentCount,
      timeCreated: now,
      updated: now,
    };
    bucket.set(name, o);
    return o;
  }

  private resource(bucket: string, o: FakeObject): Record<string, unknown> {
    const id = encodeURIComponent(o.name);
    const out: Record<string, unknown> = {
      kind: 'storage#object',
      id: `${bucket}/${o.name}/${o.generation}`,
      selfLink: `${this.url}/storage/v1/b/${bucket}/o/${id}`,
      mediaLink: `${this.url}/download/storage/v1/b/${bucket}/o/${id}?generation=${o.generation}&alt=media`,
      name: o.name,
      bucket,
      generation: String(o.generation),
      metageneration: String(o.metageneration),
      contentType: o.contentType,
      storageClass: 'STANDARD',
      size: String(o.data.length),
      md5Hash: md5Base64(o.data),
      crc32c: crc32cBase64(o.data),
      etag: Buffer.from(String(o.generation)).toString('base64'),
      timeCreated: o.timeCreated,
      updated: o.updated,
    };
    if (o.componentCount !== undefined) {
      // GCS gives no md5 for composite objects.
      delete out.md5Hash;
      out.componentCount = o.componentCount;
    }
    return out;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

function parseMultipart(body: Buffer, contentType: string): { contentType?: string; body: Buffer }[] {
  const m = /boundary="?([^";]+)"?/i.exec(contentType);
  if (!m) throw new HttpError(400, 'multipart upload without a boundary', 'invalid');
  const delimiter = Buffer.from(`--${m[1]}`);
  const parts: { contentType?: string; body: Buffer }[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    // A part is CRLF, headers, CRLF CRLF, content, CRLF.
    const part = body.subarray(start + 2, next - 2);
    const split = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, split).toString('utf8');
    const ct = /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1];
    parts.push({ contentType: ct, body: part.subarray(split + 4) });
    at = next;
  }
  return parts;
}

function md5Base64(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli), written here rather than taken from the client, as GCS gives it: base64 of the big-endian value. */
export function crc32c(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function crc32cBase64(data: Buffer): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32c(data));
  return out.toString('base64');
}
