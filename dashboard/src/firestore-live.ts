import { initializeApp } from 'firebase/app';
import { GoogleAuthProvider, getAuth, onAuthStateChanged, signInWithPopup, type User } from 'firebase/auth';
import { collection, doc, getFirestore, limit, onSnapshot, orderBy, query, where } from 'firebase/firestore';
import { JobViewSchema } from '../../clients/typescript/src/index.js';
import type { LiveSource } from './live.js';

/**
 * Google Cloud: the job documents themselves, followed with onSnapshot after a Google sign-in.
 * firestore.rules let a user read only jobs whose owner is their verified email, and rules are not
 * filters: the list query asks for where('owner', '==', email) itself.
 */
export async function firestoreLive(config: { projectId: string; apiKey: string; authDomain?: string }): Promise<LiveSource> {
  const app = initializeApp({ ...config, authDomain: config.authDomain ?? `${config.projectId}.firebaseapp.com` });
  const auth = getAuth(app);
  const db = getFirestore(app);
  const user = await new Promise<User>((resolve, reject) => {
    const off = onAuthStateChanged(auth, (u) => {
      if (!u) return;
      off();
      resolve(u);
    });
    if (!auth.currentUser) signInWithPopup(auth, new GoogleAuthProvider()).catch(reject);
  });
  const parse = (data: unknown) => JobViewSchema.safeParse(data);
  return {
    kind: 'firestore',
    watchJob(id, onJob, onError) {
      return onSnapshot(
        doc(db, 'deployment_jobs', id),
        (snap) => {
          const job = parse(snap.data());
          if (job.success) onJob(job.data);
        },
        (err) => onError(err.message),
      );
    },
    watchList(q, onJobs, onError) {
      const filters = [where('owner', '==', user.email ?? '')];
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
}
