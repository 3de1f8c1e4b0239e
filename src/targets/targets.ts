import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECRClient } from '@aws-sdk/client-ecr';
import { EKSClient } from '@aws-sdk/client-eks';
import { RDSClient } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { UserError } from '../errors.ts';
import { ArcRoutingControlClient } from './arc-routing-control.ts';
import { ArcZonalShiftClient } from './arc-zonal-shift.ts';
import { accountOf, clusterLabel, EKS_CLUSTER_NAME } from './config.ts';
import { assumedRoleCredentials, sessionName } from './credentials.ts';
import { type AwsService, endpointFor } from './endpoints.ts';
import { kubeconfigSourceOf, placeIdentity, type PlaceIdentity } from './identity.ts';
import type { ResolvedTarget, TargetView } from './resolved.ts';
import { eksAccess, type KubeApis, kubeconfigAccess } from './kube.ts';

export type { ResolvedTarget, TargetView } from './resolved.ts';

/** What a step's context gives it for its target. */
export interface TargetAccess {
  readonly target: TargetView;
  readonly aws: {
    /** RDS in the target's region, or in `region` (a failover's DR region), with the target's credentials. */
    rds(region?: string): RDSClient;
    eks(region?: string): EKSClient;
    /** S3 in `region` (the Velero backup storage's, else the target's), with the target's credentials. */
    s3(region?: string): S3Client;
    /** The readiness checklist's reads, in the target's region: metrics, images, secrets. */
    cloudwatch(): CloudWatchClient;
    ecr(): ECRClient;
    secretsManager(): SecretsManagerClient;
    /** Route 53 is global: its calls are signed for us-east-1 whatever the target's region. */
    route53(): Route53Client;
    /** STS as the target's credentials (GetCallerIdentity: whether the target's role can be assumed). */
    sts(): STSClient;
    /** EC2 in the target's region: its Availability Zones' names (us-east-1a) and ids (use1-az1). */
    ec2(): EC2Client;
    /** ARC zonal shift in the target's region (signed requests, no SDK client: arc-zonal-shift.ts). */
    arcZonalShift(): ArcZonalShiftClient;
    /** ARC routing control on the cluster the target's arcClusterEndpoints name, each endpoint tried in turn; a UserError when it names none. */
    arcRoutingControl(): ArcRoutingControlClient;
  };
  /** The target's cluster (or the one named at run time); the same APIs each time, tokens renewed per request. */
  kube(): Promise<KubeApis>;
}

export interface TargetsOptions {
  /** The clock credentials and EKS tokens are renewed by. */
  now?: () => number;
  /** The bot's own credentials (the SDK's default chain unless given). */
  credentials?: AwsCredentialIdentityProvider;
}

type AwsClient = RDSClient | EKSClient | S3Client | CloudWatchClient | ECRClient | SecretsManagerClient | Route53Client | STSClient | EC2Client | ArcZonalShiftClient | ArcRoutingControlClient;

/** How long cached clients of a run's session are kept after their last use. */
const IDLE_MS = 2 * 3_600_000;

interface Session {
  credentials: AwsCredentialIdentityProvider;
  clients: Map<string, AwsClient>;
  kube: Map<string, Promise<KubeApis>>;
  usedAt: number;
}

/**
 * The one place that knows the configured targets and turns a target name
 * (and a run) into clients: credentials (the bot's own, or an assumed role
 * per run session, renewed before they expire), AWS clients per region, and
 * Kubernetes access per cluster, all cached and reused.
 */
export class Targets {
  readonly defaultName: string;
  private readonly specs: ReadonlyMap<string, ResolvedTarget>;
  private readonly now: () => number;
  private baseCredentials: AwsCredentialIdentityProvider | undefined;
  private readonly sessions = new Map<string, Session>();

  constructor(specs: ReadonlyMap<string, ResolvedTarget>, defaultName: string, options: TargetsOptions = {}) {
    if (!specs.has(defaultName)) throw new Error(`the default target ${defaultName} is not configured (targets: ${[...specs.keys()].join(', ') || 'none'})`);
    this.specs = specs;
    this.defaultName = defaultName;
    this.now = options.now ?? Date.now;
    this.baseCredentials = options.credentials;
  }

