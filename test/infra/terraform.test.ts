import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format } from '@cdktf/hcl-tools';
import { parse } from '@cdktf/hcl2json';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { decode } from '../../functions/lib/pubsub-event.js';
import { EVENT_FUNCTIONS, SCHEDULED_FUNCTIONS, TASK_FUNCTIONS } from '../../functions/registry.js';
import { ConfigSchema } from '../../shared/config.js';
import { type StageStatus, stageDef, terraformPipelineJson } from '../../shared/domain/pipeline.js';
import { QUEUES, SUBSCRIPTIONS, TOPIC_OF_EVENT, TOPICS } from '../../shared/domain/topics.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import {
  FIRESTORE_INDEXES_NEEDED,
  FIRESTORE_TTL_FIELDS,
  FUNCTION_NEEDS,
  HANDS_OFF,
  HTTP_FUNCTIONS,
  type IndexSpec,
  PRODUCTION_ENV,
  READS_BUILD_LOGS,
  READS_METRICS,
} from './expectations.js';

/**
 * Terraform checked against the code, offline: no terraform binary exists here. Each .tf file is
 * parsed with @cdktf/hcl2json (HCL's own parser compiled to WASM: a syntax error fails with its
 * position) and formatted with @cdktf/hcl-tools (hclwrite, what `terraform fmt` runs).
 *
 * What this proves: the files are valid HCL in fmt style; every function folder, topic, queue,
 * schedule and Firestore index the code needs is declared, and nothing more; each function gets
 * the environment GcpConfigSchema requires; each function's publish/enqueue grants are those its
 * code can reach; every variable is described and validated.
 * What it cannot prove: that the provider accepts these arguments (no schema validation, no
 * `terraform validate`), that references resolve to declared attributes, that plan/apply succeed,
 * that the IAM roles are sufficient at run time, that predicted URLs equal the ones Cloud Run
 * assigns, or that the approval-gated pipeline runs. Those need a real project.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TF_DIR = join(ROOT, 'terraform');

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, what: string): Obj {
  if (!isObj(v)) throw new Error(`${what}: expected an object, got ${JSON.stringify(v)}`);
  return v;
}

/** hcl2json gives every block as an array of bodies; a single body for attributes. */
function blocks(v: unknown): Obj[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter(isObj);
}

function one(v: unknown, what: string): Obj {
  const all = blocks(v);
  if (all.length !== 1) throw new Error(`${what}: expected one block, found ${all.length}`);
  return all[0];
}

function strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error(`${what}: expected a list of strings`);
  return v;
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

/** A Terraform expression as hcl2json renders it: ${…}. */
const ref = (expression: string) => `\${${expression}}`;

interface Terraform {
  sources: Map<string, string>;
  parseErrors: string[];
  resources: Map<string, Obj>;
  data: Map<string, Obj>;
  variables: Map<string, Obj>;
  checks: Map<string, Obj>;
  locals: Obj;
}

async function loadTerraform(): Promise<Terraform> {
  const tf: Terraform = {
    sources: new Map(),
    parseErrors: [],
    resources: new Map(),
    data: new Map(),
    variables: new Map(),
    checks: new Map(),
    locals: {},
  };
  for (const file of readdirSync(TF_DIR)
    .filter((f) => f.endsWith('.tf'))
    .sort()) {
    const text = readFileSync(join(TF_DIR, file), 'utf8');
    tf.sources.set(file, text);
    let json: Obj;
    try {
      json = obj(await parse(file, text), file);
    } catch (err) {
      tf.parseErrors.push(err instanceof Error ? err.message : String(err));
      continue;
    }
    for (const [kind, target] of [
      ['resource', tf.resources],
      ['data', tf.data],
    ] as const) {
      for (const [type, byName] of Object.entries(isObj(json[kind]) ? json[kind] : {})) {
        for (const [name, body] of Object.entries(obj(byName, `${file} ${kind} ${type}`))) {
          const key = `${type}.${name}`;
          if (target.has(key)) throw new Error(`${file}: ${kind} ${key} is declared twice`);
          target.set(key, one(body, `${file} ${key}`));
        }
      }
    }
    for (const [name, body] of Object.entries(isObj(json.variable) ? json.variable : {}))
      tf.variables.set(name, one(body, `variable ${name}`));
    for (const [name, body] of Object.entries(isObj(json.check) ? json.check : {})) tf.checks.set(name, one(body, `check ${name}`));
    for (const body of blocks(json.locals)) {
      for (const [name, value] of Object.entries(body)) {
        if (name in tf.locals) throw new Error(`${file}: local.${name} is declared twice`);
        tf.locals[name] = value;
      }
    }
  }
  return tf;
}

function resource(tf: Terraform, address: string): Obj {
  const body = tf.resources.get(address);
  if (!body) throw new Error(`terraform/ declares no resource ${address}`);
  return body;
}

/** terraform/pipeline.json as committed: what Terraform's `local.pipeline` decodes. */
const PIPELINE_JSON = obj(JSON.parse(readFileSync(join(TF_DIR, 'pipeline.json'), 'utf8')), 'terraform/pipeline.json');

/** A local's value; one that only reads a key of local.pipeline is that key of pipeline.json. */
function local(tf: Terraform, name: string): unknown {
  if (!(name in tf.locals)) throw new Error(`terraform/ declares no local.${name}`);
  const value = tf.locals[name];
  const key = typeof value === 'string' ? /^\$\{local\.pipeline\.(\w+)\}$/.exec(value)?.[1] : undefined;
  if (key === undefined) return value;
  if (!(key in PIPELINE_JSON)) throw new Error(`local.${name} reads pipeline.json's ${key}, which it does not have`);
  return PIPELINE_JSON[key];
}

