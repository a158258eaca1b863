import type { IncomingMessage } from 'node:http';
import type { VerifiedCaller } from '../adapters/gcp/firebase-id-token.js';
import { FirebaseIdTokens } from '../adapters/gcp/firebase-id-token.js';
import { ConfigError } from '../config.js';
import { type ApiUser, isApiUser } from '../domain/api-users.js';
import { AuthError, RequestError } from '../domain/errors.js';
import type { GcpConfig } from './gcp-config.js';

/**
 * BATON_API_AUTH=firebase: the api is open to allUsers at Cloud Run's IAM (a browser's CORS
 * preflight carries no token, and IAM takes no Firebase token), so the api itself admits only a
 * request whose bearer is a valid Firebase Auth ID token with a verified email that
 * BATON_API_USERS lists (user:… or domain:…). No or a bad token: 401; a valid one of someone else:
 * 403. The email it returns owns what the request creates (firestore.rules then show it to them).
 */
export function firebaseAuthenticate(
  verifier: { verify(token: string): Promise<VerifiedCaller> },
  users: readonly ApiUser[],
): (req: IncomingMessage) => Promise<string> {
  return async (req) => {
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Bearer ') || header.length <= 7)
      throw new AuthError('sign in: send your Firebase ID token as "Authorization: Bearer <token>"');
    let caller: VerifiedCaller;
    try {
      caller = await verifier.verify(header.slice(7).trim());
    } catch (err) {
      throw new AuthError(err instanceof Error ? err.message : 'the ID token was refused');
    }
    if (!caller.email || !caller.email_verified) throw new RequestError('forbidden', 'the ID token carries no verified email');
    if (!isApiUser(users, caller.email)) throw new RequestError('forbidden', `${caller.email} is not one of this control plane's users`);
    return caller.email;
  };
}

/** The api's caller check and CORS origins on the gcp target, from its configuration. */
export function gcpApiAuth(gcp: GcpConfig): {
  authenticate?: (req: IncomingMessage) => Promise<string | null>;
  corsOrigins: readonly string[];
} {
  if (gcp.BATON_API_AUTH === 'iam') return { corsOrigins: gcp.BATON_DASHBOARD_ORIGINS };
  if (gcp.BATON_API_USERS.length === 0)
    throw new ConfigError(
      'BATON_API_AUTH=firebase needs BATON_API_USERS (user:<email> or domain:<domain>, comma-separated): else no one may call',
    );
  return {
    authenticate: firebaseAuthenticate(new FirebaseIdTokens(gcp.BATON_GCP_PROJECT), gcp.BATON_API_USERS),
    corsOrigins: gcp.BATON_DASHBOARD_ORIGINS,
  };
}
