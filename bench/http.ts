import { type Agent, type ClientRequest, get, request } from 'node:http';

/** The wall clock in milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/** The parts of a job (as the API shows it) the benchmark reads. */
export interface JobView {
  deployment_id: string;
  agent_id: string;
  status: string;
  current_step: string;
  error_message: string | null;
  failed_stage: string | null;
  service_url: string | null;
  revision: string | null;
  created_at: string;
  completed_at: string | null;
  measurements: Record<string, number>;
  stage_timings: Record<string, { started_at: string; completed_at: string | null; duration_ms: number | null }>;
}

export const FINAL = new Set(['completed', 'failed', 'rolled_back', 'cancelled']);

/** POST a JSON body and read the whole JSON answer. */
export function postJson(url: string, body: unknown, agent?: Agent): Promise<{ status: number; json: Record<string, unknown> }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

export async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url);
  return (await res.json()) as Record<string, unknown>;
}

export interface SseEvent {
  event: string;
  data: string;
}

export interface SseStream {
  /** Resolves when the server ends the stream (or the connection drops). */
  ended: Promise<void>;
  close(): void;
}

/**
 * Opens a Server-Sent Events stream and calls `onEvent` for every complete event, in order, as soon
 * as its frame has arrived. Resolves once the server has answered 200.
 */
export function openSse(url: string, onEvent: (ev: SseEvent) => void): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    let req: ClientRequest | null = null;
    req = get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url} answered ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      let buf = '';
      const ended = new Promise<void>((done) => {
        res.on('end', () => done());
        res.on('close', () => done());
        res.on('error', () => done());
      });
      res.on('data', (chunk: string) => {
        buf += chunk;
        let at = buf.indexOf('\n\n');
        while (at >= 0) {
          const frame = buf.slice(0, at);
          buf = buf.slice(at + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of frame.split('\n')) {
            if (line.startsWith(':')) continue;
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (data.length > 0) onEvent({ event, data: data.join('\n') });
          at = buf.indexOf('\n\n');
        }
      });
      resolve({ ended, close: () => req?.destroy() });
    });
    req.on('error', reject);
  });
}

/**
 * Follows a deployment's stream until a final status; returns the final job and when the client
 * had parsed it (nowMs()).
 */
export async function followUntilFinal(baseUrl: string, id: string, timeoutMs: number): Promise<{ job: JobView; at: number }> {
  const seen: { final: { job: JobView; at: number } | null } = { final: null };
  const stream = await openSse(`${baseUrl}/deployments/${id}/stream`, (ev) => {
    if (ev.event !== 'job' || seen.final) return;
    const job = JSON.parse(ev.data) as JobView;
    if (FINAL.has(job.status)) seen.final = { job, at: nowMs() };
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const outcome = await Promise.race([stream.ended.then(() => 'ended' as const), timeout]);
    if (outcome === 'timeout') throw new Error(`deployment ${id} did not reach a final status within ${timeoutMs} ms`);
  } finally {
    clearTimeout(timer);
    stream.close();
  }
  if (!seen.final) throw new Error(`the stream of ${id} ended without a final status`);
  return seen.final;
}