/** A literal map of strings (local.event_functions …). */
function stringMap(tf: Terraform, name: string): Record<string, string> {
  const m = obj(local(tf, name), `local.${name}`);
  for (const [k, v] of Object.entries(m)) if (typeof v !== 'string') throw new Error(`local.${name}.${k} must be a literal string`);
  return m as Record<string, string>;
}

/** Cloud Function folders: every folder under functions/ with an index.ts, except lib and local. */
function functionFolders(): string[] {
  return readdirSync(join(ROOT, 'functions'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && !['lib', 'local'].includes(d.name) && existsSync(join(ROOT, 'functions', d.name, 'index.ts')))
    .map((d) => d.name)
    .sort();
}

// --- Firestore indexes, normalised to "collection|scope|field:ORDER,…" ------------------------------

function order(v: unknown, what: string): 'ASCENDING' | 'DESCENDING' {
  const s = String(v);
  if (/^asc/i.test(s)) return 'ASCENDING';
  if (/^desc/i.test(s)) return 'DESCENDING';
  throw new Error(`${what}: order ${JSON.stringify(v)} is neither ascending nor descending`);
}

/** Firestore appends __name__ in the direction of the last field when an index does not end with it. */
function indexKey(collection: string, scope: string, fields: readonly (readonly [string, string])[]): string {
  const last = fields.at(-1);
  const before = fields.at(-2);
  const explicit = fields.length > 1 && last?.[0] === '__name__' && last[1] === before?.[1];
  const shown = explicit ? fields.slice(0, -1) : fields;
  return `${collection}|${scope}|${shown.map(([f, o]) => `${f}:${o}`).join(',')}`;
}

const specKey = (s: IndexSpec) => indexKey(s.collection, 'COLLECTION', s.fields);

/** Accepts the firestore.indexes.json shape, terraform's, or tuples: [field, order]. */
function looseIndexKey(v: unknown, what: string): string {
  const o = obj(v, what);
  const collection = o.collectionGroup ?? o.collection_group ?? o.collection;
  if (typeof collection !== 'string') throw new Error(`${what}: no collection in ${JSON.stringify(v)}`);
  const scope = String(o.queryScope ?? o.query_scope ?? 'COLLECTION').toUpperCase();
  if (!Array.isArray(o.fields)) throw new Error(`${what}: no fields in ${JSON.stringify(v)}`);
  const fields = o.fields.map((f: unknown, i: number): [string, string] => {
    if (Array.isArray(f)) return [String(f[0]), order(f[1], `${what} field ${i}`)];
    const fo = obj(f, `${what} field ${i}`);
    const path = fo.fieldPath ?? fo.field_path ?? fo.field ?? fo.path;
    if (typeof path !== 'string') throw new Error(`${what} field ${i}: no field path`);
    return [path, order(fo.order ?? fo.direction, `${what} field ${i}`)];
  });
  return indexKey(collection, scope, fields);
}

// --- What a function's code can reach: its import closure, scanned ------------------------------------

const RELATIVE_IMPORT = /(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'/g;

function importClosure(entry: string): string[] {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(RELATIVE_IMPORT)) {
      const target = resolve(dirname(file), m[1]).replace(/\.js$/, '.ts');
      if (existsSync(target)) todo.push(target);
    }
  }
  return [...seen];
}

/**
 * Event types and queues named by the code a function runs. shared/domain/ only declares them (the
 * topic map names every event), so it is not scanned: what remains are the hand-offs.
 */
function reachableHandOffs(fn: string): { events: Set<string>; queues: Set<string> } {
  const events = new Set<string>();
  const queues = new Set<string>();
  const queueNames: Record<string, string> = QUEUES;
  for (const file of importClosure(join(ROOT, 'functions', fn, 'index.ts'))) {
    if (relative(ROOT, file).startsWith(join('shared', 'domain'))) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/'(deployment\.[a-z_]+\.v\d+)'/g)) events.add(m[1]);
    // A stage's done hand-off is named by the pipeline table, through emitsWhenDone('<status>').
    for (const m of text.matchAll(/emitsWhenDone\('([a-z_]+)'\)/g)) {
      const emits = stageDef(m[1] as StageStatus).emits;
      if (emits) events.add(emits);
    }
    for (const m of text.matchAll(/QUEUES\.(\w+)/g)) {
      const queue = queueNames[m[1]];
      if (!queue) throw new Error(`${relative(ROOT, file)} names QUEUES.${m[1]}, which does not exist`);
      queues.add(queue);
    }
  }
  return { events, queues };
}

// -------------------------------------------------------------------------------------------------

const tf = await loadTerraform();
const folders = functionFolders();

describe('terraform/ is valid HCL in terraform fmt style', () => {
  it('parses every .tf file', () => {
    expect(tf.sources.size).toBeGreaterThan(0);
    expect(tf.parseErrors).toEqual([]);
  });

  it.each([...tf.sources.keys()])('%s is formatted (terraform fmt -check)', async (file) => {
    const src = tf.sources.get(file) ?? '';
    const formatted = await format(src);
    if (formatted !== src) {
      const a = src.split('\n');
      const b = formatted.split('\n');
      const line = a.findIndex((l, i) => l !== b[i]);
      expect.fail(
        `${file}:${line + 1} is not in fmt style:\n  found:    ${JSON.stringify(a[line])}\n  expected: ${JSON.stringify(b[line])}`,
      );
    }
  });
});

