import { GetHealthCheckStatusCommand, ListHostedZonesByNameCommand, type Route53Client } from '@aws-sdk/client-route-53';

/** A DNS name as Route 53 writes it: lowercase, with its trailing dot. */
export const fqdn = (name: string) => (name.endsWith('.') ? name : `${name}.`).toLowerCase();

/** The public hosted zone holding `name` (its nearest parent domain with one), without the `/hostedzone/` prefix. */
export async function publicZoneOf(route53: Route53Client, name: string, signal: AbortSignal): Promise<string | undefined> {
  const labels = fqdn(name).split('.').filter(Boolean);
  for (let i = 1; labels.length - i >= 2; i++) {
    const domain = `${labels.slice(i).join('.')}.`;
    const res = await route53.send(new ListHostedZonesByNameCommand({ DNSName: domain, MaxItems: 1 }), { abortSignal: signal });
    const zone = res.HostedZones?.find((z) => fqdn(z.Name ?? '') === domain && z.Config?.PrivateZone !== true);
    if (zone?.Id) return zone.Id.replace(/^\/hostedzone\//, '');
  }
  return undefined;
}

/**
 * Route 53 considers an endpoint healthy when more than 18% of its checkers
 * report it healthy (Route 53 Developer Guide, "How Amazon Route 53 determines
 * whether a health check is healthy"); a checker's report starts with "Success".
 */
const HEALTHY_SHARE = 0.18;

export interface HealthCheckState {
  id: string;
  healthy: boolean;
  /** `abc-123: 8 of 8 checkers healthy`. */
  text: string;
}

/** What Route 53's checkers say of health check `id` now (GetHealthCheckStatus), judged as Route 53 judges it. */
export async function healthCheckState(route53: Route53Client, id: string, signal: AbortSignal): Promise<HealthCheckState> {
  const observations = (await route53.send(new GetHealthCheckStatusCommand({ HealthCheckId: id }), { abortSignal: signal })).HealthCheckObservations ?? [];
  const healthy = observations.filter((o) => (o.StatusReport?.Status ?? '').startsWith('Success')).length;
  return { id, healthy: observations.length > 0 && healthy / observations.length > HEALTHY_SHARE, text: `${id}: ${healthy} of ${observations.length} checkers healthy` };
}
