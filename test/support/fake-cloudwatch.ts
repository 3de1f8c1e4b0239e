/**
 * A loopback Amazon CloudWatch for GetMetricData, as @aws-sdk/client-cloudwatch
 * (v3) speaks it: awsJson1_0, `X-Amz-Target: GraniteServiceVersion20100801.GetMetricData`,
 * "query compatible" errors (the query code in `x-amzn-query-error`).
 *
 * Tests put datapoints per region and metric (namespace, name, exact
 * dimension set, as CloudWatch matches them); GetMetricData aggregates them
 * into periods within [StartTime, EndTime) with the query's statistic, newest
 * first unless ScanBy says otherwise. A metric with no datapoints in the
 * window answers empty Timestamps and Values (no data, not zero).
 *
 * As strict as CloudWatch (API-FACTS 8.8): the model (aws-models/json.ts),
 * then the documented rules: an Id starts with a lowercase letter and is
 * unique, at most 500 queries, exactly one of MetricStat and Expression, a
 * Period of 1, 5, 10, 20, 30 or a multiple of 60, StartTime before EndTime;
 * and 50 calls per second.
 */
import type { ModelProblem } from './aws-models/query.ts';
import { AwsJsonError, AwsJsonFake, type CallContext, type JsonProtocol } from './aws-json-fake.ts';

export interface MetricId {
  namespace: string;
  metricName: string;
  /** The metric's whole dimension set: a query must name exactly these. */
  dimensions?: Record<string, string>;
}

export interface Datapoint {
  at: Date | number;
  value: number;
}

interface StoredMetric extends Required<MetricId> {
  region: string;
  points: { at: number; value: number }[];
}

interface MetricDataQuery {
  Id: string;
  MetricStat?: { Metric: { Namespace?: string; MetricName?: string; Dimensions?: { Name: string; Value: string }[] }; Period: number; Stat: string; Unit?: string };
  Expression?: string;
  Label?: string;
  ReturnData?: boolean;
  Period?: number;
}

const ID = /^[a-z][a-zA-Z0-9_]*$/;
const STATS = /^(SampleCount|Average|Sum|Minimum|Maximum|IQM|p\d{1,2}(\.\d+)?|p100|(tm|wm|tc|ts)\d{1,2}(\.\d+)?|(TM|WM|TC|TS|PR)\(.+\))$/;
const HIGH_RESOLUTION_PERIODS = new Set([1, 5, 10, 20, 30]);

export class FakeCloudWatch extends AwsJsonFake {
  protected readonly protocol: JsonProtocol = {
    service: 'cloudwatch',
    signingName: 'monitoring',
    jsonVersion: '1.0',
    queryCompatible: {
      InvalidParameterValue: 'InvalidParameterValueException',
      MissingParameter: 'MissingRequiredParameterException',
      InvalidParameterCombination: 'InvalidParameterCombinationException',
      InvalidNextToken: 'InvalidNextToken',
      LimitExceeded: 'LimitExceededFault',
      ValidationError: 'ValidationException',
    },
  };

  private readonly metrics: StoredMetric[] = [];

  constructor() {
    super();
    // GetMetricData: 50 transactions per second (API-FACTS 8.8).
    this.rateLimit = { burst: 50, perSecond: 50 };
  }

  /** Adds datapoints to a metric in `region` (e.g. AWS/RDS AuroraGlobalDBRPOLag, DBClusterIdentifier + SourceRegion, in milliseconds). */
  putDatapoints(region: string, metric: MetricId, points: Datapoint[]): this {
    const stored = this.find(region, metric.namespace, metric.metricName, metric.dimensions ?? {}) ?? this.add(region, metric);
    for (const p of points) stored.points.push({ at: typeof p.at === 'number' ? p.at : p.at.getTime(), value: p.value });
    return this;
  }

  /** Forgets a metric's datapoints (it reports no data from now on). */
  clearDatapoints(region: string, metric: MetricId): void {
    const stored = this.find(region, metric.namespace, metric.metricName, metric.dimensions ?? {});
    if (stored) stored.points.length = 0;
  }

