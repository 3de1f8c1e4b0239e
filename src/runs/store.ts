import type { RedisConnection } from '../queue/connection.ts';
import {
  type Actor,
  type AuditEntry,
  AuditEntrySchema,
  type Decision,
  DecisionSchema,
  type Run,
  type RunDoc,
  RunDocSchema,
  RunEndingSchema,
  type RunEvent,
  type RunState,
  type StepRecord,
  StepRecordSchema,
  statesBefore,
} from './model.ts';
import { parseGate } from './gate-model.ts';

/**
 * Runs in Redis. One hash per run; every change of state is one Lua script, so
 * Redis applies the check and the change atomically (no two workers, no two
 * clicks can both move a run), and the same script appends the run event and
 * the audit entry, so each change is published exactly once.
 *
 * Hash fields: state, doc (immutable JSON), approvals, decision, cancelRequested,
 * owner (token of the worker executing it), startedAt, finishedAt, failure,
 * ending (how the main steps ended, while cleanup steps run),
 * step:<id> (JSON per step); parked, wait:<step>:<name>, ck:<step>:<name>
 * (parked waits and step checkpoints, engine/park.ts); gate (run-time gates, gates.ts); plus expiresAt, requester, allowSelf, required
 * copied out of doc for the approval script.
 */

/** Events stream length kept (approximate trim). Consumers far behind this lose the oldest. */
const EVENTS_MAXLEN = 100_000;

const TRANSITION = `
-- KEYS[1] run hash  KEYS[2] events stream  KEYS[3] audit stream
-- ARGV[1] new state  ARGV[2] allowed current states (comma separated)  ARGV[3] event JSONs, one per line, or ''
-- ARGV[4] audit JSONs, one per line, or ''  ARGV[5] required owner or ''  ARGV[6] events maxlen  ARGV[7..] field, value pairs
-- Returns {1, new state} or {0, current state | 'missing' | 'not_owner'}
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {0, 'missing'} end
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == cur then allowed = true end end
if not allowed then return {0, cur} end
if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'owner') ~= ARGV[5] then return {0, 'not_owner'} end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for e in string.gmatch(ARGV[3], '[^\\n]+') do redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'event', e) end
for a in string.gmatch(ARGV[4], '[^\\n]+') do redis.call('XADD', KEYS[3], '*', 'entry', a) end
return {1, ARGV[1]}
`;

const APPROVE = `
-- KEYS[1] run hash  KEYS[2] events stream  KEYS[3] audit stream
-- ARGV[1] approver id  ARGV[2] now (ms)  ARGV[3] approval JSON  ARGV[4] approval event JSON
-- ARGV[5] approval audit JSON  ARGV[6] approved event JSON  ARGV[7] expired event JSON
-- ARGV[8] expired audit JSON  ARGV[9] expired decision JSON  ARGV[10] events maxlen
-- Returns {'approved'|'recorded', count} or {'refused', reason}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'refused', 'missing'} end
if state ~= 'awaiting_approval' then return {'refused', state} end
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) then
  redis.call('HSET', KEYS[1], 'state', 'expired', 'decision', ARGV[9], 'finishedAt', ARGV[2])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[10], '*', 'event', ARGV[7])
  redis.call('XADD', KEYS[3], '*', 'entry', ARGV[8])
  return {'refused', 'expired'}
end
if ARGV[1] == redis.call('HGET', KEYS[1], 'requester') and redis.call('HGET', KEYS[1], 'allowSelf') ~= '1' then
  return {'refused', 'self'}
end
local approvals = cjson.decode(redis.call('HGET', KEYS[1], 'approvals'))
for _, a in ipairs(approvals) do
  if a.by.id == ARGV[1] then return {'refused', 'duplicate'} end
end
table.insert(approvals, cjson.decode(ARGV[3]))
redis.call('HSET', KEYS[1], 'approvals', cjson.encode(approvals))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[10], '*', 'event', ARGV[4])
redis.call('XADD', KEYS[3], '*', 'entry', ARGV[5])
if #approvals >= tonumber(redis.call('HGET', KEYS[1], 'required')) then
  redis.call('HSET', KEYS[1], 'state', 'approved')
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[10], '*', 'event', ARGV[6])
  return {'approved', #approvals}
end
return {'recorded', #approvals}
`;

