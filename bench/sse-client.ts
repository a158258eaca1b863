/**
 * The SSE client of the event-delay benchmark, run as a process of its own (as a real client is):
 * follows one deployment's stream and, for every event whose current_step is
 * `bench <seq> <commit time ms>`, records the delay from that commit time to the moment this
 * process had parsed the event. Prints `ready` after the first event, then one JSON line with the
 * delays when the stream ends.
 *
 * Usage: tsx bench/sse-client.ts <stream url>
 */
import { nowMs, openSse } from './http.js';

interface Sample {
  seq: number;
  delay_ms: number;
}

async function main(): Promise<void> {
  const url = process.argv[2];
  if (!url) throw new Error('usage: sse-client.ts <stream url>');
  const samples: Sample[] = [];
  let events = 0;
  let outOfOrder = 0;
  let lastSeq = -1;
  const stream = await openSse(url, (ev) => {
    if (ev.event !== 'job') return;
    const job = JSON.parse(ev.data) as { current_step?: string };
    const at = nowMs();
    events++;
    if (events === 1) process.stdout.write('ready\n');
    const m = /^bench (\d+) ([\d.]+)$/.exec(job.current_step ?? '');
    if (!m) return;
    const seq = Number(m[1]);
    if (seq <= lastSeq) outOfOrder++;
    lastSeq = seq;
    samples.push({ seq, delay_ms: at - Number(m[2]) });
  });
  await stream.ended;
  process.stdout.write(`${JSON.stringify({ events, out_of_order: outOfOrder, samples })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`sse-client: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
