import { createRequire } from 'node:module';
import type { protos } from '@google-cloud/monitoring';
import * as grpc from '@grpc/grpc-js';
import { type FilterToken, lexFilter } from './filter-lexer.js';
import { FakeIam, permissionDenied } from './iam.js';
import { protoKit } from './proto-kit.js';

/**
 * An in-process Cloud Monitoring API v3 `google.monitoring.v3.MetricService.ListTimeSeries` over
 * gRPC, served from @google-cloud/monitoring's own `build/protos/protos.json`, over time series
 * the test writes (`write`): DELTA points as Cloud Run writes run.googleapis.com/request_count
 * (INT64, labels response_code and response_code_class) and request_latencies (DISTRIBUTION, ms).
 *
 * It refuses with INVALID_ARGUMENT what the API refuses that a client could get wrong: a name
 * that is not `projects/<id>`; no filter, or one that does not parse (unbalanced quotes or
 * parentheses, a comparison with no value or an unquoted one, a dangling AND/OR/NOT, a selector
 * that is not metric.type, resource.type, project, metric.label(s).KEY or resource.label(s).KEY);
 * a filter that does not name exactly one metric.type with `=` (timeSeries.list needs one); no
 * interval or no interval.endTime, a start after the end; an aligner other than ALIGN_NONE without
 * an alignment period, an alignment period under 60 s, a cross-series reducer without an aligner,
 * an aligner the metric's kind does not allow (ALIGN_DELTA on a GAUGE), and a groupByFields entry
 * that is not resource.labels.KEY / metric.labels.KEY / resource.type / metric.type.
 *
 * What it evaluates: the filter (=, !=, AND, OR, NOT, parentheses); points whose end time is in
 * [startTime, endTime]; ALIGN_DELTA over alignment periods counted back from endTime (one output
 * point per period that has data, newest first, as the API orders them); REDUCE_SUM per
 * groupByFields (INT64 added, distributions merged bucket by bucket; the output keeps only the
 * grouped labels); no aggregation: the raw points.
 *
 * A permission revoked through `iam` (monitoring.timeSeries.list) is refused first with
 * PERMISSION_DENIED in Google's shape (iam.ts).
 *
 * What it does NOT prove: authentication, and that roles/monitoring.viewer grants
 * monitoring.timeSeries.list (the client sends no token to a custom endpoint), quotas, Cloud Run's 60 s sampling and its ingestion delay of up to
 * three minutes (points are visible at once here), the bucket layout Cloud Run really uses for
 * request_latencies (tests choose one), how the API treats points straddling the interval's start
 * or an alignment boundary, the other aligners and reducers (UNIMPLEMENTED here),
 * secondaryAggregation, orderBy, paging beyond one page, the rest of the filter language
 * (starts_with, one_of, regular expressions, `:`), and exact error texts.
 */

type IDistribution = protos.google.api.IDistribution;

export const REQUEST_COUNT = 'run.googleapis.com/request_count';
export const REQUEST_LATENCIES = 'run.googleapis.com/request_latencies';
/** The kinds of the metrics the fake knows; a metric it does not know has no data. */
const KINDS: Record<string, { metricKind: string; valueType: string }> = {
  [REQUEST_COUNT]: { metricKind: 'DELTA', valueType: 'INT64' },
  [REQUEST_LATENCIES]: { metricKind: 'DELTA', valueType: 'DISTRIBUTION' },
  'run.googleapis.com/container/instance_count': { metricKind: 'GAUGE', valueType: 'INT64' },
};

export interface WrittenPoint {
  metric: string;
  resource: Record<string, string>;
  labels?: Record<string, string>;
  /** The end of the point's interval (a DELTA point's start is a minute before, as Cloud Run samples). */
  end: Date;
  value: { int64: number } | { distribution: IDistribution };
}

