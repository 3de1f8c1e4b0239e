import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { RDSClient } from '@aws-sdk/client-rds';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { eksToken } from './eks/token.ts';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../config/schema.ts';

/**
 * The clients steps use, made on first use from the config (so a bot that
 * never restores a database needs no AWS settings). Endpoints are
 * overridable for proxies, GovCloud, emulators and tests.
 */
export interface StepClients {
  /** RDS in the configured region, or in `region` (the DR region for a failover). */
  readonly rds: (region?: string) => RDSClient;
  readonly eks: () => EKSClient;
  /** Async: for an EKS cluster it describes the cluster and mints a token first. */
  readonly kube: () => Promise<KubeApis>;
}

export interface KubeApis {
  apps: AppsV1Api;
  core: CoreV1Api;
  /** Velero's velero.io/v1 objects. */
  custom: CustomObjectsApi;
}

export function apisFor(kc: KubeConfig): KubeApis {
  return { apps: kc.makeApiClient(AppsV1Api), core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi) };
}

/** The settings the clients read. */
export interface ClientSettings {
  aws: Config['aws'];
  kubernetes: Pick<Config['kubernetes'], 'kubeconfig' | 'eksCluster'>;
}

export function createStepClients(config: ClientSettings, now: () => number = Date.now): StepClients {
  const rds = new Map<string, RDSClient>();
  let eks: EKSClient | undefined;
  let kube: KubeApis | undefined;
  let kubeExpiresAt = Number.POSITIVE_INFINITY;
  const aws = (service: 'rds' | 'eks', region = config.aws.region) => {
    const endpoint = (service === 'rds' ? config.aws.rdsEndpointUrl : config.aws.eksEndpointUrl) ?? config.aws.endpointUrl;
    return {
      ...(region ? { region } : {}),
      ...(endpoint ? { endpoint } : {}),
      // The SDK retries throttling and 5xx itself; the engine retries again with its own backoff.
      maxAttempts: 3,
    };
  };
  const clients: StepClients = {
    rds: (region) => {
      const key = region ?? '';
      const client = rds.get(key) ?? new RDSClient(aws('rds', region ?? config.aws.region));
      rds.set(key, client);
      return client;
    },
    eks: () => (eks ??= new EKSClient(aws('eks'))),
    kube: async () => {
      // An EKS token lives 15 minutes: rebuild the clients with a fresh one before that.
      if (kube && now() < kubeExpiresAt) return kube;
      const cluster = config.kubernetes.eksCluster;
      if (cluster) {
        ({ apis: kube, expiresAt: kubeExpiresAt } = await eksAccess(clients.eks(), cluster, config, new Date(now())));
      } else {
        const kc = new KubeConfig();
        // KUBECONFIG when set; otherwise ~/.kube/config, or the in-cluster service account.
        if (config.kubernetes.kubeconfig) kc.loadFromFile(config.kubernetes.kubeconfig);
        else kc.loadFromDefault();
        kube = apisFor(kc);
      }
      return kube;
    },
  };
  return clients;
}

/**
 * Kubernetes access to an EKS cluster from its name alone: DescribeCluster for
 * the endpoint and CA, and a token made from STS (see token.ts), renewed
 * before it expires by the caller asking again.
 */
async function eksAccess(eks: EKSClient, name: string, config: Pick<Config, 'aws'>, at: Date): Promise<{ apis: KubeApis; expiresAt: number }> {
  const region = config.aws.region ?? (await eks.config.region());
  const { cluster } = await eks.send(new DescribeClusterCommand({ name }));
  const endpoint = cluster?.endpoint;
  if (!cluster || cluster.status !== 'ACTIVE' || !endpoint) {
    throw new Error(`EKS cluster ${name} is ${cluster?.status ?? 'not found'}; its API endpoint is not available yet`);
  }
  const stsHost = config.aws.stsEndpointUrl ? new URL(config.aws.stsEndpointUrl).host : undefined;
  const { token, expiresAt } = await eksToken({ cluster: name, region, credentials: defaultProvider(), now: at, ...(stsHost ? { stsHost } : {}) });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name, server: endpoint, caData: cluster.certificateAuthority?.data, skipTLSVerify: endpoint.startsWith('http:') }],
    users: [{ name: 'dr-chatops', token }],
    contexts: [{ name: 'eks', cluster: name, user: 'dr-chatops' }],
    currentContext: 'eks',
  });
  return { apis: apisFor(kc), expiresAt };
}

