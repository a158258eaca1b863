import { CloudBuildClient } from '@google-cloud/cloudbuild';
import { Firestore } from '@google-cloud/firestore';
import { MetricServiceClient } from '@google-cloud/monitoring';
import { PubSub } from '@google-cloud/pubsub';
import { RevisionsClient, ServicesClient } from '@google-cloud/run';
import { CloudSchedulerClient } from '@google-cloud/scheduler';
import { Storage } from '@google-cloud/storage';
import { CloudTasksClient } from '@google-cloud/tasks';
import { GoogleAuth, PassThroughClient } from 'google-auth-library';
import { grpc } from 'google-gax';
import type { CloudBuildRest } from '../adapters/gcp/builder.js';
import type { LoggingClient } from '../adapters/gcp/runtime-logs.js';
import type { GcpConfig } from './gcp-config.js';

/** gRPC client options: Google's endpoint, or an insecure local one for tests against fakes. */
function grpcOptions(endpoint: string | undefined) {
  if (!endpoint) return {};
  const url = new URL(endpoint);
  return { apiEndpoint: url.hostname, port: Number(url.port), sslCreds: grpc.credentials.createInsecure() };
}

export interface GcpClients {
  firestore: Firestore;
  pubsub: PubSub;
  storage: Storage;
  cloudbuild: CloudBuildClient;
  /** Cloud Build's REST API, for what its gRPC proto lacks (a build's options.pubsubTopic). */
  cloudbuildRest: CloudBuildRest;
  services: ServicesClient;
  revisions: RevisionsClient;
  tasks: CloudTasksClient;
  scheduler: CloudSchedulerClient;
  logging: LoggingClient;
  /** Cloud Monitoring: the canary analysis reads Cloud Run's request metrics. */
  metrics: MetricServiceClient;
}

/**
 * The one place Google clients are built and endpoints known. Firestore and Pub/Sub honour their
 * emulators' variables by themselves; the rest take the *_ENDPOINT overrides.
 */
export function buildGcpClients(config: GcpConfig): GcpClients {
  const projectId = config.BATON_GCP_PROJECT;
  return {
    firestore: new Firestore({ projectId, ignoreUndefinedProperties: true }),
    pubsub: new PubSub({ projectId }),
    storage: new Storage(config.BATON_STORAGE_ENDPOINT ? { projectId, apiEndpoint: config.BATON_STORAGE_ENDPOINT } : { projectId }),
    cloudbuild: new CloudBuildClient({ projectId, ...grpcOptions(config.BATON_CLOUDBUILD_ENDPOINT) }),
    cloudbuildRest: config.BATON_CLOUDBUILD_REST_ENDPOINT
      ? { http: new PassThroughClient(), endpoint: config.BATON_CLOUDBUILD_REST_ENDPOINT }
      : {
          http: new GoogleAuth({ projectId, scopes: ['https://www.googleapis.com/auth/cloud-platform'] }),
          endpoint: 'https://cloudbuild.googleapis.com',
        },
    services: new ServicesClient({ projectId, ...grpcOptions(config.BATON_RUN_ENDPOINT) }),
    revisions: new RevisionsClient({ projectId, ...grpcOptions(config.BATON_RUN_ENDPOINT) }),
    tasks: new CloudTasksClient({ projectId, ...grpcOptions(config.BATON_TASKS_ENDPOINT) }),
    scheduler: new CloudSchedulerClient({ projectId, ...grpcOptions(config.BATON_SCHEDULER_ENDPOINT) }),
    metrics: new MetricServiceClient({ projectId, ...grpcOptions(config.BATON_MONITORING_ENDPOINT) }),
    // REST with an authorised client: @google-cloud/logging is not a dependency. A fake gets no credentials.
    logging: config.BATON_LOGGING_ENDPOINT
      ? { http: new PassThroughClient(), endpoint: config.BATON_LOGGING_ENDPOINT }
      : {
          http: new GoogleAuth({ projectId, scopes: ['https://www.googleapis.com/auth/logging.read'] }),
          endpoint: 'https://logging.googleapis.com',
        },
  };
}