describe('terraform/pipeline.json', () => {
  it('is what `npm run gen:pipeline` writes from the pipeline table (not stale)', () => {
    // Compared as data: Biome may reformat the file.
    expect(PIPELINE_JSON, 'terraform/pipeline.json is stale: run npm run gen:pipeline').toEqual(JSON.parse(terraformPipelineJson()));
  });

  it('is what local.pipeline decodes, and the trigger maps read it', () => {
    expect(tf.locals.pipeline).toBe(ref(`jsondecode(file("\${path.module}/pipeline.json"))`));
    for (const name of ['event_functions', 'task_functions', 'scheduled_functions', 'http_functions', 'topics', 'dead_letter_topic']) {
      expect(tf.locals[name], `local.${name}`).toBe(ref(`local.pipeline.${name}`));
    }
  });
});

describe('functions', () => {
  it('declares exactly the function folders, each in one trigger map', () => {
    const event = stringMap(tf, 'event_functions');
    const task = stringMap(tf, 'task_functions');
    const scheduled = stringMap(tf, 'scheduled_functions');
    const http = strings(local(tf, 'http_functions'), 'local.http_functions');
    const all = [...Object.keys(event), ...Object.keys(task), ...Object.keys(scheduled), ...http];
    expect(new Set(all).size, 'a function is in two trigger maps').toBe(all.length);
    expect(sorted(all), 'functions/ folders vs the trigger maps in terraform/locals.tf').toEqual(folders);
    expect(sorted(Object.keys(obj(local(tf, 'function_access'), 'local.function_access'))), 'local.function_access').toEqual(folders);
  });

  it('triggers each function as functions/registry.ts says', () => {
    expect(stringMap(tf, 'event_functions')).toEqual(Object.fromEntries(Object.entries(EVENT_FUNCTIONS).map(([n, f]) => [n, f.topic])));
    expect(stringMap(tf, 'task_functions')).toEqual(Object.fromEntries(Object.entries(TASK_FUNCTIONS).map(([n, f]) => [n, f.queue])));
    expect(stringMap(tf, 'scheduled_functions')).toEqual(
      Object.fromEntries(Object.entries(SCHEDULED_FUNCTIONS).map(([n, f]) => [n, f.schedule])),
    );
    expect(strings(local(tf, 'http_functions'), 'local.http_functions')).toEqual([...HTTP_FUNCTIONS]);
    // SUBSCRIPTIONS (topic or queue -> function) is the same wiring seen from the other side.
    const triggers: Record<string, string> = { ...stringMap(tf, 'event_functions'), ...stringMap(tf, 'task_functions') };
    const bySource = Object.fromEntries(Object.entries(triggers).map(([fn, source]) => [source, fn]));
    expect(bySource).toEqual({ ...SUBSCRIPTIONS });
  });

  it('deploys one nodejs22 function per name, entry point = the name it is registered under', () => {
    const fn = resource(tf, 'google_cloudfunctions2_function.fn');
    expect(fn.for_each).toBe(ref('local.functions'));
    const build = one(fn.build_config, 'fn.build_config');
    expect(build.runtime).toBe('nodejs22');
    expect(build.entry_point).toBe(ref('each.key'));
    const source = one(one(build.source, 'build_config.source').storage_source, 'storage_source');
    expect(source.object).toBe(ref('google_storage_bucket_object.source[each.key].name'));
    const service = one(fn.service_config, 'fn.service_config');
    expect(service.service_account_email, 'one service account per function').toBe(ref('google_service_account.fn[each.key].email'));
    expect(String(service.environment_variables)).toContain('local.function_env');
    // One delivery path per event function: the push subscriptions (pubsub.tf). An event_trigger
    // as well would add Eventarc's own subscription and deliver every message twice.
    expect(blocks(fn.event_trigger), 'event_trigger next to the push subscriptions').toEqual([]);
    expect(String(service.ingress_settings)).toContain('ALLOW_INTERNAL_ONLY');
  });

  it('uploads each function zip (archive_file) under a name made of its hash', () => {
    const zip = tf.data.get('archive_file.source');
    expect(zip?.for_each).toBe(ref('local.functions'));
    expect(zip?.type).toBe('zip');
    const object = resource(tf, 'google_storage_bucket_object.source');
    expect(object.for_each).toBe(ref('local.functions'));
    expect(String(object.name)).toMatch(/data\.archive_file\.source\[each\.key\]\.output_(sha256|md5|base64sha256)/);
  });

  it('gives every function a service account of its own and an invoker', () => {
    expect(resource(tf, 'google_service_account.fn').for_each).toBe(ref('local.functions'));
    expect(resource(tf, 'google_service_account.fn').account_id).toBe(`baton-fn-${ref('each.key')}`);
    const invoker = resource(tf, 'google_cloud_run_v2_service_iam_member.invoker');
    expect(invoker.for_each).toBe(ref('local.invokers'));
    expect(invoker.role).toBe('roles/run.invoker');
    const invokers = String(local(tf, 'invokers'));
    for (const map of ['event_functions', 'task_functions', 'scheduled_functions']) expect(invokers).toContain(`local.${map}`);
    expect(resource(tf, 'google_cloud_run_v2_service_iam_member.api_invoker').role).toBe('roles/run.invoker');
  });

  it('schedules SCHEDULED_FUNCTIONS with an authenticated HTTP target', () => {
    const job = resource(tf, 'google_cloud_scheduler_job.scheduled');
    expect(job.for_each).toBe(ref('local.scheduled_functions'));
    expect(job.schedule).toBe(ref('each.value'));
    const target = one(job.http_target, 'scheduler http_target');
    expect(String(target.uri)).toContain('google_cloudfunctions2_function.fn[each.key]');
    expect(one(target.oidc_token, 'scheduler oidc_token').service_account_email).toBe(ref('google_service_account.scheduler.email'));
  });
});

