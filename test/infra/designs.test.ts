// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these are Terraform interpolations, compared as the literal text hcl2json gives
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { describe, expect, it } from 'vitest';
import { DESIGN_FIRESTORE_INDEXES } from '../../shared/adapters/gcp/design-store.js';
import { ConfigSchema } from '../../shared/config.js';
import { LIMIT_CEILINGS } from '../../shared/domain/design.js';
import { QUEUES } from '../../shared/domain/topics.js';

/**
 * The cloud wiring of deployed designs, offline, both ways: what the code needs (the queue, the
 * scheduler's identity and target, the indexes of the design store) is in Terraform, and what
 * Terraform sets is read by the code. Not proved: that Cloud Scheduler accepts the OIDC audience
 * at apply time, or that the run.invoker tag condition is evaluated as on run.developer.
 */
const ROOT = resolve(import.meta.dirname, '../..');
type Obj = Record<string, unknown>;
const first = (v: unknown): Obj => (Array.isArray(v) ? (v[0] as Obj) : ((v ?? {}) as Obj));

async function hcl(file: string): Promise<{ resources: Map<string, Obj>; locals: Obj }> {
  const json = (await parse(file, readFileSync(join(ROOT, 'terraform', file), 'utf8'))) as {
    resource?: Record<string, Record<string, Obj[]>>;
    locals?: Obj[];
  };
  const resources = new Map<string, Obj>();
  for (const [type, byName] of Object.entries(json.resource ?? {}))
    for (const [name, bodies] of Object.entries(byName)) resources.set(`${type}.${name}`, bodies[0] ?? {});
  return { resources, locals: Object.assign({}, ...(json.locals ?? [])) as Obj };
}

