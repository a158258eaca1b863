import { assertTimeZone, CronError, parseCron } from './cron.js';
import type { Schedule } from './endpoint.js';
import { RequestError } from './errors.js';

/**
 * An endpoint's schedule as one Cloud Scheduler job: five-field cron in an IANA time zone. An
 * interval becomes the cron that fires at that interval from midnight; Cloud Scheduler's finest
 * granularity is one minute and cron repeats within an hour or a day, so only intervals that
 * divide one of those evenly are exact — anything else is refused, saying what can be done. The
 * local scheduler runs the same cron, so both targets fire at the same times. Pure.
 */

const MINUTE_STEPS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];
const HOUR_STEPS = [1, 2, 3, 4, 6, 8, 12];

export const INTERVALS_CLOUD_SCHEDULER_CAN_DO =
  `interval_seconds that Cloud Scheduler can express: whole minutes dividing an hour (${MINUTE_STEPS.map((m) => m * 60).join(', ')}), ` +
  `whole hours dividing a day (${HOUR_STEPS.map((h) => h * 3600).join(', ')}) or one day (86400); ` +
  'for anything else write a cron_expression (five fields, one minute at the finest)';

export function intervalToCron(seconds: number): string {
  if (seconds % 60 === 0) {
    const minutes = seconds / 60;
    if (MINUTE_STEPS.includes(minutes)) return minutes === 1 ? '* * * * *' : `*/${minutes} * * * *`;
    if (minutes % 60 === 0) {
      const hours = minutes / 60;
      if (HOUR_STEPS.includes(hours)) return hours === 1 ? '0 * * * *' : `0 */${hours} * * *`;
      if (hours === 24) return '0 0 * * *';
    }
  }
  const why =
    seconds < 60 ? `${seconds} s is below Cloud Scheduler's minimum of one minute` : `${seconds} s does not divide an hour or a day evenly`;
  throw new RequestError(
    'invalid',
    `schedule.interval_seconds: ${why}; use ${INTERVALS_CLOUD_SCHEDULER_CAN_DO}`,
    'schedule.interval_seconds',
  );
}

/** The cron and time zone of an enabled schedule; a 400 naming the field for what neither scheduler can run. */
export function scheduleCron(s: Schedule): { cron: string; time_zone: string } {
  const time_zone = s.timezone === 'UTC' ? 'Etc/UTC' : s.timezone;
  try {
    assertTimeZone(time_zone);
  } catch (err) {
    throw new RequestError('invalid', `schedule.timezone: ${(err as Error).message}`, 'schedule.timezone');
  }
  if (s.interval_seconds !== undefined) return { cron: intervalToCron(s.interval_seconds), time_zone };
  try {
    return { cron: parseCron(s.cron_expression ?? '').expression, time_zone };
  } catch (err) {
    if (err instanceof CronError) throw new RequestError('invalid', `schedule.cron_expression: ${err.message}`, 'schedule.cron_expression');
    throw err;
  }
}

/** The Scheduler job of an endpoint: one per endpoint, named after it. */
export function scheduleJobName(endpointId: string): string {
  return `baton-design-${endpointId}`.slice(0, 500);
}
