import { DEFAULT_HEALTH_PATH, judgeHealthAnswer, judgeRootAnswer, type Verdict } from '../domain/health.js';
import type { PipelineDeps } from './deps.js';

export type RevisionCheck = { check: Verdict; url: string };

/**
 * One check of a revision at its tagged URL: its health path; when that is the default and answers
 * 404, what Cloud Run checks with no probe configured (the port takes a TCP connection) and then
 * that `/` answers below 500. Shared by verification and the canary watch.
 */
export async function checkRevision(deps: PipelineDeps, tagUrl: string, healthPath: string | undefined): Promise<RevisionCheck> {
  const timeout = deps.settings.health_timeout_ms;
  const url = new URL(healthPath ?? DEFAULT_HEALTH_PATH, tagUrl).toString();
  const check = judgeHealthAnswer(await deps.probe.get(url, timeout), healthPath);
  if (check.kind !== 'no-health-route') return { check, url };
  const tcp = await deps.probe.connect(tagUrl, timeout);
  if ('error' in tcp) {
    return tcp.refused ? { check: { kind: 'warming', reason: tcp.error }, url: tagUrl } : { check: judgeRootAnswer(tcp), url: tagUrl };
  }
  const root = new URL('/', tagUrl).toString();
  return { check: judgeRootAnswer(await deps.probe.get(root, timeout)), url: root };
}
