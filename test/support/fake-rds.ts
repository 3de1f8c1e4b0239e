/**
 * A loopback Amazon RDS speaking the query protocol the real SDK uses:
 * form-encoded `Action=…&Version=2014-10-31` requests, XML responses, XML
 * `<ErrorResponse>` errors. Holds clusters, instances and snapshots; restored
 * clusters and new instances go `creating` → `available` after a delay; can
 * throttle, fail, or never become ready on demand.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RdsDeletions } from './rds-deletions.ts';
import { ClusterFailovers } from './rds-cluster-failover.ts';
import { GlobalDatabases, type GlobalOperation } from './rds-global.ts';
import { MasterPasswords } from './rds-master-password.ts';
import { createClusterSnapshot, snapshotXml } from './rds-snapshots.ts';
import { checkQueryRequest } from './aws-models/query.ts';
import { recordModelRefusal } from './aws-models/refusals.ts';
import { type FakeSts, queryCredentialRefusal, sendQueryError, sigV4Caller } from './fake-sts.ts';
import { injectedFailure, LoopbackFake, readBody } from './loopback.ts';

export interface FakeCluster {
  id: string;
  engine: string;
  engineVersion: string;
  /** `available` once `readyAt` has passed, `creating` before. */
  readyAt: number;
  earliestRestorableTime: Date;
  latestRestorableTime: Date;
  backupRetentionPeriod: number;
  subnetGroup: string;
  securityGroups: string[];
  tags: Record<string, string>;
  /** How it was made, for assertions. */
  origin?: Record<string, string>;
  /** A cross-region read replica's source (until promoted). */
  replicationSource?: string;
  /** While PromoteReadReplicaDBCluster runs: status `promoting` until then, and the replication source is kept. */
  promotingUntil?: number;
  /** Settings a restore does not inherit (API-FACTS 7.1); RDS's defaults when absent. */
  settings?: FakeClusterSettings;
  /** Where its Endpoint and Port answer (a test's local PostgreSQL); an rds.amazonaws.com name and the settings' port when absent. */
  endpoint?: { address: string; port: number };
  /** Its MasterUsername (`postgres` when absent; a restore keeps the source's). */
  masterUsername?: string;
}

export interface FakeClusterSettings {
  parameterGroup?: string;
  port?: number;
  iamAuth?: boolean;
  deletionProtection?: boolean;
  logExports?: string[];
  copyTagsToSnapshot?: boolean;
  /** Serverless v2 scaling (ACUs): needed before a `db.serverless` instance can join the cluster. */
  serverlessV2?: { min: number; max: number };
}

export interface FakeInstance {
  id: string;
  clusterId: string;
  instanceClass: string;
  engine: string;
  readyAt: number;
  isWriter: boolean;
  /** Its AZ name (DescribeDBInstances AvailabilityZone), and its failover priority (PromotionTier, 0 first). */
  availabilityZone?: string;
  promotionTier?: number;
  /** Settings Describe reports (a source writer's, or what CreateDBInstance was given). */
  parameterGroup?: string;
  monitoringInterval?: number;
  monitoringRoleArn?: string;
  performanceInsights?: { kmsKeyId?: string; retentionDays?: number };
}

export interface FakeSnapshot {
  id: string;
  clusterId: string;
  createdAt: Date;
  engine: string;
  engineVersion: string;
  type: 'automated' | 'manual';
  port?: number;
  iamAuth?: boolean;
  /** What DescribeDBClusterSnapshots reports of the cluster it was taken of (a snapshot records no subnet group or security groups). */
  vpcId?: string;
  kmsKeyId?: string;
  availabilityZones?: string[];
  /** Its TagList (CreateDBClusterSnapshot's Tags). */
  tags?: Record<string, string>;
  /** `creating` until then (CreateDBClusterSnapshot); available when absent. */
  readyAt?: number;
}

export interface RdsCall {
  action: string;
  params: Record<string, string>;
}

/** Who signed a request: the SigV4 access key id (undefined for an unsigned one). */
export interface AwsCaller {
  action: string;
  accessKeyId: string | undefined;
}

/** An injected error answer; `afterApply`: the change is made first and only the answer fails (a lost response). */
type Failure = { code: string; message: string; status?: number; afterApply?: boolean };

