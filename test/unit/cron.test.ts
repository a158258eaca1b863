import { describe, expect, it } from 'vitest';
import { assertTimeZone, CronError, checkJobSchedule, nextFireTime, nextFireTimes, parseCron } from '../../shared/domain/cron.js';

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());
const next = (cron: string, after: string, tz: string, n: number) => iso(nextFireTimes(cron, Date.parse(after), tz, n));

describe('parseCron', () => {
  it('reads stars, numbers, ranges, steps, lists and names', () => {
    const s = parseCron('*/15 0-6/2 1,15,31 JAN-MAR,dec sun,5-7');
    expect(s.minutes).toEqual([0, 15, 30, 45]);
    expect(s.hours).toEqual([0, 2, 4, 6]);
    expect(s.daysOfMonth).toEqual([1, 15, 31]);
    expect(s.months).toEqual([1, 2, 3, 12]);
    // 7 is Sunday, like 0.
    expect(s.daysOfWeek).toEqual([0, 5, 6]);
    expect(parseCron('5/20 * * * *').minutes).toEqual([5, 25, 45]);
    expect(parseCron('* * * * 1/2').daysOfWeek).toEqual([1, 3, 5]);
    expect(parseCron('  0   12 * * *  ').expression).toBe('0 12 * * *');
    expect(parseCron('0 0 * * MON-FRI').daysOfWeek).toEqual([1, 2, 3, 4, 5]);
  });

  it.each([
    ['', /empty cron expression/],
    ['* * * *', /has 4 field\(s\); expected five/],
    ['0 * * * * *', /has 6 fields: a seconds field is not supported \(Cloud Scheduler's finest interval is one minute\)/],
    ['0 0 * * * * 2030', /has 7 field/],
    ['60 * * * *', /minute field "60": 60 is out of range 0-59/],
    ['* 24 * * *', /hour field "24": 24 is out of range 0-23/],
    ['* * 0 * *', /day-of-month field "0": 0 is out of range 1-31/],
    ['* * * 13 *', /month field "13": 13 is out of range 1-12/],
    ['* * * * 8', /day-of-week field "8": 8 is out of range 0-7/],
    ['5-1 * * * *', /minute field "5-1": range start 5 is after its end 1/],
    ['*/0 * * * *', /minute field "\*\/0": step 0 is out of range 1-59/],
    ['*/x * * * *', /the step after "\/" must be a positive number/],
    ['1/2/3 * * * *', /more than one "\/"/],
    ['1,,2 * * * *', /empty list item/],
    ['1-2-3 * * * *', /a range is "a-b"/],
    ['x * * * *', /minute field "x": "x" is not a number/],
    ['* * * FOO *', /month field "FOO": "FOO" is not a number or one of JAN, FEB/],
    ['* * * * MON-XYZ', /"XYZ" is not a number or one of SUN, MON/],
    ['@daily', /cron macros such as @daily are not supported/],
    ['0 0 31 2 *', /never fires: no month among 2 has day 31/],
    ['0 0 31 APR,JUN *', /never fires/],
  ])('refuses %j', (expr, message) => {
    expect(() => parseCron(expr)).toThrow(CronError);
    expect(() => parseCron(expr)).toThrow(message);
  });

  it('accepts Feb 29 (leap years) and day 31 when some month has it', () => {
    expect(() => parseCron('0 0 29 2 *')).not.toThrow();
    expect(() => parseCron('0 0 31 1-2 *')).not.toThrow();
    // With a restricted day of week either may match, so this fires on Mondays in February.
    expect(() => parseCron('0 0 30 2 MON')).not.toThrow();
  });
});

describe('time zones', () => {
  it('refuses unknown or empty ones with a message', () => {
    expect(() => assertTimeZone('Mars/Olympus')).toThrow(/unknown time zone "Mars\/Olympus": use an IANA name/);
    expect(() => assertTimeZone('')).toThrow(/time zone is empty/);
    expect(() => nextFireTime('* * * * *', 0, 'Nowhere/Land')).toThrow(CronError);
    expect(() => assertTimeZone('Europe/Paris')).not.toThrow();
  });

  it('checkJobSchedule names a bad job name first', () => {
    expect(() => checkJobSchedule('a b', '* * * * *', 'Etc/UTC')).toThrow(/invalid job name "a b"/);
    expect(checkJobSchedule('watchdog', '* * * * *', 'Etc/UTC').minutes).toHaveLength(60);
  });
});

describe('nextFireTime', () => {
  it('is strictly after the given time, to the minute', () => {
    expect(next('* * * * *', '2026-01-01T00:00:00.000Z', 'Etc/UTC', 2)).toEqual(['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z']);
    expect(next('* * * * *', '2026-01-01T00:00:59.999Z', 'Etc/UTC', 1)).toEqual(['2026-01-01T00:01:00.000Z']);
    expect(nextFireTime('0 * * * *', new Date('2026-01-01T10:30:00Z'), 'Etc/UTC').toISOString()).toBe('2026-01-01T11:00:00.000Z');
  });

  it('follows steps and lists', () => {
    expect(next('*/20 8,12 * * *', '2026-01-01T07:00:00Z', 'Etc/UTC', 7)).toEqual([
      '2026-01-01T08:00:00.000Z',
      '2026-01-01T08:20:00.000Z',
      '2026-01-01T08:40:00.000Z',
      '2026-01-01T12:00:00.000Z',
      '2026-01-01T12:20:00.000Z',
      '2026-01-01T12:40:00.000Z',
      '2026-01-02T08:00:00.000Z',
    ]);
  });

  it('rolls over months and years, with weekday names', () => {
    // Friday 2026-01-30 → next weekdays at 09:00.
    expect(next('0 9 * * MON-FRI', '2026-01-30T10:00:00Z', 'Etc/UTC', 2)).toEqual(['2026-02-02T09:00:00.000Z', '2026-02-03T09:00:00.000Z']);
    expect(next('0 0 1 JAN *', '2026-06-01T00:00:00Z', 'Etc/UTC', 2)).toEqual(['2027-01-01T00:00:00.000Z', '2028-01-01T00:00:00.000Z']);
    expect(next('0 0 29 2 *', '2026-01-01T00:00:00Z', 'Etc/UTC', 2)).toEqual(['2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z']);
    expect(next('0 0 31 * *', '2026-01-31T00:00:00Z', 'Etc/UTC', 2)).toEqual(['2026-03-31T00:00:00.000Z', '2026-05-31T00:00:00.000Z']);
  });

  it('fires when either day field matches if both are restricted, and when both match if one is a star', () => {
    // 2026-02-13 is a Friday.
    expect(next('0 0 13 * FRI', '2026-02-01T00:00:00Z', 'Etc/UTC', 3)).toEqual([
      '2026-02-06T00:00:00.000Z',
      '2026-02-13T00:00:00.000Z',
      '2026-02-20T00:00:00.000Z',
    ]);
    expect(next('0 0 */2 * FRI', '2026-02-01T00:00:00Z', 'Etc/UTC', 2)).toEqual(['2026-02-13T00:00:00.000Z', '2026-02-27T00:00:00.000Z']);
  });

  it('computes on the wall clock of the time zone', () => {
    expect(next('0 9 * * *', '2026-01-15T00:00:00Z', 'Europe/Paris', 1)).toEqual(['2026-01-15T08:00:00.000Z']);
    expect(next('0 9 * * *', '2026-07-15T00:00:00Z', 'Europe/Paris', 1)).toEqual(['2026-07-15T07:00:00.000Z']);
    expect(next('0 9 * * *', '2026-01-15T00:00:00Z', 'America/New_York', 1)).toEqual(['2026-01-15T14:00:00.000Z']);
    expect(next('30 0 * * *', '2026-01-15T00:00:00Z', 'Asia/Kolkata', 1)).toEqual(['2026-01-15T19:00:00.000Z']);
  });

  describe('America/New_York daylight saving (2026: spring forward Mar 8 02:00, fall back Nov 1 02:00)', () => {
    it('a daily job in the skipped hour fires once, at the end of the gap (03:00 EDT)', () => {
      expect(next('30 2 * * *', '2026-03-07T12:00:00Z', 'America/New_York', 3)).toEqual([
        '2026-03-08T07:00:00.000Z', // 03:00 EDT: 02:30 does not exist that day
        '2026-03-09T06:30:00.000Z', // 02:30 EDT
        '2026-03-10T06:30:00.000Z',
      ]);
    });

    it('a job every 20 minutes skips the hour that does not exist, firing once at its end', () => {
      expect(next('*/20 * * * *', '2026-03-08T06:00:00Z', 'America/New_York', 5)).toEqual([
        '2026-03-08T06:20:00.000Z', // 01:20 EST
        '2026-03-08T06:40:00.000Z', // 01:40 EST
        '2026-03-08T07:00:00.000Z', // 03:00 EDT (02:00-02:40 do not exist)
        '2026-03-08T07:20:00.000Z', // 03:20 EDT
        '2026-03-08T07:40:00.000Z',
      ]);
    });

    it('a daily job in the repeated hour fires once, at its first occurrence (EDT)', () => {
      expect(next('30 1 * * *', '2026-10-31T12:00:00Z', 'America/New_York', 3)).toEqual([
        '2026-11-01T05:30:00.000Z', // 01:30 EDT
        '2026-11-02T06:30:00.000Z', // 01:30 EST, the next day
        '2026-11-03T06:30:00.000Z',
      ]);
    });

    it('an hourly-or-finer job fires in both passes of the repeated hour', () => {
      expect(next('*/30 * * * *', '2026-11-01T04:10:00Z', 'America/New_York', 6)).toEqual([
        '2026-11-01T04:30:00.000Z', // 00:30 EDT
        '2026-11-01T05:00:00.000Z', // 01:00 EDT
        '2026-11-01T05:30:00.000Z', // 01:30 EDT
        '2026-11-01T06:00:00.000Z', // 01:00 EST
        '2026-11-01T06:30:00.000Z', // 01:30 EST
        '2026-11-01T07:00:00.000Z', // 02:00 EST
      ]);
      // From the last minute of the first pass, the next is the first minute of the second.
      expect(next('* * * * *', '2026-11-01T05:59:00Z', 'America/New_York', 2)).toEqual([
        '2026-11-01T06:00:00.000Z',
        '2026-11-01T06:01:00.000Z',
      ]);
    });

    it('every minute across the spring-forward gap is continuous in real time', () => {
      const times = nextFireTimes('* * * * *', Date.parse('2026-03-08T06:58:00Z'), 'America/New_York', 3).map((d) => d.getTime());
      expect(times[1] - times[0]).toBe(60_000);
      expect(times[2] - times[1]).toBe(60_000);
    });
  });

  describe('Europe/Paris daylight saving (2026: spring forward Mar 29 02:00, fall back Oct 25 03:00)', () => {
    it('a daily job in the skipped hour fires at 03:00 CEST that day', () => {
      expect(next('30 2 * * *', '2026-03-28T12:00:00Z', 'Europe/Paris', 3)).toEqual([
        '2026-03-29T01:00:00.000Z', // 03:00 CEST
        '2026-03-30T00:30:00.000Z', // 02:30 CEST
        '2026-03-31T00:30:00.000Z',
      ]);
    });

    it('a daily job in the repeated hour fires once, in CEST', () => {
      expect(next('30 2 * * *', '2026-10-24T12:00:00Z', 'Europe/Paris', 3)).toEqual([
        '2026-10-25T00:30:00.000Z', // 02:30 CEST
        '2026-10-26T01:30:00.000Z', // 02:30 CET
        '2026-10-27T01:30:00.000Z',
      ]);
    });

    it('an hourly job fires in both passes of 02:00', () => {
      expect(next('0 * * * *', '2026-10-24T23:30:00Z', 'Europe/Paris', 4)).toEqual([
        '2026-10-25T00:00:00.000Z', // 02:00 CEST
        '2026-10-25T01:00:00.000Z', // 02:00 CET
        '2026-10-25T02:00:00.000Z', // 03:00 CET
        '2026-10-25T03:00:00.000Z',
      ]);
    });

    it('a weekday job at 09:00 keeps local time across the change', () => {
      expect(next('0 9 * * MON', '2026-03-20T00:00:00Z', 'Europe/Paris', 2)).toEqual([
        '2026-03-23T08:00:00.000Z',
        '2026-03-30T07:00:00.000Z',
      ]);
    });
  });

  it('is quick enough to call per job per minute', () => {
    const start = performance.now();
    for (let i = 0; i < 200; i++) nextFireTime('* * * * *', Date.parse('2026-05-01T00:00:00Z') + i * 60_000, 'Europe/Paris');
    nextFireTime('0 0 29 2 MON', Date.parse('2026-05-01T00:00:00Z'), 'America/New_York');
    expect(performance.now() - start).toBeLessThan(2000);
  });
});
