import type { RedisConnection } from '../queue/connection.ts';
import { type Check, CheckSchema, type DeclareForm, DeclareFormSchema, type Incident, IncidentSchema, type IncidentState, INCIDENT_TRANSITIONS, type TimelineEntry, TimelineEntrySchema } from './model.ts';

const TRANSITION = `
-- KEYS[1] incident hash  KEYS[2] timeline stream  KEYS[3] open incidents set
-- ARGV[1] new state  ARGV[2] allowed current states (comma separated)  ARGV[3] timeline entry JSON  ARGV[4..] field, value pairs
-- Returns {1, new} or {0, current | 'missing'}
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {0, 'missing'} end
local ok = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == cur then ok = true end end
if not ok then return {0, cur} end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
-- Reopened: no longer resolved, and the clock keeps its summary current again.
if cur == 'resolved' then redis.call('HDEL', KEYS[1], 'resolvedAt') end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('XADD', KEYS[2], '*', 'entry', ARGV[3])
if ARGV[1] == 'resolved' then redis.call('SREM', KEYS[3], redis.call('HGET', KEYS[1], 'id'))
else redis.call('SADD', KEYS[3], redis.call('HGET', KEYS[1], 'id')) end
return {1, ARGV[1]}
`;

const PUBLISH = `
-- KEYS[1] incident hash  KEYS[2] timeline stream  ARGV[1] by  ARGV[2] at  ARGV[3] timeline entry JSON
-- Returns {1} the first time, else {0, publication, by, at}
local cur = redis.call('HGET', KEYS[1], 'publication')
if cur ~= 'held' then
  return {0, cur or '', redis.call('HGET', KEYS[1], 'publishedBy') or '', redis.call('HGET', KEYS[1], 'publishedAt') or ''}
end
redis.call('HSET', KEYS[1], 'publication', 'published', 'publishedBy', ARGV[1], 'publishedAt', ARGV[2])
redis.call('XADD', KEYS[2], '*', 'entry', ARGV[3])
return {1}
`;

const UNCHECK = `
-- KEYS[1] checklist hash  ARGV[1] item.  Returns 1 unticked, 0 not ticked, -1 ticked by the bot (stays).
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
if string.find(cur, '"auto":true', 1, true) then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`;

const APPEND_ONCE = `
-- KEYS[1] incident hash  KEYS[2] timeline stream  ARGV[1] done-field  ARGV[2] entry JSON  ARGV[3] now
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'entry', ARGV[2])
return 1
`;

type Commands = RedisConnection & {
  drIncidentAppendOnce(k1: string, k2: string, field: string, entry: string, now: string): Promise<number>;
  drIncidentTransition(k1: string, k2: string, k3: string, ...argv: string[]): Promise<[number, string]>;
  drIncidentPublish(k1: string, k2: string, by: string, at: string, entry: string): Promise<[number, string?, string?, string?]>;
  drIncidentUncheck(k1: string, item: string): Promise<number>;
};


/** Incidents in Redis: one hash each, a channel → incident index, an append-only timeline stream. */
export class IncidentStore {
  private readonly redis: Commands;
  private readonly prefix: string;

  constructor(redis: RedisConnection, prefix: string) {
    this.prefix = prefix;
    if (!('drIncidentTransition' in redis)) {
      redis.defineCommand('drIncidentTransition', { numberOfKeys: 3, lua: TRANSITION });
      redis.defineCommand('drIncidentAppendOnce', { numberOfKeys: 2, lua: APPEND_ONCE });
    }
    if (!('drIncidentPublish' in redis)) {
      redis.defineCommand('drIncidentPublish', { numberOfKeys: 2, lua: PUBLISH });
      redis.defineCommand('drIncidentUncheck', { numberOfKeys: 1, lua: UNCHECK });
    }
    this.redis = redis as Commands;
  }