export class FakeRds extends LoopbackFake {
  readonly clusters = new Map<string, FakeCluster>();
  readonly instances = new Map<string, FakeInstance>();
  readonly snapshots: FakeSnapshot[] = [];
  readonly calls: RdsCall[] = [];
  /** Who signed each request, in order: which credentials a target's client used. */
  readonly callers: AwsCaller[] = [];
  /** Requests the service model refused (aws-models/), for tests to assert there are none. */
  readonly modelRefusals: (RdsCall & { code: string; message: string })[] = [];
  /** Global clusters: id → member cluster ids, the first being the writer. */
  /** Where restored clusters' Endpoint and Port answer (a test's local PostgreSQL, holding the data as restored). */
  restoredEndpoint: { address: string; port: number } | undefined;
  /** Clusters and instances being deleted (DeleteDBCluster, DeleteDBInstance): `deleting`, then gone. */
  readonly deletions = new RdsDeletions(this.clusters, this.instances);
  /** Failovers inside the region (FailoverDBCluster): `failing-over`, then the target reader is the writer; `addReader`. */
  readonly failovers = new ClusterFailovers(this.clusters, this.instances);
  /** Master passwords and RDS-managed master secrets (ModifyDBCluster); `passwords.keepSecretsIn(secretsManager)` first. */
  readonly passwords = new MasterPasswords(this.clusters, () => this.region);
  /** How long a snapshot CreateDBClusterSnapshot makes stays `creating`. */
  snapshotCreatingMs = 300;
  get globalClusters(): Map<string, string[]> {
    return this.global.members;
  }
  /** A secondary's SynchronizationStatus in DescribeGlobalClusters (`connected` unless set: `pending-resync`). */
  get globalSync(): Map<string, string> {
    return this.global.sync;
  }
  /** Global failovers and switchovers under way (`failing-over` / `switching-over`, FailoverState set) until `until`; `cancelling`: ends with the old writer. */
  get globalFailovers(): Map<string, GlobalOperation> {
    return this.global.operations;
  }
  /** The region this fake is (its clusters' ARNs name it). */
  region = 'us-west-2';
  /** The global databases, shared with the other regions' fakes by `shareGlobalDatabases` (rds-global.ts). */
  private global = new GlobalDatabases();
  /** How long a global failover or switchover lasts before the target becomes the writer. */
  globalFailoverMs = 300;
  /** How long restored clusters and new instances stay `creating`. */
  creatingMs = 300;
  /** Clusters or instances (by id) that never become available. */
  readonly neverReady = new Set<string>();
  /** Clusters or instances (by id) put into a state on demand (`forceStatus`), e.g. a terminal `incompatible-parameters`. */
  readonly forcedStatus = new Map<string, string>();
  /** DB cluster parameter groups that exist besides RDS's `default.*` ones (those of added clusters too): a restore naming another is refused. */
  readonly clusterParameterGroups = new Set<string>();
  private readonly failures = new Map<string, Failure[]>();
  private sessionIssuer: FakeSts | undefined;
  /** Fraction of calls answered 503 at random; half of the failed changing calls are applied first (the answer is lost). */
  failRate = 0;

  /** A production cluster with a writer, restorable from `earliest` to `latest`. */
  addCluster(
    mixedCaseId: string,
    options: { earliest: Date; latest: Date; writerClass?: string; engine?: string; engineVersion?: string; settings?: FakeClusterSettings; endpoint?: { address: string; port: number }; masterUsername?: string },
  ): FakeCluster {
    const id = mixedCaseId.toLowerCase();
    const cluster: FakeCluster = {
      id,
      engine: options.engine ?? 'aurora-postgresql',
      engineVersion: options.engineVersion ?? '15.4',
      readyAt: 0,
      earliestRestorableTime: options.earliest,
      latestRestorableTime: options.latest,
      backupRetentionPeriod: 35,
      subnetGroup: 'prod-db-subnets',
      securityGroups: ['sg-0db00000000000001'],
      tags: {},
      ...(options.settings ? { settings: options.settings } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.masterUsername ? { masterUsername: options.masterUsername } : {}),
    };
    this.clusters.set(id, cluster);
    if (options.settings?.parameterGroup) this.clusterParameterGroups.add(options.settings.parameterGroup);
    this.instances.set(`${id}-instance-1`, {
      id: `${id}-instance-1`,
      clusterId: id,
      instanceClass: options.writerClass ?? 'db.r6g.large',
      engine: cluster.engine,
      readyAt: 0,
      isWriter: true,
    });
    return cluster;
  }