export interface CloudMonitoringFake {
  endpoint: string;
  /** Every ListTimeSeries request as decoded (camelCase, enums and int64 as strings). */
  readonly requests: Record<string, unknown>[];
  readonly iam: FakeIam;
  write(point: WrittenPoint): void;
  /** Forgets every point written. */
  clear(): void;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
const PROTOS = require('@google-cloud/monitoring/build/protos/protos.json') as object;

class Invalid extends Error {
  constructor(
    message: string,
    readonly code = grpc.status.INVALID_ARGUMENT,
  ) {
    super(message);
  }
}

export async function startCloudMonitoringFake(): Promise<CloudMonitoringFake> {
  const { definition } = protoKit(PROTOS);
  const points: WrittenPoint[] = [];
  const requests: Record<string, unknown>[] = [];
  const iam = new FakeIam();
  const server = new grpc.Server();
  const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
    callback({ code: grpc.status.UNIMPLEMENTED, details: 'not in the fake', metadata: new grpc.Metadata() } as grpc.ServiceError);
  const service = definition['google.monitoring.v3.MetricService'] as grpc.ServiceDefinition;
  const impl: grpc.UntypedServiceImplementation = Object.fromEntries(Object.keys(service).map((m) => [m, unimplemented]));
  impl.ListTimeSeries = (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    requests.push(call.request);
    if (iam.isDenied('monitoring.timeSeries.list')) {
      callback(permissionDenied('monitoring.timeSeries.list', String(call.request.name ?? '')));
      return;
    }
    try {
      callback(null, { timeSeries: listTimeSeries(call.request, points) });
    } catch (err) {
      const e = err instanceof Invalid ? err : new Invalid(err instanceof Error ? err.message : String(err), grpc.status.INTERNAL);
      callback({ code: e.code, details: e.message, metadata: new grpc.Metadata() } as grpc.ServiceError);
    }
  };
  server.addService(service, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    iam,
    write: (p) => points.push(p),
    clear: () => {
      points.length = 0;
    },
    close: async () => server.forceShutdown(),
  };
}

interface Ts {
  seconds?: string | number;
  nanos?: number;
}
const msOf = (t: Ts) => Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
const tsOf = (ms: number) => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });

const ALIGNERS_IMPLEMENTED = ['ALIGN_NONE', 'ALIGN_DELTA'];
const REDUCERS_IMPLEMENTED = ['REDUCE_NONE', 'REDUCE_SUM'];
const GROUP_FIELD = /^(resource\.labels?\.[a-z_][a-z0-9_]*|metric\.labels?\.[a-z_][a-z0-9_]*|resource\.type|metric\.type)$/;

