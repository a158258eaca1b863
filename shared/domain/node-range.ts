/**
 * Whether a Node version satisfies a package's `engines.node`, for the ranges package.json files
 * carry: `>=18`, `^20.11.0`, `~18.2`, `20.x`, `18 || 20`, `>=18 <23`, `18.0.0 - 20`, `*`.
 * Pre-release tags are ignored. Returns null for a range it cannot read, so the caller can say so
 * instead of guessing.
 */
export function satisfiesNodeRange(version: string, range: string): boolean | null {
  const v = parseVersion(version);
  if (!v) return null;
  let readable = false;
  for (const set of range.split('||')) {
    const comparators = toComparators(set.trim());
    if (!comparators) continue;
    readable = true;
    if (comparators.every((c) => compare(v, c.version, c.op))) return true;
  }
  return readable ? false : null;
}

type Triple = [number, number, number];
type Op = '>=' | '>' | '<=' | '<' | '=';
interface Comparator {
  op: Op;
  version: Triple;
}

function parseVersion(text: string): Triple | null {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** A partial version: `20`, `20.1`, `20.x`, `20.1.*`; the parts given (x and * are not given). */
function parsePartial(text: string): number[] | null {
  const m = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-+].*)?$/.exec(text);
  if (!m) return null;
  const parts: number[] = [];
  for (const p of [m[1], m[2], m[3]]) {
    if (p === undefined || /^[xX*]$/.test(p)) break;
    parts.push(Number(p));
  }
  return parts;
}

const full = (p: number[]): Triple => [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0];

/** The first version above every version matching the partial `p` (`20.1` → 20.2.0). */
function above(p: number[]): Triple | null {
  if (p.length === 0) return null;
  const q = [...p];
  q[q.length - 1]++;
  return full(q);
}

function toComparators(set: string): Comparator[] | null {
  if (set === '' || set === '*' || /^[xX]$/.test(set)) return [];
  const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(set);
  if (hyphen) {
    const lo = parsePartial(hyphen[1]);
    const hi = parsePartial(hyphen[2]);
    if (!lo || !hi) return null;
    // 1.2.3 - 2.3 := >=1.2.3 <2.4.0; a full upper version is inclusive.
    const upper = hi.length === 3 ? full(hi) : above(hi);
    const top: Comparator[] = upper ? [{ op: hi.length === 3 ? '<=' : '<', version: upper }] : [];
    return [{ op: '>=', version: full(lo) }, ...top];
  }
  const out: Comparator[] = [];
  for (const token of set.replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/)) {
    const m = /^(>=|<=|>|<|=|\^|~>?)?(.*)$/.exec(token);
    const p = m ? parsePartial(m[2]) : null;
    if (!m || !p) return null;
    const op = m[1] ?? '';
    if (op === '^') {
      // ^1.2.3 := <2.0.0; ^0.2.3 := <0.3.0; ^0.0.3 := <0.0.4 (the first non-zero part is fixed).
      const fixed = p.findIndex((n) => n !== 0);
      const keep = fixed === -1 ? p.length : fixed + 1;
      const hi = above(p.slice(0, Math.min(keep, p.length)));
      out.push({ op: '>=', version: full(p) }, ...(hi ? [{ op: '<' as const, version: hi }] : []));
    } else if (op === '~' || op === '~>') {
      const hi = above(p.slice(0, Math.max(1, Math.min(2, p.length))));
      out.push({ op: '>=', version: full(p) }, ...(hi ? [{ op: '<' as const, version: hi }] : []));
    } else if (op === '' || op === '=') {
      const hi = above(p);
      if (p.length === 3) out.push({ op: '=', version: full(p) });
      else out.push({ op: '>=', version: full(p) }, ...(hi ? [{ op: '<' as const, version: hi }] : []));
    } else if (op === '>' && p.length < 3) {
      // >20 means above every 20.x.
      const hi = above(p);
      if (hi) out.push({ op: '>=', version: hi });
    } else if (op === '<=' && p.length < 3) {
      const hi = above(p);
      if (hi) out.push({ op: '<', version: hi });
    } else {
      out.push({ op: op as Op, version: full(p) });
    }
  }
  return out;
}

function compare(a: Triple, b: Triple, op: Op): boolean {
  const d = a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
  switch (op) {
    case '>=':
      return d >= 0;
    case '>':
      return d > 0;
    case '<=':
      return d <= 0;
    case '<':
      return d < 0;
    case '=':
      return d === 0;
  }
}
