/**
 * A loopback AWS Secrets Manager (awsJson1_1, `X-Amz-Target: secretsmanager.<Operation>`):
 * DescribeSecret for the readiness checklist, GetSecretValue and
 * PutSecretValue for what comes later. One fake serves every region: a secret
 * lives in its primary region and in each replica region whose replica is
 * InSync, under the same name, with the ARN of that region (API-FACTS 8.6).
 *
 * As Secrets Manager answers: empty fields are left out; DescribeSecret in
 * the primary region lists ReplicationStatus (Region, KmsKeyId, Status
 * InSync|Failed|InProgress, StatusMessage, LastAccessedDate only once read
 * there); a secret unknown by name or ARN (full or partial) in the region
 * asked is ResourceNotFoundException; a secret marked for deletion refuses
 * reads and writes; writes to a replica are refused. The model
 * (aws-models/json.ts) refuses malformed requests with ValidationException.
 * Secret values never reach the calls log.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { AwsJsonError, AwsJsonFake, type CallContext, type JsonProtocol } from './aws-json-fake.ts';

export type ReplicaStatus = 'InSync' | 'Failed' | 'InProgress';

export interface SecretReplica {
  region: string;
  status?: ReplicaStatus;
  statusMessage?: string;
  kmsKeyId?: string;
  /** When it was last read in that region (absent: never). */
  lastAccessedAt?: Date;
}

export interface SecretOptions {
  value?: string;
  description?: string;
  kmsKeyId?: string;
  /** A secret another service manages (`rds` for an RDS-managed master password). */
  owningService?: string;
  replicas?: SecretReplica[];
  rotation?: { lambdaArn?: string; automaticallyAfterDays?: number; lastRotatedAt?: Date; nextRotationAt?: Date };
  tags?: Record<string, string>;
  /** Marked for deletion at this time (DeletedDate). */
  deletedAt?: Date;
}

interface Version {
  id: string;
  value: { SecretString?: string; SecretBinary?: string };
  stages: string[];
  createdAt: Date;
}

interface Secret extends Omit<SecretOptions, 'replicas' | 'value'> {
  name: string;
  primaryRegion: string;
  account: string;
  suffix: string;
  createdAt: Date;
  lastChangedAt: Date;
  /** Last read, per region (Secrets Manager reports the day). */
  accessed: Map<string, Date>;
  replicas: Map<string, Required<Pick<SecretReplica, 'status' | 'statusMessage'>> & SecretReplica>;
  versions: Version[];
}

const NOT_FOUND = "Secrets Manager can't find the specified secret.";
const MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion.";
const ARN = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/;

export class FakeSecretsManager extends AwsJsonFake {
  protected readonly protocol: JsonProtocol = { service: 'secretsmanager', signingName: 'secretsmanager', jsonVersion: '1.1' };
  account = '123456789012';
  private readonly secrets: Secret[] = [];

  /** A secret in its primary `region`, replicated as `options.replicas` say (InSync unless given). Returns its ARN. */
  addSecret(region: string, name: string, options: SecretOptions = {}): string {
    const { value, replicas = [], ...rest } = options;
    const now = new Date();
    const secret: Secret = {
      ...rest,
      name,
      primaryRegion: region,
      account: this.account,
      suffix: randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').slice(0, 6),
      createdAt: now,
      lastChangedAt: now,
      accessed: new Map(),
      replicas: new Map(),
      versions: value === undefined ? [] : [{ id: randomUUID(), value: { SecretString: value }, stages: ['AWSCURRENT'], createdAt: now }],
    };
    for (const r of replicas) this.putReplica(secret, r);
    this.secrets.push(secret);
    return arnOf(secret, region);
  }

  /** Sets (or adds) the replica of `name` in `replicaRegion`, e.g. `Failed` with the message Secrets Manager gives. */
  setReplicaStatus(primaryRegion: string, name: string, replicaRegion: string, status: ReplicaStatus, statusMessage?: string): void {
    this.putReplica(this.primary(primaryRegion, name), { region: replicaRegion, status, ...(statusMessage ? { statusMessage } : {}) });
  }

