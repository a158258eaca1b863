import type { z } from 'zod';
import { type Block, type Design, DesignSchema, type Group, membersOf } from './design.js';

/**
 * The deploy-time rules of a design that span fields (shared/designs.md, "Validation"), and the
 * graph the executor walks. A design's nodes are its groups and the blocks in no group; edges
 * join nodes, never a group's members; a routing group also leads to each of its targets. Every
 * problem is reported with its path inside the design (`design.groups[2].default`), a cycle with
 * the cycle itself (`a → b → a`). Pure.
 */

export interface DesignIssue {
  /** `design.groups[2].default` */
  path: string;
  message: string;
}

export class DesignError extends Error {
  override readonly name = 'DesignError';
  constructor(readonly issues: DesignIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  }
  /** The first issue's path: the field a 400 names. */
  get field(): string {
    return this.issues[0]?.path ?? 'design';
  }
}

export interface GraphNode {
  id: string;
  kind: 'block' | 'group';
  /** In topological order. */
  parents: string[];
  children: string[];
}

export interface DesignGraph {
  /** Every node, in a deterministic topological order (declaration order breaks ties). */
  order: string[];
  nodes: ReadonlyMap<string, GraphNode>;
  blocks: ReadonlyMap<string, Block>;
  groups: ReadonlyMap<string, Group>;
  /** The group each member block belongs to. */
  groupOf: ReadonlyMap<string, string>;
}

/** `['groups', 2, 'default']` → `design.groups[2].default` */
export function designPath(path: readonly PropertyKey[]): string {
  let out = 'design';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  return out;
}

function zodIssues(error: z.ZodError): DesignIssue[] {
  return error.issues.map((i) => {
    if (i.code === 'unrecognized_keys') return { path: designPath([...i.path, i.keys[0] ?? '']), message: 'unknown field' };
    if (i.code === 'invalid_union' && i.path.at(-1) === 'pattern')
      return { path: designPath(i.path), message: 'pattern is one of sequential, parallel, hierarchical, debate, routing, reflection' };
    return { path: designPath(i.path), message: i.message };
  });
}

/** Parses and checks a design; throws a DesignError listing every problem found. */
export function validateDesign(raw: unknown): { design: Design; graph: DesignGraph } {
  const parsed = DesignSchema.safeParse(raw);
  if (!parsed.success) throw new DesignError(zodIssues(parsed.error));
  const design = parsed.data;
  const issues: DesignIssue[] = [];
  const graph = buildGraph(design, issues);
  if (issues.length > 0) throw new DesignError(issues);
  return { design, graph };
}

function buildGraph(d: Design, issues: DesignIssue[]): DesignGraph {
  const add = (path: readonly PropertyKey[], message: string) => issues.push({ path: designPath(path), message });
  const blocks = new Map<string, Block>();
  const groups = new Map<string, Group>();
  const where = new Map<string, string>();
  d.blocks.forEach((b, i) => {
    const seen = where.get(b.id);
    if (seen) add(['blocks', i, 'id'], `duplicate id "${b.id}" (also ${seen})`);
    else {
      where.set(b.id, designPath(['blocks', i]));
      blocks.set(b.id, b);
    }
  });
  d.groups.forEach((g, i) => {
    const seen = where.get(g.id);
    if (seen) add(['groups', i, 'id'], `duplicate id "${g.id}" (also ${seen})`);
    else {
      where.set(g.id, designPath(['groups', i]));
      groups.set(g.id, g);
    }
  });

  // Members: each a block, each in one group at most.
  const groupOf = new Map<string, string>();
  d.groups.forEach((g, gi) => {
    for (const [field, ids] of memberFields(g)) {
      ids.forEach((id, k) => {
        const path: PropertyKey[] = Array.isArray(fieldValue(g, field)) ? ['groups', gi, field, k] : ['groups', gi, field];
        if (!blocks.has(id)) {
          add(path, groups.has(id) ? `"${id}" is a group: groups hold blocks, not groups` : `no block "${id}"`);
          return;
        }
        const other = groupOf.get(id);
        if (other === g.id) add(path, `block "${id}" appears twice in group "${g.id}"`);
        else if (other) add(path, `block "${id}" is in two groups ("${other}" and "${g.id}"): a block belongs to at most one group`);
        else groupOf.set(id, g.id);
      });
    }
    checkGroupBounds(g, gi, add);
  });

  const isNode = (id: string) => groups.has(id) || (blocks.has(id) && !groupOf.has(id));
  const refProblem = (id: string): string | null => {
    if (!blocks.has(id) && !groups.has(id)) return `no block or group "${id}"`;
    if (groupOf.has(id)) return `"${id}" is a member of group "${groupOf.get(id)}": edges join blocks or groups, never a group's members`;
    return null;
  };

  // Node order: declaration order, a group taking the place of its first member.
  const nodeOrder: string[] = [];
  for (const b of d.blocks) {
    const g = groupOf.get(b.id);
    const id = g ?? b.id;
    if (blocks.get(b.id) === b && !nodeOrder.includes(id)) nodeOrder.push(id);
  }
  for (const g of groups.keys()) if (!nodeOrder.includes(g)) nodeOrder.push(g);

  const nodes = new Map<string, GraphNode>(
    nodeOrder.map((id) => [id, { id, kind: groups.has(id) ? 'group' : 'block', parents: [], children: [] }]),
  );
  const link = (from: string, to: string) => {
    const a = nodes.get(from);
    const b = nodes.get(to);
    if (!a || !b || a.children.includes(to)) return;
    a.children.push(to);
    b.parents.push(from);
  };
  d.edges.forEach((e, i) => {
    const from = refProblem(e.from);
    const to = refProblem(e.to);
    if (from) add(['edges', i, 'from'], from);
    if (to) add(['edges', i, 'to'], to);
    if (!from && !to) {
      if (e.from === e.to) add(['edges', i], `a cycle: ${e.from} → ${e.to}`);
      else link(e.from, e.to);
    }
  });
  d.groups.forEach((g, gi) => {
    if (g.pattern !== 'routing') return;
    const targets: [PropertyKey[], string][] = Object.entries(g.routes).map(([k, v]) => [['groups', gi, 'routes', k], v]);
    if (g.default === undefined) add(['groups', gi, 'default'], 'a routing group needs a default (the target when no route matches)');
    else targets.push([['groups', gi, 'default'], g.default]);
    for (const [path, t] of targets) {
      const problem = refProblem(t);
      if (problem) add(path, problem.replace('edges join', 'routes lead to'));
      else if (t === g.id) add(path, `a routing group cannot route to itself: a cycle: ${g.id} → ${g.id}`);
      else link(g.id, t);
    }
  });
  const outProblem = refProblem(d.output);
  if (outProblem) add(['output'], outProblem.replace('edges join blocks or groups', 'the output is a block or group'));

  const order = topoOrder(nodeOrder, nodes);
  if (order.length < nodeOrder.length) {
    const cycle = findCycle(
      nodeOrder.filter((n) => !order.includes(n)),
      nodes,
    );
    add(['edges'], `a cycle: ${cycle.join(' → ')}; loops exist only inside bounded groups (reflection, debate, hierarchical)`);
  }
  for (const n of nodes.values()) n.parents.sort((a, b) => order.indexOf(a) - order.indexOf(b));
  if (!isNode(d.output) && !outProblem) add(['output'], `no node "${d.output}"`);
  return { order, nodes, blocks, groups, groupOf };
}

