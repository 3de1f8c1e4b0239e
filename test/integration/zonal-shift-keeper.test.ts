import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IncidentStore } from '../../src/incidents/store.ts';
import type { Run } from '../../src/runs/model.ts';
import type { Targets } from '../../src/targets/targets.ts';
import { ShiftKeeper } from '../../src/zonal-shifts/keeper.ts';
import { ShiftKeeperQueue, startShiftKeeperWorker } from '../../src/zonal-shifts/queue.ts';
import { ALICE, BOB, SHIPPED_COMMANDS, startTestEngine, type TestEngine, testTargets } from '../support/engine.ts';
import { FakeArcZonalShift, type FakeShift } from '../support/fake-arc-zonal-shift.ts';
import { FakeEc2 } from '../support/fake-ec2.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeService } from '../support/fake-service.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { A0, B0, resetAzEstate, WEB } from '../support/az-estate.ts';

const KEY = { accessKeyId: 'AKIAFAKEFAKEFAKE0001', secretAccessKey: 's'.repeat(40) };
const credentials = () => Promise.resolve(KEY);
const API = 'arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/api/fedcba9876543210';
const RUN_CHANNEL = 'C0RUNS0001';
const INCIDENT_CHANNEL = 'C0INCAZ001';
const ENDED = ['succeeded', 'failed', 'cancelled'] as const;
const MINUTE = 60_000;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The zonal shift keeper on real Redis, the real engine and the strict zonal
 * shift fake: az-evacuate's shift is extended while the run waits (parked,
 * no worker held) and while its incident is open, cancelled when the
 * incident is resolved, and left to expire, saying so, without an incident.
 * Time: the fake's clock is moved (extensions are due with half of the
 * configured 1m left), never waited for.
 */
