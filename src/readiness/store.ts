import { z } from 'zod';
import type { RedisConnection } from '../queue/connection.ts';
import { type LeaseClaim, LeasedOnce } from '../queue/leased-once.ts';
import {
  type Exposure,
  ExposureSchema,
  ITEM_STATUSES,
  type ItemResult,
  ItemResultSchema,
  type ItemStatus,
  type ReadinessReport,
  type TargetReport,
  TargetReportSchema,
} from '../steps/readiness/report.ts';
import { type ReadinessTransition, ReadinessTransitionSchema } from './transitions.ts';

/**
 * What the readiness checks found, kept in Redis under `<prefix>:readiness:…`
 * (every key under the one prefix, so on Redis Cluster they share its slot):
 *
 * - `item:<target>:<id>` (hash): the item's latest result and its standing:
 *   status, checked at, since when it has that status, whether the channel was
 *   told it is red (and since when), when it last passed.
 * - `readings:<target>:<id>` (sorted set by check time): every reading of the
 *   item (status and measured value) for the last 7 days; its status changes
 *   are where one reading's status differs from the one before.
 * - `exposure:<scenario>` (sorted set by check time): the scenario's live RPO
 *   at each check, 7 days.
 * - `latest` (hash): each target's newest report and the newest live RPO, for
 *   the views and the metrics.
 * - `run:<run id>`: the run was recorded, and the red/green transitions it
 *   made; recording the same run again changes nothing and returns them.
 * - `notice:<key>`: whether a transition's notice was told (or is being told).
 * - `pending` (hash): transitions recorded and not told yet, by key.
 *
 * Older entries are trimmed at each check, and every key expires a day after
 * the retention once nothing writes it (an item no longer checked).
 */

export const READINESS_RETENTION_MS = 7 * 24 * 3_600_000;
const DAY_MS = 24 * 3_600_000;

/** One reading of an item: what a check measured. */
export const ReadingSchema = z.object({ at: z.number(), runId: z.string(), status: z.enum(ITEM_STATUSES), value: z.string() });
export type Reading = z.infer<typeof ReadingSchema>;

/** A scenario's live RPO at one check. */
export const ExposureReadingSchema = z.object({
  at: z.number(),
  runId: z.string(),
  exposureSeconds: z.number().optional(),
  objectiveSeconds: z.number(),
  status: z.enum(ITEM_STATUSES),
});
export type ExposureReading = z.infer<typeof ExposureReadingSchema>;

/** An item's latest result and standing. */
export interface ItemState {
  target: string;
  result: ItemResult;
  /** The latest check that measured it. */
  at: number;
  runId: string;
  /** Since when it has its current status (the first check that gave it). */
  since: number;
  /** The channel was told it turned red, and not yet that it recovered. */
  toldRed: boolean;
  /** The first failing check of the red spell being told. */
  redSince?: number;
  lastPassAt?: number;
}

/** The newest check of each target and the newest live RPO: what the views and `/metrics` show. */
export interface LatestReadiness {
  targets: { runId: string; report: TargetReport }[];
  exposures?: { runId: string; checkedAt: number; exposures: Exposure[] };
}

const LatestTargetSchema = z.object({ runId: z.string(), report: TargetReportSchema });
const LatestExposuresSchema = z.object({ runId: z.string(), checkedAt: z.number(), exposures: ExposureSchema.array() });

