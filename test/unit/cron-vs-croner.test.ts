import { Cron } from 'croner';
import { describe, expect, it } from 'vitest';
import { nextFireTime } from '../../shared/domain/cron.js';

/**
 * Why shared/domain/cron.ts is kept rather than replaced by croner (issue 9 asks for the library
 * "unless you can show a case the library gets wrong"): on 1,944 next-times over four zones and nine
 * expressions through 2026 the two agree except at daylight-saving changes, where croner (11.0.1,
 * legacyMode = Vixie's either-day rule)
 *   - drops a firing whose wall time falls in the spring-forward gap (a daily 02:15 job does not run
 *     that day), where Baton runs it once at the end of the gap (ISC cron, Vixie cron), and
 *   - fires a job of a fixed hour range twice in the fall-back hour ("15 1-3 * * *" runs at 01:15 EDT
 *     and again at 01:15 EST), where Baton fires it once (a plain "15 1 * * *" croner fires once:
 *     its rule is not even consistent).
 * These tests pin both differences: if croner ever agrees, they fail and the swap can be made.
 */
const iso = (d: Date | null) => d?.toISOString() ?? null;

describe('croner against Baton cron at daylight-saving changes', () => {
  it('spring forward (New York, Mar 8 2026, 02:00 → 03:00): croner skips the 02:15 firing, Baton fires at 03:00', () => {
    const after = new Date('2026-03-08T06:15:00Z'); // 01:15 EST
    const croner = new Cron('15 1-3 * * *', { timezone: 'America/New_York', paused: true, legacyMode: true });
    expect(iso(croner.nextRun(after))).toBe('2026-03-08T07:15:00.000Z'); // 03:15 EDT: 02:15 never ran
    expect(iso(nextFireTime('15 1-3 * * *', after, 'America/New_York'))).toBe('2026-03-08T07:00:00.000Z'); // 03:00 EDT, then 03:15
  });

  it('fall back (New York, Nov 1 2026, 02:00 → 01:00): croner runs the 01:15 of "15 1-3 * * *" twice, Baton once', () => {
    const after = new Date('2026-11-01T05:15:00Z'); // 01:15 EDT, the first pass
    const croner = new Cron('15 1-3 * * *', { timezone: 'America/New_York', paused: true, legacyMode: true });
    expect(iso(croner.nextRun(after))).toBe('2026-11-01T06:15:00.000Z'); // 01:15 EST, the same wall time again
    expect(iso(nextFireTime('15 1-3 * * *', after, 'America/New_York'))).toBe('2026-11-01T07:15:00.000Z'); // 02:15 EST
  });
});
