/**
 * Unix cron, as Cloud Scheduler reads it: five fields (minute hour day-of-month month
 * day-of-week), each `*`, a number or name, a range `a-b`, a stepped range (`a-b/n`, `a/n`, or a
 * star followed by `/n`), or a comma list of those. Months may be JAN-DEC, days SUN-SAT (0 and 7 are both Sunday). When both
 * day-of-month and day-of-week are restricted (neither starts with `*`), a day matching either one
 * fires (Vixie cron). No seconds field: the finest interval is one minute.
 *
 * Next fire times are computed on the wall clock of an IANA time zone, with Intl.DateTimeFormat:
 * - a wall time that does not exist (clocks spring forward) fires once, at the end of the gap;
 * - a wall time that happens twice (clocks fall back) fires at its first occurrence only, unless
 *   the hour field starts with a star (every hour, or every n hours), which fires at both, so an
 *   "every minute" job keeps running through the repeated hour.
 * Cloud Scheduler documents only that DST "may cause anomalies"; these rules are Baton's choice
 * (ISC cron's), for the local scheduler. Pure: no I/O, no clock.
 *
 * Kept instead of croner: at daylight-saving changes croner drops a firing in the spring-forward gap
 * and fires some fixed-hour jobs twice in the repeated hour; test/unit/cron-vs-croner.test.ts pins
 * both cases (and fails once croner agrees, when the swap can be made).
 */

export class CronError extends Error {
  override readonly name = 'CronError';
}

export interface CronSchedule {
  readonly expression: string;
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly daysOfMonth: readonly number[];
  readonly months: readonly number[];
  /** 0-6, Sunday is 0. */
  readonly daysOfWeek: readonly number[];
  /** The field starts with `*`: it does not restrict the day (for the day-of-month / day-of-week rule). */
  readonly domStar: boolean;
  readonly dowStar: boolean;
  /** The hour field starts with a star: a repeated (fall-back) wall time fires at both occurrences. */
  readonly hourStar: boolean;
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** The end of `*` and of `a/n`: day-of-week accepts 7 for Sunday but counts to 6. */
  last: number;
  names?: readonly string[];
  /** Index of the first name: months count from 1. */
  namesFrom?: number;
}

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] as const;
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59, last: 59 },
  { name: 'hour', min: 0, max: 23, last: 23 },
  { name: 'day-of-month', min: 1, max: 31, last: 31 },
  { name: 'month', min: 1, max: 12, last: 12, names: MONTH_NAMES, namesFrom: 1 },
  { name: 'day-of-week', min: 0, max: 7, last: 6, names: DAY_NAMES, namesFrom: 0 },
];

const DAYS_IN_MONTH_MAX = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Parses a five-field unix cron expression; throws a CronError naming the field and what is wrong. */
export function parseCron(expression: string): CronSchedule {
  const text = expression.trim();
  if (text === '') throw new CronError('empty cron expression: expected five fields "minute hour day-of-month month day-of-week"');
  if (text.startsWith('@')) {
    throw new CronError(`"${text}": cron macros such as @daily are not supported; write the five fields, e.g. "0 0 * * *"`);
  }
  const parts = text.split(/\s+/);
  if (parts.length === 6) {
    throw new CronError(
      `"${text}" has 6 fields: a seconds field is not supported (Cloud Scheduler's finest interval is one minute); ` +
        'use five fields "minute hour day-of-month month day-of-week"',
    );
  }
  if (parts.length !== 5) {
    throw new CronError(`"${text}" has ${parts.length} field(s); expected five: "minute hour day-of-month month day-of-week"`);
  }
  const [minutes, hours, daysOfMonth, months, rawDow] = parts.map((p, i) => parseField(p, FIELDS[i]));
  const daysOfWeek = [...new Set(rawDow.map((d) => d % 7))].sort((a, b) => a - b);
  const domStar = parts[2].startsWith('*');
  const dowStar = parts[4].startsWith('*');
  // With day-of-week unrestricted, the days of month alone must occur in one of the months.
  if (dowStar && !months.some((m) => daysOfMonth.some((d) => d <= DAYS_IN_MONTH_MAX[m - 1]))) {
    throw new CronError(`"${text}" never fires: no month among ${parts[3]} has day ${parts[2]}`);
  }
  return {
    expression: parts.join(' '),
    minutes,
    hours,
    daysOfMonth,
    months,
    daysOfWeek,
    domStar,
    dowStar,
    hourStar: parts[1].startsWith('*'),
  };
}