  /** Puts a cluster or instance into `status` (e.g. `incompatible-parameters`, `deleted`) until cleared from `forcedStatus`. */
  forceStatus(id: string, status: string): void {
    this.forcedStatus.set(id.toLowerCase(), status);
  }

  /** Cancels a global failover under way, as RDS does when it cannot complete it: `cancelling` for a while, then the old writer stays. */
  cancelGlobalFailover(id: string): void {
    this.global.cancel(id);
  }

  /**
   * Makes this fake the region `region` of the global databases `other`
   * serves: one global database across two regions' RDS, each holding its own
   * members (a switchover asked of the primary's is seen in the DR region's).
   */
  shareGlobalDatabases(other: FakeRds, region: string): this {
    this.region = region;
    this.global = other.global;
    this.global.fakes.add(other);
    this.global.fakes.add(this);
    return this;
  }

  addSnapshot(snapshot: FakeSnapshot): void {
    this.snapshots.push(snapshot);
  }

  /**
   * Deletes a cluster as DeleteDBCluster does: it and its instances are gone (DBClusterNotFoundFault),
   * its automated snapshots go with it, its manual snapshots stay listable by its id, and a final
   * snapshot (`finalSnapshotId`, SnapshotType `manual`) is taken of it.
   */
  deleteCluster(mixedCaseId: string, options: { finalSnapshotId?: string; vpcId?: string; kmsKeyId?: string; availabilityZones?: string[] } = {}): void {
    const cluster = this.mustCluster(mixedCaseId);
    this.clusters.delete(cluster.id);
    for (const [id, instance] of this.instances) if (instance.clusterId === cluster.id) this.instances.delete(id);
    for (let i = this.snapshots.length - 1; i >= 0; i--) {
      if (this.snapshots[i]?.clusterId === cluster.id && this.snapshots[i]?.type === 'automated') this.snapshots.splice(i, 1);
    }
    if (options.finalSnapshotId) {
      const { finalSnapshotId, ...recorded } = options;
      this.snapshots.push({
        id: finalSnapshotId,
        clusterId: cluster.id,
        createdAt: new Date(),
        engine: cluster.engine,
        engineVersion: cluster.engineVersion,
        type: 'manual',
        port: cluster.settings?.port ?? 5432,
        iamAuth: cluster.settings?.iamAuth ?? false,
        ...recorded,
      });
    }
  }

  failNext(action: string, failure: Failure, times = 1): void {
    const list = this.failures.get(action) ?? [];
    for (let i = 0; i < times; i++) list.push(failure);
    this.failures.set(action, list);
  }

  callsTo(action: string): RdsCall[] {
    return this.calls.filter((c) => c.action === action);
  }

