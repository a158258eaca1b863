import { describe, expect, it } from 'vitest';
import { CANDIDATE_TAG, nextSplit, type Split, sameSplit } from '../../shared/domain/traffic.js';

/** A service with a tag someone else set (blue, on a third revision), a split pinned to it, and a tag on the old revision. */
const CURRENT: Split[] = [
  { revision: 'old', percent: 90 },
  { revision: 'old', percent: 0, tag: 'stable' },
  { revision: 'third', percent: 10, tag: 'blue' },
  { revision: 'new', percent: 0, tag: CANDIDATE_TAG },
];
const sum = (s: Split[]) => s.reduce((a, t) => a + t.percent, 0);

describe('nextSplit', () => {
  it('moves a canary step within Baton’s share and keeps every entry it does not own', () => {
    const next = nextSplit(CURRENT, { revision: 'new', previous: 'old', percent: 50, tagged: true });
    expect(next).toEqual([
      { revision: 'new', percent: 45, tag: CANDIDATE_TAG },
      { revision: 'old', percent: 45 },
      { revision: 'old', percent: 0, tag: 'stable' },
      { revision: 'third', percent: 10, tag: 'blue' },
    ]);
    expect(sum(next)).toBe(100);
  });

  it('promotes fully without dropping the pinned split or other tags', () => {
    const next = nextSplit(CURRENT, { revision: 'new', previous: 'old', percent: 100, tagged: false });
    expect(next).toEqual([
      { revision: 'new', percent: 90 },
      { revision: 'old', percent: 0, tag: 'stable' },
      { revision: 'third', percent: 10, tag: 'blue' },
    ]);
  });

  it('rolls back: the previous revision gets Baton’s share, and a revision about to be deleted keeps no entry at all', () => {
    const canary = nextSplit(CURRENT, { revision: 'new', previous: 'old', percent: 50, tagged: true });
    const withTag = [...canary, { revision: 'new', percent: 0, tag: 'qa' }];
    expect(nextSplit(withTag, { revision: 'new', previous: 'old', percent: 0, tagged: false, dropRevision: true })).toEqual([
      { revision: 'old', percent: 90 },
      { revision: 'old', percent: 0, tag: 'stable' },
      { revision: 'third', percent: 10, tag: 'blue' },
    ]);
    // A manual rollback keeps the undone revision's other tags.
    expect(nextSplit(withTag, { revision: 'new', previous: 'old', percent: 0, tagged: false })).toContainEqual({
      revision: 'new',
      percent: 0,
      tag: 'qa',
    });
  });

  it('gives a first deployment the whole share (there is nothing to split with)', () => {
    expect(nextSplit([], { revision: 'new', previous: null, percent: 10, tagged: false })).toEqual([{ revision: 'new', percent: 100 }]);
  });

  it('sums to 100 for every percent', () => {
    for (let p = 0; p <= 100; p++)
      expect(sum(nextSplit(CURRENT, { revision: 'new', previous: 'old', percent: p, tagged: true })), `${p}`).toBe(100);
  });
});

describe('sameSplit', () => {
  it('compares entries in any order, ignoring untagged 0 % entries and URLs', () => {
    const observed = [
      { revision: 'third', percent: 10, tag: 'blue', url: 'https://blue---svc' },
      { revision: 'old', percent: 90 },
      { revision: 'x', percent: 0 },
    ];
    expect(
      sameSplit(observed, [
        { revision: 'old', percent: 90 },
        { revision: 'third', percent: 10, tag: 'blue' },
      ]),
    ).toBe(true);
    expect(sameSplit(observed, [{ revision: 'old', percent: 100 }])).toBe(false);
  });
});