  names(): string[] {
    return [...this.specs.keys()];
  }

  has(name: string): boolean {
    return this.specs.has(name);
  }

  /** The target's spec, or a UserError that lists the configured ones. */
  spec(name: string): ResolvedTarget {
    const spec = this.specs.get(name);
    if (!spec) throw new UserError(unknownTargetMessage(name, this.names()));
    return spec;
  }

  /** Where a step on `name` acts; `cluster` is an EKS cluster named at run time in the target's region and account. */
  view(name: string, cluster?: string): TargetView {
    const spec = this.spec(name);
    if (cluster !== undefined && !EKS_CLUSTER_NAME.test(cluster)) throw new UserError(`\`${cluster.slice(0, 100)}\` is not an EKS cluster name (letters, digits, - and _, at most 100).`);
    const eksCluster = cluster ?? (spec.kubernetes && 'eksCluster' in spec.kubernetes ? spec.kubernetes.eksCluster : undefined);
    const account = accountOf(spec);
    const label = spec.label ?? name;
    return { name, label, region: spec.region, account, cluster: clusterLabel(spec.kubernetes, cluster), eksCluster, veleroNamespace: spec.veleroNamespace, veleroBackupStorage: spec.veleroBackupStorage, drill: spec.drill === true };
  }

  /** Everything that decides where calls to `name` (and `cluster`) go, as configured now: a plan keeps it, each step compares it. */
  identity(name: string, cluster?: string): PlaceIdentity {
    return placeIdentity(this.spec(name), this.view(name, cluster));
  }

  /**
   * Clients for steps on target `name` acting for `session` (a run id: it
   * names the assumed-role session), reaching `cluster` when one is named.
   */
  access(name: string, session: string, cluster?: string): TargetAccess {
    const spec = this.spec(name);
    const target = this.view(name, cluster);
    const s = this.session(name, spec, session);
    const client = <C extends AwsClient>(service: AwsService, region: string | undefined, make: (config: ReturnType<typeof awsConfig>) => C): C => {
      const key = `${service}:${region ?? ''}`;
      const cached = s.clients.get(key) as C | undefined;
      if (cached) return cached;
      const made = make(awsConfig(name, spec, service, region, s.credentials));
      s.clients.set(key, made);
      return made;
    };
    const aws = {
      rds: (region?: string) => client('rds', region ?? spec.region, (c) => new RDSClient(c)),
      eks: (region?: string) => client('eks', region ?? spec.region, (c) => new EKSClient(c)),
      // An endpoint of its own (a VPC endpoint, a test) is asked path-style: the bucket in the path, not the host name.
      s3: (region?: string) => client('s3', region ?? spec.veleroBackupStorage?.region ?? spec.region, (c) => new S3Client({ ...c, ...(c.endpoint ? { forcePathStyle: true } : {}) })),
      cloudwatch: () => client('cloudwatch', spec.region, (c) => new CloudWatchClient(c)),
      ecr: () => client('ecr', spec.region, (c) => new ECRClient(c)),
      secretsManager: () => client('secretsmanager', spec.region, (c) => new SecretsManagerClient(c)),
      route53: () => client('route53', undefined, (c) => new Route53Client({ ...c, region: 'us-east-1' })),
      sts: () => client('sts', spec.region, (c) => new STSClient(c)),
      ec2: () => client('ec2', spec.region, (c) => new EC2Client(c)),
      // The region, when the target names none, is the one the SDK's chain gives its clients.
      arcZonalShift: () => client('arczonalshift', spec.region, (c) => new ArcZonalShiftClient({ region: c.region ?? (() => aws.ec2().config.region()), credentials: c.credentials, endpoint: c.endpoint })),
      arcRoutingControl: () => {
        const cached = s.clients.get('arc-routing-control') as ArcRoutingControlClient | undefined;
        if (cached) return cached;
        // The cluster's own endpoints, from the configuration only: its regions are not the target's.
        const endpoints = spec.arcClusterEndpoints ?? [];
        if (endpoints.length === 0) throw new NoClusterEndpointsError(name);
        const made = new ArcRoutingControlClient({ endpoints, credentials: s.credentials });
        s.clients.set('arc-routing-control', made);
        return made;
      },
    };
    const kube = (): Promise<KubeApis> => {
      const key = target.eksCluster ?? '';
      const cached = s.kube.get(key);
      if (cached) return cached;
      const made = this.connect(spec, target, aws.eks(), s.credentials).catch((err: unknown) => {
        // A failure is not kept: the cluster may be up on the next try.
        s.kube.delete(key);
        throw err;
      });
      s.kube.set(key, made);
      return made;
    };
    return { target, aws, kube };
  }

