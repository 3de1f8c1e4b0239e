/**
 * A loopback Amazon RDS speaking the query protocol the real SDK uses:
 * form-encoded `Action=…&Version=2014-10-31` requests, XML responses, XML
 * `<ErrorResponse>` errors. Holds clusters, instances and snapshots; restored
 * clusters and new instances go `creating` → `available` after a delay; can
 * throttle, fail, or never become ready on demand.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
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
}

export interface FakeInstance {
  id: string;
  clusterId: string;
  instanceClass: string;
  engine: string;
  readyAt: number;
  isWriter: boolean;
}

export interface FakeSnapshot {
  id: string;
  clusterId: string;
  createdAt: Date;
  engine: string;
  engineVersion: string;
  type: 'automated' | 'manual';
}

export interface RdsCall {
  action: string;
  params: Record<string, string>;
}

type Failure = { code: string; message: string; status?: number };

export class FakeRds extends LoopbackFake {
  readonly clusters = new Map<string, FakeCluster>();
  readonly instances = new Map<string, FakeInstance>();
  readonly snapshots: FakeSnapshot[] = [];
  readonly calls: RdsCall[] = [];
  /** Global clusters: id → member cluster ids, the first being the writer. */
  readonly globalClusters = new Map<string, string[]>();
  /** How long restored clusters and new instances stay `creating`. */
  creatingMs = 300;
  /** Clusters or instances (by id) that never become available. */
  readonly neverReady = new Set<string>();
  private readonly failures = new Map<string, Failure[]>();
  /** Fraction of calls answered 503 at random; half of the failed changing calls are applied first (the answer is lost). */
  failRate = 0;

  /** A production cluster with a writer, restorable from `earliest` to `latest`. */
  addCluster(id: string, options: { earliest: Date; latest: Date; writerClass?: string; engineVersion?: string }): FakeCluster {
    const cluster: FakeCluster = {
      id,
      engine: 'aurora-postgresql',
      engineVersion: options.engineVersion ?? '15.4',
      readyAt: 0,
      earliestRestorableTime: options.earliest,
      latestRestorableTime: options.latest,
      backupRetentionPeriod: 35,
      subnetGroup: 'prod-db-subnets',
      securityGroups: ['sg-0db0000000000001'],
      tags: {},
    };
    this.clusters.set(id, cluster);
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

  addSnapshot(snapshot: FakeSnapshot): void {
    this.snapshots.push(snapshot);
  }

  failNext(action: string, failure: Failure, times = 1): void {
    const list = this.failures.get(action) ?? [];
    for (let i = 0; i < times; i++) list.push(failure);
    this.failures.set(action, list);
  }

  callsTo(action: string): RdsCall[] {
    return this.calls.filter((c) => c.action === action);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const { Action: action = '', ...rest } = params;
    this.calls.push({ action, params: rest });
    const failure = this.failures.get(action)?.shift();
    if (failure) {
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
    switch (action) {
      case 'DescribeDBClusters': {
        const id = p.DBClusterIdentifier;
        const clusters = id ? [this.mustCluster(id)] : [...this.clusters.values()];
        return `<DBClusters>${clusters.map((c) => `<DBCluster>${this.clusterXml(c)}</DBCluster>`).join('')}</DBClusters>`;
      }
      case 'DescribeDBInstances': {
        const id = p.DBInstanceIdentifier;
        let list = [...this.instances.values()];
        if (id) {
          const one = this.instances.get(id);
          if (!one) throw new RdsFault('DBInstanceNotFound', `DBInstance ${id} not found.`, 404);
          list = [one];
        }
        if (p['Filters.Filter.1.Name'] === 'db-cluster-id') list = list.filter((i) => i.clusterId === p['Filters.Filter.1.Values.Value.1']);
        return `<DBInstances>${list.map((i) => `<DBInstance>${this.instanceXml(i)}</DBInstance>`).join('')}</DBInstances>`;
      }
      case 'DescribeDBClusterSnapshots': {
        let list = this.snapshots;
        if (p.DBClusterIdentifier) list = list.filter((s) => s.clusterId === p.DBClusterIdentifier);
        if (p.DBClusterSnapshotIdentifier) list = list.filter((s) => s.id === p.DBClusterSnapshotIdentifier);
        return `<DBClusterSnapshots>${list
          .map(
            (s) =>
              `<DBClusterSnapshot>${xml({
                DBClusterSnapshotIdentifier: s.id,
                DBClusterIdentifier: s.clusterId,
                SnapshotCreateTime: s.createdAt.toISOString(),
                Engine: s.engine,
                EngineVersion: s.engineVersion,
                Status: 'available',
                SnapshotType: s.type,
              })}</DBClusterSnapshot>`,
          )
          .join('')}</DBClusterSnapshots>`;
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
        });
        return `<DBCluster>${this.clusterXml(cluster)}</DBCluster>`;
      }
      case 'PromoteReadReplicaDBCluster': {
        const cluster = this.mustCluster(p.DBClusterIdentifier ?? '');
        if (!cluster.replicationSource) throw new RdsFault('InvalidDBClusterStateFault', `DB cluster ${cluster.id} is not a read replica.`);
        delete cluster.replicationSource;
        cluster.readyAt = Date.now() + this.creatingMs;
        return `<DBCluster>${this.clusterXml(cluster)}</DBCluster>`;
      }
      case 'DescribeGlobalClusters': {
        const ids = p.GlobalClusterIdentifier ? [p.GlobalClusterIdentifier] : [...this.globalClusters.keys()];
        return `<GlobalClusters>${ids
          .map((id) => {
            const members = this.globalClusters.get(id);
            if (!members) throw new RdsFault('GlobalClusterNotFoundFault', `Global cluster ${id} not found.`, 404);
            return `<GlobalClusterMember>${xml({ GlobalClusterIdentifier: id, Status: 'available' })}<GlobalClusterMembers>${members
              .map((m, i) => `<GlobalClusterMember>${xml({ DBClusterArn: arn(m), IsWriter: String(i === 0) })}</GlobalClusterMember>`)
              .join('')}</GlobalClusterMembers></GlobalClusterMember>`;
          })
          .join('')}</GlobalClusters>`;
      }
      case 'FailoverGlobalCluster': {
        const id = p.GlobalClusterIdentifier ?? '';
        const members = this.globalClusters.get(id);
        if (!members) throw new RdsFault('GlobalClusterNotFoundFault', `Global cluster ${id} not found.`, 404);
        const target = (p.TargetDbClusterIdentifier ?? '').split(':').pop() ?? '';
        if (!members.includes(target)) throw new RdsFault('DBClusterNotFoundFault', `${target} is not a member of ${id}.`, 404);
        this.globalClusters.set(id, [target, ...members.filter((m) => m !== target)]);
        const cluster = this.mustCluster(target);
        cluster.readyAt = Date.now() + this.creatingMs;
        return `<GlobalCluster>${xml({ GlobalClusterIdentifier: id, Status: 'failing-over' })}</GlobalCluster>`;
      }
      case 'CreateDBInstance': {
        const id = p.DBInstanceIdentifier ?? '';
        if (this.instances.has(id)) throw new RdsFault('DBInstanceAlreadyExists', `DB instance ${id} already exists.`);
        const cluster = this.mustCluster(p.DBClusterIdentifier ?? '');
        if (this.status(cluster.id, cluster.readyAt) !== 'available') {
          throw new RdsFault('InvalidDBClusterStateFault', `DB cluster ${cluster.id} is not available.`);
        }
        if (p.Engine !== cluster.engine) throw new RdsFault('InvalidParameterCombination', `Engine ${p.Engine ?? ''} does not match the cluster.`);
        const hasWriter = [...this.instances.values()].some((i) => i.clusterId === cluster.id);
        const instance: FakeInstance = {
          id,
          clusterId: cluster.id,
          instanceClass: p.DBInstanceClass ?? '',
          engine: p.Engine,
          readyAt: Date.now() + this.creatingMs,
          isWriter: !hasWriter,
        };
        this.instances.set(id, instance);
        return `<DBInstance>${this.instanceXml(instance)}</DBInstance>`;
      }
      default:
        throw new RdsFault('InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  }

  private createCluster(id: string, engine: string, engineVersion: string, p: Record<string, string>, origin: Record<string, string>): FakeCluster {
    if (!/^[a-zA-Z](?:-?[a-zA-Z0-9])*$/.test(id) || id.length > 63) {
      throw new RdsFault('InvalidParameterValue', `Invalid DB cluster identifier: ${id}`);
    }
    if (this.clusters.has(id)) throw new RdsFault('DBClusterAlreadyExistsFault', `DB cluster ${id} already exists.`);
    const tags: Record<string, string> = {};
    for (let i = 1; p[`Tags.Tag.${i}.Key`]; i++) tags[p[`Tags.Tag.${i}.Key`] ?? ''] = p[`Tags.Tag.${i}.Value`] ?? '';
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
    };
    this.clusters.set(id, cluster);
    return cluster;
  }

  private mustCluster(id: string): FakeCluster {
    const cluster = this.clusters.get(id);
    if (!cluster) throw new RdsFault('DBClusterNotFoundFault', `DBCluster ${id} not found.`, 404);
    return cluster;
  }

  private status(id: string, readyAt: number): string {
    return !this.neverReady.has(id) && Date.now() >= readyAt ? 'available' : 'creating';
  }

  private clusterXml(c: FakeCluster): string {
    const members = [...this.instances.values()].filter((i) => i.clusterId === c.id);
    return (
      xml({
        DBClusterIdentifier: c.id,
        DBClusterArn: arn(c.id),
        ...(c.replicationSource ? { ReplicationSourceIdentifier: arn(c.replicationSource) } : {}),
        Engine: c.engine,
        EngineVersion: c.engineVersion,
        Status: this.status(c.id, c.readyAt),
        Endpoint: `${c.id}.cluster-abc123.us-east-1.rds.amazonaws.com`,
        ReaderEndpoint: `${c.id}.cluster-ro-abc123.us-east-1.rds.amazonaws.com`,
        Port: '5432',
        EarliestRestorableTime: c.earliestRestorableTime.toISOString(),
        LatestRestorableTime: c.latestRestorableTime.toISOString(),
        BackupRetentionPeriod: String(c.backupRetentionPeriod),
        DBSubnetGroup: c.subnetGroup,
      }) +
      `<VpcSecurityGroups>${c.securityGroups.map((g) => `<VpcSecurityGroupMembership><VpcSecurityGroupId>${g}</VpcSecurityGroupId><Status>active</Status></VpcSecurityGroupMembership>`).join('')}</VpcSecurityGroups>` +
      `<DBClusterMembers>${members.map((m) => `<DBClusterMember>${xml({ DBInstanceIdentifier: m.id, IsClusterWriter: String(m.isWriter) })}</DBClusterMember>`).join('')}</DBClusterMembers>` +
      `<TagList>${Object.entries(c.tags).map(([k, v]) => `<Tag>${xml({ Key: k, Value: v })}</Tag>`).join('')}</TagList>`
    );
  }

  private instanceXml(i: FakeInstance): string {
    return xml({
      DBInstanceIdentifier: i.id,
      DBClusterIdentifier: i.clusterId,
      DBInstanceClass: i.instanceClass,
      Engine: i.engine,
      DBInstanceStatus: this.status(i.id, i.readyAt),
    });
  }
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
  res
    .writeHead(status, { 'content-type': 'text/xml' })
    .end(
      `<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>${code}</Code>` +
        `<Message>${escape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
    );
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
