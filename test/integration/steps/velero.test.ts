import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deleteNamespaceStep, verifyPodsStep } from '../../../src/steps/kube/namespace.ts';
import { veleroRestoreStep } from '../../../src/steps/velero/restore.ts';
import { DEFAULT_KUBE_SCOPE, kubeScope } from '../../../src/steps/kube/scope.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { FakeRds } from '../../support/fake-rds.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, withClients } from '../../support/step-context.ts';

const HOUR = 3_600_000;
const ago = (hours: number) => new Date(Date.now() - hours * HOUR);

describe('Velero and namespace steps', () => {
  let kube: FakeKube;
  let rds: FakeRds;
  let restore: ReturnType<typeof veleroRestoreStep>;
  let pods: ReturnType<typeof verifyPodsStep>;
  let del: ReturnType<typeof deleteNamespaceStep>;
  let clients: ReturnType<typeof createStepClients>;

  beforeAll(async () => {
    fakeAwsCredentials();
    kube = await new FakeKube().start();
    rds = await new FakeRds().start();
    clients = createStepClients({ aws: { region: 'us-east-1', rdsEndpointUrl: rds.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } });
    restore = withClients(veleroRestoreStep(), clients);
    pods = withClients(verifyPodsStep(), clients);
    del = withClients(deleteNamespaceStep(), clients);
  });
  afterAll(async () => {
    await Promise.all([kube.stop(), rds.stop()]);
  });
  beforeEach(() => {
    kube.velero.clear();
    kube.calls.length = 0;
    kube.deployments.clear();
    kube.restoreMs = 300;
    kube.restoreOutcome = { phase: 'Completed' };
    kube.addDeployment('production', 'api-gateway', ['api-gateway:1.6.0'], { replicas: 2 });
    kube.addBackup('daily-full-backup-20261124020000', { schedule: 'daily-full-backup', completedAt: ago(27) });
    kube.addBackup('daily-full-backup-20261125020000', { schedule: 'daily-full-backup', completedAt: ago(3) });
    kube.addBackup('hourly-backup-20261125040000', { schedule: 'hourly-backup', completedAt: ago(1.5), includedNamespaces: ['production'] });
    kube.addBackup('hourly-backup-20261125050000', { schedule: 'hourly-backup', completedAt: ago(0.5), phase: 'PartiallyFailed' });
  });

  it('plans the newest completed backup of the schedule, with its age', async () => {
    const [line] = await restore.plan(planContext(), restore.params.parse({ schedule: 'hourly-backup' }));
    expect(line?.detail).toMatch(
      /^restore all namespaces from backup hourly-backup-20261125040000 \(completed .*, 1h 30m old\); pinned: the run restores exactly this backup, even if a newer one completes before it starts; it expires .*; storage location default Available; partial restores: fail the step; existing objects: left as they are \(allowed: K8S_ALLOWED_NAMESPACES=\*; not restored: kube-system, kube-public, kube-node-lease, velero, dr-chatops\)$/,
    );
  });

  it('refuses an unknown backup (listing the newest) and latest without a schedule', async () => {
    const failure = await failureOf(restore.plan(planContext(), restore.params.parse({ backup: 'daily-full-backup-2026' })));
    expect(failure.permanent).toBe(true);
    expect(failure.message).toMatch(/^there is no Velero backup "daily-full-backup-2026"; the newest are: hourly-backup-20261125050000 \(PartiallyFailed, 30m old\); hourly-backup-20261125040000/);
    expect(restore.params.safeParse({}).error?.issues[0]?.message).toBe('backup "latest" needs the schedule whose newest backup to use');
  });

  it('creates one named restore, mapped into another namespace (not isolated), and waits until Completed', async () => {
    const p = restore.params.parse({ schedule: 'daily-full-backup', includedNamespaces: ['production'], restoreInto: 'dr-drill-rvel0001', isolate: false });
    const ctx = stepContext({ runId: 'rvel0001', stepId: 'restore' });
    const out = await restore.run(ctx, p);
    expect(out).toEqual({ restoreName: 'dr-rvel0001-restore', backupName: 'daily-full-backup-20261125020000', itemsRestored: 42, warnings: 0, errors: 0, partial: false });
    const posts = kube.callsMatching('POST', '/restores');
    expect(posts).toHaveLength(1);
    expect(posts[0]?.body).toMatchObject({
      kind: 'Restore',
      metadata: { name: 'dr-rvel0001-restore', namespace: 'velero' },
      spec: { backupName: 'daily-full-backup-20261125020000', includedNamespaces: ['production'], namespaceMapping: { production: 'dr-drill-rvel0001' } },
    });
    expect(ctx.progressMessages.some((m) => /^waiting for Velero restore dr-rvel0001-restore: (New|InProgress)/.test(m))).toBe(true);

    await restore.run(stepContext({ runId: 'rvel0001', stepId: 'restore', attempt: 2 }), p);
    expect(kube.callsMatching('POST', '/restores')).toHaveLength(1);
  });

  it('restoring every namespace leaves out the system namespaces (excludedNamespaces), unless one is named exactly', async () => {
    await restore.run(stepContext({ runId: 'rvel0005', stepId: 'restore' }), restore.params.parse({ schedule: 'daily-full-backup', includedNamespaces: ['*'] }));
    expect(kube.callsMatching('POST', '/restores')[0]?.body).toMatchObject({
      spec: { includedNamespaces: ['*'], excludedNamespaces: ['kube-system', 'kube-public', 'kube-node-lease', 'velero', 'dr-chatops'] },
    });
    const named = withClients(veleroRestoreStep(kubeScope({ allowedNamespaces: ['*', 'kube-system'] })), clients);
    kube.calls.length = 0;
    await named.run(stepContext({ runId: 'rvel0006', stepId: 'restore' }), named.params.parse({ schedule: 'daily-full-backup' }));
    expect((kube.callsMatching('POST', '/restores')[0]?.body as { spec: { excludedNamespaces?: string[] } }).spec.excludedNamespaces).toEqual(['kube-public', 'kube-node-lease', 'velero', 'dr-chatops']);
  });

  it('refuses restoring into (or from) kube-system or Velero\'s own namespace, at plan and at run, creating no Restore', async () => {
    const cases = [
      { schedule: 'daily-full-backup', includedNamespaces: ['production'], restoreInto: 'kube-system' },
      { schedule: 'daily-full-backup', includedNamespaces: ['kube-system'] },
      { schedule: 'daily-full-backup', includedNamespaces: ['kube-system'], restoreInto: 'dr-drill-rvel0007' },
      { schedule: 'daily-full-backup', includedNamespaces: ['*'], namespaceMapping: { production: 'velero' }, isolate: false },
      { schedule: 'daily-full-backup', includedNamespaces: ['production'], namespaceMapping: { production: 'kube-public' } },
    ];
    for (const raw of cases) {
      const p = restore.params.parse(raw);
      for (const attempt of [restore.plan(planContext(), p), restore.run(stepContext({ runId: 'rvel0007', stepId: 'restore' }), p)]) {
        const failure = await failureOf(attempt);
        expect(failure.permanent, JSON.stringify(raw)).toBe(true);
        expect(failure.message, JSON.stringify(raw)).toMatch(/^namespace (kube-system|kube-public|velero) is a system namespace, refused by K8S_ALLOWED_NAMESPACES=\*/);
      }
    }
    // Refused before any call: not even the backups were listed.
    expect(kube.calls).toEqual([]);
    expect([...kube.velero.keys()].filter((k) => k.startsWith('restores/'))).toEqual([]);
  });

  it('an explicit K8S_ALLOWED_NAMESPACES: every restored namespace must be in it, and * is refused', async () => {
    const limited = withClients(veleroRestoreStep(kubeScope({ allowedNamespaces: ['production', 'dr-drill-*'] })), clients);
    const [line] = await limited.plan(planContext(), limited.params.parse({ schedule: 'daily-full-backup', includedNamespaces: ['production'], restoreInto: 'dr-drill-rvel0008' }));
    expect(line?.detail).toMatch(/into production → dr-drill-rvel0008; .*; existing objects: left as they are \(allowed: K8S_ALLOWED_NAMESPACES=production,dr-drill-\*\)$/);
    expect((await failureOf(limited.plan(planContext(), limited.params.parse({ schedule: 'daily-full-backup', includedNamespaces: ['*'] })))).message).toBe(
      'restoring every namespace of the backup (includedNamespaces *) is not allowed by K8S_ALLOWED_NAMESPACES=production,dr-drill-*; list the namespaces to restore in includedNamespaces, or set K8S_ALLOWED_NAMESPACES (kubernetes.allowedNamespaces) to * (system namespaces stay excluded)',
    );
    expect((await failureOf(limited.run(stepContext({ runId: 'rvel0008', stepId: 'r' }), limited.params.parse({ schedule: 'daily-full-backup', includedNamespaces: ['billing'] })))).message).toBe(
      'namespace billing is not allowed by K8S_ALLOWED_NAMESPACES=production,dr-drill-*; to allow it, add it to K8S_ALLOWED_NAMESPACES (kubernetes.allowedNamespaces)',
    );
    expect(kube.callsMatching('POST', '/restores')).toEqual([]);
  });

  it('fails on PartiallyFailed with Velero\'s warning and error counts', async () => {
    kube.restoreOutcome = { phase: 'PartiallyFailed', warnings: 3, errors: 2 };
    const failure = await failureOf(restore.run(stepContext({ runId: 'rvel0002', stepId: 'restore' }), restore.params.parse({ schedule: 'daily-full-backup' })));
    expect(failure).toEqual({
      message: 'Velero restore dr-rvel0002-restore ended PartiallyFailed: 3 warnings, 2 errors; see `velero restore describe dr-rvel0002-restore --details`; to accept a partial restore, set allowPartial',
      permanent: true,
    });
  });

  it('fails cleanly when the restore outlives the step deadline', async () => {
    kube.restoreMs = 60_000;
    const failure = await failureOf(restore.run(stepContext({ runId: 'rvel0003', stepId: 'r', timeoutMs: 1_000 }), restore.params.parse({ schedule: 'daily-full-backup' })));
    expect(failure.message).toMatch(/^gave up waiting for Velero restore dr-rvel0003-r: still InProgress after/);
  });

  it('verifies restored pods, and deletes only drill namespaces', async () => {
    await restore.run(stepContext({ runId: 'rvel0004', stepId: 'restore' }), restore.params.parse({ schedule: 'daily-full-backup', includedNamespaces: ['production'], restoreInto: 'dr-drill-rvel0004', isolate: false }));
    expect(await pods.run(stepContext(), pods.params.parse({ namespace: 'dr-drill-rvel0004' }))).toEqual({ pods: 2 });
    expect(await del.run(stepContext(), del.params.parse({ namespace: 'dr-drill-rvel0004' }))).toEqual({ deleted: true });
    expect(await del.run(stepContext({ attempt: 2 }), del.params.parse({ namespace: 'dr-drill-rvel0004' }))).toEqual({ deleted: false });
    expect(del.params.safeParse({ namespace: 'production' }).error?.issues[0]?.message).toBe('only drill namespaces (dr-drill-…) can be deleted');
    expect((await pods.plan(planContext(), pods.params.parse({ namespace: 'dr-drill-rvel0004' })))[0]?.detail).toBe(
      'wait until at least 1 pod in dr-drill-rvel0004 is running and ready (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded)',
    );
    expect(DEFAULT_KUBE_SCOPE.namespaces).toEqual(['*']);
  });
});
