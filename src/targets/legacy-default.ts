/**
 * Whether today's single-target settings make the target `default`. Shared by
 * the config's check of DR_DEFAULT_TARGET (config/schema.ts) and the making of
 * targets (from-config.ts); it reads only these settings, so neither of them
 * needs the other.
 */
export interface LegacyTargetSettings {
  aws: {
    region?: string | undefined;
    endpointUrl?: string | undefined;
    rdsEndpointUrl?: string | undefined;
    eksEndpointUrl?: string | undefined;
    stsEndpointUrl?: string | undefined;
    rdsEndpointUrls?: Readonly<Record<string, string>> | undefined;
  };
  kubernetes: { eksCluster?: string | undefined; kubeconfig?: string | undefined };
  targets: Readonly<Record<string, unknown>>;
}

/**
 * Always when no targets are configured (a fresh or single-target install),
 * else only when one of the single-target settings is set, so a configured
 * install lists no target nobody described.
 */
export function hasLegacyDefault({ aws, kubernetes, targets }: LegacyTargetSettings): boolean {
  if (Object.hasOwn(targets, 'default')) return false;
  if (Object.keys(targets).length === 0) return true;
  return [aws.region, aws.endpointUrl, aws.rdsEndpointUrl, aws.eksEndpointUrl, aws.stsEndpointUrl, kubernetes.eksCluster, kubernetes.kubeconfig].some((v) => v !== undefined) || Object.keys(aws.rdsEndpointUrls ?? {}).length > 0;
}
