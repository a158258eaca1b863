import { BuildNotificationSchema, StageEventSchema } from '../../shared/domain/events.js';
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
    console.error(`dead-letter: message ${msg.messageId} from ${msg.attributes.source_topic ?? '?'} names no deployment`);
    return;
  }
  const job = await deps.jobs.get(id);
  const attempts = msg.attributes.delivery_attempts ?? 'several';
  const why = msg.attributes.last_error ?? 'unknown error';
  await failDeployment(
    deps,
    id,
    job?.stage ?? 'validating',
    `Gave up after ${attempts} attempts on ${msg.attributes.source_topic ?? 'a topic'}: ${why}. Check the control plane's health and deploy again`,
  );
};
