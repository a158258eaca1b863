// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these are Terraform interpolations, compared as the literal text hcl2json gives
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { describe, expect, it } from 'vitest';

/**
 * Who may touch what, in the Terraform, offline (like terraform.test.ts: parsed, never planned):
 * firestore.rules are released from the file itself, and the functions' Cloud Run developer grant
 * excludes Baton's own services. What it cannot prove: that Cloud Run evaluates the tag condition
 * as described (matchTagId on a service-level tag binding), that the release name serves the
 * (default) database on a real project, or the order Terraform applies them in.
 */
const ROOT = resolve(import.meta.dirname, '../..');
type Obj = Record<string, unknown>;

async function resources(file: string): Promise<Map<string, Obj>> {
  const json = (await parse(file, readFileSync(join(ROOT, 'terraform', file), 'utf8'))) as {
    resource?: Record<string, Record<string, Obj[]>>;
  };
  const out = new Map<string, Obj>();
  for (const [type, byName] of Object.entries(json.resource ?? {}))
    for (const [name, bodies] of Object.entries(byName)) out.set(`${type}.${name}`, bodies[0] ?? {});
  return out;
}
const first = (v: unknown): Obj => (Array.isArray(v) ? (v[0] as Obj) : ((v ?? {}) as Obj));

describe('firestore.rules on a real project', () => {
  it('are released by Terraform from the firestore.rules file, to the (default) database', async () => {
    const tf = await resources('firestore.tf');
    const ruleset = tf.get('google_firebaserules_ruleset.firestore');
    const file = first(first(ruleset?.source).files);
    expect(file).toMatchObject({ name: 'firestore.rules', content: '${file("${path.module}/../firestore.rules")}' });
    expect(first(ruleset?.lifecycle).create_before_destroy).toBe(true);
    const release = tf.get('google_firebaserules_release.firestore');
    expect(release).toMatchObject({
      name: 'cloud.firestore',
      ruleset_name: 'projects/${var.project_id}/rulesets/${google_firebaserules_ruleset.firestore.name}',
    });
  });

  it('deny deployment_private to every client, explicitly', () => {
    const rules = readFileSync(join(ROOT, 'firestore.rules'), 'utf8').replace(/\/\/.*$/gm, '');
    expect(rules).toMatch(/match \/deployment_private\/\{\w+\}\s*\{\s*allow read, write: if false;\s*\}/);
  });

  it('keep no TTL for processed_events, which nothing writes; only the rate-limit windows expire', async () => {
    const tf = await resources('firestore.tf');
    expect([...tf.keys()].filter((k) => k.startsWith('google_firestore_field.'))).toEqual(['google_firestore_field.rate_limits_ttl']);
  });
});

describe("the functions' Cloud Run developer grant", () => {
  it("holds only where the baton-control-plane tag is absent, and every function's service carries it", async () => {
    const tf = await resources('iam.tf');
    const grant = tf.get('google_project_iam_member.fn_runtime');
    const dynamic = first(first(grant?.dynamic).condition);
    expect(dynamic.for_each).toBe('${each.value == "read" ? [] : [1]}');
    expect(first(dynamic.content).expression).toBe(
      "!resource.matchTagId('${google_tags_tag_key.control_plane.id}', '${google_tags_tag_value.control_plane.id}')",
    );
    const binding = tf.get('google_tags_location_tag_binding.control_plane');
    expect(binding).toMatchObject({
      for_each: '${local.functions}',
      tag_value: '${google_tags_tag_value.control_plane.id}',
      parent:
        '//run.googleapis.com/projects/${data.google_project.this.number}/locations/${var.region}/services/${google_cloudfunctions2_function.fn[each.key].name}',
    });
    expect(tf.get('google_tags_tag_value.control_plane')?.parent).toBe('${google_tags_tag_key.control_plane.id}');
  });
});