const START_STEP = `
-- KEYS[1] run hash  KEYS[2] events stream  KEYS[3] audit stream
-- ARGV[1] owner  ARGV[2] '1' to refuse when a cancel is requested  ARGV[3] event JSONs, one per line
-- ARGV[4] audit JSONs, one per line, or ''  ARGV[5] events maxlen  ARGV[6] prior field, value pairs, one per line
-- (an earlier step's success, written with this start)  ARGV[7] step field  ARGV[8] step record JSON
-- ARGV[9..] prefixes of the fields to return
-- Returns {1, field, value, field, value, ...} or {0, current state | 'missing' | 'not_owner' | 'cancel_requested'}
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {0, 'missing'} end
if cur ~= 'running' then return {0, cur} end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return {0, 'not_owner'} end
if ARGV[2] == '1' and redis.call('HEXISTS', KEYS[1], 'cancelRequested') == 1 then return {0, 'cancel_requested'} end
local prior = {}
for line in string.gmatch(ARGV[6], '[^\\n]+') do table.insert(prior, line) end
for i = 1, #prior, 2 do redis.call('HSET', KEYS[1], prior[i], prior[i + 1]) end
redis.call('HSET', KEYS[1], ARGV[7], ARGV[8])
for e in string.gmatch(ARGV[3], '[^\\n]+') do redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'event', e) end
for a in string.gmatch(ARGV[4], '[^\\n]+') do redis.call('XADD', KEYS[3], '*', 'entry', a) end
local out = {1}
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  for i = 9, #ARGV do
    if string.sub(name, 1, #ARGV[i]) == ARGV[i] then
      table.insert(out, name)
      table.insert(out, redis.call('HGET', KEYS[1], name))
      break
    end
  end
end
return out
`;

export type TransitionResult = { ok: true } | { ok: false; current: RunState | 'missing' | 'not_owner' };
export type ApproveResult =
  | { outcome: 'approved' | 'recorded'; count: number }
  | { outcome: 'refused'; reason: 'missing' | 'expired' | 'self' | 'duplicate' | RunState };

/** A step's start as stored: the run's fields under the prefixes asked for, or why it was refused. */
export type StartStepResult =
  | { ok: true; fields: Map<string, string> }
  | { ok: false; current: RunState | 'missing' | 'not_owner' | 'cancel_requested' };

export interface ChangeOptions {
  event?: Omit<RunEvent, 'runId' | 'at'>;
  audit?: { actor: Actor; action: string; detail?: string };
  /** Only the worker holding this token may make the change. */
  owner?: string;
  fields?: Record<string, string>;
  at?: number;
  /**
   * A change made earlier and not written yet (a step's success, held until the
   * next write of the run): written first, in the same script, with its own time.
   */
  prior?: PriorChange;
}

/** An earlier change carried by a later write (ChangeOptions.prior). */
export type PriorChange = Pick<ChangeOptions, 'event' | 'audit' | 'fields'> & { at: number };

type RunCommands = RedisConnection & {
  drTransition(k1: string, k2: string, k3: string, ...argv: string[]): Promise<[number, string]>;
  drApprove(k1: string, k2: string, k3: string, ...argv: string[]): Promise<[string, string | number]>;
  drStartStep(k1: string, k2: string, k3: string, ...argv: string[]): Promise<[number, ...string[]]>;
};

export class RunStore {
  private readonly redis: RunCommands;
  readonly prefix: string;

