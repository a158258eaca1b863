import { describe, expect, it } from 'vitest';
import type { DesignInput } from '../../shared/domain/design.js';
import { DesignError, validateDesign } from '../../shared/domain/design-graph.js';

const agent = { url: 'https://agents.example/run' };
const blocks = (...ids: string[]) => ids.map((id) => ({ id, agent }));

function issuesOf(design: unknown): string[] {
  try {
    validateDesign(design);
  } catch (err) {
    if (err instanceof DesignError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

const base = (over: Record<string, unknown> = {}): DesignInput =>
  ({
    version: 1,
    name: 'd',
    blocks: blocks('a', 'b'),
    edges: [{ from: 'a', to: 'b' }],
    output: 'b',
    ...over,
  }) as DesignInput;

describe('design schema and validation rules (designs.md)', () => {
  it('accepts the example of designs.md and orders it topologically', () => {
    const { graph, design } = validateDesign({
      version: 1,
      name: 'customer-analysis',
      blocks: [
        { id: 'fetch', agent: { agent_id: 'fetcher', path: '/invoke' } },
        { id: 'score', agent: { url: 'https://example.com/score' }, timeout_ms: 10000, retry: { max_attempts: 3 }, on_error: 'fail' },
        { id: 'a', agent: { agent_id: 'analyst-a' } },
        { id: 'b', agent: { agent_id: 'analyst-b' } },
      ],
      groups: [{ id: 'panel', pattern: 'parallel', blocks: ['a', 'b'], reduce: 'collect', mode: 'all', max_concurrency: 4 }],
      edges: [
        { from: 'fetch', to: 'panel' },
        { from: 'panel', to: 'score' },
      ],
      output: 'score',
      limits: { run_timeout_ms: 60000, max_agent_calls: 100, max_concurrency: 8, max_payload_bytes: 1_000_000 },
    });
    expect(graph.order).toEqual(['fetch', 'panel', 'score']);
    expect(graph.nodes.get('score')?.parents).toEqual(['panel']);
    expect(design.blocks[1].retry).toEqual({ max_attempts: 3, initial_backoff_ms: 200, max_backoff_ms: 5000 });
  });

  it('breaks ties in declaration order, the same on every run', () => {
    const d = base({ blocks: blocks('z', 'y', 'x'), edges: [], output: 'x' });
    expect(validateDesign(d).graph.order).toEqual(['z', 'y', 'x']);
  });

  it('refuses duplicate ids, naming both places', () => {
    expect(issuesOf(base({ blocks: blocks('a', 'a', 'b') }))).toContain('design.blocks[1].id: duplicate id "a" (also design.blocks[0])');
    expect(issuesOf(base({ groups: [{ id: 'a', pattern: 'sequential', blocks: ['b'] }] }))[0]).toMatch(
      /^design.groups\[0\].id: duplicate id "a"/,
    );
  });

  it('refuses references that do not resolve', () => {
    expect(issuesOf(base({ edges: [{ from: 'a', to: 'nope' }] }))).toContain('design.edges[0].to: no block or group "nope"');
    expect(issuesOf(base({ output: 'ghost' }))).toContain('design.output: no block or group "ghost"');
    expect(issuesOf(base({ groups: [{ id: 'g', pattern: 'sequential', blocks: ['a', 'c'] }], edges: [], output: 'g' }))).toContain(
      'design.groups[0].blocks[1]: no block "c"',
    );
  });

  it('refuses a block in two groups', () => {
    const issues = issuesOf(
      base({
        groups: [
          { id: 'g1', pattern: 'sequential', blocks: ['a'] },
          { id: 'g2', pattern: 'parallel', blocks: ['b', 'a'] },
        ],
        edges: [],
        output: 'g2',
      }),
    );
    expect(issues).toContain(
      'design.groups[1].blocks[1]: block "a" is in two groups ("g1" and "g2"): a block belongs to at most one group',
    );
  });

  it('refuses a routing group without a default, at that path', () => {
    const issues = issuesOf({
      version: 1,
      name: 'r',
      blocks: blocks('c', 'x', 'y', 'z'),
      groups: [
        { id: 's', pattern: 'sequential', blocks: ['z'] },
        { id: 'p', pattern: 'parallel', blocks: ['y'] },
        { id: 'route', pattern: 'routing', router: 'c', routes: { left: 'x' } },
      ],
      output: 'x',
    });
    expect(issues).toEqual(['design.groups[2].default: a routing group needs a default (the target when no route matches)']);
  });

  it('names the cycle itself', () => {
    const issues = issuesOf(
      base({
        blocks: blocks('a', 'b', 'c'),
        edges: [
          { from: 'a', to: 'b' },
          { from: 'b', to: 'c' },
          { from: 'c', to: 'a' },
        ],
        output: 'c',
      }),
    );
    expect(issues).toEqual([
      'design.edges: a cycle: a → b → c → a; loops exist only inside bounded groups (reflection, debate, hierarchical)',
    ]);
    expect(issuesOf(base({ edges: [{ from: 'a', to: 'a' }] }))).toEqual(['design.edges[0]: a cycle: a → a']);
  });

  it('finds a cycle through a routing target', () => {
    const issues = issuesOf({
      version: 1,
      name: 'r',
      blocks: blocks('c', 'x'),
      groups: [{ id: 'route', pattern: 'routing', router: 'c', routes: {}, default: 'x' }],
      edges: [{ from: 'x', to: 'route' }],
      output: 'x',
    });
    expect(issues[0]).toMatch(/a cycle: (route → x → route|x → route → x)/);
  });

  it('refuses edges to a group member', () => {
    const issues = issuesOf(
      base({ blocks: blocks('a', 'b', 'c'), groups: [{ id: 'g', pattern: 'sequential', blocks: ['b', 'c'] }], output: 'g' }),
    );
    expect(issues).toContain('design.edges[0].to: "b" is a member of group "g": edges join blocks or groups, never a group\'s members');
  });

  it('refuses missing and excessive bounds', () => {
    const reflection = (extra: object) => ({
      version: 1,
      name: 'r',
      blocks: blocks('g', 'c'),
      groups: [{ id: 'loop', pattern: 'reflection', generator: 'g', critic: 'c', ...extra }],
      output: 'loop',
    });
    expect(issuesOf(reflection({}))).toEqual(['design.groups[0].max_iterations: max_iterations is required (at most 10)']);
    expect(issuesOf(reflection({ max_iterations: 11 }))).toEqual(['design.groups[0].max_iterations: max_iterations is at most 10']);
    const debate = { id: 'd', pattern: 'debate', debaters: ['a', 'b'] };
    expect(issuesOf(base({ groups: [debate], edges: [], output: 'd' }))).toEqual([
      'design.groups[0].max_rounds: max_rounds is required (at most 5)',
    ]);
    expect(issuesOf(base({ groups: [{ ...debate, max_rounds: 6 }], edges: [], output: 'd' }))).toEqual([
      'design.groups[0].max_rounds: max_rounds is at most 5',
    ]);
    const h = { id: 'h', pattern: 'hierarchical', manager: 'a', workers: ['b'], max_rounds: 11 };
    expect(issuesOf(base({ groups: [h], edges: [], output: 'h' }))).toEqual(['design.groups[0].max_rounds: max_rounds is at most 10']);
    expect(issuesOf(base({ limits: { max_agent_calls: 501 } }))[0]).toMatch(/^design.limits.max_agent_calls: /);
    expect(issuesOf(base({ limits: { run_timeout_ms: 900_001 } }))[0]).toMatch(/^design.limits.run_timeout_ms: /);
    expect(
      issuesOf(
        base({
          blocks: [
            { id: 'a', agent, retry: { max_attempts: 11 } },
            { id: 'b', agent },
          ],
        }),
      )[0],
    ).toMatch(/^design.blocks\[0\].retry.max_attempts: /);
  });

  it('refuses a debate of one and min_success above the branches', () => {
    expect(issuesOf(base({ groups: [{ id: 'd', pattern: 'debate', debaters: ['a'], max_rounds: 2 }], edges: [], output: 'd' }))).toEqual([
      'design.groups[0].debaters: a debate needs at least 2 debaters',
    ]);
    const p = { id: 'p', pattern: 'parallel', blocks: ['a', 'b'], mode: 'all_settled', min_success: 3 };
    expect(issuesOf(base({ groups: [p], edges: [], output: 'p' }))).toEqual([
      "design.groups[0].min_success: min_success 3 is more than the group's 2 branches",
    ]);
  });

  it('refuses an unknown version, field or pattern', () => {
    expect(issuesOf(base({ version: 2 as 1 }))).toEqual(['design.version: version must be 1: the only design version this Baton reads']);
    expect(issuesOf({ ...base(), extra: true })).toEqual(['design.extra: unknown field']);
    expect(issuesOf(base({ groups: [{ id: 'g', pattern: 'swarm', blocks: ['a'] } as never] }))[0]).toMatch(/^design.groups\[0\].pattern: /);
  });

  it('refuses a group member as a group or a route to a member', () => {
    const issues = issuesOf({
      version: 1,
      name: 'r',
      blocks: blocks('c', 'x', 'y'),
      groups: [
        { id: 's', pattern: 'sequential', blocks: ['x', 'y'] },
        { id: 'route', pattern: 'routing', router: 'c', routes: { a: 'x' }, default: 's' },
      ],
      output: 's',
    });
    expect(issues).toEqual([
      'design.groups[1].routes.a: "x" is a member of group "s": routes lead to blocks or groups, never a group\'s members',
    ]);
  });
});
