/**
 * Aurora global databases for FakeRds, as RDS documents them (API-FACTS 8.1;
 * API reference FailoverGlobalCluster, SwitchoverGlobalCluster, FailoverState):
 *
 * - One state can be shared by the FakeRds of each region a test models
 *   (`FakeRds.shareGlobalDatabases`): a switchover asked in the primary's
 *   region is then seen in the DR region's DescribeGlobalClusters. A member is
 *   in the region of the fake that holds it; one no fake holds is in another
 *   region (`regions`, else us-east-1, or us-west-2 seen from us-east-1).
 * - FailoverGlobalCluster (AllowDataLoss) may be asked in any member's region
 *   (the target's, as the docs tell); SwitchoverGlobalCluster only in the
 *   primary's: elsewhere it is refused, since a switchover needs the primary.
 * - While a failover or switchover runs, the global cluster is `failing-over`
 *   or `switching-over` with a FailoverState (IsDataLossAllowed true for a
 *   failover, false for a switchover), and a second one is refused
 *   (InvalidGlobalClusterStateFault). A switchover is also refused while a
 *   secondary is not `connected`: it must catch up first, losing nothing.
 * - When its time has come the target becomes the writer (unless cancelled).
 *
 * Simplification: the error code of a switchover asked outside the primary's
 * region is not documented; InvalidGlobalClusterStateFault is used.
 */
import type { FakeCluster } from './fake-rds.ts';
import type { RdsFaultAnswer } from './rds-deletions.ts';

export interface GlobalOperation {
  from: string;
  to: string;
  until: number;
  /** RDS is cancelling it: `cancelling` until `until`, then the old writer stays. */
  cancelling?: boolean;
  /** A switchover (no data lost) rather than a failover (data loss allowed). */
  switchover?: boolean;
}

/** The region answering a request: its own region and the clusters it holds. */
export interface RegionOfFake {
  region: string;
  clusters: Map<string, FakeCluster>;
}

export class GlobalDatabases {
  /** Global clusters: id → member cluster ids, the first being the writer. */
  readonly members = new Map<string, string[]>();
  /** A secondary's SynchronizationStatus (`connected` unless set: `pending-resync`). */
  readonly sync = new Map<string, string>();
  /** Failovers and switchovers under way until `until`. */
  readonly operations = new Map<string, GlobalOperation>();
  /** The region of a member no sharing fake holds. */
  readonly regions = new Map<string, string>();
  /** The fakes (regions) sharing this state. */
  readonly fakes = new Set<RegionOfFake>();

  /** The region `member` is in, as seen by `here`. */
  regionOf(member: string, here: RegionOfFake): string {
    if (here.clusters.has(member)) return here.region;
    for (const fake of this.fakes) if (fake.clusters.has(member)) return fake.region;
    return this.regions.get(member) ?? (here.region === 'us-east-1' ? 'us-west-2' : 'us-east-1');
  }

  arnOf(member: string, here: RegionOfFake): string {
    return `arn:aws:rds:${this.regionOf(member, here)}:123456789012:cluster:${member}`;
  }

  /** Cancels an operation under way, as RDS does when it cannot complete it: `cancelling` for a while, then the old writer stays. */
  cancel(id: string): void {
    const op = this.operations.get(id);
    if (op) op.cancelling = true;
  }

  /** Ends an operation whose time has come: the target becomes the writer (unless cancelled). */
  settle(id: string): void {
    const op = this.operations.get(id);
    const members = this.members.get(id);
    if (!op || !members || Date.now() < op.until) return;
    this.operations.delete(id);
    if (!op.cancelling) this.members.set(id, [op.to, ...members.filter((m) => m !== op.to)]);
  }

