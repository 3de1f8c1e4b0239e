import { describe, expect, it } from 'vitest';
import { placeMoved, placeOf } from '../../../src/engine/place.ts';
import { TargetSpecSchema } from '../../../src/targets/config.ts';
import { Targets } from '../../../src/targets/targets.ts';

const DRILL = {
  label: 'Drill',
  region: 'us-west-2',
  roleArn: 'arn:aws:iam::222222222222:role/dr-chatops-target',
  externalId: 'dr-chatops-dr-8b72e4',
  kubernetes: { eksCluster: 'eks-drill' },
};
const PROD = { region: 'us-east-1', roleArn: 'arn:aws:iam::111111111111:role/dr-chatops-target', kubernetes: { eksCluster: 'eks-prod' } };

function targets(specs: Record<string, unknown>): Targets {
  return new Targets(new Map(Object.entries(specs).map(([name, spec]) => [name, TargetSpecSchema.parse(spec)])), Object.keys(specs)[0] ?? '');
}

/** The place of a step on target `drill` (and `cluster`, named at run time) as a plan made with `at` keeps it. */
function plannedOn(at: Targets, cluster?: string) {
  const scope = { params: {}, outputs: {}, run: { id: 'r7k2m9qx', shortId: 'r7k2m9qx' } };
  return { place: placeOf({ id: 'restore', target: 'drill', ...(cluster ? { cluster } : {}) }, {}, scope, at) };
}

describe('a step whose target resolves elsewhere than where the run was approved', () => {
  it('drill now pointing at production: names both accounts, regions, roles and clusters', () => {
    const planned = plannedOn(targets({ drill: DRILL }));
    expect(placeMoved(planned, targets({ drill: { ...DRILL, ...PROD } }))).toBe(
      'Target `drill` now resolves to account 111111111111, region us-east-1, role arn:aws:iam::111111111111:role/dr-chatops-target, cluster EKS eks-prod, ' +
        'but the run was approved for account 222222222222, region us-west-2, role arn:aws:iam::222222222222:role/dr-chatops-target, cluster EKS eks-drill. ' +
        'The configuration changed after the approval: nothing was called there. Plan the run again to act on the new place.',
    );
  });

  it('the same configuration, or only a label or external id changed: the step runs', () => {
    const at = targets({ drill: DRILL });
    expect(placeMoved(plannedOn(at), at)).toBeUndefined();
    expect(placeMoved(plannedOn(at, 'eks-drill-2'), targets({ drill: { ...DRILL, label: 'Drill cluster', externalId: 'dr-chatops-dr-rotated' } }))).toBeUndefined();
  });

  it('a cluster named at run time is compared as named, whatever the target’s own cluster became', () => {
    const planned = plannedOn(targets({ drill: DRILL }), 'eks-drill-2');
    expect(placeMoved(planned, targets({ drill: { ...DRILL, kubernetes: { eksCluster: 'eks-drill-3' } } }))).toBeUndefined();
    expect(placeMoved(planned, targets({ drill: { ...DRILL, region: 'us-east-1' } }))).toContain('now resolves to region us-east-1, but the run was approved for region us-west-2.');
  });

  it('an endpoint moved: named without the credentials or query of its URL', () => {
    const proxy = (port: number) => `http://dr-bot:s3cret@127.0.0.1:${String(port)}/rds?token=abc123`;
    const planned = plannedOn(targets({ drill: { ...DRILL, endpoints: { rds: proxy(4566) }, rdsEndpoints: { 'us-east-1': proxy(4566) } } }));
    const moved = placeMoved(planned, targets({ drill: { ...DRILL, endpoints: { rds: proxy(4567) } } })) ?? '';
    expect(moved).toContain(
      'now resolves to RDS endpoint http://127.0.0.1:4567/rds, RDS endpoint in us-east-1 (not set), but the run was approved for RDS endpoint http://127.0.0.1:4566/rds, RDS endpoint in us-east-1 http://127.0.0.1:4566/rds.',
    );
    expect(moved).not.toMatch(/s3cret|abc123|dr-bot/);
  });

  it('the Velero backup storage a restore reads its backup from moved: another bucket is another backup', () => {
    const storage = { bucket: 'velero-drill', prefix: 'eks-drill' };
    const planned = plannedOn(targets({ drill: { ...DRILL, veleroBackupStorage: storage } }));
    expect(placeMoved(planned, targets({ drill: { ...DRILL, veleroBackupStorage: { ...storage, bucket: 'velero-prod' } } }))).toContain(
      'now resolves to Velero backup storage s3://velero-prod/eks-drill in us-west-2, but the run was approved for Velero backup storage s3://velero-drill/eks-drill in us-west-2.',
    );
  });

  it('the target is gone from the configuration: says so and where the run was approved', () => {
    const planned = plannedOn(targets({ drill: DRILL }));
    expect(placeMoved(planned, targets({ prod: PROD }))).toBe(
      'Target `drill` is no longer configured (targets: prod), but the run was approved for Drill (drill) · us-west-2 · account 222222222222 · EKS eks-drill. Nothing was called; plan the run again.',
    );
  });

  it('a run planned before plans kept every fact: its region, account and cluster as shown are compared', () => {
    const { place } = plannedOn(targets({ drill: DRILL }));
    const shown = { target: place.target, label: place.label, region: place.region, account: place.account, clusterLabel: place.clusterLabel };
    expect(placeMoved({ place: shown }, targets({ drill: { ...DRILL, endpoints: { rds: 'http://127.0.0.1:4567' } } }))).toBeUndefined();
    expect(placeMoved({ place: shown }, targets({ drill: { ...DRILL, ...PROD } }))).toBe(
      'Target `drill` now resolves to account 111111111111, region us-east-1, cluster EKS eks-prod, but the run was approved for account 222222222222, region us-west-2, cluster EKS eks-drill. ' +
        'The configuration changed after the approval: nothing was called there. Plan the run again to act on the new place.',
    );
  });
});
