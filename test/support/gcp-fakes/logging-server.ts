import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FilterToken, lexFilter } from './filter-lexer.js';

/**
 * An in-process stand-in for Cloud Logging's REST `POST /v2/entries:list`, over entries the test
 * adds. It refuses what the API refuses that a client could get wrong: no `resourceNames`, a name
 * that is not `projects/<id>`, an `orderBy` other than "timestamp asc"/"timestamp desc", a
 * negative `pageSize`, a filter over 20,000 characters, and a filter that does not parse in the
 * logging query language (unbalanced quotes or parentheses, an operator with no value, a
 * dangling AND/OR/NOT) — 400 INVALID_ARGUMENT, as the API answers. A filter that parses is
 * evaluated: comparisons (= != : < <= > >=, `field=(a OR b)`), AND (explicit or implied by a
 * space), OR, NOT, parentheses, bare words as a search of the payload; timestamps compare as
 * times, severities by rank. Pages of `pageSize` (default 50, at most 1000) with a nextPageToken.
 *
 * What it does NOT prove: authentication and IAM (roles/logging.viewer; the client sends no
 * token to a custom endpoint), the read quota (entries:list is limited per project per minute),
 * ingestion delay (entries are visible at once here), how Cloud Run really fills `resource.labels`,
 * `logName` and `severity` for stdout/stderr lines (taken from Google's documentation), the rest
 * of the query language (regular expressions, SEARCH() and other functions, quoted label keys,
 * relative times), and exact error texts.
 */

export interface FakeLogEntry {
  insertId: string;
  timestamp: string;
  logName: string;
  severity?: string;
  resource: { type: string; labels: Record<string, string> };
  textPayload?: string;
  jsonPayload?: Record<string, unknown>;
}

export interface CloudLoggingFake {
  url: string;
  entries: FakeLogEntry[];
  requests: { resourceNames?: unknown; filter?: unknown; orderBy?: unknown; pageSize?: unknown }[];
  stop(): Promise<void>;
}