  constructor(redis: RedisConnection, prefix: string) {
    this.prefix = prefix;
    if (!('drTransition' in redis)) {
      redis.defineCommand('drTransition', { numberOfKeys: 3, lua: TRANSITION });
      redis.defineCommand('drApprove', { numberOfKeys: 3, lua: APPROVE });
      redis.defineCommand('drStartStep', { numberOfKeys: 3, lua: START_STEP });
    }
    this.redis = redis as RunCommands;
  }

  /** The connection, for scripts of the run's hash kept beside this file (gates.ts). */
  get connection(): RedisConnection {
    return this.redis;
  }

  runKey(id: string): string {
    return `${this.prefix}:run:${id}`;
  }
  get eventsKey(): string {
    return `${this.prefix}:run-events`;
  }
  auditKey(id: string): string {
    return `${this.prefix}:audit:${id}`;
  }
  private get indexKey(): string {
    return `${this.prefix}:runs`;
  }

  /** Writes a new run in its first state, with its creation events and audit entries (and the approvals it was created with: a schedule's), in one transaction. */
  async create(doc: RunDoc, state: RunState, events: Omit<RunEvent, 'runId' | 'at'>[], audits: Omit<AuditEntry, 'at'>[], approvals: readonly Decision[] = []): Promise<void> {
    const at = doc.createdAt;
    const multi = this.redis.multi();
    multi.hset(this.runKey(doc.id), {
      state,
      doc: JSON.stringify(doc),
      approvals: JSON.stringify(approvals),
      expiresAt: String(doc.expiresAt),
      requester: doc.requester.id,
      allowSelf: doc.policy.allowSelfApproval ? '1' : '0',
      required: String(doc.policy.required),
      ...Object.fromEntries(doc.plan.map((p) => [`step:${p.stepId}`, JSON.stringify({ state: 'pending', attempts: 0 })])),
    });
    multi.zadd(this.indexKey, at, doc.id);
    for (const e of events) multi.xadd(this.eventsKey, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'event', JSON.stringify({ ...e, runId: doc.id, at }));
    for (const a of audits) multi.xadd(this.auditKey(doc.id), '*', 'entry', JSON.stringify({ ...a, at }));
    await multi.exec();
  }

  async get(id: string): Promise<Run | undefined> {
    if (!/^[\w-]{1,64}$/.test(id)) return undefined;
    const h = await this.redis.hgetall(this.runKey(id));
    if (!h.doc || !h.state) return undefined;
    const doc = RunDocSchema.parse(JSON.parse(h.doc));
    const steps: Record<string, StepRecord> = {};
    for (const p of doc.plan) {
      const raw = h[`step:${p.stepId}`];
      steps[p.stepId] = raw ? StepRecordSchema.parse(JSON.parse(raw)) : { state: 'pending', attempts: 0 };
    }
    const run: Run = {
      ...doc,
      state: h.state as RunState,
      approvals: DecisionSchema.array().parse(JSON.parse(h.approvals ?? '[]')),
      steps,
    };
    if (h.decision) run.decision = DecisionSchema.parse(JSON.parse(h.decision));
    if (h.cancelRequested) run.cancelRequested = DecisionSchema.parse(JSON.parse(h.cancelRequested));
    if (h.startedAt) run.startedAt = Number(h.startedAt);
    if (h.finishedAt) run.finishedAt = Number(h.finishedAt);
    if (h.failure) run.failure = JSON.parse(h.failure) as { stepId?: string; message: string };
    if (h.ending) run.ending = RunEndingSchema.parse(JSON.parse(h.ending));
    if (h.message) run.message = JSON.parse(h.message) as { channel: string; ts: string };
    const gate = parseGate(h.gate);
    if (gate) run.gate = gate;
    return run;
  }

  /** Remembers the Slack message that shows the run, for live updates. */
  async setMessage(id: string, message: { channel: string; ts: string }): Promise<void> {
    await this.redis.hset(this.runKey(id), 'message', JSON.stringify(message));
  }

