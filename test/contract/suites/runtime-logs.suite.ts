import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RuntimeLogEntry } from '../../../shared/domain/runtime-log.js';
import type { RuntimeLogs } from '../../../shared/ports/index.js';
import { sleep, waitFor } from './util.js';

export interface RuntimeLogsHarness {
  logs: RuntimeLogs;
  /** Makes `revision` of `service` write `line` on `stream`, now (each call later than the last). */
  write(service: string, revision: string, stream: 'stdout' | 'stderr', line: string): Promise<void>;
  close(): Promise<void>;
}

/** What every RuntimeLogs adapter must do, over what revisions wrote. */
export function runtimeLogsContract(name: string, open: () => Promise<RuntimeLogsHarness>): void {
  describe(`RuntimeLogs contract: ${name}`, () => {
    let h: RuntimeLogsHarness;
    beforeEach(async () => {
      h = await open();
    });
    afterEach(async () => {
      await h.close();
    });

    it('reads the last lines oldest first, of one revision or of the whole service, and nothing of another service', async () => {
      for (let i = 1; i <= 5; i++) {
        await h.write('shop', 'shop-aaa', 'stdout', `a${i}`);
        if (i <= 3) await h.write('shop', 'shop-bbb', 'stderr', `b${i}`);
      }
      await h.write('other', 'other-ccc', 'stdout', 'not mine');
      const all = await h.logs.read({ service: 'shop' }, 4);
      expect(all.map((e) => e.message)).toEqual(['b2', 'a3', 'b3', 'a4', 'a5'].slice(-4));
      const one = await h.logs.read({ service: 'shop', revision: 'shop-aaa' }, 100);
      expect(one.map((e) => e.message)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
      expect(one.every((e) => e.revision === 'shop-aaa' && e.stream === 'stdout')).toBe(true);
      const b = await h.logs.read({ service: 'shop', revision: 'shop-bbb' }, 1);
      expect(b).toMatchObject([{ message: 'b3', stream: 'stderr', revision: 'shop-bbb' }]);
      expect(new Set([...all, ...one].map((e) => e.id)).size).toBe(new Set([...all, ...one].map((e) => `${e.revision}/${e.message}`)).size);
    });

    it("gives JSON loggers' levels as severities: pino and bunyan numbers, winston names", async () => {
      const lines = [
        '{"level":30,"time":1,"pid":7,"hostname":"h","msg":"pino info"}',
        '{"level":40,"time":1,"msg":"pino warn"}',
        '{"level":50,"time":1,"msg":"pino error"}',
        '{"level":60,"time":1,"msg":"pino fatal"}',
        '{"name":"app","hostname":"h","pid":1,"level":40,"msg":"bunyan warn","time":"2026-01-01T00:00:00Z","v":0}',
        '{"level":"warn","message":"winston warn"}',
        '{"message":"winston error","level":"error","timestamp":"2026-01-01T00:00:00Z"}',
        'plain text line',
      ];
      for (const l of lines) await h.write('shop', 'shop-aaa', 'stdout', l);
      const got = await h.logs.read({ service: 'shop', revision: 'shop-aaa' }, 100);
      expect(got.map((e) => [e.severity, e.message])).toEqual([
        ['INFO', 'pino info'],
        ['WARNING', 'pino warn'],
        ['ERROR', 'pino error'],
        ['CRITICAL', 'pino fatal'],
        ['WARNING', 'bunyan warn'],
        ['WARNING', 'winston warn'],
        ['ERROR', 'winston error'],
        ['DEFAULT', 'plain text line'],
      ]);
    });

    it('follows: every line after the last one read, in order and once, until aborted', async () => {
      await h.write('shop', 'shop-aaa', 'stdout', 'old');
      const [last] = await h.logs.read({ service: 'shop' }, 1);
      const seen: RuntimeLogEntry[] = [];
      const stop = new AbortController();
      const errors: unknown[] = [];
      h.logs.follow({ service: 'shop' }, last ?? null, (e) => seen.push(e), { signal: stop.signal, onError: (e) => errors.push(e) });
      await h.write('shop', 'shop-aaa', 'stdout', 'new 1');
      await h.write('shop', 'shop-bbb', 'stderr', 'new 2');
      await h.write('other', 'other-ccc', 'stdout', 'not mine');
      await h.write('shop', 'shop-aaa', 'stdout', '{"level":50,"msg":"new 3"}');
      await waitFor('three followed lines', () => seen.length >= 3, 2000).catch((err: unknown) => {
        throw new Error(`${String(err)}: ${JSON.stringify({ seen, errors })}`);
      });
      stop.abort();
      await h.write('shop', 'shop-aaa', 'stdout', 'after the end');
      await sleep(120);
      expect(seen.map((e) => e.message)).toEqual(['new 1', 'new 2', 'new 3']);
      expect(seen[2]?.severity).toBe('ERROR');
      expect(errors).toEqual([]);
    });

    it('follows one revision only when asked', async () => {
      const seen: string[] = [];
      const stop = new AbortController();
      h.logs.follow({ service: 'shop', revision: 'shop-bbb' }, null, (e) => seen.push(e.message), {
        signal: stop.signal,
        onError: () => {},
      });
      await sleep(30);
      await h.write('shop', 'shop-aaa', 'stdout', 'a');
      await h.write('shop', 'shop-bbb', 'stdout', 'b');
      await waitFor('the line of shop-bbb', () => seen.length >= 1);
      await sleep(60);
      stop.abort();
      expect(seen).toEqual(['b']);
    });
  });
}