  removeReplica(primaryRegion: string, name: string, replicaRegion: string): void {
    this.primary(primaryRegion, name).replicas.delete(replicaRegion);
  }

  /** The AWSCURRENT value of a secret (for a test's assertions). */
  currentValue(primaryRegion: string, name: string): string | undefined {
    return this.primary(primaryRegion, name).versions.find((v) => v.stages.includes('AWSCURRENT'))?.value.SecretString;
  }

  /**
   * A new AWSCURRENT value of a secret, as the service owning it writes one (RDS rotating a
   * managed master password); the previous value becomes AWSPREVIOUS. Returns the new VersionId.
   */
  putValue(primaryRegion: string, name: string, value: string): string {
    return this.put(this.primary(primaryRegion, name), primaryRegion, { SecretString: value }).VersionId;
  }

  protected override redact(_operation: string, input: Record<string, unknown>): Record<string, unknown> {
    const out = { ...input };
    for (const key of ['SecretString', 'SecretBinary']) if (key in out) out[key] = '[redacted]';
    return out;
  }

  protected answer(operation: string, input: Record<string, unknown>, ctx: CallContext): unknown {
    if (!['DescribeSecret', 'GetSecretValue', 'PutSecretValue'].includes(operation)) throw new AwsJsonError('InvalidRequestException', `The fake Secrets Manager does not implement ${operation}.`);
    const secret = this.resolve(String(input.SecretId), ctx.region);
    const arn = arnOf(secret, ctx.region);
    switch (operation) {
      case 'DescribeSecret':
        return this.describe(secret, ctx.region);
      case 'GetSecretValue': {
        if (secret.deletedAt) throw new AwsJsonError('InvalidRequestException', MARKED_FOR_DELETION);
        const version = findVersion(secret, input.VersionId as string | undefined, input.VersionStage as string | undefined);
        secret.accessed.set(ctx.region, new Date());
        return { ARN: arn, Name: secret.name, VersionId: version.id, ...version.value, VersionStages: [...version.stages], CreatedDate: version.createdAt };
      }
      default:
        return { ARN: arn, Name: secret.name, ...this.put(secret, ctx.region, input) };
    }
  }

  private put(secret: Secret, region: string, input: Record<string, unknown>): { VersionId: string; VersionStages: string[] } {
    if (region !== secret.primaryRegion) throw new AwsJsonError('InvalidRequestException', "Operation not permitted on a replica secret. Call must be made in primary secret's region.");
    if (secret.deletedAt) throw new AwsJsonError('InvalidRequestException', MARKED_FOR_DELETION);
    const value = { ...(typeof input.SecretString === 'string' ? { SecretString: input.SecretString } : {}), ...(typeof input.SecretBinary === 'string' ? { SecretBinary: input.SecretBinary } : {}) };
    const given = Object.keys(value).length;
    if (given !== 1) throw new AwsJsonError('InvalidParameterException', given === 0 ? 'You must provide either SecretString or SecretBinary.' : "You can't specify both a binary secret value and a string secret value in the same secret.");
    const id = typeof input.ClientRequestToken === 'string' ? input.ClientRequestToken : randomUUID();
    const existing = secret.versions.find((v) => v.id === id);
    if (existing) {
      // Sending the same request again is idempotent; another value under the same token is not.
      if (JSON.stringify(existing.value) === JSON.stringify(value)) return { VersionId: existing.id, VersionStages: [...existing.stages] };
      throw new AwsJsonError('ResourceExistsException', "You can't modify an existing version, you can only create a new version.");
    }
    const stages = Array.isArray(input.VersionStages) ? (input.VersionStages as string[]) : ['AWSCURRENT'];
    // A label is on one version at a time; the version that loses AWSCURRENT becomes AWSPREVIOUS.
    const previous = stages.includes('AWSCURRENT') ? secret.versions.find((v) => v.stages.includes('AWSCURRENT')) : undefined;
    for (const v of secret.versions) v.stages = v.stages.filter((s) => !stages.includes(s) && !(previous && s === 'AWSPREVIOUS'));
    previous?.stages.push('AWSPREVIOUS');
    secret.versions.push({ id, value, stages: [...stages], createdAt: new Date() });
    secret.lastChangedAt = new Date();
    return { VersionId: id, VersionStages: stages };
  }

