import { initializeApp } from 'firebase/app';
import { GoogleAuthProvider, getAuth, onAuthStateChanged, signInWithPopup, type User } from 'firebase/auth';
import { collection, connectFirestoreEmulator, doc, getFirestore, limit, onSnapshot, orderBy, query, where } from 'firebase/firestore';
import { JobViewSchema } from '../../clients/typescript/src/index.js';
import type { LiveSource, Session } from './live.js';

export interface FirebaseWebConfig {
  projectId: string;
  apiKey: string;
  authDomain?: string;
}

/**
 * A build for tests only (VITE_FIREBASE_EMULATOR): Firestore is the emulator at `firestore`
 * (host:port) and the signed-in user is `user`, carried as the emulator's mock ID token (unsigned,
 * as @firebase/rules-unit-testing makes them); there is no Firebase Auth. A production build has
 * none of this and signs in with Google.
 */
export interface EmulatorConfig {
  firestore: string;
  user: { sub: string; email: string; email_verified: boolean };
}

/**
 * Google Cloud: the job documents themselves, followed with onSnapshot after a Google sign-in.
 * firestore.rules let a user read only jobs whose owner is their verified email, and rules are not
 * filters: the list query asks for where('owner', '==', email) itself (index: owner, created_at
 * desc; terraform/firestore.tf jobs_by_owner). The session's ID token goes on every API call.
 */
export async function firestoreLive(config: FirebaseWebConfig, emulator?: EmulatorConfig): Promise<{ live: LiveSource; session: Session }> {
  const app = initializeApp({ ...config, authDomain: config.authDomain ?? `${config.projectId}.firebaseapp.com` });
  const db = getFirestore(app);
  let session: Session;
  if (emulator) {
    const at = emulator.firestore.lastIndexOf(':');
    connectFirestoreEmulator(db, emulator.firestore.slice(0, at), Number(emulator.firestore.slice(at + 1)), {
      mockUserToken: emulator.user,
    });
    const token = mockIdToken(config.projectId, emulator.user);
    session = { email: emulator.user.email, idToken: async () => token };
  } else {
    const auth = getAuth(app);
    const user = await new Promise<User>((resolve, reject) => {
      const off = onAuthStateChanged(auth, (u) => {
        if (!u) return;
        off();
        resolve(u);
      });
      if (!auth.currentUser) signInWithPopup(auth, new GoogleAuthProvider()).catch(reject);
    });
    // getIdToken refreshes the token itself once it is within five minutes of expiring.
    session = { email: user.email ?? '', idToken: () => user.getIdToken() };
  }
  const parse = (data: unknown) => JobViewSchema.safeParse(data);
  const live: LiveSource = {
    kind: 'firestore',
    watchJob(id, onJob, onError) {
      return onSnapshot(
        doc(db, 'deployment_jobs', id),
        (snap) => {
          const job = parse(snap.data());
          if (job.success) onJob(job.data);
        },
        (err) =>
          onError(
            err.code === 'permission-denied'
              ? // The rules cannot tell "no such job" from "not yours": neither is readable.
                `deployment ${id} does not exist or is not yours to read`
              : err.message,
          ),
      );
    },
    watchList(q, onJobs, onError) {
      const filters = [where('owner', '==', session.email)];
      if (q.agent_id) filters.push(where('agent_id', '==', q.agent_id));
      if (q.status) filters.push(where('status', '==', q.status));
      return onSnapshot(
        query(collection(db, 'deployment_jobs'), ...filters, orderBy('created_at', 'desc'), limit(q.limit ?? 50)),
        (snap) =>
          onJobs(
            snap.docs.flatMap((d) => {
              const job = parse(d.data());
              return job.success ? [job.data] : [];
            }),
          ),
        (err) => onError(err.message),
      );
    },
  };
  return { live, session };
}

/** The emulator's mock ID token: a JWT with alg "none", the claims Firebase Auth would put in one. */
function mockIdToken(projectId: string, user: EmulatorConfig['user']): string {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v: unknown) => btoa(JSON.stringify(v)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const claims = {
    iss: `https://securetoken.google.com/${projectId}`,
    aud: projectId,
    iat: now,
    exp: now + 3600,
    auth_time: now,
    user_id: user.sub,
    firebase: { sign_in_provider: 'custom', identities: {} },
    ...user,
  };
  return `${b64({ alg: 'none', type: 'JWT' })}.${b64(claims)}.`;
}
