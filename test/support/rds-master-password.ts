/**
 * An Aurora cluster's master password for FakeRds: ModifyDBCluster with
 * `MasterUserPassword`, `RotateMasterUserPassword` or `ManageMasterUserPassword`,
 * refused as the ModifyDBCluster reference and the Aurora User Guide
 * ("Password management with Amazon Aurora and AWS Secrets Manager") say:
 * - the cluster must be `available` (InvalidDBClusterStateFault);
 * - `RotateMasterUserPassword` only with an RDS-managed master secret and
 *   `ApplyImmediately=true` ("You must apply the change immediately when
 *   rotating the master user password"), never with a `MasterUserPassword`;
 * - `MasterUserPassword` not with a managed secret; 8-41 characters for
 *   Aurora, printable ASCII except `/`, `"`, `@` and space (RDS's own
 *   message); without `ApplyImmediately` it waits for the maintenance window
 *   (PendingModifiedValues) and the password does not change;
 * - a member of a global database cannot have a managed password ("DB clusters
 *   that are part of an Aurora global database" are not supported), and a
 *   secondary takes no password of its own: the primary's replicates to it.
 *   The error codes of these two are not documented; InvalidParameterCombination
 *   is used, with RDS's wording for a secondary given a password at creation.
 * While the change is applied the cluster is `resetting-master-credentials`
 * (and a managed secret `rotating`) for `applyMs`; then the password is the
 * database's, and a managed secret holds it as a new AWSCURRENT version.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { FakeCluster } from './fake-rds.ts';
import type { FakeSecretsManager } from './fake-secrets-manager.ts';
import type { RdsFaultAnswer } from './rds-deletions.ts';

/** An RDS-managed master secret (`MasterUserSecret`). */
export interface ManagedSecret {
  arn: string;
  name: string;
  region: string;
  status: 'active' | 'rotating' | 'impaired' | 'creating';
}

interface Change {
  until: number;
  /** The password being set; a rotation makes its own. */
  password?: string;
}

/** What the answer needs of FakeRds. */
export interface PasswordLook {
  cluster(c: FakeCluster): string;
  status(id: string, readyAt: number): string;
  /** The global database `id` is a member of, and whether it is its primary; undefined when none. */
  globalMembership(id: string): { global: string; primary: boolean } | undefined;
}

