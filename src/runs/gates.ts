import type { RedisConnection } from '../queue/connection.ts';
import { PARKED_FIELD, parseParkMarker } from '../engine/park.ts';
import { newRunId } from '../util/ids.ts';
import type { GateAccess, GateAnswer } from '../steps/gate-access.ts';
import { acceptedBy, type Gate, type GateChoice, parseGate } from './gate-model.ts';
import { type Actor, SYSTEM_ACTOR } from './model.ts';
import type { RunStore } from './store.ts';

/**
 * Run-time gates in the run's hash (field `gate`, gate-model.ts). Opening is
 * an ordinary fenced write of the executing worker; a vote and the expiry are
 * scripts, so Redis checks and changes the gate at once: a double click, two
 * people at once, or a vote racing the timeout change it once.
 */

/** Keep in step with RunStore's trim of the events stream. */
const EVENTS_MAXLEN = 100_000;

const DECIDE = `
-- KEYS[1] run hash  KEYS[2] events stream  KEYS[3] audit stream
-- ARGV[1] gate id  ARGV[2] decider id  ARGV[3] now (ms)  ARGV[4] vote JSON  ARGV[5] events maxlen  ARGV[6] run id
-- Returns {'accepted'|'refused'|'recorded', accepts, gate JSON} or {'no', reason}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'no', 'missing'} end
local raw = redis.call('HGET', KEYS[1], 'gate')
if not raw or raw == '' then return {'no', 'no_gate'} end
local gate = cjson.decode(raw)
if gate.id ~= ARGV[1] then return {'no', 'stale'} end
if gate.state ~= 'open' then return {'no', gate.state} end
if state ~= 'running' then return {'no', state} end
-- The gate's step ended without it (a cancel, its timeout): nothing waits for an answer.
local step = redis.call('HGET', KEYS[1], 'step:' .. gate.stepId)
if redis.call('HEXISTS', KEYS[1], 'cancelRequested') == 1 or not step or cjson.decode(step).state ~= 'running' then return {'no', 'closed'} end
if tonumber(ARGV[3]) >= tonumber(gate.expiresAt) then return {'no', 'expired'} end
if ARGV[2] == redis.call('HGET', KEYS[1], 'requester') and redis.call('HGET', KEYS[1], 'allowSelf') ~= '1' then return {'no', 'self'} end
local votes = gate.votes
if type(votes) ~= 'table' then votes = {} end
for _, v in ipairs(votes) do
  if v.by.id == ARGV[2] then return {'no', 'duplicate'} end
end
local vote = cjson.decode(ARGV[4])
table.insert(votes, vote)
gate.votes = votes
local accepts = 0
for _, v in ipairs(votes) do
  if v.choice == 'accept' then accepts = accepts + 1 end
end
local outcome = 'recorded'
if vote.choice == 'refuse' then outcome = 'refused' elseif accepts >= tonumber(gate.required) then outcome = 'accepted' end
if outcome ~= 'recorded' then
  gate.state = outcome
  gate.decidedAt = tonumber(ARGV[3])
end
local out = cjson.encode(gate)
redis.call('HSET', KEYS[1], 'gate', out)
local who = vote.by.name or vote.by.id
local verb = 'accepted'
if vote.choice == 'refuse' then verb = 'refused' end
local tally = ''
if vote.choice == 'accept' then tally = ' (' .. accepts .. ' of ' .. gate.required .. ')' end
local reason = ''
if vote.reason then reason = ': ' .. vote.reason end
local detail = gate.stepId .. ': ' .. gate.question .. tally .. reason
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'event', cjson.encode({type = 'gate.decided', runId = ARGV[6], at = tonumber(ARGV[3]), stepId = gate.stepId, actor = vote.by, message = verb .. ' by ' .. who .. tally .. reason}))
redis.call('XADD', KEYS[3], '*', 'entry', cjson.encode({at = tonumber(ARGV[3]), actor = vote.by, action = 'gate ' .. verb, detail = detail}))
return {outcome, accepts, out}
`;

const EXPIRE = `
-- KEYS[1] run hash  KEYS[2] events stream  KEYS[3] audit stream
-- ARGV[1] gate id  ARGV[2] owner  ARGV[3] now (ms)  ARGV[4] event JSON  ARGV[5] audit JSON  ARGV[6] events maxlen
-- Returns {1, gate JSON} (expired now, or decided before) or {0, reason}
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then return {0, 'not_owner'} end
local raw = redis.call('HGET', KEYS[1], 'gate')
if not raw or raw == '' then return {0, 'no_gate'} end
local gate = cjson.decode(raw)
if gate.id ~= ARGV[1] then return {0, 'stale'} end
if gate.state ~= 'open' then return {1, raw} end
gate.state = 'expired'
gate.decidedAt = tonumber(ARGV[3])
local out = cjson.encode(gate)
redis.call('HSET', KEYS[1], 'gate', out)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'event', ARGV[4])
redis.call('XADD', KEYS[3], '*', 'entry', ARGV[5])
return {1, out}
`;

type GateCommands = RedisConnection & {
  drGateDecide(k1: string, k2: string, k3: string, ...argv: string[]): Promise<[string, string | number, string?]>;
  drGateExpire(k1: string, k2: string, k3: string, ...argv: string[]): Promise<[number, string]>;
};

/** What a gate is opened with (the step's parameters, bound). */
export type GateSpec = Pick<Gate, 'stepId' | 'question' | 'facts' | 'required' | 'choices' | 'onTimeout' | 'expiresAt'>;

