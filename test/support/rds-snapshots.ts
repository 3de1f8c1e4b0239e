/**
 * DB cluster snapshots for FakeRds: CreateDBClusterSnapshot and the
 * `<DBClusterSnapshot>` XML, as the API reference documents them:
 * - the identifier is 1-63 letters, digits or hyphens, a letter first, no
 *   trailing hyphen or two hyphens in a row (InvalidParameterValue), stored
 *   lowercase; one that exists is DBClusterSnapshotAlreadyExistsFault;
 * - the cluster must exist (DBClusterNotFoundFault) and be `available`
 *   (InvalidDBClusterStateFault);
 * - `Tags` follow the Tag rules (the caller's parseTags);
 * - a new snapshot is `creating` (PercentProgress growing) for `creatingMs`,
 *   then `available`; its TagList is reported by DescribeDBClusterSnapshots.
 */
import type { FakeCluster, FakeSnapshot } from './fake-rds.ts';
import type { RdsFaultAnswer } from './rds-deletions.ts';

const SNAPSHOT_ID = /^[a-zA-Z](?:-?[a-zA-Z0-9])*$/;

export interface SnapshotDeps {
  snapshots: FakeSnapshot[];
  cluster(id: string): FakeCluster | undefined;
  status(c: FakeCluster): string;
  parseTags(p: Record<string, string>): Record<string, string>;
  creatingMs: number;
}

/** The answer to CreateDBClusterSnapshot (the snapshot's XML), or a fault. */
export function createClusterSnapshot(p: Record<string, string>, deps: SnapshotDeps): string | RdsFaultAnswer {
  const given = p.DBClusterSnapshotIdentifier ?? '';
  if (!SNAPSHOT_ID.test(given) || given.length > 63) {
    return {
      fault: {
        code: 'InvalidParameterValue',
        message: `The parameter DBClusterSnapshotIdentifier is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.`,
      },
    };
  }
  const id = given.toLowerCase();
  if (deps.snapshots.some((s) => s.id === id)) return { fault: { code: 'DBClusterSnapshotAlreadyExistsFault', message: `Cannot create the cluster snapshot because one with the identifier ${id} already exists.` } };
  const cluster = deps.cluster(p.DBClusterIdentifier ?? '');
  if (!cluster) return { fault: { code: 'DBClusterNotFoundFault', message: `DBCluster ${p.DBClusterIdentifier ?? ''} not found.`, status: 404 } };
  const status = deps.status(cluster);
  if (status !== 'available') return { fault: { code: 'InvalidDBClusterStateFault', message: `DB cluster ${cluster.id} is not in available state (${status}).` } };
  let tags: Record<string, string>;
  try {
    tags = deps.parseTags(p);
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { fault: { code: e.code ?? 'InvalidParameterValue', message: e.message } };
  }
  const snapshot: FakeSnapshot = {
    id,
    clusterId: cluster.id,
    createdAt: new Date(),
    engine: cluster.engine,
    engineVersion: cluster.engineVersion,
    type: 'manual',
    port: cluster.settings?.port ?? 5432,
    iamAuth: cluster.settings?.iamAuth ?? false,
    tags,
    readyAt: Date.now() + deps.creatingMs,
  };
  deps.snapshots.push(snapshot);
  return `<DBClusterSnapshot>${snapshotXml(snapshot)}</DBClusterSnapshot>`;
}

/** `creating` until its `readyAt`, then `available` (snapshots added by a test are available). */
export function snapshotStatus(s: FakeSnapshot, now = Date.now()): { status: string; percent: number } {
  if (s.readyAt === undefined || now >= s.readyAt) return { status: 'available', percent: 100 };
  const total = Math.max(1, s.readyAt - s.createdAt.getTime());
  return { status: 'creating', percent: Math.min(99, Math.floor((100 * (now - s.createdAt.getTime())) / total)) };
}

/** The members of a `<DBClusterSnapshot>`. */
export function snapshotXml(s: FakeSnapshot): string {
  const { status, percent } = snapshotStatus(s);
  return (
    xml({
      DBClusterSnapshotIdentifier: s.id,
      DBClusterIdentifier: s.clusterId,
      SnapshotCreateTime: s.createdAt.toISOString(),
      Engine: s.engine,
      EngineVersion: s.engineVersion,
      Status: status,
      PercentProgress: String(percent),
      SnapshotType: s.type,
      Port: String(s.port ?? 5432),
      IAMDatabaseAuthenticationEnabled: String(s.iamAuth ?? false),
      ...(s.vpcId ? { VpcId: s.vpcId } : {}),
      StorageEncrypted: String(Boolean(s.kmsKeyId)),
      ...(s.kmsKeyId ? { KmsKeyId: s.kmsKeyId } : {}),
    }) +
    (s.availabilityZones?.length ? `<AvailabilityZones>${s.availabilityZones.map((z) => `<AvailabilityZone>${escape(z)}</AvailabilityZone>`).join('')}</AvailabilityZones>` : '') +
    `<TagList>${Object.entries(s.tags ?? {}).map(([k, v]) => `<Tag>${xml({ Key: k, Value: v })}</Tag>`).join('')}</TagList>`
  );
}

function xml(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `<${k}>${escape(v)}</${k}>`)
    .join('');
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
