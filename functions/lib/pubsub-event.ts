import { z } from 'zod';
import { StageEventSchema } from '../../shared/domain/events.js';
import { annotateLogContext, logger, withLogContext } from '../../shared/logger.js';
import type { PipelineDeps } from '../../shared/pipeline/deps.js';

/** The body of an Eventarc `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent. */
export const PubSubCloudEventSchema = z.object({
  id: z.string().optional(),
  data: z.object({
    message: z.object({
      data: z.string().default(''),
      attributes: z.record(z.string(), z.string()).default({}),
      messageId: z.string().optional(),
      publishTime: z.string().optional(),
    }),
    subscription: z.string().optional(),
    deliveryAttempt: z.number().optional(),
  }),
});

export interface DecodedMessage {
  json: unknown;
  attributes: Record<string, string>;
  messageId: string;
}

/** A function that receives Pub/Sub messages through Eventarc. Throwing makes the trigger retry. */
export type EventFunction = (deps: PipelineDeps, cloudEvent: unknown) => Promise<void>;

/** Decodes the CloudEvent; a malformed one can never succeed, so it is logged and acknowledged. */
export function decode(cloudEvent: unknown, fn: string): DecodedMessage | null {
  const parsed = PubSubCloudEventSchema.safeParse(cloudEvent);
  if (!parsed.success) {
    logger.warn(`ignoring a malformed CloudEvent: ${parsed.error.issues[0]?.message ?? 'invalid'}`, { function: fn });
    return null;
  }
  const { message } = parsed.data.data;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(message.data, 'base64').toString('utf8'));
  } catch {
    logger.warn(`ignoring message ${message.messageId ?? '?'}: its data is not JSON`, { function: fn });
    return null;
  }
  return { json, attributes: message.attributes, messageId: message.messageId ?? parsed.data.id ?? '' };
}

/** A stage function: decode, validate the versioned envelope, call one use case. */
export function stageFunction(name: string, useCase: (deps: PipelineDeps, deploymentId: string) => Promise<string>): EventFunction {
  return async (deps, cloudEvent) => {
    const msg = decode(cloudEvent, name);
    if (!msg) return;
    const event = StageEventSchema.safeParse(msg.json);
    if (!event.success) {
      logger.warn(`ignoring message ${msg.messageId}: not a Baton stage event (${event.error.issues[0]?.message})`, { function: name });
      return;
    }
    const { deployment_id } = event.data;
    annotateLogContext({ deployment_id });
    await withLogContext({ deployment_id }, () => useCase(deps, deployment_id));
  };
}

/** Wraps a message as Eventarc delivers it, for the local bus and tests. */
export function toCloudEvent(
  topic: string,
  msg: { data: Buffer; attributes: Record<string, string>; messageId: string; publishTime: string; deliveryAttempt: number },
) {
  return {
    specversion: '1.0',
    id: msg.messageId,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: `//pubsub.googleapis.com/projects/local/topics/${topic}`,
    time: msg.publishTime,
    data: {
      message: { data: msg.data.toString('base64'), attributes: msg.attributes, messageId: msg.messageId, publishTime: msg.publishTime },
      subscription: `projects/local/subscriptions/${topic}`,
      deliveryAttempt: msg.deliveryAttempt,
    },
  };
}
