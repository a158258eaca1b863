import { PermanentError } from '../../domain/errors.js';
import { log } from '../../logger.js';

/**
 * Which answers of Google's APIs no retry can change, and what to do about them.
 *
 * The pipeline retries anything that is not a PermanentError, through the whole back-off (about
 * 40 minutes) and into the dead letter. A missing role, a request the API finds invalid, a topic
 * or queue Terraform never created answer the same on every attempt: `classifyGcpError` turns
 * them into a PermanentError carrying the API's own message and a hint, so the stage fails at
 * once and says what to fix. Decided by numbers only, so nothing here imports a Google package:
 * gRPC codes 1–16 (google-gax, Firestore, Pub/Sub) and HTTP statuses 100–599 (Cloud Storage's
 * JSON API) cannot be confused.
 *
 * Applied where errors leave an adapter (`withApiErrors`, in shared/wiring/gcp.ts), after the
 * adapter has interpreted the codes it expects: ALREADY_EXISTS of a named task, NOT_FOUND of a
 * get (null), Firestore's ABORTED inside transactions, 412 of a generation precondition.
 */

export type GcpService = 'firestore' | 'pubsub' | 'storage' | 'cloudbuild' | 'run' | 'tasks' | 'scheduler' | 'monitoring';

/** What an answer means for a retry. */
type Kind = 'invalid' | 'denied' | 'unauthenticated' | 'not_found' | 'exists' | 'precondition' | 'unimplemented' | 'transient';

const GRPC_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE, DATA_LOSS: transient. */
const GRPC_KIND: Partial<Record<number, Kind>> = {
  3: 'invalid',
  5: 'not_found',
  6: 'exists',
  7: 'denied',
  9: 'precondition',
  11: 'invalid',
  12: 'unimplemented',
  16: 'unauthenticated',
};

const API: Record<GcpService, { name: string; host: string; role: string; missing: string }> = {
  firestore: { name: 'Firestore', host: 'firestore.googleapis.com', role: 'roles/datastore.user', missing: 'the Firestore database' },
  pubsub: { name: 'Pub/Sub', host: 'pubsub.googleapis.com', role: 'roles/pubsub.publisher', missing: 'the topic' },
  storage: { name: 'Cloud Storage', host: 'storage.googleapis.com', role: 'roles/storage.objectUser', missing: 'the bucket' },
  cloudbuild: {
    name: 'Cloud Build',
    host: 'cloudbuild.googleapis.com',
    role: 'roles/cloudbuild.builds.editor',
    missing: 'the project, region or build',
  },
  run: { name: 'Cloud Run', host: 'run.googleapis.com', role: 'roles/run.developer', missing: 'the service' },
  tasks: { name: 'Cloud Tasks', host: 'cloudtasks.googleapis.com', role: 'roles/cloudtasks.enqueuer', missing: 'the queue' },
  scheduler: { name: 'Cloud Scheduler', host: 'cloudscheduler.googleapis.com', role: 'roles/cloudscheduler.admin', missing: 'the job' },
  monitoring: { name: 'Cloud Monitoring', host: 'monitoring.googleapis.com', role: 'roles/monitoring.viewer', missing: 'the project' },
};

/**
 * Answers that can heal, per service, although their code alone says otherwise:
 * - Cloud Run: every change is a read, a change and a write; a retry reads again, so a service
 *   created or deleted meanwhile (ALREADY_EXISTS, NOT_FOUND) is seen as it now is, and Cloud Run
 *   refuses to delete a revision (FAILED_PRECONDITION) until a traffic change has reconciled.
 * - Firestore: a create racing another inside a transaction (ALREADY_EXISTS) reads the winner on
 *   retry; FAILED_PRECONDITION is permanent only for a missing index (see `kindOf`).
 * - Cloud Storage: 409 and 412 are a concurrent writer; the adapter re-reads on its own retries.
 */
const HEALS: Partial<Record<GcpService, readonly Kind[]>> = {
  run: ['not_found', 'exists', 'precondition'],
  firestore: ['exists'],
};

