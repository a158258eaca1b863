// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these are Terraform interpolations, compared as the literal text hcl2json gives
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ApiUsersSchema } from '../../shared/domain/api-users.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';

/**
 * The dashboard on Google Cloud, in the Terraform, offline (parsed, never planned): the identity
 * that deploys it to Firebase Hosting holds the Hosting roles, and the api is opened to a browser
 * (allUsers at IAM, its own ID-token check) only when api_auth says "firebase". Does not prove:
 * that these roles are enough on a real project (the Firebase CLI's needs may grow), that an
 * organisation policy allows allUsers, or the Hosting site itself (firebase deploy makes it).
 */
const ROOT = resolve(import.meta.dirname, '../..');
type Obj = Record<string, unknown>;

async function hcl(file: string) {
  const json = (await parse(file, readFileSync(join(ROOT, 'terraform', file), 'utf8'))) as {
    resource?: Record<string, Record<string, Obj[]>>;
    locals?: Obj[];
    variable?: Record<string, Obj[]>;
    check?: Record<string, Obj[]>;
  };
  const resources = new Map<string, Obj>();
  for (const [type, byName] of Object.entries(json.resource ?? {}))
    for (const [name, bodies] of Object.entries(byName)) resources.set(`${type}.${name}`, bodies[0] ?? {});
  return { resources, locals: Object.assign({}, ...(json.locals ?? [])) as Obj, variables: json.variable ?? {}, checks: json.check ?? {} };
}
const first = (v: unknown): Obj => (Array.isArray(v) ? (v[0] as Obj) : ((v ?? {}) as Obj));

describe('the Firebase Hosting deploy', () => {
  it('runs as baton-ci, which holds Firebase Hosting Admin and API Keys Viewer whenever CI is on, and the Hosting API is enabled', async () => {
    const ci = await hcl('ci.tf');
    const grant = ci.resources.get('google_project_iam_member.ci_hosting');
    expect(grant).toMatchObject({
      for_each: '${toset(local.ci_enabled ? ["roles/firebasehosting.admin", "roles/serviceusage.apiKeysViewer"] : [])}',
      role: '${each.key}',
      member: 'serviceAccount:${google_service_account.ci[0].email}',
    });
    // The builds that run cloudbuild.yaml are this account's.
    for (const t of ['plan', 'apply'])
      expect(ci.resources.get(`google_cloudbuild_trigger.${t}`)?.service_account).toBe('${google_service_account.ci[0].id}');
    const build = parseYaml(readFileSync(join(ROOT, 'cloudbuild.yaml'), 'utf8')) as { steps: { id: string; script: string }[] };
    const step = build.steps.find((s) => s.id === 'dashboard');
    expect(step?.script).toContain('[ "$_PHASE" = apply ]');
    expect(step?.script).toMatch(/firebase-tools@\d+ deploy --only hosting --project "\$PROJECT_ID"/);
    expect(readFileSync(join(ROOT, 'terraform/apis.tf'), 'utf8')).toContain('"firebasehosting.googleapis.com"');
  });
});

describe('the api for a browser (api_auth)', () => {
  it('is public at IAM only with api_auth = "firebase", and then must have api_users', async () => {
    const iam = await hcl('iam.tf');
    expect(iam.resources.get('google_cloud_run_v2_service_iam_member.api_public')).toMatchObject({
      count: '${var.api_auth == "firebase" ? 1 : 0}',
      name: '${google_cloudfunctions2_function.fn["api"].name}',
      role: 'roles/run.invoker',
      member: 'allUsers',
    });
    const check = first(first(iam.checks.api_users_for_firebase_auth).assert);
    expect(check.condition).toBe('${var.api_auth != "firebase" || length(var.api_users) > 0}');
  });

  it('tells the functions the mode, the users and the origins under keys the code reads', async () => {
    const env = first((await hcl('locals.tf')).locals.function_env);
    expect(env).toMatchObject({
      BATON_API_AUTH: '${var.api_auth}',
      BATON_API_USERS: '${join(",", var.api_users)}',
      BATON_DASHBOARD_ORIGINS: '${join(",", local.dashboard_origins)}',
    });
    for (const key of ['BATON_API_AUTH', 'BATON_API_USERS', 'BATON_DASHBOARD_ORIGINS'])
      expect(Object.keys(GcpConfigSchema.shape)).toContain(key);
    const locals = (await hcl('locals.tf')).locals;
    expect(String(locals.dashboard_origins)).toContain('https://${var.project_id}.web.app');
    // The api wires them: the Functions Framework entry point builds its options from them.
    expect(readFileSync(join(ROOT, 'functions/index.ts'), 'utf8')).toContain('...gcpApiAuth(loadGcpConfig())');
  });

  it("api_users' validation takes what the api takes and refuses what it refuses", async () => {
    const vars = await hcl('variables.tf');
    const condition = String(first(first(vars.variables.api_users).validation).condition);
    const source = /regex\("(.+)", m\)/.exec(condition)?.[1] ?? '';
    expect(source).not.toBe('');
    const re = new RegExp(source.replace(/\\\\/g, '\\'));
    for (const member of [
      'user:alice@example.com',
      'domain:example.com',
      'group:team@example.com',
      'alice@example.com',
      'user:a@b,c',
      'domain:x',
    ]) {
      expect(re.test(member), member).toBe(ApiUsersSchema.safeParse(member).success);
    }
  });
});
