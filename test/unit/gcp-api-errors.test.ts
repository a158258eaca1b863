import { describe, expect, it } from 'vitest';
import { classifyGcpError, GoogleApiError, withApiErrors } from '../../shared/adapters/gcp/api-errors.js';
import { isPermanent, messageOf, PermanentError } from '../../shared/domain/errors.js';
import { configureLogging } from '../../shared/logger.js';

/** An error shaped as google-gax hands it over: numeric code, "N NAME: details" message, details. */
function gax(code: number, details: string, extra: Record<string, unknown> = {}) {
  const names = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED'];
  return Object.assign(new Error(`${code} ${names[code] ?? 'X'}: ${details}`), { code, details, ...extra });
}
/** An error shaped as @google-cloud/storage's ApiError: the HTTP status as code. */
function http(status: number, message: string) {
  return Object.assign(new Error(message), { code: status, errors: [{ message, reason: 'x' }] });
}

describe('classifyGcpError', () => {
  it.each([
    [3, 'INVALID_ARGUMENT'],
    [7, 'PERMISSION_DENIED'],
    [9, 'FAILED_PRECONDITION'],
    [11, 'OUT_OF_RANGE'],
    [12, 'UNIMPLEMENTED'],
    [16, 'UNAUTHENTICATED'],
    [5, 'NOT_FOUND'],
    [6, 'ALREADY_EXISTS'],
  ])('gRPC %i is permanent on Cloud Tasks, with its name and the API message', (code, name) => {
    const err = classifyGcpError('tasks', 'enqueue', gax(code, 'the words of the API.'));
    expect(isPermanent(err)).toBe(true);
    expect((err as GoogleApiError).status).toBe(name);
    expect((err as Error).message).toBe(`Cloud Tasks answered ${name} to enqueue: the words of the API`);
    expect((err as Error).cause).toBeInstanceOf(Error);
  });

  it.each([1, 2, 4, 8, 10, 13, 14, 15])('gRPC %i stays transient (the same error comes back)', (code) => {
    const original = gax(code, 'busy');
    for (const service of ['firestore', 'pubsub', 'cloudbuild', 'run', 'tasks', 'scheduler'] as const) {
      expect(classifyGcpError(service, 'op', original)).toBe(original);
    }
  });

  it.each([400, 401, 403, 404, 405, 411, 413, 416])('HTTP %i from Cloud Storage is permanent', (status) => {
    expect(isPermanent(classifyGcpError('storage', 'put', http(status, 'refused')))).toBe(true);
  });

  it.each([408, 429, 500, 502, 503, 504, 409, 412])('HTTP %i from Cloud Storage stays transient', (status) => {
    const original = http(status, 'later');
    expect(classifyGcpError('storage', 'put', original)).toBe(original);
  });

  it('leaves what carries no API code alone: plain errors, Node errors, PermanentErrors', () => {
    const plain = new Error('boom');
    const node = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', errno: -111 });
    const permanent = new PermanentError('bad', 'fix it');
    for (const e of [plain, node, permanent, 'text']) expect(classifyGcpError('run', 'op', e)).toBe(e);
  });

  it('keeps the codes that heal on a retry transient where they do: Cloud Run read-change-write, Firestore races', () => {
    for (const code of [5, 6, 9]) {
      const e = gax(code, 'changed meanwhile');
      expect(classifyGcpError('run', 'deployRevision', e)).toBe(e);
    }
    const raced = gax(6, 'Document already exists');
    expect(classifyGcpError('firestore', 'createUnlessBusy', raced)).toBe(raced);
    const closed = gax(3, 'Transaction is invalid or closed.');
    expect(classifyGcpError('firestore', 'enqueue', closed)).toBe(closed);
    const expired = gax(9, 'The referenced transaction has expired or is no longer valid');
    expect(classifyGcpError('firestore', 'update', expired)).toBe(expired);
    const index = classifyGcpError('firestore', 'list', gax(9, 'The query requires an index. You can create it here: https://x'));
    expect(messageOf(index)).toMatch(/composite index.*FIRESTORE_INDEXES/);
  });

  it('names the role the call needs on PERMISSION_DENIED, with the permission the API named', () => {
    const roles = {
      run: 'roles/run.developer',
      cloudbuild: 'roles/cloudbuild.builds.editor',
      tasks: 'roles/cloudtasks.enqueuer',
      storage: 'roles/storage.objectUser',
      firestore: 'roles/datastore.user',
      pubsub: 'roles/pubsub.publisher',
      scheduler: 'roles/cloudscheduler.admin',
    } as const;
    for (const [service, role] of Object.entries(roles) as [keyof typeof roles, string][]) {
      const err = service === 'storage' ? http(403, 'refused') : gax(7, 'The caller does not have permission');
      expect(messageOf(classifyGcpError(service, 'op', err))).toContain(`Grant the calling function's service account ${role}`);
    }
    const named = gax(7, 'lacks IAM permission "cloudtasks.tasks.create" for the resource "q"', {
      reason: 'IAM_PERMISSION_DENIED',
      errorInfoMetadata: { permission: 'cloudtasks.tasks.create' },
    });
    expect(messageOf(classifyGcpError('tasks', 'enqueue', named))).toContain(', which holds cloudtasks.tasks.create');
    const storage = http(403, "x does not have storage.objects.create access. Permission 'storage.objects.create' denied on resource");
    expect(messageOf(classifyGcpError('storage', 'put', storage))).toContain(', which holds storage.objects.create');
  });

  it('tells apart a missing actAs grant and a disabled API', () => {
    const actAs = gax(7, 'lacks IAM permission "iam.serviceAccounts.actAs" for the resource "sa@p.iam.gserviceaccount.com"');
    expect(messageOf(classifyGcpError('run', 'deployRevision', actAs))).toContain('roles/iam.serviceAccountUser');
    const disabled = gax(7, 'Cloud Build API has not been used in project 123 before or it is disabled.', { reason: 'SERVICE_DISABLED' });
    expect(messageOf(classifyGcpError('cloudbuild', 'submit', disabled))).toContain('Enable cloudbuild.googleapis.com');
  });

  it('says Terraform may not have been applied for a topic, queue or bucket that does not exist', () => {
    expect(messageOf(classifyGcpError('pubsub', 'publish', gax(5, 'Resource not found (resource=baton-x)')))).toMatch(
      /^Pub\/Sub answered NOT_FOUND to publish: Resource not found \(resource=baton-x\)\. The topic does not exist: Terraform may not have been applied/,
    );
    expect(messageOf(classifyGcpError('storage', 'put', http(404, 'The specified bucket does not exist.')))).toContain(
      'The bucket does not exist: Terraform may not have been applied',
    );
  });

  it("finds the code behind an adapter's own wrapping and keeps the adapter's words", () => {
    const wrapped = new Error('Cloud Tasks queue q does not exist (Terraform declares it)', {
      cause: gax(5, 'Requested entity was not found'),
    });
    const err = classifyGcpError('tasks', 'enqueue', wrapped);
    expect(messageOf(err)).toMatch(
      /^Cloud Tasks answered NOT_FOUND to enqueue: Cloud Tasks queue q does not exist \(Terraform declares it\)\. The queue/,
    );
  });
});

