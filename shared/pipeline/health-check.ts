import { bodyExcerpt, type ProbeRecord } from '../domain/failure.js';
import { DEFAULT_HEALTH_PATH, judgeHealthAnswer, judgeRootAnswer, type ProbeAnswer, type Verdict } from '../domain/health.js';
import type { PipelineDeps } from './deps.js';

/** The verdict, the URL it is about, and the last HTTP request made (for a failure record). */
export type RevisionCheck = { check: Verdict; url: string; probe?: ProbeRecord };

/**
 * One check of a revision at its tagged URL: its health path; when that is the default and answers
 * 404, what Cloud Run checks with no probe configured (the port takes a TCP connection) and then
 * that `/` answers below 500. Shared by verification and the canary watch.
 */
export async function checkRevision(deps: PipelineDeps, tagUrl: string, healthPath: string | undefined): Promise<RevisionCheck> {
  const timeout = deps.settings.health_timeout_ms;
  const url = new URL(healthPath ?? DEFAULT_HEALTH_PATH, tagUrl).toString();
  const health = await timedGet(deps, url, timeout);
  const check = judgeHealthAnswer(health.answer, healthPath);
  if (check.kind !== 'no-health-route') return { check, url, probe: health.probe };
  const tcp = await deps.probe.connect(tagUrl, timeout);
  if ('error' in tcp) {
    return tcp.refused ? { check: { kind: 'warming', reason: tcp.error }, url: tagUrl } : { check: judgeRootAnswer(tcp), url: tagUrl };
  }
  const root = new URL('/', tagUrl).toString();
  const answer = await timedGet(deps, root, timeout);
  return { check: judgeRootAnswer(answer.answer), url: root, probe: answer.probe };
}

async function timedGet(deps: PipelineDeps, url: string, timeout: number): Promise<{ answer: ProbeAnswer; probe: ProbeRecord }> {
  const t0 = deps.clock.now().getTime();
  const answer = await deps.probe.get(url, timeout);
  const latency_ms = deps.clock.now().getTime() - t0;
  const probe =
    'error' in answer
      ? { url, status: null, body_excerpt: answer.error, latency_ms }
      : { url, status: answer.status, body_excerpt: bodyExcerpt(answer.body), latency_ms };
  return { answer, probe };
}