describe('topics and queues', () => {
  const tfTopics = () => sorted(strings(local(tf, 'topics'), 'local.topics'));

  it('declares exactly the topics of TOPICS', () => {
    expect(resource(tf, 'google_pubsub_topic.baton').for_each).toBe(ref('toset(local.topics)'));
    expect(tfTopics()).toEqual(sorted(Object.values(TOPICS)));
  });

  it('declares no topic nothing publishes to or consumes', () => {
    const used = new Set<string>([...Object.keys(SUBSCRIPTIONS), ...Object.values(FUNCTION_NEEDS).flatMap((n) => n.publishes)]);
    for (const topic of tfTopics()) expect(used.has(topic), `${topic} is declared but nothing uses it`).toBe(true);
    // Every topic the code publishes to is declared (baton-builds is published by Cloud Build).
    for (const topic of Object.values(TOPIC_OF_EVENT)) expect(tfTopics()).toContain(topic);
  });

  it("subscribes build-events to Baton's own builds topic, which Cloud Build's service agent may publish to; not to cloud-builds", () => {
    expect(SUBSCRIPTIONS[TOPICS.builds]).toBe('build-events');
    expect(stringMap(tf, 'event_functions')['build-events']).toBe(TOPICS.builds);
    expect(tfTopics()).toContain(TOPICS.builds);
    expect(local(tf, 'builds_topic')).toBe(ref('local.event_functions["build-events"]'));
    // Nothing of Google's project-wide cloud-builds topic is declared or read any more.
    expect(tf.resources.has('google_pubsub_topic.cloud_builds')).toBe(false);
    expect(tfTopics()).not.toContain('cloud-builds');
    const grant = resource(tf, 'google_pubsub_topic_iam_member.builds_publisher');
    expect(grant.topic).toBe(ref('google_pubsub_topic.baton[local.builds_topic].name'));
    expect(grant.role).toBe('roles/pubsub.publisher');
    expect(grant.member).toBe(ref('local.cloudbuild_service_agent'));
    expect(String(local(tf, 'cloudbuild_service_agent'))).toBe(
      `serviceAccount:service-${ref('data.google_project.this.number')}@gcp-sa-cloudbuild.iam.gserviceaccount.com`,
    );
  });

  it('delivers each event topic by a push subscription with retries and a dead-letter policy', () => {
    const sub = resource(tf, 'google_pubsub_subscription.push');
    expect(sub.for_each).toBe(ref('local.event_functions'));
    expect(String(sub.topic)).toContain('each.value');
    const push = one(sub.push_config, 'push_config');
    expect(String(push.push_endpoint)).toContain('google_cloudfunctions2_function.fn[each.key]');
    // The path that lets the Functions Framework rebuild the CloudEvent (see the last suite).
    expect(String(push.push_endpoint)).toMatch(/\/projects\/\$\{var\.project_id\}\/topics\/\$\{each\.value\}$/);
    expect(one(push.oidc_token, 'oidc_token').service_account_email).toBe(ref('google_service_account.pubsub_push.email'));
    expect(blocks(sub.retry_policy)).toHaveLength(1);
    const dlq = one(sub.dynamic, 'dynamic');
    const policy = one(dlq.dead_letter_policy, 'dynamic dead_letter_policy');
    expect(String(policy.for_each), 'no dead letters for the dead-letter subscription').toContain('local.dead_letter_topic');
    expect(String(one(policy.content, 'content').dead_letter_topic)).toContain('google_pubsub_topic.baton');
    expect(local(tf, 'dead_letter_topic')).toBe(TOPICS.deadLetter);
  });

  it('lets the Pub/Sub service agent dead-letter: publisher on the topic, subscriber on the subscriptions', () => {
    const pub = resource(tf, 'google_pubsub_topic_iam_member.dead_letter_publisher');
    expect(pub.role).toBe('roles/pubsub.publisher');
    expect(pub.member).toBe(ref('local.pubsub_service_agent'));
    const sub = resource(tf, 'google_pubsub_subscription_iam_member.dead_letter_subscriber');
    expect(sub.role).toBe('roles/pubsub.subscriber');
    expect(sub.member).toBe(ref('local.pubsub_service_agent'));
    expect(String(local(tf, 'pubsub_service_agent'))).toContain('@gcp-sa-pubsub.iam.gserviceaccount.com');
  });

  it('declares exactly the queues of QUEUES, with rate limits and retries', () => {
    expect(sorted(Object.values(stringMap(tf, 'task_functions')))).toEqual(sorted(Object.values(QUEUES)));
    const queue = resource(tf, 'google_cloud_tasks_queue.queue');
    expect(queue.for_each).toBe(ref('local.queues'));
    expect(blocks(queue.rate_limits)).toHaveLength(1);
    expect(one(queue.retry_config, 'retry_config').max_attempts).toBeDefined();
    for (const q of Object.values(QUEUES)) {
      expect(
        Object.values(FUNCTION_NEEDS).some((n) => n.enqueues.includes(q)),
        `${q} is declared but nothing enqueues on it`,
      ).toBe(true);
    }
  });
});

