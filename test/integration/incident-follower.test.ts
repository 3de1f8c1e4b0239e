import { Queue } from 'bullmq';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentRunFollower } from '../../src/incidents/run-follower.ts';
import { IncidentService } from '../../src/incidents/service.ts';
import { IncidentStore } from '../../src/incidents/store.ts';
import { Templates } from '../../src/incidents/templates.ts';
import { loadRunbooks } from '../../src/runbooks/load.ts';
import { RunEventSchema } from '../../src/runs/model.ts';
import { buildRegistry } from '../../src/steps/registry.ts';
import { PageUpdateSchema, StatuspageOutbox } from '../../src/statuspage/outbox.ts';
import { QUEUE_NAMES } from '../../src/queue/names.ts';
import { ALICE, startTestEngine, type TestEngine } from '../support/engine.ts';
import { ANYONE_DECLARES } from '../support/incident-worker.ts';

const TEMPLATES = fileURLToPath(new URL('../../templates/', import.meta.url));

/**
 * Run events are delivered at least once (a consumer that crashes before its
 * ack gets them again): the incident must still see each once.
 */
describe('the incident follower: each run event counts once', () => {
  let engine: TestEngine;
  let incidents: IncidentStore;
  let service: IncidentService;
  let outbox: StatuspageOutbox;
  let queue: Queue;
  let follower: IncidentRunFollower;

  beforeAll(async () => {
    const commands = mkdtempSync(join(tmpdir(), 'commands-'));
    writeFileSync(
      join(commands, 'heal.yaml'),
      'id: heal\ntitle: Heal the service\napproval: { required: 0 }\nstatus:\n  running: We are applying a fix.\n  succeeded: The fix is in place.\n  components: { succeeded: operational }\nsteps:\n  - { id: pause, use: wait, with: { seconds: 0 } }\n',
    );
    engine = await startTestEngine({ commandsDir: commands });
    incidents = new IncidentStore(engine.redis, engine.prefix);
    queue = new Queue(QUEUE_NAMES.incidents, { connection: engine.redis, prefix: engine.prefix });
    outbox = new StatuspageOutbox(engine.redis, engine.prefix, engine.logger);
    service = new IncidentService({
      store: incidents,
      queue,
      outbox,
      templates: Templates.load(TEMPLATES),
      components: { api: 'cmpapi0001' },
      publicSeverities: ['sev1'],
      readRuns: async (ids) => (await Promise.all(ids.map((id) => engine.store.get(id)))).filter((r) => r !== undefined),
      logger: engine.logger,
    });
    follower = new IncidentRunFollower({
      eventsRedis: engine.redis,
      runs: engine.store,
      incidents,
      service,
      runbooks: loadRunbooks(commands, buildRegistry()),
      consumerName: 'test',
      logger: engine.logger,
    });
  });
  afterAll(async () => {
    await queue.close();
    await outbox.close();
    await engine.stop();
  });

  it('a redelivered event adds nothing to the timeline and sends nothing twice to the page', async () => {
    const incident = await service.declare({ scenario: 'single-az-failure', title: 'AZ use1-az2 lost', public: true, requester: ALICE.id, originChannel: 'C0GENERAL01', dedupeKey: 'k1', affectedServices: ['api'] }, ANYONE_DECLARES);
    const run = await engine.service.create({ runbookId: 'heal', params: {}, requester: ALICE, origin: { channelId: 'C0INC', incidentId: incident.id } });
    await engine.waitForState(run.id, ['succeeded']);
    const events = (await engine.redis.xrange(engine.store.eventsKey, '-', '+')).map(([, f]) => RunEventSchema.parse(JSON.parse(f[1] ?? '{}')));
    for (const event of [...events, ...events]) await follower.handle(event);

    const timeline = (await incidents.timeline(incident.id)).map((e) => e.text);
    expect(timeline).toEqual([
      'declared (Single AZ failure, sev1)',
      `requested Heal the service (${run.id})`,
      `started Heal the service (${run.id})`,
      expect.stringMatching(new RegExp(`^Heal the service \\(${run.id}\\) succeeded in `)),
    ]);
    expect((await incidents.get(incident.id))?.runs).toEqual([run.id]);
    // Not published yet: everything is kept, in order, and nothing may go out.
    expect(await outbox.isHeld(incident.id)).toBe(true);
    const page = (await engine.redis.lrange(outbox.listKey(incident.id), 0, -1)).map((u) => PageUpdateSchema.parse(JSON.parse(u)));
    expect(page.map((u) => [u.kind, u.body, u.components])).toEqual([
      ['create', 'We are investigating an issue affecting api. We will provide an update within 30 minutes.', { cmpapi0001: 'major_outage' }],
      ['update', 'We are applying a fix.', {}],
      ['update', 'The fix is in place.', { cmpapi0001: 'operational' }],
    ]);
  });

  it('ignores runs that belong to no incident', async () => {
    const loose = await engine.service.create({ runbookId: 'heal', params: {}, requester: ALICE, origin: { channelId: 'C0ELSEWHERE' } });
    await engine.waitForState(loose.id, ['succeeded']);
    const before = await engine.redis.keys(`${engine.prefix}:incident-timeline:*`);
    const lengths = await Promise.all(before.map((k) => engine.redis.xlen(k)));
    const events = (await engine.redis.xrange(engine.store.eventsKey, '-', '+')).map(([, f]) => RunEventSchema.parse(JSON.parse(f[1] ?? '{}'))).filter((e) => e.runId === loose.id);
    expect(events.length).toBeGreaterThan(2);
    for (const event of events) await follower.handle(event);
    expect(await Promise.all(before.map((k) => engine.redis.xlen(k)))).toEqual(lengths);
  });
});
