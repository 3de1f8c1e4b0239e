/**
 * One region's estate for the single-AZ-failure tests: us-east-1, where this
 * account's us-east-1a is use1-az1 and us-east-1b is use1-az6 (nothing in a
 * name tells its id); a load balancer ARC can shift; the Aurora cluster with
 * its writer in `writerZone` and a reader in us-east-1b; Kubernetes nodes in
 * both zones and the application `api` (a deployment, and pods of it on
 * those nodes).
 */
import type { Obj } from './fake-velero.ts';
import type { FakeArcZonalShift } from './fake-arc-zonal-shift.ts';
import type { FakeEc2 } from './fake-ec2.ts';
import type { FakeKube } from './fake-kube.ts';
import type { FakeRds } from './fake-rds.ts';

export const WEB = 'arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/0123456789abcdef';
export const A0 = 'ip-10-0-1-10.ec2.internal';
export const A1 = 'ip-10-0-1-11.ec2.internal';
export const B0 = 'ip-10-0-2-10.ec2.internal';
export const CLUSTER = 'prod-aurora-cluster';
export const READER_1B = 'prod-aurora-reader-1b';
export const podType = { group: '', version: 'v1', resource: 'pods', kind: 'Pod' };

const ZONE_OF: Record<string, string> = { [A0]: 'us-east-1a', [A1]: 'us-east-1a', [B0]: 'us-east-1b' };
const POD_OF: Record<string, string> = { [A0]: 'api-7d9f8-abcde', [A1]: 'api-7d9f8-fghij', [B0]: 'api-7d9f8-klmno' };

export const nodeName = (pod: Obj) => ((pod.spec ?? {}) as { nodeName?: string }).nodeName ?? '';
export const unschedulable = (node: Obj | undefined) => ((node?.spec ?? {}) as { unschedulable?: boolean }).unschedulable === true;

export interface AzFakes {
  arc: FakeArcZonalShift;
  ec2: FakeEc2;
  rds: FakeRds;
  kube: FakeKube;
}

export interface AzEstateOptions {
  /** Where the Aurora writer is: us-east-1a (the failing zone) unless given. */
  writerZone?: string;
  /** The Kubernetes nodes, each with one pod of `api`: A0, A1 and B0 unless given. */
  nodes?: string[];
  /** How long the fakes take to apply a shift, a failover, an eviction. */
  delayMs?: number;
}

/** Clears the fakes and sets the estate up afresh. */
export function resetAzEstate({ arc, ec2, rds, kube }: AzFakes, options: AzEstateOptions = {}): void {
  const delayMs = options.delayMs ?? 300;
  arc.shifts.clear();
  arc.calls.length = 0;
  arc.applyAfterMs = Math.min(delayMs, 200);
  ec2.setZones('us-east-1', [['us-east-1a', 'use1-az1'], ['us-east-1b', 'use1-az6']]);
  arc.setRegionZones('us-east-1', ['use1-az1', 'use1-az2', 'use1-az3', 'use1-az4', 'use1-az5', 'use1-az6']);
  arc.addManagedResource(WEB, ['use1-az1', 'use1-az6']);

  rds.clusters.clear();
  rds.instances.clear();
  rds.calls.length = 0;
  rds.failovers.underWay.clear();
  rds.failovers.failoverMs = delayMs;
  rds.addCluster(CLUSTER, { earliest: new Date(0), latest: new Date() });
  rds.failovers.addReader(CLUSTER, READER_1B, 'us-east-1b', { writerZone: options.writerZone ?? 'us-east-1a' });

  kube.nodeObjects.clear();
  kube.objects.clear();
  kube.evictions.clear();
  kube.calls.length = 0;
  kube.evictions.graceMs = delayMs;
  const nodes = options.nodes ?? [A0, A1, B0];
  for (const node of nodes) kube.addNode(node, { zone: ZONE_OF[node] ?? 'us-east-1b' });
  // The workload k8s.verify-workloads waits for; the pods below are the ones its selector (app: api) takes in on the nodes.
  kube.addDeployment('production', 'api', ['api:2.1.0'], { replicas: 3 });
  for (const node of nodes) kube.addPod('production', POD_OF[node] ?? `api-7d9f8-${node.slice(3, 8)}`, { ownerKind: 'ReplicaSet', ownerName: 'api-7d9f8', labels: { app: 'api' }, nodeName: node });
}
