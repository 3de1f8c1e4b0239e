import type { TargetSpec, VeleroBackupStorage } from './config.ts';

/** Where a step acts, as its plan shows it and its approval covers it. */
export interface TargetView {
  name: string;
  /** The target's label, or its name when it has none. */
  label: string;
  /** Undefined only for a default target with no AWS_REGION (the SDK's own chain decides). */
  region?: string | undefined;
  account?: string | undefined;
  /** How the cluster is reached, e.g. `EKS eks-dr`; undefined when the target has no cluster. */
  cluster?: string | undefined;
  /** The EKS cluster by name, when the cluster is reached through EKS. */
  eksCluster?: string | undefined;
  veleroNamespace: string;
  /** Where the target's Velero keeps its backups, when configured (read by plans before the cluster is there). */
  veleroBackupStorage?: VeleroBackupStorage | undefined;
  /** A drill target (`drill: true`): where approved schedules of changing runbooks may act. */
  drill: boolean;
}

/**
 * A target as the bot resolved it. The default target made from the
 * single-target settings may leave its region to the SDK, and its cluster to
 * the environment (KUBECONFIG, ~/.kube/config or the service account).
 */
export type ResolvedTarget = Omit<TargetSpec, 'region' | 'kubernetes' | 'endpoints'> & {
  region?: string | undefined;
  endpoints: Partial<Record<'rds' | 'eks' | 'sts' | 's3' | 'cloudwatch' | 'ecr' | 'secretsmanager' | 'route53' | 'arczonalshift' | 'ec2' | 'default', string | undefined>>;
  kubernetes?: TargetSpec['kubernetes'] | { fromEnvironment: true } | undefined;
};
