/**
 * A build's own log as the deployment's log shows it, pure. Every line is `build: …`, a step's
 * output `build: [<step>] …`: locally the step is the command it runs (`npm ci`), on Cloud Build
 * the step's id (`fetch`, `dockerfile`, `build`, `push`).
 */

/** Longest line copied into a deployment's log: Docker's progress output can be one very long line. */
export const MAX_BUILD_LOG_LINE = 2000;

const clip = (text: string) => (text.length > MAX_BUILD_LOG_LINE ? `${text.slice(0, MAX_BUILD_LOG_LINE)}…` : text);

/** `build: [step] text`, or `build: text` for a line of no step. */
export function buildLogLine(step: string | null, text: string): string {
  return clip(step ? `build: [${step}] ${text}` : `build: ${text}`);
}

/**
 * The name a local build step goes by: its command up to the first option or shell operator, at
 * most three words, the program by its base name, environment assignments and quotes left out,
 * `-m <module>` kept (`CGO_ENABLED=0 go build -o server .` → `go build`, `'/usr/bin/python3' -m
 * venv --copies /x` → `python3 -m venv`).
 */
export function localStepName(command: string): string {
  const words: string[] = [];
  const tokens = command
    .trim()
    .split(/\s+/)
    .map((w) => w.replace(/^['"]|['"]$/g, ''));
  for (let i = 0; i < tokens.length && words.length < 3; i++) {
    const word = tokens[i];
    if (words.length === 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(word)) continue;
    if (['&&', '||', ';', '|'].includes(word)) break;
    if (word === '-m' && words.length > 0 && tokens[i + 1]) {
      words.push('-m', tokens[++i]);
      continue;
    }
    if (word.startsWith('-')) break;
    words.push(words.length === 0 ? (word.split('/').pop() ?? word) : word);
  }
  return words.join(' ') || 'step';
}

const STEP_LINE = /^Step #(\d+)(?: - "([^"]*)")?: ?(.*)$/;
const STEP_EDGE = /^(Starting|Finished) Step #(\d+)(?: - "([^"]*)")?\s*$/;

/**
 * One line of Cloud Build's log (`Step #1 - "build": Sending build context …`, `Starting Step #0 -
 * "fetch"`, `FETCHSOURCE`, `DONE` …) as a deployment log line, the step named by its id (its
 * number when it has none).
 */
export function cloudBuildLogLine(raw: string): string {
  const line = raw.replace(/\r$/, '');
  const edge = STEP_EDGE.exec(line);
  if (edge) return buildLogLine(edge[3] || `step ${edge[2]}`, edge[1] === 'Starting' ? 'started' : 'finished');
  const step = STEP_LINE.exec(line);
  if (step) return buildLogLine(step[2] || `step ${step[1]}`, step[3]);
  return buildLogLine(null, line);
}

/**
 * The complete lines of a chunk of a log read from a byte offset, and how many bytes they take:
 * a last line without its newline is left for the next read, unless `final` (the log is
 * complete) or the chunk holds no newline at all and is full (`full`: one line longer than a read
 * is taken as it is rather than never). UTF-8 is split only at newlines, never inside a character.
 */
export function completeLines(chunk: Buffer, opts: { final: boolean; full: boolean }): { lines: string[]; consumed: number } {
  const lastNewline = chunk.lastIndexOf(0x0a);
  const end = opts.final || (lastNewline < 0 && opts.full) ? chunk.length : lastNewline + 1;
  if (end <= 0) return { lines: [], consumed: 0 };
  const text = chunk.subarray(0, end).toString('utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return { lines: lines.filter((l) => l.trim().length > 0), consumed: end };
}