describe('deployed designs in Terraform', () => {
  it('designs-scheduled is invoked by the scheduler identity only, never by API clients', async () => {
    const iam = await hcl('iam.tf');
    expect(JSON.stringify(iam.locals.invokers)).toContain(
      '{ \\"designs-scheduled\\" = \\"serviceAccount:${google_service_account.scheduler.email}\\" }',
    );
    expect(String(iam.locals.client_functions)).toContain('!contains(["designs-scheduled", "deployed"], name)');
    expect(String(iam.locals.api_invokers)).toContain('local.client_functions');
  });

  it("deployed is public (allUsers, ingress from anywhere), only deployed is, and it is told its own URL as the endpoints' base", async () => {
    const iam = await hcl('iam.tf');
    const invokers = JSON.stringify(iam.locals.invokers);
    expect(invokers).toContain('{ \\"deployed\\" = \\"allUsers\\" }');
    // No other function is given to allUsers, and the api's invokers (var.api_invoker_members) leave deployed out.
    expect(invokers.match(/= \\"allUsers\\"/g)).toHaveLength(1);
    const fns = await hcl('functions.tf');
    const service = first(fns.resources.get('google_cloudfunctions2_function.fn')?.service_config);
    expect(service.ingress_settings).toBe('${each.value == "http" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"}');
    const pipeline = JSON.parse(readFileSync(join(ROOT, 'terraform/pipeline.json'), 'utf8')) as { http_functions: string[] };
    expect(pipeline.http_functions).toContain('deployed');
    // Terraform -> code: the URL it sets is a key the config reads, and it is deployed's own run.app URL.
    const env = first((await hcl('locals.tf')).locals.function_env);
    expect(String(env.BATON_DESIGNS_PUBLIC_URL)).toBe(
      'https://${local.function_names["deployed"]}-${data.google_project.this.number}.${var.region}.run.app',
    );
    expect(Object.keys(ConfigSchema.shape)).toContain('BATON_DESIGNS_PUBLIC_URL');
    // Code -> Terraform: the function is registered under the name Terraform deploys, and the gcp
    // wiring serves endpoint_url from that setting.
    expect(readFileSync(join(ROOT, 'functions/framework.ts'), 'utf8')).toMatch(/ff\.http\('deployed',/);
    expect(readFileSync(join(ROOT, 'shared/wiring/gcp.ts'), 'utf8')).toMatch(
      /base_url: config\.BATON_PUBLIC_URL \?\? config\.BATON_DESIGNS_PUBLIC_URL/,
    );
  });

  it('the api manages scheduler jobs as the scheduler identity; api, deployed and design-run invoke agents but not Baton itself', async () => {
    const iam = await hcl('iam.tf');
    expect(iam.resources.get('google_project_iam_member.api_scheduler_admin')).toMatchObject({ role: 'roles/cloudscheduler.admin' });
    expect(iam.resources.get('google_service_account_iam_member.api_acts_as_scheduler')).toMatchObject({
      service_account_id: '${google_service_account.scheduler.name}',
      role: 'roles/iam.serviceAccountUser',
    });
    const invoke = iam.resources.get('google_project_iam_member.fn_invokes_agents') ?? {};
    expect(invoke.role).toBe('roles/run.invoker');
    expect(invoke.for_each).toBe('${toset(["api", "deployed", "design-run"])}');
    expect(String(first(invoke.condition).expression)).toContain('!resource.matchTagId');
  });

  it('the functions are told the scheduler target and identity, keys the code reads', async () => {
    const locals = await hcl('locals.tf');
    const env = first(locals.locals.function_env);
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['BATON_DESIGNS_SCHEDULED_URL', 'BATON_SCHEDULER_SERVICE_ACCOUNT']));
    expect(String(env.BATON_DESIGNS_SCHEDULED_URL)).toContain('local.function_names["designs-scheduled"]');
    expect(env.BATON_SCHEDULER_SERVICE_ACCOUNT).toBe('${google_service_account.scheduler.email}');
    for (const key of ['BATON_DESIGNS_SCHEDULED_URL', 'BATON_SCHEDULER_SERVICE_ACCOUNT'])
      expect(Object.keys(ConfigSchema.shape)).toContain(key);
  });

  it('designs-sweep runs every minute as the scheduler identity and may enqueue on the run queue only', async () => {
    const pipeline = JSON.parse(readFileSync(join(ROOT, 'terraform/pipeline.json'), 'utf8')) as {
      scheduled_functions: Record<string, string>;
    };
    expect(pipeline.scheduled_functions['designs-sweep']).toBe('* * * * *');
    const scheduler = await hcl('scheduler.tf');
    expect(scheduler.resources.get('google_cloud_scheduler_job.scheduled')?.for_each).toBe('${local.scheduled_functions}');
    const locals = await hcl('locals.tf');
    const access = first(locals.locals.function_access) as Record<string, Obj>;
    expect(first(access['designs-sweep'])).toEqual({ publishes: [], enqueues: [QUEUES.designRun], runtime: 'none', builds: 'none' });
    // Code -> Terraform: the lapsed-runs query's index is among those declared (checked below with the others).
    expect(DESIGN_FIRESTORE_INDEXES.some((ix) => ix.usedBy.startsWith('listLapsedRuns'))).toBe(true);
  });

  it("design-run may run a whole design: its timeout and its tasks' dispatch deadline come from one variable, above the 900 s run ceiling", async () => {
    const fns = await hcl('functions.tf');
    const service = first(fns.resources.get('google_cloudfunctions2_function.fn')?.service_config);
    expect(service.timeout_seconds).toBe('${lookup(local.timeout_overrides, each.key, local.timeout_by_trigger[each.value])}');
    expect(fns.locals.timeout_overrides).toEqual({ 'design-run': '${var.design_run_timeout_seconds}' });
    const vars = (await parse('variables.tf', readFileSync(join(ROOT, 'terraform/variables.tf'), 'utf8'))) as {
      variable: Record<string, Obj[]>;
    };
    const v = first(vars.variable.design_run_timeout_seconds);
    const env = first((await hcl('locals.tf')).locals.function_env);
    expect(env.BATON_DESIGN_RUN_TIMEOUT_S).toBe('${tostring(var.design_run_timeout_seconds)}');
    // Terraform's default is the code's, and both clear the ceiling of run_timeout_ms.
    const code = ConfigSchema.shape.BATON_DESIGN_RUN_TIMEOUT_S.parse(undefined);
    expect(v.default).toBe(code);
    expect(code * 1000).toBeGreaterThan(LIMIT_CEILINGS.run_timeout_ms);
  });

  it('the run queue exists and every index of the design store is declared', async () => {
    const pipeline = JSON.parse(readFileSync(join(ROOT, 'terraform/pipeline.json'), 'utf8')) as { task_functions: Record<string, string> };
    expect(pipeline.task_functions['design-run']).toBe(QUEUES.designRun);
    const fs = await hcl('firestore.tf');
    const declared = [...fs.resources.entries()]
      .filter(([k]) => k.startsWith('google_firestore_index.'))
      .map(([, b]) => `${String(b.collection)}:${(b.fields as Obj[]).map((f) => `${String(f.field_path)} ${String(f.order)}`).join(',')}`);
    for (const ix of DESIGN_FIRESTORE_INDEXES) {
      const key = `${ix.collection}:${ix.fields
        .filter((f) => f.field !== '__name__')
        .map((f) => `${f.field} ${f.order}`)
        .join(',')}`;
      expect(declared, ix.usedBy).toContain(key);
    }
  });
});