  private key(id: string): string {
    return `${this.prefix}:incident:${id}`;
  }
  private timelineKey(id: string): string {
    return `${this.prefix}:incident-timeline:${id}`;
  }
  private get openKey(): string {
    return `${this.prefix}:incidents-open`;
  }
  private runsKey(id: string): string {
    return `${this.prefix}:incident-runs:${id}`;
  }
  private checklistKey(id: string, list: string): string {
    return `${this.prefix}:incident-checklist:${id}:${list}`;
  }
  private channelKey(channel: string): string {
    return `${this.prefix}:incident-channel:${channel}`;
  }

  /**
   * Creates the incident unless `dedupeKey` (Slack's trigger id) already made
   * one; returns the id that holds, so a retried command declares once.
   */
  async create(doc: Incident, dedupeKey: string, entry: TimelineEntry): Promise<{ id: string; created: boolean }> {
    const claimed = await this.redis.set(`${this.prefix}:declare:${dedupeKey}`, doc.id, 'EX', 24 * 3_600, 'NX');
    if (claimed !== 'OK') return { id: (await this.redis.get(`${this.prefix}:declare:${dedupeKey}`)) ?? doc.id, created: false };
    const { state, currentStatus } = doc;
    await this.redis
      .multi()
      .hset(this.key(doc.id), { id: doc.id, doc: JSON.stringify(IncidentSchema.parse(doc)), state, currentStatus, ...(doc.publication ? { publication: doc.publication } : {}) })
      .sadd(this.openKey, doc.id)
      .set(this.channelKey(doc.originChannel), doc.id, 'NX')
      .zadd(`${this.prefix}:incidents`, doc.startedAt, doc.id)
      .xadd(this.timelineKey(doc.id), '*', 'entry', JSON.stringify(entry))
      .exec();
    return { id: doc.id, created: true };
  }

  /** What a declaration form was opened with (who, from where), kept here rather than in the form. */
  async saveDeclareForm(formId: string, form: DeclareForm, ttlMs: number): Promise<void> {
    await this.redis.set(`${this.prefix}:declare-form:${formId}`, JSON.stringify(DeclareFormSchema.parse(form)), 'PX', ttlMs);
  }

  async declareForm(formId: string): Promise<DeclareForm | undefined> {
    const raw = await this.redis.get(`${this.prefix}:declare-form:${formId}`);
    return raw ? DeclareFormSchema.parse(JSON.parse(raw)) : undefined;
  }

  async get(id: string): Promise<Incident | undefined> {
    const [h, runs] = await Promise.all([this.redis.hgetall(this.key(id)), this.redis.zrange(this.runsKey(id), 0, -1)]);
    if (!h.doc || !h.state) return undefined;
    const incident: Incident = {
      ...IncidentSchema.parse(JSON.parse(h.doc)),
      state: h.state as IncidentState,
      currentStatus: h.currentStatus ?? '',
      runs,
    };
    if (h.resolvedAt) incident.resolvedAt = Number(h.resolvedAt);
    if (h.channelId) incident.channelId = h.channelId;
    if (h.summaryTs) incident.summaryTs = h.summaryTs;
    if (h.restorePoint) incident.restorePoint = h.restorePoint;
    if (h.publication === 'held' || h.publication === 'published') incident.publication = h.publication;
    if (h.publishedBy) incident.publishedBy = h.publishedBy;
    if (h.publishedAt) incident.publishedAt = Number(h.publishedAt);
    return incident;
  }

  /**
   * The incident whose channel this is (its own channel, or where it was
   * declared). For reads: changes check `channelId` against the channel.
   */
  async byChannel(channel: string): Promise<Incident | undefined> {
    const id = await this.redis.get(this.channelKey(channel));
    return id ? this.get(id) : undefined;
  }

  async setField(id: string, field: 'channelId' | 'summaryTs' | 'restorePoint', value: string): Promise<void> {
    await this.redis.hset(this.key(id), field, value);
    if (field === 'channelId') await this.redis.set(this.channelKey(value), id);
  }

  /** A setup step done once (channel created, summary pinned…): true the first time. */
  async markDone(id: string, step: string): Promise<boolean> {
    return (await this.redis.hsetnx(this.key(id), `done:${step}`, String(Date.now()))) === 1;
  }

