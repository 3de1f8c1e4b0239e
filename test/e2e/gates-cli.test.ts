import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, BOB, startTestEngine, type TestEngine } from '../support/engine.ts';
import { type CliResult, newOperatorKey as newKey, runCli, sha256 } from '../support/cli.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';

const GATES = fileURLToPath(new URL('../fixtures/gates/', import.meta.url));
const CAROL_ID = 'U0CAROL001';
const KEYS = { alice: newKey(), bob: newKey(), carol: newKey() };
const OPERATORS = `alice:${ALICE.id}:${sha256(KEYS.alice)},bob:${BOB.id}:${sha256(KEYS.bob)},carol:${CAROL_ID}:${sha256(KEYS.carol)}`;

/** `npm run dr -- gate <run> accept|refuse [reason]`: the operator checks of approve, then the gate's rules. */
describe('answering a gate from the terminal', () => {
  let engine: TestEngine;
  const dr = (args: string[], as: keyof typeof KEYS): Promise<CliResult> =>
    runCli(args, { PATH: process.env.PATH ?? '', REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: engine.prefix, COMMANDS_DIR: GATES, DR_CLI_OPERATORS: OPERATORS, DR_OPERATOR_KEY: KEYS[as] });

  beforeAll(async () => {
    engine = await startTestEngine({ commandsDir: GATES });
  });
  afterAll(async () => {
    await engine.stop();
  });

  it('refuses a non-approver and a bad choice; an approver refuses with a reason and the run fails at the gate', async () => {
    const requested = await dr(['run', 'gated-failover', 'lag=42'], 'alice');
    expect(requested.code).toBe(0);
    const runId = /Run (r[a-z0-9]{7}) requested/.exec(requested.stdout)?.[1] ?? '';
    expect((await dr(['approve', runId], 'bob')).code).toBe(0);
    const deadline = Date.now() + 15_000;
    while ((await engine.store.get(runId))?.gate?.state !== 'open') {
      if (Date.now() > deadline) throw new Error('the run did not reach its gate');
      await new Promise((r) => setTimeout(r, 25));
    }

    const bad = await dr(['gate', runId, 'maybe'], 'bob');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('gate <run> accept|refuse [reason …]');
    const outsider = await dr(['gate', runId, 'accept'], 'alice');
    expect(outsider.code).toBe(1);
    expect(outsider.stderr).toContain('You may not answer the gates of runs of gated-failover');
    expect((await engine.store.get(runId))?.gate?.votes).toEqual([]);

    const refused = await dr(['gate', runId, 'refuse', 'the', 'primary', 'is', 'back'], 'carol');
    expect(refused.code).toBe(0);
    expect(refused.stdout).toContain(`Gate refused: run ${runId} fails at the gate.`);
    const done = await engine.waitForState(runId, ['failed', 'succeeded', 'cancelled']);
    expect(done.failure?.message).toContain('refused by carol: the primary is back');
    expect((await engine.store.audit(runId)).find((a) => a.action === 'gate refused')).toMatchObject({ actor: { id: CAROL_ID, via: 'cli' } });
  }, 120_000); // six CLI processes: slow on a loaded machine
});