const fault = (code: string, message: string, status = 400): RdsFaultAnswer => ({ fault: { code, message, status } });
const BAD_CHARACTERS = /[^\x21-\x7e]|[/"@]/;

export class MasterPasswords {
  /** How long a password change or rotation takes. */
  applyMs = 300;
  /** The database's master password, by cluster id (what a client must log in with). */
  readonly current = new Map<string, string>();
  /** A password sent without ApplyImmediately, waiting for the maintenance window. */
  readonly pending = new Map<string, string>();
  /** Managed secrets by cluster id. */
  readonly managed = new Map<string, ManagedSecret>();
  private readonly underWay = new Map<string, Change>();
  private secrets: FakeSecretsManager | undefined;
  private readonly clusters: Map<string, FakeCluster>;
  private readonly region: () => string;

  constructor(clusters: Map<string, FakeCluster>, region: () => string) {
    this.clusters = clusters;
    this.region = region;
  }

  /** Where managed secrets live (RDS creates them in Secrets Manager, in the cluster's region). */
  keepSecretsIn(secrets: FakeSecretsManager): void {
    this.secrets = secrets;
  }

  /** Gives `clusterId` an RDS-managed master secret (`rds!cluster-<uuid>`, OwningService rds) holding `password`. */
  manage(clusterId: string, password = generated()): ManagedSecret {
    const id = clusterId.toLowerCase();
    if (!this.secrets) throw new Error('call keepSecretsIn(secretsManager) first');
    const name = `rds!cluster-${randomUUID()}`;
    const region = this.region();
    const arn = this.secrets.addSecret(region, name, { owningService: 'rds', value: secretValue(password) });
    const secret: ManagedSecret = { arn, name, region, status: 'active' };
    this.managed.set(id, secret);
    this.current.set(id, password);
    return secret;
  }

  /** Whether a change is being applied to the cluster (`resetting-master-credentials`). */
  resetting(id: string): boolean {
    this.settle();
    return this.underWay.has(id);
  }

  /** Applies the changes whose time has come. */
  settle(now = Date.now()): void {
    for (const [id, change] of this.underWay) {
      if (now < change.until) continue;
      this.underWay.delete(id);
      const secret = this.managed.get(id);
      const password = change.password ?? generated();
      this.current.set(id, password);
      if (secret) {
        this.secrets?.putValue(secret.region, secret.name, secretValue(password));
        secret.status = 'active';
      }
    }
  }

  /** `<MasterUserSecret>` and `<PendingModifiedValues>` of a cluster's XML. */
  xml(id: string): string {
    this.settle();
    const secret = this.managed.get(id);
    return (
      (secret ? `<MasterUserSecret><SecretArn>${secret.arn}</SecretArn><SecretStatus>${secret.status}</SecretStatus><KmsKeyId>alias/aws/secretsmanager</KmsKeyId></MasterUserSecret>` : '') +
      (this.pending.has(id) ? '<PendingModifiedValues><MasterUserPassword>****</MasterUserPassword></PendingModifiedValues>' : '')
    );
  }

  /** The answer to ModifyDBCluster (the cluster's XML), or a fault; undefined for other actions. */
  answer(action: string, p: Record<string, string>, look: PasswordLook): string | RdsFaultAnswer | undefined {
    if (action !== 'ModifyDBCluster') return undefined;
    this.settle();
    const id = (p.DBClusterIdentifier ?? '').toLowerCase();
    const cluster = this.clusters.get(id);
    if (!cluster) return fault('DBClusterNotFoundFault', `DBCluster ${id} not found.`, 404);
    const known = new Set(['Version', 'DBClusterIdentifier', 'ApplyImmediately', 'MasterUserPassword', 'RotateMasterUserPassword', 'ManageMasterUserPassword']);
    const other = Object.keys(p).filter((k) => !known.has(k));
    if (other.length) return fault('InvalidAction', `the fake RDS's ModifyDBCluster changes the master password only (asked: ${other.join(', ')})`);
    const status = this.underWay.has(id) ? 'resetting-master-credentials' : look.status(id, cluster.readyAt);
    if (status !== 'available') return fault('InvalidDBClusterStateFault', `DB cluster ${id} is not in available state (${status}).`);
    const immediately = p.ApplyImmediately === 'true';
    const managed = this.managed.get(id);
    const membership = look.globalMembership(id);
    if (p.ManageMasterUserPassword === 'true') {
      if (membership) return fault('InvalidParameterCombination', `Managing the master user password with Secrets Manager isn't supported for DB clusters that are part of an Aurora global database (${membership.global}).`);
      if (p.MasterUserPassword !== undefined) return fault('InvalidParameterCombination', "MasterUserPassword can't be specified if ManageMasterUserPassword is turned on.");
      if (!managed) this.manage(id, this.current.get(id) ?? generated());
      return `<DBCluster>${look.cluster(cluster)}</DBCluster>`;
    }
    if (p.RotateMasterUserPassword === 'true') {
      if (!managed) return fault('InvalidParameterCombination', 'RotateMasterUserPassword is valid only if the master user password is managed by RDS in Secrets Manager for the DB cluster.');
      if (p.MasterUserPassword !== undefined) return fault('InvalidParameterCombination', "MasterUserPassword can't be specified with RotateMasterUserPassword.");
      if (!immediately) return fault('InvalidParameterCombination', 'You must apply the change immediately when rotating the master user password.');
      managed.status = 'rotating';
      this.underWay.set(id, { until: Date.now() + this.applyMs });
      return `<DBCluster>${look.cluster(cluster)}</DBCluster>`;
    }
    const password = p.MasterUserPassword;
    if (password === undefined) return fault('InvalidParameterCombination', 'No modifications were requested.');
    if (managed) return fault('InvalidParameterCombination', "MasterUserPassword can't be specified if ManageMasterUserPassword is turned on.");
    if (membership && !membership.primary) return fault('InvalidParameterCombination', 'Cannot specify password for cross region replication cluster');
    if (password.length < 8) return fault('InvalidParameterValue', 'The parameter MasterUserPassword is not a valid password because it is shorter than 8 characters.');
    if (password.length > 41) return fault('InvalidParameterValue', 'The parameter MasterUserPassword is not a valid password because it is longer than 41 characters.');
    if (BAD_CHARACTERS.test(password)) return fault('InvalidParameterValue', "The parameter MasterUserPassword is not a valid password. Only printable ASCII characters besides '/', '@', '\"', ' ' may be used.");
    if (!immediately) {
      this.pending.set(id, password);
      return `<DBCluster>${look.cluster(cluster)}</DBCluster>`;
    }
    this.pending.delete(id);
    this.underWay.set(id, { until: Date.now() + this.applyMs, password });
    return `<DBCluster>${look.cluster(cluster)}</DBCluster>`;
  }
}

/** What an RDS-managed master secret holds. */
function secretValue(password: string): string {
  return JSON.stringify({ username: 'postgres', password });
}

function generated(): string {
  return randomBytes(24).toString('base64').replace(/[/+=]/g, 'x');
}
