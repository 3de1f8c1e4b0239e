import type { z } from 'zod';
import { SCENARIO_IDS } from '../incidents/scenarios.ts';
import type { RedisConnection } from '../queue/connection.ts';
import { type LeaseClaim, LeasedOnce } from '../queue/leased-once.ts';
import { type DrillRecord, DrillRecordSchema, type DrillResult, DrillResultSchema, resultOf } from './model.ts';

/**
 * The drill record, in Redis under `<prefix>:drills:…` (every key under the
 * one prefix, so on Redis Cluster they share its slot):
 *
 * - `records` (hash): each drill's whole record (its steps too), by run id;
 * - `results` (hash): the same without the steps, what lists and trends read;
 * - `scenario:<scenario>` (sorted set by start): the scenario's drills;
 * - `all` (sorted set by start): every drill;
 * - `report:<run id>` (hash): whether its report file was shared (or is being
 *   shared, by whom until when) and the marks that survive a crash;
 * - `pending` (hash): drills whose report is still to be shared.
 *
 * Kept: 2 years, and at most the newest 200 per scenario; older ones are
 * removed when the scenario's next drill is recorded, and reads ignore what
 * is past the 2 years. Every key expires a day after that once nothing writes.
 */

const DAY_MS = 24 * 3_600_000;
export const DRILL_RETENTION_MS = 730 * DAY_MS;
export const DRILLS_KEPT_PER_SCENARIO = 200;

const RECORD = `
-- KEYS[1] records hash  KEYS[2] results hash  KEYS[3] the scenario's drills  KEYS[4] every drill (sorted sets by start)
-- ARGV[1] run id  ARGV[2] started at (ms)  ARGV[3] record JSON  ARGV[4] result JSON
-- ARGV[5] oldest start kept (ms)  ARGV[6] drills kept per scenario  ARGV[7] ttl of every key (s)
-- Returns 1 when recorded, 0 when the run was recorded before (nothing changes).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[5])
local over = redis.call('ZRANGE', KEYS[3], 0, -(tonumber(ARGV[6]) + 1))
for _, ids in ipairs({old, over}) do
  for _, id in ipairs(ids) do
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  end
end
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[7]) end
return 1
`;


type Commands = RedisConnection & {
  drDrillRecord(k1: string, k2: string, k3: string, k4: string, ...args: string[]): Promise<number>;
};

/** Why a report's claim was not taken: shared already, or being shared by another process. */
export type ReportClaim = LeaseClaim;

export interface DrillStoreOptions {
  /** How long drills are kept; 2 years. */
  retentionMs?: number;
  /** Drills kept per scenario at most; 200. */
  keepPerScenario?: number;
  /** The clock retention goes by (tests move it). */
  now?: () => number;
}

export class DrillStore {
  private readonly redis: Commands;
  private readonly base: string;
  private readonly retentionMs: number;
  private readonly keep: number;
  private readonly now: () => number;
  /** Each drill's report, shared once (src/queue/leased-once.ts). */
  private readonly reports: LeasedOnce;

  constructor(redis: RedisConnection, prefix: string, options: DrillStoreOptions = {}) {
    this.base = `${prefix}:drills`;
    this.retentionMs = options.retentionMs ?? DRILL_RETENTION_MS;
    this.keep = options.keepPerScenario ?? DRILLS_KEPT_PER_SCENARIO;
    this.now = options.now ?? Date.now;
    if (!('drDrillRecord' in redis)) {
      redis.defineCommand('drDrillRecord', { numberOfKeys: 4, lua: RECORD });
    }
    this.redis = redis as Commands;
    this.reports = new LeasedOnce(redis, { keyOf: (runId) => `${this.base}:report:${runId}`, pendingKey: `${this.base}:pending`, ttlSeconds: this.ttlSeconds });
  }

  private get recordsKey(): string {
    return `${this.base}:records`;
  }
  private get resultsKey(): string {
    return `${this.base}:results`;
  }
  private scenarioKey(scenario: string): string {
    return `${this.base}:scenario:${scenario}`;
  }
  private get allKey(): string {
    return `${this.base}:all`;
  }
  private get ttlSeconds(): number {
    return Math.ceil((this.retentionMs + DAY_MS) / 1_000);
  }
  private get oldest(): number {
    return this.now() - this.retentionMs;
  }

