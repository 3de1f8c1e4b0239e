/**
 * Two regions' estate for the region-outage tests: the global database
 * prod-aurora-global with its primary prod-aurora in us-east-1 and its
 * secondary prod-aurora-replica in us-west-2 (each region its own FakeRds,
 * sharing the global database), and the DR region's EKS cluster with its
 * pilot-light node group and the application pointed at the primary.
 */
import type { FakeEks } from './fake-eks.ts';
import type { FakeKube } from './fake-kube.ts';
import type { FakeRds } from './fake-rds.ts';

export const GLOBAL = 'prod-aurora-global';
export const PRIMARY = 'prod-aurora';
export const DR_CLUSTER = 'prod-aurora-replica';

export interface RegionFakes {
  primary: FakeRds;
  drRds: FakeRds;
  eks: FakeEks;
  drKube: FakeKube;
}

/** Clears the fakes and sets the estate up afresh; `password` is the application's, which no message may show. */
export function resetRegionEstate({ primary, drRds, eks, drKube }: RegionFakes, password: string): void {
  for (const fake of [primary, drRds]) {
    fake.clusters.clear();
    fake.instances.clear();
    fake.calls.length = 0;
    fake.globalFailoverMs = 400;
  }
  primary.globalClusters.clear();
  primary.globalFailovers.clear();
  primary.globalSync.clear();
  primary.addCluster(PRIMARY, { earliest: new Date(0), latest: new Date() });
  drRds.addCluster(DR_CLUSTER, { earliest: new Date(0), latest: new Date() });
  primary.globalClusters.set(GLOBAL, [PRIMARY, DR_CLUSTER]);

  eks.clusters.clear();
  eks.nodegroups.clear();
  eks.calls.length = 0;
  eks.addCluster('eks-dr', drKube.url);
  eks.addNodegroup('eks-dr', 'workers', { min: 1, max: 1, desired: 1 });
  drKube.deployments.clear();
  drKube.secrets.clear();
  drKube.calls.length = 0;
  drKube.addSecret('production', 'database-credentials', { host: 'prod-aurora.cluster-abc123.us-east-1.rds.amazonaws.com', password });
  drKube.addDeployment('production', 'api-gateway', ['api-gateway:1.6.0'], { replicas: 2 });
}