export type DecideResult =
  | { outcome: 'accepted' | 'refused' | 'recorded'; accepts: number; gate: Gate }
  /** Why nothing changed: missing, no_gate, stale (a newer gate), closed (its step ended), expired, self, duplicate, the gate's state, or the run's. */
  | { outcome: 'no'; reason: string };

export class GateStore {
  private readonly store: RunStore;
  private readonly redis: GateCommands;

  constructor(store: RunStore) {
    this.store = store;
    const redis = store.connection;
    if (!('drGateDecide' in redis)) {
      redis.defineCommand('drGateDecide', { numberOfKeys: 3, lua: DECIDE });
      redis.defineCommand('drGateExpire', { numberOfKeys: 3, lua: EXPIRE });
    }
    this.redis = redis as GateCommands;
  }

  /**
   * Opens a gate as the run's executing worker (fenced by its token): the
   * field, a `gate.opened` event (the Slack message shows it) and the audit.
   * False when the worker no longer owns the run.
   */
  async open(runId: string, owner: string, spec: GateSpec, at = Date.now()): Promise<Gate | undefined> {
    const gate: Gate = { ...spec, id: newRunId().replace(/^r/, 'g'), openedAt: at, state: 'open', votes: [] };
    const res = await this.store.update(runId, 'running', {
      owner,
      fields: { gate: JSON.stringify(gate) },
      event: { type: 'gate.opened', stepId: spec.stepId, message: spec.question },
      audit: { actor: SYSTEM_ACTOR, action: 'gate opened', detail: `${spec.stepId}: ${spec.question}${spec.facts.length ? ` (${spec.facts.join('; ')})` : ''}` },
      at,
    });
    return res.ok ? gate : undefined;
  }

  async get(runId: string): Promise<Gate | undefined> {
    return parseGate(await this.store.field(runId, 'gate'));
  }

  /** One person's answer; who may answer is checked by the caller (RunService.decideGate). */
  async decide(runId: string, gateId: string, by: Actor, choice: GateChoice, reason: string | undefined, at = Date.now()): Promise<DecideResult> {
    const vote = { by, choice, at, ...(reason ? { reason } : {}) };
    const [outcome, value, raw] = await this.redis.drGateDecide(
      this.store.runKey(runId), this.store.eventsKey, this.store.auditKey(runId),
      gateId, by.id, String(at), JSON.stringify(vote), String(EVENTS_MAXLEN), runId,
    );
    if (outcome === 'no') return { outcome, reason: String(value) };
    const gate = parseGate(raw);
    if (!gate) throw new Error(`the gate of run ${runId} could not be read back`);
    return { outcome: outcome as 'accepted' | 'refused' | 'recorded', accepts: Number(value), gate };
  }

  /** Closes an open gate as expired (fenced); returns the gate as it ended (a decision that came first stands). */
  async expire(runId: string, gateId: string, owner: string, at = Date.now()): Promise<Gate | 'not_owner' | undefined> {
    const gate = await this.get(runId);
    const [ok, value] = await this.redis.drGateExpire(
      this.store.runKey(runId), this.store.eventsKey, this.store.auditKey(runId),
      gateId, owner, String(at),
      JSON.stringify({ type: 'gate.decided', runId, at, ...(gate ? { stepId: gate.stepId } : {}), message: 'nobody decided in time' }),
      JSON.stringify({ at, actor: SYSTEM_ACTOR, action: 'gate expired', detail: `${gate?.stepId ?? ''}: nobody decided in time` }),
      String(EVENTS_MAXLEN),
    );
    if (ok !== 1) return value === 'not_owner' ? 'not_owner' : undefined;
    return parseGate(value);
  }

  /** Whether the run is parked in a gate already decided: its job is to be woken (the decision came while the look was parking). */
  async decidedWhileParked(runId: string): Promise<boolean> {
    const [gate, parked] = await Promise.all([this.get(runId), this.store.field(runId, PARKED_FIELD)]);
    return gate !== undefined && gate.state !== 'open' && gate.stepId === parseParkMarker(parked)?.stepId;
  }
}

/** How a step sees a gate's state. */
export function answerOf(gate: Gate | undefined): GateAnswer {
  if (!gate || gate.state === 'open') return { state: 'open' };
  if (gate.state === 'expired') return { state: 'expired' };
  if (gate.state === 'accepted') return { state: 'accepted', by: acceptedBy(gate) };
  const refusal = gate.votes.find((v) => v.choice === 'refuse');
  return { state: 'refused', by: refusal ? (refusal.by.name ?? refusal.by.id) : 'someone', ...(refusal?.reason ? { reason: refusal.reason } : {}) };
}

/** The gates as one step of one execution sees them (StepContext.gate): writes fenced by the worker's token. */
export function gateAccess(store: RunStore, runId: string, stepId: string, owner: string, now: () => number): GateAccess {
  const gates = new GateStore(store);
  const lost = () => new Error('another worker took the run over');
  return {
    async open(request) {
      const gate = await gates.open(runId, owner, { ...request, stepId }, now());
      if (!gate) throw lost();
      return { id: gate.id, expiresAt: gate.expiresAt };
    },
    async look(gateId) {
      const gate = await gates.get(runId);
      // Replaced by a newer gate of this step (opened again after a crash): that one is asked now.
      return gate?.id === gateId ? answerOf(gate) : { state: 'open' };
    },
    async expire(gateId) {
      const gate = await gates.expire(runId, gateId, owner, now());
      if (gate === 'not_owner') throw lost();
      return answerOf(gate);
    },
  };
}