  private describe(secret: Secret, region: string): unknown {
    const inPrimary = region === secret.primaryRegion;
    const replicas = [...secret.replicas.values()].map((r) => ({
      Region: r.region,
      KmsKeyId: r.kmsKeyId ?? 'alias/aws/secretsmanager',
      Status: r.status,
      StatusMessage: r.statusMessage,
      LastAccessedDate: day(secret.accessed.get(r.region) ?? r.lastAccessedAt),
    }));
    const versions = Object.fromEntries(secret.versions.filter((v) => v.stages.length > 0).map((v) => [v.id, [...v.stages]]));
    const tags = Object.entries(secret.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
    return {
      ARN: arnOf(secret, region),
      Name: secret.name,
      Description: secret.description,
      KmsKeyId: secret.kmsKeyId,
      RotationEnabled: secret.rotation ? true : undefined,
      RotationLambdaARN: secret.rotation?.lambdaArn,
      RotationRules: secret.rotation?.automaticallyAfterDays ? { AutomaticallyAfterDays: secret.rotation.automaticallyAfterDays } : undefined,
      LastRotatedDate: secret.rotation?.lastRotatedAt,
      NextRotationDate: secret.rotation?.nextRotationAt,
      LastChangedDate: secret.lastChangedAt,
      LastAccessedDate: day(secret.accessed.get(region)),
      DeletedDate: secret.deletedAt,
      Tags: tags.length ? tags : undefined,
      VersionIdsToStages: Object.keys(versions).length ? versions : undefined,
      OwningService: secret.owningService,
      CreatedDate: secret.createdAt,
      PrimaryRegion: secret.primaryRegion,
      ReplicationStatus: inPrimary && replicas.length ? replicas : undefined,
    };
  }

  private putReplica(secret: Secret, r: SecretReplica): void {
    const status = r.status ?? 'InSync';
    const statusMessage = r.statusMessage ?? (status === 'InSync' ? 'Replication succeeded' : status === 'InProgress' ? 'Replication in progress' : 'Replication failed');
    secret.replicas.set(r.region, { ...r, status, statusMessage });
  }

  private primary(region: string, name: string): Secret {
    const secret = this.secrets.find((s) => s.primaryRegion === region && s.name === name);
    if (!secret) throw new Error(`no secret ${name} with primary region ${region} in the fake Secrets Manager`);
    return secret;
  }

  /** The secret `id` (a name, a full ARN, or an ARN without its 6-character suffix) names in `region`. */
  private resolve(id: string, region: string): Secret {
    const inRegion = this.secrets.filter((s) => s.primaryRegion === region || s.replicas.get(region)?.status === 'InSync');
    const arn = ARN.exec(id);
    const found = arn
      ? inRegion.find((s) => arn[1] === region && arn[2] === s.account && (arn[3] === `${s.name}-${s.suffix}` || arn[3] === s.name))
      : inRegion.find((s) => s.name === id);
    if (!found) throw new AwsJsonError('ResourceNotFoundException', NOT_FOUND);
    return found;
  }
}

function arnOf(secret: Secret, region: string): string {
  return `arn:aws:secretsmanager:${region}:${secret.account}:secret:${secret.name}-${secret.suffix}`;
}

/** Secrets Manager reports when a secret was last read to the day. */
function day(at: Date | undefined): Date | undefined {
  return at ? new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate())) : undefined;
}

function findVersion(secret: Secret, versionId: string | undefined, stage: string | undefined): Version {
  const wanted = stage ?? (versionId === undefined ? 'AWSCURRENT' : undefined);
  const version = secret.versions.find((v) => (versionId === undefined || v.id === versionId) && (wanted === undefined || v.stages.includes(wanted)));
  if (!version) {
    const what = versionId !== undefined ? `VersionId: ${versionId}` : `staging label: ${wanted ?? ''}`;
    throw new AwsJsonError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for ${what}`);
  }
  return version;
}