  /** The answer to the global database calls, a fault, or undefined for other actions. */
  answer(action: string, p: Record<string, string>, here: RegionOfFake, operationMs: number): string | RdsFaultAnswer | undefined {
    switch (action) {
      case 'DescribeGlobalClusters': {
        const ids = p.GlobalClusterIdentifier ? [p.GlobalClusterIdentifier] : [...this.members.keys()];
        const missing = ids.find((id) => !this.members.has(id));
        if (missing) return notFound(missing);
        return `<GlobalClusters>${ids.map((id) => `<GlobalClusterMember>${this.describe(id, here)}</GlobalClusterMember>`).join('')}</GlobalClusters>`;
      }
      case 'FailoverGlobalCluster':
      case 'SwitchoverGlobalCluster': {
        const id = p.GlobalClusterIdentifier ?? '';
        const members = this.members.get(id);
        if (!members) return notFound(id);
        const target = (p.TargetDbClusterIdentifier ?? '').split(':').pop() ?? '';
        if (!members.includes(target)) return fault('DBClusterNotFoundFault', `${target} is not a member of ${id}.`, 404);
        this.settle(id);
        const running = this.operations.get(id);
        // While one runs the global cluster is failing-over / switching-over, and RDS refuses another (API-FACTS 7.1).
        if (running) return fault('InvalidGlobalClusterStateFault', `Global cluster ${id} is in ${running.switchover ? 'switching-over' : 'failing-over'} state.`);
        const writer = members[0] ?? '';
        const switchover = action === 'SwitchoverGlobalCluster' || (p.Switchover === 'true' && p.AllowDataLoss !== 'true');
        if (p.AllowDataLoss === 'true' && p.Switchover === 'true') return fault('InvalidParameterCombination', 'AllowDataLoss and Switchover cannot be specified together.');
        // A failover is asked in the target's region (API-FACTS 8.1): the target is a cluster of the region answering.
        if (!switchover && !here.clusters.has(target)) return fault('DBClusterNotFoundFault', `DBCluster ${target} not found.`, 404);
        if (switchover) {
          const writerRegion = this.regionOf(writer, here);
          if (writerRegion !== here.region) {
            return fault('InvalidGlobalClusterStateFault', `A switchover of global cluster ${id} must be requested in the primary cluster's region (${writerRegion}), not ${here.region}.`);
          }
          const behind = members.slice(1).filter((m) => (this.sync.get(m) ?? 'connected') !== 'connected');
          if (behind.length) return fault('InvalidGlobalClusterStateFault', `Global cluster ${id} cannot switch over: ${behind.join(', ')} is not connected (${behind.map((m) => this.sync.get(m) ?? '').join(', ')}).`);
        }
        this.operations.set(id, { from: writer, to: target, until: Date.now() + operationMs, ...(switchover ? { switchover: true } : {}) });
        return `<GlobalCluster>${this.describe(id, here)}</GlobalCluster>`;
      }
      default:
        return undefined;
    }
  }

  private describe(id: string, here: RegionOfFake): string {
    this.settle(id);
    const op = this.operations.get(id);
    const moving = op?.switchover ? 'switching-over' : 'failing-over';
    const state = op
      ? `<FailoverState>${xml({ Status: op.cancelling ? 'cancelling' : moving, FromDbClusterArn: this.arnOf(op.from, here), ToDbClusterArn: this.arnOf(op.to, here), IsDataLossAllowed: String(!op.switchover) })}</FailoverState>`
      : '';
    const members = (this.members.get(id) ?? [])
      .map((m, i) => `<GlobalClusterMember>${xml({ DBClusterArn: this.arnOf(m, here), IsWriter: String(i === 0), ...(i === 0 ? {} : { SynchronizationStatus: this.sync.get(m) ?? 'connected' }) })}</GlobalClusterMember>`)
      .join('');
    return `${xml({ GlobalClusterIdentifier: id, Status: op ? moving : 'available' })}${state}<GlobalClusterMembers>${members}</GlobalClusterMembers>`;
  }
}

function notFound(id: string): RdsFaultAnswer {
  return fault('GlobalClusterNotFoundFault', `Global cluster ${id} not found.`, 404);
}

function fault(code: string, message: string, status = 400): RdsFaultAnswer {
  return { fault: { code, message, status } };
}

function xml(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `<${k}>${v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</${k}>`)
    .join('');
}
