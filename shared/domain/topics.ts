import type { EventType } from './events.js';
import { ALL_FUNCTIONS, type FunctionName, nameMap, QUEUE_NAMES, type QueueName, TOPIC_NAMES, type TopicName } from './pipeline.js';

/**
 * Topic and queue names, derived from the pipeline table (shared/domain/pipeline.ts): the one
 * place the code names them. Terraform declares each one (terraform/pipeline.json, checked by a
 * test), and the local stack subscribes the same functions to the same names.
 */
export const TOPICS = nameMap(TOPIC_NAMES);
export type Topic = TopicName;

export const TOPIC_OF_EVENT: Readonly<Record<EventType, Topic>> = Object.fromEntries(
  ALL_FUNCTIONS.flatMap((f) => ('topic' in f.trigger && f.trigger.event ? [[f.trigger.event, f.trigger.topic]] : [])),
) as Record<EventType, Topic>;

export const QUEUES = nameMap(QUEUE_NAMES);
export type Queue = QueueName;

/** Which function each topic and queue triggers. */
export const SUBSCRIPTIONS: Readonly<Record<Topic | Queue, FunctionName>> = Object.fromEntries(
  ALL_FUNCTIONS.flatMap((f) =>
    'topic' in f.trigger ? [[f.trigger.topic, f.name]] : 'queue' in f.trigger ? [[f.trigger.queue, f.name]] : [],
  ),
) as Record<Topic | Queue, FunctionName>;