describe('the zonal shift keeper', () => {
  let arc: FakeArcZonalShift;
  let ec2: FakeEc2;
  let rds: FakeRds;
  let kube: FakeKube;
  let api: FakeService;
  let engine: TestEngine;
  let targets: Targets;
  let incidents: IncidentStore;
  let keeper: ShiftKeeper;
  let told: { channel: string; threadTs?: string; text: string }[];
  let clockOffset = 0;

  beforeAll(async () => {
    [arc, ec2, rds, kube, api] = await Promise.all([new FakeArcZonalShift().start(), new FakeEc2().start(), new FakeRds().start(), new FakeKube().start(), new FakeService().start()]);
    arc.knownSecrets.set(KEY.accessKeyId, KEY.secretAccessKey);
    ec2.knownSecrets.set(KEY.accessKeyId, KEY.secretAccessKey);
    arc.now = () => Date.now() + clockOffset;
  });
  afterAll(async () => {
    await Promise.all([arc.stop(), ec2.stop(), rds.stop(), kube.stop(), api.stop()]);
  });
  beforeEach(async () => {
    clockOffset = 0;
    resetAzEstate({ arc, ec2, rds, kube }, { writerZone: 'us-east-1b', nodes: [A0, B0], delayMs: 100 });
    arc.addManagedResource(API, ['use1-az1', 'use1-az6']);

    targets = testTargets(
      { defaultTarget: 'prod', targets: { prod: { region: 'us-east-1', endpoints: { arczonalshift: arc.url, ec2: ec2.url, rds: rds.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } } } },
      { credentials },
    );
    engine = await startTestEngine({ commandsDir: SHIPPED_COMMANDS, targets });
    incidents = new IncidentStore(engine.redis, engine.prefix);
    told = [];
    keeper = new ShiftKeeper({
      redis: engine.redis,
      prefix: engine.prefix,
      runs: engine.store,
      incidents,
      targets,
      extendBy: '1m',
      leaseMs: MINUTE,
      tell: (where, text) => {
        told.push({ ...where, text });
        return Promise.resolve();
      },
      slash: '/dr',
      logger: engine.logger,
      // The shifts' times are the fake's: the keeper judges them by its clock.
      now: () => arc.now(),
    });
  });
  afterEach(async () => {
    await engine.stop();
  });

  const evacuate = async (origin: Run['origin'], extra: Record<string, string> = {}): Promise<Run> => {
    const run = await engine.service.create({ runbookId: 'az-evacuate', params: { zone: 'us-east-1a', resources: WEB, healthUrl: `${api.url}/health`, expiresIn: '2m', ...extra }, requester: ALICE, origin });
    await engine.service.approve(run.id, BOB);
    return run;
  };
  const runShift = (runId: string): FakeShift | undefined => [...arc.shifts.values()].find((s) => s.comment.includes(runId));
  const audits = async (runId: string) => (await engine.store.audit(runId)).filter((a) => a.action.startsWith('zonal shift')).map((a) => `${a.action}: ${a.detail ?? ''}`);
  /** A shift a person started on another resource, about to expire: never the keeper's to extend or cancel. */
  const personsShift = (): FakeShift => {
    const now = arc.now();
    const shift: FakeShift = { zonalShiftId: 'aaaaaaaa-1111-2222-3333-444444444444', resourceIdentifier: API, awayFrom: 'use1-az1', comment: 'manual: az1 looks bad', startTime: now, expiryTime: now + 2 * MINUTE, cancelled: false, appliesAt: now };
    arc.shifts.set(shift.zonalShiftId, shift);
    return shift;
  };

  it('extends the run’s shift before it expires while the run waits parked, then leaves it to expire, saying until when and how to extend or end it', async () => {
    kube.addPdb('production', 'api-pdb', { matchLabels: { app: 'api' }, minAvailable: 2 });
    const run = await evacuate({ channelId: RUN_CHANNEL }, { drain: 'true' });
    // The drain waits for the budget, parked between its looks: no worker is held.
    await until('the drain to wait, parked', async () => (await engine.store.field(run.id, 'parked'))?.includes('"stepId":"drain"') === true);
    const shift = runShift(run.id);
    expect(shift).toBeDefined();
    const startedExpiry = shift?.expiryTime ?? 0;

    expect(await keeper.look()).toMatchObject({ runs: 1, extended: 0 });
    expect(arc.callsTo('UpdateZonalShift')).toHaveLength(0);

    // 1m40s later by the fake's clock: 20 s left, less than half of the 1m each extension gives.
    clockOffset = 100_000;
    expect(await keeper.look()).toMatchObject({ extended: 1 });
    expect(arc.statusOf(shift as FakeShift)).toBe('ACTIVE');
    expect(shift?.expiryTime).toBeGreaterThan(startedExpiry);
    expect(arc.callsTo('UpdateZonalShift').map((c) => c.body)).toEqual([{ expiresIn: '1m' }]);
    expect(await audits(run.id)).toEqual([expect.stringMatching(new RegExp(`^zonal shift extended: zonal shift ${shift?.zonalShiftId ?? ''} \\(${WEB}, away from use1-az1\\) until .*: the run is still under way$`))]);
    expect(told.map((t) => t.channel)).toEqual([RUN_CHANNEL]);
    expect(told[0]?.text).toContain(`Extended zonal shift \`${shift?.zonalShiftId ?? ''}\``);
    expect((await engine.store.get(run.id))?.state).toBe('running');

    kube.evictions.setBudget('production', 'api-pdb', { minAvailable: 1 });
    const done = await engine.waitForState(run.id, [...ENDED], 60_000);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('succeeded');

    // No incident: not extended any more, said once with the expiry and the commands.
    clockOffset = 150_000;
    told.length = 0;
    expect(await keeper.look()).toMatchObject({ extended: 0 });
    expect(await keeper.look()).toMatchObject({ runs: 0 });
    expect(told).toHaveLength(1);
    const note = told[0]?.text ?? '';
    expect(note).toContain('nothing extends them as the run belongs to no incident');
    expect(note).toContain(`until ${new Date(shift?.expiryTime ?? 0).toISOString()}`);
    expect(note).toContain(`/dr run az-extend-shift zone=us-east-1a resources=${WEB} expiresIn=2h`);
    expect(note).toContain(`/dr evacuate --restore us-east-1a resources=${WEB}`);
    expect(arc.callsTo('UpdateZonalShift')).toHaveLength(1);
    expect(arc.statusOf(shift as FakeShift)).toBe('ACTIVE');
  });

  it('keeps a succeeded run’s shift while its incident is open, cancels it when the incident is resolved, and never touches a person’s shift', async () => {
    const incidentId = 'inc-az-0001';
    const startedAt = Date.now();
    await incidents.create(
      { id: incidentId, scenario: 'single-az-failure', title: 'us-east-1a failing', severity: 'sev1', public: false, declaredBy: ALICE.id, commander: ALICE.id, originChannel: RUN_CHANNEL, channelName: 'inc-az', affectedServices: [], impact: '', startedAt, rtoMs: 30 * MINUTE, rpoMs: 0, state: 'investigating', currentStatus: 'evacuating', runs: [] },
      'trigger-az-1',
      { at: startedAt, actor: ALICE.id, text: 'declared' },
    );
    await incidents.setField(incidentId, 'channelId', INCIDENT_CHANNEL);
    const theirs = personsShift();
    const theirExpiry = theirs.expiryTime;

    const run = await evacuate({ incidentId, channelId: INCIDENT_CHANNEL });
    const done = await engine.waitForState(run.id, [...ENDED], 60_000);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('succeeded');
    const shift = runShift(run.id) as FakeShift;

    // Past the middle of its life: the incident is open, so the shift is extended; the person's, as close to its end, is not.
    clockOffset = 100_000;
    expect(await keeper.look()).toMatchObject({ extended: 1, cancelled: 0 });
    expect(told.map((t) => t.channel)).toEqual([INCIDENT_CHANNEL, INCIDENT_CHANNEL]);
    expect(told[0]?.text).toContain(`keeps traffic away from the zone while incident \`${incidentId}\` is open`);
    expect(told[1]?.text).toContain(`incident ${incidentId} is open`);
    expect(arc.callsTo('UpdateZonalShift').map((c) => c.path)).toEqual([`/zonalshifts/${shift.zonalShiftId}`]);
    expect(theirs.expiryTime).toBe(theirExpiry);

    await incidents.transition(incidentId, 'resolved', { at: Date.now(), actor: ALICE.id, text: 'resolved' }, { resolvedAt: String(Date.now()) });
    expect(await keeper.look()).toMatchObject({ cancelled: 1 });
    expect(arc.statusOf(shift)).toBe('CANCELED');
    expect(arc.statusOf(theirs)).toBe('ACTIVE');
    expect(arc.callsTo('CancelZonalShift').map((c) => c.path)).toEqual([`/zonalshifts/${shift.zonalShiftId}`]);
    expect(told.at(-1)?.text).toContain(`Incident \`${incidentId}\` is resolved: cancelled zonal shift \`${shift.zonalShiftId}\``);
    expect(await audits(run.id)).toEqual([
      expect.stringMatching(/^zonal shift extended: .*: incident inc-az-0001 is open$/),
      `zonal shift cancelled: zonal shift ${shift.zonalShiftId} (${WEB}, away from use1-az1): incident ${incidentId} is resolved; traffic returns to use1-az1`,
    ]);

    // Done with the run: later looks change nothing, and AWS refuses to extend a cancelled shift.
    expect(await keeper.look()).toMatchObject({ runs: 0 });
    const client = targets.access('prod', run.id).aws.arcZonalShift();
    await expect(client.updateZonalShift(shift.zonalShiftId, { expiresIn: '1h' })).rejects.toMatchObject({ status: 409, reason: 'ZonalShiftStatusNotActive' });
    expect(theirs.expiryTime).toBe(theirExpiry);
  });

  it('as a worker process runs it: looks on its schedule extend the shift of an open incident’s run, and a resolved incident’s is cancelled at once', async () => {
    const incidentId = 'inc-az-0002';
    const startedAt = Date.now();
    await incidents.create(
      { id: incidentId, scenario: 'single-az-failure', title: 'us-east-1a failing', severity: 'sev1', public: false, declaredBy: ALICE.id, commander: ALICE.id, originChannel: RUN_CHANNEL, channelName: 'inc-az-2', affectedServices: [], impact: '', startedAt, rtoMs: 30 * MINUTE, rpoMs: 0, state: 'identified', currentStatus: 'evacuating', runs: [] },
      'trigger-az-2',
      { at: startedAt, actor: ALICE.id, text: 'declared' },
    );
    await incidents.setField(incidentId, 'channelId', INCIDENT_CHANNEL);
    const run = await evacuate({ incidentId });
    expect((await engine.waitForState(run.id, [...ENDED], 60_000)).state).toBe('succeeded');
    const shift = runShift(run.id) as FakeShift;

    const queue = new ShiftKeeperQueue(engine.redis, engine.prefix, engine.logger);
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const worker = startShiftKeeperWorker({ connection, prefix: engine.prefix, keeper, logger: engine.logger });
    try {
      // ZONAL_SHIFT_KEEP_EVERY_MS at its smallest: the test waits for what the looks do, not for a time.
      await queue.schedule(100);
      clockOffset = 100_000;
      await until('a scheduled look to extend the shift', () => arc.callsTo('UpdateZonalShift').length === 1);
      await incidents.transition(incidentId, 'resolved', { at: Date.now(), actor: ALICE.id, text: 'resolved' }, { resolvedAt: String(Date.now()) });
      await queue.queue.removeJobScheduler('look');
      await queue.lookNow(`resolved-${incidentId}`);
      await until('the resolved incident’s shift to be cancelled', () => arc.statusOf(shift) === 'CANCELED');
      expect(told.at(-1)?.text).toContain(`Incident \`${incidentId}\` is resolved`);
    } finally {
      await worker.close(1_000);
      await queue.close();
      connection.disconnect();
    }
  });

  it('a shift az-restore cancelled meanwhile is left as it is: nothing extended, said or kept', async () => {
    const run = await evacuate({ channelId: RUN_CHANNEL });
    await engine.waitForState(run.id, [...ENDED], 60_000);
    const back = await engine.service.create({ runbookId: 'az-restore', params: { zone: 'us-east-1a', resources: WEB }, requester: ALICE });
    await engine.service.approve(back.id, BOB);
    expect((await engine.waitForState(back.id, [...ENDED], 60_000)).state).toBe('succeeded');

    clockOffset = 100_000;
    expect(await keeper.look()).toMatchObject({ runs: 1, extended: 0, cancelled: 0 });
    expect(await keeper.look()).toMatchObject({ runs: 0 });
    expect(told).toEqual([]);
    expect(arc.callsTo('UpdateZonalShift')).toHaveLength(0);
  });
});
