import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/api/index.js';
import { cachedCerts, FirebaseIdTokens } from '../../shared/adapters/gcp/firebase-id-token.js';
import { ApiUsersSchema, isApiUser } from '../../shared/domain/api-users.js';
import { firebaseAuthenticate, gcpApiAuth } from '../../shared/wiring/api-auth.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { harness } from '../support/fakes.js';

/**
 * The api's own check of Firebase Auth ID tokens (BATON_API_AUTH=firebase), with a key pair made
 * here standing in for Google's securetoken keys: the verification is google-auth-library's, the
 * same code that checks a real token. Does not prove: that Google's published keys are fetched and
 * parsed (cachedCerts is tested with a fake fetch), nor a token minted by Firebase Auth itself.
 */
const PROJECT = 'baton-auth-test';
const ISS = `https://securetoken.google.com/${PROJECT}`;
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
const certs = async () => ({ k1: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString() });
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function token(
  claims: Record<string, unknown> = {},
  { key = keys.privateKey, kid = 'k1' }: { key?: KeyObject; kid?: string } = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const body = b64({
    iss: ISS,
    aud: PROJECT,
    sub: 'uid-alice',
    iat: now - 10,
    exp: now + 3000,
    auth_time: now - 10,
    email: 'alice@example.com',
    email_verified: true,
    ...claims,
  });
  const head = b64({ alg: 'RS256', kid, typ: 'JWT' });
  return `${head}.${body}.${sign('RSA-SHA256', Buffer.from(`${head}.${body}`), key).toString('base64url')}`;
}

