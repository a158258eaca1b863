import { OAuth2Client } from 'google-auth-library';

/**
 * Verifies Firebase Auth ID tokens as Firebase documents for third-party libraries: RS256, signed by
 * one of the keys Google publishes for securetoken@system.gserviceaccount.com (the header's kid),
 * `aud` the project id, `iss` https://securetoken.google.com/<project>, `exp` in the future and
 * `iat` in the past (google-auth-library checks these, with its clock skew), a non-empty `sub`
 * and an `auth_time` in the past. The signed-in dashboard sends these (user.getIdToken()).
 *
 * The keys are fetched from Google and kept for as long as the answer's Cache-Control max-age says;
 * tests hand in their own.
 */
export const SECURETOKEN_CERTS_URL = 'https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com';

export interface VerifiedCaller {
  sub: string;
  email: string | null;
  email_verified: boolean;
}

export type CertificateSource = () => Promise<Record<string, string>>;

export class IdTokenError extends Error {}

export class FirebaseIdTokens {
  private readonly client = new OAuth2Client();

  constructor(
    private readonly projectId: string,
    private readonly certs: CertificateSource = cachedCerts(SECURETOKEN_CERTS_URL),
  ) {}

  async verify(token: string): Promise<VerifiedCaller> {
    let payload: Record<string, unknown> | undefined;
    try {
      const ticket = await this.client.verifySignedJwtWithCertsAsync(
        token,
        await this.certs(),
        this.projectId,
        [`https://securetoken.google.com/${this.projectId}`],
        // Firebase ID tokens live an hour.
        3600 + 300,
      );
      payload = ticket.getPayload() as Record<string, unknown> | undefined;
    } catch (err) {
      // google-auth-library's messages name what failed (expired, audience, signature) and echo no secret.
      throw new IdTokenError(`the ID token was refused: ${err instanceof Error ? err.message.split('\n')[0].slice(0, 200) : 'invalid'}`);
    }
    if (!payload || typeof payload.sub !== 'string' || payload.sub === '') throw new IdTokenError('the ID token has no subject');
    if (typeof payload.auth_time !== 'number' || payload.auth_time * 1000 > Date.now() + 300_000)
      throw new IdTokenError('the ID token has no auth_time in the past');
    return {
      sub: payload.sub,
      email: typeof payload.email === 'string' ? payload.email : null,
      email_verified: payload.email_verified === true,
    };
  }
}

/** The published keys, fetched again once the answer's max-age has passed. */
export function cachedCerts(url: string, fetchImpl: typeof fetch = fetch): CertificateSource {
  let cached: { until: number; certs: Record<string, string> } | null = null;
  return async () => {
    if (cached && Date.now() < cached.until) return cached.certs;
    const res = await fetchImpl(url, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`fetching the ID token keys answered ${res.status}`);
    const certs = (await res.json()) as Record<string, string>;
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1] ?? 0);
    cached = { until: Date.now() + Math.min(maxAge, 86_400) * 1000, certs };
    return certs;
  };
}