/** The response's series (decoded form; enums as names, int64 as strings). */
function listTimeSeries(req: Record<string, unknown>, points: WrittenPoint[]): object[] {
  const name = String(req.name ?? '');
  if (!/^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(name)) throw new Invalid(`Field name had an invalid value of "${name}"`);
  const filter = typeof req.filter === 'string' ? req.filter : '';
  if (filter.trim() === '') throw new Invalid('Field filter had an invalid value: a filter is required');
  const parsed = new Parser(filter).parse();
  const types = parsed.metricTypes;
  if (types.length !== 1)
    throw new Invalid(`Field filter had an invalid value of "${filter}": the filter must specify exactly one metric type`);
  const interval = req.interval as { startTime?: Ts; endTime?: Ts } | undefined;
  if (!interval?.endTime) throw new Invalid('Field interval.endTime had an invalid value: an end time is required');
  const end = msOf(interval.endTime);
  const start = interval.startTime ? msOf(interval.startTime) : end;
  if (start > end) throw new Invalid('Field interval.startTime had an invalid value: the start time must not be after the end time');
  const agg = (req.aggregation ?? {}) as {
    alignmentPeriod?: Ts;
    perSeriesAligner?: string;
    crossSeriesReducer?: string;
    groupByFields?: string[];
  };
  const aligner = agg.perSeriesAligner ?? 'ALIGN_NONE';
  const reducer = agg.crossSeriesReducer ?? 'REDUCE_NONE';
  const periodS = agg.alignmentPeriod ? Number(agg.alignmentPeriod.seconds ?? 0) + (agg.alignmentPeriod.nanos ?? 0) / 1e9 : 0;
  if (aligner !== 'ALIGN_NONE') {
    if (!agg.alignmentPeriod)
      throw new Invalid('Field aggregation.alignmentPeriod had an invalid value: it is required with a per-series aligner');
    if (periodS < 60)
      throw new Invalid(`Field aggregation.alignmentPeriod had an invalid value of "${periodS}s": it must be at least 60 seconds`);
  }
  if (reducer !== 'REDUCE_NONE' && aligner === 'ALIGN_NONE')
    throw new Invalid('Field aggregation.perSeriesAligner had an invalid value: a cross-series reducer requires a per-series aligner');
  for (const f of agg.groupByFields ?? [])
    if (!GROUP_FIELD.test(f)) throw new Invalid(`Field aggregation.groupByFields had an invalid value of "${f}"`);
  const kind = KINDS[types[0]];
  if (!kind) return [];
  if ((aligner === 'ALIGN_DELTA' || aligner === 'ALIGN_RATE') && kind.metricKind === 'GAUGE')
    throw new Invalid(`The aligner ${aligner} cannot be applied to metrics with kind GAUGE and value type ${kind.valueType}`);
  if (!ALIGNERS_IMPLEMENTED.includes(aligner) || !REDUCERS_IMPLEMENTED.includes(reducer))
    throw new Invalid(`${aligner}/${reducer} is not implemented by the fake`, grpc.status.UNIMPLEMENTED);

  const selected = points.filter((p) => parsed.match(p) && p.end.getTime() >= start && p.end.getTime() <= end);
  const series = (p: WrittenPoint) => ({
    metric: { type: p.metric, labels: p.labels ?? {} },
    resource: { type: 'cloud_run_revision', labels: p.resource },
  });
  const raw = (p: WrittenPoint) => ({
    interval: { startTime: tsOf(p.end.getTime() - 60_000), endTime: tsOf(p.end.getTime()) },
    value: 'int64' in p.value ? { int64Value: String(p.value.int64) } : { distributionValue: p.value.distribution },
  });
  if (aligner === 'ALIGN_NONE') {
    return groupBy(selected, (p) => JSON.stringify(series(p))).map(([, ps]) => ({
      ...series(ps[0]),
      metricKind: kind.metricKind,
      valueType: kind.valueType,
      points: ps.map(raw).reverse(),
    }));
  }
  const period = periodS * 1000;
  // ALIGN_DELTA: each series' points summed per period (counted back from the end); REDUCE_SUM then sums series per group.
  const fields = reducer === 'REDUCE_SUM' ? (agg.groupByFields ?? []) : null;
  const keep = (p: WrittenPoint) => {
    if (!fields) return series(p);
    const pick = (labels: Record<string, string>, prefix: 'resource' | 'metric') =>
      Object.fromEntries(
        Object.entries(labels).filter(([k]) => fields.includes(`${prefix}.labels.${k}`) || fields.includes(`${prefix}.label.${k}`)),
      );
    return {
      metric: { type: p.metric, labels: pick(p.labels ?? {}, 'metric') },
      resource: { type: 'cloud_run_revision', labels: pick(p.resource, 'resource') },
    };
  };
  return groupBy(selected, (p) => JSON.stringify(keep(p))).map(([, ps]) => {
    const byPeriod = groupBy(ps, (p) => String(Math.floor((end - p.end.getTime()) / period)));
    const out = byPeriod
      .map(([k, inPeriod]) => {
        const periodEnd = end - Number(k) * period;
        const value =
          kind.valueType === 'INT64'
            ? { int64Value: String(inPeriod.reduce((a, p) => a + ('int64' in p.value ? p.value.int64 : 0), 0)) }
            : { distributionValue: mergeDistributions(inPeriod.flatMap((p) => ('distribution' in p.value ? [p.value.distribution] : []))) };
        return { interval: { startTime: tsOf(periodEnd - period), endTime: tsOf(periodEnd) }, value, at: periodEnd };
      })
      .sort((a, b) => b.at - a.at)
      .map(({ at: _at, ...p }) => p);
    return { ...keep(ps[0]), metricKind: kind.metricKind, valueType: kind.valueType, points: out };
  });
}

function groupBy<T>(xs: T[], key: (x: T) => string): [string, T[]][] {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    m.set(k, [...(m.get(k) ?? []), x]);
  }
  return [...m];
}

