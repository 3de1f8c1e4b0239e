import type { Config } from '../config/schema.ts';
import { hasLegacyDefault } from './legacy-default.ts';
import { type ResolvedTarget, Targets, type TargetsOptions } from './targets.ts';

/** The settings targets are made from. */
export interface TargetSettings {
  aws: Config['aws'];
  kubernetes: Pick<Config['kubernetes'], 'kubeconfig' | 'eksCluster' | 'veleroNamespace'>;
  targets: Config['targets'];
  defaultTarget: string;
}

/**
 * The configured targets. Today's single-target settings (AWS_REGION, the
 * AWS_ENDPOINT_URL_* overrides, EKS_CLUSTER_NAME or KUBECONFIG,
 * VELERO_NAMESPACE) make the target `default`, so existing installs keep
 * working; a target named `default` in `targets` replaces it.
 */
export function targetsFromConfig(config: TargetSettings, options: TargetsOptions = {}): Targets {
  const specs = new Map<string, ResolvedTarget>();
  if (hasLegacyDefault(config)) specs.set('default', legacyDefault(config));
  for (const [name, spec] of Object.entries(config.targets)) specs.set(name, spec);
  return new Targets(specs, config.defaultTarget, options);
}

function legacyDefault({ aws, kubernetes }: Pick<TargetSettings, 'aws' | 'kubernetes'>): ResolvedTarget {
  return {
    region: aws.region,
    endpoints: { rds: aws.rdsEndpointUrl, eks: aws.eksEndpointUrl, sts: aws.stsEndpointUrl, default: aws.endpointUrl },
    rdsEndpoints: aws.rdsEndpointUrls ?? {},
    // Neither set: KUBECONFIG, ~/.kube/config, or the in-cluster service account, as kubectl finds them.
    kubernetes: kubernetes.eksCluster ? { eksCluster: kubernetes.eksCluster } : kubernetes.kubeconfig ? { kubeconfig: kubernetes.kubeconfig } : { fromEnvironment: true },
    veleroNamespace: kubernetes.veleroNamespace,
  };
}
