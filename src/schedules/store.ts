import type { RedisConnection } from '../queue/connection.ts';
import { type Decision, DecisionSchema } from '../runs/model.ts';
import { CoversSchema, type ScheduleApproval, type ScheduleApprovalState, SCHEDULE_APPROVAL_STATES } from './approval-model.ts';
import { type LastFire, LastFireSchema, type Schedule, type ScheduleDoc, ScheduleDocSchema } from './model.ts';

/**
 * Schedules in Redis, every key under `<prefix>:` (one slot on Redis Cluster
 * when the prefix holds a hash tag such as `{dr}`):
 *   <prefix>:schedule:<id>       hash: doc (JSON), paused ('1'/'0'), last (JSON); a changing
 *                                runbook's also approval:state, approval:digest, approval:required,
 *                                approval:allowSelf ('1'/'0'), approval:covers (JSON), approval:why,
 *                                approval:since, approvals (JSON list of decisions)
 *   <prefix>:schedules           sorted set of ids by creation time
 *   <prefix>:schedule-fire:<job> the run id a fire (BullMQ job) created or will create
 */

const CREATE = `
-- KEYS[1] schedule hash  KEYS[2] index  ARGV[1] doc JSON  ARGV[2] paused  ARGV[3] created at  ARGV[4] id
-- ARGV[5..] further field, value pairs (a changing runbook's approval)
-- Returns 1, or 0 when the id is taken (nothing written)
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'paused', ARGV[2])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
`;

const UPSERT = `
-- KEYS[1] schedule hash  KEYS[2] index  ARGV[1] doc JSON  ARGV[2] created at  ARGV[3] id
-- Writes the definition; keeps paused and the last fire of a schedule that exists
redis.call('HSET', KEYS[1], 'doc', ARGV[1])
redis.call('HSETNX', KEYS[1], 'paused', '0')
redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[3])
return 1
`;

const SET_IF_EXISTS = `
-- KEYS[1] schedule hash  ARGV[1] field  ARGV[2] value
-- Returns 1, or 0 when the schedule is gone (nothing written)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

const CLAIM = `
-- KEYS[1] fire claim  ARGV[1] run id  ARGV[2] ttl seconds
-- Returns the run id this fire creates: the one already claimed, or ARGV[1]
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
`;

const APPROVE = `
-- KEYS[1] schedule hash  ARGV[1] approver id  ARGV[2] decision JSON  ARGV[3] the digest approved
-- ARGV[4] now  ARGV[5] the schedule's creator id
-- Returns {'approved'|'recorded', count, required} or {'refused', reason}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'refused', 'missing'} end
local state = redis.call('HGET', KEYS[1], 'approval:state')
if not state then return {'refused', 'read-only'} end
if state == 'approved' then return {'refused', 'approved'} end
if redis.call('HGET', KEYS[1], 'approval:digest') ~= ARGV[3] then return {'refused', 'changed'} end
if ARGV[1] == ARGV[5] and redis.call('HGET', KEYS[1], 'approval:allowSelf') ~= '1' then return {'refused', 'self'} end
local approvals = cjson.decode(redis.call('HGET', KEYS[1], 'approvals') or '[]')
for _, a in ipairs(approvals) do
  if a.by.id == ARGV[1] then return {'refused', 'duplicate'} end
