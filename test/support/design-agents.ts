import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StepJournal, StepLog, StepRecord } from '../../shared/designs/types.js';
import type { AgentCallBody } from '../../shared/ports/agent-caller.js';

/**
 * Real HTTP agent services for design tests, on 127.0.0.1: each path is a behaviour.
 *   /echo            answers {block, input}
 *   /upper           answers the input string upper-cased (or {text})
 *   /fail/N          answers 503 the first N calls per block, then {ok: true}
 *   /bad-request     answers 400 (not retried)
 *   /slow/MS         answers {slept: MS} after MS ms
 *   /barrier/N[/MS]  holds each call until N calls wait on it together, then answers them all
 *                    {block, together: N}; 504 to those waiting if N are not there within MS (5000)
 *                    (proves calls were in flight at once, however loaded the machine)
 *   /malformed       answers 200 with a body that is not JSON
 *   /router          answers {route: input.kind}
 *   /manager         round 1: delegates input.input.tasks to workers; then {final: results}
 *   /rogue-manager   delegates to a worker it does not have
 *   /lazy-manager    answers {final: …} at once, delegating to nobody
 *   /debater/X       answers {answer: X} in round 1, then the first other answer (converges)
 *   /judge           {consensus: true, answer: …} once all answers agree
 *   /writer          answers {draft: n} where n is the iteration
 *   /critic/N        approves from iteration N on (N=0: never)
 *   /loop            answers {again: true}: a runaway
 */
export class DesignAgents {
  readonly calls: AgentCallBody[] = [];
  private readonly counts = new Map<string, number>();
  private readonly waiting = new Map<number, { block: string; answer: (status: number, value: unknown) => void }[]>();
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AgentCallBody;
        this.calls.push(body);
        const key = `${req.url}|${body.meta.block_id}`;
        const n = (this.counts.get(key) ?? 0) + 1;
        this.counts.set(key, n);
        const send = (status: number, value: unknown, raw?: string) => {
          const text = raw ?? JSON.stringify(value);
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(text);
        };
        const [, kind, arg, arg2] = (req.url ?? '/').split('/');
        const input = body.input as Record<string, unknown> & { input?: Record<string, unknown> };
        switch (kind) {
          case 'echo':
            return send(200, { block: body.meta.block_id, input: body.input });
          case 'upper':
            return send(200, typeof body.input === 'string' ? body.input.toUpperCase() : { text: String(input?.text ?? '').toUpperCase() });
          case 'fail':
            return n <= Number(arg) ? send(503, { error: 'busy' }) : send(200, { ok: true, calls: n });
          case 'bad-request':
            return send(400, { error: 'no' });
          case 'slow':
            return void setTimeout(() => send(200, { slept: Number(arg), block: body.meta.block_id }), Number(arg));
          case 'barrier':
            return this.barrier(Number(arg), Number(arg2 ?? 5000), body.meta.block_id, (status, value) => send(status, value));
          case 'malformed':
            return send(200, null, '{"oops": ');
          case 'router':
            return send(200, { route: input?.kind ?? null });
          case 'manager': {
            const results = input.results as unknown[];
            if (results.length > 0) return send(200, { final: { results } });
            const tasks = (input.input?.tasks ?? []) as { worker: string; input: unknown }[];
            return send(200, { delegate: tasks });
          }
          case 'lazy-manager':
            return send(200, { final: 'did it myself' });
          case 'rogue-manager':
            return send(200, { delegate: [{ worker: 'intruder', input: 1 }] });
          case 'debater': {
            const others = (input.others ?? []) as { answer: unknown }[];
            return send(200, { answer: others.length > 0 ? others[0].answer : arg });
          }
          case 'judge': {
            const answers = (input.answers as { answer: unknown }[]).map((a) => JSON.stringify(a.answer));
            return send(200, { consensus: new Set(answers).size === 1, answer: JSON.parse(answers[0]) as unknown });
          }
          case 'writer':
            return send(200, { draft: body.meta.iteration ?? 1, feedback_seen: body.meta.feedback ?? null });
          case 'critic': {
            const it = Number(body.meta.iteration);
            const ok = Number(arg) > 0 && it >= Number(arg);
            return send(200, { approved: ok, feedback: ok ? null : `improve draft ${it}` });
          }
          case 'loop':
            return send(200, { again: true });
          default:
            return send(404, { error: `no behaviour ${req.url}` });
        }
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  private barrier(n: number, within: number, block: string, answer: (status: number, value: unknown) => void): void {
    const here = this.waiting.get(n) ?? [];
    this.waiting.set(n, here);
    here.push({ block, answer });
    if (here.length === n) {
      this.waiting.delete(n);
      for (const w of here) w.answer(200, { block: w.block, together: n });
      return;
    }
    if (here.length === 1) {
      setTimeout(() => {
        if (this.waiting.get(n) !== here) return;
        this.waiting.delete(n);
        for (const w of here) w.answer(504, { error: `only ${here.length} of ${n} calls arrived together` });
      }, within).unref();
    }
  }

  /** Calls made to one block. */
  callsOf(blockId: string): AgentCallBody[] {
    return this.calls.filter((c) => c.meta.block_id === blockId);
  }

  agent(path: string) {
    return { url: `${this.url}${path}` };
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A journal in memory; `completed` may be seeded to resume a run. */
export class MemoryJournal implements StepJournal {
  readonly completed = new Map<string, StepRecord>();
  readonly logs: StepLog[] = [];
  constructor(
    seed: StepRecord[] = [],
    readonly nextSeq = 0,
  ) {
    for (const r of seed) this.completed.set(r.step_id, r);
  }
  async record(step: StepRecord): Promise<void> {
    this.completed.set(step.step_id, step);
  }
  log(step: StepLog): void {
    this.logs.push(step);
  }
}
