import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AGENT_ID_PATTERN, AgentIdSchema, CANDIDATE_TAG, revisionName, serviceName } from '../../shared/domain/names.js';

/** Cloud Run's rules, written out here rather than imported: lowercase, digits, '-', a letter first, no '-' last, < 50. */
const CLOUD_RUN_SERVICE_ID = /^[a-z](?:[a-z0-9-]*[a-z0-9])?$/;
const DNS_LABEL = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Every valid agent id of up to three characters over a small alphabet, and ids at each length edge. */
function edgeIds(): string[] {
  const alphabet = ['a', 'z', '0', '9', '-', '_'];
  const out = new Set<string>();
  const walk = (prefix: string) => {
    if (prefix.length > 0 && AGENT_ID_PATTERN.test(prefix)) out.add(prefix);
    if (prefix.length < 3) for (const c of alphabet) walk(prefix + c);
  };
  walk('');
  for (let n = 1; n <= 40; n++) {
    const fill = (c: string) => c.repeat(n);
    for (const id of [
      fill('a'),
      `1${'a'.repeat(n - 1)}`,
      `${'a'.repeat(n - 1)}1`,
      `a${'_'.repeat(Math.max(0, n - 2))}b`,
      `a${'-'.repeat(Math.max(0, n - 2))}b`,
      `${'ab_'.repeat(14)}`.slice(0, n - 1).replace(/[_-]$/, 'c') + 'z',
      `${'a-'.repeat(20)}`.slice(0, n - 1) + '7',
      `9${'_a'.repeat(20)}`.slice(0, n),
    ]) {
      if (id.length >= 1 && id.length <= 40 && AGENT_ID_PATTERN.test(id)) out.add(id);
    }
  }
  // Truncation right before a '-' or '_' must not leave a name ending in '-'.
  for (let at = 20; at <= 30; at++) {
    const id = `${'b'.repeat(at)}_${'c'.repeat(39 - at)}`;
    out.add(id);
    out.add(id.replace('_', '-'));
  }
  return [...out].filter((id) => AgentIdSchema.safeParse(id).success);
}

describe('serviceName: only names Cloud Run accepts, one service per agent id', () => {
  const ids = edgeIds();

  it(`gives every valid agent id a service id Cloud Run accepts, with room for the "${CANDIDATE_TAG}" tag`, () => {
    expect(ids.length).toBeGreaterThan(300);
    for (const id of ids) {
      const name = serviceName(id);
      expect(name, id).toMatch(CLOUD_RUN_SERVICE_ID);
      expect(name.length, id).toBeLessThanOrEqual(49);
      expect(CANDIDATE_TAG.length + name.length, id).toBeLessThanOrEqual(46);
      const revision = revisionName(id, '7f3a9c1e-2b4d-4e6f-8a0b-1c2d3e4f5a6b');
      expect(revision, id).toMatch(DNS_LABEL);
      expect(revision.startsWith(`${name}-`)).toBe(true);
    }
  });

  it('never gives two agent ids one service', () => {
    const owner = new Map<string, string>();
    for (const id of ids) {
      const name = serviceName(id);
      expect(owner.get(name) ?? id, `${id} and ${owner.get(name)} share ${name}`).toBe(id);
      owner.set(name, id);
    }
  });

  it('keeps an id Cloud Run accepts as it is, and the names services already have', () => {
    expect(serviceName('web-2')).toBe('web-2');
    expect(serviceName('a'.repeat(37))).toBe('a'.repeat(37));
    // Ids with '_' that fit keep the hash suffix they always had.
    const legacy = (id: string) => `${id.replace(/_/g, '-')}-${createHash('sha256').update(id).digest('hex').slice(0, 5)}`;
    for (const id of ['my_agent', 'financial_analyst_001', `a${'_'.repeat(29)}b`]) expect(serviceName(id)).toBe(legacy(id));
  });

  it('maps a leading digit, "_" and a name too long for the tag, and ends on a letter or digit', () => {
    expect(serviceName('1abc')).toMatch(/^a1abc-[0-9a-f]{5}$/);
    expect(serviceName('a'.repeat(38))).toMatch(/^a{26}-[0-9a-f]{10}$/);
    expect(serviceName('a'.repeat(40))).not.toBe(serviceName('a'.repeat(39)));
    expect(serviceName(`${'b'.repeat(25)}_c`)).toMatch(/^b{25}-c-[0-9a-f]{5}$/);
    // Cut right after a '_': the '-' it became is dropped, not left at the end of the kept part.
    expect(serviceName(`${'b'.repeat(25)}_${'c'.repeat(14)}`)).toMatch(/^b{25}-[0-9a-f]{10}$/);
  });

  it("refuses an agent id that is another agent id's service name, so it cannot deploy over it", () => {
    for (const victim of ['my_agent', '1abc', 'a_b_c', '12_3']) {
      const squat = serviceName(victim);
      const res = AgentIdSchema.safeParse(squat);
      expect(res.success, squat).toBe(false);
      expect(res.error?.issues[0]?.message).toMatch(/service name Baton gives another agent id/);
    }
    // An id that merely ends like a hash is fine.
    expect(AgentIdSchema.safeParse('worker-12345').success).toBe(true);
    expect(AgentIdSchema.safeParse('my-agent').success).toBe(true);
  });

  it('bounds the cost of that check', () => {
    // At most 2 × 2^10 hashes per id (about a millisecond); past 10 '-' the id is refused unsearched.
    const start = performance.now();
    expect(AgentIdSchema.safeParse(`a${'-b'.repeat(10)}-00000`).success).toBe(true);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(AgentIdSchema.safeParse(`a${'-b'.repeat(11)}-00000`).success).toBe(false);
  });
});
