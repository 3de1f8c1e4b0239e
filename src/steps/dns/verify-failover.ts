import { ListResourceRecordSetsCommand, type ResourceRecordSet, TestDNSAnswerCommand } from '@aws-sdk/client-route-53';
import { z } from 'zod';
import type { TargetAccess } from '../../targets/targets.ts';
import { formatDuration } from '../../util/duration.ts';
import { pollUntil } from '../poll.ts';
import { classifyAwsError } from '../rds/aws.ts';
import { defineStep, isPermanent, PermanentStepError, type StepOutputs } from '../types.ts';
import { fqdn, healthCheckState, publicZoneOf } from './route53.ts';

const params = z
  .object({
    /**
     * The name of the failover record pair (DR-PLAN.md, "Route53 Failover");
     * '' (a runbook's dnsRecord left out): nothing is verified, and the plan says so.
     */
    record: z.union([z.literal(''), z.string().regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$/i, 'must be a DNS name such as api.example.com')], {
      error: 'must be a DNS name such as api.example.com, or empty to verify nothing',
    }),
    type: z.enum(['A', 'AAAA', 'CNAME']).default('A'),
    /** The public hosted zone's id; found by the record's parent domains when left out. */
    hostedZoneId: z.string().regex(/^[A-Z0-9]{1,32}$/, 'must be a hosted zone id such as Z0123456789ABCDEFGHIJ').optional(),
    /** Which record Route 53 should answer with: the SECONDARY after a failover, the PRIMARY after failing back. */
    expect: z.enum(['secondary', 'primary']).default('secondary'),
  })
  .strict();
type VerifyParams = z.infer<typeof params>;

type Side = 'PRIMARY' | 'SECONDARY';

interface Pair {
  zoneId: string;
  name: string;
  primary: ResourceRecordSet;
  secondary: ResourceRecordSet;
}

/** Record values compared as DNS compares names: lowercase, without the trailing dot. */
const norm = (v: string) => v.toLowerCase().replace(/\.$/, '');
const valuesOf = (r: ResourceRecordSet) => (r.ResourceRecords ?? []).map((v) => norm(v.Value ?? ''));
const recordText = (r: ResourceRecordSet) => (r.AliasTarget ? `alias ${r.AliasTarget.DNSName ?? ''}` : valuesOf(r).join(', '));

async function askRoute53<T>(doing: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw isPermanent(err) ? err : classifyAwsError(err, doing);
  }
}

/** The PRIMARY and SECONDARY records of `record`/`type`; refuses when either is missing or the answers could not be told apart. */
async function pairOf(ctx: TargetAccess & { signal: AbortSignal }, p: VerifyParams): Promise<Pair> {
  const name = fqdn(p.record);
  const route53 = ctx.aws.route53();
  const zoneId = p.hostedZoneId ?? (await askRoute53(`finding the hosted zone of ${name}`, () => publicZoneOf(route53, name, ctx.signal)));
  if (!zoneId) throw new PermanentStepError(`Route 53 has no public hosted zone for ${name} or a parent domain; give the step's hostedZoneId (TestDNSAnswer answers for public zones only)`);
  const res = await askRoute53(`listing the ${p.type} records of ${name}`, () =>
    route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: name, StartRecordType: p.type, MaxItems: 20 }), { abortSignal: ctx.signal }),
  );
  const records = (res.ResourceRecordSets ?? []).filter((r) => fqdn(r.Name ?? '') === name && r.Type === p.type);
  const primary = records.find((r) => r.Failover === 'PRIMARY');
  const secondary = records.find((r) => r.Failover === 'SECONDARY');
  if (!primary || !secondary) {
    const missing = [!primary && 'PRIMARY', !secondary && 'SECONDARY'].filter(Boolean).join(' and ');
    throw new PermanentStepError(`${name} ${p.type} in hosted zone ${zoneId} has no ${missing} failover record, so traffic cannot fail over by DNS; create the failover pair as DR-PLAN.md, "Route53 Failover" writes it`);
  }
  if (primary.AliasTarget && secondary.AliasTarget) {
    throw new PermanentStepError(`${name} ${p.type}: both failover records are aliases, so Route 53's answer cannot be told to be one or the other; give one of them its values (ResourceRecords)`);
  }
  return { zoneId, name, primary, secondary };
}

/** Whether `answer` is the record of side `side`: its values, or (an alias) an answer that is not the other record's values. */
function answersWith(pair: Pair, side: Side, answer: readonly string[]): boolean {
  const [mine, other] = side === 'PRIMARY' ? [pair.primary, pair.secondary] : [pair.secondary, pair.primary];
  const got = [...new Set(answer.map(norm))].sort();
  if (!mine.AliasTarget) return got.join(' ') === [...new Set(valuesOf(mine))].sort().join(' ');
  const others = new Set(valuesOf(other));
  return got.length > 0 && got.every((v) => !others.has(v));
}

interface Look {
  answer: string[];
  answeredBy: Side | 'neither';
  /** Whether Route 53 takes the PRIMARY as healthy (a record without a health check is). */
  healthyPrimary: boolean;
  health: string;
}

