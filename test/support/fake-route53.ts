/**
 * A loopback Amazon Route 53 (REST/XML under `/2013-04-01/`, signed for
 * us-east-1) for what the readiness checklist reads: ListHostedZonesByName,
 * ListResourceRecordSets, GetHealthCheck, GetHealthCheckStatus and
 * TestDNSAnswer (API-FACTS 8.4).
 *
 * Zones hold their records in Route 53's order (name with labels reversed,
 * type, set identifier), NS and SOA at the apex as Route 53 creates them;
 * lists page by `maxitems` (at most 300 records, 100 zones) with
 * Next{RecordName,RecordType,RecordIdentifier}. Health checks are observed by
 * eight checker regions, each healthy or not as the test sets it; TestDNSAnswer
 * answers with the record the failover policy picks given that health.
 *
 * As strict as Route 53: the model (aws-models/rest-json.ts, InvalidInput),
 * `type` without `name` refused, NoSuchHostedZone and NoSuchHealthCheck, the
 * request signed for us-east-1 with the `route53` scope, and the documented
 * throttling: one bucket for the account and one per operation, 50 calls
 * refilling at 10 per second, answered 400 Throttling. Errors in Route 53's
 * `<ErrorResponse>` XML.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkRestJsonRequest } from './aws-models/rest-json.ts';
import { recordModelRefusal } from './aws-models/refusals.ts';
import { failureAnswer, type AwsFailure, FailureQueue, type RateLimit, TokenBuckets } from './aws-faults.ts';
import { checkSigV4, signingOptions, sigV4ErrorOf } from './aws-sigv4.ts';
import type { FakeSts } from './fake-sts.ts';
import { LoopbackFake, readBody } from './loopback.ts';
import {
  answerRecord,
  apexRecords,
  checkerRegions,
  compareRecords,
  fqdn,
  type HealthCheck,
  type HealthCheckConfig,
  healthyObservation,
  type HostedZone,
  isHealthy,
  listingKey,
  type Route53Record,
} from './route53-zone.ts';

export type { HealthCheckConfig, Route53Record } from './route53-zone.ts';

export interface Route53Call {
  operation: string;
  method: string;
  path: string;
  query: Record<string, string>;
  accessKeyId?: string | undefined;
  /** The region the request was signed for (Route 53 wants us-east-1). */
  region?: string | undefined;
  error?: string | undefined;
}

class Route53Error extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const NAMESPACE = 'https://route53.amazonaws.com/doc/2013-04-01/';
const NAME_SERVERS = ['ns-1.awsdns-01.org', 'ns-2.awsdns-02.co.uk', 'ns-3.awsdns-03.com', 'ns-4.awsdns-04.net'];

export class FakeRoute53 extends LoopbackFake {
  readonly calls: Route53Call[] = [];
  readonly modelRefusals: (Route53Call & { code: string; message: string })[] = [];
  readonly knownSecrets = new Map<string, string>();
  /** Route 53's documented limits (account-wide and per operation); undefined turns throttling off. */
  rateLimit: { account: RateLimit; perOperation: RateLimit } | undefined = { account: { burst: 50, perSecond: 10 }, perOperation: { burst: 50, perSecond: 10 } };
  private readonly zones = new Map<string, HostedZone>();
  private readonly healthChecks = new Map<string, HealthCheck>();
  /** Alias targets outside the fake's zones (a load balancer): their health and addresses. */
  private readonly aliasTargets = new Map<string, { healthy: boolean; values: string[] }>();
  private readonly failures = new FailureQueue();
  private readonly buckets = new TokenBuckets();
  private sessionIssuer: FakeSts | undefined;

  trustSessionsFrom(sts: FakeSts): this {
    this.sessionIssuer = sts;
    return this;
  }

  /** The next `times` calls of `operation` fail (`{status, code, message?}`) or are answered after `{delayMs}`. */
  failNext(operation: string, failure: AwsFailure, times = 1): void {
    this.failures.add(operation, failure, times);
  }

  callsTo(operation: string): Route53Call[] {
    return this.calls.filter((c) => c.operation === operation);
  }

