import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { SecretChecksSchema } from '../../../src/steps/readiness/secrets.ts';
import { metadataKey } from '../../../src/steps/velero/object-store.ts';
import { TargetsSettingSchema } from '../../../src/targets/config.ts';
import { sessionName } from '../../../src/targets/credentials.ts';
import { newRunId } from '../../../src/util/ids.ts';
import { readText, sourceFiles, yamlDocs } from './files.ts';

/** @aws-sdk/client-<name> → IAM service prefix. */
const SERVICES: Record<string, string> = {
  rds: 'rds',
  eks: 'eks',
  sts: 'sts',
  s3: 's3',
  cloudwatch: 'cloudwatch',
  ecr: 'ecr',
  'secrets-manager': 'secretsmanager',
  'route-53': 'route53',
  ec2: 'ec2',
  'route53-recovery-cluster': 'route53-recovery-cluster',
};
/** Services whose resources another service's ARNs name: routing controls are route53-recovery-control's. */
const RESOURCE_SERVICE: Record<string, string> = { 'route53-recovery-cluster': 'route53-recovery-control' };
/** Calls IAM authorizes under another action's name (Service Authorization Reference, and each call's API page). */
const IAM_ACTION: Record<string, string> = { 's3:ListObjectsV2': 's3:ListBucket', 's3:GetBucketReplication': 's3:GetReplicationConfiguration' };
/**
 * Calls IAM does not authorize: GetCallerIdentity needs no permission, and an
 * explicit deny of sts:GetCallerIdentity does not stop it (STS API Reference).
 */
const NEEDS_NO_PERMISSION = new Set(['sts:GetCallerIdentity']);
/**
 * Actions with no resource types in the Service Authorization Reference: IAM
 * matches them only against `"*"`, so no ARN can narrow them. Each is a read.
 */
const NO_RESOURCE_TYPES = new Set(['cloudwatch:GetMetricData', 'ecr:DescribeRegistry', 'route53:ListHostedZonesByName', 'route53:TestDNSAnswer', 'arc-zonal-shift:ListZonalShifts', 'ec2:DescribeAvailabilityZones']);
/**
 * Services whose resources IAM names by a condition key on `"*"`, as their
 * docs show it: zonal shift's resources are other services' (load balancers,
 * EKS clusters, Auto Scaling groups), named in `arc-zonal-shift:ResourceIdentifier`.
 */
