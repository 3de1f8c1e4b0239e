/**
 * An Aurora cluster's failover inside its region for FakeRds (FailoverDBCluster,
 * API-FACTS 8.1; errors as the model lists them: DBClusterNotFoundFault,
 * InvalidDBClusterStateFault, InvalidDBInstanceState):
 * - refused unless the cluster is `available` (a second failover while one
 *   runs, InvalidDBClusterStateFault), a target that does not exist is
 *   DBInstanceNotFound, a target that is not available InvalidDBInstanceState;
 * - without a target, Aurora picks the reader with the best promotion tier;
 * - the cluster is `failing-over` for `failoverMs`, then the target is the
 *   writer (IsClusterWriter) and the old writer a reader.
 * Instances carry their AZ (DescribeDBInstances AvailabilityZone) and PromotionTier.
 */
import type { FakeCluster, FakeInstance } from './fake-rds.ts';
import type { RdsFaultAnswer } from './rds-deletions.ts';

export class ClusterFailovers {
  /** How long a cluster stays `failing-over`. */
  failoverMs = 300;
  /** Failovers under way, by cluster id. */
  readonly underWay = new Map<string, { from: string | undefined; to: string; until: number }>();
  private readonly clusters: Map<string, FakeCluster>;
  private readonly instances: Map<string, FakeInstance>;

  constructor(clusters: Map<string, FakeCluster>, instances: Map<string, FakeInstance>) {
    this.clusters = clusters;
    this.instances = instances;
  }

  /** A reader (Aurora Replica) of `clusterId` in `zone`; the writer FakeRds.addCluster made is put in `writerZone` when given. */
  addReader(clusterId: string, id: string, zone: string, options: { promotionTier?: number; writerZone?: string; readyAt?: number } = {}): FakeInstance {
    const cluster = this.clusters.get(clusterId.toLowerCase());
    if (!cluster) throw new Error(`no cluster ${clusterId}`);
    const members = [...this.instances.values()].filter((i) => i.clusterId === cluster.id);
    const writer = members.find((i) => i.isWriter);
    if (writer && options.writerZone) writer.availabilityZone = options.writerZone;
    const reader: FakeInstance = { id, clusterId: cluster.id, instanceClass: writer?.instanceClass ?? 'db.r6g.large', engine: cluster.engine, readyAt: options.readyAt ?? 0, isWriter: false, availabilityZone: zone, promotionTier: options.promotionTier ?? 1 };
    this.instances.set(id, reader);
    return reader;
  }

  failingOver(clusterId: string): boolean {
    this.settle();
    return this.underWay.has(clusterId);
  }

  /** Ends the failovers whose time has come: the target is the writer. */
  settle(now = Date.now()): void {
    for (const [clusterId, f] of this.underWay) {
      if (now < f.until) continue;
      this.underWay.delete(clusterId);
      for (const i of this.instances.values()) if (i.clusterId === clusterId) i.isWriter = i.id === f.to;
    }
  }

  /** The answer to FailoverDBCluster (the cluster's XML, `failing-over`), or a fault; undefined for other actions. */
  answer(action: string, p: Record<string, string>, look: { cluster(c: FakeCluster): string; status(id: string, readyAt: number): string }): string | RdsFaultAnswer | undefined {
    if (action !== 'FailoverDBCluster') return undefined;
    this.settle();
    const id = (p.DBClusterIdentifier ?? '').toLowerCase();
    const cluster = this.clusters.get(id);
    if (!cluster) return { fault: { code: 'DBClusterNotFoundFault', message: `DBCluster ${id} not found.`, status: 404 } };
    if (this.underWay.has(id) || look.status(id, cluster.readyAt) !== 'available') {
      return { fault: { code: 'InvalidDBClusterStateFault', message: `DB cluster ${id} is not in available state (${this.underWay.has(id) ? 'failing-over' : look.status(id, cluster.readyAt)}).` } };
    }
    const members = [...this.instances.values()].filter((i) => i.clusterId === id);
    const writer = members.find((i) => i.isWriter);
    let target: FakeInstance | undefined;
    if (p.TargetDBInstanceIdentifier) {
      const targetId = p.TargetDBInstanceIdentifier.toLowerCase();
      target = this.instances.get(targetId);
      if (!target) return { fault: { code: 'DBInstanceNotFound', message: `DBInstance ${targetId} not found.`, status: 404 } };
      // Not in the model's error list: how RDS words a target of another cluster is unverified.
      if (target.clusterId !== id) return { fault: { code: 'InvalidParameterValue', message: `DB instance ${targetId} is not a member of DB cluster ${id}.` } };
      if (look.status(target.id, target.readyAt) !== 'available') return { fault: { code: 'InvalidDBInstanceState', message: `DB instance ${targetId} is not available.` } };
    } else {
      target = members.filter((i) => !i.isWriter && look.status(i.id, i.readyAt) === 'available').sort((a, b) => (a.promotionTier ?? 1) - (b.promotionTier ?? 1))[0];
      if (!target) return { fault: { code: 'InvalidDBClusterStateFault', message: `DB cluster ${id} has no Aurora Replica to fail over to.` } };
    }
    this.underWay.set(id, { from: writer?.id, to: target.id, until: Date.now() + this.failoverMs });
    return `<DBCluster>${look.cluster(cluster)}</DBCluster>`;
  }
}
