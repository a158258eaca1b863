import { createHash } from 'node:crypto';
import { redact } from './redact.js';

/**
 * What an execution log keeps of a step's input or output: at most PREVIEW_BYTES of its JSON,
 * after every value under a key that looks like a secret is replaced, with the size and sha256 of
 * the whole (redacted) JSON, so a log says what it dropped and two runs' payloads can be compared.
 * Pure (hashing is no I/O).
 */

export const PREVIEW_BYTES = 4096;
const SECRET_KEY = /token|secret|password|passwd|authorization|api[_-]?key|cookie|credential|private[_-]?key/i;
export const REDACTED_VALUE = '<redacted>';

export interface Preview {
  /** The JSON text, cut at `PREVIEW_BYTES` when `truncated`. */
  preview: string;
  truncated: boolean;
  /** Size of the whole redacted JSON, in bytes. */
  bytes: number;
  sha256: string;
}

/** A copy of a JSON value with the values of secret-looking keys replaced, at any depth. */
export function redactKeys(value: unknown, depth = 0): unknown {
  if (depth > 64 || typeof value !== 'object' || value === null) return typeof value === 'string' ? redact(value) : value;
  if (Array.isArray(value)) return value.map((v) => redactKeys(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? REDACTED_VALUE : redactKeys(v, depth + 1);
  return out;
}

export function previewOf(value: unknown, limit = PREVIEW_BYTES): Preview {
  const text = JSON.stringify(redactKeys(value)) ?? 'null';
  const buf = Buffer.from(text, 'utf8');
  const sha256 = createHash('sha256').update(buf).digest('hex');
  if (buf.length <= limit) return { preview: text, truncated: false, bytes: buf.length, sha256 };
  // Cut on a character boundary: a partial UTF-8 sequence at the end is dropped.
  const cut = buf
    .subarray(0, limit)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
  return { preview: cut, truncated: true, bytes: buf.length, sha256 };
}