  protected override documentedProblem(operation: string, input: Record<string, unknown>): ModelProblem | undefined {
    if (operation !== 'GetMetricData') return undefined;
    const queries = (input.MetricDataQueries ?? []) as MetricDataQuery[];
    const invalid = (message: string): ModelProblem => ({ code: 'ValidationError', message });
    if (queries.length > 500) return invalid('The collection MetricDataQueries must not have a size greater than 500.');
    // CloudWatch lists every bad Id, one per line.
    const badIds = queries.flatMap((q, i) => (ID.test(q.Id) ? [] : [`The value ${q.Id} for parameter MetricDataQueries.member.${i + 1}.Id is not matching the expected pattern ^[a-z][a-zA-Z0-9_]*$.`]));
    if (badIds.length) return invalid(badIds.join('\n'));
    if (new Set(queries.map((q) => q.Id)).size !== queries.length) return invalid('The values for parameter id in MetricDataQueries are not unique.');
    for (const [i, q] of queries.entries()) {
      const at = `MetricDataQueries.member.${i + 1}`;
      if ((q.MetricStat === undefined) === (q.Expression === undefined)) return invalid(`Exactly one element of the MetricStat or the Expression fields must be set in ${at}.`);
      const period = q.MetricStat?.Period ?? q.Period;
      if (period !== undefined && !(HIGH_RESOLUTION_PERIODS.has(period) || (period > 0 && period % 60 === 0))) {
        return invalid(`The parameter ${at}.MetricStat.Period must be 1, 5, 10, 20, 30 or a multiple of 60.`);
      }
      if (q.MetricStat && !STATS.test(q.MetricStat.Stat)) return { code: 'InvalidParameterValue', message: `The value ${q.MetricStat.Stat} for parameter ${at}.MetricStat.Stat is not a valid statistic.` };
      if (q.MetricStat && (!q.MetricStat.Metric.Namespace || !q.MetricStat.Metric.MetricName)) return { code: 'MissingParameter', message: `The parameters ${at}.MetricStat.Metric.Namespace and MetricName are required.` };
    }
    if (seconds(input.StartTime) >= seconds(input.EndTime)) return invalid('The parameter StartTime must be less than the parameter EndTime.');
    return undefined;
  }

  protected answer(operation: string, input: Record<string, unknown>, ctx: CallContext): unknown {
    if (operation !== 'GetMetricData') throw new AwsJsonError('InvalidAction', `The fake CloudWatch does not implement ${operation}.`);
    const start = seconds(input.StartTime) * 1_000;
    const end = seconds(input.EndTime) * 1_000;
    const ascending = input.ScanBy === 'TimestampAscending';
    const results = ((input.MetricDataQueries ?? []) as MetricDataQuery[])
      .filter((q) => q.ReturnData !== false)
      .map((q) => {
        if (!q.MetricStat) throw new Error(`the fake CloudWatch does not evaluate metric math (${q.Id}: ${q.Expression ?? ''})`);
        const { Metric: m, Period: period, Stat: stat } = q.MetricStat;
        const dims = Object.fromEntries((m.Dimensions ?? []).map((d) => [d.Name, d.Value]));
        const metric = this.find(ctx.region, m.Namespace ?? '', m.MetricName ?? '', dims);
        const buckets = new Map<number, number[]>();
        for (const p of metric?.points ?? []) {
          if (p.at < start || p.at >= end) continue;
          const bucket = Math.floor(p.at / (period * 1_000)) * period * 1_000;
          buckets.set(bucket, [...(buckets.get(bucket) ?? []), p.value]);
        }
        const times = [...buckets.keys()].sort((a, b) => (ascending ? a - b : b - a));
        return {
          Id: q.Id,
          Label: q.Label ?? m.MetricName,
          Timestamps: times.map((t) => new Date(t)),
          Values: times.map((t) => statistic(stat, buckets.get(t) ?? [])),
          StatusCode: 'Complete',
        };
      });
    return { MetricDataResults: results, Messages: [] };
  }

  private find(region: string, namespace: string, metricName: string, dimensions: Record<string, string>): StoredMetric | undefined {
    const key = dimensionKey(dimensions);
    return this.metrics.find((m) => m.region === region && m.namespace === namespace && m.metricName === metricName && dimensionKey(m.dimensions) === key);
  }

  private add(region: string, metric: MetricId): StoredMetric {
    const stored: StoredMetric = { region, namespace: metric.namespace, metricName: metric.metricName, dimensions: { ...metric.dimensions }, points: [] };
    this.metrics.push(stored);
    return stored;
  }
}

function dimensionKey(dimensions: Record<string, string>): string {
  return JSON.stringify(Object.entries(dimensions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function seconds(value: unknown): number {
  return typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) / 1_000 : Number.NaN;
}

/** A statistic over one period's values (the ones the fake computes; the others are valid but not modelled). */
function statistic(stat: string, values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  switch (stat) {
    case 'SampleCount':
      return values.length;
    case 'Sum':
      return values.reduce((a, b) => a + b, 0);
    case 'Average':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'Minimum':
      return sorted[0] ?? 0;
    case 'Maximum':
      return sorted.at(-1) ?? 0;
  }
  const percentile = /^p(\d+(?:\.\d+)?)$/.exec(stat);
  if (percentile) return sorted[Math.max(0, Math.ceil((Number(percentile[1]) / 100) * sorted.length) - 1)] ?? 0;
  throw new Error(`the fake CloudWatch does not compute the statistic ${stat}`);
}
