import type { IncomingMessage, ServerResponse } from 'node:http';
import { AgentIdSchema } from '../../shared/domain/names.js';
import { RuntimeLogQuerySchema } from '../../shared/domain/runtime-log.js';
import type { PipelineDeps } from '../../shared/pipeline/deps.js';
import { logsUnavailable, readServiceLogs, serviceLogScope } from '../../shared/pipeline/runtime-logs.js';
import { openEventStream, parseWith, sendJson } from './http.js';

/**
 * GET /services/{agent_id}/logs?revision=&lines=&follow=1: what the service's revisions wrote,
 * oldest first; with follow, the same as Server-Sent Events (`log` events, then every new line)
 * until the client leaves, or an `error` event if reading stops working.
 */
export async function serviceLogs(
  deps: PipelineDeps,
  req: IncomingMessage,
  res: ServerResponse,
  agent: string,
  url: URL,
  heartbeatMs: number,
): Promise<void> {
  const agentId = parseWith(AgentIdSchema, agent, 'agent_id');
  const query = parseWith(RuntimeLogQuerySchema, Object.fromEntries(url.searchParams), 'query');
  const scope = await serviceLogScope(deps, agentId, query.revision);
  const entries = await readServiceLogs(deps, scope, query.lines);
  if (!query.follow) {
    sendJson(res, 200, { agent_id: agentId, service_name: scope.service, revision: scope.revision ?? null, entries });
    return;
  }
  const stop = new AbortController();
  const events = openEventStream(req, res, { heartbeatMs, comment: `following the logs of ${scope.service}`, onClose: () => stop.abort() });
  for (const e of entries) events.send('log', e, e.id);
  deps.runtimeLogs.follow(scope, entries.at(-1) ?? null, (e) => events.send('log', e, e.id), {
    signal: stop.signal,
    onError: (err) => {
      events.send('error', { error: { code: 'unavailable', message: logsUnavailable(deps, err).message } });
      events.close();
    },
  });
}
