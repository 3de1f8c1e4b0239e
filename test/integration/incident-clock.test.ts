import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentStore } from '../../src/incidents/store.ts';
import { type IncidentWorkerOptions, processIncidentJob, tickIncidentClock } from '../../src/incidents/worker.ts';
import { ALICE } from '../support/engine.ts';
import type { FakeSlack } from '../support/fake-slack.ts';
import { ANYONE_DECLARES, type IncidentHarness, startIncidentHarness } from '../support/incident-worker.ts';


describe('the incident clock: one incident never holds up another', () => {
  let slack: FakeSlack;
  let store: IncidentStore;
  let o: IncidentWorkerOptions;
  let harness: IncidentHarness<IncidentStore>;

  beforeAll(async () => {
    harness = await startIncidentHarness();
    ({ slack, store, options: o } = harness);
  });
  afterAll(async () => {
    await harness.stop();
  });

  const declare = async (title: string, key: string) => {
    const incident = await o.service.declare({ scenario: 'single-az-failure', title, public: false, requester: ALICE.id, originChannel: 'C0GENERAL01', dedupeKey: key }, ANYONE_DECLARES);
    await processIncidentJob(o, incident.id, 'setup');
    return (await store.get(incident.id))?.summaryTs ?? '';
  };

  it('an incident whose summary update fails does not stop the refresh of the others in that tick', async () => {
    const first = await declare('First of two incidents', 'clock-1');
    const second = await declare('Second of two incidents', 'clock-2');
    // Whichever incident the tick takes first, Slack fails its update.
    slack.failNext('chat.update', { status: 500 });
    const before = slack.callsTo('chat.update').length;

    const result = await tickIncidentClock(o);

    const updates = slack.callsTo('chat.update').slice(before);
    const answered = (ts: string) => updates.filter((c) => c.args.ts === ts).map((c) => (c.result ? 'ok' : 'failed'));
    expect([...answered(first), ...answered(second)].sort()).toEqual(['failed', 'ok']);
    expect(result).toEqual({ refreshed: 1, failed: 1 });
  });

  it('a summary deleted from the channel is posted and pinned afresh, once', async () => {
    const stale = await declare('Summary deleted by someone', 'clock-3');
    slack.messages.delete(stale);

    await tickIncidentClock(o);
    await tickIncidentClock(o);

    const fresh = [...slack.messages.values()].filter((m) => JSON.stringify(m.blocks ?? []).includes('Summary deleted by someone'));
    expect(fresh).toHaveLength(1);
    expect(slack.pins.has(fresh[0]?.ts ?? '')).toBe(true);
  });
});
