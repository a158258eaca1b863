import { CANDIDATE_TAG } from './names.js';

/**
 * Traffic splits Baton computes. Baton owns only what a deployment put there: the percent of its
 * own revision and of the revision it replaces, and the `candidate` tag. Every other entry (a
 * tag someone set, a split pinned to a third revision) is carried into each new split as it is:
 * the runtime replaces the whole split on every write, so an entry left out is an entry deleted.
 */
export interface Split {
  revision: string;
  percent: number;
  tag?: string;
}

export { CANDIDATE_TAG };

export interface OwnedSplit {
  /** The deployment's revision and the one it replaces (null on a first deployment). */
  revision: string;
  previous: string | null;
  /** The share of Baton's traffic the revision gets (0–100); the previous revision gets the rest. */
  percent: number;
  /** Tag `revision` as the candidate (a canary step, so its tagged URL can be probed). */
  tagged: boolean;
  /** `revision` is about to be deleted: drop every entry that names it, other tags included. */
  dropRevision?: boolean;
}

export function nextSplit(current: readonly Split[], own: OwnedSplit): Split[] {
  const owned = new Set([own.revision, ...(own.previous ? [own.previous] : [])]);
  const kept: Split[] = [];
  for (const t of current) {
    if (t.tag === CANDIDATE_TAG) continue;
    if (!owned.has(t.revision)) kept.push(entry(t.revision, t.percent, t.tag));
    // Someone else's tag on a revision whose percent Baton decides: the tag stays, at 0 %.
    else if (t.tag && !(own.dropRevision && t.revision === own.revision)) kept.push(entry(t.revision, 0, t.tag));
  }
  const share = 100 - kept.reduce((a, t) => a + t.percent, 0);
  const mine = own.previous ? Math.round((share * Math.min(100, Math.max(0, own.percent))) / 100) : share;
  const out: Split[] = [];
  if (mine > 0 || own.tagged) out.push(entry(own.revision, mine, own.tagged ? CANDIDATE_TAG : undefined));
  if (own.previous && share - mine > 0) out.push(entry(own.previous, share - mine));
  return [...out, ...kept];
}

/** True when `observed` (what the runtime reports serving) is `wanted`, entry for entry in any order. */
export function sameSplit(observed: readonly Split[], wanted: readonly Split[]): boolean {
  const key = (t: Split) => `${t.revision}\u0000${t.percent}\u0000${t.tag ?? ''}`;
  const a = observed
    .filter((t) => t.percent > 0 || t.tag)
    .map(key)
    .sort();
  const b = wanted
    .filter((t) => t.percent > 0 || t.tag)
    .map(key)
    .sort();
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

function entry(revision: string, percent: number, tag?: string): Split {
  return tag ? { revision, percent, tag } : { revision, percent };
}
