import { BuildNotificationSchema } from '../../shared/domain/events.js';
import { logger } from '../../shared/logger.js';
import { onBuildNotification } from '../../shared/pipeline/build-events.js';
import { decode, type EventFunction } from '../lib/pubsub-event.js';

/**
 * Trigger: baton-builds (the builds Baton submitted name it as their options.pubsubTopic). Advances
 * or fails the deployment the build belongs to; a build without Baton's tag is still ignored.
 */
export const buildEvents: EventFunction = async (deps, cloudEvent) => {
  const msg = decode(cloudEvent, 'build-events');
  if (!msg) return;
  const build = BuildNotificationSchema.safeParse(msg.json);
  if (!build.success) {
    logger.warn(`ignoring message ${msg.messageId}: not a Build resource`, { function: 'build-events' });
    return;
  }
  await onBuildNotification(deps, build.data);
};