/** A deterministic refusal by a Google API: its own message, what to do, and the original as `cause`. */
export class GoogleApiError extends PermanentError {
  constructor(
    readonly service: GcpService,
    /** The gRPC status name (a REST answer's own `error.status` too), or `HTTP <status>`. */
    readonly status: string,
    message: string,
    hint: string,
    cause: unknown,
  ) {
    super(message, hint, { cause });
  }
}

/**
 * A PermanentError for an answer no retry can change; anything else (transient codes, errors
 * without a code, PermanentErrors already) is returned as it is.
 */
export function classifyGcpError(service: GcpService, operation: string, err: unknown): unknown {
  if (err instanceof PermanentError) return err;
  const answer = apiAnswer(err);
  if (!answer) return err;
  const kind = kindOf(service, answer);
  if (kind === 'transient' || HEALS[service]?.includes(kind)) return err;
  const api = API[service];
  const text = apiMessage(err, answer);
  return new GoogleApiError(
    service,
    answer.status,
    `${api.name} answered ${answer.status} to ${operation}: ${text}`,
    hintFor(service, kind, text, answer),
    err,
  );
}

/**
 * The adapter with every method's errors classified (thrown or rejected), and each refusal
 * logged once, at ERROR, with its hint. A Proxy, so every port method and every method added
 * later is covered without editing the adapter; calls inside the adapter are not intercepted.
 */
export function withApiErrors<T extends object>(service: GcpService, adapter: T): T {
  const wrapped = new WeakMap<(...args: unknown[]) => unknown, (...args: unknown[]) => unknown>();
  const rethrow = (operation: string) => (err: unknown) => {
    const classified = classifyGcpError(service, operation, err);
    if (classified instanceof GoogleApiError && classified !== err) log('ERROR', classified.userMessage());
    throw classified;
  };
  return new Proxy(adapter, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || prop === 'constructor') return value;
      const method = value as (...args: unknown[]) => unknown;
      let fn = wrapped.get(method);
      if (!fn) {
        const onError = rethrow(String(prop));
        fn = (...args: unknown[]) => {
          let result: unknown;
          try {
            result = method.apply(target, args);
          } catch (err) {
            onError(err);
          }
          return isThenable(result) ? result.then(undefined, onError) : result;
        };
        wrapped.set(method, fn);
      }
      return fn;
    },
  });
}

interface Answer {
  grpc?: number;
  http?: number;
  /** PERMISSION_DENIED, or HTTP 403. */
  status: string;
  /** google.rpc.ErrorInfo's reason, when the answer carried one (e.g. SERVICE_DISABLED). */
  reason?: string;
  permission?: string;
  /** The error in the chain that carried the code. */
  carrier: object;
}

/** The code of the first error in the cause chain that has one. */
function apiAnswer(err: unknown): Answer | null {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && typeof e === 'object' && e !== null; depth++) {
    const o = e as { code?: unknown; response?: { status?: unknown }; reason?: unknown; errorInfoMetadata?: unknown; cause?: unknown };
    const code = typeof o.code === 'number' ? o.code : typeof o.response?.status === 'number' ? o.response.status : undefined;
    const meta = (o.errorInfoMetadata ?? {}) as { permission?: unknown };
    const reason = typeof o.reason === 'string' ? o.reason : undefined;
    const permission = typeof meta.permission === 'string' ? meta.permission : undefined;
    if (code !== undefined && code >= 1 && code <= 16) return { grpc: code, status: GRPC_NAMES[code], reason, permission, carrier: o };
    if (code !== undefined && code >= 100 && code <= 599)
      return { http: code, status: restStatusName(o) ?? `HTTP ${code}`, reason, permission, carrier: o };
    e = o.cause;
  }
  return null;
}

/** The canonical name a REST answer's JSON error body gives (AIP-193 `error.status`, e.g. PERMISSION_DENIED), if any. */
function restStatusName(o: { response?: unknown }): string | undefined {
  const status = (o.response as { data?: { error?: { status?: unknown } } } | undefined)?.data?.error?.status;
  return typeof status === 'string' && (GRPC_NAMES as readonly string[]).includes(status) ? status : undefined;
}