describe('Firebase ID tokens, verified', () => {
  const verifier = new FirebaseIdTokens(PROJECT, certs);

  it('accepts a token signed by a published key for this project', async () => {
    expect(await verifier.verify(token())).toEqual({ sub: 'uid-alice', email: 'alice@example.com', email_verified: true });
  });

  it.each([
    ['expired', () => token({ exp: Math.floor(Date.now() / 1000) - 600, iat: Math.floor(Date.now() / 1000) - 4000 })],
    ['for another project', () => token({ aud: 'someone-else' })],
    ['from another issuer', () => token({ iss: 'https://accounts.google.com' })],
    ['signed by another key under the same kid', () => token({}, { key: other.privateKey })],
    ['under an unknown kid', () => token({}, { kid: 'k2' })],
    ['with no subject', () => token({ sub: '' })],
    ['with no auth_time', () => token({ auth_time: undefined })],
    ['unsigned (the emulator’s mock token)', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: ISS, aud: PROJECT, sub: 'x' })}.`],
    ['not a JWT', () => 'sk-not-a-token'],
  ])('refuses one %s', async (_what, make) => {
    await expect(verifier.verify(make())).rejects.toThrow(/refused|subject|auth_time/);
  });

  it('fetches the published keys once per max-age', async () => {
    let fetched = 0;
    const fake = (async () => {
      fetched++;
      return new Response(JSON.stringify({ k1: 'pem' }), { headers: { 'cache-control': 'public, max-age=3600' } });
    }) as unknown as typeof fetch;
    const source = cachedCerts('https://keys.example/certs', fake);
    expect(await source()).toEqual({ k1: 'pem' });
    await source();
    expect(fetched).toBe(1);
    const failing = cachedCerts('https://keys.example/certs', (async () => new Response('no', { status: 500 })) as unknown as typeof fetch);
    await expect(failing()).rejects.toThrow('500');
  });
});

describe('who may call: BATON_API_USERS', () => {
  it('takes user: and domain: members, refuses groups and nonsense by name', () => {
    const users = ApiUsersSchema.parse('user:Alice@Example.com, domain:ops.example.org');
    expect(isApiUser(users, 'alice@example.com')).toBe(true);
    expect(isApiUser(users, 'bob@ops.example.org')).toBe(true);
    expect(isApiUser(users, 'bob@example.com')).toBe(false);
    expect(isApiUser(users, 'eve@evilops.example.org')).toBe(false);
    const bad = ApiUsersSchema.safeParse('group:team@example.com,alice');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.message).join('\n')).toMatch(/"group:team@example.com" .*groups[\s\S]*"alice"/);
  });

  it('BATON_API_AUTH=firebase with no users is a configuration error; iam keeps the decoding and takes origins', () => {
    const base = { BATON_GCP_PROJECT: PROJECT, BATON_BUCKET: 'bucket' };
    expect(() => gcpApiAuth(GcpConfigSchema.parse({ ...base, BATON_API_AUTH: 'firebase' }))).toThrow(/BATON_API_USERS/);
    const iam = gcpApiAuth(GcpConfigSchema.parse({ ...base, BATON_DASHBOARD_ORIGINS: 'https://p.web.app, https://p.firebaseapp.com' }));
    expect(iam).toEqual({ corsOrigins: ['https://p.web.app', 'https://p.firebaseapp.com'] });
    expect(GcpConfigSchema.safeParse({ ...base, BATON_DASHBOARD_ORIGINS: 'https://p.web.app/path' }).success).toBe(false);
    const fb = gcpApiAuth(GcpConfigSchema.parse({ ...base, BATON_API_AUTH: 'firebase', BATON_API_USERS: 'user:a@b.c' }));
    expect(typeof fb.authenticate).toBe('function');
  });
});

describe('the api with BATON_API_AUTH=firebase', () => {
  const h = harness();
  let server: Server;
  let url: string;
  const ORIGIN = 'https://baton-auth-test.web.app';
  beforeAll(async () => {
    const api = createApi(h.deps, {
      maxUploadBytes: 1024 * 1024,
      target: 'gcp',
      authenticate: firebaseAuthenticate(new FirebaseIdTokens(PROJECT, certs), ApiUsersSchema.parse('domain:example.com')),
      corsOrigins: [ORIGIN],
    });
    server = createServer((req, res) => void api(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const deploy = (headers: Record<string, string>) =>
    fetch(`${url}/deploy`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"agent_id":"auth-a"}' });

  it('refuses no token and a bad one with 401 and WWW-Authenticate, and changes nothing', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: 'Bearer nonsense' },
      { authorization: `Bearer ${token({ aud: 'x' })}` },
    ]) {
      const res = await deploy(headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    }
    expect((await h.jobs.list({ agent_id: 'auth-a', limit: 10 })).items).toEqual([]);
  });

  it('refuses a valid token of someone not listed, or with an unverified email, with 403', async () => {
    const outsider = await deploy({ authorization: `Bearer ${token({ email: 'mallory@elsewhere.org' })}` });
    expect(outsider.status).toBe(403);
    expect(await outsider.text()).toContain('mallory@elsewhere.org is not one of');
    expect((await deploy({ authorization: `Bearer ${token({ email_verified: false })}` })).status).toBe(403);
    expect((await h.jobs.list({ agent_id: 'auth-a', limit: 10 })).items).toEqual([]);
  });

  it("accepts a listed user's token: the job is theirs", async () => {
    const res = await deploy({ authorization: `Bearer ${token()}` });
    expect(res.status).toBe(202);
    const { deployment_id } = (await res.json()) as { deployment_id: string };
    expect((await h.jobs.get(deployment_id))?.owner).toBe('alice@example.com');
  });

  it('answers the dashboard’s CORS preflight without a token, names its origin on answers, and no other origin', async () => {
    const pre = await fetch(`${url}/deploy`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
    const ok = await fetch(`${url}/metrics`, { headers: { origin: ORIGIN, authorization: `Bearer ${token()}` } });
    expect([ok.status, ok.headers.get('access-control-allow-origin')]).toEqual([200, ORIGIN]);
    const stranger = await fetch(`${url}/deploy`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
    expect(stranger.status).toBe(401);
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });
});

describe('the gcp configuration, parsed twice', () => {
  it('keeps the users and origins when a parsed config is parsed again (tests rebuild clients that way)', () => {
    const once = GcpConfigSchema.parse({
      BATON_GCP_PROJECT: PROJECT,
      BATON_BUCKET: 'bucket',
      BATON_API_USERS: 'user:a@b.c,domain:ops.example.com',
      BATON_DASHBOARD_ORIGINS: 'https://p.web.app',
    });
    const twice = GcpConfigSchema.parse({ ...once, BATON_TASK_TARGETS: '{}', BATON_GIT_TOKEN_SECRETS: '{}' });
    expect(twice.BATON_API_USERS).toEqual(once.BATON_API_USERS);
    expect(twice.BATON_DASHBOARD_ORIGINS).toEqual(['https://p.web.app']);
    expect(once.BATON_API_USERS).toEqual([
      { kind: 'user', value: 'a@b.c' },
      { kind: 'domain', value: 'ops.example.com' },
    ]);
  });
});
