import { CreateDBClusterSnapshotCommand, ModifyDBClusterCommand, RDSClient } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { evidenceSnapshotName, snapshotEvidenceStep } from '../../../src/steps/rds/evidence.ts';
import { PASSWORD_LENGTH, rotateMasterPasswordStep } from '../../../src/steps/rds/rotate-password.ts';
import type { TargetAccess } from '../../../src/targets/targets.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { snapshotStatus } from '../../support/rds-snapshots.ts';
import { FakeRds } from '../../support/fake-rds.ts';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, withClients } from '../../support/step-context.ts';

const CLUSTER = 'prod-aurora';
const OLD_PASSWORD = 'old-leaked-password-0001';

describe('security breach steps: rds.snapshot-evidence and rds.rotate-master-password', () => {
  let rds: FakeRds;
  let sm: FakeSecretsManager;
  let kube: FakeKube;
  let clients: TargetAccess;
  let direct: RDSClient;
  let evidence: ReturnType<typeof snapshotEvidenceStep>;
  let rotate: ReturnType<typeof rotateMasterPasswordStep>;

  beforeAll(async () => {
    fakeAwsCredentials();
    [rds, sm, kube] = await Promise.all([new FakeRds().start(), new FakeSecretsManager().start(), new FakeKube().start()]);
    rds.region = 'us-east-1';
    rds.passwords.keepSecretsIn(sm);
    clients = createStepClients({ aws: { region: 'us-east-1', rdsEndpointUrl: rds.url, endpointUrl: sm.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } });
    direct = new RDSClient({ region: 'us-east-1', endpoint: rds.url, maxAttempts: 1 });
    evidence = withClients(snapshotEvidenceStep(), clients);
    rotate = withClients(rotateMasterPasswordStep(), clients);
  });
  afterAll(async () => {
    await Promise.all([rds.stop(), sm.stop(), kube.stop()]);
  });
  beforeEach(() => {
    rds.clusters.clear();
    rds.instances.clear();
    rds.snapshots.length = 0;
    rds.calls.length = 0;
    rds.globalClusters.clear();
    rds.passwords.current.clear();
    rds.passwords.pending.clear();
    rds.passwords.managed.clear();
    rds.addCluster(CLUSTER, { earliest: new Date(0), latest: new Date() });
    rds.passwords.current.set(CLUSTER, OLD_PASSWORD);
    kube.secrets.clear();
    kube.calls.length = 0;
    kube.addSecret('production', 'database-credentials', { host: 'prod-aurora.cluster-abc123.us-east-1.rds.amazonaws.com', username: 'postgres', password: OLD_PASSWORD });
  });

  const annotations = () => kube.secrets.get('production/database-credentials')?.annotations ?? {};
  const appPassword = () => kube.secretValue('production', 'database-credentials', 'password');
  const rotateParams = () => rotate.params.parse({ cluster: CLUSTER, namespace: 'production', secret: 'database-credentials' });

  describe('rds.snapshot-evidence', () => {
    it('waitUntilAvailable false: started and left creating (its point in time is the request); the same step with true adopts it and waits', async () => {
      const started = evidence.params.parse({ cluster: CLUSTER, incident: 'inc-2026-0042', waitUntilAvailable: false });
      const [line] = await evidence.plan(planContext('rbreach2'), started);
      expect(line?.detail).toContain('without waiting: its point in time is the request; a later step waits until it is available');
      const out = await evidence.run(stepContext({ runId: 'rbreach2' }), started);
      expect(out).toMatchObject({ snapshot: 'prod-aurora-evidence-rbreach2', incident: 'inc-2026-0042' });
      expect(snapshotStatus(rds.snapshots[0] ?? expect.fail('no snapshot')).status).toBe('creating');

      const kept = await evidence.run(stepContext({ runId: 'rbreach2', attempt: 1 }), evidence.params.parse({ cluster: CLUSTER, incident: 'inc-2026-0042' }));
      expect(kept.snapshot).toBe('prod-aurora-evidence-rbreach2');
      expect(snapshotStatus(rds.snapshots[0] ?? expect.fail('no snapshot')).status).toBe('available');
      expect(rds.callsTo('CreateDBClusterSnapshot')).toHaveLength(1);
    });

    it('takes a manual snapshot named after the run, tagged with the incident, the run and the purpose, and waits until it is available', async () => {
      const p = evidence.params.parse({ cluster: CLUSTER, incident: 'inc-2026-0042' });
      const [line] = await evidence.plan(planContext('rbreach1'), p);
      expect(line).toEqual({
        action: 'create',
        resource: 'rds cluster snapshot prod-aurora-evidence-rbreach1',
        detail:
          'snapshot prod-aurora as prod-aurora-evidence-rbreach1 for the investigation (incident inc-2026-0042), tagged dr-chatops:incident=inc-2026-0042, dr-chatops:run=rbreach1, dr-chatops:purpose=evidence, ' +
          'and wait until it is available; it is kept until someone deletes it: delete the snapshot when the investigation ends',
      });
      expect(line?.irreversible).toBeUndefined();

      const ctx = stepContext({ runId: 'rbreach1' });
      const out = await evidence.run(ctx, p);
      expect(out).toMatchObject({ snapshot: 'prod-aurora-evidence-rbreach1', incident: 'inc-2026-0042' });
      const [snapshot] = rds.snapshots;
      expect(snapshot).toMatchObject({ id: 'prod-aurora-evidence-rbreach1', clusterId: CLUSTER, type: 'manual', tags: { 'dr-chatops:incident': 'inc-2026-0042', 'dr-chatops:run': 'rbreach1', 'dr-chatops:purpose': 'evidence' } });
      // It waited through `creating`.
      expect(ctx.progressMessages.some((m) => m.includes('creating'))).toBe(true);
      expect(rds.modelRefusals).toEqual([]);

      // Entered again (a new worker, no checkpoint): the run's own snapshot is adopted, not taken twice.
      expect((await evidence.run(stepContext({ runId: 'rbreach1', attempt: 2 }), p)).snapshot).toBe('prod-aurora-evidence-rbreach1');
      expect(rds.callsTo('CreateDBClusterSnapshot')).toHaveLength(1);
    });

    it('with no incident linked, tags the run id and the plan says so', async () => {
      const p = evidence.params.parse({ cluster: CLUSTER, incident: '' });
      expect((await evidence.plan(planContext('rbreach2'), p))[0]?.detail).toContain('(no incident is linked to this run: dr-chatops:incident names the run rbreach2)');
      expect(await evidence.run(stepContext({ runId: 'rbreach2' }), p)).toMatchObject({ incident: 'rbreach2' });
      expect(rds.snapshots[0]?.tags?.['dr-chatops:incident']).toBe('rbreach2');
    });

    it('names snapshots within RDS’s identifier rules, and refuses a snapshot of that name the run did not take', async () => {
      const long = `a${'-b'.repeat(40)}`;
      const name = evidenceSnapshotName(long, 'r7k2m9qx');
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[a-z](?:-?[a-z0-9])*$/);
      rds.addSnapshot({ id: 'prod-aurora-evidence-rbreach3', clusterId: CLUSTER, createdAt: new Date(), engine: 'aurora-postgresql', engineVersion: '15.4', type: 'manual' });
      const failure = await failureOf(evidence.run(stepContext({ runId: 'rbreach3' }), evidence.params.parse({ cluster: CLUSTER })));
      expect(failure).toEqual({ message: 'a snapshot named prod-aurora-evidence-rbreach3 exists and was not taken by run rbreach3 (no dr-chatops:run=rbreach3 tag); it was left alone', permanent: true });
      expect(rds.callsTo('CreateDBClusterSnapshot')).toHaveLength(0);
    });

    it('the fake RDS refuses what RDS refuses: a bad identifier, a reserved tag value, a name taken, an unknown cluster', async () => {
      const send = (input: ConstructorParameters<typeof CreateDBClusterSnapshotCommand>[0]) => direct.send(new CreateDBClusterSnapshotCommand(input)).then(() => 'created', (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err)));
      expect(await send({ DBClusterIdentifier: CLUSTER, DBClusterSnapshotIdentifier: 'evidence--1' })).toMatch(/^InvalidParameterValue: The parameter DBClusterSnapshotIdentifier is not a valid identifier/);
      expect(await send({ DBClusterIdentifier: CLUSTER, DBClusterSnapshotIdentifier: '1evidence' })).toMatch(/^InvalidParameterValue/);
      expect(await send({ DBClusterIdentifier: CLUSTER, DBClusterSnapshotIdentifier: 'evidence-1', Tags: [{ Key: 'dr-chatops:incident', Value: 'rds:inc' }] })).toMatch(/^InvalidParameterValue: Tag values cannot start with/);
      expect(await send({ DBClusterIdentifier: CLUSTER, DBClusterSnapshotIdentifier: 'Evidence-1' })).toBe('created');
      expect(await send({ DBClusterIdentifier: CLUSTER, DBClusterSnapshotIdentifier: 'evidence-1' })).toBe('DBClusterSnapshotAlreadyExistsFault: Cannot create the cluster snapshot because one with the identifier evidence-1 already exists.');
      expect(await send({ DBClusterIdentifier: 'gone', DBClusterSnapshotIdentifier: 'evidence-2' })).toBe('DBClusterNotFoundFault: DBCluster gone not found.');
    });
  });

  describe('rds.rotate-master-password', () => {
    it('an RDS-managed master secret: rotated by RDS (applied immediately), the new password read from Secrets Manager into the app’s Secret, other keys kept', async () => {
      const managed = rds.passwords.manage(CLUSTER, OLD_PASSWORD);
      const p = rotateParams();
      const [line] = await rotate.plan(planContext('rbreach4'), p);
      expect(line).toMatchObject({ action: 'change', resource: 'rds cluster prod-aurora', irreversible: true });
      expect(line?.detail).toContain(`rotate the RDS-managed master password of prod-aurora (secret ${managed.arn}, now active: ModifyDBCluster RotateMasterUserPassword, applied immediately)`);
      expect(line?.detail).toContain('key password of secret production/database-credentials (other keys kept; the password is never shown)');

      const ctx = stepContext({ runId: 'rbreach4' });
      const out = await rotate.run(ctx, p);
      const rotated = rds.passwords.current.get(CLUSTER) ?? '';
      expect(rotated).not.toBe(OLD_PASSWORD);
      expect(JSON.parse(sm.currentValue('us-east-1', managed.name) ?? '{}')).toMatchObject({ password: rotated });
      expect(appPassword()).toBe(rotated);
      expect(kube.secretValue('production', 'database-credentials', 'host')).toBe('prod-aurora.cluster-abc123.us-east-1.rds.amazonaws.com');
      expect(kube.secretValue('production', 'database-credentials', 'username')).toBe('postgres');
      expect(out).toMatchObject({ method: 'managed-rotation' });
      expect(Date.parse(String(out.rotatedAt))).not.toBeNaN();
      expect(String(out.secretVersion)).toMatch(/^[0-9a-f-]{36}$/);
      expect(rds.callsTo('ModifyDBCluster').map((c) => c.params)).toEqual([{ Version: '2014-10-31', DBClusterIdentifier: CLUSTER, ApplyImmediately: 'true', RotateMasterUserPassword: 'true' }]);
      expect(JSON.stringify([out, ctx.progressMessages, line])).not.toContain(rotated);

      // Entered again: no second rotation.
      await rotate.run(ctx, p);
      expect(rds.callsTo('ModifyDBCluster')).toHaveLength(1);
      expect(rds.modelRefusals).toEqual([]);
    });

    it('a global database’s primary (no managed password possible): a new password, written first into the Secret with the run’s annotation, then set on the cluster', async () => {
      rds.globalClusters.set('prod-global', [CLUSTER, 'prod-aurora-dr']);
      const p = rotateParams();
      const [line] = await rotate.plan(planContext('rbreach5'), p);
      expect(line?.detail).toBe(
        `prod-aurora is the primary of global database prod-global, which cannot have an RDS-managed master password: make a random ${PASSWORD_LENGTH}-character password, ` +
          'write it first into key password of secret production/database-credentials (other keys kept; the password is never shown) (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded), annotated dr-chatops/rotated-by=rbreach5, ' +
          'then set it as the master password (ModifyDBCluster MasterUserPassword, applied immediately) and wait until the cluster is available; the old password stops working at once: clients still using it are cut off until they have the new one',
      );

      const ctx = stepContext({ runId: 'rbreach5' });
      const out = await rotate.run(ctx, p);
      const password = appPassword() ?? '';
      expect(password).toHaveLength(PASSWORD_LENGTH);
      expect(password).toMatch(/^[A-Za-z0-9_.~-]+$/);
      expect(rds.passwords.current.get(CLUSTER)).toBe(password);
      expect(annotations()['dr-chatops/rotated-by']).toBe('rbreach5');
      expect(kube.secretValue('production', 'database-credentials', 'host')).toBe('prod-aurora.cluster-abc123.us-east-1.rds.amazonaws.com');
      expect(out).toMatchObject({ method: 'new-password', secretVersion: '' });
      expect(Date.parse(String(out.rotatedAt))).not.toBeNaN();
      const [modify] = rds.callsTo('ModifyDBCluster');
      expect(modify?.params).toMatchObject({ DBClusterIdentifier: CLUSTER, ApplyImmediately: 'true' });
      // The Secret was written before RDS was asked.
      const patchAt = kube.calls.findIndex((c) => c.method === 'PATCH' && c.path.includes('/secrets/database-credentials'));
      expect(patchAt).toBeGreaterThanOrEqual(0);
      expect(JSON.stringify([out, ctx.progressMessages, line, rds.calls.filter((c) => c.action !== 'ModifyDBCluster')])).not.toContain(password);
      expect(rds.modelRefusals).toEqual([]);
    });

    it('entered again after a crash (no checkpoint) or a failed call, the password its run wrote is reused, never a new one', async () => {
      const p = rotateParams();
      rds.failNext('ModifyDBCluster', { code: 'ServiceUnavailable', message: 'try again', status: 503 }, 3);
      const first = stepContext({ runId: 'rbreach6', timeoutMs: 60_000 });
      await expect(rotate.run(first, p)).rejects.toThrow(/changing the master password of prod-aurora failed/);
      const written = appPassword() ?? '';
      expect(written).not.toBe(OLD_PASSWORD);
      expect(rds.passwords.current.get(CLUSTER)).toBe(OLD_PASSWORD);

      // Another worker, with none of the first one's checkpoints: the Secret carries this run's annotation.
      const second = stepContext({ runId: 'rbreach6', attempt: 2 });
      await rotate.run(second, p);
      expect(appPassword()).toBe(written);
      expect(rds.passwords.current.get(CLUSTER)).toBe(written);
      expect(second.progressMessages).toContain("secret production/database-credentials already holds this run's new password: reusing it");
      // Only the first attempt wrote the Secret.
      expect(kube.callsMatching('PATCH', '/secrets/database-credentials')).toHaveLength(1);

      // A later run is another rotation: a new password.
      await rotate.run(stepContext({ runId: 'rbreach7' }), p);
      expect(appPassword()).not.toBe(written);
      expect(rds.passwords.current.get(CLUSTER)).toBe(appPassword());
    });

    it('refuses, before any change: a global secondary (naming the primary), a missing Secret, an impaired managed secret', async () => {
      rds.globalClusters.set('prod-global', ['prod-aurora-east', CLUSTER]);
      const secondary = await failureOf(rotate.plan(planContext(), rotateParams()));
      expect(secondary.permanent).toBe(true);
      expect(secondary.message).toBe(
        'prod-aurora is a secondary of global database prod-global: its master password is the primary\'s, which replicates to it, and RDS takes no password for a secondary; rotate it on the primary arn:aws:rds:us-west-2:123456789012:cluster:prod-aurora-east (a step with that cluster, in its region\'s target)',
      );
      expect((await failureOf(rotate.run(stepContext(), rotateParams()))).message).toBe(secondary.message);
      rds.globalClusters.clear();

      const missing = rotate.params.parse({ cluster: CLUSTER, namespace: 'production', secret: 'db-creds' });
      expect(await failureOf(rotate.plan(planContext(), missing))).toEqual({ message: 'there is no secret production/db-creds', permanent: true });
      expect(await failureOf(rotate.run(stepContext(), missing))).toEqual({ message: 'there is no secret production/db-creds', permanent: true });

      rds.passwords.manage(CLUSTER).status = 'impaired';
      expect((await failureOf(rotate.plan(planContext(), rotateParams()))).message).toMatch(/^the RDS-managed secret of prod-aurora is impaired/);
      expect(rds.callsTo('ModifyDBCluster')).toHaveLength(0);
      expect(kube.callsMatching('PATCH', '/secrets/')).toHaveLength(0);
    });

    it('the fake RDS refuses what RDS refuses for master passwords', async () => {
      const send = (input: Omit<ConstructorParameters<typeof ModifyDBClusterCommand>[0], 'DBClusterIdentifier'>) =>
        direct.send(new ModifyDBClusterCommand({ DBClusterIdentifier: CLUSTER, ...input })).then(() => 'accepted', (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err)));
      expect(await send({ RotateMasterUserPassword: true, ApplyImmediately: true })).toMatch(/^InvalidParameterCombination: RotateMasterUserPassword is valid only if the master user password is managed by RDS/);
      expect(await send({ MasterUserPassword: 'has@sign-in-it', ApplyImmediately: true })).toBe("InvalidParameterValue: The parameter MasterUserPassword is not a valid password. Only printable ASCII characters besides '/', '@', '\"', ' ' may be used.");
      expect(await send({ MasterUserPassword: 'has space in it', ApplyImmediately: true })).toMatch(/^InvalidParameterValue/);
      expect(await send({ MasterUserPassword: 'short', ApplyImmediately: true })).toMatch(/shorter than 8 characters/);
      // Without ApplyImmediately it waits for the maintenance window: nothing changes now.
      expect(await send({ MasterUserPassword: 'valid-but-not-applied' })).toBe('accepted');
      expect(rds.passwords.current.get(CLUSTER)).toBe(OLD_PASSWORD);
      expect(rds.passwords.pending.get(CLUSTER)).toBe('valid-but-not-applied');

      rds.passwords.manage(CLUSTER);
      expect(await send({ RotateMasterUserPassword: true })).toBe('InvalidParameterCombination: You must apply the change immediately when rotating the master user password.');
      expect(await send({ MasterUserPassword: 'another-valid-one', ApplyImmediately: true })).toMatch(/^InvalidParameterCombination: MasterUserPassword can't be specified if ManageMasterUserPassword is turned on/);

      rds.passwords.managed.clear();
      rds.globalClusters.set('prod-global', [CLUSTER, 'prod-aurora-dr']);
      expect(await send({ ManageMasterUserPassword: true })).toMatch(/^InvalidParameterCombination: Managing the master user password with Secrets Manager isn't supported for DB clusters that are part of an Aurora global database/);
    });
  });
});