  /**
   * Records a drill, atomically and once: the same run recorded again (a
   * redelivered event, a second process) changes nothing and returns false.
   * Drills past the retention or the per-scenario count go at the same time.
   */
  async record(record: DrillRecord): Promise<boolean> {
    const keys = [this.recordsKey, this.resultsKey, this.scenarioKey(record.scenario), this.allKey] as const;
    const args = [record.runId, String(record.startedAt), JSON.stringify(record), JSON.stringify(resultOf(record)), String(this.oldest), String(this.keep), String(this.ttlSeconds)];
    return (await this.redis.drDrillRecord(...keys, ...args)) === 1;
  }

  /** One drill with its steps, if it is recorded. */
  async get(runId: string): Promise<DrillRecord | undefined> {
    const raw = await this.redis.hget(this.recordsKey, runId);
    return raw === null ? undefined : parsed(DrillRecordSchema, raw);
  }

  /** Drills newest first (by start): of one scenario, or every one; at most `limit`. */
  async results(options: { scenario?: string; limit?: number } = {}): Promise<DrillResult[]> {
    const key = options.scenario === undefined ? this.allKey : this.scenarioKey(options.scenario);
    const limit = options.limit ?? SCENARIO_IDS.length * this.keep;
    const ids = await this.redis.zrevrangebyscore(key, '+inf', this.oldest, 'LIMIT', 0, limit);
    return this.resultsOf(ids);
  }

  /** The newest drill of each scenario that has one, in the DR plan's order of scenarios. */
  async latestPerScenario(): Promise<DrillResult[]> {
    const multi = this.redis.multi();
    for (const scenario of SCENARIO_IDS) multi.zrevrangebyscore(this.scenarioKey(scenario), '+inf', this.oldest, 'LIMIT', 0, 1);
    const answers = (await multi.exec()) ?? [];
    const ids = answers.flatMap(([err, value]) => (err || !Array.isArray(value) ? [] : (value as string[])));
    return this.resultsOf(ids);
  }

  private async resultsOf(ids: readonly string[]): Promise<DrillResult[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.hmget(this.resultsKey, ...ids);
    return raws.flatMap((raw) => (raw === null ? [] : (parsed(DrillResultSchema, raw) ?? [])));
  }

  /**
   * Takes the right to share a drill's report for `leaseMs`: refused when it
   * was shared, or while another process holds it (one that dies holding it
   * gives it up when the lease ends).
   */
  async claimReport(runId: string, leaseMs: number): Promise<ReportClaim> {
    return this.reports.claim(runId, leaseMs);
  }

  /** The report was shared (or there is nowhere to share it): no one shares it again. */
  async reportDone(runId: string): Promise<void> {
    await this.reports.done(runId);
  }

  /** Gives the claim back after sharing failed, so a retry may share it. */
  async releaseReport(runId: string): Promise<void> {
    await this.reports.release(runId);
  }

  /** A mark the sharer keeps on a report (an upload was attempted; the file's id): it survives a crash. */
  async reportMark(runId: string, mark: 'attempted' | 'file'): Promise<string | undefined> {
    return this.reports.mark(runId, mark);
  }

  async setReportMark(runId: string, mark: 'attempted' | 'file', value: string): Promise<void> {
    await this.reports.setMark(runId, mark, value);
  }

  /** A report to share, kept until shared (a Slack outage delays it; it is not lost). */
  async addPending(runId: string, at: number): Promise<void> {
    await this.reports.addPending([[runId, String(at)]]);
  }

  /** Reports not shared yet, oldest drill first. */
  async pending(): Promise<{ runId: string; at: number }[]> {
    return Object.entries(await this.reports.pending())
      .map(([runId, at]) => ({ runId, at: Number(at) || 0 }))
      .sort((a, b) => a.at - b.at || a.runId.localeCompare(b.runId));
  }

  /** Forgets a pending report (shared by another process, or given up). */
  async dropPending(runId: string): Promise<void> {
    await this.reports.dropPending(runId);
  }
}

/** A stored JSON value, or undefined when it no longer reads as one (written by another version). */
function parsed<T>(schema: z.ZodType<T>, raw: string): T | undefined {
  try {
    const result = schema.safeParse(JSON.parse(raw));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}
