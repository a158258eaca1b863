import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord, EndpointDoc } from '../domain/endpoint.js';

/**
 * Per-endpoint API keys: `bk_<key id>_<secret>`, 192 random bits, shown once when made; only
 * their sha256 is stored (a fast hash is enough for a random key: there is nothing to guess).
 */
export function newApiKey(now: Date): { key: string; record: ApiKeyRecord } {
  const keyId = randomBytes(6).toString('base64url');
  const key = `bk_${keyId}_${randomBytes(24).toString('base64url')}`;
  return { key, record: { key_id: keyId, sha256: sha256(key), created_at: now.toISOString(), expires_at: null } };
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The key a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | null {
  const x = headers['x-api-key'];
  if (typeof x === 'string' && x.trim()) return x.trim();
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim() || null;
  return null;
}

/** True when `key` is one of the endpoint's live keys (compared in constant time). */
export function keyMatches(doc: EndpointDoc, key: string, now: Date): boolean {
  const id = /^bk_([A-Za-z0-9_-]{8})_/.exec(key)?.[1];
  if (!id) return false;
  const want = Buffer.from(sha256(key), 'hex');
  return doc.api_keys.some(
    (k) =>
      k.key_id === id && (k.expires_at === null || k.expires_at > now.toISOString()) && timingSafeEqual(Buffer.from(k.sha256, 'hex'), want),
  );
}