type MemberField = 'blocks' | 'manager' | 'workers' | 'debaters' | 'judge' | 'router' | 'generator' | 'critic';

function memberFields(g: Group): [MemberField, string[]][] {
  switch (g.pattern) {
    case 'sequential':
    case 'parallel':
      return [['blocks', g.blocks]];
    case 'hierarchical':
      return [
        ['manager', [g.manager]],
        ['workers', g.workers],
      ];
    case 'debate':
      return [['debaters', g.debaters], ...(g.judge ? ([['judge', [g.judge]]] as [MemberField, string[]][]) : [])];
    case 'routing':
      return [['router', [g.router]]];
    case 'reflection':
      return [
        ['generator', [g.generator]],
        ['critic', [g.critic]],
      ];
  }
}

function fieldValue(g: Group, field: MemberField): unknown {
  return (g as Record<string, unknown>)[field];
}

function checkGroupBounds(g: Group, gi: number, add: (path: readonly PropertyKey[], message: string) => void): void {
  if (g.pattern !== 'parallel') return;
  if (g.min_success !== undefined) {
    if (g.mode !== 'all_settled') add(['groups', gi, 'min_success'], 'min_success applies to mode "all_settled" only');
    else if (g.min_success > g.blocks.length)
      add(['groups', gi, 'min_success'], `min_success ${g.min_success} is more than the group's ${g.blocks.length} branches`);
  }
  if (membersOf(g).length > 100) add(['groups', gi, 'blocks'], 'a parallel group has at most 100 branches');
}

/** Kahn's algorithm; among ready nodes the first declared goes first. */
function topoOrder(nodeOrder: string[], nodes: Map<string, GraphNode>): string[] {
  const indegree = new Map(nodeOrder.map((id) => [id, nodes.get(id)?.parents.length ?? 0]));
  const out: string[] = [];
  const done = new Set<string>();
  for (;;) {
    const next = nodeOrder.find((id) => !done.has(id) && indegree.get(id) === 0);
    if (next === undefined) return out;
    done.add(next);
    out.push(next);
    for (const c of nodes.get(next)?.children ?? []) indegree.set(c, (indegree.get(c) ?? 0) - 1);
  }
}

/** A cycle among `left` (the nodes Kahn could not order), by DFS: `[a, b, a]`. */
function findCycle(left: string[], nodes: Map<string, GraphNode>): string[] {
  const state = new Map<string, 'open' | 'closed'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    state.set(id, 'open');
    stack.push(id);
    for (const c of nodes.get(id)?.children ?? []) {
      if (!left.includes(c)) continue;
      if (state.get(c) === 'open') return [...stack.slice(stack.indexOf(c)), c];
      if (!state.has(c)) {
        const found = visit(c);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(id, 'closed');
    return null;
  };
  for (const id of left) {
    if (state.has(id)) continue;
    const found = visit(id);
    if (found) return found;
  }
  return left;
}