const RECORD = `
-- KEYS[1] run marker  KEYS[2] latest hash  KEYS[3..] per item: its state hash and its readings; then per scenario: its exposure readings
-- ARGV[1] run id  ARGV[2] oldest time kept (ms)  ARGV[3] ttl of every key (s)  ARGV[4] items  ARGV[5] targets  ARGV[6] scenarios
-- ARGV[7..] per item: target, id, status, checked at, result JSON, reading JSON;
--   per target: name, checked at, latest JSON; then the exposures' checked at and latest JSON; per scenario: reading JSON
-- Returns the run's transitions, one per line: kind, target, id, previous status, red since, last pass (tab separated).
-- A run recorded before returns what it returned then, and changes nothing.
local done = redis.call('GET', KEYS[1])
if done then return done end
local runId, oldest, ttl = ARGV[1], ARGV[2], ARGV[3]
local items, targets, scenarios = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local out = {}
local a = 7
for i = 0, items - 1 do
  local state, readings = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local target, id, status, at = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  redis.call('ZADD', readings, at, ARGV[a + 5])
  redis.call('ZREMRANGEBYSCORE', readings, '-inf', '(' .. oldest)
  redis.call('EXPIRE', readings, ttl)
  local cur = redis.call('HMGET', state, 'status', 'at', 'since', 'told', 'redSince', 'lastPass')
  -- An older check that finished late is history only: it neither moves the standing nor tells anything.
  if not cur[2] or tonumber(cur[2]) <= tonumber(at) then
    local prev = cur[1] or ''
    local since = (prev == status and cur[3]) or at
    local told, redSince, lastPass = cur[4] or '', cur[5] or '', cur[6] or ''
    if status == 'fail' and told ~= 'red' then
      told, redSince = 'red', since
      table.insert(out, table.concat({'red', target, id, prev, redSince, lastPass}, '\\t'))
    elseif status == 'pass' and told == 'red' then
      table.insert(out, table.concat({'green', target, id, prev, redSince, lastPass}, '\\t'))
      told, redSince = '', ''
    end
    if status == 'pass' then lastPass = at end
    redis.call('HSET', state, 'status', status, 'at', at, 'since', since, 'told', told, 'redSince', redSince, 'lastPass', lastPass, 'run', runId, 'result', ARGV[a + 4])
  end
  redis.call('EXPIRE', state, ttl)
  a = a + 6
end
for i = 1, targets do
  local name, at = ARGV[a], ARGV[a + 1]
  local was = redis.call('HGET', KEYS[2], 'target-at:' .. name)
  if not was or tonumber(was) <= tonumber(at) then
    redis.call('HSET', KEYS[2], 'target-at:' .. name, at, 'target:' .. name, ARGV[a + 2])
  end
  a = a + 3
end
local exposuresAt = ARGV[a]
local was = redis.call('HGET', KEYS[2], 'exposures-at')
if scenarios > 0 and (not was or tonumber(was) <= tonumber(exposuresAt)) then
  redis.call('HSET', KEYS[2], 'exposures-at', exposuresAt, 'exposures', ARGV[a + 1])
end
a = a + 2
for i = 0, scenarios - 1 do
  local key = KEYS[3 + 2 * items + i]
  redis.call('ZADD', key, exposuresAt, ARGV[a + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. oldest)
  redis.call('EXPIRE', key, ttl)
end
-- Targets and a live RPO no check has given for the whole retention are gone from the views too.
local fields = redis.call('HGETALL', KEYS[2])
for i = 1, #fields, 2 do
  local name = string.match(fields[i], '^target%-at:(.*)$')
  if name and tonumber(fields[i + 1]) < tonumber(oldest) then redis.call('HDEL', KEYS[2], fields[i], 'target:' .. name) end
  if fields[i] == 'exposures-at' and tonumber(fields[i + 1]) < tonumber(oldest) then redis.call('HDEL', KEYS[2], 'exposures-at', 'exposures') end
end
redis.call('EXPIRE', KEYS[2], ttl)
local lines = table.concat(out, '\\n')
redis.call('SET', KEYS[1], lines, 'EX', ttl)
return lines
`;


type Commands = RedisConnection & {
  drReadinessRecord(numKeys: number, ...args: string[]): Promise<string>;
};

export interface ReadinessStoreOptions {
  /** How long readings are kept; 7 days. */
  retentionMs?: number;
  /** The clock trimming goes by (tests move it). */
  now?: () => number;
}

/** Why a notice's claim was not taken: told already, or being told by another process. */
export type NoticeClaim = LeaseClaim;

export class ReadinessStore {
  private readonly redis: Commands;
  private readonly base: string;
  private readonly retentionMs: number;
  private readonly now: () => number;
  /** Each transition, told once (src/queue/leased-once.ts). */
  private readonly notices: LeasedOnce;

  constructor(redis: RedisConnection, prefix: string, options: ReadinessStoreOptions = {}) {
    this.base = `${prefix}:readiness`;
    this.retentionMs = options.retentionMs ?? READINESS_RETENTION_MS;
    this.now = options.now ?? Date.now;
    if (!('drReadinessRecord' in redis)) {
      redis.defineCommand('drReadinessRecord', { lua: RECORD });
    }
    this.redis = redis as Commands;
    this.notices = new LeasedOnce(redis, { keyOf: (key) => `${this.base}:notice:${key}`, pendingKey: `${this.base}:pending`, ttlSeconds: this.ttlSeconds });
  }

