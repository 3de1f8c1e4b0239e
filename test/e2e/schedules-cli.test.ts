import { hostname, userInfo } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, BOB, startTestEngine, type TestEngine } from '../support/engine.ts';
import { type CliResult, newOperatorKey, runCli, sha256 } from '../support/cli.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { SCHEDULE_COMMANDS, type TestSchedules, testSchedules } from '../support/schedules.ts';

const KEY_A = newOperatorKey();
const KEY_B = newOperatorKey();
const KEY_C = newOperatorKey();
const CAROL_ID = 'U0CAROL001';
const OPERATORS = `alice:${ALICE.id}:${sha256(KEY_A)},bob:${BOB.id}:${sha256(KEY_B)},carol:${CAROL_ID}:${sha256(KEY_C)}`;

/** `npm run dr -- schedule …`: the same schedules and rules as Slack, with the CLI's operator keys. */
describe('schedules from the terminal', () => {
  let engine: TestEngine;
  let s: TestSchedules;

  const dr = (args: string[], key?: string): Promise<CliResult> =>
    runCli(['schedule', ...args], {
      PATH: process.env.PATH ?? '',
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: engine.prefix,
      COMMANDS_DIR: SCHEDULE_COMMANDS,
      DR_CLI_OPERATORS: OPERATORS,
      ...(key ? { DR_OPERATOR_KEY: key } : {}),
    });
  const count = async () => (await s.store.list()).length;

  beforeAll(async () => {
    engine = await startTestEngine({ workers: 0, commandsDir: SCHEDULE_COMMANDS });
    s = testSchedules(engine);
  });
  afterAll(async () => {
    await s.stop();
    await engine.stop();
  });

  it('adds, lists, pauses, resumes and deletes; listing needs no key, the rest the operator\'s', async () => {
    expect((await dr(['list'])).stdout).toContain('No schedules. Add one: npm run dr -- schedule add <runbook> every 30m');

    const keyless = await dr(['add', 'probe', 'every', '1h']);
    expect(keyless.code).toBe(1);
    expect(keyless.stderr).toContain('DR_OPERATOR_KEY');
    expect(await count()).toBe(0);

    const added = await dr(['add', 'probe', 'every', '1h', 'label=terminal', 'C0OPS00001'], KEY_A);
    expect(added.code).toBe(0);
    const id = /Schedule (s-[a-z2-9]{6}) added/.exec(added.stdout)?.[1] ?? '';
    expect(added.stdout).toContain(`Schedule ${id} added: probe every 1h, in the background, requested by you; each run is posted in Slack channel C0OPS00001.`);
    const schedule = await s.service.get(id);
    expect(schedule).toMatchObject({ source: 'cli', createdBy: { id: ALICE.id, via: 'cli' }, params: { label: 'terminal' }, channel: { id: 'C0OPS00001' }, cadence: { every: 3_600_000 } });

    const list = await dr(['list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(`${id}  probe  every 1h  label=terminal  -> channel C0OPS00001  (by alice ${ALICE.id} via cli (${userInfo().username}@${hostname()}), cli)`);
    expect(list.stdout).toMatch(/last: not run yet · next: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);

    const cron = await dr(['add', 'probe', '30 2 * * *'], KEY_B);
    expect(cron.code).toBe(0);
    expect(cron.stdout).toContain('probe cron 30 2 * * * (UTC)');

    const refused = await dr(['pause', id], KEY_C);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`You may not pause schedule \`${id}\`: only <@${ALICE.id}>, who made it, or the approvers of its runbook may`);
    expect((await s.store.get(id))?.paused).toBe(false);

    const paused = await dr(['pause', id], KEY_B);
    expect(paused.stdout).toContain(`Schedule ${id} paused.`);
    expect(paused.stdout).toContain('· next: paused');
    expect((await dr(['resume', id], KEY_A)).stdout).toContain(`Schedule ${id} resumed.`);
    expect((await s.queue.nextFires()).has(id)).toBe(true);
    const deleted = await dr(['delete', id], KEY_A);
    expect(deleted.stdout).toContain(`Schedule ${id} (probe) deleted`);
    expect(await s.store.get(id)).toBeUndefined();
    expect((await s.queue.nextFires()).has(id)).toBe(false);
  }, 120_000); // several CLI processes, each loading the AWS and Kubernetes clients: slow on a loaded machine

  it('refuses bad input with what was wrong and how to write it, and schedules nothing', async () => {
    const before = await count();
    const changing = await dr(['add', 'restart', 'every', '1h'], KEY_A);
    expect(changing.code).toBe(1);
    expect(changing.stderr).toContain('which is not a drill target. A schedule of a changing runbook acts only on drill targets');
    const often = await dr(['add', 'probe', 'every', '10s'], KEY_A);
    expect(often.stderr).toContain('`every 10s` is more often than a schedule may run (at most every 1m)');
    const here = await dr(['add', 'probe', 'every', '1h', 'here'], KEY_A);
    expect(here.code).toBe(2);
    expect(here.stderr).toContain('here: the CLI takes a channel by its id (like C0123ABCD');
    const unquoted = await dr(['add', 'probe', 'soon'], KEY_A);
    expect(unquoted.code).toBe(2);
    expect(unquoted.stderr).toContain('`schedule add probe` needs when it runs');
    expect(unquoted.stderr).toContain('Usage: npm run dr -- schedule list | add <runbook>');
    const unknown = await dr(['add', 'prbe', 'every', '1h'], KEY_A);
    expect(unknown.stderr).toContain('There is no runbook `prbe`. Did you mean `probe`?');
    expect(await count()).toBe(before);
  }, 120_000); // several CLI processes, each loading the AWS and Kubernetes clients: slow on a loaded machine
});
