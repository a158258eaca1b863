import { BatonClient, type Job, JobViewSchema, type ListQuery } from '../../clients/typescript/src/index.js';

/**
 * Live data behind one interface: on the local stack, a job through the API's Server-Sent Events
 * stream (EventSource) and the list by polling GET /deployments (the API has no list stream); on
 * Google Cloud, Firestore onSnapshot through the Firebase web SDK, signed in, under
 * firestore.rules (a user sees only the jobs they started).
 */
export interface LiveSource {
  readonly kind: 'sse' | 'firestore';
  watchJob(id: string, onJob: (job: Job) => void, onError: (message: string) => void): () => void;
  watchList(query: ListQuery, onJobs: (jobs: Job[]) => void, onError: (message: string) => void): () => void;
}

/** Who is signed in (Google Cloud): their email, and their current Firebase Auth ID token. */
export interface Session {
  readonly email: string;
  idToken(): Promise<string>;
}

let session: Session | null = null;

/** The signed-in user, once liveSource() has signed in (null on the local stack). */
export function currentSession(): Session | null {
  return session;
}

/**
 * The API, called with the signed-in user's ID token as `Authorization: Bearer …` on every
 * request (read fresh each time: Firebase refreshes it before it expires); none locally.
 */
export const client = new BatonClient({ baseUrl: apiBase(), getToken: async () => (session ? session.idToken() : null) });

/** The API: this page's origin locally; VITE_BATON_API_URL when served elsewhere (Firebase Hosting). */
export function apiBase(): string {
  const configured = import.meta.env.VITE_BATON_API_URL as string | undefined;
  return configured || window.location.origin;
}

export function sseLive(pollMs = 2000): LiveSource {
  return {
    kind: 'sse',
    watchJob(id, onJob, onError) {
      const source = new EventSource(`${apiBase()}/deployments/${encodeURIComponent(id)}/stream`);
      source.addEventListener('job', (ev) => {
        const parsed = JobViewSchema.safeParse(JSON.parse((ev as MessageEvent<string>).data));
        if (parsed.success) onJob(parsed.data);
      });
      // The server closes the stream at a final status; a reconnect would only replay it.
      source.onerror = () => {
        if (source.readyState === EventSource.CLOSED) return;
        source.close();
        client.getStatus(id).then(onJob, (e: unknown) => onError(String(e)));
      };
      return () => source.close();
    },
    watchList(query, onJobs, onError) {
      let stopped = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const tick = async () => {
        try {
          onJobs((await client.listDeployments(query)).deployments);
        } catch (e) {
          onError(e instanceof Error ? e.message : String(e));
        }
        if (!stopped) timer = setTimeout(tick, pollMs);
      };
      void tick();
      return () => {
        stopped = true;
        clearTimeout(timer);
      };
    },
  };
}

let chosen: Promise<LiveSource> | undefined;

/**
 * Firestore when the build names a Firebase project (VITE_FIREBASE_CONFIG), else the API's stream.
 * VITE_FIREBASE_EMULATOR (tests only) points it at a Firestore emulator with a mock user.
 */
export function liveSource(): Promise<LiveSource> {
  chosen ??= (async () => {
    const config = import.meta.env.VITE_FIREBASE_CONFIG as string | undefined;
    if (!config) return sseLive();
    const { firestoreLive } = await import('./firestore-live.js');
    const emulator = import.meta.env.VITE_FIREBASE_EMULATOR as string | undefined;
    const signedIn = await firestoreLive(JSON.parse(config), emulator ? JSON.parse(emulator) : undefined);
    session = signedIn.session;
    return signedIn.live;
  })();
  return chosen;
}