  private itemKey(target: string, id: string): string {
    return `${this.base}:item:${target}:${id}`;
  }
  private readingsKey(target: string, id: string): string {
    return `${this.base}:readings:${target}:${id}`;
  }
  private exposureKey(scenario: string): string {
    return `${this.base}:exposure:${scenario}`;
  }
  private get latestKey(): string {
    return `${this.base}:latest`;
  }
  private runKey(runId: string): string {
    return `${this.base}:run:${runId}`;
  }
  /** Every key outlives the retention by a day, then goes unless a check writes it again. */
  private get ttlSeconds(): number {
    return Math.ceil((this.retentionMs + DAY_MS) / 1_000);
  }

  /**
   * Records a readiness run's report, in one script: each item's reading and
   * standing, each target's and the live RPO's latest, each scenario's
   * exposure; and returns the red/green transitions the run made. Atomic and
   * idempotent: the same run recorded again (a redelivered event, a second
   * process) changes nothing and returns the same transitions.
   */
  async record(runId: string, report: ReadinessReport): Promise<ReadinessTransition[]> {
    const keys = [this.runKey(runId), this.latestKey];
    const args: string[] = [];
    const items = report.targets.flatMap((t) => t.items.map((item) => ({ target: t, item })));
    for (const { target, item } of items) {
      keys.push(this.itemKey(target.target, item.id), this.readingsKey(target.target, item.id));
      const reading: Reading = { at: target.checkedAt, runId, status: item.status, value: item.value };
      args.push(target.target, item.id, item.status, String(target.checkedAt), JSON.stringify(item), JSON.stringify(reading));
    }
    for (const target of report.targets) args.push(target.target, String(target.checkedAt), JSON.stringify({ runId, report: target }));
    args.push(String(report.checkedAt), JSON.stringify({ runId, checkedAt: report.checkedAt, exposures: report.exposures }));
    for (const e of report.exposures) {
      keys.push(this.exposureKey(e.scenario));
      const reading: ExposureReading = { at: report.checkedAt, runId, objectiveSeconds: e.objectiveSeconds, status: e.status, ...(e.exposureSeconds === undefined ? {} : { exposureSeconds: e.exposureSeconds }) };
      args.push(JSON.stringify(reading));
    }
    const head = [runId, String(this.now() - this.retentionMs), String(this.ttlSeconds), String(items.length), String(report.targets.length), String(report.exposures.length)];
    const lines = await this.redis.drReadinessRecord(keys.length, ...keys, ...head, ...args);
    return transitionsOf(runId, report, lines);
  }

  /** Each target's newest check and the newest live RPO; empty before any check. */
  async latest(): Promise<LatestReadiness> {
    const fields = await this.redis.hgetall(this.latestKey);
    const targets = Object.entries(fields)
      .filter(([name]) => name.startsWith('target:'))
      .flatMap(([, raw]) => parsed(LatestTargetSchema, raw) ?? [])
      .sort((a, b) => (a.report.role === b.report.role ? a.report.target.localeCompare(b.report.target) : a.report.role === 'primary' ? -1 : 1));
    const exposures = fields.exposures === undefined ? undefined : parsed(LatestExposuresSchema, fields.exposures);
    return exposures ? { targets, exposures } : { targets };
  }

  /** An item's latest result and standing, if it was checked within the retention. */
  async item(target: string, id: string): Promise<ItemState | undefined> {
    const h = await this.redis.hgetall(this.itemKey(target, id));
    const result = h.result === undefined ? undefined : parsed(ItemResultSchema, h.result);
    if (!result || !h.at || !h.since || !h.run) return undefined;
    return {
      target,
      result,
      at: Number(h.at),
      runId: h.run,
      since: Number(h.since),
      toldRed: h.told === 'red',
      ...(h.redSince ? { redSince: Number(h.redSince) } : {}),
      ...(h.lastPass ? { lastPassAt: Number(h.lastPass) } : {}),
    };
  }