async function look(ctx: TargetAccess & { signal: AbortSignal }, pair: Pair, type: VerifyParams['type']): Promise<Look> {
  const route53 = ctx.aws.route53();
  const checkId = pair.primary.HealthCheckId;
  const state = checkId ? await askRoute53(`reading health check ${checkId}`, () => healthCheckState(route53, checkId, ctx.signal)) : undefined;
  const res = await askRoute53(`asking Route 53 what it answers for ${pair.name} ${type}`, () =>
    route53.send(new TestDNSAnswerCommand({ HostedZoneId: pair.zoneId, RecordName: pair.name, RecordType: type }), { abortSignal: ctx.signal }),
  );
  const answer = res.RecordData ?? [];
  const answeredBy = answersWith(pair, 'PRIMARY', answer) ? 'PRIMARY' : answersWith(pair, 'SECONDARY', answer) ? 'SECONDARY' : 'neither';
  return { answer, answeredBy, healthyPrimary: state?.healthy ?? true, health: state ? `PRIMARY's health check ${state.healthy ? 'healthy' : 'unhealthy'} (${state.text})` : 'PRIMARY has no health check (Route 53 takes it as healthy)' };
}

/** Why Route 53 answers as it does, when that is not what the step awaits. */
function why(l: Look, want: Side): string {
  if (l.answeredBy === 'neither') return `the answer is neither record's values (${l.health})`;
  if (want === 'SECONDARY') {
    return l.healthyPrimary
      ? `${l.health}, so Route 53 keeps answering with the PRIMARY; traffic moves when it fails or the PRIMARY record is changed`
      : `${l.health}, yet Route 53 answers with the PRIMARY: the SECONDARY is likely unhealthy too (with both unhealthy, Route 53 answers with the PRIMARY)`;
  }
  return l.healthyPrimary ? `${l.health}; Route 53 has not yet turned back to it` : `${l.health}, so Route 53 answers with the SECONDARY`;
}

/** What an empty `record` leaves unchecked, said where everyone reads it. */
const NOT_VERIFIED = "traffic NOT verified: no dnsRecord given, so nothing checks that Route 53 answers with the DR region's record; give dnsRecord (the failover record's name) to verify it";

const answerText = (l: Look) => `${l.answer.join(', ') || 'nothing'} (${l.answeredBy === 'neither' ? 'neither record' : `the ${l.answeredBy}`})`;

/**
 * After a region failover: waits until Route 53 answers for the failover
 * record pair with the SECONDARY record (or, expect: primary, the PRIMARY),
 * asking TestDNSAnswer (what Route 53's own name servers answer, before any
 * resolver caches) and reading the PRIMARY's health check. Read-only.
 */
export function verifyFailoverStep() {
  return defineStep({
    id: 'dns.verify-failover',
    summary: 'Verify Route 53 answers with the SECONDARY (or PRIMARY) failover record',
    params,
    outputs: ['answer', 'healthyPrimary', 'movedAt', 'verified'],
    resumable: true,
    async plan(ctx, p) {
      if (p.record === '') return [{ action: 'check', resource: 'route53 traffic', detail: NOT_VERIFIED }];
      const pair = await pairOf(ctx, p);
      const want: Side = p.expect === 'secondary' ? 'SECONDARY' : 'PRIMARY';
      const now = await look(ctx, pair, p.type);
      return [
        {
          action: 'wait',
          resource: `route53 record ${pair.name} ${p.type} (zone ${pair.zoneId})`,
          detail:
            `waits until Route 53 (TestDNSAnswer) answers with the ${want} record (${recordText(want === 'SECONDARY' ? pair.secondary : pair.primary)}), reading the PRIMARY's health check; ` +
            `now it answers ${answerText(now)}, ${now.health}; changes nothing`,
        },
      ];
    },
    async run(ctx, p): Promise<StepOutputs> {
      if (p.record === '') {
        ctx.progress(NOT_VERIFIED);
        return { answer: '', healthyPrimary: false, movedAt: '', verified: false };
      }
      const pair = await pairOf(ctx, p);
      const want: Side = p.expect === 'secondary' ? 'SECONDARY' : 'PRIMARY';
      let last: Look | undefined;
      await pollUntil(ctx, {
        what: `Route 53 to answer ${pair.name} ${p.type} with the ${want}`,
        name: 'dns-answer',
        firstDelayMs: 1_000,
        maxDelayMs: 15_000,
        check: async () => {
          last = await look(ctx, pair, p.type);
          return last.answeredBy === want ? { done: true } : { done: false, state: `answering ${answerText(last)}` };
        },
        gaveUp: ({ waitedMs }) =>
          `Route 53 still answers ${pair.name} ${p.type} with ${last ? answerText(last) : 'nothing'} after ${formatDuration(waitedMs)}, not the ${want}: ${last ? why(last, want) : 'no answer read'}`,
      });
      if (!last) throw new Error('no answer was read');
      return { answer: last.answer.join(','), healthyPrimary: last.healthyPrimary, movedAt: new Date().toISOString(), verified: true };
    },
  });
}
