import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeDBClustersCommand, type RDSClient } from '@aws-sdk/client-rds';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { isPermanent } from '../../src/steps/types.ts';
import { ALICE, startTestEngine, type TestEngine, testTargets, userErrorOf } from '../support/engine.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { fakeAwsCredentials } from '../support/step-context.ts';

/** A failover's promotion in the DR region, named by the step, from a bot whose own region is the primary's. */
const PROMOTE = [
  'id: promote-dr',
  'title: Promote the DR database',
  'steps:',
  '  - { id: promote, use: rds.failover, with: { method: promote-replica, cluster: prod-aurora-dr, region: us-west-2 } }',
  '',
].join('\n');

/** The host and path a client's request would go to; stopped before it is sent (nothing leaves the machine). */
async function whereItGoes(rds: RDSClient): Promise<string> {
  let target = '';
  rds.middlewareStack.add(
    () => (args) => {
      const request = args.request as { protocol: string; hostname: string; port?: number; path: string };
      target = `${request.protocol}//${request.hostname}${request.port ? `:${String(request.port)}` : ''}${request.path}`;
      return Promise.reject(new Error('stopped before sending'));
    },
    { step: 'finalizeRequest', name: 'whereItGoes' },
  );
  await rds.send(new DescribeDBClustersCommand({})).catch(() => undefined);
  return target;
}

describe('endpoint overrides and regions: an override serves the target’s region only', () => {
  let primary: FakeRds;
  let dr: FakeRds;
  let commands: string;

  beforeAll(async () => {
    fakeAwsCredentials();
    [primary, dr] = await Promise.all([new FakeRds().start(), new FakeRds().start()]);
    commands = mkdtempSync(join(tmpdir(), 'commands-'));
    writeFileSync(join(commands, 'promote-dr.yaml'), PROMOTE);
  });
  afterAll(async () => {
    await Promise.all([primary.stop(), dr.stop()]);
  });
  beforeEach(() => {
    for (const rds of [primary, dr]) {
      rds.clusters.clear();
      rds.calls.length = 0;
      rds.addCluster('prod-aurora-dr', { earliest: new Date(0), latest: new Date(), engine: 'aurora-mysql' }).replicationSource = 'prod-aurora';
    }
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  describe('planned from a bot with AWS_REGION=us-east-1', () => {
    let engine: TestEngine | undefined;
    afterEach(async () => {
      await engine?.stop();
      engine = undefined;
    });

    it('only AWS_ENDPOINT_URL set: the DR region’s call is refused in the plan, not sent to the primary’s endpoint', async () => {
      engine = await startTestEngine({ workers: 0, commandsDir: commands, targets: testTargets({ aws: { region: 'us-east-1', endpointUrl: primary.url } }) });
      expect(await userErrorOf(engine.service.create({ runbookId: 'promote-dr', params: {}, requester: ALICE }))).toBe(
        'Step `promote` (rds.failover) refused the plan: RDS in us-west-2 has no endpoint: target `default` overrides RDS\'s endpoint with endpoints.default (AWS_ENDPOINT_URL for the target `default`), ' +
          'which serves its region us-east-1 only, and nothing is configured for us-west-2. Give us-west-2 its own: rdsEndpoints (AWS_ENDPOINT_URLS_RDS) us-west-2=&lt;url&gt;; ' +
          'for an emulator that serves every region, its URL again; for AWS itself, https://rds.us-west-2.amazonaws.com.',
      );
      expect(primary.calls).toEqual([]);
      expect(dr.calls).toEqual([]);
      expect(await engine.store.list(10)).toEqual([]);
    });

    it('AWS_ENDPOINT_URL_RDS alone is the primary region’s too: refused the same way, naming that setting', async () => {
      engine = await startTestEngine({ workers: 0, commandsDir: commands, targets: testTargets({ aws: { region: 'us-east-1', rdsEndpointUrl: primary.url } }) });
      expect(await userErrorOf(engine.service.create({ runbookId: 'promote-dr', params: {}, requester: ALICE }))).toContain(
        'overrides RDS\'s endpoint with endpoints.rds (AWS_ENDPOINT_URL_RDS for the target `default`), which serves its region us-east-1 only',
      );
      expect(primary.calls).toEqual([]);
    });

    it('the DR region given its own in AWS_ENDPOINT_URLS_RDS: the plan reads the DR region there, the primary’s endpoint untouched', async () => {
      engine = await startTestEngine({
        workers: 0,
        commandsDir: commands,
        targets: testTargets({ aws: { region: 'us-east-1', endpointUrl: primary.url, rdsEndpointUrls: { 'us-west-2': dr.url } } }),
      });
      const run = await engine.service.create({ runbookId: 'promote-dr', params: {}, requester: ALICE });
      expect(run.plan[0]?.lines.map((l) => l.detail)).toEqual([expect.stringContaining('promote read replica prod-aurora-dr in us-west-2')]);
      expect(dr.callsTo('DescribeDBClusters')).toHaveLength(1);
      expect(primary.calls).toEqual([]);
    });
  });

  it('the target’s own region keeps its override (one emulator, LocalStack-style)', async () => {
    const rds = testTargets({ aws: { region: 'us-east-1', endpointUrl: primary.url } }).access('default', 'rtest001').aws.rds();
    await rds.send(new DescribeDBClustersCommand({}));
    expect(primary.callsTo('DescribeDBClusters')).toHaveLength(1);
  });

  it('a refusal met by a running step is permanent: retrying cannot change the configuration', () => {
    const access = testTargets({ aws: { region: 'us-east-1', endpointUrl: primary.url } }).access('default', 'rtest001');
    let refusal: unknown;
    try {
      access.aws.rds('us-west-2');
    } catch (err) {
      refusal = err;
    }
    expect(isPermanent(refusal)).toBe(true);
  });

  it('a target with no override goes to AWS’s own regional endpoint, whatever AWS_ENDPOINT_URL the process has', async () => {
    // The SDK reads these itself unless told not to: they are the target `default`'s settings, not every target's.
    vi.stubEnv('AWS_ENDPOINT_URL', primary.url);
    vi.stubEnv('AWS_ENDPOINT_URL_RDS', primary.url);
    const targets = testTargets({ aws: { region: 'us-east-1', endpointUrl: primary.url }, targets: { dr: { region: 'us-west-2', account: '222222222222' } } });
    expect(await whereItGoes(targets.access('dr', 'rtest001').aws.rds())).toBe('https://rds.us-west-2.amazonaws.com/');
    expect(await whereItGoes(targets.access('default', 'rtest001').aws.rds())).toBe(`${primary.url}/`);
  });
});