  /** A hosted zone (with its apex NS and SOA records); returns its id (`Z…`, without `/hostedzone/`). */
  addHostedZone(name: string, options: { privateZone?: boolean; id?: string } = {}): string {
    const id = options.id ?? `Z${randomBytes(10).toString('hex').toUpperCase().slice(0, 19)}`;
    this.zones.set(id, { id, name: fqdn(name), privateZone: options.privateZone ?? false, callerReference: randomUUID(), records: apexRecords(fqdn(name), NAME_SERVERS) });
    return id;
  }

  addRecord(zoneId: string, record: Route53Record): this {
    const zone = this.zone(zoneId);
    zone.records.push({ ...record, Name: fqdn(record.Name) });
    zone.records.sort(compareRecords);
    return this;
  }

  removeRecord(zoneId: string, name: string, type: Route53Record['Type'], setIdentifier?: string): void {
    const zone = this.zone(zoneId);
    zone.records = zone.records.filter((r) => !(r.Name === fqdn(name) && r.Type === type && r.SetIdentifier === setIdentifier));
  }

  /** A health check, healthy in every checker region; returns its id. */
  addHealthCheck(config: HealthCheckConfig, id: string = randomUUID()): string {
    const check: HealthCheck = { id, callerReference: randomUUID(), config, version: 1, observations: new Map() };
    for (const region of checkerRegions(check)) check.observations.set(region, healthyObservation(true));
    this.healthChecks.set(id, check);
    return id;
  }

  /** What the checkers see: healthy or not everywhere, or per checker region (the others keep theirs). */
  setHealth(id: string, healthy: boolean | Record<string, boolean>): void {
    const check = this.healthChecks.get(id);
    if (!check) throw new Error(`no health check ${id} in the fake Route 53`);
    const regions = typeof healthy === 'boolean' ? Object.fromEntries(checkerRegions(check).map((r) => [r, healthy])) : healthy;
    for (const [region, up] of Object.entries(regions)) check.observations.set(region, healthyObservation(up));
  }

