import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransitionCheck } from '../../src/incidents/service.ts';
import { IncidentStore } from '../../src/incidents/store.ts';
import { type IncidentWorkerOptions, processIncidentJob } from '../../src/incidents/worker.ts';
import { ALICE, type TestEngine } from '../support/engine.ts';
import { type FakeSlack, readable } from '../support/fake-slack.ts';
import { ANYONE_DECLARES, type IncidentHarness, startIncidentHarness } from '../support/incident-worker.ts';

const ANYONE: TransitionCheck = { authorize: () => Promise.resolve() };

describe('long incidents: every message still reaches the channel', () => {
  let slack: FakeSlack;
  let engine: TestEngine;
  let store: IncidentStore;
  let o: IncidentWorkerOptions;
  let harness: IncidentHarness<IncidentStore>;

  beforeAll(async () => {
    const commands = mkdtempSync(join(tmpdir(), 'commands-'));
    writeFileSync(join(commands, 'heal.yaml'), 'id: heal\ntitle: Heal the service\napproval: { required: 0 }\nsteps:\n  - { id: pause, use: wait, with: { seconds: 0 } }\n');
    harness = await startIncidentHarness({ engine: { commandsDir: commands, workers: 1 }, readRuns: true });
    ({ slack, engine, store, options: o } = harness);
  });
  afterAll(async () => {
    await harness.stop();
  });

  it('an incident with 60 status changes and 30 runs posts its complete post-mortem and After Recovery checklist', async () => {
    const incident = await o.service.declare({ scenario: 'region-outage', title: 'A long night in us-east-1', public: false, requester: ALICE.id, originChannel: 'C0GENERAL01', dedupeKey: 'long-1' }, ANYONE_DECLARES);
    await processIncidentJob(o, incident.id, 'setup');
    const runIds: string[] = [];
    for (let i = 0; i < 30; i++) {
      const run = await engine.service.create({ runbookId: 'heal', params: {}, requester: ALICE, origin: { channelId: 'C0INC', incidentId: incident.id } });
      await store.addRun(incident.id, run.id, run.createdAt);
      runIds.push(run.id);
    }
    for (const id of runIds) await engine.waitForState(id, ['succeeded'], 20_000);
    for (let i = 0; i < 59; i++) {
      await o.service.transitionById(incident.id, i % 2 === 0 ? 'identified' : 'monitoring', `Change number ${String(i + 1)}: traffic moved for shard ${String(i)} of the fleet, error rates watched closely`, ALICE.id, ANYONE);
    }
    await o.service.transitionById(incident.id, 'resolved', 'Change number 60: all shards serve from us-west-2', ALICE.id, ANYONE);

    await expect(processIncidentJob(o, incident.id, 'resolved', 'resolved-job')).resolves.toEqual({ done: 'resolved' });

    const channel = (await store.get(incident.id))?.channelId ?? '';
    const inChannel = [...slack.messages.values()].filter((m) => m.channel === channel);
    // No message is longer than Slack advises; the resolution comes in numbered parts, all of them there.
    const texts = inChannel.map((m) => String(m.text));
    for (const t of texts) expect(t.length).toBeLessThanOrEqual(4_000);
    const first = texts.findIndex((t) => t.includes('[RESOLVED] A long night in us-east-1'));
    const count = Number(/^\(1\/(\d+)\) /.exec(texts[first] ?? '')?.[1] ?? 1);
    expect(first).toBeGreaterThanOrEqual(0);
    const resolution = texts.slice(first, first + count);
    if (count > 1) expect(resolution.map((t) => /^\((\d+)\/\d+\) /.exec(t)?.[1])).toEqual(Array.from({ length: count }, (_, i) => String(i + 1)));
    for (const id of runIds) expect(resolution.join('\n')).toContain(id);
    // The post-mortem document: every status change and every run in its timeline.
    const file = inChannel.flatMap((m) => m.files ?? []).find((f) => f.name === `postmortem-${incident.id}.md`);
    expect(file?.content).toContain('# Post-mortem: A long night in us-east-1');
    for (let i = 1; i <= 60; i++) expect(file?.content).toContain(`Change number ${String(i)}:`);
    for (const id of runIds) expect(file?.content).toContain(`**Heal the service** (\`${id}\`) succeeded`);
    const after = inChannel.find((m) => String(m.text).startsWith('After Recovery'));
    expect(readable(after)).toContain('Post-mortem scheduled');
  });
});