export async function startCloudLoggingFake(): Promise<CloudLoggingFake> {
  const entries: FakeLogEntry[] = [];
  const requests: CloudLoggingFake['requests'] = [];
  const server: Server = createServer((req, res) => {
    void handle(req, res, entries, requests);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    entries,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

class Invalid extends Error {}

async function handle(req: IncomingMessage, res: ServerResponse, entries: FakeLogEntry[], requests: CloudLoggingFake['requests']) {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (req.method !== 'POST' || req.url !== '/v2/entries:list')
    return send(res, 404, { error: { code: 404, message: 'Not Found', status: 'NOT_FOUND' } });
  try {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new Invalid('Invalid JSON payload received.');
    }
    requests.push(body);
    const names = body.resourceNames;
    if (!Array.isArray(names) || names.length === 0) throw new Invalid('resourceNames: at least one resource name is required');
    for (const n of names)
      if (typeof n !== 'string' || !/^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(n))
        throw new Invalid(`Invalid resource name: ${String(n)}`);
    const orderBy = body.orderBy ?? '';
    if (orderBy !== '' && orderBy !== 'timestamp asc' && orderBy !== 'timestamp desc')
      throw new Invalid(`Invalid orderBy: ${String(orderBy)}`);
    const pageSize = body.pageSize === undefined ? 50 : Number(body.pageSize);
    if (!Number.isInteger(pageSize) || pageSize < 0) throw new Invalid(`Invalid pageSize: ${String(body.pageSize)}`);
    const filter = typeof body.filter === 'string' ? body.filter : '';
    if (filter.length > 20_000) throw new Invalid('filter: the filter is longer than 20000 characters');
    const match = filter.trim() === '' ? () => true : new Parser(filter).parse();
    const found = entries.filter(match).sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    if (orderBy === 'timestamp desc') found.reverse();
    const offset = typeof body.pageToken === 'string' ? Number(body.pageToken) : 0;
    const size = Math.min(pageSize === 0 ? 50 : pageSize, 1000);
    const page = found.slice(offset, offset + size);
    send(res, 200, { entries: page, ...(offset + size < found.length ? { nextPageToken: String(offset + size) } : {}) });
  } catch (err) {
    if (!(err instanceof Invalid)) throw err;
    send(res, 400, { error: { code: 400, message: err.message, status: 'INVALID_ARGUMENT' } });
  }
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}

type Match = (e: FakeLogEntry) => boolean;
type Token = FilterToken;

const RANK = ['DEFAULT', 'DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'];

/** A recursive-descent parser for the subset of the logging query language described above. */
class Parser {
  private readonly tokens: Token[];
  private i = 0;

  constructor(private readonly text: string) {
    this.tokens = tokenize(text);
  }

  parse(): Match {
    const m = this.or();
    if (this.i < this.tokens.length) this.fail(this.tokens[this.i]);
    return m;
  }

  private or(): Match {
    const parts = [this.and()];
    while (this.peekWord('OR')) {
      this.i++;
      parts.push(this.and());
    }
    return (e) => parts.some((p) => p(e));
  }

  private and(): Match {
    const parts = [this.unary()];
    for (;;) {
      const t = this.tokens[this.i];
      if (!t || t.kind === ')' || this.peekWord('OR')) break;
      if (this.peekWord('AND')) this.i++;
      parts.push(this.unary());
    }
    return (e) => parts.every((p) => p(e));
  }

  private unary(): Match {
    if (this.peekWord('NOT')) {
      this.i++;
      const inner = this.unary();
      return (e) => !inner(e);
    }
    return this.primary();
  }

  private primary(): Match {
    const t = this.next();
    if (t.kind === '(') {
      const inner = this.or();
      if (this.next().kind !== ')') this.fail(t);
      return inner;
    }
    if (t.kind === 'string' || (t.kind === 'word' && !['AND', 'OR', 'NOT'].includes(t.text))) {
      const op = this.tokens[this.i];
      if (op?.kind !== 'op') return (e) => JSON.stringify(e).toLowerCase().includes(t.text.toLowerCase());
      this.i++;
      const values = this.values(op);
      return (e) => values.some((v) => compare(field(e, t.text), op.text, v, t.text));
    }
    return this.fail(t);
  }

  private values(op: Token): string[] {
    if (this.tokens[this.i]?.kind === '(') {
      this.i++;
      const out = [this.value(op)];
      while (this.peekWord('OR')) {
        this.i++;
        out.push(this.value(op));
      }
      if (this.next().kind !== ')') this.fail(op);
      return out;
    }
    return [this.value(op)];
  }

  private value(op: Token): string {
    const t = this.tokens[this.i];
    if (!t || (t.kind !== 'word' && t.kind !== 'string') || (t.kind === 'word' && ['AND', 'OR', 'NOT'].includes(t.text)))
      this.fail(t ?? op);
    this.i++;
    return t.text;
  }

  private peekWord(w: string): boolean {
    const t = this.tokens[this.i];
    return t?.kind === 'word' && t.text === w;
  }

  private next(): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new Invalid(`Unparseable filter: unexpected end of filter at column ${this.text.length + 1}`);
    return t;
  }

  private fail(t: Token | undefined): never {
    throw new Invalid(
      t ? `Unparseable filter: syntax error at column ${t.at + 1}, token '${t.text}'` : 'Unparseable filter: unexpected end of filter',
    );
  }
}

function tokenize(text: string): Token[] {
  return lexFilter(text, {
    op: /^(>=|<=|!=|=~|!~|=|:|<|>)/,
    word: /^[^\s()"=:<>!~]+/,
    fail: (what, column) =>
      new Invalid(
        what === 'unterminated string' ? `Unparseable filter: unterminated string at column ${column}` : `Unparseable filter: ${what}`,
      ),
  });
}

function field(e: FakeLogEntry, path: string): unknown {
  let v: unknown = e;
  for (const part of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

function compare(actual: unknown, op: string, want: string, path: string): boolean {
  if (actual === undefined) return op === '!=';
  const a = String(actual);
  if (op === ':') return a.toLowerCase().includes(want.toLowerCase());
  if (op === '=~' || op === '!~') return new RegExp(want).test(a) === (op === '=~');
  const order = (x: string) => (path === 'timestamp' ? Date.parse(x) : path === 'severity' ? RANK.indexOf(x.toUpperCase()) : x);
  const [x, y] = [order(a), order(want)];
  switch (op) {
    case '=':
      return x === y;
    case '!=':
      return x !== y;
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    default:
      return x >= y;
  }
}