  /** An alias target outside the fake's zones (e.g. a load balancer's DNS name): its health (EvaluateTargetHealth) and addresses. */
  setAliasTarget(dnsName: string, target: { healthy?: boolean; values?: string[] }): void {
    this.aliasTargets.set(fqdn(dnsName), { healthy: target.healthy ?? true, values: target.values ?? [] });
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const checked = checkRestJsonRequest('route53', method, url.pathname, url.searchParams, undefined, 'InvalidInput');
    const operation = checked.operation ?? '';
    const call: Route53Call = { operation, method, path: url.pathname, query: Object.fromEntries(url.searchParams) };
    this.calls.push(call);
    try {
      const { signer, problem: signing } = checkSigV4(req, raw, signingOptions('route53', this.sessionIssuer, this.knownSecrets));
      call.accessKeyId = signer?.accessKeyId;
      call.region = signer?.region;
      if (signing || !signer) {
        const { status, code } = sigV4ErrorOf(signing?.kind ?? 'missing', 'query');
        throw new Route53Error(status, code, signing?.message ?? 'Missing Authentication Token');
      }
      // Route 53 is global, served from us-east-1: a credential scoped to another region is refused.
      if (signer.region !== 'us-east-1') throw new Route53Error(403, 'SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${signer.region}'. `);
      if (!checked.operation) throw new Route53Error(404, 'UnknownOperationException', checked.problem?.message ?? 'Unknown operation');
      const injected = await failureAnswer(this.failures.take(operation));
      if (injected) throw new Route53Error(injected.status, injected.code, injected.message ?? `injected ${injected.code}`);
      if (this.rateLimit && !(this.buckets.take(['account'], this.rateLimit.account) && this.buckets.take([operation], this.rateLimit.perOperation))) {
        throw new Route53Error(400, 'Throttling', 'Rate exceeded');
      }
      const problem = checked.problem ?? documentedProblem(operation, url.searchParams);
      if (problem) {
        this.modelRefusals.push({ ...call, ...problem });
        recordModelRefusal({ service: 'route53', operation, ...problem });
        throw new Route53Error(400, problem.code, problem.message.startsWith('Value ') ? `1 validation error detected: ${problem.message}` : problem.message);
      }
      const body = this.answer(operation, url.pathname, url.searchParams);
      res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() }).end(`<?xml version="1.0"?>\n<${operation}Response xmlns="${NAMESPACE}">${body}</${operation}Response>`);
    } catch (err) {
      const e = err instanceof Route53Error ? err : new Route53Error(500, 'InternalFailure', String(err));
      call.error = e.code;
      res
        .writeHead(e.status, { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() })
        .end(`<?xml version="1.0"?>\n<ErrorResponse xmlns="${NAMESPACE}"><Error><Type>Sender</Type><Code>${e.code}</Code><Message>${esc(e.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`);
    }
  }

  private answer(operation: string, path: string, q: URLSearchParams): string {
    const label = decodeURIComponent(path.split('/')[3] ?? '');
    switch (operation) {
      case 'ListHostedZonesByName':
        return this.listZones(q);
      case 'ListResourceRecordSets':
        return this.listRecords(this.zone(label), q);
      case 'GetHealthCheck':
        return healthCheckXml(this.healthCheck(label));
      case 'GetHealthCheckStatus': {
        const check = this.healthCheck(label);
        if (check.config.Type === 'CALCULATED') throw new Route53Error(400, 'InvalidInput', 'GetHealthCheckStatus does not support calculated health checks.');
        const observations = checkerRegions(check).map((region, i) => {
          const o = check.observations.get(region) ?? healthyObservation(true);
          return `<HealthCheckObservation><Region>${region}</Region><IPAddress>15.177.${String(i * 8)}.${String(10 + i)}</IPAddress><StatusReport><Status>${esc(o.status)}</Status><CheckedTime>${o.checkedAt.toISOString()}</CheckedTime></StatusReport></HealthCheckObservation>`;
        });
        return `<HealthCheckObservations>${observations.join('')}</HealthCheckObservations>`;
      }
      case 'TestDNSAnswer':
        return this.testDnsAnswer(q);
      default:
        throw new Route53Error(400, 'InvalidAction', `The fake Route 53 does not implement ${operation}.`);
    }
  }

  private listZones(q: URLSearchParams): string {
    const max = Math.min(pageSize(q.get('maxitems'), 100), 100);
    const dnsName = q.get('dnsname');
    const startId = q.get('hostedzoneid');
    const all = [...this.zones.values()].sort((a, b) => cmp(listingKey(a.name, a.id), listingKey(b.name, b.id)));
    const from = dnsName === null ? 0 : all.findIndex((z) => listingKey(z.name, startId === null ? '' : z.id) >= listingKey(dnsName, startId ?? ''));
    const rest = from < 0 ? [] : all.slice(from);
    const page = rest.slice(0, max);
    const next = rest[max];
    return (
      `<HostedZones>${page.map((z) => `<HostedZone><Id>/hostedzone/${z.id}</Id><Name>${esc(z.name)}</Name><CallerReference>${z.callerReference}</CallerReference><Config><PrivateZone>${String(z.privateZone)}</PrivateZone></Config><ResourceRecordSetCount>${String(z.records.length)}</ResourceRecordSetCount></HostedZone>`).join('')}</HostedZones>` +
      (dnsName !== null ? `<DNSName>${esc(dnsName)}</DNSName>` : '') +
      (startId !== null ? `<HostedZoneId>${esc(startId)}</HostedZoneId>` : '') +
      `<IsTruncated>${String(next !== undefined)}</IsTruncated>` +
      (next ? `<NextDNSName>${esc(next.name)}</NextDNSName><NextHostedZoneId>${next.id}</NextHostedZoneId>` : '') +
      `<MaxItems>${String(max)}</MaxItems>`
    );
  }

  private listRecords(zone: HostedZone, q: URLSearchParams): string {
    const max = Math.min(pageSize(q.get('maxitems'), 300), 300);
    const name = q.get('name');
    const start = name === null ? '' : listingKey(name, q.get('type') ?? '', q.get('identifier') ?? '');
    const rest = zone.records.filter((r) => listingKey(r.Name, r.Type, r.SetIdentifier) >= start);
    const page = rest.slice(0, max);
    const next = rest[max];
    return (
      `<ResourceRecordSets>${page.map(recordXml).join('')}</ResourceRecordSets><IsTruncated>${String(next !== undefined)}</IsTruncated>` +
      (next ? `<NextRecordName>${esc(next.Name)}</NextRecordName><NextRecordType>${next.Type}</NextRecordType>${next.SetIdentifier !== undefined ? `<NextRecordIdentifier>${esc(next.SetIdentifier)}</NextRecordIdentifier>` : ''}` : '') +
      `<MaxItems>${String(max)}</MaxItems>`
    );
  }

  private testDnsAnswer(q: URLSearchParams): string {
    const zone = this.zone(q.get('hostedzoneid') ?? '');
    if (zone.privateZone) throw new Route53Error(400, 'InvalidInput', 'TestDNSAnswer answers for public hosted zones only.');
    const recordName = q.get('recordname') ?? '';
    const type = q.get('recordtype') ?? '';
    const name = fqdn(recordName);
    if (name !== zone.name && !name.endsWith(`.${zone.name}`)) throw new Route53Error(400, 'InvalidInput', `The record name ${recordName} is not in the hosted zone ${zone.name}`);
    const named = zone.records.filter((r) => r.Name === name);
    const chosen = answerRecord(named.filter((r) => r.Type === type), (r) => this.recordHealthy(r));
    const data = chosen ? this.valuesOf(chosen, 0) : [];
    return (
      `<Nameserver>${NAME_SERVERS[0] ?? ''}</Nameserver><RecordName>${esc(recordName)}</RecordName><RecordType>${esc(type)}</RecordType>` +
      `<RecordData>${data.map((d) => `<RecordDataEntry>${esc(d)}</RecordDataEntry>`).join('')}</RecordData>` +
      `<ResponseCode>${named.length ? 'NOERROR' : 'NXDOMAIN'}</ResponseCode><Protocol>UDP</Protocol>`
    );
  }

  /** A record is healthy when its health check is and, evaluating its alias target's health, the target is. */
  private recordHealthy(r: Route53Record): boolean {
    if (r.HealthCheckId !== undefined && !isHealthy(this.healthChecks.get(r.HealthCheckId), this.healthChecks)) return false;
    if (!r.AliasTarget?.EvaluateTargetHealth) return true;
    const inZone = this.aliasInZone(r);
    if (inZone) return inZone.length > 0 && inZone.some((t) => this.recordHealthy(t));
    return this.aliasTargets.get(fqdn(r.AliasTarget.DNSName))?.healthy ?? true;
  }

  /** The records an alias points at when it names a record of one of the fake's zones. */
  private aliasInZone(r: Route53Record): Route53Record[] | undefined {
    const target = r.AliasTarget;
    const zone = target ? this.zones.get(target.HostedZoneId) : undefined;
    return zone && target ? zone.records.filter((t) => t.Name === fqdn(target.DNSName) && t.Type === r.Type) : undefined;
  }

  private valuesOf(r: Route53Record, depth: number): string[] {
    if (!r.AliasTarget) return r.ResourceRecords ?? [];
    const inZone = this.aliasInZone(r);
    if (inZone && depth < 5) {
      const chosen = answerRecord(inZone, (t) => this.recordHealthy(t));
      return chosen ? this.valuesOf(chosen, depth + 1) : [];
    }
    return this.aliasTargets.get(fqdn(r.AliasTarget.DNSName))?.values ?? [];
  }

  private zone(id: string): HostedZone {
    const zone = this.zones.get(id);
    if (!zone) throw new Route53Error(404, 'NoSuchHostedZone', `No hosted zone found with ID: ${id}`);
    return zone;
  }

  private healthCheck(id: string): HealthCheck {
    const check = this.healthChecks.get(id);
    if (!check) throw new Route53Error(404, 'NoSuchHealthCheck', `A health check with id ${id} does not exist.`);
    return check;
  }
}

/** What Route 53 documents beyond its model: a start type needs a start name, an identifier a type; maxitems is a number. */
function documentedProblem(operation: string, q: URLSearchParams): { code: string; message: string } | undefined {
  const maxItems = q.get('maxitems');
  if (maxItems !== null && !/^\d+$/.test(maxItems)) return { code: 'InvalidInput', message: `Invalid value for maxitems: ${maxItems}` };
  if (operation === 'ListResourceRecordSets') {
    if (q.has('type') && !q.has('name')) return { code: 'InvalidInput', message: 'The input is not valid: a start record type requires a start record name' };
    if (q.has('identifier') && !q.has('type')) return { code: 'InvalidInput', message: 'The input is not valid: a start record identifier requires a start record type' };
  }
  if (operation === 'ListHostedZonesByName' && q.has('hostedzoneid') && !q.has('dnsname')) {
    return { code: 'InvalidInput', message: 'The input is not valid: hostedzoneid requires dnsname' };
  }
  return undefined;
}

function pageSize(raw: string | null, fallback: number): number {
  return raw === null ? fallback : Math.max(1, Number(raw));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function recordXml(r: Route53Record): string {
  const el = (tag: string, v: string | number | boolean | undefined) => (v === undefined ? '' : `<${tag}>${esc(String(v))}</${tag}>`);
  return (
    `<ResourceRecordSet>${el('Name', r.Name)}${el('Type', r.Type)}${el('SetIdentifier', r.SetIdentifier)}${el('Weight', r.Weight)}${el('Region', r.Region)}${el('Failover', r.Failover)}${el('TTL', r.TTL)}` +
    (r.ResourceRecords ? `<ResourceRecords>${r.ResourceRecords.map((v) => `<ResourceRecord>${el('Value', v)}</ResourceRecord>`).join('')}</ResourceRecords>` : '') +
    (r.AliasTarget ? `<AliasTarget>${el('HostedZoneId', r.AliasTarget.HostedZoneId)}${el('DNSName', fqdn(r.AliasTarget.DNSName))}${el('EvaluateTargetHealth', r.AliasTarget.EvaluateTargetHealth)}</AliasTarget>` : '') +
    `${el('HealthCheckId', r.HealthCheckId)}</ResourceRecordSet>`
  );
}

function healthCheckXml(check: HealthCheck): string {
  const c = check.config;
  const el = (tag: string, v: string | number | boolean | undefined) => (v === undefined ? '' : `<${tag}>${esc(String(v))}</${tag}>`);
  const endpoint = c.Type !== 'CALCULATED' && c.Type !== 'CLOUDWATCH_METRIC' && c.Type !== 'RECOVERY_CONTROL';
  return (
    `<HealthCheck>${el('Id', check.id)}${el('CallerReference', check.callerReference)}<HealthCheckConfig>` +
    `${el('IPAddress', c.IPAddress)}${el('Port', c.Port ?? (endpoint ? (c.Type.startsWith('HTTPS') ? 443 : 80) : undefined))}${el('Type', c.Type)}${el('ResourcePath', c.ResourcePath)}${el('FullyQualifiedDomainName', c.FullyQualifiedDomainName)}` +
    (endpoint ? `${el('RequestInterval', c.RequestInterval ?? 30)}${el('FailureThreshold', c.FailureThreshold ?? 3)}<MeasureLatency>false</MeasureLatency>` : '') +
    `${el('Inverted', c.Inverted ?? false)}${el('Disabled', c.Disabled ?? false)}${el('HealthThreshold', c.HealthThreshold)}` +
    (c.ChildHealthChecks ? `<ChildHealthChecks>${c.ChildHealthChecks.map((id) => el('ChildHealthCheck', id)).join('')}</ChildHealthChecks>` : '') +
    (c.Type.startsWith('HTTPS') ? el('EnableSNI', c.EnableSNI ?? true) : '') +
    (c.Regions ? `<Regions>${c.Regions.map((r) => el('Region', r)).join('')}</Regions>` : '') +
    `</HealthCheckConfig>${el('HealthCheckVersion', check.version)}</HealthCheck>`
  );
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