function kindOf(service: GcpService, answer: Answer): Kind {
  if (answer.grpc !== undefined) {
    const kind = GRPC_KIND[answer.grpc] ?? 'transient';
    // Firestore's FAILED_PRECONDITION is a missing composite index, or a transaction state a retry resets.
    if (service === 'firestore' && kind === 'precondition') return /index/i.test(messageOf(answer.carrier)) ? kind : 'transient';
    // A query inside a transaction that contention aborted meanwhile: the next attempt runs a new transaction.
    if (service === 'firestore' && /Transaction is invalid or closed/i.test(messageOf(answer.carrier))) return 'transient';
    return kind;
  }
  const status = answer.http ?? 500;
  if (status < 400 || status >= 500 || status === 408 || status === 429) return 'transient';
  if (service === 'storage' && (status === 409 || status === 412)) return 'transient';
  const byStatus: Partial<Record<number, Kind>> = {
    401: 'unauthenticated',
    403: 'denied',
    404: 'not_found',
    409: 'exists',
    412: 'precondition',
  };
  return byStatus[status] ?? 'invalid';
}

function hintFor(service: GcpService, kind: Kind, text: string, answer: Answer): string {
  const api = API[service];
  const then = 'then deploy again';
  switch (kind) {
    case 'denied':
      if (answer.reason === 'SERVICE_DISABLED' || /has not been used in project|is disabled/i.test(text)) {
        return `Enable ${api.host} in the project (terraform apply enables the APIs Baton uses), wait a few minutes, ${then}`;
      }
      if (/actAs/i.test(text)) {
        return `Grant the calling function's service account roles/iam.serviceAccountUser on the service account named there (${api.name} runs work as it), ${then}`;
      }
      return (
        `Grant the calling function's service account ${api.role}` +
        `${(answer.permission ?? permissionIn(text)) ? `, which holds ${answer.permission ?? permissionIn(text)}` : ''}` +
        `: terraform/iam.tf declares the grants, apply it, ${then}`
      );
    case 'unauthenticated':
      return `${api.name} refused the calling function's credentials: check that its service account exists and is enabled and that the function runs as it, ${then}`;
    case 'not_found':
      return `${capitalise(api.missing)} does not exist: Terraform may not have been applied to this project (terraform apply), or BATON_GCP_PROJECT, BATON_GCP_REGION or BATON_BUCKET names another one`;
    case 'exists':
      return `${api.name} already holds a resource of that name that Baton did not expect: remove it, ${then}`;
    case 'precondition':
      if (service === 'firestore') {
        return 'Firestore needs a composite index for this query: terraform apply creates the ones FIRESTORE_INDEXES lists (the link in the message creates it by hand)';
      }
      return `The resource is not in a state that allows this (paused, disabled or being changed): fix its state, ${then}`;
    case 'unimplemented':
      return `${api.name} does not offer this call at that endpoint: check BATON_GCP_REGION and the *_ENDPOINT settings`;
    default:
      return `${api.name} will refuse this request on every attempt. If it comes from the deployment request, correct the request and deploy again; if not, it is a defect in Baton's ${service} adapter: report it with this message`;
  }
}

/** The API's words, without the "7 PERMISSION_DENIED: " prefix gax puts before them. */
function apiMessage(err: unknown, answer: Answer): string {
  const top = messageOf(err);
  const details = (answer.carrier as { details?: unknown }).details;
  // An adapter that wrapped the error has said where it happened: keep its words.
  const text = answer.carrier !== err ? top : typeof details === 'string' && details ? details : top;
  return (
    text
      .replace(/^\d+ [A-Z_]+: /, '')
      .trim()
      .replace(/\.+$/, '') || 'no message'
  );
}

function permissionIn(text: string): string | undefined {
  return /["']([a-z]+(?:\.[a-zA-Z]+){2,})["']/.exec(text)?.[1];
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String((err as { message?: unknown }).message ?? err);
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function isThenable(v: unknown): v is Promise<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