describe('what each function may do', () => {
  it('mirrors test/infra/expectations.ts in local.function_access', () => {
    const access = obj(local(tf, 'function_access'), 'local.function_access');
    const inTerraform = Object.fromEntries(
      Object.entries(access).map(([name, a]) => {
        const o = obj(a, `function_access.${name}`);
        return [
          name,
          {
            publishes: sorted(strings(o.publishes, `${name}.publishes`)),
            enqueues: sorted(strings(o.enqueues, `${name}.enqueues`)),
            runtime: o.runtime,
            builds: o.builds,
          },
        ];
      }),
    );
    const expected = Object.fromEntries(
      Object.entries(FUNCTION_NEEDS).map(([name, n]) => [
        name,
        { publishes: n.publishes, enqueues: n.enqueues, runtime: n.runtime, builds: n.builds },
      ]),
    );
    expect(inTerraform).toEqual(expected);
  });

  it.each(folders)('%s: the hand-offs its code can reach are the expected ones', (fn) => {
    const needs = FUNCTION_NEEDS[fn];
    expect(needs, `test/infra/expectations.ts has no entry for ${fn}`).toBeDefined();
    const reach = reachableHandOffs(fn);
    const handsOff = HANDS_OFF[fn] ?? [];
    for (const type of handsOff)
      expect(reach.events.has(type), `${fn} is expected to hand off ${type}, but its code never names it`).toBe(true);
    for (const type of reach.events) {
      // failDeployment's rollback hand-off is governed by failsFrom and the state machine.
      if (type === 'deployment.rollback_requested.v1' && !handsOff.includes(type)) continue;
      // releaseSlots' hand-off is governed by endsJobs (every function that can end a job).
      if (type === 'deployment.requested.v1' && needs.publishes.includes(TOPICS.deploymentRequested)) continue;
      expect(handsOff, `${fn}'s code hands off ${type}: add it to test/infra/expectations.ts and terraform/locals.tf`).toContain(type);
    }
    const reachableTopics = new Set([...reach.events].map((t) => TOPIC_OF_EVENT[t as keyof typeof TOPIC_OF_EVENT]));
    for (const topic of needs.publishes)
      expect(reachableTopics.has(topic), `${fn} may publish to ${topic}, which its code cannot reach`).toBe(true);
    expect(sorted(reach.queues), `queues ${fn}'s code enqueues on`).toEqual(needs.enqueues);
  });

  it('grants publish and enqueue on the resource, and the Cloud Run and Cloud Build roles, from local.function_access', () => {
    expect(String(local(tf, 'publish_grants'))).toContain('local.function_access');
    expect(String(local(tf, 'enqueue_grants'))).toContain('local.function_access');
    const publish = resource(tf, 'google_pubsub_topic_iam_member.fn_publishes');
    expect([publish.for_each, publish.role]).toEqual([ref('local.publish_grants'), 'roles/pubsub.publisher']);
    const enqueue = resource(tf, 'google_cloud_tasks_queue_iam_member.fn_enqueues');
    expect([enqueue.for_each, enqueue.role]).toEqual([ref('local.enqueue_grants'), 'roles/cloudtasks.enqueuer']);
    expect(resource(tf, 'google_project_iam_member.fn_firestore').role).toBe('roles/datastore.user');
    expect(resource(tf, 'google_storage_bucket_iam_member.fn_bucket').bucket).toBe(ref('google_storage_bucket.baton.name'));
    expect(String(resource(tf, 'google_project_iam_member.fn_runtime').for_each)).toContain('local.function_access');
    expect(String(resource(tf, 'google_service_account_iam_member.fn_acts_as_runtime').for_each)).toContain('"write"');
    expect(resource(tf, 'google_project_iam_member.fn_builds').role).toBe('roles/cloudbuild.builds.editor');
    // The api reads runtime logs (shared/adapters/gcp/runtime-logs.ts) with entries:list.
    expect(resource(tf, 'google_project_iam_member.api_logs_viewer')).toMatchObject({ role: 'roles/logging.viewer' });
    // The canary analysis reads Cloud Run's request metrics (shared/adapters/gcp/canary-metrics.ts).
    const metrics = resource(tf, 'google_project_iam_member.canary_metrics_viewer');
    expect(metrics).toMatchObject({ role: 'roles/monitoring.viewer', member: ref('local.function_members[each.key]') });
    expect(metrics.for_each).toBe(ref(`toset(${JSON.stringify(READS_METRICS)})`));
    expect(String(resource(tf, 'google_service_account_iam_member.fn_acts_as_build').for_each)).toContain('"submit"');
    expect(resource(tf, 'google_service_account_iam_member.fn_acts_as_tasks').service_account_id).toBe(
      ref('google_service_account.tasks.name'),
    );
  });
});