const CONDITION_SCOPED: Record<string, string> = { 'arc-zonal-shift': 'arc-zonal-shift:ResourceIdentifier' };
/** Zonal shift calls made without an SDK client (src/targets/arc-zonal-shift.ts): each names its operation, which is its IAM action. */
const ZONAL_SHIFT_CALL = /this\.call\('(\w+)'/g;
const ACCOUNT = '111122223333';
/** The one call made with the bot's own credentials only: becoming a target's role (src/targets/credentials.ts). */
const ASSUME_ROLE = 'sts:AssumeRole';

const Statement = z.object({
  Sid: z.string().regex(/^[A-Za-z0-9]+$/),
  Effect: z.literal('Allow'),
  Action: z.array(z.string()).min(1),
  Resource: z.array(z.string()).min(1),
  Condition: z.record(z.string(), z.record(z.string(), z.union([z.string(), z.array(z.string())]))).optional(),
});
const Policy = z.object({ Version: z.literal('2012-10-17'), Statement: z.array(Statement).min(1) }).strict();
const policy = Policy.parse(JSON.parse(readText('deploy/iam-policy.json')));

const steps = sourceFiles('src/steps');
/** The steps, and how a target is reached: credentials (AssumeRole) and its EKS cluster (DescribeCluster). */
const code = [...steps, ...sourceFiles('src/targets')];

/** Calls found that need no permission (NEEDS_NO_PERMISSION), with where they are. */
const unauthorized = new Map<string, string>();

/** `new XxxCommand(` in the steps and the targets, as `service:Xxx`, with where it is. */
function actionsUsedByCode(): Map<string, string> {
  const used = new Map<string, string>();
  for (const file of code) {
    const serviceOf = new Map<string, string>();
    // Static imports, and the clients loaded when first needed: `const { XCommand } = await import('@aws-sdk/client-…')`.
    const imports = [...file.text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-([\w-]+)'/g), ...file.text.matchAll(/const\s*\{([^}]*)\}\s*=\s*await import\('@aws-sdk\/client-([\w-]+)'\)/g)];
    for (const imp of imports) {
      const service = SERVICES[imp[2] ?? ''];
      if (!service) throw new Error(`${file.path}: add @aws-sdk/client-${imp[2] ?? ''} to SERVICES in iam-policy.test.ts`);
      for (const name of (imp[1] ?? '').split(',').map((n) => n.trim().replace(/^type\s+/, '').split(':')[0]?.trim())) if (name) serviceOf.set(name, service);
    }
    for (const m of file.text.matchAll(/new (\w+)Command\(/g)) {
      const service = serviceOf.get(`${m[1] ?? ''}Command`);
      if (!service) throw new Error(`${file.path}: ${m[1] ?? ''}Command is not imported from an @aws-sdk client`);
      const call = `${service}:${m[1] ?? ''}`;
      if (NEEDS_NO_PERMISSION.has(call)) unauthorized.set(call, file.path);
      else used.set(IAM_ACTION[call] ?? call, file.path);
    }
    // An IAM database token (rds-signer) is only accepted for a principal allowed rds-db:connect.
    if (/new Signer\(/.test(file.text) && file.text.includes("from '@aws-sdk/rds-signer'")) used.set('rds-db:connect', file.path);
    // Zonal shift's signed requests: `arc-zonal-shift:<operation>` for each call the client makes.
    if (/new SignatureV4\(/.test(file.text) && file.text.includes("'arc-zonal-shift'")) for (const m of file.text.matchAll(ZONAL_SHIFT_CALL)) used.set(`arc-zonal-shift:${m[1] ?? ''}`, file.path);
  }
  return used;
}

/** Tags passed on a Create/Restore call: tagging on create is authorized as rds:AddTagsToResource. */
function tagKeysOnCreate(): string[] {
  const rds = steps.filter((f) => f.path.startsWith('src/steps/rds/'));
  const taggingFiles = rds.filter((f) => /new (Create|Restore)\w*Command\(\{[\s\S]*?Tags:/.test(f.text));
  const constants = new Map(rds.flatMap((f) => [...f.text.matchAll(/const (\w+_TAG) = '([^']+)'/g)].map((m) => [m[1] ?? '', m[2] ?? ''] as const)));
  return taggingFiles.flatMap((f) =>
    [...f.text.matchAll(/Key: (?:'([^']+)'|(\w+))/g)].map((m) => m[1] ?? constants.get(m[2] ?? '') ?? `unresolved ${m[2] ?? ''}`),
  );
}

/** An IAM condition or ARN pattern (`*` any characters, `?` one character) as a RegExp. */
function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/**
 * Every resource an ARN of `account` and of a service the statement's actions
 * belong to; `*` only in a statement of its own holding nothing but actions
 * with no resource types (NO_RESOURCE_TYPES), which no ARN could narrow.
 */
function expectScopedTo(p: z.infer<typeof Policy>, account: string): void {
  for (const s of p.Statement) {
    const services = new Set(s.Action.map((a) => a.split(':')[0] ?? '').flatMap((svc) => [svc, RESOURCE_SERVICE[svc] ?? svc]));
    const unscopable = s.Action.filter((a) => NO_RESOURCE_TYPES.has(a));
    const key = conditionKeyOf(s);
    if (key && unscopable.length === 0) {
      // "*" narrowed by the service's resource condition to the account's own resources.
      expect(s.Resource, s.Sid).toEqual(['*']);
      const arns = s.Condition?.StringLike?.[key];
      expect(Array.isArray(arns) && arns.length > 0, `${s.Sid}: ${key} names the resources`).toBe(true);
      for (const arn of Array.isArray(arns) ? arns : []) expect(arn.split(':')[4], arn).toBe(account);
      continue;
    }
    if (unscopable.length > 0 || s.Resource.includes('*')) {
      expect(unscopable, `${s.Sid}: only actions without resource types may have "*"`).toEqual(s.Action);
      expect(s.Resource, s.Sid).toEqual(['*']);
      continue;
    }
    for (const r of s.Resource) {
      expect(r, s.Sid).not.toBe('*');
      const [, partition, service, region, inAccount, resource] = r.split(':');
      expect(partition, r).toBe('aws');
      expect(services.has(service ?? ''), `${s.Sid}: ${r} is not a resource of ${[...services].join(', ')}`).toBe(true);
      if (service === 's3') {
        // Bucket ARNs name no region or account: the account is a condition (buckets owned by it only).
        expect([region, inAccount], r).toEqual(['', '']);
        expect(s.Condition?.StringEquals?.['s3:ResourceAccount'], s.Sid).toBe(account);
      } else if (service === 'route53-recovery-control') {
        // Routing control ARNs name no region: a role reaches its own account's only.
        expect(region, r).toBe('');
        expect(inAccount, r).toBe(account);
      } else if (service === 'route53') {
        // Hosted zone and health check ARNs name no region or account: a role reaches its own account's only.
        expect([region, inAccount], r).toEqual(['', '']);
      } else expect(inAccount, r).toBe(account);
      expect(resource ?? '', r).not.toBe('*');
    }
  }
  expect(new Set(p.Statement.map((s) => s.Sid)).size).toBe(p.Statement.length);
}

/** The condition key that scopes a statement whose actions all belong to a CONDITION_SCOPED service. */
function conditionKeyOf(s: z.infer<typeof Statement>): string | undefined {
  const services = new Set(s.Action.map((a) => a.split(':')[0] ?? ''));
  const [service] = [...services];
  return services.size === 1 && service ? CONDITION_SCOPED[service] : undefined;
}

const used = actionsUsedByCode();
const tagKeys = tagKeysOnCreate();
/** Actions beyond the commands themselves, each allowed only while the code needs it. */
const EXTRAS: Record<string, boolean> = { 'rds:AddTagsToResource': tagKeys.length > 0 };
const extras = new Set(Object.keys(EXTRAS).filter((a) => EXTRAS[a]));
/** What acting on a target needs, whoever's credentials it acts with: every call but AssumeRole, plus the extras. */
const targetActions = [...new Set([...[...used.keys()].filter((a) => a !== ASSUME_ROLE), ...extras])].sort();

describe('deploy/iam-policy.json', () => {
  const actions = policy.Statement.flatMap((s) => s.Action);

  it('finds the AWS calls in the steps and the targets (the scan itself works)', () => {
    expect(used.get('rds:RestoreDBClusterToPointInTime')).toBe('src/steps/rds/restore-pitr.ts');
    expect(used.get('eks:DescribeCluster')).toBe('src/targets/kube.ts');
    expect(used.get(ASSUME_ROLE)).toBe('src/targets/credentials.ts');
    expect(used.get('arc-zonal-shift:StartZonalShift')).toBe('src/targets/arc-zonal-shift.ts');
    expect(used.get('ec2:DescribeAvailabilityZones')).toBe('src/steps/arc/zones.ts');
    expect(used.get('route53-recovery-cluster:UpdateRoutingControlStates')).toBe('src/targets/arc-routing-control.ts');
  });

  it('allows exactly the actions the steps call (plus tagging on create, as the code tags), for targets without a role', () => {
    // AssumeRole is in deploy/iam/assume-targets-policy.json: a bot whose targets have no roleArn never needs it.
    expect([...new Set(actions)].sort()).toEqual(targetActions);
    expect(new Set(actions).size, 'an action is listed twice').toBe(actions.length);
  });

  it('uses no wildcard actions', () => {
    for (const a of actions) {
      expect(a).toMatch(/^[a-z0-9-]+:[A-Za-z0-9]+$/);
      expect(a).not.toContain('*');
    }
  });

  it('scopes every statement to ARNs of the account and of its own services', () => {
    expectScopedTo(policy, ACCOUNT);
  });

  it('limits tagging to the keys the steps set', () => {
    const tagging = policy.Statement.filter((s) => s.Action.includes('rds:AddTagsToResource'));
    expect(tagging).toHaveLength(1);
    const allowed = tagging[0]?.Condition?.['ForAllValues:StringLike']?.['aws:TagKeys'];
    const patterns = (Array.isArray(allowed) ? allowed : [allowed ?? '']).map(glob);
    expect(tagKeys.length).toBeGreaterThan(0);
    for (const k of tagKeys) expect(patterns.some((p) => p.test(k)), `tag key ${k}`).toBe(true);
  });

  it('reads Velero’s backup metadata only, never a backup’s contents (they hold the cluster’s Secrets)', () => {
    expect(used.get('s3:GetObject')).toBe('src/steps/velero/object-store.ts');
    const key = metadataKey({ prefix: 'eks-prod' }, 'daily-full-backup-20261201020000');
    for (const p of [policy, targetRole]) {
      const reads = p.Statement.filter((st) => st.Action.includes('s3:GetObject')).flatMap((st) => st.Resource);
      expect(reads.length).toBeGreaterThan(0);
      for (const r of reads) {
        expect(r).toMatch(/\/velero-backup\.json$/);
        expect(glob(r).test(`arn:aws:s3:::velero-backups/${key}`)).toBe(true);
        expect(glob(r).test('arn:aws:s3:::velero-backups/eks-prod/backups/daily-full-backup-20261201020000/daily-full-backup-20261201020000.tar.gz')).toBe(false);
      }
    }
  });

  it('needs no STS permission for the EKS token (a presigned GetCallerIdentity)', () => {
    expect(readText('src/targets/eks-token.ts')).toContain("Action: 'GetCallerIdentity'");
    expect(actions.some((a) => a.startsWith('sts:'))).toBe(false);
  });

  it('needs no STS permission for the readiness check asking STS who the bot is (GetCallerIdentity)', () => {
    expect(unauthorized.get('sts:GetCallerIdentity')).toBe('src/steps/readiness/dr-region.ts');
    expect(used.has('sts:GetCallerIdentity')).toBe(false);
  });

  it('grants "*" only to actions without resource types that the code calls, each a read', () => {
    for (const a of NO_RESOURCE_TYPES) expect(used.has(a), `${a} is no longer called: drop it from NO_RESOURCE_TYPES`).toBe(true);
    const starred = policy.Statement.filter((s) => s.Resource.includes('*') && !(conditionKeyOf(s) && s.Condition));
    expect(starred.flatMap((s) => s.Action).sort()).toEqual([...NO_RESOURCE_TYPES].sort());
    for (const a of NO_RESOURCE_TYPES) expect(a).toMatch(/:(Get|Describe|List|Test)\w+$/);
  });

  it('reads the replication of the secrets the readiness check names by default, by name', () => {
    const ids = SecretChecksSchema.parse({}).ids;
    expect(ids.length).toBeGreaterThan(0);
    for (const [p, account] of [[policy, ACCOUNT], [targetRole, TARGET_ACCOUNT]] as const) {
      const describe = p.Statement.filter((st) => st.Action.includes('secretsmanager:DescribeSecret')).flatMap((st) => st.Resource);
      expect(describe.length).toBeGreaterThan(0);
      // A secret's ARN is its name, `-` and six random characters.
      for (const id of ids) expect(describe.some((r) => glob(r).test(`arn:aws:secretsmanager:us-east-1:${account}:secret:${id}-AbC123`)), `secret ${id}`).toBe(true);
      for (const r of describe) expect(r, 'a secret is named, not every secret').not.toMatch(/:secret:\*$/);
    }
  });
});

/** The target role's account in the shipped files (a placeholder, like 111122223333 for the bot's own). */
const TARGET_ACCOUNT = '222222222222';
const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/[\w+=,.@/-]+$/;
const assumeTargets = Policy.parse(JSON.parse(readText('deploy/iam/assume-targets-policy.json')));
const targetRole = Policy.parse(JSON.parse(readText('deploy/iam/target-role-policy.json')));

const TrustStatement = z
  .object({
    Sid: z.string().regex(/^[A-Za-z0-9]+$/),
    Effect: z.literal('Allow'),
    Principal: z.object({ AWS: z.string() }).strict(),
    Action: z.array(z.string()).min(1),
    Condition: z.record(z.string(), z.record(z.string(), z.union([z.string(), z.array(z.string())]))),
  })
  .strict();
const trust = z
  .object({ Version: z.literal('2012-10-17'), Statement: z.array(TrustStatement).min(1) })
  .strict()
  .parse(JSON.parse(readText('deploy/iam/target-role-trust.json')));

/** The bot's own role: the IRSA annotation of its ServiceAccount. */
const botRole = z
  .object({ metadata: z.object({ annotations: z.object({ 'eks.amazonaws.com/role-arn': z.string().regex(ROLE_ARN) }) }) })
  .parse(yamlDocs('deploy/kubernetes/serviceaccount.yaml')[0]?.value).metadata.annotations['eks.amazonaws.com/role-arn'];

/** The documented configuration (docs/targets.md), parsed as the bot parses `targets:`. */
function documentedTargets() {
  const text = readText('docs/targets.md');
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].flatMap((m) => Array.from(parseAllDocuments(m[1] ?? '')).map((d) => d.toJS() as unknown));
  const withTargets = blocks.find((b): b is { targets: unknown } => typeof b === 'object' && b !== null && 'targets' in b);
  return { targets: TargetsSettingSchema.parse(withTargets?.targets), text };
}

describe('deploy/iam/assume-targets-policy.json (the bot’s own role, for targets with a roleArn)', () => {
  const actions = assumeTargets.Statement.flatMap((s) => s.Action);
  const roles = assumeTargets.Statement.flatMap((s) => s.Resource);

  it('allows only sts:AssumeRole, the one call the bot makes with its own credentials for a target', () => {
    expect(actions).toEqual([ASSUME_ROLE]);
    expect([...used.keys()].filter((a) => a.startsWith('sts:'))).toEqual([ASSUME_ROLE]);
    expect(assumeTargets.Statement.every((s) => s.Condition === undefined)).toBe(true);
  });

  it('names each target role by its full ARN: no wildcard, no other resource', () => {
    expect(roles.length).toBeGreaterThan(0);
    for (const r of roles) {
      expect(r).toMatch(ROLE_ARN);
      expect(r).not.toContain('*');
    }
    expect(new Set(roles).size, 'a role is listed twice').toBe(roles.length);
    expect(roles.some((r) => ROLE_ARN.exec(r)?.[1] === TARGET_ACCOUNT)).toBe(true);
  });

  it('lists exactly the roles of the documented configuration (docs/targets.md)', () => {
    const { targets } = documentedTargets();
    const documented = new Set(Object.values(targets).flatMap((t) => (t.roleArn ? [t.roleArn] : [])));
    expect(documented.size).toBeGreaterThan(0);
    expect([...new Set(roles)].sort()).toEqual([...documented].sort());
  });
});

describe('deploy/iam/target-role-trust.json (who may become a target role)', () => {
  it('trusts only the bot’s own role (the ServiceAccount’s IRSA role), never an account or `*`', () => {
    for (const s of trust.Statement) {
      expect(s.Principal.AWS, s.Sid).toBe(botRole);
      expect(s.Action, s.Sid).toEqual([ASSUME_ROLE]);
    }
  });

  it('sends no session tags, so the trust needs no sts:TagSession', () => {
    expect(readText('src/targets/credentials.ts')).not.toMatch(/\b(Tags|TransitiveTagKeys):/);
  });

  it('requires the external id, as every documented target with a role sends one', () => {
    for (const s of trust.Statement) expect(s.Condition.StringEquals?.['sts:ExternalId'], s.Sid).toMatch(/^[\w+=,.@:/-]{2,1224}$/);
    const { targets } = documentedTargets();
    for (const [name, t] of Object.entries(targets)) if (t.roleArn) expect(t.externalId, `target ${name}`).toBeDefined();
  });

  it('admits the session names the bot uses (dr-chatops-<run id>, shown in CloudTrail), and only those', () => {
    for (const s of trust.Statement) {
      const allowed = s.Condition.StringLike?.['sts:RoleSessionName'];
      expect(typeof allowed, s.Sid).toBe('string');
      const pattern = glob(typeof allowed === 'string' ? allowed : '');
      expect(pattern.test(sessionName(newRunId()))).toBe(true);
      expect(pattern.test('console-session')).toBe(false);
    }
  });
});

describe('deploy/iam/target-role-policy.json (the permissions of each target role)', () => {
  const actions = targetRole.Statement.flatMap((s) => s.Action);

  it('allows exactly what acting on a target calls, the statements of deploy/iam-policy.json', () => {
    expect([...new Set(actions)].sort()).toEqual(targetActions);
    expect(new Set(actions).size, 'an action is listed twice').toBe(actions.length);
    const anyAccount = (c: unknown) => JSON.parse(JSON.stringify(c ?? null).replaceAll(TARGET_ACCOUNT, ACCOUNT)) as unknown;
    const shape = (p: z.infer<typeof Policy>) => p.Statement.map((s) => ({ Sid: s.Sid, Action: s.Action, Condition: anyAccount(s.Condition) }));
    expect(shape(targetRole)).toEqual(shape(policy));
  });

  it('uses no wildcard actions and no STS permission (the EKS token is presigned, AssumeRole is the bot’s)', () => {
    for (const a of actions) {
      expect(a).toMatch(/^[a-z0-9-]+:[A-Za-z0-9]+$/);
      expect(a).not.toContain('*');
    }
    expect(actions.some((a) => a.startsWith('sts:'))).toBe(false);
  });

  it('scopes every statement to ARNs of the target’s account and of its own services', () => {
    expectScopedTo(targetRole, TARGET_ACCOUNT);
  });

  it('lets DescribeCluster reach every cluster the documented runs name, also those named at run time', () => {
    const { targets, text } = documentedTargets();
    const configured = Object.values(targets).flatMap((t) => (t.kubernetes && 'eksCluster' in t.kubernetes ? [t.kubernetes.eksCluster] : []));
    const namedAtRunTime = [...text.matchAll(/\bcluster=([\w-]+)/g)].map((m) => m[1] ?? '');
    expect(namedAtRunTime.length).toBeGreaterThan(0);
    const describeCluster = targetRole.Statement.filter((s) => s.Action.includes('eks:DescribeCluster')).flatMap((s) => s.Resource);
    const names = describeCluster.map((r) => glob(r.slice(r.indexOf(':cluster/') + ':cluster/'.length)));
    for (const cluster of new Set([...configured, ...namedAtRunTime])) expect(names.some((n) => n.test(cluster)), `cluster ${cluster}`).toBe(true);
  });
});

describe('deploy/iam-policy-optional.json (statements added only where they apply)', () => {
  const optional = Policy.parse(JSON.parse(readText('deploy/iam-policy-optional.json')));
  const bySid = new Map(optional.Statement.map((s) => [s.Sid, s]));

  it('lets restores use a customer managed KMS key, only through RDS, on named keys', () => {
    const kms = bySid.get('KmsForEncryptedRestores');
    expect(kms?.Action.sort()).toEqual(['kms:CreateGrant', 'kms:DescribeKey']);
    expect(kms?.Condition?.StringLike?.['kms:ViaService']).toBe('rds.*.amazonaws.com');
    for (const r of kms?.Resource ?? []) expect(r).toMatch(new RegExp(`^arn:aws:kms:\\*:${ACCOUNT}:key/[^*]+$`));
  });

  it('passes the enhanced-monitoring role only to RDS monitoring, as the writer copies it from the source', () => {
    // rds.create-writer copies MonitoringRoleArn from the source writer: RDS then checks iam:PassRole.
    expect(readText('src/steps/rds/create-writer.ts')).toContain('MonitoringRoleArn');
    const pass = bySid.get('PassEnhancedMonitoringRole');
    expect(pass?.Action).toEqual(['iam:PassRole']);
    expect(pass?.Condition?.StringEquals?.['iam:PassedToService']).toBe('monitoring.rds.amazonaws.com');
    for (const r of pass?.Resource ?? []) expect(r).toMatch(new RegExp(`^arn:aws:iam::${ACCOUNT}:role/[^*]+$`));
  });

  it('adds nothing the main policy has, and no wildcard actions', () => {
    const main = new Set(policy.Statement.flatMap((s) => s.Action));
    for (const s of optional.Statement) {
      expect(policy.Statement.some((m) => m.Sid === s.Sid), s.Sid).toBe(false);
      for (const a of s.Action) {
        expect(main.has(a), a).toBe(false);
        expect(a).not.toContain('*');
      }
    }
  });
});
