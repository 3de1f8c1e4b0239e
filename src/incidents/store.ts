import type { Redis } from 'ioredis';
import { type Incident, IncidentSchema, type IncidentState, INCIDENT_TRANSITIONS, type TimelineEntry, TimelineEntrySchema } from './model.ts';

const TRANSITION = `
-- KEYS[1] incident hash  KEYS[2] timeline stream
-- ARGV[1] new state  ARGV[2] allowed current states (comma separated)  ARGV[3] timeline entry JSON  ARGV[4..] field, value pairs
-- Returns {1, new} or {0, current | 'missing'}
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {0, 'missing'} end
local ok = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == cur then ok = true end end
if not ok then return {0, cur} end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('XADD', KEYS[2], '*', 'entry', ARGV[3])
return {1, ARGV[1]}
`;

type Commands = Redis & { drIncidentTransition(k1: string, k2: string, ...argv: string[]): Promise<[number, string]> };

/** Incidents in Redis: one hash each, a channel → incident index, an append-only timeline stream. */
export class IncidentStore {
  private readonly redis: Commands;
  private readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.prefix = prefix;
    if (!('drIncidentTransition' in redis)) redis.defineCommand('drIncidentTransition', { numberOfKeys: 2, lua: TRANSITION });
    this.redis = redis as Commands;
  }

  private key(id: string): string {
    return `${this.prefix}:incident:${id}`;
  }
  private timelineKey(id: string): string {
    return `${this.prefix}:incident-timeline:${id}`;
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
    const { state, currentStatus, runs, ...rest } = doc;
    await this.redis
      .multi()
      .hset(this.key(doc.id), { doc: JSON.stringify(IncidentSchema.parse(rest)), state, currentStatus, runs: JSON.stringify(runs) })
      .set(this.channelKey(doc.originChannel), doc.id, 'NX')
      .zadd(`${this.prefix}:incidents`, doc.startedAt, doc.id)
      .xadd(this.timelineKey(doc.id), '*', 'entry', JSON.stringify(entry))
      .exec();
    return { id: doc.id, created: true };
  }

  async get(id: string): Promise<Incident | undefined> {
    const h = await this.redis.hgetall(this.key(id));
    if (!h.doc || !h.state) return undefined;
    const incident: Incident = {
      ...IncidentSchema.parse(JSON.parse(h.doc)),
      state: h.state as IncidentState,
      currentStatus: h.currentStatus ?? '',
      runs: JSON.parse(h.runs ?? '[]') as string[],
    };
    if (h.resolvedAt) incident.resolvedAt = Number(h.resolvedAt);
    if (h.channelId) incident.channelId = h.channelId;
    if (h.summaryTs) incident.summaryTs = h.summaryTs;
    if (h.restorePoint) incident.restorePoint = h.restorePoint;
    return incident;
  }

  /** The incident whose channel this is (its own channel, or where it was declared). */
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

  async transition(id: string, to: IncidentState, entry: TimelineEntry, fields: Record<string, string>): Promise<{ ok: true } | { ok: false; current: string }> {
    const from = (Object.keys(INCIDENT_TRANSITIONS) as IncidentState[]).filter((s) => INCIDENT_TRANSITIONS[s].includes(to));
    const [ok, state] = await this.redis.drIncidentTransition(this.key(id), this.timelineKey(id), to, from.join(','), JSON.stringify(entry), ...Object.entries(fields).flat());
    return ok === 1 ? { ok: true } : { ok: false, current: state };
  }

  async addRun(id: string, runId: string, entry: TimelineEntry): Promise<void> {
    const incident = await this.get(id);
    if (!incident || incident.runs.includes(runId)) return;
    await this.redis.multi().hset(this.key(id), 'runs', JSON.stringify([...incident.runs, runId])).xadd(this.timelineKey(id), '*', 'entry', JSON.stringify(entry)).exec();
  }

  async appendTimeline(id: string, entry: TimelineEntry): Promise<void> {
    await this.redis.xadd(this.timelineKey(id), '*', 'entry', JSON.stringify(entry));
  }

  async timeline(id: string): Promise<TimelineEntry[]> {
    const entries = await this.redis.xrange(this.timelineKey(id), '-', '+');
    return entries.map(([, f]) => TimelineEntrySchema.parse(JSON.parse(f[1] ?? '{}')));
  }
}