  /**
   * True the first time it is called for this key: makes a notification that
   * must go out once (a threaded "run failed") idempotent across retries.
   */
  async once(key: string, ttlSeconds = 7 * 24 * 3_600): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}:once:${key}`, '1', 'EX', ttlSeconds, 'NX')) === 'OK';
  }

  /** Whether `once(key)` was claimed (and not given back), without claiming it. */
  async claimed(key: string): Promise<boolean> {
    return (await this.redis.exists(`${this.prefix}:once:${key}`)) === 1;
  }

  /** Gives a `once(key)` claim back, when what it guarded did not happen (a retry may then do it). */
  async release(key: string): Promise<void> {
    await this.redis.del(`${this.prefix}:once:${key}`);
  }

  async owner(id: string): Promise<string | null> {
    return this.redis.hget(this.runKey(id), 'owner');
  }

  /** One field of the run's hash (the engine's park marker, a step's checkpoints and waits: engine/park.ts). */
  async field(id: string, name: string): Promise<string | null> {
    return this.redis.hget(this.runKey(id), name);
  }

  /** One step's record, without reading (and parsing) the whole run: the engine reads it after every step. */
  async step(id: string, stepId: string): Promise<StepRecord> {
    const raw = await this.redis.hget(this.runKey(id), `step:${stepId}`);
    return raw ? StepRecordSchema.parse(JSON.parse(raw)) : { state: 'pending', attempts: 0 };
  }

  /** Newest first. */
  async list(limit = 20): Promise<Run[]> {
    const ids = await this.redis.zrevrange(this.indexKey, 0, limit - 1);
    const runs = await Promise.all(ids.map((id) => this.get(id)));
    return runs.filter((r): r is Run => r !== undefined);
  }

  /** Ids of the runs created at `since` (epoch ms) or later, oldest first. */
  async idsSince(since: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.indexKey, since, '+inf');
  }

  /** Moves the run to `to` if its current state may precede it (see TRANSITIONS). */
  async transition(id: string, to: RunState, options: ChangeOptions = {}): Promise<TransitionResult> {
    return this.change(id, to, statesBefore(to), options);
  }

  /** Changes fields without changing state, only while the run is in `state` (and owned, if `owner` is given). */
  async update(id: string, state: RunState, options: ChangeOptions): Promise<TransitionResult> {
    return this.change(id, state, [state], options);
  }

  async setStep(id: string, stepId: string, record: StepRecord, options: ChangeOptions): Promise<TransitionResult> {
    return this.update(id, 'running', { ...options, fields: { ...options.fields, [`step:${stepId}`]: JSON.stringify(record) } });
  }

  /**
   * Records a step's start as the run's owner, in one script that also reads
   * what the step needs next: refused (nothing written) when the run has
   * another owner or, with `refuseOnCancel`, when a cancel is requested; and
   * returns the run's fields whose names start with one of `prefixes` (the
   * step's checkpoints and waits), so the step reads them without a round trip.
   */
  async startStep(
    id: string,
    stepId: string,
    record: StepRecord,
    options: {
      owner: string;
      refuseOnCancel: boolean;
      event: Omit<RunEvent, 'runId' | 'at'>;
      audit?: ChangeOptions['audit'];
      at: number;
      prefixes: string[];
      prior?: PriorChange;
    },
  ): Promise<StartStepResult> {
    const { at } = options;
    const [ok, ...rest] = await this.redis.drStartStep(
      this.runKey(id),
      this.eventsKey,
      this.auditKey(id),
      options.owner,
      options.refuseOnCancel ? '1' : '',
      eventLines(id, [options.prior, { event: options.event, at }]),
      auditLines([options.prior, { audit: options.audit, at }]),
      String(EVENTS_MAXLEN),
      priorFieldLines(options.prior),
      `step:${stepId}`,
      JSON.stringify(record),
      ...options.prefixes,
    );
    if (ok !== 1) return { ok: false, current: rest[0] as RunState | 'missing' | 'not_owner' | 'cancel_requested' };
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < rest.length; i += 2) fields.set(rest[i] as string, rest[i + 1] as string);
    return { ok: true, fields };
  }

  private async change(id: string, to: RunState, from: readonly RunState[], options: ChangeOptions): Promise<TransitionResult> {
    const at = options.at ?? Date.now();
    const parts = [options.prior, { ...options, at }];
    const fields = Object.entries({ ...options.prior?.fields, ...options.fields }).flat();
    const [ok, state] = await this.redis.drTransition(
      this.runKey(id),
      this.eventsKey,
      this.auditKey(id),
      to,
      from.join(','),
      eventLines(id, parts),
      auditLines(parts),
      options.owner ?? '',
      String(EVENTS_MAXLEN),
      ...fields,
    );
    return ok === 1 ? { ok: true } : { ok: false, current: state as RunState | 'missing' | 'not_owner' };
  }

  /**
   * Records one approval atomically: refuses when the run is not awaiting
   * approval, has expired (and marks it expired), the approver is the requester
   * (unless allowed), or already approved. Authorization (who may approve) is
   * checked by the caller before.
   */
  async approve(id: string, approver: Actor, at = Date.now()): Promise<ApproveResult> {
    const approval: Decision = { by: approver, at };
    const expired: Decision = { by: { id: 'system', name: 'dr-chatops', via: 'system' }, at, reason: 'the approval request expired' };
    const [outcome, value] = await this.redis.drApprove(
      this.runKey(id),
      this.eventsKey,
      this.auditKey(id),
      approver.id,
      String(at),
      JSON.stringify(approval),
      JSON.stringify({ type: 'run.approval', runId: id, at, actor: approver }),
      JSON.stringify({ at, actor: approver, action: 'approved' }),
      JSON.stringify({ type: 'run.approved', runId: id, at, actor: approver }),
      JSON.stringify({ type: 'run.expired', runId: id, at }),
      JSON.stringify({ at, actor: expired.by, action: 'expired', detail: 'approval was attempted after the request expired' }),
      JSON.stringify(expired),
      String(EVENTS_MAXLEN),
    );
    if (outcome === 'refused') return { outcome, reason: String(value) as Extract<ApproveResult, { outcome: 'refused' }>['reason'] };
    return { outcome: outcome as 'approved' | 'recorded', count: Number(value) };
  }

  async appendAudit(id: string, entry: Omit<AuditEntry, 'at'>, at = Date.now()): Promise<void> {
    await this.redis.xadd(this.auditKey(id), '*', 'entry', JSON.stringify({ ...entry, at }));
  }

  async audit(id: string): Promise<AuditEntry[]> {
    const entries = await this.redis.xrange(this.auditKey(id), '-', '+');
    return entries.map(([, fields]) => AuditEntrySchema.parse(JSON.parse(fields[1] ?? '{}')));
  }

  /** Cheap check the executing worker polls while a step runs. */
  async isCancelRequested(id: string): Promise<boolean> {
    return (await this.redis.hexists(this.runKey(id), 'cancelRequested')) === 1;
  }
}

/** The events of changes, in order, one JSON per line (JSON.stringify never writes a raw newline). */
function eventLines(runId: string, changes: (PriorChange | undefined)[]): string {
  return changes.flatMap((c) => (c?.event ? [JSON.stringify({ ...c.event, runId, at: c.at })] : [])).join('\n');
}

/** The audit entries of changes, in order, one JSON per line. */
function auditLines(changes: (PriorChange | undefined)[]): string {
  return changes.flatMap((c) => (c?.audit ? [JSON.stringify({ ...c.audit, at: c.at })] : [])).join('\n');
}

/** A prior change's fields as the start script reads them: name and value on lines of their own (so neither may be empty or hold a newline). */
function priorFieldLines(prior: PriorChange | undefined): string {
  const flat = Object.entries(prior?.fields ?? {}).flat();
  if (flat.some((v) => v === '' || v.includes('\n'))) throw new Error('a prior change written with a step start cannot hold an empty or multi-line field');
  return flat.join('\n');
}