  private async connect(spec: ResolvedTarget, target: TargetView, eks: EKSClient, credentials: AwsCredentialIdentityProvider): Promise<KubeApis> {
    if (target.eksCluster) {
      const region = spec.region ?? (await eks.config.region());
      // The token names AWS's own STS host, whatever endpoint serves AssumeRole (eks-token.ts).
      return eksAccess({ eks, cluster: target.eksCluster, region, credentials, now: this.now });
    }
    const source = kubeconfigSourceOf(spec.kubernetes);
    if (!source) throw new UserError(`Target \`${target.name}\` has no Kubernetes cluster configured: give it kubernetes.eksCluster, a kubeconfig context or inCluster (docs/targets.md).`);
    return kubeconfigAccess(source);
  }

  private session(name: string, spec: ResolvedTarget, session: string): Session {
    const now = this.now();
    for (const [key, s] of this.sessions) if (now - s.usedAt > IDLE_MS) this.sessions.delete(key);
    // Without a role every session of a target shares the bot's credentials, so their clients too.
    const key = spec.roleArn ? `${name}\u0000${session}` : name;
    let s = this.sessions.get(key);
    if (!s) {
      s = { credentials: this.credentialsFor(name, spec, session), clients: new Map(), kube: new Map(), usedAt: now };
      this.sessions.set(key, s);
    }
    s.usedAt = now;
    return s;
  }

  private credentialsFor(name: string, spec: ResolvedTarget, session: string): AwsCredentialIdentityProvider {
    this.baseCredentials ??= defaultProvider();
    if (!spec.roleArn) return this.baseCredentials;
    return assumedRoleCredentials({ sts: awsConfig(name, spec, 'sts', spec.region, this.baseCredentials), roleArn: spec.roleArn, sessionName: sessionName(session), externalId: spec.externalId, now: this.now });
  }
}

function awsConfig(target: string, spec: ResolvedTarget, service: AwsService, region: string | undefined, credentials: AwsCredentialIdentityProvider) {
  const endpoint = endpointFor(target, spec, service, region);
  return {
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    credentials,
    // The SDK retries throttling and 5xx itself; the engine retries again with its own backoff.
    maxAttempts: 3,
    // Endpoints come from the targets alone: the SDK would otherwise apply AWS_ENDPOINT_URL* and the shared
    // config file's endpoint_url to every target and region, where the configuration said nothing.
    ignoreConfiguredEndpointUrls: true,
  };
}

/** Routing controls asked of a target that names no ARC cluster: refused before anything is sent. */
export class NoClusterEndpointsError extends UserError {
  readonly permanent = true;

  constructor(target: string) {
    super(
      `Target \`${target}\` names no ARC cluster: give it arcClusterEndpoints, the cluster's regional endpoints as DescribeCluster lists them ([{ region: us-west-2, url: https://host-….us-west-2.example.com/v1 }, …], docs/targets.md), or leave the routing controls out.`,
    );
  }
}

function unknownTargetMessage(name: string, known: readonly string[]): string {
  return `There is no target \`${name.slice(0, 40)}\`. Targets: ${known.map((t) => `\`${t}\``).join(', ')}.`;
}
