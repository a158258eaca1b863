import { lookup as dnsLookup } from 'node:dns';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { agentUrlProblem, isForbiddenAddress } from '../../domain/agent-url.js';
import type { AgentRef } from '../../domain/design.js';
import type { AgentAnswer, AgentCallBody, AgentCaller } from '../../ports/agent-caller.js';

export interface HttpAgentCallerOptions {
  /** Hosts `url` agents may call (see shared/domain/agent-url.ts). */
  allow: readonly string[];
  /** The serving URL of a Baton-deployed agent; null when it is not serving. */
  resolveAgent(agentId: string): Promise<string | null>;
  /** Extra headers for a Baton agent's URL (an ID token on Google Cloud). */
  batonHeaders?: (url: string) => Promise<Record<string, string>>;
}

/**
 * Agent calls over node:http(s) with keep-alive connections. The URL is checked before the call
 * and every address its name resolves to is checked at connect time (the `lookup` hook), so a
 * name that resolves to the metadata server is refused even if DNS changes between the check and
 * the call. Answers are read up to the payload limit; anything over it, or not JSON, fails the
 * attempt for good (no retry helps).
 */
export class HttpAgentCaller implements AgentCaller {
  private readonly http = new HttpAgent({ keepAlive: true, maxSockets: 256 });
  private readonly https = new HttpsAgent({ keepAlive: true, maxSockets: 256 });

  constructor(private readonly options: HttpAgentCallerOptions) {}

  async call(agent: AgentRef, body: AgentCallBody, { signal, maxBytes }: { signal: AbortSignal; maxBytes: number }): Promise<AgentAnswer> {
    let url: string;
    let headers: Record<string, string> = {};
    if ('agent_id' in agent) {
      const base = await this.options.resolveAgent(agent.agent_id);
      if (!base) return refuse(`agent "${agent.agent_id}" is not serving: deploy it with Baton first`, true);
      url = new URL(agent.path ?? '/', base).toString();
      const problem = agentUrlProblem(url, [], { baton: true });
      if (problem) return refuse(problem, false);
      if (this.options.batonHeaders) {
        try {
          headers = await this.options.batonHeaders(url);
        } catch (err) {
          return {
            ok: false,
            kind: 'network',
            message: `no ID token for ${url}: ${err instanceof Error ? err.message : String(err)}`,
            retryable: true,
          };
        }
      }
    } else {
      url = agent.url;
      const problem = agentUrlProblem(url, this.options.allow);
      if (problem) return refuse(problem, false);
    }
    const payload = JSON.stringify(body);
    return new Promise<AgentAnswer>((resolve) => {
      const u = new URL(url);
      const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        u,
        {
          method: 'POST',
          agent: u.protocol === 'https:' ? this.https : this.http,
          lookup: guardedLookup,
          signal,
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            'content-length': Buffer.byteLength(payload),
            ...headers,
          },
        },
        (res) => void readAnswer(res, maxBytes, url).then(resolve),
      );
      req.on('error', (err) => {
        if (signal.aborted) resolve({ ok: false, kind: 'aborted', message: 'aborted', retryable: true });
        else if ((err as { code?: string }).code === 'EFORBIDDENADDR') resolve(refuse(err.message, false));
        else resolve({ ok: false, kind: 'network', message: `POST ${url}: ${err.message}`, retryable: true });
      });
      req.end(payload);
    });
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

function refuse(message: string, retryable: boolean): AgentAnswer {
  return { ok: false, kind: 'refused', message, retryable };
}

async function readAnswer(res: IncomingMessage, maxBytes: number, url: string): Promise<AgentAnswer> {
  const status = res.statusCode ?? 0;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        res.destroy();
        return {
          ok: false,
          kind: 'too_large',
          status,
          message: `the answer of ${url} is over limits.max_payload_bytes (${maxBytes})`,
          retryable: false,
        };
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    return {
      ok: false,
      kind: 'network',
      status,
      message: `reading the answer of ${url}: ${err instanceof Error ? err.message : String(err)}`,
      retryable: true,
    };
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (status < 200 || status > 299) {
    const retryable = status === 429 || status >= 500;
    return { ok: false, kind: 'http', status, message: `${url} answered ${status}: ${text.slice(0, 200)}`, retryable };
  }
  try {
    return { ok: true, status, output: JSON.parse(text) as unknown, bytes: size };
  } catch {
    return {
      ok: false,
      kind: 'malformed',
      status,
      message: `${url} answered ${status} with a body that is not JSON: ${JSON.stringify(text.slice(0, 80))}`,
      retryable: false,
    };
  }
}

/** dns.lookup that refuses a name resolving to the metadata server or a link-local address. */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const list = addresses as unknown as { address: string; family: number }[];
    const bad = list.find((a) => isForbiddenAddress(a.address));
    if (bad) {
      const e = Object.assign(new Error(`${hostname} resolves to ${bad.address}, a link-local or metadata address: always refused`), {
        code: 'EFORBIDDENADDR',
      });
      return callback(e, '', 0);
    }
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof list) => void)(null, list);
    return callback(null, list[0].address, list[0].family);
  });
};
