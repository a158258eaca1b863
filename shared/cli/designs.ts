import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { BatonClient } from '../../clients/typescript/src/index.js';
import { UsageError } from './deploy-options.js';

/** `baton designs deploy|list|run|logs`: the deployed designs' endpoints API (designs.md). */

export interface DesignsCtx {
  client: BatonClient;
  cwd: string;
  json: boolean;
  out: (text: string) => void;
  values: { path?: string; schedule?: string; input?: string; status?: string; limit?: string; timezone?: string };
}

export async function designs(ctx: DesignsCtx, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const print = (value: unknown, text: string) => ctx.out(ctx.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  switch (sub) {
    case 'deploy': {
      const [file] = rest;
      if (!file) throw new UsageError('"designs deploy" needs a design file (JSON)');
      if (!ctx.values.path) throw new UsageError('"designs deploy" needs --path /endpoint/path');
      const design = parseJson(await readFile(resolve(ctx.cwd, file), 'utf8'), file);
      const schedule = ctx.values.schedule
        ? { enabled: true, cron_expression: ctx.values.schedule, ...(ctx.values.timezone ? { timezone: ctx.values.timezone } : {}) }
        : undefined;
      const ep = await ctx.client.deployDesign({ design, endpoint_path: ctx.values.path, ...(schedule ? { schedule } : {}) });
      print(
        ep,
        `Design ${ep.design_name} deployed as ${ep.id}\nEndpoint: ${ep.endpoint_url}${ep.api_key ? `\nAPI key (shown once): ${ep.api_key}` : ''}`,
      );
      return 0;
    }
    case 'list': {
      const status = ctx.values.status;
      if (status !== undefined && status !== 'active' && status !== 'inactive') throw new UsageError('--status is active or inactive');
      const page = await ctx.client.listDesigns({ status, limit: ctx.values.limit ? Number(ctx.values.limit) : undefined });
      const rows = page.deployments.map(
        (d) => `${d.id}  ${d.status.padEnd(8)}  ${String(d.execution_count).padStart(5)} runs  ${d.endpoint_path}`,
      );
      print(page, rows.length > 0 ? rows.join('\n') : 'No deployed designs');
      return 0;
    }
    case 'run': {
      const [id] = rest;
      if (!id) throw new UsageError('"designs run" needs the endpoint id');
      const input = ctx.values.input === undefined ? null : parseJson(ctx.values.input, '--input');
      const run = await ctx.client.executeDesign(id, input);
      print(
        run,
        `Execution ${run.execution_id} ${run.status}${run.termination_reason ? ` (${run.termination_reason})` : ''}\n${JSON.stringify(run.result_data ?? null, null, 2)}`,
      );
      return run.status === 'completed' ? 0 : 1;
    }
    case 'logs': {
      const [id, executionId] = rest;
      if (!id) throw new UsageError('"designs logs" needs the endpoint id (and optionally an execution id)');
      if (executionId) {
        const one = await ctx.client.getExecution(id, executionId);
        print(
          one,
          `${one.execution_id} ${one.status} ${one.duration_ms ?? '-'} ms\n${one.steps.map((s) => `  ${JSON.stringify(s)}`).join('\n')}`,
        );
        return 0;
      }
      const page = await ctx.client.listExecutions(id, {
        status: ctx.values.status,
        limit: ctx.values.limit ? Number(ctx.values.limit) : undefined,
      });
      const rows = page.logs.map(
        (l) =>
          `${l.execution_id}  ${l.status.padEnd(14)}  ${(l.trigger_type ?? '').padEnd(9)}  ${l.started_at ?? ''}  ${l.duration_ms ?? '-'} ms`,
      );
      print(page, rows.length > 0 ? rows.join('\n') : 'No executions');
      return 0;
    }
    default:
      throw new UsageError(`"designs" takes deploy, list, run or logs, not "${sub ?? ''}"`);
  }
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${where} is not valid JSON: ${err instanceof Error ? err.message : 'parse error'}`);
  }
}
