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

  const startWorker = (): WorkerHandle =>
    startStatuspageWorker({
      connection: engine.redis,
      redis: engine.redis,
      prefix: engine.prefix,
      outbox,
      client: new StatuspageClient({ apiUrl: page.url, pageId: 'page001', apiKey: 'sp-key' }),
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
});