  async isDone(id: string, step: string): Promise<boolean> {
    return (await this.redis.hexists(this.key(id), `done:${step}`)) === 1;
  }

  /**
   * Moves the incident to `to` if its current state allows it (and is one of
   * `onlyFrom`, when given): checked and written in one step.
   */
  async transition(id: string, to: IncidentState, entry: TimelineEntry, fields: Record<string, string>, onlyFrom?: readonly IncidentState[]): Promise<{ ok: true } | { ok: false; current: string }> {
    const from = (Object.keys(INCIDENT_TRANSITIONS) as IncidentState[]).filter((s) => INCIDENT_TRANSITIONS[s].includes(to) && (!onlyFrom || onlyFrom.includes(s)));
    const [ok, state] = await this.redis.drIncidentTransition(this.key(id), this.timelineKey(id), this.openKey, to, from.join(','), JSON.stringify(entry), ...Object.entries(fields).flat());
    return ok === 1 ? { ok: true } : { ok: false, current: state };
  }

  /** Links a run to the incident (in request order); idempotent. */
  async addRun(id: string, runId: string, createdAt: number): Promise<void> {
    await this.redis.zadd(this.runsKey(id), 'NX', createdAt, runId);
  }

  /** Appends to the timeline once per `key`, however often a redelivered event asks. */
  async appendOnce(id: string, key: string, entry: TimelineEntry): Promise<boolean> {
    return (await this.redis.drIncidentAppendOnce(this.key(id), this.timelineKey(id), `done:timeline:${key}`, JSON.stringify(entry), String(Date.now()))) === 1;
  }

  /** Ticks (or unticks) a checklist item; false when it already was, or is ticked by the bot (which stays). */
  async setCheck(id: string, list: string, item: number, check: Check | null): Promise<boolean> {
    const key = this.checklistKey(id, list);
    if (check) return (await this.redis.hsetnx(key, String(item), JSON.stringify(CheckSchema.parse(check)))) === 1;
    return (await this.redis.drIncidentUncheck(key, String(item))) === 1;
  }

  /**
   * Records the publisher's confirmation of the first status page post, once:
   * true the first time; otherwise what holds (who published, and when).
   */
  async markPublished(id: string, by: string, entry: TimelineEntry): Promise<{ first: true } | { first: false; publication?: string; by?: string; at?: number }> {
    const [first, publication, who, at] = await this.redis.drIncidentPublish(this.key(id), this.timelineKey(id), by, String(entry.at), JSON.stringify(entry));
    if (first === 1) return { first: true };
    return { first: false, ...(publication ? { publication } : {}), ...(who ? { by: who } : {}), ...(at ? { at: Number(at) } : {}) };
  }

  async checks(id: string, list: string): Promise<Map<number, Check>> {
    const h = await this.redis.hgetall(this.checklistKey(id, list));
    return new Map(Object.entries(h).map(([k, v]) => [Number(k), CheckSchema.parse(JSON.parse(v))]));
  }

  /** Where a message of this incident was posted (checklists), to update it later. */
  async setMessageTs(id: string, name: string, ts: string): Promise<void> {
    await this.redis.hset(this.key(id), `ts:${name}`, ts);
  }

  async messageTs(id: string, name: string): Promise<string | undefined> {
    return (await this.redis.hget(this.key(id), `ts:${name}`)) ?? undefined;
  }

  /** Incidents not resolved yet, for the clock that keeps their summaries current. */
  async openIds(): Promise<string[]> {
    return this.redis.smembers(this.openKey);
  }

  async appendTimeline(id: string, entry: TimelineEntry): Promise<void> {
    await this.redis.xadd(this.timelineKey(id), '*', 'entry', JSON.stringify(entry));
  }

  async timeline(id: string): Promise<TimelineEntry[]> {
    const entries = await this.redis.xrange(this.timelineKey(id), '-', '+');
    return entries.map(([, f]) => TimelineEntrySchema.parse(JSON.parse(f[1] ?? '{}')));
  }
}