  /** An item's readings of the last 7 days, oldest first. */
  async readings(target: string, id: string): Promise<Reading[]> {
    const raw = await this.redis.zrangebyscore(this.readingsKey(target, id), this.now() - this.retentionMs, '+inf');
    return raw.flatMap((r) => parsed(ReadingSchema, r) ?? []);
  }

  /** An item's status changes of the last 7 days: each reading whose status differs from the one before. */
  async changes(target: string, id: string): Promise<{ at: number; runId: string; from?: ItemStatus; to: ItemStatus }[]> {
    const readings = await this.readings(target, id);
    return readings.flatMap((r, i) => {
      const before = readings[i - 1];
      if (before?.status === r.status) return [];
      return [{ at: r.at, runId: r.runId, to: r.status, ...(before ? { from: before.status } : {}) }];
    });
  }

  /** A scenario's live RPO at each check of the last 7 days, oldest first. */
  async exposures(scenario: string): Promise<ExposureReading[]> {
    const raw = await this.redis.zrangebyscore(this.exposureKey(scenario), this.now() - this.retentionMs, '+inf');
    return raw.flatMap((r) => parsed(ExposureReadingSchema, r) ?? []);
  }

  /**
   * Takes the right to tell a transition for `leaseMs`: refused when it was
   * told, or while another process holds it (a process that dies holding it
   * gives it up when the lease ends).
   */
  async claimNotice(key: string, leaseMs: number): Promise<NoticeClaim> {
    return this.notices.claim(key, leaseMs);
  }

  /** The transition was told: no one tells it again. */
  async noticeDone(key: string): Promise<void> {
    await this.notices.done(key);
  }

  /** Transitions to tell, kept until told (a Slack outage delays them; it loses none). */
  async addPending(transitions: readonly ReadinessTransition[]): Promise<void> {
    await this.notices.addPending(transitions.map((t) => [t.key, JSON.stringify(t)] as const));
  }

  /** Transitions not told yet, oldest check first; one older than the retention is dropped untold (it is history by then). */
  async pending(): Promise<ReadinessTransition[]> {
    const fields = await this.notices.pending();
    const oldest = this.now() - this.retentionMs;
    const out: ReadinessTransition[] = [];
    for (const [key, raw] of Object.entries(fields)) {
      const t = parsed(ReadinessTransitionSchema, raw);
      if (t && t.at >= oldest) out.push(t);
      else await this.notices.dropPending(key);
    }
    return out.sort((a, b) => a.at - b.at || a.key.localeCompare(b.key));
  }

  /** Forgets a pending transition that was told by another process. */
  async dropPending(key: string): Promise<void> {
    await this.notices.dropPending(key);
  }

  /** Gives the claim back after telling failed, so a retry may tell it. */
  async releaseNotice(key: string): Promise<void> {
    await this.notices.release(key);
  }

  /** A mark the teller keeps on a notice (the message's ts, an attempt to post it): it survives a crash. */
  async noticeMark(key: string, mark: 'attempted' | 'ts'): Promise<string | undefined> {
    return this.notices.mark(key, mark);
  }

  async setNoticeMark(key: string, mark: 'attempted' | 'ts', value: string): Promise<void> {
    await this.notices.setMark(key, mark, value);
  }
}

/** The transitions the record script returned, with what the report says of each item. */
function transitionsOf(runId: string, report: ReadinessReport, lines: string): ReadinessTransition[] {
  return lines
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      const [kind, targetName, id, previous, redSince, lastPass] = line.split('\t');
      const target = report.targets.find((t) => t.target === targetName);
      const item = target?.items.find((i) => i.id === id);
      if (!target || !item || (kind !== 'red' && kind !== 'green')) return [];
      const transition: ReadinessTransition = {
        kind,
        key: `${runId}:${target.target}:${item.id}`,
        runId,
        target: target.target,
        role: target.role,
        item,
        at: target.checkedAt,
        redSince: Number(redSince),
        ...(isStatus(previous) ? { previous } : {}),
        ...(lastPass ? { lastPassAt: Number(lastPass) } : {}),
      };
      return [transition];
    });
}

function isStatus(value: string | undefined): value is ItemStatus {
  return (ITEM_STATUSES as readonly string[]).includes(value ?? '');
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
