import { deleteApp, type FirebaseApp, initializeApp } from 'firebase/app';
import { GoogleAuthProvider, getAuth, inMemoryPersistence, setPersistence, signInWithCredential } from 'firebase/auth';
import { connectFirestoreEmulator, doc, type Firestore, getFirestore, onSnapshot } from 'firebase/firestore';
import { BatonApiError, type DocumentWatcher } from './index.js';

/**
 * Follows `deployment_jobs/{id}` with the Firebase client SDK's `onSnapshot`, signed in as a
 * person, so firestore.rules decide what it may read: only jobs whose `owner` is the signed-in,
 * verified email; never a job's private document, never a write. (The server SDK would bypass the
 * rules and leave IAM to decide, and a project viewer role reads every job.)
 */
export function firestoreWatcher(db: Firestore, collection = 'deployment_jobs'): DocumentWatcher {
  return (id, onDoc, onError) =>
    onSnapshot(
      doc(db, collection, id),
      (snap) => onDoc(snap.exists() ? snap.data() : null),
      (err) =>
        onError(
          err.code === 'permission-denied'
            ? // The rules cannot tell "no such job" from "not yours": neither is readable.
              new BatonApiError(403, 'forbidden', `deployment ${id} does not exist or is not yours to read (${err.message})`)
            : err,
        ),
    );
}

export interface FirebaseWatchOptions {
  projectId: string;
  /** The Firebase Web API key of the project (Authentication needs one; it is not a secret). */
  apiKey?: string;
  /**
   * A Google ID token of the person (e.g. `gcloud auth print-identity-token`, the same token the
   * API takes): exchanged for a Firebase Auth session with signInWithCredential.
   */
  googleIdToken?: string;
  /**
   * host:port of a Firestore emulator: no Firebase Auth, the identity is a mock token carrying the
   * email of `googleIdToken` (decoded, not verified: the emulator trusts whatever it is given).
   */
  emulatorHost?: string;
}

/** A signed-in Firestore client for watching jobs; close() ends its connections. */
export async function firebaseWatcher(options: FirebaseWatchOptions): Promise<{ watcher: DocumentWatcher; close(): Promise<void> }> {
  const { projectId, apiKey, googleIdToken, emulatorHost } = options;
  if (!googleIdToken) throw new Error('following a job through Firestore needs a Google ID token of yours (BATON_TOKEN)');
  const app: FirebaseApp = initializeApp(
    { projectId, apiKey: apiKey ?? 'emulator', authDomain: `${projectId}.firebaseapp.com` },
    `baton-watch-${Date.now()}-${Math.random().toString(36).slice(2)}`,
  );
  try {
    const db = getFirestore(app);
    if (emulatorHost) {
      const [host, port] = splitHostPort(emulatorHost);
      const claims = claimsOf(googleIdToken);
      connectFirestoreEmulator(db, host, port, {
        mockUserToken: { sub: claims.sub, email: claims.email, email_verified: claims.email_verified },
      });
    } else {
      if (!apiKey) throw new Error("following a job through Firestore needs the project's Firebase Web API key (BATON_FIREBASE_API_KEY)");
      const auth = getAuth(app);
      await setPersistence(auth, inMemoryPersistence);
      await signInWithCredential(auth, GoogleAuthProvider.credential(googleIdToken));
    }
    return { watcher: firestoreWatcher(db), close: () => deleteApp(app) };
  } catch (err) {
    await deleteApp(app);
    throw err;
  }
}

function splitHostPort(hostPort: string): [string, number] {
  const at = hostPort.lastIndexOf(':');
  const port = Number(hostPort.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port)) throw new Error(`the Firestore emulator host must be host:port, not ${hostPort}`);
  return [hostPort.slice(0, at), port];
}

/** The identity claims of a JWT, unverified (for the emulator only). */
function claimsOf(token: string): { sub: string; email?: string; email_verified?: boolean } {
  const part = token.split('.')[1] ?? '';
  let claims: { sub?: unknown; email?: unknown; email_verified?: unknown } = {};
  try {
    claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    // not a JWT: no identity
  }
  if (typeof claims.sub !== 'string') throw new Error('BATON_TOKEN is not an ID token (no sub claim)');
  return {
    sub: claims.sub,
    ...(typeof claims.email === 'string' ? { email: claims.email } : {}),
    ...(typeof claims.email_verified === 'boolean' ? { email_verified: claims.email_verified } : {}),
  };
}