end
table.insert(approvals, cjson.decode(ARGV[2]))
redis.call('HSET', KEYS[1], 'approvals', cjson.encode(approvals))
local required = tonumber(redis.call('HGET', KEYS[1], 'approval:required'))
if #approvals >= required then
  redis.call('HSET', KEYS[1], 'approval:state', 'approved', 'approval:since', ARGV[4])
  redis.call('HDEL', KEYS[1], 'approval:why')
  return {'approved', #approvals, required}
end
return {'recorded', #approvals, required}
`;

const RESET = `
-- KEYS[1] schedule hash  ARGV[1] the approval states it may be in now, comma separated ('none': no approval yet)
-- ARGV[2] its new state, or '' to keep it  ARGV[3..] field, value pairs
-- Clears the approvals. Returns 1, or 0 when the schedule is gone or in another state (nothing written)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = redis.call('HGET', KEYS[1], 'approval:state') or 'none'
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do if s == cur then allowed = true end end
if not allowed then return 0 end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'approval:state', ARGV[2]) end
redis.call('HSET', KEYS[1], 'approvals', '[]')
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
`;

/** What an approval of a schedule did, or why it was refused. */
export type ScheduleApproveResult =
  | { outcome: 'approved' | 'recorded'; count: number; required: number }
  | { outcome: 'refused'; reason: 'missing' | 'read-only' | 'approved' | 'changed' | 'self' | 'duplicate' };

/** A changing schedule's approval as written when it is added or reset: its approvals start empty. */
export type ApprovalFields = Omit<ScheduleApproval, 'approvals' | 'state'>;

/** A fire's claim outlives any retry of its job by far. */
const CLAIM_TTL_SECONDS = 7 * 24 * 3_600;

type ScheduleCommands = RedisConnection & {
  drScheduleCreate(k1: string, k2: string, ...argv: string[]): Promise<number>;
  drScheduleUpsert(k1: string, k2: string, ...argv: string[]): Promise<number>;
  drScheduleSet(k1: string, ...argv: string[]): Promise<number>;
  drScheduleClaim(k1: string, ...argv: string[]): Promise<string>;
  drScheduleApprove(k1: string, ...argv: string[]): Promise<[string, string | number, number?]>;
  drScheduleReset(k1: string, ...argv: string[]): Promise<number>;
};

export class ScheduleStore {
  private readonly redis: ScheduleCommands;
  readonly prefix: string;

  constructor(redis: RedisConnection, prefix: string) {
    this.prefix = prefix;
    if (!('drScheduleCreate' in redis)) {
      redis.defineCommand('drScheduleCreate', { numberOfKeys: 2, lua: CREATE });
      redis.defineCommand('drScheduleUpsert', { numberOfKeys: 2, lua: UPSERT });
      redis.defineCommand('drScheduleSet', { numberOfKeys: 1, lua: SET_IF_EXISTS });
      redis.defineCommand('drScheduleClaim', { numberOfKeys: 1, lua: CLAIM });
      redis.defineCommand('drScheduleApprove', { numberOfKeys: 1, lua: APPROVE });
      redis.defineCommand('drScheduleReset', { numberOfKeys: 1, lua: RESET });
    }
    this.redis = redis as ScheduleCommands;
  }

  private key(id: string): string {
    return `${this.prefix}:schedule:${id}`;
  }
  private get indexKey(): string {
    return `${this.prefix}:schedules`;
  }

  /** Stores a new schedule (a changing runbook's awaiting its approvals); false when its id is taken (nothing written). */
  async create(doc: ScheduleDoc, paused = false, approval?: ApprovalFields): Promise<boolean> {
    const extra = approval ? ['approval:state', 'awaiting', 'approvals', '[]', ...approvalPairs(approval)] : [];
    return (await this.redis.drScheduleCreate(this.key(doc.id), this.indexKey, JSON.stringify(doc), paused ? '1' : '0', String(doc.createdAt), doc.id, ...extra)) === 1;
  }

  /** Writes a schedule's definition (the config's), keeping whether it is paused and what it did last. */
  async upsert(doc: ScheduleDoc): Promise<void> {
    await this.redis.drScheduleUpsert(this.key(doc.id), this.indexKey, JSON.stringify(doc), String(doc.createdAt), doc.id);
  }

  async get(id: string): Promise<Schedule | undefined> {
    if (!/^[\w-]{1,64}$/.test(id)) return undefined;
    const h = await this.redis.hgetall(this.key(id));
    if (!h.doc) return undefined;
    const doc = ScheduleDocSchema.parse(JSON.parse(h.doc));
    const approval = approvalOf(h);
    return { ...doc, paused: h.paused === '1', ...(h.last ? { last: LastFireSchema.parse(JSON.parse(h.last)) } : {}), ...(approval ? { approval } : {}) };
  }

  /**
   * Records an approval of what `digest` covers, atomically: refused when the
   * schedule needs none, is approved already, covers something else now, the
   * approver made it (unless its runbook allows that) or approved it already.
   * Who may approve is the service's to check first.
   */
  async approve(id: string, decision: Decision, digest: string, creatorId: string): Promise<ScheduleApproveResult> {
    const [outcome, value, required] = await this.redis.drScheduleApprove(this.key(id), decision.by.id, JSON.stringify(decision), digest, String(decision.at), creatorId);
    if (outcome === 'refused') return { outcome, reason: value as Extract<ScheduleApproveResult, { outcome: 'refused' }>['reason'] };
    return { outcome: outcome as 'approved' | 'recorded', count: Number(value), required: Number(required) };
  }

  /**
   * Puts a schedule back to needing its approvals (`to`; undefined keeps its
   * state), covering what `fields` says, its approvals cleared; only from the
   * states in `from` (`none`: a schedule that had no approval). False when it
   * was in another state or is gone: then nothing changed, and another caller
   * did it first.
   */
  async resetApproval(id: string, from: readonly (ScheduleApprovalState | 'none')[], to: ScheduleApprovalState | undefined, fields: ApprovalFields): Promise<boolean> {
    return (await this.redis.drScheduleReset(this.key(id), from.join(','), to ?? '', ...approvalPairs(fields))) === 1;
  }

  /** Oldest first. */
  async list(): Promise<Schedule[]> {
    const ids = await this.redis.zrange(this.indexKey, 0, -1);
    const all = await Promise.all(ids.map((id) => this.get(id)));
    return all.filter((s): s is Schedule => s !== undefined);
  }

  async count(): Promise<number> {
    return this.redis.zcard(this.indexKey);
  }

  /** False when the schedule is gone. */
  async setPaused(id: string, paused: boolean): Promise<boolean> {
    return (await this.redis.drScheduleSet(this.key(id), 'paused', paused ? '1' : '0')) === 1;
  }

  /** Records what a fire did; nothing when the schedule was deleted meanwhile. */
  async recordFire(id: string, last: LastFire): Promise<void> {
    await this.redis.drScheduleSet(this.key(id), 'last', JSON.stringify(last));
  }

  async delete(id: string): Promise<void> {
    const multi = this.redis.multi();
    multi.del(this.key(id));
    multi.zrem(this.indexKey, id);
    await multi.exec();
  }

  /**
   * The run id a fire creates: `runId` the first time this fire is seen, the
   * same id for every later attempt of it (a retried or redelivered job), so
   * one fire never creates two runs.
   */
  async claimFire(fireId: string, runId: string): Promise<string> {
    return this.redis.drScheduleClaim(`${this.prefix}:schedule-fire:${fireId}`, runId, String(CLAIM_TTL_SECONDS));
  }
}

function approvalPairs(a: ApprovalFields): string[] {
  return [
    'approval:digest', a.covers.digest,
    'approval:covers', JSON.stringify(a.covers),
    'approval:required', String(a.required),
    'approval:allowSelf', a.allowSelf ? '1' : '0',
    'approval:why', a.why ?? '',
    'approval:since', String(a.since),
  ];
}

function approvalOf(h: Record<string, string>): ScheduleApproval | undefined {
  const state = h['approval:state'];
  if (state === undefined || !(SCHEDULE_APPROVAL_STATES as readonly string[]).includes(state) || !h['approval:covers']) return undefined;
  const why = h['approval:why'];
  return {
    state: state as ScheduleApprovalState,
    covers: CoversSchema.parse(JSON.parse(h['approval:covers'])),
    approvals: DecisionSchema.array().parse(JSON.parse(h.approvals ?? '[]')),
    required: Number(h['approval:required']),
    allowSelf: h['approval:allowSelf'] === '1',
    ...(why ? { why } : {}),
    since: Number(h['approval:since']),
  };
}
