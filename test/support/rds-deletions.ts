/**
 * RDS deletions for FakeRds, as RDS does them (Aurora User Guide, "Deleting
 * Aurora DB clusters and DB instances"; API reference DeleteDBCluster,
 * DeleteDBInstance): asynchronous, the object `deleting` for a while and then
 * gone (DBClusterNotFoundFault / DBInstanceNotFound after); a cluster that
 * still holds instances not being deleted is refused (InvalidDBClusterStateFault),
 * so is a protected one, and a cluster deletion must say whether to keep a
 * final snapshot (SkipFinalSnapshot=true, or a FinalDBSnapshotIdentifier, not both).
 */
import type { FakeCluster, FakeInstance } from './fake-rds.ts';

export interface RdsFaultAnswer {
  fault: { code: string; message: string; status?: number };
}

export class RdsDeletions {
  /** When each object being deleted is gone, by `cluster:<id>` / `instance:<id>`. */
  readonly goneAt = new Map<string, number>();
  /** How long a deletion takes. */
  deletingMs = 200;
  private readonly clusters: Map<string, FakeCluster>;
  private readonly instances: Map<string, FakeInstance>;

  constructor(clusters: Map<string, FakeCluster>, instances: Map<string, FakeInstance>) {
    this.clusters = clusters;
    this.instances = instances;
  }

  /** Removes what has finished deleting; called before every answer. */
  settle(now = Date.now()): void {
    for (const [key, at] of this.goneAt) {
      if (now < at) continue;
      const [kind, id = ''] = key.split(':');
      if (kind === 'cluster') this.clusters.delete(id);
      else this.instances.delete(id);
      this.goneAt.delete(key);
    }
  }

  deleting(kind: 'cluster' | 'instance', id: string): boolean {
    return this.goneAt.has(`${kind}:${id}`);
  }

  /** The answer to DeleteDBInstance / DeleteDBCluster (the object's XML, `deleting`), or a fault; undefined for other actions. */
  answer(action: string, p: Record<string, string>, describe: { cluster(c: FakeCluster): string; instance(i: FakeInstance): string }): string | RdsFaultAnswer | undefined {
    if (action === 'DeleteDBInstance') {
      const id = (p.DBInstanceIdentifier ?? '').toLowerCase();
      const instance = this.instances.get(id);
      if (!instance) return { fault: { code: 'DBInstanceNotFound', message: `DBInstance ${id} not found.`, status: 404 } };
      if (this.deleting('instance', id)) return { fault: { code: 'InvalidDBInstanceState', message: `Instance ${id} is already being deleted.` } };
      // An Aurora instance's backups are the cluster's: a final snapshot cannot be asked of it.
      if (p.FinalDBSnapshotIdentifier) return { fault: { code: 'InvalidParameterCombination', message: 'FinalDBSnapshotIdentifier can not be specified when deleting a cluster instance' } };
      this.goneAt.set(`instance:${id}`, Date.now() + this.deletingMs);
      return `<DBInstance>${describe.instance(instance)}</DBInstance>`;
    }
    if (action === 'DeleteDBCluster') {
      const id = (p.DBClusterIdentifier ?? '').toLowerCase();
      const cluster = this.clusters.get(id);
      if (!cluster) return { fault: { code: 'DBClusterNotFoundFault', message: `DBCluster ${id} not found.`, status: 404 } };
      if (this.deleting('cluster', id)) return { fault: { code: 'InvalidDBClusterStateFault', message: `DB cluster ${id} is already being deleted.` } };
      if (cluster.settings?.deletionProtection) return { fault: { code: 'InvalidParameterCombination', message: 'Cannot delete protected Cluster, please disable deletion protection and try again.' } };
      const skip = p.SkipFinalSnapshot === 'true';
      if (skip && p.FinalDBSnapshotIdentifier) return { fault: { code: 'InvalidParameterCombination', message: 'FinalDBSnapshotIdentifier can not be specified when SkipFinalSnapshot is enabled.' } };
      if (!skip && !p.FinalDBSnapshotIdentifier) return { fault: { code: 'InvalidParameterCombination', message: 'FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.' } };
      const members = [...this.instances.values()].filter((i) => i.clusterId === id && !this.deleting('instance', i.id));
      if (members.length) return { fault: { code: 'InvalidDBClusterStateFault', message: 'Cluster cannot be deleted, it still contains DB instances in non-deleting state.' } };
      this.goneAt.set(`cluster:${id}`, Date.now() + this.deletingMs);
      return `<DBCluster>${describe.cluster(cluster)}</DBCluster>`;
    }
    return undefined;
  }
}
