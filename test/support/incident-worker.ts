/**
 * The incident worker in-process, as a worker process has it: the store,
 * service, queue and Statuspage outbox on real Redis, Slack through the real
 * Web API client against a fake Slack. Tests call processIncidentJob and
 * tickIncidentClock with `options` themselves.
 */
import { WebClient } from '@slack/web-api';
import { Queue } from 'bullmq';
import { fileURLToPath } from 'node:url';
import type { DeclareCheck } from '../../src/incidents/declaration.ts';
import { IncidentService, type IncidentServiceDeps } from '../../src/incidents/service.ts';
import { IncidentStore } from '../../src/incidents/store.ts';
import { Templates } from '../../src/incidents/templates.ts';
import type { IncidentWorkerOptions } from '../../src/incidents/worker.ts';
import type { Run } from '../../src/runs/model.ts';
import { QUEUE_NAMES } from '../../src/queue/names.ts';
import { StatuspageOutbox } from '../../src/statuspage/outbox.ts';
import { BOT_TOKEN } from './bot.ts';
import { startTestEngine, type TestEngine, type TestEngineOptions } from './engine.ts';
import { FakeSlack } from './fake-slack.ts';

/** Declarations in tests that are not about who may command or how many: every commander, no limit. */
export const ANYONE_DECLARES: DeclareCheck = { mayCommand: () => Promise.resolve(), admit: () => Promise.resolve() };

const TEMPLATES = fileURLToPath(new URL('../../templates/', import.meta.url));

export interface IncidentHarness<S extends IncidentStore> {
  slack: FakeSlack;
  engine: TestEngine;
  store: S;
  options: IncidentWorkerOptions;
  stop(): Promise<void>;
}

export async function startIncidentHarness<S extends IncidentStore = IncidentStore>(
  settings: {
    engine?: TestEngineOptions;
    /** Another store (one that fails on purpose); the real one by default. */
    makeStore?: (engine: TestEngine) => S;
    /** Let the service read the engine's runs (incidents that follow runs). */
    readRuns?: boolean;
  } = {},
): Promise<IncidentHarness<S>> {
  const slack = await new FakeSlack([BOT_TOKEN]).start();
  const engine = await startTestEngine({ workers: 0, ...settings.engine });
  const store = settings.makeStore ? settings.makeStore(engine) : (new IncidentStore(engine.redis, engine.prefix) as S);
  const queue = new Queue(QUEUE_NAMES.incidents, { connection: engine.redis, prefix: engine.prefix });
  const outbox = new StatuspageOutbox(engine.redis, engine.prefix, engine.logger);
  const templates = Templates.load(TEMPLATES);
  const readRuns: IncidentServiceDeps['readRuns'] = settings.readRuns
    ? async (ids) => (await Promise.all(ids.map((id) => engine.store.get(id)))).filter((r): r is Run => r !== undefined)
    : () => Promise.resolve([]);
  const service = new IncidentService({ store, queue, outbox, templates, components: {}, publicSeverities: [], readRuns, logger: engine.logger });
  const options: IncidentWorkerOptions = {
    connection: engine.redis,
    prefix: engine.prefix,
    store,
    service,
    templates,
    slack: new WebClient(BOT_TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } }),
    responders: [],
    publishers: { users: [], groups: [] },
    logger: engine.logger,
  };
  return {
    slack,
    engine,
    store,
    options,
    stop: async () => {
      await queue.close();
      await outbox.close();
      await engine.stop();
      await slack.stop();
    },
  };
}
