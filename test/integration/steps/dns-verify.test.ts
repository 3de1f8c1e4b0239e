/**
 * dns.verify-failover against the loopback Route 53: what TestDNSAnswer
 * answers for the failover pair as its health checks change, with the real
 * Route 53 client the bot uses.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyFailoverStep } from '../../../src/steps/dns/verify-failover.ts';
import { buildRegistry } from '../../../src/steps/registry.ts';
import { Targets } from '../../../src/targets/targets.ts';
import { BOT } from '../../support/aws-test-clients.ts';
import { FakeRoute53 } from '../../support/fake-route53.ts';
import { failureOf, planContext, stepContext, withClients } from '../../support/step-context.ts';

describe('dns.verify-failover: Route 53 answers with the record the failover should pick', () => {
  let r53: FakeRoute53;
  let targets: Targets;
  let zone: string;
  let primaryCheck: string;

  beforeAll(async () => {
    r53 = await new FakeRoute53().start();
    r53.knownSecrets.set(BOT.accessKeyId, BOT.secretAccessKey);
    zone = r53.addHostedZone('dr-test.localhost');
    primaryCheck = r53.addHealthCheck({ Type: 'HTTPS', FullyQualifiedDomainName: 'api-east.dr-test.localhost', ResourcePath: '/healthz' });
    r53.addRecord(zone, { Name: 'api.dr-test.localhost', Type: 'A', SetIdentifier: 'primary', Failover: 'PRIMARY', TTL: 60, ResourceRecords: ['192.0.2.10'], HealthCheckId: primaryCheck });
    r53.addRecord(zone, { Name: 'api.dr-test.localhost', Type: 'A', SetIdentifier: 'secondary', Failover: 'SECONDARY', TTL: 60, ResourceRecords: ['198.51.100.7', '198.51.100.8'] });
    // Only a PRIMARY: nothing to fail over to.
    r53.addRecord(zone, { Name: 'lonely.dr-test.localhost', Type: 'A', SetIdentifier: 'primary', Failover: 'PRIMARY', TTL: 60, ResourceRecords: ['192.0.2.20'], HealthCheckId: primaryCheck });
    targets = new Targets(new Map([['prod', { region: 'us-west-2', endpoints: { route53: r53.url }, rdsEndpoints: {}, veleroNamespace: 'velero' }]]), 'prod', { credentials: () => Promise.resolve(BOT) });
  });
  afterAll(async () => {
    await r53.stop();
  });
  beforeEach(() => {
    r53.setHealth(primaryCheck, true);
    r53.calls.length = 0;
  });

  const step = () => withClients(verifyFailoverStep(), targets.access('prod', 'rtest001'));
  const params = (over: Record<string, unknown> = {}) => verifyFailoverStep().params.parse({ record: 'api.dr-test.localhost', ...over });

  it('is registered, and its plan says what it waits for and what Route 53 answers now, changing nothing', async () => {
    expect(buildRegistry().get('dns.verify-failover')?.outputs).toEqual(['answer', 'healthyPrimary', 'movedAt', 'verified']);
    const lines = await step().plan(planContext(), params());
    expect(lines).toHaveLength(1);
    expect(lines[0]?.action).toBe('wait');
    expect(lines[0]?.resource).toBe(`route53 record api.dr-test.localhost. A (zone ${zone})`);
    expect(lines[0]?.detail).toContain('answers with the SECONDARY record (198.51.100.7, 198.51.100.8)');
    expect(lines[0]?.detail).toContain('now it answers 192.0.2.10 (the PRIMARY)');
    expect(lines[0]?.detail).toContain('8 of 8 checkers healthy');
    expect(r53.calls.map((c) => c.operation).filter((op) => !/^(List|Get|Test)/.test(op))).toEqual([]);
  });

  it('with no record given verifies nothing, asks Route 53 nothing, and its plan says traffic is NOT verified', async () => {
    const none = params({ record: '' });
    const lines = await step().plan(planContext(), none);
    expect(lines).toEqual([{ action: 'check', resource: 'route53 traffic', detail: expect.stringContaining('traffic NOT verified: no dnsRecord given') as unknown }]);
    const ctx = stepContext();
    expect(await step().run(ctx, none)).toEqual({ answer: '', healthyPrimary: false, movedAt: '', verified: false });
    expect(ctx.progressMessages.join()).toContain('traffic NOT verified');
    expect(r53.calls).toEqual([]);
    // Not a DNS name and not empty: refused as before.
    expect(verifyFailoverStep().params.safeParse({ record: 'not a name' }).success).toBe(false);
  });

  it('with the primary healthy, Route 53 keeps answering with it: expect primary passes, expect secondary fails at its deadline saying why', async () => {
    const primary = await step().run(stepContext(), params({ expect: 'primary' }));
    expect(primary).toMatchObject({ answer: '192.0.2.10', healthyPrimary: true });

    const ctx = stepContext({ timeoutMs: 3_000 });
    const failure = await failureOf(step().run(ctx, params()));
    expect(failure.permanent).toBe(true);
    expect(failure.message).toMatch(/^Route 53 still answers api\.dr-test\.localhost\. A with 192\.0\.2\.10 \(the PRIMARY\) after .+, not the SECONDARY: PRIMARY's health check healthy/);
    expect(failure.message).toContain('so Route 53 keeps answering with the PRIMARY');
    expect(ctx.progressMessages.some((m) => m.includes('answering 192.0.2.10 (the PRIMARY)'))).toBe(true);
    expect(r53.callsTo('TestDNSAnswer').length).toBeGreaterThan(2);
  });

  it('with the primary unhealthy, Route 53 answers with the secondary: the step passes and says when', async () => {
    // Healthy at one checker of eight (12.5%, not more than 18%): Route 53 takes it as unhealthy.
    r53.setHealth(primaryCheck, false);
    r53.setHealth(primaryCheck, { 'us-east-1': true });
    const before = Date.now();
    const out = await step().run(stepContext(), params());
    expect(out).toMatchObject({ answer: '198.51.100.7,198.51.100.8', healthyPrimary: false });
    expect(Date.parse(String(out.movedAt))).toBeGreaterThanOrEqual(before);
  });

  it('waits while the primary is still healthy and passes once the secondary is answered', async () => {
    const ctx = stepContext({ timeoutMs: 15_000 });
    const run = step().run(ctx, params());
    while (r53.callsTo('TestDNSAnswer').length < 1) await new Promise((r) => setTimeout(r, 50));
    r53.setHealth(primaryCheck, false);
    await expect(run).resolves.toMatchObject({ answer: '198.51.100.7,198.51.100.8', healthyPrimary: false });
    expect(ctx.progressMessages[0]).toContain('answering 192.0.2.10 (the PRIMARY)');
  });

  it('refuses in the plan a record without a SECONDARY, and a name with no public zone', async () => {
    const missing = await failureOf(step().plan(planContext(), params({ record: 'lonely.dr-test.localhost' })));
    expect(missing).toEqual({ permanent: true, message: expect.stringContaining(`lonely.dr-test.localhost. A in hosted zone ${zone} has no SECONDARY failover record`) as string });
    const noZone = await failureOf(step().plan(planContext(), params({ record: 'api.example.net' })));
    expect(noZone.message).toContain('Route 53 has no public hosted zone for api.example.net.');
    expect(() => verifyFailoverStep().params.parse({ record: 'not a name' })).toThrow(/must be a DNS name such as api\.example\.com/);
  });
});
