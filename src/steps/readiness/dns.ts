import { ListResourceRecordSetsCommand, type ResourceRecordSet } from '@aws-sdk/client-route-53';
import { z } from 'zod';
import type { TargetAccess } from '../../targets/targets.ts';
import { fqdn, healthCheckState, publicZoneOf } from '../dns/route53.ts';
import { fail, type ItemSpec, measured, pass, warn } from './items.ts';
import type { ItemResult } from './report.ts';

export const DnsChecksSchema = z.object({
  /** The failover record pair (DR-PLAN.md, "Route53 Failover"); an empty name checks nothing. */
  record: z.union([z.literal(''), z.string().regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$/i)]).default('api.example.com'),
  type: z.enum(['A', 'AAAA', 'CNAME']).default('A'),
  /** The hosted zone's id; found by the record's parent domains when left out. */
  hostedZoneId: z.string().regex(/^[A-Z0-9]{1,32}$/).optional(),
});
export type DnsChecks = z.infer<typeof DnsChecksSchema>;

/** The PRIMARY (with a health check) and SECONDARY records exist, and their health checks are healthy. */
export async function dnsItems(aws: TargetAccess['aws'], checks: DnsChecks, timeoutMs: number): Promise<ItemResult[]> {
  if (!checks.record) return [];
  const name = fqdn(checks.record);
  const pair: ItemSpec = { id: `dns.failover-pair.${name}`, area: 'dns', title: `Failover records for ${name}`, objective: 'PRIMARY with a health check, and SECONDARY' };
  const health: ItemSpec = { id: `dns.health.${name}`, area: 'dns', title: `Health checks of ${name} healthy`, objective: 'healthy (more than 18% of checkers)' };
  return measured([pair, health], timeoutMs, async (signal) => {
    const route53 = aws.route53();
    const zoneId = checks.hostedZoneId ?? (await publicZoneOf(route53, name, signal));
    if (!zoneId) return [fail(pair, 'no hosted zone', `Route 53 has no hosted zone for ${name} or a parent domain.`, 'Name the zone (dns.hostedZoneId) or the record (dns.record).')];
    const res = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: name, StartRecordType: checks.type, MaxItems: 20 }), { abortSignal: signal });
    const records = (res.ResourceRecordSets ?? []).filter((r) => fqdn(r.Name ?? '') === name && r.Type === checks.type);
    const primary = records.find((r) => r.Failover === 'PRIMARY');
    const secondary = records.find((r) => r.Failover === 'SECONDARY');
    const found = records.map((r) => `${r.Failover ?? 'simple'}${r.HealthCheckId ? ' (health check)' : ''}`).join(', ') || 'none';
    const items: ItemResult[] = [];
    if (!primary || !secondary || !primary.HealthCheckId) {
      const missing = [!primary && 'PRIMARY', !secondary && 'SECONDARY', primary && !primary.HealthCheckId && "PRIMARY's health check"].filter(Boolean).join(' and ');
      items.push(fail(pair, found, `${name} ${checks.type} lacks ${missing}: traffic would not move to the DR region by itself.`, 'Create the failover pair as DR-PLAN.md, "Route53 Failover" writes it.'));
    } else items.push(pass(pair, found, 'Traffic fails over when the primary is unhealthy.'));
    items.push(await healthItem(aws, health, records, signal));
    return items;
  });
}

async function healthItem(aws: TargetAccess['aws'], spec: ItemSpec, records: readonly ResourceRecordSet[], signal: AbortSignal): Promise<ItemResult> {
  const ids = [...new Set(records.map((r) => r.HealthCheckId).filter((id): id is string => Boolean(id)))];
  if (ids.length === 0) return warn(spec, 'no health check', 'The records have no health check to read.', "Attach a health check to the PRIMARY record.");
  const states = await Promise.all(ids.map((id) => healthCheckState(aws.route53(), id, signal)));
  const value = states.map((s) => s.text).join('; ');
  const unhealthy = states.filter((s) => !s.healthy);
  if (unhealthy.length) {
    return fail(spec, value, `Unhealthy: ${unhealthy.map((s) => s.id).join(', ')}. Route 53 answers with the SECONDARY record now, or would have nothing healthy to move to.`, 'Look at the health check\'s endpoint and its last failure reason (aws route53 get-health-check-last-failure-reason).');
  }
  return pass(spec, value, 'Healthy.');
}
