import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerHandle } from '../../src/queue/worker.ts';
import { StatuspageClient } from '../../src/statuspage/client.ts';
import { type PageUpdate, StatuspageOutbox, startStatuspageWorker } from '../../src/statuspage/outbox.ts';
import { startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeStatuspage } from '../support/fake-statuspage.ts';

const waitFor = async <T>(probe: () => T | undefined | false, timeoutMs = 15_000): Promise<T> => {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('the Statuspage outbox: what reaches the page', () => {
  let page: FakeStatuspage;
  let engine: TestEngine;
  let outbox: StatuspageOutbox;
  let handle: WorkerHandle | undefined;

  const startWorker = (minIntervalMs = 0): WorkerHandle =>
    startStatuspageWorker({
      connection: engine.redis,
      redis: engine.redis,
      prefix: engine.prefix,
      outbox,
      client: new StatuspageClient({ apiUrl: page.url, pageId: 'page001', apiKey: 'sp-key' }),
      minIntervalMs,
      logger: engine.logger,
      onWarning: () => Promise.resolve(),
    });
  const update = (status: PageUpdate['status'], body: string, components: PageUpdate['components']): Omit<PageUpdate, 'seq'> => ({ kind: 'update', name: 'API errors', status, body, components });
  const onPage = (incidentId: string) => page.incidents.find((i) => i.metadata.dr_chatops && (i.metadata.dr_chatops as { incident_id?: string }).incident_id === incidentId);

  beforeAll(async () => {
    page = await new FakeStatuspage('sp-key', 'page001', ['cmpapi0001', 'cmpdb00001']).start();
    engine = await startTestEngine({ workers: 0 });
    outbox = new StatuspageOutbox(engine.redis, engine.prefix, engine.logger, 50);
  });
  afterEach(async () => {
    await handle?.close(5_000);
    handle = undefined;
  });
  afterAll(async () => {
    await outbox.close();
    await engine.stop();
    await page.stop();
  });

  it('an update that changes only a component goes out: the page leaves major_outage for partial_outage', async () => {
    handle = startWorker();
    await outbox.enqueue('inc-component', { kind: 'create', name: 'API errors', status: 'investigating', body: 'We are investigating.', components: { cmpapi0001: 'major_outage' } });
    await waitFor(() => onPage('inc-component'));
    expect(page.components.get('cmpapi0001')).toBe('major_outage');
    // A runbook moves the component; the incident's state and public text stay the same.
    await outbox.enqueue('inc-component', update('investigating', 'We are investigating.', { cmpapi0001: 'partial_outage' }));
    await waitFor(() => page.components.get('cmpapi0001') === 'partial_outage');
    expect(onPage('inc-component')?.incident_updates.map((u) => u.status)).toEqual(['investigating', 'investigating']);
  });

  /** The page's updates of one incident, oldest first: the body of each. */
  const bodies = (incidentId: string) => [...(onPage(incidentId)?.incident_updates ?? [])].reverse().map((u) => u.body);
  /** Bodies `Change n` seen on the page must be increasing: in order, none twice. */
  const expectInOrderOnce = (seen: string[]) => {
    const numbers = seen.filter((b) => b.startsWith('Change ')).map((b) => Number(b.slice(7)));
    expect(numbers).toEqual([...new Set(numbers)].sort((a, b) => a - b));
  };

  it('a pasted burst of 60 status changes: the page gets its creation and one write with the newest state, not one per change', async () => {
    // Far longer than the burst takes to queue: every change lands inside one interval.
    handle = startWorker(4_000);
    await outbox.enqueue('inc-burst', { kind: 'create', name: 'API errors', status: 'investigating', body: 'We are investigating.', components: { cmpapi0001: 'major_outage' } });
    await waitFor(() => onPage('inc-burst'));
    const states = ['identified', 'monitoring', 'investigating'] as const;
    for (let n = 1; n <= 60; n++) {
      await outbox.enqueue('inc-burst', update(states[n % 3] ?? 'identified', `Change ${String(n)}`, n === 30 ? { cmpdb00001: 'partial_outage' } : { cmpapi0001: n % 2 ? 'partial_outage' : 'degraded_performance' }));
    }
    await waitFor(() => bodies('inc-burst').at(-1) === 'Change 60', 20_000);
    // The newest state, and the component only an older change set is carried over.
    expect(onPage('inc-burst')?.status).toBe('identified');
    expect(page.components.get('cmpapi0001')).toBe('degraded_performance');
    expect(page.components.get('cmpdb00001')).toBe('partial_outage');
    expect(bodies('inc-burst')).toEqual(['We are investigating.', 'Change 60']);
    expect(await outbox.pending('inc-burst')).toEqual([]);
  });

  it('the last state of a burst is written after the worker restarts while it waits', async () => {
    handle = startWorker(2_000);
    await outbox.enqueue('inc-restart', { kind: 'create', name: 'API errors', status: 'investigating', body: 'We are investigating.', components: { cmpapi0001: 'major_outage' } });
    await waitFor(() => onPage('inc-restart'));
    for (let n = 1; n <= 10; n++) await outbox.enqueue('inc-restart', update(n % 2 ? 'identified' : 'monitoring', `Change ${String(n)}`, { cmpapi0001: 'partial_outage' }));
    // The worker stops while the changes wait for the interval; a new one takes over.
    await handle.close(5_000);
    handle = startWorker(2_000);
    await waitFor(() => bodies('inc-restart').at(-1) === 'Change 10', 20_000);
    expect(onPage('inc-restart')?.status).toBe('monitoring');
    expect(page.components.get('cmpapi0001')).toBe('partial_outage');
    expectInOrderOnce(bodies('inc-restart'));
    // Nothing left to send, and nothing sent after the last state.
    await new Promise((r) => setTimeout(r, 500));
    expect(bodies('inc-restart').at(-1)).toBe('Change 10');
    expect(await outbox.pending('inc-restart')).toEqual([]);
  });
});
