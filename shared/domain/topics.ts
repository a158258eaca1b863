import type { EventType } from './events.js';

/**
 * Topic and queue names: the one place the code names them. Terraform declares each one (a test
 * checks that), and the local stack subscribes the same functions to the same names.
 */
export const TOPICS = {
  deploymentRequested: 'baton-deployment-requested',
  deploymentValidated: 'baton-deployment-validated',
  deploymentPrepared: 'baton-deployment-prepared',
  deploymentBuilt: 'baton-deployment-built',
  deploymentVerified: 'baton-deployment-verified',
  rollbackRequested: 'baton-rollback-requested',
  /** Cloud Build publishes every build of the project here; the name is fixed by Google. */
  cloudBuilds: 'cloud-builds',
  deadLetter: 'baton-dead-letter',
} as const;
export type Topic = (typeof TOPICS)[keyof typeof TOPICS];

export const TOPIC_OF_EVENT: Readonly<Record<EventType, Topic>> = {
  'deployment.requested.v1': TOPICS.deploymentRequested,
  'deployment.validated.v1': TOPICS.deploymentValidated,
  'deployment.prepared.v1': TOPICS.deploymentPrepared,
  'deployment.built.v1': TOPICS.deploymentBuilt,
  'deployment.verified.v1': TOPICS.deploymentVerified,
  'deployment.rollback_requested.v1': TOPICS.rollbackRequested,
};

export const QUEUES = {
  verifyPoll: 'baton-verify-poll',
  promoteStep: 'baton-promote-step',
} as const;
export type Queue = (typeof QUEUES)[keyof typeof QUEUES];

/** Which function each topic and queue triggers. */
export const SUBSCRIPTIONS = {
  [TOPICS.deploymentRequested]: 'validate',
  [TOPICS.deploymentValidated]: 'prepare-source',
  [TOPICS.deploymentPrepared]: 'build',
  [TOPICS.cloudBuilds]: 'build-events',
  [TOPICS.deploymentBuilt]: 'deploy',
  [TOPICS.deploymentVerified]: 'promote',
  [TOPICS.rollbackRequested]: 'rollback',
  [TOPICS.deadLetter]: 'dead-letter',
  [QUEUES.verifyPoll]: 'verify',
  [QUEUES.promoteStep]: 'canary-step',
} as const;
