import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { protobuf } from 'google-gax';

/**
 * The part of IAM the in-process fakes play: permissions a test revokes (`deny`), refused as the
 * real APIs refuse them. Over gRPC that is PERMISSION_DENIED with Google's wording ("The principal
 * (user or service account) lacks IAM permission …") and a `grpc-status-details-bin` trailer
 * holding a google.rpc.Status whose details carry a google.rpc.ErrorInfo (reason
 * IAM_PERMISSION_DENIED, metadata {permission, resource}), which google-gax decodes into the
 * error's `reason` and `errorInfoMetadata`; Cloud Storage answers its JSON 403 (see its fake).
 *
 * What it does NOT prove: real role contents (which permissions a role grants), conditions,
 * deny policies, inheritance, or propagation delays: every permission is granted unless denied.
 */
export class FakeIam {
  private readonly denied = new Set<string>();

  deny(...permissions: string[]): void {
    for (const p of permissions) this.denied.add(p);
  }

  allow(...permissions: string[]): void {
    for (const p of permissions) this.denied.delete(p);
  }

  isDenied(permission: string): boolean {
    return this.denied.has(permission);
  }
}

const require = createRequire(import.meta.url);
// google-gax's own google.rpc protos (not exported: found next to its entry point, build/src/index.js).
const STATUS_JSON = join(dirname(require.resolve('google-gax')), '..', 'protos', 'status.json');
const root = protobuf.Root.fromJSON(JSON.parse(readFileSync(STATUS_JSON, 'utf8')) as protobuf.INamespace);
const Status = root.lookupType('google.rpc.Status');
const ErrorInfo = root.lookupType('google.rpc.ErrorInfo');

/** A gRPC error as Google's front end sends it: code, message, and google.rpc.Status details with an ErrorInfo. */
export function rpcStatusError(
  code: grpc.status,
  message: string,
  errorInfo?: { reason: string; domain: string; metadata: Record<string, string> },
): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (errorInfo) {
    const info = {
      type_url: 'type.googleapis.com/google.rpc.ErrorInfo',
      value: ErrorInfo.encode(ErrorInfo.fromObject(errorInfo)).finish(),
    };
    metadata.set('grpc-status-details-bin', Buffer.from(Status.encode(Status.fromObject({ code, message, details: [info] })).finish()));
  }
  return Object.assign(new Error(message), { code, details: message, metadata });
}

/** PERMISSION_DENIED for `permission` on `resource`, worded as Cloud Tasks and Cloud Scheduler word it. */
export function permissionDenied(permission: string, resource: string): grpc.ServiceError {
  return rpcStatusError(
    grpc.status.PERMISSION_DENIED,
    `The principal (user or service account) lacks IAM permission "${permission}" for the resource "${resource}" (or the resource may not exist).`,
    { reason: 'IAM_PERMISSION_DENIED', domain: 'googleapis.com', metadata: { permission, resource } },
  );
}
