import type { AgentRef } from '../domain/design.js';

/** The body of every agent call (shared/designs.md, "The agent call"). */
export interface AgentCallBody {
  input: unknown;
  context: { run_input: unknown; outputs: Readonly<Record<string, unknown>> };
  meta: { execution_id: string; block_id: string; iteration?: number; round?: number; feedback?: unknown };
}

export type AgentFailureKind = 'network' | 'timeout' | 'http' | 'malformed' | 'too_large' | 'refused' | 'aborted';

export type AgentAnswer =
  | { ok: true; status: number; output: unknown; bytes: number }
  | { ok: false; kind: AgentFailureKind; status?: number; message: string; retryable: boolean };

/**
 * Calls one agent: POST the body as JSON, a 2xx JSON answer is the output. Never throws for what
 * the agent or the network does: every outcome is an answer saying whether a retry may help
 * (connection errors, timeouts, 429 and 5xx may; a 4xx, malformed JSON, an answer over the size
 * limit or a refused URL may not). `signal` aborts the attempt (per-attempt and run-wide timeouts).
 */
export interface AgentCaller {
  call(agent: AgentRef, body: AgentCallBody, options: { signal: AbortSignal; maxBytes: number }): Promise<AgentAnswer>;
}