describe('function environment', () => {
  const env = () => obj(local(tf, 'function_env'), 'local.function_env');
  const shape: Obj = GcpConfigSchema.shape;

  it('sets every key GcpConfigSchema requires, and those production needs', () => {
    const required = Object.entries(GcpConfigSchema.shape)
      .filter(([, field]) => !field.safeParse(undefined).success)
      .map(([key]) => key);
    expect(required.length).toBeGreaterThan(0);
    const keys = Object.keys(env());
    for (const key of [...required, ...PRODUCTION_ENV]) expect(keys, `terraform/locals.tf function_env lacks ${key}`).toContain(key);
    expect(env().BATON_TARGET).toBe('gcp');
    expect(env().BATON_TASK_TARGETS).toBe(ref('jsonencode(local.task_target_urls)'));
  });

  it('sets no key the schemas do not know, and none of the test-only endpoint overrides', () => {
    const known = new Set([...Object.keys(shape), ...Object.keys(ConfigSchema.shape)]);
    for (const key of Object.keys(env())) {
      expect(known.has(key), `${key} is read by nothing in shared/config.ts or shared/wiring/gcp-config.ts`).toBe(true);
      expect(key.endsWith('_ENDPOINT'), `${key} points a client at a fake`).toBe(false);
    }
  });

  it('targets every task function by a URL known before it exists (no self-reference)', () => {
    const targets = String(local(tf, 'task_target_urls'));
    expect(targets).toContain('local.task_functions');
    expect(targets).toContain('.run.app');
    expect(targets).not.toContain('google_cloudfunctions2_function');
    expect(JSON.stringify(env())).not.toContain('google_cloudfunctions2_function');
  });
});

describe('Firestore indexes', () => {
  const terraformIndexes = () =>
    sorted(
      [...tf.resources.entries()]
        .filter(([address]) => address.startsWith('google_firestore_index.'))
        .map(([address, body]) => looseIndexKey(body, address)),
    );

  it('declares the same composite indexes in terraform and firestore.indexes.json', () => {
    const json = obj(JSON.parse(readFileSync(join(ROOT, 'firestore.indexes.json'), 'utf8')), 'firestore.indexes.json');
    const inJson = sorted(
      (Array.isArray(json.indexes) ? json.indexes : []).map((x, i) => looseIndexKey(x, `firestore.indexes.json #${i}`)),
    );
    expect(terraformIndexes().length).toBeGreaterThan(0);
    expect(inJson).toEqual(terraformIndexes());
  });

  it('declares exactly the indexes the job queries need', () => {
    expect(terraformIndexes()).toEqual(sorted(FIRESTORE_INDEXES_NEEDED.map(specKey)));
  });

  const ttlKey = (collection: unknown, field: unknown) => `${String(collection)}.${String(field)}`;
  const terraformTtl = () =>
    sorted(
      [...tf.resources.entries()]
        .filter(([address, body]) => address.startsWith('google_firestore_field.') && blocks(body.ttl_config).length > 0)
        .map(([, body]) => ttlKey(body.collection, body.field)),
    );

  it('declares the TTL fields in terraform and firestore.indexes.json alike', () => {
    const json = obj(JSON.parse(readFileSync(join(ROOT, 'firestore.indexes.json'), 'utf8')), 'firestore.indexes.json');
    const overrides = blocks(json.fieldOverrides).filter((o) => o.ttl === true);
    expect(sorted(overrides.map((o) => ttlKey(o.collectionGroup, o.fieldPath)))).toEqual(terraformTtl());
    expect(terraformTtl()).toEqual(sorted(FIRESTORE_TTL_FIELDS.map((t) => ttlKey(t.collection, t.field))));
  });

  const jobStore = join(ROOT, 'shared/adapters/gcp/job-store.ts');
  it.skipIf(!existsSync(jobStore))(
    existsSync(jobStore)
      ? 'declares every index (and TTL policy) that shared/adapters/gcp/job-store.ts exports'
      : 'FIRESTORE_INDEXES: skipped, shared/adapters/gcp/job-store.ts does not exist yet',
    async () => {
      const mod = obj(await import(pathToFileURL(jobStore).href), 'job-store.ts');
      const exported = mod.FIRESTORE_INDEXES;
      if (exported === undefined)
        expect.fail('shared/adapters/gcp/job-store.ts exports no FIRESTORE_INDEXES: export the indexes its queries need');
      const list = isObj(exported) && Array.isArray(exported.indexes) ? exported.indexes : exported;
      if (!Array.isArray(list)) expect.fail(`FIRESTORE_INDEXES must be a list of indexes, got ${JSON.stringify(exported)}`);
      const declared = new Set(terraformIndexes());
      for (const [i, index] of list.entries()) {
        const key = looseIndexKey(index, `FIRESTORE_INDEXES[${i}]`);
        expect(declared.has(key), `FIRESTORE_INDEXES[${i}] (${key}) is not declared in terraform/firestore.tf`).toBe(true);
      }
      // And the TTL policies, when the adapter names them.
      for (const [i, policy] of blocks(mod.FIRESTORE_TTL_POLICIES).entries()) {
        const key = ttlKey(policy.collection, policy.field);
        expect(terraformTtl(), `FIRESTORE_TTL_POLICIES[${i}] (${key}) has no google_firestore_field with ttl_config`).toContain(key);
      }
    },
  );
});

