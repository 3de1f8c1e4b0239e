import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentStore } from '../../src/incidents/store.ts';
import { type IncidentWorkerOptions, processIncidentJob } from '../../src/incidents/worker.ts';
import { ALICE } from '../support/engine.ts';
import { type FakeSlack, readable } from '../support/fake-slack.ts';
import { ANYONE_DECLARES, type IncidentHarness, startIncidentHarness } from '../support/incident-worker.ts';


/** An incident store whose process "dies" once right after Slack took a message, before the post is recorded. */
class CrashingStore extends IncidentStore {
  readonly crashAt = new Set<string>();

  private crash(point: string): void {
    if (this.crashAt.delete(point)) throw new Error(`simulated crash after posting, before recording ${point}`);
  }

  override async markDone(id: string, step: string): Promise<boolean> {
    this.crash(step);
    return super.markDone(id, step);
  }

  override async setField(id: string, field: 'channelId' | 'summaryTs' | 'restorePoint', value: string): Promise<void> {
    this.crash(field);
    return super.setField(id, field, value);
  }

  override async setMessageTs(id: string, name: string, ts: string): Promise<void> {
    this.crash(`ts:${name}`);
    return super.setMessageTs(id, name, ts);
  }
}

describe('incident messages: each posted once, even when the worker dies between posting and recording it', () => {
  let slack: FakeSlack;
  let store: CrashingStore;
  let o: IncidentWorkerOptions;
  let harness: IncidentHarness<CrashingStore>;

  beforeAll(async () => {
    harness = await startIncidentHarness({ makeStore: (e) => new CrashingStore(e.redis, e.prefix) });
    ({ slack, store, options: o } = harness);
  });
  afterAll(async () => {
    await harness.stop();
  });

  it('a crash after each post (summary, declared message, checklist) still leaves each message in the channel once', async () => {
    const incident = await o.service.declare({ scenario: 'single-az-failure', title: 'AZ use1-az2 lost', public: false, requester: ALICE.id, originChannel: 'C0GENERAL01', dedupeKey: 'once-1' }, ANYONE_DECLARES);
    store.crashAt.add('summaryTs');
    store.crashAt.add('posted:declared');
    store.crashAt.add('ts:checklistDuring');

    // Each attempt dies at the next crash point; the job is retried, as BullMQ would.
    for (let attempt = 0; attempt < 3; attempt++) {
      await expect(processIncidentJob(o, incident.id, 'setup')).rejects.toThrow(/simulated crash/);
    }
    await expect(processIncidentJob(o, incident.id, 'setup')).resolves.toEqual({ done: 'setup' });

    const channel = (await store.get(incident.id))?.channelId ?? '';
    const inChannel = [...slack.messages.values()].filter((m) => m.channel === channel).map((m) => readable(m));
    expect(inChannel.filter((t) => t.includes('[INCIDENT] AZ use1-az2 lost'))).toHaveLength(1);
    expect(inChannel.filter((t) => t.includes(`Incident \`${incident.id}\``))).toHaveLength(1);
    expect(inChannel.filter((t) => t.includes('incident.check'))).toHaveLength(1);
    expect(inChannel).toHaveLength(3);
    // The summary that was adopted is the one pinned and remembered.
    const summaryTs = (await store.get(incident.id))?.summaryTs ?? '';
    expect(slack.pins.has(summaryTs)).toBe(true);
  });

  it('a job run again after success posts nothing more and does not even search the channel', async () => {
    const incident = await o.service.declare({ scenario: 'single-az-failure', title: 'Second incident here', public: false, requester: ALICE.id, originChannel: 'C0GENERAL01', dedupeKey: 'once-2' }, ANYONE_DECLARES);
    await processIncidentJob(o, incident.id, 'setup');
    const posts = slack.callsTo('chat.postMessage').length;
    const searches = slack.callsTo('conversations.history').length;
    await processIncidentJob(o, incident.id, 'setup');
    expect(slack.callsTo('chat.postMessage')).toHaveLength(posts);
    expect(slack.callsTo('conversations.history')).toHaveLength(searches);
  });
});
