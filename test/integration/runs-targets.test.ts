import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/queue/names.ts';
import { renderRunMessage } from '../../src/slack/views/run.ts';
import { ALICE, startTestEngine, type TestEngine, testTargets, userErrorOf } from '../support/engine.ts';
import { jobsQueued } from '../support/redis.ts';

const WHERE = `id: where
title: Acts where it is told
params:
  target: { type: target, default: default }
approval: { required: 1 }
target: '\${{ params.target }}'
steps:
  - id: first
    use: wait
    with: { seconds: 1 }
  - id: second
    use: wait
    target: default
    with: { seconds: 1 }
`;

const PLAIN = `id: plain
title: Names no target
approval: { required: 1 }
steps:
  - id: only
    use: wait
    with: { seconds: 1 }
`;

describe('runs on targets: where each step acts is planned, shown and refused when unknown', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'targets-runbooks-'));
    writeFileSync(join(dir, 'where.yaml'), WHERE);
    writeFileSync(join(dir, 'plain.yaml'), PLAIN);
    engine = await startTestEngine({
      workers: 0,
      commandsDir: dir,
      targets: testTargets({
        aws: { region: 'us-east-1' },
        kubernetes: { eksCluster: 'eks-prod' },
        targets: { dr: { label: 'DR', region: 'us-west-2', roleArn: 'arn:aws:iam::222222222222:role/dr-chatops-target', kubernetes: { eksCluster: 'eks-dr' } } },
      }),
    });
  });
  afterAll(async () => {
    await engine.stop();
  });

  it('plans each step where the runbook says and shows it in the plan', async () => {
    const run = await engine.service.create({ runbookId: 'where', params: { target: 'dr' }, requester: ALICE });
    expect(run.plan.map((p) => p.place)).toEqual([
      {
        target: 'dr',
        label: 'DR',
        region: 'us-west-2',
        account: '222222222222',
        clusterLabel: 'EKS eks-dr',
        // What each step compares before it runs: the run acts only where its target still resolves to this.
        resolved: { account: '222222222222', region: 'us-west-2', role: 'arn:aws:iam::222222222222:role/dr-chatops-target', cluster: 'EKS eks-dr', 'Velero namespace': 'velero' },
      },
      { target: 'default', label: 'default', region: 'us-east-1', clusterLabel: 'EKS eks-prod', resolved: { region: 'us-east-1', cluster: 'EKS eks-prod', 'Velero namespace': 'velero' } },
    ]);
    const shown = JSON.stringify(renderRunMessage(run, Date.now()).blocks);
    expect(shown).toContain(':round_pushpin: *Where:*\\n• DR (dr) · us-west-2 · account 222222222222 · EKS eks-dr: `first`\\n• default · us-east-1 · EKS eks-prod: `second`');
    expect(shown).toContain('In dr (us-west-2, 222222222222) and default (us-east-1): It will');
  });

  it('an unknown target as a parameter is refused with the list, and nothing is stored or queued', async () => {
    const before = (await engine.store.list(100)).length;
    const queued = await jobsQueued(engine.prefix, QUEUE_NAMES.runs);
    expect(await userErrorOf(engine.service.create({ runbookId: 'where', params: { target: 'prod-west' }, requester: ALICE }))).toBe(
      'Parameters for where are not valid:\n• `target`: there is no target `prod-west` (targets: default, dr)',
    );
    expect(await userErrorOf(engine.service.create({ runbookId: 'plain', params: {}, requester: ALICE, target: 'prod-west' }))).toBe('There is no target `prod-west`. Targets: `default`, `dr`.');
    expect((await engine.store.list(100)).length).toBe(before);
    expect(await jobsQueued(engine.prefix, QUEUE_NAMES.runs)).toBe(queued);
  });

  it('the CLI\'s --target fills the runbook\'s target parameter, or places the steps that name none', async () => {
    const viaParam = await engine.service.preview({ runbookId: 'where', params: {}, target: 'dr' });
    expect(viaParam.plan.map((p) => p.place?.target)).toEqual(['dr', 'default']);
    expect(await userErrorOf(engine.service.preview({ runbookId: 'where', params: { target: 'default' }, target: 'dr' }))).toBe('--target dr and target=default disagree: give one of them.');
    const plain = await engine.service.create({ runbookId: 'plain', params: {}, requester: ALICE, target: 'dr' });
    expect(plain.plan[0]?.place).toMatchObject({ target: 'dr', region: 'us-west-2' });
  });
});