function mergeDistributions(ds: IDistribution[]): IDistribution {
  const count = ds.reduce((a, d) => a + Number(d.count ?? 0), 0);
  const mean = count === 0 ? 0 : ds.reduce((a, d) => a + Number(d.count ?? 0) * (d.mean ?? 0), 0) / count;
  const n = Math.max(0, ...ds.map((d) => d.bucketCounts?.length ?? 0));
  const bucketCounts = Array.from({ length: n }, (_, i) => String(ds.reduce((a, d) => a + Number(d.bucketCounts?.[i] ?? 0), 0)));
  const options = JSON.stringify(ds[0]?.bucketOptions ?? null);
  if (ds.some((d) => JSON.stringify(d.bucketOptions ?? null) !== options))
    throw new Invalid('distributions with different buckets', grpc.status.INTERNAL);
  return { count: String(count), mean, bucketOptions: ds[0]?.bucketOptions ?? null, bucketCounts };
}

type Token = FilterToken;
type Match = (p: WrittenPoint) => boolean;
const SELECTOR =
  /^(metric\.type|resource\.type|project|metric\.labels?\.[A-Za-z_][A-Za-z0-9_]*|resource\.labels?\.[A-Za-z_][A-Za-z0-9_]*)$/;

/** Recursive descent over the subset of the monitoring filter language described in the header. */
class Parser {
  private readonly tokens: Token[];
  private i = 0;
  readonly metricTypes: string[] = [];

  constructor(private readonly text: string) {
    this.tokens = tokenize(text);
  }

  parse(): { match: Match; metricTypes: string[] } {
    const match = this.or();
    if (this.i < this.tokens.length) this.fail(this.tokens[this.i]);
    return { match, metricTypes: this.metricTypes };
  }

  private or(): Match {
    const parts = [this.and()];
    while (this.word('OR')) parts.push(this.and());
    return (p) => parts.some((m) => m(p));
  }

  private and(): Match {
    const parts = [this.unary()];
    for (;;) {
      const t = this.tokens[this.i];
      if (!t || t.kind === ')' || this.peek('OR')) break;
      this.word('AND');
      parts.push(this.unary());
    }
    return (p) => parts.every((m) => m(p));
  }

  private unary(): Match {
    if (this.word('NOT')) {
      const inner = this.unary();
      return (p) => !inner(p);
    }
    const t = this.next();
    if (t.kind === '(') {
      const inner = this.or();
      if (this.next().kind !== ')') this.fail(t);
      return inner;
    }
    if (t.kind !== 'word' || !SELECTOR.test(t.text)) this.fail(t);
    const op = this.next();
    if (op.kind !== 'op' || (op.text !== '=' && op.text !== '!=')) this.fail(op);
    const v = this.next();
    if (v.kind !== 'string') this.fail(v);
    if (t.text === 'metric.type' && op.text === '=') this.metricTypes.push(v.text);
    return (p) => (selectedValue(p, t.text) === v.text) === (op.text === '=');
  }

  private peek(w: string): boolean {
    const t = this.tokens[this.i];
    return t?.kind === 'word' && t.text === w;
  }

  private word(w: string): boolean {
    if (!this.peek(w)) return false;
    this.i++;
    return true;
  }

  private next(): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new Invalid(`Field filter had an invalid value of "${this.text}": unexpected end of filter`);
    return t;
  }

  private fail(t: Token): never {
    throw new Invalid(`Field filter had an invalid value of "${this.text}": syntax error at column ${t.at + 1}, '${t.text}'`);
  }
}

function selectedValue(p: WrittenPoint, selector: string): string | undefined {
  if (selector === 'metric.type') return p.metric;
  if (selector === 'resource.type') return 'cloud_run_revision';
  if (selector === 'project') return p.resource.project_id;
  const [scope, , key] = selector.split('.');
  return scope === 'metric' ? p.labels?.[key] : p.resource[key];
}

function tokenize(text: string): Token[] {
  return lexFilter(text, {
    op: /^(!=|=|:)/,
    word: /^[A-Za-z0-9_.\-/]+/,
    fail: (what) => new Invalid(`Field filter had an invalid value of "${text}": ${what}`),
  });
}
