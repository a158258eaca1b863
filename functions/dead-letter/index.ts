import { BuildNotificationSchema, StageEventSchema } from '../../shared/domain/events.js';
import { logger } from '../../shared/logger.js';
import { failDeployment } from '../../shared/pipeline/stage-runner.js';
import { decode, type EventFunction } from '../lib/pubsub-event.js';

/**
 * Trigger: baton-dead-letter. A message no stage could process after every retry: the deployment
 * fails with the last error, so nothing fails silently.
 */
export const deadLetter: EventFunction = async (deps, cloudEvent) => {
  const msg = decode(cloudEvent, 'dead-letter');
  if (!msg) return;
  const stage = StageEventSchema.safeParse(msg.json);
  const build = BuildNotificationSchema.safeParse(msg.json);
  const id = stage.success ? stage.data.deployment_id : build.success ? build.data.substitutions._DEPLOYMENT_ID : undefined;
  if (!id) {
    logger.error(`message ${msg.messageId} from ${msg.attributes.source_topic ?? '?'} names no deployment`, { function: 'dead-letter' });
    return;
  }
  const job = await deps.jobs.get(id);
  // The local bus names what failed; Pub/Sub's dead-lettering adds its CloudPubSubDeadLetterSource* attributes instead.
  const a = msg.attributes;
  const attempts = a.delivery_attempts ?? a.CloudPubSubDeadLetterSourceDeliveryCount ?? 'several';
  const from = a.source_topic ?? a.CloudPubSubDeadLetterSourceSubscription ?? 'a topic';
  const why = a.last_error ?? "the stage's error is in its function's logs";
  await failDeployment(
    deps,
    id,
    job?.stage ?? 'validating',
    `Gave up after ${attempts} attempts on ${from}: ${why}. Check the control plane's health and deploy again`,
  );
};