describe('withApiErrors', () => {
  class Adapter {
    readonly counters = { calls: 0 };
    private readonly secret = 7;
    async refuse(): Promise<void> {
      this.counters.calls++;
      throw gax(7, 'The caller does not have permission');
    }
    async busy(): Promise<void> {
      throw gax(14, 'try later');
    }
    async ok(): Promise<number> {
      return this.secret;
    }
    throwsNow(): never {
      throw gax(3, 'bad field');
    }
    watch(): () => void {
      return () => undefined;
    }
  }

  it('classifies rejections and throws of every method, passes values, fields and sync results through', async () => {
    const lines: string[] = [];
    configureLogging({ write: (l) => lines.push(l) });
    const a = withApiErrors('cloudbuild', new Adapter());
    await expect(a.refuse()).rejects.toBeInstanceOf(GoogleApiError);
    await expect(a.refuse()).rejects.toThrow(/^Cloud Build answered PERMISSION_DENIED to refuse: The caller does not have permission$/);
    await expect(a.busy()).rejects.not.toBeInstanceOf(PermanentError);
    expect(await a.ok()).toBe(7);
    expect(() => a.throwsNow()).toThrow(GoogleApiError);
    expect(typeof a.watch()).toBe('function');
    expect(a.counters.calls).toBe(2);
    expect(a.refuse).toBe(a.refuse);
    expect(lines.filter((l) => l.includes('PERMISSION_DENIED'))).toHaveLength(2);
    expect(lines[0]).toContain('roles/cloudbuild.builds.editor');
  });
});