  /**
   * Session credentials (ASIA…) are accepted only while `sts` says they are
   * live, as RDS asks STS: unknown ones and expired ones are refused. Static
   * keys are accepted as before.
   */
  trustSessionsFrom(sts: FakeSts): this {
    this.sessionIssuer = sts;
    return this;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const { Action: action = '', ...rest } = params;
    this.calls.push({ action, params: rest });
    const caller = sigV4Caller(req.headers);
    this.callers.push({ action, accessKeyId: caller?.accessKeyId });
    // AWS authenticates a request before it reads it.
    const refused = queryCredentialRefusal(this.sessionIssuer?.standing(caller));
    if (refused) {
      sendError(res, 403, refused.code, refused.message);
      return;
    }
    // Every request must pass AWS's service model first, as it must to reach RDS.
    const problem = checkQueryRequest('rds', action, rest);
    if (problem) {
      this.modelRefusals.push({ action, params: rest, ...problem });
      recordModelRefusal({ service: 'rds', operation: action, ...problem });
      sendError(res, 400, problem.code, problem.message);
      return;
    }
    const failure = this.failures.get(action)?.shift();
    if (failure && !failure.afterApply) {
      sendError(res, failure.status ?? 400, failure.code, failure.message);
      return;
    }
    const chaos = injectedFailure(this.failRate, !action.startsWith('Describe'));
    if (chaos === 'before') {
      sendError(res, 503, 'ServiceUnavailable', 'injected failure');
      return;
    }
    try {
      const result = this.answer(action, rest);
      if (failure) {
        sendError(res, failure.status ?? 400, failure.code, failure.message);
        return;
      }
      if (chaos === 'after') {
        sendError(res, 503, 'ServiceUnavailable', 'injected failure after the change was applied');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/xml' }).end(
        `<${action}Response xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><${action}Result>${result}</${action}Result>` +
          `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
      );
    } catch (err) {
      if (err instanceof RdsFault) sendError(res, err.status, err.code, err.message);
      else sendError(res, 500, 'InternalFailure', String(err));
    }
  }

  private answer(action: string, p: Record<string, string>): string {
    this.deletions.settle();
    const deleted = this.deletions.answer(action, p, { cluster: (c) => this.clusterXml(c), instance: (i) => this.instanceXml(i) });
    if (typeof deleted === 'string') return deleted;
    if (deleted) throw new RdsFault(deleted.fault.code, deleted.fault.message, deleted.fault.status);
    const failedOver = this.failovers.answer(action, p, { cluster: (c) => this.clusterXml(c), status: (id, readyAt) => this.status(id, readyAt) });
    if (typeof failedOver === 'string') return failedOver;
    if (failedOver) throw new RdsFault(failedOver.fault.code, failedOver.fault.message, failedOver.fault.status);
    const password = this.passwords.answer(action, p, { cluster: (c) => this.clusterXml(c), status: (id, readyAt) => this.status(id, readyAt), globalMembership: (id) => this.globalMembership(id) });
    if (typeof password === 'string') return password;
    if (password) throw new RdsFault(password.fault.code, password.fault.message, password.fault.status);
    switch (action) {
      case 'DescribeDBClusters': {
        const id = p.DBClusterIdentifier;
        const clusters = id ? [this.mustCluster(id)] : [...this.clusters.values()];
        return `<DBClusters>${clusters.map((c) => `<DBCluster>${this.clusterXml(c)}</DBCluster>`).join('')}</DBClusters>`;
      }
      case 'DescribeDBInstances': {
        const id = p.DBInstanceIdentifier?.toLowerCase();
        let list = [...this.instances.values()];
        if (id) {
          const one = this.instances.get(id);
          if (!one) throw new RdsFault('DBInstanceNotFound', `DBInstance ${id} not found.`, 404);
          list = [one];
        }
        if (p['Filters.Filter.1.Name'] === 'db-cluster-id') list = list.filter((i) => i.clusterId === p['Filters.Filter.1.Values.Value.1']?.toLowerCase());
        return `<DBInstances>${list.map((i) => `<DBInstance>${this.instanceXml(i)}</DBInstance>`).join('')}</DBInstances>`;
      }
      case 'DescribeDBClusterSnapshots': {
        let list = this.snapshots;
        const clusterId = p.DBClusterIdentifier ?? (p['Filters.Filter.1.Name'] === 'db-cluster-id' ? p['Filters.Filter.1.Values.Value.1'] : undefined);
        if (clusterId) list = list.filter((s) => s.clusterId === clusterId.toLowerCase());
        const snapshotId = p.DBClusterSnapshotIdentifier?.toLowerCase();
        if (snapshotId) {
          list = list.filter((s) => s.id === snapshotId);
          // Named and not there: RDS answers with a fault, not an empty list.
          if (!list.length) throw new RdsFault('DBClusterSnapshotNotFoundFault', `DBClusterSnapshot ${snapshotId} not found.`, 404);
        }
        return `<DBClusterSnapshots>${list.map((s) => `<DBClusterSnapshot>${snapshotXml(s)}</DBClusterSnapshot>`).join('')}</DBClusterSnapshots>`;
      }
      case 'CreateDBClusterSnapshot': {
        const created = createClusterSnapshot(p, {
          snapshots: this.snapshots,
          cluster: (id) => this.clusters.get(id.toLowerCase()),
          status: (c) => this.status(c.id, c.readyAt),
          parseTags,
          creatingMs: this.snapshotCreatingMs,
        });
        if (typeof created === 'string') return created;
        throw new RdsFault(created.fault.code, created.fault.message, created.fault.status);
      }
      case 'RestoreDBClusterToPointInTime': {
        const source = this.mustCluster(p.SourceDBClusterIdentifier ?? '');
        const target = p.DBClusterIdentifier ?? '';
        const toTime = p.RestoreToTime;
        const latest = p.UseLatestRestorableTime === 'true';
        if (Boolean(toTime) === latest) {
          throw new RdsFault('InvalidParameterCombination', 'Exactly one of RestoreToTime and UseLatestRestorableTime is required.');
        }
        if (toTime && p.RestoreType === 'copy-on-write') {
          throw new RdsFault('InvalidParameterCombination', 'RestoreToTime cannot be specified with RestoreType copy-on-write.');
        }
        if (toTime) {
          const t = Date.parse(toTime);
          if (t < source.earliestRestorableTime.getTime() || t > source.latestRestorableTime.getTime()) {
            throw new RdsFault('InvalidRestoreFault', `The restore time ${toTime} is outside the restorable window.`);
          }
        }
        const cluster = this.createCluster(target, source.engine, source.engineVersion, p, {
          source: source.id,
          restoreTo: toTime ?? 'latest',
          restoreType: p.RestoreType ?? 'full-copy',
        });
        return `<DBCluster>${this.clusterXml(cluster)}</DBCluster>`;
      }
      case 'RestoreDBClusterFromSnapshot': {
        const snapshot = this.snapshots.find((s) => s.id === p.SnapshotIdentifier);
        if (!snapshot) throw new RdsFault('DBClusterSnapshotNotFoundFault', `DBClusterSnapshot ${p.SnapshotIdentifier ?? ''} not found.`, 404);
        if (!p.Engine) throw new RdsFault('InvalidParameterValue', 'Engine is required.');
        const cluster = this.createCluster(p.DBClusterIdentifier ?? '', p.Engine, p.EngineVersion ?? snapshot.engineVersion, p, {
          snapshot: snapshot.id,
          ...(p.KmsKeyId ? { kmsKeyId: p.KmsKeyId } : {}),
        });
        return `<DBCluster>${this.clusterXml(cluster)}</DBCluster>`;
      }
      case 'PromoteReadReplicaDBCluster': {
        const cluster = this.mustCluster(p.DBClusterIdentifier ?? '');
        this.settlePromotion(cluster);
        if (cluster.promotingUntil !== undefined) throw new RdsFault('InvalidDBClusterStateFault', `DB cluster ${cluster.id} is promoting.`);
        if (!cluster.replicationSource) throw new RdsFault('InvalidDBClusterStateFault', `DB cluster ${cluster.id} is not a read replica.`);
        // Aurora keeps the replica `promoting` (still with its replication source) for a while before it is a standalone writer.
        cluster.promotingUntil = Date.now() + this.creatingMs;
        return `<DBCluster>${this.clusterXml(cluster)}</DBCluster>`;
      }
      case 'DescribeGlobalClusters':
      case 'FailoverGlobalCluster':
      case 'SwitchoverGlobalCluster': {
        const answer = this.global.answer(action, p, this, this.globalFailoverMs);
        if (typeof answer === 'string') return answer;
        throw new RdsFault(answer?.fault.code ?? 'InternalFailure', answer?.fault.message ?? action, answer?.fault.status);
      }
      case 'CreateDBInstance': {
        // RDS stores identifiers lowercase ("stored as a lowercase string").
        const id = (p.DBInstanceIdentifier ?? '').toLowerCase();
        if (this.instances.has(id)) throw new RdsFault('DBInstanceAlreadyExists', `DB instance ${id} already exists.`);
        const cluster = this.mustCluster(p.DBClusterIdentifier ?? '');
        if (this.status(cluster.id, cluster.readyAt) !== 'available') {
          throw new RdsFault('InvalidDBClusterStateFault', `DB cluster ${cluster.id} is not available.`);
        }
        if (p.Engine !== cluster.engine) throw new RdsFault('InvalidParameterCombination', `Engine ${p.Engine ?? ''} does not match the cluster.`);
        // Aurora User Guide: "the cluster must have a ServerlessV2ScalingConfiguration attribute before you can
        // add any DB instances that use the db.serverless DB instance class".
        if (p.DBInstanceClass === 'db.serverless' && !cluster.settings?.serverlessV2) {
          throw new RdsFault('InvalidDBClusterStateFault', 'Set the Serverless v2 scaling configuration on the parent DB cluster before creating a Serverless v2 DB instance.');
        }
        parseTags(p);
        const hasWriter = [...this.instances.values()].some((i) => i.clusterId === cluster.id);
        const instance: FakeInstance = {
          id,
          clusterId: cluster.id,
          instanceClass: p.DBInstanceClass ?? '',
          engine: p.Engine,
          readyAt: Date.now() + this.creatingMs,
          isWriter: !hasWriter,
          ...(p.DBParameterGroupName ? { parameterGroup: p.DBParameterGroupName } : {}),
          ...(p.MonitoringInterval ? { monitoringInterval: Number(p.MonitoringInterval) } : {}),
          ...(p.MonitoringRoleArn ? { monitoringRoleArn: p.MonitoringRoleArn } : {}),
          ...(p.EnablePerformanceInsights === 'true'
            ? {
                performanceInsights: {
                  ...(p.PerformanceInsightsKMSKeyId ? { kmsKeyId: p.PerformanceInsightsKMSKeyId } : {}),
                  ...(p.PerformanceInsightsRetentionPeriod ? { retentionDays: Number(p.PerformanceInsightsRetentionPeriod) } : {}),
                },
              }
            : {}),
        };
        this.instances.set(id, instance);
        return `<DBInstance>${this.instanceXml(instance)}</DBInstance>`;
      }
      default:
        throw new RdsFault('InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  }

  private createCluster(mixedCaseId: string, engine: string, engineVersion: string, p: Record<string, string>, origin: Record<string, string>): FakeCluster {
    if (!/^[a-zA-Z](?:-?[a-zA-Z0-9])*$/.test(mixedCaseId) || mixedCaseId.length > 63) {
      throw new RdsFault('InvalidParameterValue', `Invalid DB cluster identifier: ${mixedCaseId}`);
    }
    const id = mixedCaseId.toLowerCase();
    if (this.clusters.has(id)) throw new RdsFault('DBClusterAlreadyExistsFault', `DB cluster ${id} already exists.`);
    const tags = parseTags(p);
    const parameterGroup = p.DBClusterParameterGroupName;
    if (parameterGroup && !parameterGroup.startsWith('default.') && !this.clusterParameterGroups.has(parameterGroup)) {
      throw new RdsFault('DBClusterParameterGroupNotFound', `DBClusterParameterGroup not found: ${parameterGroup}`, 404);
    }
    const groups: string[] = [];
    for (let i = 1; p[`VpcSecurityGroupIds.VpcSecurityGroupId.${i}`]; i++) groups.push(p[`VpcSecurityGroupIds.VpcSecurityGroupId.${i}`] ?? '');
    const now = new Date();
    const cluster: FakeCluster = {
      id,
      engine,
      engineVersion,
      readyAt: Date.now() + this.creatingMs,
      earliestRestorableTime: now,
      latestRestorableTime: now,
      backupRetentionPeriod: 1,
      subnetGroup: p.DBSubnetGroupName ?? 'default',
      securityGroups: groups.length ? groups : ['sg-default'],
      tags,
      origin,
      settings: settingsOf(p),
      ...(this.restoredEndpoint ? { endpoint: this.restoredEndpoint } : {}),
    };
    this.clusters.set(id, cluster);
    return cluster;
  }

  /** The global database a cluster of this region is a member of, and whether it is the primary (the first member). */
  private globalMembership(id: string): { global: string; primary: boolean } | undefined {
    for (const [global, members] of this.global.members) if (members.includes(id)) return { global, primary: members[0] === id };
    return undefined;
  }

  private mustCluster(id: string): FakeCluster {
    const cluster = this.clusters.get(id.toLowerCase());
    if (!cluster) throw new RdsFault('DBClusterNotFoundFault', `DBCluster ${id} not found.`, 404);
    return cluster;
  }

  /** Ends a promotion whose time has come: the replica leaves replication for good. */
  private settlePromotion(c: FakeCluster): void {
    if (c.promotingUntil !== undefined && Date.now() >= c.promotingUntil) {
      delete c.promotingUntil;
      delete c.replicationSource;
    }
  }

  private status(id: string, readyAt: number): string {
    const forced = this.forcedStatus.get(id);
    if (forced) return forced;
    if (this.deletions.deleting('cluster', id) || this.deletions.deleting('instance', id)) return 'deleting';
    if (this.failovers.failingOver(id)) return 'failing-over';
    if (this.passwords.resetting(id)) return 'resetting-master-credentials';
    return !this.neverReady.has(id) && Date.now() >= readyAt ? 'available' : 'creating';
  }

  private clusterXml(c: FakeCluster): string {
    this.settlePromotion(c);
    const members = [...this.instances.values()].filter((i) => i.clusterId === c.id);
    return (
      xml({
        DBClusterIdentifier: c.id,
        DBClusterArn: this.global.arnOf(c.id, this),
        ...(c.replicationSource ? { ReplicationSourceIdentifier: arn(c.replicationSource) } : {}),
        Engine: c.engine,
        EngineVersion: c.engineVersion,
        Status: c.promotingUntil !== undefined && !this.forcedStatus.has(c.id) ? 'promoting' : this.status(c.id, c.readyAt),
        Endpoint: c.endpoint?.address ?? `${c.id}.cluster-abc123.us-east-1.rds.amazonaws.com`,
        ReaderEndpoint: `${c.id}.cluster-ro-abc123.us-east-1.rds.amazonaws.com`,
        Port: String(c.endpoint?.port ?? c.settings?.port ?? 5432),
        MasterUsername: c.masterUsername ?? 'postgres',
        DBClusterParameterGroup: c.settings?.parameterGroup ?? `default.${c.engine}${c.engineVersion.split('.')[0] ?? ''}`,
        IAMDatabaseAuthenticationEnabled: String(c.settings?.iamAuth ?? false),
        DeletionProtection: String(c.settings?.deletionProtection ?? false),
        // RDS reports MultiAZ for an Aurora cluster with instances in more than one AZ; the fake's instances spread across AZs.
        MultiAZ: String(members.length > 1),
        CopyTagsToSnapshot: String(c.settings?.copyTagsToSnapshot ?? false),
        EarliestRestorableTime: c.earliestRestorableTime.toISOString(),
        LatestRestorableTime: c.latestRestorableTime.toISOString(),
        BackupRetentionPeriod: String(c.backupRetentionPeriod),
        DBSubnetGroup: c.subnetGroup,
      }) +
      (c.settings?.logExports?.length ? `<EnabledCloudwatchLogsExports>${c.settings.logExports.map((l) => `<member>${escape(l)}</member>`).join('')}</EnabledCloudwatchLogsExports>` : '') +
      (c.settings?.serverlessV2
        ? `<ServerlessV2ScalingConfiguration>${xml({ MinCapacity: String(c.settings.serverlessV2.min), MaxCapacity: String(c.settings.serverlessV2.max) })}</ServerlessV2ScalingConfiguration>`
        : '') +
      `<VpcSecurityGroups>${c.securityGroups.map((g) => `<VpcSecurityGroupMembership><VpcSecurityGroupId>${g}</VpcSecurityGroupId><Status>active</Status></VpcSecurityGroupMembership>`).join('')}</VpcSecurityGroups>` +
      `<DBClusterMembers>${members.map((m) => `<DBClusterMember>${xml({ DBInstanceIdentifier: m.id, IsClusterWriter: String(m.isWriter) })}</DBClusterMember>`).join('')}</DBClusterMembers>` +
      `<TagList>${Object.entries(c.tags).map(([k, v]) => `<Tag>${xml({ Key: k, Value: v })}</Tag>`).join('')}</TagList>` +
      this.passwords.xml(c.id)
    );
  }

  private instanceXml(i: FakeInstance): string {
    return xml({
      DBInstanceIdentifier: i.id,
      DBClusterIdentifier: i.clusterId,
      DBInstanceClass: i.instanceClass,
      Engine: i.engine,
      DBInstanceStatus: this.status(i.id, i.readyAt),
      ...(i.availabilityZone ? { AvailabilityZone: i.availabilityZone } : {}),
      ...(i.promotionTier !== undefined ? { PromotionTier: String(i.promotionTier) } : {}),
      ...(i.monitoringInterval !== undefined ? { MonitoringInterval: String(i.monitoringInterval) } : {}),
      ...(i.monitoringRoleArn ? { MonitoringRoleArn: i.monitoringRoleArn } : {}),
      PerformanceInsightsEnabled: String(Boolean(i.performanceInsights)),
      ...(i.performanceInsights?.kmsKeyId ? { PerformanceInsightsKMSKeyId: i.performanceInsights.kmsKeyId } : {}),
      ...(i.performanceInsights?.retentionDays ? { PerformanceInsightsRetentionPeriod: String(i.performanceInsights.retentionDays) } : {}),
    }) +
      `<DBParameterGroups><DBParameterGroup>${xml({ DBParameterGroupName: i.parameterGroup ?? 'default.aurora-postgresql15', ParameterApplyStatus: 'in-sync' })}</DBParameterGroup></DBParameterGroups>`;
  }
}

/**
 * The `Tags` of a request, refused as RDS refuses them (RDS API reference, `Tag`): keys of 1-128 characters,
 * values of at most 256, neither beginning with `aws:`, and values not beginning with `rds:` (API-FACTS 7.1).
 */
function parseTags(p: Record<string, string>): Record<string, string> {
  const tags: Record<string, string> = {};
  for (let i = 1; p[`Tags.Tag.${i}.Key`] !== undefined; i++) {
    const key = p[`Tags.Tag.${i}.Key`] ?? '';
    const value = p[`Tags.Tag.${i}.Value`] ?? '';
    if (key.length < 1 || key.length > 128) throw new RdsFault('InvalidParameterValue', `Tag key must be 1 to 128 characters long: ${key}`);
    if (/^aws:/i.test(key)) throw new RdsFault('InvalidParameterValue', `Tag keys cannot start with "aws:": ${key}`);
    if (value.length > 256) throw new RdsFault('InvalidParameterValue', `Tag value must be at most 256 characters long (tag ${key})`);
    if (/^(aws|rds):/i.test(value)) throw new RdsFault('InvalidParameterValue', `Tag values cannot start with "aws:" or "rds:": ${value}`);
    tags[key] = value;
  }
  return tags;
}

/** The settings a restore request asks for; absent members take RDS's defaults. */
function settingsOf(p: Record<string, string>): FakeClusterSettings {
  const bool = (name: string) => (p[name] === undefined ? undefined : p[name] === 'true');
  const logs: string[] = [];
  for (let i = 1; p[`EnableCloudwatchLogsExports.member.${i}`] !== undefined; i++) logs.push(p[`EnableCloudwatchLogsExports.member.${i}`] ?? '');
  const min = p['ServerlessV2ScalingConfiguration.MinCapacity'];
  const max = p['ServerlessV2ScalingConfiguration.MaxCapacity'];
  const settings: FakeClusterSettings = {};
  if (p.DBClusterParameterGroupName) settings.parameterGroup = p.DBClusterParameterGroupName;
  if (p.Port) settings.port = Number(p.Port);
  const iam = bool('EnableIAMDatabaseAuthentication');
  if (iam !== undefined) settings.iamAuth = iam;
  const deletion = bool('DeletionProtection');
  if (deletion !== undefined) settings.deletionProtection = deletion;
  const copyTags = bool('CopyTagsToSnapshot');
  if (copyTags !== undefined) settings.copyTagsToSnapshot = copyTags;
  if (logs.length) settings.logExports = logs;
  if (min !== undefined && max !== undefined) settings.serverlessV2 = { min: Number(min), max: Number(max) };
  return settings;
}

class RdsFault extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendQueryError(res, 'http://rds.amazonaws.com/doc/2014-10-31/', status, code, message);
}

function arn(clusterId: string): string {
  return `arn:aws:rds:us-west-2:123456789012:cluster:${clusterId}`;
}

function xml(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `<${k}>${escape(v)}</${k}>`)
    .join('');
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
