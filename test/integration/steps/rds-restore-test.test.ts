/**
 * The restore test's own RDS steps against the fake RDS (real SDK): choosing
 * the recovery point (pinned by the plan, so the run restores what was shown)
 * and deleting the throw-away copy, which only ever removes what the same run
 * restored, and waits until RDS has finished deleting it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deleteRestoredStep } from '../../../src/steps/rds/delete-restored.ts';
import { pickRecoveryPointStep } from '../../../src/steps/rds/pick-recovery-point.ts';
import { restorePitrStep } from '../../../src/steps/rds/restore-pitr.ts';
import { createWriterStep } from '../../../src/steps/rds/create-writer.ts';
import { FakeRds } from '../../support/fake-rds.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, withClients } from '../../support/step-context.ts';

const HOUR = 3_600_000;
const ago = (hours: number) => new Date(Date.now() - hours * HOUR);

describe('restore test steps: pick a recovery point, delete the copy', () => {
  let rds: FakeRds;
  let pick: ReturnType<typeof pickRecoveryPointStep>;
  let restore: ReturnType<typeof restorePitrStep>;
  let writer: ReturnType<typeof createWriterStep>;
  let remove: ReturnType<typeof deleteRestoredStep>;

  beforeAll(async () => {
    fakeAwsCredentials();
    rds = await new FakeRds().start();
    const clients = createStepClients({ aws: { region: 'us-east-1', rdsEndpointUrl: rds.url }, kubernetes: {} });
    pick = withClients(pickRecoveryPointStep(), clients);
    restore = withClients(restorePitrStep(), clients);
    writer = withClients(createWriterStep(), clients);
    remove = withClients(deleteRestoredStep(), clients);
  });
  afterAll(async () => {
    await rds.stop();
  });
  beforeEach(() => {
    rds.clusters.clear();
    rds.instances.clear();
    rds.snapshots.length = 0;
    rds.calls.length = 0;
    rds.creatingMs = 0;
    rds.deletions.deletingMs = 200;
    rds.addCluster('prod-aurora', { earliest: ago(7 * 24), latest: ago(0.05), settings: { deletionProtection: true } });
  });

  it('picks a random point inside the window, pins it in the plan, and the run returns exactly that one', async () => {
    const ctx = planContext('rpick001');
    const params = pick.params.parse({ cluster: 'prod-aurora', pick: 'random', withinHours: 48 });
    await pick.plan(ctx, params);
    const chosen = String(ctx.pins.chosen);
    expect(Date.parse(chosen)).toBeGreaterThanOrEqual(ago(48).getTime() - 1_000);
    expect(Date.parse(chosen)).toBeLessThanOrEqual(ago(0.05).getTime());
    // The approved run gets the pinned value: the same point, whatever a new pick would choose.
    const out = await pick.run(stepContext({ runId: 'rpick001' }), pick.params.parse({ ...params, chosen }));
    expect(out).toEqual({ to: chosen, snapshot: '', restorePoint: chosen, kind: 'pitr' });
  });

  it('picks the newest automated snapshot of the window, or says there is none', async () => {
    rds.addSnapshot({ id: 'rds:prod-aurora-old', clusterId: 'prod-aurora', createdAt: ago(30), engine: 'aurora-postgresql', engineVersion: '15.4', type: 'automated' });
    const takenAt = ago(5);
    rds.addSnapshot({ id: 'rds:prod-aurora-new', clusterId: 'prod-aurora', createdAt: takenAt, engine: 'aurora-postgresql', engineVersion: '15.4', type: 'automated' });
    rds.addSnapshot({ id: 'before-upgrade', clusterId: 'prod-aurora', createdAt: ago(1), engine: 'aurora-postgresql', engineVersion: '15.4', type: 'manual' });
    const out = await pick.run(stepContext(), pick.params.parse({ cluster: 'prod-aurora', kind: 'automated-snapshot' }));
    expect(out).toEqual({ snapshot: 'rds:prod-aurora-new', to: '', restorePoint: takenAt.toISOString(), kind: 'automated-snapshot' });
    const none = await failureOf(pick.run(stepContext(), pick.params.parse({ cluster: 'prod-aurora', kind: 'manual-snapshot', withinHours: 0.5 })));
    expect(none).toEqual({ message: 'prod-aurora has no available manual snapshot from the last 0.5h to test', permanent: true });
  });

  it('deletes the copy this run restored, instances first, and waits until RDS has removed it; again is done', async () => {
    const restored = await restore.run(stepContext({ runId: 'rtest001' }), restore.params.parse({ source: 'prod-aurora', to: 'latest', deletionProtection: 'off' }));
    const clusterId = String(restored.clusterId);
    await writer.run(stepContext({ runId: 'rtest001' }), writer.params.parse({ cluster: clusterId, instanceClass: 'db.t4g.medium' }));
    expect(rds.instances.size).toBe(2);

    const out = await remove.run(stepContext({ runId: 'rtest001' }), remove.params.parse({ cluster: clusterId }));
    expect(out).toEqual({ deleted: true });
    expect(rds.clusters.has(clusterId)).toBe(false);
    expect(rds.callsTo('DeleteDBInstance').map((c) => c.params.DBInstanceIdentifier)).toEqual([`${clusterId}-writer`]);
    expect(rds.callsTo('DeleteDBCluster').map((c) => [c.params.DBClusterIdentifier, c.params.SkipFinalSnapshot])).toEqual([[clusterId, 'true']]);
    // Production's cluster and its writer are untouched.
    expect(rds.clusters.has('prod-aurora')).toBe(true);
    expect(rds.instances.has('prod-aurora-instance-1')).toBe(true);

    expect(await remove.run(stepContext({ runId: 'rtest001' }), remove.params.parse({ cluster: clusterId }))).toEqual({ deleted: false });
    expect(rds.callsTo('DeleteDBCluster')).toHaveLength(1);
  });

  it('refuses to delete a cluster another run (or nobody) restored, before any call that changes something', async () => {
    const restored = await restore.run(stepContext({ runId: 'rother01' }), restore.params.parse({ source: 'prod-aurora', to: 'latest', deletionProtection: 'off' }));
    for (const [runId, cluster] of [['rtest001', String(restored.clusterId)], ['rtest001', 'prod-aurora']] as const) {
      const refused = await failureOf(remove.run(stepContext({ runId }), remove.params.parse({ cluster })));
      expect(refused.permanent).toBe(true);
      expect(refused.message).toContain(`was not created by this run (no tag dr-chatops:run=${runId}), so it is not deleted`);
    }
    expect(rds.callsTo('DeleteDBInstance')).toEqual([]);
    expect(rds.callsTo('DeleteDBCluster')).toEqual([]);
  });

  it('the fake refuses what RDS refuses: a cluster with live instances, a protected one, no final-snapshot choice', async () => {
    const refusal = async (action: () => Promise<unknown>) => {
      try {
        await action();
      } catch (err) {
        return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      }
      return 'accepted';
    };
    const { DeleteDBClusterCommand } = await import('@aws-sdk/client-rds');
    const client = createStepClients({ aws: { region: 'us-east-1', rdsEndpointUrl: rds.url }, kubernetes: {} }).aws.rds();
    expect(await refusal(() => client.send(new DeleteDBClusterCommand({ DBClusterIdentifier: 'prod-aurora', SkipFinalSnapshot: true })))).toBe(
      'InvalidParameterCombination: Cannot delete protected Cluster, please disable deletion protection and try again.',
    );
    rds.addCluster('scratch', { earliest: ago(1), latest: ago(0) });
    expect(await refusal(() => client.send(new DeleteDBClusterCommand({ DBClusterIdentifier: 'scratch', SkipFinalSnapshot: true })))).toBe(
      'InvalidDBClusterStateFault: Cluster cannot be deleted, it still contains DB instances in non-deleting state.',
    );
    expect(await refusal(() => client.send(new DeleteDBClusterCommand({ DBClusterIdentifier: 'scratch' })))).toBe(
      'InvalidParameterCombination: FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.',
    );
  });
});