function parseField(text: string, spec: FieldSpec): number[] {
  const values = new Set<number>();
  if (text === '') throw new CronError(`${spec.name} field is empty`);
  for (const item of text.split(',')) {
    if (item === '') throw new CronError(`${spec.name} field "${text}" has an empty list item`);
    const [range, stepText, extra] = item.split('/');
    if (extra !== undefined) throw new CronError(`${spec.name} field "${item}" has more than one "/"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText)) throw new CronError(`${spec.name} field "${item}": the step after "/" must be a positive number`);
      step = Number(stepText);
      if (step < 1 || step > spec.max) throw new CronError(`${spec.name} field "${item}": step ${step} is out of range 1-${spec.max}`);
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = spec.min;
      hi = spec.last;
    } else if (range.includes('-')) {
      const bounds = range.split('-');
      if (bounds.length !== 2) throw new CronError(`${spec.name} field "${item}": a range is "a-b"`);
      lo = parseValue(bounds[0], spec, item);
      hi = parseValue(bounds[1], spec, item);
      if (lo > hi) throw new CronError(`${spec.name} field "${item}": range start ${lo} is after its end ${hi}`);
    } else {
      lo = parseValue(range, spec, item);
      // "a/n" means from a to the end of the range, every n.
      hi = stepText !== undefined ? Math.max(lo, spec.last) : lo;
    }
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

function parseValue(text: string, spec: FieldSpec, item: string): number {
  if (/^\d+$/.test(text)) {
    const v = Number(text);
    if (v < spec.min || v > spec.max) throw new CronError(`${spec.name} field "${item}": ${v} is out of range ${spec.min}-${spec.max}`);
    return v;
  }
  if (spec.names) {
    const i = spec.names.indexOf(text.toUpperCase());
    if (i >= 0) return i + (spec.namesFrom ?? 0);
    throw new CronError(`${spec.name} field "${item}": "${text}" is not a number or one of ${spec.names.join(', ')}`);
  }
  throw new CronError(`${spec.name} field "${item}": "${text}" is not a number`);
}

/** Throws a CronError unless `timeZone` is an IANA time zone this runtime knows. */
export function assertTimeZone(timeZone: string): void {
  zoneFormatter(timeZone);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    if (timeZone.trim() === '') throw new CronError('time zone is empty: use an IANA name such as Etc/UTC or Europe/Paris');
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new CronError(`unknown time zone "${timeZone}": use an IANA name such as Etc/UTC or Europe/Paris`);
    }
    formatters.set(timeZone, f);
  }
  return f;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Wider than any daylight-saving shift (at most 2 h in tzdata). */
const SHIFT_BOUND = 3 * HOUR;

/** The wall clock at `instant` in the zone, as ms of a naive (UTC-based) calendar, to the minute. */
function wallOf(instant: number, timeZone: string): number {
  const parts = zoneFormatter(timeZone).formatToParts(new Date(instant));
  const get = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'));
}

/** Wall minus instant: the zone's offset at `instant`, in ms (rounded to the minute). */
function offsetAt(instant: number, timeZone: string): number {
  const floored = Math.floor(instant / MINUTE) * MINUTE;
  return wallOf(floored, timeZone) - floored;
}

/** The instants whose wall clock is `wall`: none in a gap, two in a repeated hour, else one; ascending. */
function instantsOf(wall: number, timeZone: string): number[] {
  const offsets = new Set([offsetAt(wall - DAY, timeZone), offsetAt(wall, timeZone), offsetAt(wall + DAY, timeZone)]);
  const out = new Set<number>();
  for (const o of offsets) {
    const instant = wall - o;
    if (wallOf(instant, timeZone) === wall) out.add(instant);
  }
  return [...out].sort((a, b) => a - b);
}

/** For a wall time inside a spring-forward gap: the first instant after the gap (the transition). */
function endOfGap(wall: number, timeZone: string): number {
  // Before the transition the offset is smaller; lo is before it, hi after it.
  let lo = wall - offsetAt(wall + DAY, timeZone);
  let hi = wall - offsetAt(wall - DAY, timeZone);
  if (lo > hi) [lo, hi] = [hi, lo];
  const before = offsetAt(lo, timeZone);
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / MINUTE / 2) * MINUTE;
    if (offsetAt(mid, timeZone) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

function dayMatches(s: CronSchedule, date: Date): boolean {
  const dom = s.daysOfMonth.includes(date.getUTCDate());
  const dow = s.daysOfWeek.includes(date.getUTCDay());
  if (s.domStar || s.dowStar) return dom && dow;
  return dom || dow;
}

/** The first naive wall minute at or after `from` that the schedule matches. */
function nextMatchingWall(s: CronSchedule, from: number): number {
  let t = Math.ceil(from / MINUTE) * MINUTE;
  // Long enough for Feb 29 on a given weekday, with the 2100 non-leap year in between.
  const limit = t + 30 * 366 * DAY;
  while (t <= limit) {
    const d = new Date(t);
    const month = d.getUTCMonth() + 1;
    if (!s.months.includes(month)) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      continue;
    }
    if (!dayMatches(s, d)) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
      continue;
    }
    const hour = s.hours.find((h) => h >= d.getUTCHours());
    if (hour === undefined) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
      continue;
    }
    if (hour > d.getUTCHours()) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), hour);
      continue;
    }
    const minute = s.minutes.find((m) => m >= d.getUTCMinutes());
    if (minute === undefined) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
      continue;
    }
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), minute);
  }
  throw new CronError(`"${s.expression}" never fires`);
}

/** The instants at which one matching wall time fires (see the DST rules above). */
function firingsOf(s: CronSchedule, wall: number, timeZone: string): number[] {
  const instants = instantsOf(wall, timeZone);
  if (instants.length === 0) return [endOfGap(wall, timeZone)];
  if (instants.length > 1 && !s.hourStar) return [instants[0]];
  return instants;
}

/**
 * The first time strictly after `after` at which the schedule fires, on the wall clock of
 * `timeZone`. Throws a CronError for an invalid expression or an unknown time zone.
 */
export function nextFireTime(schedule: CronSchedule | string, after: Date | number, timeZone: string): Date {
  const s = typeof schedule === 'string' ? parseCron(schedule) : schedule;
  const afterMs = typeof after === 'number' ? after : after.getTime();
  assertTimeZone(timeZone);
  // Near a transition, wall order and instant order differ by up to the shift: look a little behind and ahead.
  const quiet = (a: number, b: number) => offsetAt(a, timeZone) === offsetAt(b, timeZone);
  const nearStart = !quiet(afterMs - SHIFT_BOUND, afterMs) || !quiet(afterMs, afterMs + SHIFT_BOUND);
  let wall = nearStart ? wallOf(afterMs, timeZone) - SHIFT_BOUND : wallOf(afterMs, timeZone) + MINUTE;
  let best: number | undefined;
  let stopAt = Number.POSITIVE_INFINITY;
  while (wall <= stopAt) {
    wall = nextMatchingWall(s, wall);
    if (wall > stopAt) break;
    for (const instant of firingsOf(s, wall, timeZone)) {
      if (instant > afterMs && (best === undefined || instant < best)) best = instant;
    }
    if (best !== undefined && stopAt === Number.POSITIVE_INFINITY) {
      if (!nearStart && quiet(afterMs, best + SHIFT_BOUND)) return new Date(best);
      stopAt = wall + SHIFT_BOUND;
    }
    wall += MINUTE;
  }
  if (best === undefined) throw new CronError(`"${s.expression}" never fires`);
  return new Date(best);
}

/** The next `count` fire times after `after`. */
export function nextFireTimes(schedule: CronSchedule | string, after: Date | number, timeZone: string, count: number): Date[] {
  const s = typeof schedule === 'string' ? parseCron(schedule) : schedule;
  const out: Date[] = [];
  let t = typeof after === 'number' ? after : after.getTime();
  for (let i = 0; i < count; i++) {
    const next = nextFireTime(s, t, timeZone);
    out.push(next);
    t = next.getTime();
  }
  return out;
}

/** Cloud Scheduler's job ids. */
export const JOB_NAME_PATTERN = /^[A-Za-z0-9_-]{1,500}$/;

/**
 * What both schedulers refuse alike before anything is written: a job name Cloud Scheduler would
 * refuse, an invalid cron expression, an unknown time zone. Returns the parsed schedule.
 */
export function checkJobSchedule(name: string, cron: string, timeZone: string): CronSchedule {
  if (!JOB_NAME_PATTERN.test(name)) {
    throw new CronError(`invalid job name ${JSON.stringify(name)}: 1-500 characters of letters, digits, "-" and "_"`);
  }
  const schedule = parseCron(cron);
  assertTimeZone(timeZone);
  return schedule;
}

/** A job's target, as the Scheduler port describes it. */
export type JobTarget =
  | { kind: 'topic'; topic: string; data: string; attributes?: Record<string, string> }
  | { kind: 'http'; url: string; body?: string };

/** What both schedulers refuse alike in a target: a topic name Pub/Sub would refuse, an empty message, a URL that is not http(s). */
export function checkJobTarget(target: JobTarget): void {
  if (target.kind === 'topic') {
    if (!/^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$/.test(target.topic) || target.topic.startsWith('goog')) {
      throw new CronError(`invalid topic name ${JSON.stringify(target.topic)}: 3-255 characters, starting with a letter`);
    }
    if (target.data === '' && Object.keys(target.attributes ?? {}).length === 0) {
      throw new CronError(`a topic target needs data or attributes: Pub/Sub refuses an empty message (topic ${target.topic})`);
    }
    return;
  }
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    throw new CronError(`invalid target URL ${JSON.stringify(target.url)}: must be http:// or https://`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CronError(`invalid target URL ${JSON.stringify(target.url)}: must be http:// or https://`);
  }
}
