import { z } from 'zod';

/**
 * Named targets: where a step acts. Each is an AWS region (optionally through
 * an assumed role in another account), per-service endpoint overrides, a
 * Kubernetes cluster and its Velero namespace. `docs/targets.md` explains them.
 */

export const TARGET_NAME = /^[a-z][a-z0-9-]{0,30}$/;
export const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
export const EKS_CLUSTER_NAME = /^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$/;
const ROLE_ARN = /^arn:aws(-[a-z]+)*:iam::(\d{12}):role\/[\w+=,.@/-]{1,512}$/;

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const region = z.string({ error: 'is required: an AWS region like us-west-2' }).regex(AWS_REGION, 'must be an AWS region like us-west-2');

const EndpointsSchema = z
  .object({
    rds: httpUrl.optional(),
    eks: httpUrl.optional(),
    sts: httpUrl.optional(),
    /** S3 (path-style requests when set): where Velero's backup storage is read. */
    s3: httpUrl.optional(),
    /** The readiness checklist's reads: CloudWatch metrics, ECR, Secrets Manager, Route 53. */
    cloudwatch: httpUrl.optional(),
    ecr: httpUrl.optional(),
    secretsmanager: httpUrl.optional(),
    route53: httpUrl.optional(),
    /** Zonal shift (ARC) and EC2's Availability Zone names and ids: a single AZ's evacuation. */
    arczonalshift: httpUrl.optional(),
    ec2: httpUrl.optional(),
    /** Any service not named above (AWS_ENDPOINT_URL). */
    default: httpUrl.optional(),
  })
  .strict();

/** A URL a client signs requests to: https, or http to this machine only (a test's fake); never plain http across a network. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const signedUrl = httpUrl.refine((u) => u.startsWith('https://') || LOOPBACK_HOSTS.has(new URL(u).hostname), 'must be an https URL (http only to 127.0.0.1 or localhost)');

/**
 * An ARC cluster's regional endpoints (DescribeCluster's ClusterEndpoints,
 * five in all): where routing control states are read and set, each tried in
 * turn. Each endpoint's requests are signed for its own region.
 */
const ArcClusterEndpointsSchema = z
  .array(z.object({ region, url: signedUrl }).strict(), { error: 'must be a list of { region, url }: the ARC cluster\'s endpoints (DescribeCluster\'s ClusterEndpoints)' })
  .min(1, 'must list at least one endpoint of the ARC cluster (it has five)')
  .max(5, 'an ARC cluster has five endpoints: list each once')
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    for (const [i, e] of list.entries()) {
      if (seen.has(e.region)) ctx.addIssue({ code: 'custom', path: [i, 'region'], message: `lists ${e.region} twice: a cluster has one endpoint per region` });
      seen.add(e.region);
    }
  });

const KubernetesSchema = z.union(
  [
    z.object({ eksCluster: z.string().regex(EKS_CLUSTER_NAME, 'must be an EKS cluster name') }).strict(),
    z.object({ context: z.string().min(1).max(253), kubeconfig: z.string().min(1).optional() }).strict(),
    z.object({ kubeconfig: z.string().min(1) }).strict(),
    z.object({ inCluster: z.literal(true) }).strict(),
  ],
  { error: 'must be one of { eksCluster: <name> }, { context: <name>, kubeconfig?: <path> }, { kubeconfig: <path> } or { inCluster: true }' },
);

/**
 * A Velero backup storage location on S3, as its BackupStorageLocation names
 * it: `spec.objectStorage.bucket`, `.prefix` and `spec.config.region`.
 */
const VeleroBackupStorageSchema = z
  .object({
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3 to 63 lower-case letters, digits, . and -)'),
    prefix: z
      .string()
      .max(512)
      .regex(/^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*\/?$/, 'must be the location\'s prefix as Velero has it, like eks-prod (no leading /)')
      .optional(),
    /** The bucket's region; the target's when left out. */
    region: region.optional(),
  })
  .strict();
export type VeleroBackupStorage = z.infer<typeof VeleroBackupStorageSchema>;

