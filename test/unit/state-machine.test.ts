import { describe, expect, it } from 'vitest';
import {
  canTransition,
  FINAL_STATUSES,
  isFinal,
  previousStatus,
  STAGE_PROGRESS,
  STAGES,
  STATUSES,
  type Status,
  TRANSITIONS,
} from '../../shared/domain/status.js';

/** The legal transitions, written out once more by hand: the table in the code must equal it. */
const EXPECTED: Record<Status, Status[]> = {
  queued: ['validating', 'rolling_back', 'failed', 'cancelled'],
  validating: ['preparing', 'failed', 'cancelled'],
  preparing: ['building', 'failed', 'cancelled'],
  building: ['deploying', 'failed', 'cancelled'],
  deploying: ['verifying', 'rolling_back', 'failed', 'cancelled'],
  verifying: ['promoting', 'rolling_back', 'failed', 'cancelled'],
  promoting: ['completed', 'rolling_back', 'failed'],
  completed: ['rolling_back'],
  rolling_back: ['rolled_back', 'failed'],
  failed: [],
  rolled_back: [],
  cancelled: [],
};

describe('the state machine', () => {
  it.each(STATUSES.flatMap((from) => STATUSES.map((to) => [from, to] as const)))('%s -> %s is legal only if listed', (from, to) => {
    expect(canTransition(from, to)).toBe(EXPECTED[from].includes(to));
  });

  it('has an entry for every status and names only known statuses', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATUSES].sort());
    for (const targets of Object.values(TRANSITIONS)) for (const t of targets) expect(STATUSES).toContain(t);
  });

  it('runs the happy path in order', () => {
    const path: Status[] = ['queued', ...STAGES, 'completed'];
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1], path[i]), `${path[i - 1]} -> ${path[i]}`).toBe(true);
    for (const stage of STAGES) expect(path[path.indexOf(stage) - 1]).toBe(previousStatus(stage));
  });

  it('reaches every status from queued', () => {
    const seen = new Set<Status>(['queued']);
    const queue: Status[] = ['queued'];
    while (queue.length > 0) {
      const s = queue.shift() as Status;
      for (const n of TRANSITIONS[s]) if (!seen.has(n)) queue.push(n) && seen.add(n);
    }
    expect([...seen].sort()).toEqual([...STATUSES].sort());
  });

  it('lets every running stage fail, and cancels only before traffic moves', () => {
    for (const stage of STAGES) expect(canTransition(stage, 'failed')).toBe(true);
    expect(STAGES.filter((s) => canTransition(s, 'cancelled'))).toEqual(['validating', 'preparing', 'building', 'deploying', 'verifying']);
  });

  it('ends only in final statuses, which only a manual rollback of a completed deployment leaves', () => {
    expect([...FINAL_STATUSES].sort()).toEqual(['cancelled', 'completed', 'failed', 'rolled_back']);
    for (const s of STATUSES) expect(isFinal(s)).toBe(FINAL_STATUSES.includes(s));
    for (const s of FINAL_STATUSES) expect(TRANSITIONS[s]).toEqual(s === 'completed' ? ['rolling_back'] : []);
  });

  it('gives progress that never goes backwards from stage to stage', () => {
    let last = 0;
    for (const stage of STAGES) {
      const [start, end] = STAGE_PROGRESS[stage];
      expect(start).toBeGreaterThanOrEqual(last);
      expect(end).toBeGreaterThanOrEqual(start);
      last = end;
    }
    expect(last).toBe(100);
  });
});
