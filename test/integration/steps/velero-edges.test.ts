import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { veleroRestoreStep } from '../../../src/steps/velero/restore.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { createStepClients, failureOf, planContext, stepContext, withClients } from '../../support/step-context.ts';

const HOUR = 3_600_000;
const ago = (hours: number) => new Date(Date.now() - hours * HOUR);

describe('velero.restore: what was approved runs, and Velero edge cases', () => {
  let kube: FakeKube;
  let clients: ReturnType<typeof createStepClients>;
  let restore: ReturnType<typeof veleroRestoreStep>;

  beforeAll(async () => {
    kube = await new FakeKube().start();
    clients = createStepClients({ aws: { region: 'us-east-1' }, kubernetes: { kubeconfig: kube.writeKubeconfig() } });
    restore = withClients(veleroRestoreStep(), clients);
  });
  afterAll(async () => {
    await kube.stop();
  });
  beforeEach(() => {
    kube.velero.clear();
    kube.velero.maxPageSize = Number.POSITIVE_INFINITY;
    kube.calls.length = 0;
    kube.restoreMs = 200;
    kube.restoreOutcome = { phase: 'Completed' };
    kube.addBackup('daily-full-backup-20261124020000', { schedule: 'daily-full-backup', completedAt: ago(27) });
    kube.addBackup('daily-full-backup-20261125020000', { schedule: 'daily-full-backup', completedAt: ago(3) });
  });

  const latest = (extra: Record<string, unknown> = {}) => restore.params.parse({ schedule: 'daily-full-backup', ...extra });

  it('pins the backup the plan showed; the approved run restores it even after a newer backup completed', async () => {
    const ctx = planContext('rpin0001', 'restore');
    const [line] = await restore.plan(ctx, latest());
    expect(ctx.pins).toEqual({ backup: 'daily-full-backup-20261125020000' });
    expect(line?.detail).toContain('from backup daily-full-backup-20261125020000');
    expect(line?.detail).toContain('the run restores exactly this backup, even if a newer one completes before it starts');

    kube.addBackup('daily-full-backup-20261125050000', { schedule: 'daily-full-backup', completedAt: ago(0.1) });
    const out = await restore.run(stepContext({ runId: 'rpin0001', stepId: 'restore' }), latest({ backup: ctx.pins.backup }));
    expect(out.backupName).toBe('daily-full-backup-20261125020000');
    expect(kube.callsMatching('POST', '/restores')[0]?.body).toMatchObject({ spec: { backupName: 'daily-full-backup-20261125020000' } });
  });

  it("looks for backups in the target's Velero namespace unless the runbook names one", async () => {
    const onDr = withClients(veleroRestoreStep(), createStepClients({ aws: { region: 'us-east-1' }, kubernetes: { kubeconfig: kube.writeKubeconfig(), veleroNamespace: 'velero-dr' } }));
    const failure = await failureOf(onDr.plan(planContext('rtgt0001', 'restore'), latest()));
    expect(failure.message).toBe('schedule daily-full-backup has no completed backup (backups: none)');
    expect(kube.calls.map((c) => c.path)).toEqual([expect.stringMatching(/^\/apis\/velero\.io\/v1\/namespaces\/velero-dr\/backups\?/)]);
    // Named in the runbook, it wins over the target's.
    const [line] = await onDr.plan(planContext('rtgt0002', 'restore'), latest({ veleroNamespace: 'velero' }));
    expect(line?.detail).toContain('from backup daily-full-backup-20261125020000');
  });

  it('refuses a backup that expires within the run, naming its expiration', async () => {
    const expiresAt = new Date(Date.now() + HOUR);
    kube.addBackup('daily-full-backup-20261125060000', { schedule: 'daily-full-backup', completedAt: ago(0.2), expiration: expiresAt });
    const failure = await failureOf(restore.plan(planContext('rexp0001', 'restore', 4 * HOUR), latest()));
    expect(failure.permanent).toBe(true);
    expect(failure.message).toMatch(
      new RegExp(`^backup daily-full-backup-20261125060000 expires at ${expiresAt.toISOString().replace(/\./g, '\\.')} \\(in [^)]+\\), within this run's 4h timeout: Velero's garbage collection deletes it and the restore made from it; choose another backup, or extend its TTL first`),
    );
    // A run short enough to finish before the expiry may use it.
    await restore.plan(planContext('rexp0002', 'restore', 0.5 * HOUR), latest());
  });

  it('fails at once when Velero deletes the restore with its expired backup mid-run', async () => {
    kube.restoreMs = 60_000;
    const running = failureOf(restore.run(stepContext({ runId: 'rexp0003', stepId: 'restore', timeoutMs: 30_000 }), latest({ backup: 'daily-full-backup-20261125020000' })));
    for (let i = 0; i < 200 && ![...kube.velero.keys()].some((k) => k.startsWith('restores/')); i++) await new Promise((r) => setTimeout(r, 25));
    kube.velero.setBackupExpiration('daily-full-backup-20261125020000', ago(0.01));
    expect(await running).toEqual({
      permanent: true,
      message:
        "Velero restore dr-rexp0003-restore cannot finish: its backup daily-full-backup-20261125020000 was deleted (Velero's garbage collection deletes an expired backup together with the restores made from it); restore from a newer backup, or extend a backup's TTL before restoring it",
    });
  });

  it('refuses a backup whose storage location is Unavailable, in the plan and at run, creating no Restore', async () => {
    kube.velero.setStorageLocation('default', 'Unavailable', { message: 'BackupStorageLocation "default" is unavailable: AccessDenied' });
    const expected = {
      permanent: true,
      message:
        'backup storage location default (of backup daily-full-backup-20261125020000) is Unavailable: BackupStorageLocation "default" is unavailable: AccessDenied; Velero cannot read the backup until it is Available (`velero backup-location get default`)',
    };
    expect(await failureOf(restore.plan(planContext(), latest()))).toEqual(expected);
    expect(await failureOf(restore.run(stepContext({ runId: 'rbsl0001', stepId: 'restore' }), latest()))).toEqual(expected);
    expect(kube.callsMatching('POST', '/restores')).toEqual([]);

    kube.velero.setStorageLocation('default', 'Available');
    expect((await restore.plan(planContext(), latest()))[0]?.detail).toContain('storage location default Available');
  });

  it('allowPartial: a PartiallyFailed restore succeeds with its warnings and errors counted', async () => {
    kube.restoreOutcome = { phase: 'PartiallyFailed', warnings: 3, errors: 2 };
    const p = latest({ allowPartial: true });
    expect((await restore.plan(planContext(), p))[0]?.detail).toContain('partial restores: accepted (PartiallyFailed succeeds; its warnings and errors are counted in the outputs)');
    const ctx = stepContext({ runId: 'rprt0001', stepId: 'restore' });
    expect(await restore.run(ctx, p)).toMatchObject({ warnings: 3, errors: 2, partial: true });
    expect(ctx.progressMessages).toContain('Velero restore dr-rprt0001-restore ended PartiallyFailed, accepted (allowPartial): 3 warnings, 2 errors');

    const failure = await failureOf(restore.run(stepContext({ runId: 'rprt0002', stepId: 'restore' }), latest()));
    expect(failure.message).toBe(
      'Velero restore dr-rprt0002-restore ended PartiallyFailed: 3 warnings, 2 errors; see `velero restore describe dr-rprt0002-restore --details`; to accept a partial restore, set allowPartial',
    );
  });

  it('reads a named backup with one GET, and pages through the list for the newest', async () => {
    await restore.plan(planContext(), restore.params.parse({ backup: 'daily-full-backup-20261124020000' }));
    expect(kube.calls.filter((c) => /\/backups(\/|\?|$)/.test(c.path)).map((c) => `${c.method} ${c.path}`)).toEqual(['GET /apis/velero.io/v1/namespaces/velero/backups/daily-full-backup-20261124020000']);

    kube.calls.length = 0;
    kube.velero.maxPageSize = 1;
    const ctx = planContext();
    await restore.plan(ctx, latest());
    expect(ctx.pins.backup).toBe('daily-full-backup-20261125020000');
    const lists = kube.calls.filter((c) => c.method === 'GET' && /\/backups\?/.test(c.path)).map((c) => new URL(c.path, 'http://x').searchParams);
    expect(lists).toHaveLength(2);
    expect(lists.map((q) => q.get('limit'))).toEqual(['500', '500']);
    expect(lists[0]?.has('continue')).toBe(false);
    // The token the server gave with the first page, passed back as is (the fake's names the last item it served).
    expect(Buffer.from(lists[1]?.get('continue') ?? '', 'base64url').toString('utf8')).toMatch(/^backups\/velero\/daily-full-backup-\d{14}$/);
  });

  it('the fake is as strict as the API server and Velero: unknown fields pruned (or refused under Strict), types checked, policies validated', async () => {
    await restore.run(stepContext({ runId: 'rsch0001', stepId: 'restore' }), latest());
    expect(kube.velero.warnings).toEqual([]);
    expect(new URL(kube.callsMatching('POST', '/restores')[0]?.path ?? '', 'http://x').searchParams.get('fieldValidation')).toBe('Strict');

    const api = await clients.kube();
    const create = (name: string, spec: Record<string, unknown>, fieldValidation?: string) =>
      api.custom.createNamespacedCustomObject({ group: 'velero.io', version: 'v1', namespace: 'velero', plural: 'restores', body: { apiVersion: 'velero.io/v1', kind: 'Restore', metadata: { name }, spec }, ...(fieldValidation ? { fieldValidation } : {}) });
    const codeOf = async (p: Promise<unknown>) => p.then(() => 0, (err: unknown) => (err as { code?: number }).code);

    expect(await codeOf(create('strict', { backupName: 'daily-full-backup-20261125020000', restoreIntoNamespace: 'x' }, 'Strict'))).toBe(400);
    expect(await codeOf(create('typed', { backupName: 'daily-full-backup-20261125020000', includedNamespaces: 'production' }))).toBe(422);
    const pruned = (await create('pruned', { backupName: 'daily-full-backup-20261125020000', restoreIntoNamespace: 'x' })) as { spec: Record<string, unknown> };
    expect(pruned.spec).toEqual({ backupName: 'daily-full-backup-20261125020000' });
    expect(kube.velero.warnings).toEqual(['unknown field "spec.restoreIntoNamespace"']);

    await create('bad-policy', { backupName: 'daily-full-backup-20261125020000', existingResourcePolicy: 'overwrite' });
    await new Promise((r) => setTimeout(r, 80));
    const read = (await api.custom.getNamespacedCustomObject({ group: 'velero.io', version: 'v1', namespace: 'velero', plural: 'restores', name: 'bad-policy' })) as { status: Record<string, unknown> };
    expect(read.status).toMatchObject({ phase: 'FailedValidation', validationErrors: ['Invalid ExistingResourcePolicy: overwrite'] });
  });
});