export const TargetSpecSchema = z
  .object({
    /** What people read in plans, e.g. "DR (us-west-2, account 222222222222)". */
    label: z.string().trim().min(1).max(80).optional(),
    region,
    /** The account, shown in plans; taken from roleArn when that is set. */
    account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id').optional(),
    /** A role to assume for this target (cross-account); the bot's own credentials otherwise. */
    roleArn: z.string().regex(ROLE_ARN, 'must be an IAM role ARN like arn:aws:iam::222222222222:role/dr-chatops-target').optional(),
    /** The external id the role's trust policy requires, if it requires one. */
    externalId: z.string().regex(/^[\w+=,.@:/-]{2,1224}$/, 'must be 2 to 1,224 characters of letters, digits and +=,.@:/-').optional(),
    endpoints: EndpointsSchema.prefault({}),
    /** Per-region RDS endpoints for steps that name another region (a failover's DR region). */
    rdsEndpoints: z.record(region, httpUrl).default({}),
    /** The ARC cluster whose routing controls move traffic (arc.set-routing-controls); none unless set. */
    arcClusterEndpoints: ArcClusterEndpointsSchema.optional(),
    /** How the target's cluster is reached; no cluster = the target has AWS only. */
    kubernetes: KubernetesSchema.optional(),
    veleroNamespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a namespace name').default('velero'),
    /** Where the cluster's Velero keeps its backups (its default BackupStorageLocation): read by plans for a cluster not there yet. */
    veleroBackupStorage: VeleroBackupStorageSchema.optional(),
    /**
     * A place for drills and throw-away resources, never production's own: the
     * only kind of target an approved schedule of a changing runbook may act on
     * (docs/schedules.md). Off unless set; the default target made from the
     * single-target settings is never one.
     */
    drill: z.boolean({ error: 'must be true or false' }).optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const fromArn = spec.roleArn ? ROLE_ARN.exec(spec.roleArn)?.[2] : undefined;
    if (fromArn && spec.account && fromArn !== spec.account) {
      ctx.addIssue({ code: 'custom', path: ['account'], message: `is ${spec.account} but roleArn is in account ${fromArn}` });
    }
    if (spec.externalId && !spec.roleArn) ctx.addIssue({ code: 'custom', path: ['externalId'], message: 'needs roleArn: an external id is sent only when assuming a role' });
  });
export type TargetSpec = z.infer<typeof TargetSpecSchema>;

/** `targets` as a map (YAML config file) or as JSON text (DR_TARGETS). */
export const TargetsSettingSchema = z
  .preprocess(
    (value, ctx): unknown => {
      if (value === undefined) return {};
      if (typeof value !== 'string') return value;
      const text = value.trim();
      if (text === '') return {};
      try {
        return JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON: {"dr": {"region": "us-west-2", "kubernetes": {"eksCluster": "eks-dr"}}}' });
        return z.NEVER;
      }
    },
    z.record(z.string(), z.unknown(), { error: 'must be a map of target names to targets' }).superRefine((targets, ctx) => {
      // Checked here, not as the record's key schema: zod reports a bad key only as "Invalid key in record".
      for (const name of Object.keys(targets)) {
        if (!TARGET_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'target names are lower-case letters, digits and -, starting with a letter (at most 31)' });
      }
    }),
  )
  .pipe(z.record(z.string(), TargetSpecSchema));

/** The account a target acts in, when it is known without asking AWS. */
export function accountOf(spec: Pick<TargetSpec, 'account' | 'roleArn'>): string | undefined {
  return spec.account ?? (spec.roleArn ? ROLE_ARN.exec(spec.roleArn)?.[2] : undefined);
}

/** How a target's cluster is named in plans (`cluster`: one named at run time). */
export function clusterLabel(k: TargetSpec['kubernetes'] | { fromEnvironment: true } | undefined, cluster?: string): string | undefined {
  if (cluster) return `EKS ${cluster}`;
  if (!k) return undefined;
  if ('eksCluster' in k) return `EKS ${k.eksCluster}`;
  if ('inCluster' in k) return 'the cluster the bot runs in';
  if ('context' in k) return `kubeconfig context ${k.context}`;
  if ('kubeconfig' in k) return 'its kubeconfig';
  return 'the kubeconfig (KUBECONFIG, ~/.kube/config or the service account)';
}
