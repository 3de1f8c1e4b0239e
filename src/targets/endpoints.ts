import { UserError } from '../errors.ts';
import type { ResolvedTarget } from './resolved.ts';

/** The AWS services a target's clients call: those it may give an endpoint of their own. */
export type AwsService = Exclude<keyof ResolvedTarget['endpoints'], 'default'>;

/**
 * Where a target's calls to `service` in `region` go: a URL, or undefined for
 * AWS's own endpoint of that region (the SDK's).
 *
 * A target's overrides (`endpoints.<service>`, `endpoints.default`; for the
 * target `default`, AWS_ENDPOINT_URL_<SERVICE> and AWS_ENDPOINT_URL) are
 * endpoints of the target's own region: a VPC endpoint or a proxy serves one
 * region, and a request signed for another region sent there is refused or,
 * worse, answered by the wrong region. A call in another region (a failover's
 * DR region) uses that region's entry in `rdsEndpoints`; with no override for
 * the service at all it uses AWS's own endpoint there; otherwise it is refused
 * (NoEndpointError), since no configured endpoint can be right for it.
 */
export function endpointFor(target: string, spec: ResolvedTarget, service: AwsService, region: string | undefined): string | undefined {
  const perRegion = service === 'rds' && region ? spec.rdsEndpoints[region] : undefined;
  if (perRegion) return perRegion;
  const override = spec.endpoints[service] ?? spec.endpoints.default;
  if (!override || region === undefined || region === spec.region) return override;
  throw new NoEndpointError(target, spec, service, region);
}

/**
 * A call in a region no configured endpoint serves: refused before anything
 * is sent (in the plan, so before any approval). Permanent: retrying cannot
 * change the configuration.
 */
export class NoEndpointError extends UserError {
  readonly permanent = true;

  constructor(target: string, spec: ResolvedTarget, service: AwsService, region: string) {
    const name = service.toUpperCase();
    const setting = spec.endpoints[service] ? `endpoints.${service} (AWS_ENDPOINT_URL_${name} for the target \`default\`)` : 'endpoints.default (AWS_ENDPOINT_URL for the target `default`)';
    const regionOf = spec.region ? `its region ${spec.region}` : 'its own region (it names none: set AWS_REGION or region)';
    const fix =
      service === 'rds'
        ? `Give ${region} its own: rdsEndpoints (AWS_ENDPOINT_URLS_RDS) ${region}=<url>; for an emulator that serves every region, its URL again; for AWS itself, https://rds.${region}.amazonaws.com.`
        : `A target is one region: act on a target whose region is ${region}.`;
    super(`${name} in ${region} has no endpoint: target \`${target}\` overrides ${name}'s endpoint with ${setting}, which serves ${regionOf} only, and nothing is configured for ${region}. ${fix}`);
  }
}
