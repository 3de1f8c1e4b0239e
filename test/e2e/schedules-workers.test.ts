import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN } from '../support/bot.ts';
import { ALICE, startTestEngine, type TestEngine } from '../support/engine.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { type BotProcess, spawnBot } from '../support/process.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { fireClaims, runsOf, SCHEDULE_COMMANDS, type TestSchedules, testSchedules, until } from '../support/schedules.ts';

/**
 * Two real worker processes take a schedule's fires; one is killed with
 * SIGKILL. Every fire makes exactly one run, before the kill and after it.
 */
describe('a schedule across worker processes', () => {
  let slack: FakeSlack;
  let engine: TestEngine;
  let s: TestSchedules;
  let scheduleId = '';
  const prefix = uniquePrefix();
  const workers: BotProcess[] = [];

  const startWorker = async (): Promise<BotProcess> => {
    const worker = spawnBot(
      {
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_API_URL: slack.apiUrl,
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: prefix,
        COMMANDS_DIR: SCHEDULE_COMMANDS,
        PORT: '0',
        METRICS_PORT: '0',
        WORKER_LOCK_DURATION_MS: '2000',
      },
      ['--role', 'worker'],
    );
    workers.push(worker);
    await worker.waitForLog(/dr-chatops started/);
    return worker;
  };

  /** Every fire of the schedule so far and the runs of its runbook, once each fire under way has made its run. */
  const settled = () =>
    until(async () => {
      const claims = [...(await fireClaims(prefix)).entries()].filter(([fire]) => fire.startsWith(`repeat:${scheduleId}:`));
      const runs = await runsOf(engine, 'probe');
      return runs.length === claims.length && { claims, runs };
    }, 'a run for every fire');

  /** One run per fire: as many runs as fires, each fire's run its own, and every run one a fire made. */
  const expectOneRunPerFire = ({ claims, runs }: Awaited<ReturnType<typeof settled>>) => {
    const claimed = claims.map(([, runId]) => runId);
    expect(new Set(claimed).size).toBe(claims.length);
    expect(new Set(runs.map((r) => r.id))).toEqual(new Set(claimed));
    // Each fire is one time of the schedule: no time fired twice.
    expect(new Set(claims.map(([fire]) => fire)).size).toBe(claims.length);
  };

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    // This process only adds the schedule and reads; the two worker processes fire it and run its runs.
    engine = await startTestEngine({ workers: 0, prefix, commandsDir: SCHEDULE_COMMANDS });
    s = testSchedules(engine);
    await Promise.all([startWorker(), startWorker()]);
    scheduleId = (await s.service.add({ runbookId: 'probe', cadence: 'every 1s', params: {}, requester: ALICE, source: 'cli' })).id;
  });
  afterAll(async () => {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) {
        w.child.kill('SIGTERM');
        await w.exited;
      }
    }
    await s.stop();
    await engine.stop();
    await slack.stop();
  });

  it('fires once per time across two worker processes: one run each, all of them finished', async () => {
    await until(async () => (await runsOf(engine, 'probe')).length >= 4 || undefined, 'four fires');
    const seen = await settled();
    expectOneRunPerFire(seen);
    for (const run of seen.runs.slice(0, 3)) expect((await engine.waitForState(run.id, ['succeeded', 'failed'])).state).toBe('succeeded');
  });

  it('goes on firing after a worker is killed with SIGKILL, still one run per fire, and the runs it held are finished by the other', async () => {
    const before = (await runsOf(engine, 'probe')).length;
    const victim = workers.find((w) => w.stdout().includes('schedule fired')) ?? workers[0];
    victim?.child.kill('SIGKILL');
    await victim?.exited;

    await until(async () => (await runsOf(engine, 'probe')).length >= before + 4 || undefined, 'four fires after the kill', 30_000);
    await s.service.pause(scheduleId, ALICE);
    const seen = await settled();
    expectOneRunPerFire(seen);
    for (const run of seen.runs) expect((await engine.waitForState(run.id, ['succeeded', 'failed'], 30_000)).state).toBe('succeeded');
    expect(seen.runs.map((r) => r.id)).toContain((await s.service.get(scheduleId)).last?.runId);
  });
});
