import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { readText, sourceFiles } from './files.ts';

/** @aws-sdk/client-<name> → IAM service prefix. */
const SERVICES: Record<string, string> = { rds: 'rds', eks: 'eks' };
const ACCOUNT = '111122223333';

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

/** `new XxxCommand(` in the steps, as `service:Xxx`, with where it is. */
function actionsUsedByCode(): Map<string, string> {
  const used = new Map<string, string>();
  for (const file of steps) {
    const serviceOf = new Map<string, string>();
    for (const imp of file.text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-([\w-]+)'/g)) {
      const service = SERVICES[imp[2] ?? ''];
      if (!service) throw new Error(`${file.path}: add @aws-sdk/client-${imp[2] ?? ''} to SERVICES in iam-policy.test.ts`);
      for (const name of (imp[1] ?? '').split(',').map((n) => n.trim().replace(/^type\s+/, ''))) if (name) serviceOf.set(name, service);
    }
    for (const m of file.text.matchAll(/new (\w+)Command\(/g)) {
      const service = serviceOf.get(`${m[1] ?? ''}Command`);
      if (!service) throw new Error(`${file.path}: ${m[1] ?? ''}Command is not imported from an @aws-sdk client`);
      used.set(`${service}:${m[1] ?? ''}`, file.path);
    }
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

describe('deploy/iam-policy.json', () => {
  const used = actionsUsedByCode();
  const tagKeys = tagKeysOnCreate();
  /** Actions beyond the commands themselves, each allowed only while the code needs it. */
  const EXTRAS: Record<string, boolean> = { 'rds:AddTagsToResource': tagKeys.length > 0 };
  const extras = new Set(Object.keys(EXTRAS).filter((a) => EXTRAS[a]));
  const actions = policy.Statement.flatMap((s) => s.Action);

  it('finds the AWS calls in the steps (the scan itself works)', () => {
    expect(used.get('rds:RestoreDBClusterToPointInTime')).toBe('src/steps/rds/restore-pitr.ts');
    expect(used.get('eks:DescribeCluster')).toBe('src/steps/clients.ts');
  });

  it('allows exactly the actions the steps call (plus tagging on create, as the code tags)', () => {
    expect([...new Set(actions)].sort()).toEqual([...new Set([...used.keys(), ...extras])].sort());
    expect(new Set(actions).size, 'an action is listed twice').toBe(actions.length);
  });

  it('uses no wildcard actions', () => {
    for (const a of actions) {
      expect(a).toMatch(/^[a-z0-9-]+:[A-Za-z0-9]+$/);
      expect(a).not.toContain('*');
    }
  });

  it('scopes every statement to ARNs of the account and of its own services', () => {
    for (const s of policy.Statement) {
      const services = new Set(s.Action.map((a) => a.split(':')[0]));
      for (const r of s.Resource) {
        expect(r, s.Sid).not.toBe('*');
        const [, partition, service, , account, resource] = r.split(':');
        expect(partition, r).toBe('aws');
        expect(services.has(service ?? ''), `${s.Sid}: ${r} is not a resource of ${[...services].join(', ')}`).toBe(true);
        expect(account, r).toBe(ACCOUNT);
        expect(resource ?? '', r).not.toBe('*');
      }
    }
    expect(new Set(policy.Statement.map((s) => s.Sid)).size).toBe(policy.Statement.length);
  });

  it('limits tagging to the keys the steps set', () => {
    const tagging = policy.Statement.filter((s) => s.Action.includes('rds:AddTagsToResource'));
    expect(tagging).toHaveLength(1);
    const allowed = tagging[0]?.Condition?.['ForAllValues:StringLike']?.['aws:TagKeys'];
    const patterns = (Array.isArray(allowed) ? allowed : [allowed ?? '']).map((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`));
    expect(tagKeys.length).toBeGreaterThan(0);
    for (const k of tagKeys) expect(patterns.some((p) => p.test(k)), `tag key ${k}`).toBe(true);
  });

  it('needs no STS permission for the EKS token (a presigned GetCallerIdentity)', () => {
    expect(readText('src/steps/eks/token.ts')).toContain("Action: 'GetCallerIdentity'");
    expect(actions.some((a) => a.startsWith('sts:'))).toBe(false);
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