describe("the build logs bucket: Cloud Build writes a build's log there, the functions that follow it read it", () => {
  const builderCode = readFileSync(join(ROOT, 'shared/adapters/gcp/builder.ts'), 'utf8');

  it('exists while the builder names a logsBucket, is the env key the config reads, and the build account administers it alone', () => {
    // Both ways: a builder sending logsBucket needs the bucket and the grant; one that does not, neither.
    expect(builderCode.includes('logsBucket'), 'shared/adapters/gcp/builder.ts sends no logsBucket: drop the build logs bucket').toBe(true);
    const bucket = resource(tf, 'google_storage_bucket.build_logs');
    expect(bucket).toMatchObject({ uniform_bucket_level_access: true, public_access_prevention: 'enforced' });
    expect(blocks(bucket.lifecycle_rule).some((r) => String(one(r.condition, 'condition').age) === ref('var.log_retention_days'))).toBe(
      true,
    );
    expect(obj(local(tf, 'function_env'), 'local.function_env').BATON_BUILD_LOGS_BUCKET).toBe(ref('google_storage_bucket.build_logs.name'));
    expect('BATON_BUILD_LOGS_BUCKET' in GcpConfigSchema.shape).toBe(true);
    expect(resource(tf, 'google_storage_bucket_iam_member.build_writes_logs')).toMatchObject({
      bucket: ref('google_storage_bucket.build_logs.name'),
      role: 'roles/storage.admin',
      member: `serviceAccount:${ref('google_service_account.build.email')}`,
    });
    // Nothing else is granted on it but the readers below, and the build account nothing more on the Baton bucket than reading sources.
    const onLogs = [...tf.resources.entries()].filter(([, b]) => b.bucket === ref('google_storage_bucket.build_logs.name')).map(([a]) => a);
    expect(sorted(onLogs)).toEqual([
      'google_storage_bucket_iam_member.build_writes_logs',
      'google_storage_bucket_iam_member.fn_reads_build_logs',
    ]);
    expect(resource(tf, 'google_storage_bucket_iam_member.build_reads_sources').role).toBe('roles/storage.objectViewer');
  });

  it('lets read it exactly the functions whose code reaches the build log reads (READS_BUILD_LOGS)', () => {
    const reaching = folders.filter((fn) =>
      importClosure(join(ROOT, 'functions', fn, 'index.ts')).some((f) => relative(ROOT, f) === join('shared', 'pipeline', 'build-log.ts')),
    );
    expect(sorted(reaching)).toEqual(sorted(READS_BUILD_LOGS));
    const readers = resource(tf, 'google_storage_bucket_iam_member.fn_reads_build_logs');
    expect(readers).toMatchObject({
      for_each: ref(`toset([${READS_BUILD_LOGS.map((f) => JSON.stringify(f)).join(', ')}])`),
      bucket: ref('google_storage_bucket.build_logs.name'),
      role: 'roles/storage.objectViewer',
      member: ref('local.function_members[each.key]'),
    });
  });
});

describe('git tokens from Secret Manager', () => {
  const builderCode = readFileSync(join(ROOT, 'shared/adapters/gcp/builder.ts'), 'utf8');
  const usesSecrets = builderCode.includes('availableSecrets');
  const grants = () =>
    [...tf.resources.entries()].filter(
      ([address, body]) => address.startsWith('google_secret_manager_') || /secretmanager\./.test(String(body.role ?? '')),
    );

  it('the build service account reads exactly the secrets var.git_token_secrets names, each on the secret, while the builder hands tokens to builds', () => {
    // Both ways: a builder that asks for availableSecrets needs the grant; one that does not must not have it.
    expect(usesSecrets, 'shared/adapters/gcp/builder.ts no longer sends availableSecrets: drop build_reads_git_tokens').toBe(true);
    expect(grants().map(([address]) => address)).toEqual(['google_secret_manager_secret_iam_member.build_reads_git_tokens']);
    expect(resource(tf, 'google_secret_manager_secret_iam_member.build_reads_git_tokens')).toMatchObject({
      for_each: ref('var.git_token_secrets'),
      secret_id: ref('each.key'),
      role: 'roles/secretmanager.secretAccessor',
      member: `serviceAccount:${ref('google_service_account.build.email')}`,
    });
    // No project-wide secret role for anyone.
    for (const [address, body] of tf.resources)
      if (address.startsWith('google_project_iam_')) expect(String(body.role), address).not.toMatch(/secretmanager/);
    expect(obj(local(tf, 'function_env'), 'local.function_env').BATON_GIT_TOKEN_SECRETS).toBe(ref('jsonencode(var.git_token_secrets)'));
  });

  it("var.git_token_secrets' validation accepts what BATON_GIT_TOKEN_SECRETS accepts, and refuses what it refuses", () => {
    const condition = String(one(tf.variables.get('git_token_secrets')?.validation, 'git_token_secrets validation').condition);
    // HCL string escapes undone: what Terraform's regex() is given.
    const regexes = [...condition.matchAll(/regex\("((?:[^"\\]|\\.)*)"/g)].map((m) => new RegExp(m[1].replace(/\\(.)/g, '$1')));
    expect(regexes).toHaveLength(2);
    const maxHost = Number(/length\(host\) <= (\d+)/.exec(condition)?.[1]);
    const terraformAccepts = (id: string, host: string) => regexes[0].test(id) && regexes[1].test(host) && host.length <= maxHost;
    const codeAccepts = (id: string, host: string) =>
      GcpConfigSchema.shape.BATON_GIT_TOKEN_SECRETS.safeParse(JSON.stringify({ [id]: host })).success;
    const ids = ['github-token', 'GL_TOKEN_2', 'a', 'x'.repeat(255), 'x'.repeat(256), 'bad id', 'bad/id', 'bad.id', ''];
    const hosts = [
      'github.com',
      'git.example.com:8443',
      'localhost',
      'GitHub.com',
      'github.com/',
      'https://github.com',
      '-x.com',
      'x-.com',
      'a..b',
      'a.b:',
      `${'a'.repeat(249)}.com`,
      `${'a'.repeat(250)}.com`,
      '::1',
    ];
    for (const id of ids) for (const host of hosts) expect(terraformAccepts(id, host), `${id} → ${host}`).toBe(codeAccepts(id, host));
    expect(codeAccepts('github-token', 'github.com')).toBe(true);
  });
});

