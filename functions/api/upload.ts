import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import busboy from 'busboy';
import { parse as parseYaml } from 'yaml';
import { RequestError } from '../../shared/domain/errors.js';
import { type DeploymentRequest, DeploymentRequestSchema } from '../../shared/domain/request.js';
import type { BlobStore } from '../../shared/ports/index.js';
import { type ArchiveLimits, readArchive } from '../../shared/sources/archive-reader.js';
import { ArchiveRefused } from '../../shared/sources/archive-rules.js';
import { assertDepth, parseWith } from './http.js';

/** Keys of a config file that configure the deployment rather than the agent. */
const REQUEST_KEYS = ['agent_id', 'environment', 'version', 'env', 'secrets', 'deployment_options', 'test_options', 'source'] as const;
const CONFIG_LIMIT = 1024 * 1024;

interface Upload {
  fields: Record<string, string>;
  config?: { name: string; data: Buffer };
  source?: { name: string; data: Buffer };
}

/**
 * POST /deploy-from-file: multipart with `agent_id`, a YAML or JSON `config_file`, and an optional
 * `source` archive (.tar.gz, .tgz or .zip). The config file may carry deployment keys (environment,
 * env, deployment_options …); everything else in it (or its `config` key) is the agent's config.
 */
export async function parseDeployUpload(
  req: IncomingMessage,
  maxUploadBytes: number,
  archiveLimits: ArchiveLimits,
  blobs: BlobStore,
  newId: () => string,
): Promise<DeploymentRequest> {
  const upload = await readMultipart(req, maxUploadBytes);
  if (!upload.config)
    throw new RequestError('invalid', 'attach the service configuration as a YAML or JSON file in the "config_file" field', 'config_file');
  const file = parseConfigFile(upload.config);
  const lifted: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(file)) {
    if ((REQUEST_KEYS as readonly string[]).includes(k)) lifted[k] = v;
    else if (k !== 'config') rest[k] = v;
  }
  const config = typeof file.config === 'object' && file.config !== null ? file.config : rest;
  const input: Record<string, unknown> = { ...lifted, config };
  for (const k of ['agent_id', 'environment', 'version'] as const) if (upload.fields[k]) input[k] = upload.fields[k];
  if (!input.agent_id) throw new RequestError('invalid', 'give the agent id in the "agent_id" field', 'agent_id');
  if (upload.fields.unpin !== undefined) {
    if (upload.fields.unpin !== 'true' && upload.fields.unpin !== 'false')
      throw new RequestError('invalid', 'unpin: must be "true" or "false"', 'unpin');
    input.unpin = upload.fields.unpin === 'true';
  }
  if (upload.source) {
    const format = archiveFormat(upload.source.name);
    const key = `uploads/${newId()}.${format}`;
    const request = parseWith(DeploymentRequestSchema, { ...input, source: { type: 'archive', blob_key: key, format } });
    // Read through once, all caps applied, before it is stored: a bad archive is this request's 4xx, not a later failure.
    await readArchive(upload.source.data, format, archiveLimits).catch((err: unknown) => {
      if (err instanceof ArchiveRefused) throw new RequestError(err.kind, err.userMessage(), 'source');
      throw err;
    });
    await blobs.put(key, upload.source.data);
    return request;
  }
  const request = parseWith(DeploymentRequestSchema, input);
  if (request.source.type === 'archive')
    throw new RequestError('invalid', 'an archive source must be uploaded in the "source" field', 'source');
  return request;
}

function archiveFormat(name: string): 'tar.gz' | 'zip' {
  const lower = name.toLowerCase();
  if (lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) return 'tar.gz';
  if (lower.endsWith('.zip')) return 'zip';
  throw new RequestError('invalid', `${name}: the source archive must be a .tar.gz, .tgz or .zip file`, 'source');
}

function parseConfigFile(file: { name: string; data: Buffer }): Record<string, unknown> {
  const text = file.data.toString('utf8');
  let value: unknown;
  try {
    value = file.name.toLowerCase().endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new RequestError(
      'invalid',
      `${file.name} is not valid ${file.name.endsWith('.json') ? 'JSON' : 'YAML'}: ${err instanceof Error ? (err.message.split('\n')[0] ?? '').slice(0, 200) : ''}`,
      'config_file',
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RequestError('invalid', `${file.name} must hold a mapping of keys to values`, 'config_file');
  }
  assertDepth(value, 'config_file');
  return value as Record<string, unknown>;
}

function readMultipart(req: IncomingMessage, maxBytes: number): Promise<Upload> {
  const type = String(req.headers['content-type'] ?? '');
  if (!type.startsWith('multipart/form-data')) {
    return Promise.reject(
      new RequestError('invalid', 'send multipart/form-data with fields agent_id, config_file and optionally source', 'content-type'),
    );
  }
  if (Number(req.headers['content-length'] ?? 0) > maxBytes + 64 * 1024) {
    return Promise.reject(new RequestError('too_large', `uploads are limited to ${Math.round(maxBytes / 1048576)} MiB`, 'source'));
  }
  return new Promise((resolve, reject) => {
    const upload: Upload = { fields: {} };
    let failed: RequestError | null = null;
    let bb: ReturnType<typeof busboy>;
    try {
      bb = busboy({ headers: req.headers, limits: { fileSize: maxBytes, files: 2, fields: 20, fieldSize: 64 * 1024 } });
    } catch (err) {
      reject(
        new RequestError(
          'invalid',
          `the multipart body cannot be read: ${err instanceof Error ? err.message : String(err)}`,
          'content-type',
        ),
      );
      return;
    }
    bb.on('field', (name, value) => {
      upload.fields[name] = value;
    });
    bb.on('file', (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (d: Buffer) => chunks.push(d));
      stream.on('limit', () => {
        failed ??= new RequestError('too_large', `${name} is larger than ${Math.round(maxBytes / 1048576)} MiB, the upload limit`, name);
      });
      stream.on('end', () => {
        const data = Buffer.concat(chunks);
        if (name === 'config_file') {
          if (data.length > CONFIG_LIMIT) failed ??= new RequestError('too_large', 'config_file is larger than 1 MiB', 'config_file');
          upload.config = { name: info.filename || 'config.yaml', data };
        } else if (name === 'source') upload.source = { name: info.filename || 'source', data };
      });
    });
    bb.on('error', (err: Error) => reject(new RequestError('invalid', `the multipart body is malformed: ${err.message}`, 'body')));
    bb.on('close', () => (failed ? reject(failed) : resolve(upload)));
    const raw = (req as IncomingMessage & { rawBody?: Buffer }).rawBody;
    if (raw) Readable.from(raw).pipe(bb);
    else req.pipe(bb);
  });
}
