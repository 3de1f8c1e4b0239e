/**
 * What the fake Route 53 (fake-route53.ts) knows of DNS: hosted zones with
 * their records in Route 53's listing order, health checks with the
 * observations of Route 53's checkers, and which record a query gets under a
 * failover policy given that health.
 */

/** Route 53's eight default health checker regions. */
export const CHECKER_REGIONS = ['us-east-1', 'us-west-1', 'us-west-2', 'eu-west-1', 'ap-southeast-1', 'ap-southeast-2', 'ap-northeast-1', 'sa-east-1'] as const;

export interface Route53Record {
  /** With or without the trailing dot; stored with it. */
  Name: string;
  Type: 'SOA' | 'A' | 'TXT' | 'NS' | 'CNAME' | 'MX' | 'NAPTR' | 'PTR' | 'SRV' | 'SPF' | 'AAAA' | 'CAA' | 'DS';
  SetIdentifier?: string;
  Failover?: 'PRIMARY' | 'SECONDARY';
  Weight?: number;
  Region?: string;
  TTL?: number;
  ResourceRecords?: string[];
  AliasTarget?: { HostedZoneId: string; DNSName: string; EvaluateTargetHealth: boolean };
  HealthCheckId?: string;
}

export interface HostedZone {
  id: string;
  name: string;
  privateZone: boolean;
  callerReference: string;
  records: Route53Record[];
}

export interface HealthCheckConfig {
  Type: 'HTTP' | 'HTTPS' | 'HTTP_STR_MATCH' | 'HTTPS_STR_MATCH' | 'TCP' | 'CALCULATED' | 'CLOUDWATCH_METRIC' | 'RECOVERY_CONTROL';
  FullyQualifiedDomainName?: string;
  IPAddress?: string;
  Port?: number;
  ResourcePath?: string;
  RequestInterval?: number;
  FailureThreshold?: number;
  Inverted?: boolean;
  Disabled?: boolean;
  EnableSNI?: boolean;
  /** CALCULATED: the children and how many must be healthy. */
  ChildHealthChecks?: string[];
  HealthThreshold?: number;
  /** The checker regions (at least 3); Route 53's eight when absent. */
  Regions?: string[];
}

export interface HealthCheck {
  id: string;
  callerReference: string;
  config: HealthCheckConfig;
  version: number;
  /** What each checker region last saw: healthy or not, and the status text it reports. */
  observations: Map<string, { healthy: boolean; status: string; checkedAt: Date }>;
}

/** A DNS name as Route 53 stores it: lower case, with the trailing dot. */
export function fqdn(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower : `${lower}.`;
}

/** Route 53's listing key: the name with its labels reversed (`com.example.www.`), then type, then set identifier. */
export function listingKey(name: string, type = '', identifier = ''): string {
  const labels = fqdn(name).slice(0, -1).split('.').reverse().join('.');
  return `${labels}.\u0000${type}\u0000${identifier}`;
}

export function compareRecords(a: Route53Record, b: Route53Record): number {
  const ka = listingKey(a.Name, a.Type, a.SetIdentifier);
  const kb = listingKey(b.Name, b.Type, b.SetIdentifier);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The records Route 53 puts in every new public zone: NS and SOA at the apex. */
export function apexRecords(zone: string, nameServers: string[]): Route53Record[] {
  return [
    { Name: zone, Type: 'NS', TTL: 172_800, ResourceRecords: nameServers.map((n) => `${n}.`) },
    { Name: zone, Type: 'SOA', TTL: 900, ResourceRecords: [`${nameServers[0] ?? ''}. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400`] },
  ];
}

export function healthyObservation(healthy: boolean, at = new Date()): { healthy: boolean; status: string; checkedAt: Date } {
  return { healthy, status: healthy ? 'Success: HTTP Status Code 200, OK' : 'Failure: HTTP Status Code 503, Service Unavailable', checkedAt: at };
}

export function checkerRegions(check: HealthCheck): readonly string[] {
  return check.config.Regions?.length ? check.config.Regions : CHECKER_REGIONS;
}

/**
 * Whether Route 53 takes a health check as healthy: disabled checks are;
 * an endpoint check is when more than 18% of its checkers see it healthy
 * (then inverted if asked); a calculated one when at least HealthThreshold
 * of its children are.
 */
export function isHealthy(check: HealthCheck | undefined, all: ReadonlyMap<string, HealthCheck>, depth = 0): boolean {
  if (!check || check.config.Disabled) return true;
  let healthy: boolean;
  if (check.config.Type === 'CALCULATED') {
    const children = check.config.ChildHealthChecks ?? [];
    const up = depth > 4 ? 0 : children.filter((c) => isHealthy(all.get(c), all, depth + 1)).length;
    healthy = up >= (check.config.HealthThreshold ?? children.length);
  } else {
    const regions = checkerRegions(check);
    const up = regions.filter((r) => check.observations.get(r)?.healthy ?? true).length;
    healthy = up / regions.length > 0.18;
  }
  return check.config.Inverted ? !healthy : healthy;
}

/**
 * The records a resolver gets for `name`/`type`: a failover pair answers with
 * the primary while it is healthy, else the secondary if healthy, else the
 * primary (Route 53 answers as if all were healthy when none is); records of
 * another routing policy answer with their first healthy one; a simple record
 * answers itself.
 */
export function answerRecord(candidates: Route53Record[], healthy: (r: Route53Record) => boolean): Route53Record | undefined {
  const primary = candidates.find((r) => r.Failover === 'PRIMARY');
  const secondary = candidates.find((r) => r.Failover === 'SECONDARY');
  if (primary || secondary) {
    if (primary && healthy(primary)) return primary;
    if (secondary && healthy(secondary)) return secondary;
    return primary ?? secondary;
  }
  return candidates.find(healthy) ?? candidates[0];
}