describe('variables', () => {
  it.each([...tf.variables.keys()])('%s has a type, a description and a validation', (name) => {
    const v = tf.variables.get(name) ?? {};
    expect(v.type, `variable ${name} has no type`).toBeDefined();
    expect(typeof v.description === 'string' && v.description.trim().length > 0, `variable ${name} has no description`).toBe(true);
    const validations = blocks(v.validation);
    expect(validations.length, `variable ${name} has no validation`).toBeGreaterThan(0);
    for (const rule of validations) {
      expect(String(rule.condition), `a validation of ${name} never reads var.${name}`).toContain(`var.${name}`);
      expect(typeof rule.error_message === 'string' && rule.error_message.length > 0).toBe(true);
    }
  });
});

describe('CI: cloudbuild.yaml and its approval-gated trigger', () => {
  const build = obj(parseYaml(readFileSync(join(ROOT, 'cloudbuild.yaml'), 'utf8')), 'cloudbuild.yaml');
  const steps = blocks(build.steps);
  const ids = steps.map((s) => String(s.id));

  it('lints, typechecks, tests, bundles, plans, saves the plan, asks for approval, then applies', () => {
    const order = ['install', 'lint', 'typecheck', 'test', 'bundle', 'tf-init', 'tf-plan', 'save-plan', 'request-approval', 'tf-apply'];
    for (const id of order) expect(ids, `cloudbuild.yaml has no step ${id}`).toContain(id);
    const positions = order.map((id) => ids.indexOf(id));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    const script = (id: string) => String(steps[ids.indexOf(id)].script ?? '');
    expect(script('tf-plan')).toContain('-out=tfplan');
    expect(script('tf-apply')).toMatch(/terraform apply .*tfplan/);
    expect(script('tf-apply')).toContain('[ "$_PHASE" = apply ]');
    expect(script('request-approval')).toContain('$_APPLY_TRIGGER');
    // The plan reads terraform/pipeline.json: the build writes it from the code before planning.
    expect(script('bundle')).toContain('npm run gen:pipeline');
  });

  it('declares the apply trigger with approval_config.approval_required = true', () => {
    const apply = resource(tf, 'google_cloudbuild_trigger.apply');
    expect(one(apply.approval_config, 'approval_config').approval_required).toBe(true);
    expect(String(apply.substitutions)).toContain('_PHASE = "apply"');
    const subs = obj(local(tf, 'ci_substitutions'), 'local.ci_substitutions');
    expect(subs._APPLY_TRIGGER).toBe(apply.name);
    expect(String(resource(tf, 'google_cloudbuild_trigger.plan').substitutions)).toContain('_PHASE = "plan"');
    expect(resource(tf, 'google_cloudbuild_trigger.plan').approval_config).toBeUndefined();
  });
});

describe('firebase.json and firestore.rules', () => {
  it('points firebase at the rules and indexes files', () => {
    const firebase = obj(JSON.parse(readFileSync(join(ROOT, 'firebase.json'), 'utf8')), 'firebase.json');
    const firestore = obj(firebase.firestore, 'firebase.json firestore');
    for (const file of [firestore.rules, firestore.indexes]) expect(existsSync(join(ROOT, String(file))), String(file)).toBe(true);
  });

  it('lets a client read only its own jobs and write nothing', () => {
    const rules = readFileSync(join(ROOT, 'firestore.rules'), 'utf8').replace(/\/\/.*$/gm, '');
    expect(rules).toMatch(/match \/deployment_jobs\/\{\w+\}\s*\{[^}]*resource\.data\.owner == request\.auth\.token\.email/);
    for (const m of rules.matchAll(/allow\s+([\w, ]+):\s*if\s+([^;]+);/g)) {
      if (/write|create|update|delete/.test(m[1])) expect(m[2].trim(), `a client may ${m[1]}`).toBe('false');
    }
  });
});

describe('a Pub/Sub push delivery reaches a CloudEvent function', () => {
  // The push subscriptions (terraform/pubsub.tf) post Pub/Sub's own body, not a CloudEvent, to
  // functions registered with ff.cloudEvent (functions/framework.ts). The Functions Framework
  // rebuilds the CloudEvent from it when the path names the topic; decode() must then find the data.
  let server: Server;
  let received: unknown[] = [];

  beforeAll(async () => {
    ff.cloudEvent('infra-push-probe', (event: ff.CloudEvent<unknown>) => {
      received.push(event);
    });
    server = getTestServer('infra-push-probe');
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return () => new Promise<void>((r) => server.close(() => r()));
  });

  it('converts the push body into the CloudEvent decode() reads', async () => {
    received = [];
    const payload = { type: 'deployment.requested.v1', deployment_id: 'd1' };
    const body = {
      message: {
        data: Buffer.from(JSON.stringify(payload)).toString('base64'),
        attributes: { type: 'deployment.requested.v1', deployment_id: 'd1' },
        messageId: '4242',
        publishTime: '2026-01-01T00:00:00.000Z',
      },
      subscription: 'projects/p/subscriptions/baton-validate',
      deliveryAttempt: 1,
    };
    const port = (server.address() as AddressInfo).port;
    const res = await fetch(`http://127.0.0.1:${port}/projects/p/topics/${TOPICS.deploymentRequested}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBeLessThan(300);
    expect(received).toHaveLength(1);
    const event = obj(received[0], 'event');
    expect(event.source).toBe(`//pubsub.googleapis.com/projects/p/topics/${TOPICS.deploymentRequested}`);
    const msg = decode(event, 'probe');
    expect(msg?.json).toEqual(payload);
    expect(msg?.attributes).toEqual(body.message.attributes);
    expect(msg?.messageId).toBe('4242');
  });
});
