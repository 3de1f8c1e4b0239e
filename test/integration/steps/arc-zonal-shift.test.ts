import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cancelZonalShiftStep, extendZonalShiftStep } from '../../../src/steps/arc/extend-cancel.ts';
import { zonalShiftStep } from '../../../src/steps/arc/zonal-shift.ts';
import { isPermanent } from '../../../src/steps/types.ts';
import { ZonalShiftError } from '../../../src/targets/arc-zonal-shift.ts';
import { Targets } from '../../../src/targets/targets.ts';
import { takeModelRefusals } from '../../support/aws-models/refusals.ts';
import { FakeArcZonalShift } from '../../support/fake-arc-zonal-shift.ts';
import { FakeEc2 } from '../../support/fake-ec2.ts';
import { failureOf, planContext, stepContext, withClients } from '../../support/step-context.ts';

const KEY = { accessKeyId: 'AKIAFAKEFAKEFAKE0001', secretAccessKey: 's'.repeat(40) };
const credentials = () => Promise.resolve(KEY);
const ACCOUNT = '111122223333';
const WEB = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:loadbalancer/app/web/0123456789abcdef`;
const API = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:loadbalancer/net/api/fedcba9876543210`;
const UNMANAGED = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:loadbalancer/app/legacy/1111111111111111`;
const HOUR = 3_600_000;

/** A zonal shift request signed as the bot signs them, sent as is (what the client itself would refuse to send). */
async function rawRequest(url: string, init: { method: string; path: string; body?: unknown; region?: string; sign?: boolean }): Promise<{ status: number; type: string | null; body: Record<string, unknown> }> {
  const base = new URL(url);
  const body = init.body === undefined ? undefined : JSON.stringify(init.body);
  let headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.sign !== false) {
    const signer = new SignatureV4({ service: 'arc-zonal-shift', region: init.region ?? 'us-east-1', credentials, sha256: Sha256 });
    const signed = await signer.sign(new HttpRequest({ method: init.method, protocol: 'http:', hostname: base.hostname, port: Number(base.port), path: init.path, headers: { host: base.host, ...headers }, ...(body ? { body } : {}) }));
    headers = Object.fromEntries(Object.entries(signed.headers).filter(([k]) => k !== 'host'));
  }
  const res = await fetch(`${url}${init.path}`, { method: init.method, headers, ...(body ? { body } : {}) });
  return { status: res.status, type: res.headers.get('x-amzn-errortype'), body: (await res.json()) as Record<string, unknown> };
}

describe('ARC zonal shift: moving traffic away from one Availability Zone', () => {
  let arc: FakeArcZonalShift;
  let ec2: FakeEc2;
  let targets: Targets;

  beforeAll(async () => {
    arc = await new FakeArcZonalShift().start();
    ec2 = await new FakeEc2().start();
    arc.knownSecrets.set(KEY.accessKeyId, KEY.secretAccessKey);
    ec2.knownSecrets.set(KEY.accessKeyId, KEY.secretAccessKey);
    targets = new Targets(new Map([['prod', { region: 'us-east-1', endpoints: { arczonalshift: arc.url, ec2: ec2.url }, rdsEndpoints: {}, veleroNamespace: 'velero' }]]), 'prod', { credentials });
  });
  afterAll(async () => {
    await arc.stop();
    await ec2.stop();
  });
  beforeEach(() => {
    arc.shifts.clear();
    arc.calls.length = 0;
    ec2.calls.length = 0;
    arc.now = Date.now;
    arc.applyAfterMs = 200;
    // One shift per page: every listing has to follow nextToken.
    arc.pageSize = 1;
    // This account's names and ids: us-east-1b is use1-az6 here, nothing a name could tell.
    ec2.setZones('us-east-1', [['us-east-1a', 'use1-az1'], ['us-east-1b', 'use1-az6'], ['us-east-1c', 'use1-az4']]);
    arc.setRegionZones('us-east-1', ['use1-az1', 'use1-az2', 'use1-az3', 'use1-az4', 'use1-az5', 'use1-az6']);
    arc.addManagedResource(WEB, ['use1-az1', 'use1-az6', 'use1-az4']);
    arc.addManagedResource(API, ['use1-az1', 'use1-az6']);
  });

  const access = (run = 'rtest001') => targets.access('prod', run);
  const shiftStep = (run?: string) => withClients(zonalShiftStep(), access(run));
  const params = (over: Record<string, unknown> = {}) => zonalShiftStep().params.parse({ resources: [WEB, API], zone: 'us-east-1a', ...over });
  const starts = () => arc.callsTo('StartZonalShift').length;

  describe('plan', () => {
    it('maps the zone name Kubernetes uses to this account’s zone id with EC2, pins the id and says what will move', async () => {
      const ctx = planContext();
      const lines = await shiftStep().plan(ctx, params());
      expect(ctx.pins).toEqual({ zone: 'use1-az1' });
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatchObject({ action: 'change', resource: `zonal shift ${WEB}` });
      expect(lines[0]?.detail).toContain('away from us-east-1a (use1-az1) for 1h');
      expect(ec2.calls.map((c) => [c.action, c.region, c.error])).toEqual([['DescribeAvailabilityZones', 'us-east-1', undefined]]);

      const other = planContext();
      await shiftStep().plan(other, params({ zone: 'us-east-1b' }));
      expect(other.pins).toEqual({ zone: 'use1-az6' });
      expect(starts()).toBe(0);
    });

    it('refuses a resource zonal shift does not manage, a zone the region does not have, and a zone the resource is not in', async () => {
      const unmanaged = await shiftStep().plan(planContext(), params({ resources: [WEB, UNMANAGED] })).catch((e: unknown) => e);
      expect((unmanaged as Error).message).toContain(`${UNMANAGED} is not a zonal shift managed resource in us-east-1`);
      // A 404 is final: the plan is refused at once, not retried.
      expect(isPermanent(unmanaged)).toBe(true);

      const noZone = await failureOf(shiftStep().plan(planContext(), params({ zone: 'us-east-1f' })));
      expect(noZone).toEqual({ message: expect.stringContaining('no Availability Zone us-east-1f in us-east-1 for this account; its zones are: us-east-1a (use1-az1), us-east-1b (use1-az6), us-east-1c (use1-az4)') as string, permanent: true });

      const notThere = await failureOf(shiftStep().plan(planContext(), params({ resources: [API], zone: 'us-east-1c' })));
      expect(notThere.message).toBe(`${API} is not in us-east-1c (use1-az4): zonal shift manages it in use1-az1, use1-az6`);
      expect(starts()).toBe(0);
    });

    it('refuses resources of another region and parameters written wrong, before changing anything', async () => {
      const west = `arn:aws:elasticloadbalancing:us-west-2:${ACCOUNT}:loadbalancer/app/web/0123456789abcdef`;
      expect(await failureOf(shiftStep().plan(planContext(), params({ resources: [west] })))).toEqual({
        message: `${west} is in us-west-2, not us-east-1: zonal shift is regional, so run this step on a target in us-west-2`,
        permanent: true,
      });
      const written = await failureOf(shiftStep().plan(planContext(), params({ zone: 'zone-a' })));
      expect(written.message).toContain('is not an Availability Zone: give its name, like us-east-1a');
      const parsed = zonalShiftStep().params.safeParse({ resources: 'not-an-arn', zone: 'a' });
      expect(parsed.success).toBe(false);
      expect(zonalShiftStep().params.safeParse({ resources: [WEB], zone: 'us-east-1a', expiresIn: '73h' }).success).toBe(false);
      expect(zonalShiftStep().params.parse({ resources: `${WEB}, ${API}`, zone: 'use1-az1' }).resources).toEqual([WEB, API]);
    });
  });

  describe('run', () => {
    it('starts one shift per resource named after the run, waits until the zone’s weight is 0, and never starts twice on re-entry', async () => {
      const ctx = stepContext();
      const out = await shiftStep().run(ctx, params({ zone: 'use1-az1', comment: 'AZ impaired' }));
      expect(out.zoneId).toBe('use1-az1');
      const ids = String(out.zonalShiftIds).split(',');
      expect(ids).toHaveLength(2);
      expect([...arc.shifts.values()].map((s) => [s.resourceIdentifier, s.awayFrom, s.comment])).toEqual([
        [WEB, 'use1-az1', 'dr-chatops run rtest001: AZ impaired'],
        [API, 'use1-az1', 'dr-chatops run rtest001: AZ impaired'],
      ]);
      const web = await access().aws.arcZonalShift().getManagedResource(WEB);
      expect(web.appliedWeights).toEqual({ 'use1-az1': 0, 'use1-az6': 1, 'use1-az4': 1 });
      expect(web.zonalShifts.map((s) => s.appliedStatus)).toEqual(['APPLIED']);

      // The same step entered again (a park, a retry): its checkpoints hold the shifts.
      expect(await shiftStep().run(ctx, params({ zone: 'use1-az1' }))).toEqual(out);
      // A worker that died after the start, before the checkpoint was stored: the run's shifts are found by listing.
      expect(await shiftStep().run(stepContext(), params({ zone: 'use1-az1' }))).toEqual(out);
      expect(starts()).toBe(2);
      expect(arc.shifts.size).toBe(2);
    });

    it('adopts a start whose answer was lost (AWS then refuses the retried start as ZonalShiftAlreadyExists)', async () => {
      arc.failNext('StartZonalShift', { status: 500, code: 'InternalServerException', afterApply: true });
      const out = await shiftStep().run(stepContext(), params({ resources: [WEB] }));
      expect(arc.shifts.size).toBe(1);
      expect(out.zonalShiftIds).toBe([...arc.shifts.keys()][0]);
      expect(arc.calls.filter((c) => c.operation === 'StartZonalShift').map((c) => [c.status, c.error])).toEqual([
        [500, 'InternalServerException'],
        [409, 'ConflictException'],
      ]);
    });

    it('refuses a resource someone else already shifted, naming that shift, and starts nothing', async () => {
      const person = await access('other').aws.arcZonalShift().startZonalShift({ resourceIdentifier: API, awayFrom: 'use1-az6', expiresIn: '2h', comment: 'manual, ticket 4711' });
      const failed = await failureOf(shiftStep().run(stepContext(), params()));
      expect(failed.permanent).toBe(true);
      expect(failed.message).toContain(`${API} already has an active zonal shift not started by this run, ${person.zonalShiftId} away from use1-az6`);
      const plan = await failureOf(shiftStep().plan(planContext(), params()));
      expect(plan.message).toContain(person.zonalShiftId);
    });
  });

  describe('extend and cancel', () => {
    const extend = (run?: string) => withClients(extendZonalShiftStep(), access(run));
    const cancel = (run?: string) => withClients(cancelZonalShiftStep(), access(run));

    it('extends the run’s shifts from now, and fails once a shift has expired (traffic is back in the zone)', async () => {
      const { zonalShiftIds } = await shiftStep().run(stepContext(), params({ expiresIn: '30m' }));
      const before = [...arc.shifts.values()].map((s) => s.expiryTime);
      const p = extendZonalShiftStep().params.parse({ zonalShiftIds, expiresIn: '2h' });
      const lines = await extend().plan(planContext(), p);
      expect(lines.map((l) => l.action)).toEqual(['change', 'change']);
      const out = await extend().run(stepContext(), p);
      expect(out.zonalShiftIds).toBe(zonalShiftIds);
      for (const [i, s] of [...arc.shifts.values()].entries()) expect(s.expiryTime).toBeGreaterThan((before[i] ?? 0) + HOUR);

      arc.now = () => Date.now() + 3 * HOUR;
      const expired = await failureOf(extend().run(stepContext(), p));
      expect(expired).toEqual({ message: expect.stringContaining('is no longer active (expired or cancelled)') as string, permanent: true });
    });

    it('cancels the run’s shifts, and counts shifts already ended as done', async () => {
      const { zonalShiftIds } = await shiftStep().run(stepContext(), params());
      const p = cancelZonalShiftStep().params.parse({ zonalShiftIds });
      expect((await cancel().plan(planContext(), p)).map((l) => l.action)).toEqual(['delete', 'delete']);
      expect((await cancel().run(stepContext(), p)).cancelled).toBe(zonalShiftIds);
      expect([...arc.shifts.values()].map((s) => arc.statusOf(s))).toEqual(['CANCELED', 'CANCELED']);
      expect((await access().aws.arcZonalShift().getManagedResource(WEB)).appliedWeights['use1-az1']).toBe(1);
      // Again (a retry, the cleanup after the step): nothing left to cancel, no error.
      expect(await cancel().run(stepContext(), p)).toEqual({ cancelled: '' });
      expect((await cancel().plan(planContext(), p)).map((l) => l.detail)).toEqual([`${String(zonalShiftIds).replace(',', ', ')} already ended (expired or cancelled): nothing to cancel`]);
    });

    it('the reverse runbook cancels the bot’s shifts on the resources, never a person’s', async () => {
      await shiftStep('rabc123').run(stepContext({ runId: 'rabc123' }), params({ resources: [WEB] }));
      const person = await access('other').aws.arcZonalShift().startZonalShift({ resourceIdentifier: API, awayFrom: 'use1-az1', expiresIn: '1h', comment: 'on-call, by hand' });
      const p = cancelZonalShiftStep().params.parse({ resources: [WEB, API], zone: 'us-east-1a' });
      const lines = await cancel('rrev001').plan(planContext('rrev001'), p);
      expect(lines).toHaveLength(1);
      expect(lines[0]?.detail).toContain(`${WEB}, away from use1-az1`);
      await cancel('rrev001').run(stepContext({ runId: 'rrev001' }), p);
      expect([...arc.shifts.values()].map((s) => [s.resourceIdentifier, arc.statusOf(s)])).toEqual([
        [WEB, 'CANCELED'],
        [API, 'ACTIVE'],
      ]);
      expect(arc.shifts.get(person.zonalShiftId)?.cancelled).toBe(false);
    });
  });

  describe('the fake refuses what AWS refuses', () => {
    const client = () => access().aws.arcZonalShift();

    it('a second active shift on the same resource: 409 ZonalShiftAlreadyExists naming the active one', async () => {
      const first = await client().startZonalShift({ resourceIdentifier: WEB, awayFrom: 'use1-az1', expiresIn: '1h', comment: 'first' });
      const err = await client().startZonalShift({ resourceIdentifier: WEB, awayFrom: 'use1-az6', expiresIn: '1h', comment: 'second' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ZonalShiftError);
      expect(err).toMatchObject({ status: 409, code: 'ConflictException', reason: 'ZonalShiftAlreadyExists', zonalShiftId: first.zonalShiftId, permanent: true });
      expect((err as Error).message).toContain(`${WEB} already has an active zonal shift (${first.zonalShiftId})`);
      // Cancelling it twice: the second is refused as not active.
      await client().cancelZonalShift(first.zonalShiftId);
      await expect(client().cancelZonalShift(first.zonalShiftId)).rejects.toMatchObject({ status: 409, reason: 'ZonalShiftStatusNotActive' });
    });

    it('an expiresIn outside the model’s pattern or over 72 hours, and a comment over 128 characters', async () => {
      const start = (over: Record<string, unknown>) => rawRequest(arc.url, { method: 'POST', path: '/zonalshifts', body: { resourceIdentifier: WEB, awayFrom: 'use1-az1', expiresIn: '1h', comment: 'c', ...over } });
      expect(await start({ expiresIn: '90s' })).toMatchObject({ status: 400, type: 'ValidationException', body: { reason: 'InvalidExpiresIn' } });
      expect(await start({ expiresIn: '73h' })).toMatchObject({ status: 400, type: 'ValidationException', body: { reason: 'InvalidExpiresIn' } });
      expect((await start({ comment: 'x'.repeat(129) })).status).toBe(400);
      expect(takeModelRefusals().map((r) => [r.service, r.operation, r.code])).toEqual([
        ['arc-zonal-shift', 'StartZonalShift', 'ValidationException'],
        ['arc-zonal-shift', 'StartZonalShift', 'ValidationException'],
      ]);
      // The client refuses them before sending, saying how to write one.
      await expect(client().startZonalShift({ resourceIdentifier: WEB, awayFrom: 'use1-az1', expiresIn: '90s', comment: '' })).rejects.toThrow('write a whole number of minutes or hours, like 30m or 2h, at most 72h');
      expect(arc.shifts.size).toBe(0);
    });

    it('an AZ name where an AZ id belongs: 400 InvalidAz', async () => {
      const err = await client().startZonalShift({ resourceIdentifier: WEB, awayFrom: 'us-east-1a', expiresIn: '1h', comment: '' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 400, code: 'ValidationException', reason: 'InvalidAz' });
      expect((err as Error).message).toContain('awayFrom must be an Availability Zone id (like use1-az1)');
      expect(arc.shifts.size).toBe(0);
    });

    it('an unsigned request, one signed for another service, and one signed for another region', async () => {
      expect(await rawRequest(arc.url, { method: 'GET', path: '/zonalshifts', sign: false })).toMatchObject({ status: 403, type: 'MissingAuthenticationTokenException' });
      const wrongRegion = await rawRequest(arc.url, { method: 'GET', path: `/managedresources/${encodeURIComponent(WEB)}`, region: 'us-west-2' });
      expect(wrongRegion).toMatchObject({ status: 404, type: 'ResourceNotFoundException' });
      const badSecret = new Targets(new Map([['prod', { region: 'us-east-1', endpoints: { arczonalshift: arc.url }, rdsEndpoints: {}, veleroNamespace: 'velero' }]]), 'prod', {
        credentials: () => Promise.resolve({ ...KEY, secretAccessKey: 'w'.repeat(40) }),
      });
      await expect(badSecret.access('prod', 'rtest001').aws.arcZonalShift().listZonalShifts()).rejects.toMatchObject({ status: 403, code: 'InvalidSignatureException' });
    });
  });
});
