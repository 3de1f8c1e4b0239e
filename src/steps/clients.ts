import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { RDSClient } from '@aws-sdk/client-rds';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { eksToken } from './eks/token.ts';
import {
  AppsV1Api,
  CoreV1Api,
  createConfiguration,
  CustomObjectsApi,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  ServerConfiguration,
  wrapHttpLibrary,
  type HttpLibrary,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
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
  /**
   * Async: for an EKS cluster it describes the cluster and mints a token first. The same
   * clients come back each time; with EKS each request carries a current token.
   */
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
  let kube: Promise<KubeApis> | undefined;
  const aws = (service: 'rds' | 'eks', region = config.aws.region) => {
    // A per-region RDS override wins: the DR region's client must not reuse the primary region's endpoint.
    const regional = service === 'rds' && region ? config.aws.rdsEndpointUrls?.[region] : undefined;
    const endpoint = regional ?? (service === 'rds' ? config.aws.rdsEndpointUrl : config.aws.eksEndpointUrl) ?? config.aws.endpointUrl;
    return {
      ...(region ? { region } : {}),
      ...(endpoint ? { endpoint } : {}),
      // The SDK retries throttling and 5xx itself; the engine retries again with its own backoff.
      maxAttempts: 3,
    };
  };
  const connect = async (): Promise<KubeApis> => {
    const cluster = config.kubernetes.eksCluster;
    if (cluster) return eksAccess(clients.eks(), cluster, config, now);
    const kc = new KubeConfig();
    // KUBECONFIG when set; otherwise ~/.kube/config, or the in-cluster service account.
    if (config.kubernetes.kubeconfig) kc.loadFromFile(config.kubernetes.kubeconfig);
    else kc.loadFromDefault();
    return apisFor(kc);
  };
  const clients: StepClients = {
    rds: (region) => {
      const key = region ?? '';
      const client = rds.get(key) ?? new RDSClient(aws('rds', region ?? config.aws.region));
      rds.set(key, client);
      return client;
    },
    eks: () => (eks ??= new EKSClient(aws('eks'))),
    // Made once and kept: an EKS token is not part of these clients but fetched for each request
    // (see eksAccess), so a step may keep them through a wait of hours. A failure is not kept.
    kube: () =>
      (kube ??= connect().catch((err: unknown) => {
        kube = undefined;
        throw err;
      })),
  };
  return clients;
}

type Minted = { token: string; expiresAt: number };

/**
 * The current EKS token: minted when first asked for, reused until it is due
 * for renewal (EKS_TOKEN_LIFETIME_MS, a minute before the API server would
 * refuse it), and dropped at once when the API server refused it anyway.
 * Concurrent requests share one renewal.
 */
export class EksTokenCache {
  private current: Minted | undefined;
  private pending: Promise<string> | undefined;

  private readonly mint: (at: Date) => Promise<Minted>;
  private readonly now: () => number;

  constructor(mint: (at: Date) => Promise<Minted>, now: () => number = Date.now) {
    this.mint = mint;
    this.now = now;
  }

  async get(): Promise<string> {
    if (this.current && this.now() < this.current.expiresAt) return this.current.token;
    this.pending ??= this.mint(new Date(this.now()))
      .then((minted) => {
        this.current = minted;
        return minted.token;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  /** The API server answered 401 to `token`: the next get() mints a new one. */
  drop(token: string): void {
    if (this.current?.token === token) this.current = undefined;
  }
}

/**
 * The HTTP layer of the generated clients with the bearer token set on each
 * request as it is sent, from `tokens`; a 401 drops that token and sends the
 * request once more with a new one (a second 401 is the answer).
 */
export function tokenPerRequest(tokens: EksTokenCache): HttpLibrary {
  const http = new IsomorphicFetchHttpLibrary();
  const send = async (request: RequestContext): Promise<{ token: string; response: ResponseContext }> => {
    const token = await tokens.get();
    request.setHeaderParam('Authorization', `Bearer ${token}`);
    return { token, response: await http.send(request).toPromise() };
  };
  return wrapHttpLibrary({
    async send(request) {
      const first = await send(request);
      if (first.response.httpStatusCode !== 401) return first.response;
      // Read the refusal so its connection is free, then try once more with a new token.
      await first.response.body.text().catch(() => undefined);
      tokens.drop(first.token);
      return (await send(request)).response;
    },
  });
}

/**
 * Kubernetes access to an EKS cluster from its name alone: DescribeCluster for
 * the endpoint and CA (once), and a token made from STS (see token.ts) put on
 * every request by tokenPerRequest, renewed before it expires.
 */
async function eksAccess(eks: EKSClient, name: string, config: Pick<Config, 'aws'>, now: () => number): Promise<KubeApis> {
  const region = config.aws.region ?? (await eks.config.region());
  const { cluster } = await eks.send(new DescribeClusterCommand({ name }));
  const endpoint = cluster?.endpoint;
  if (!cluster || cluster.status !== 'ACTIVE' || !endpoint) {
    throw new Error(`EKS cluster ${name} is ${cluster?.status ?? 'not found'}; its API endpoint is not available yet`);
  }
  const stsHost = config.aws.stsEndpointUrl ? new URL(config.aws.stsEndpointUrl).host : undefined;
  const credentials = defaultProvider();
  const tokens = new EksTokenCache((at) => eksToken({ cluster: name, region, credentials, now: at, ...(stsHost ? { stsHost } : {}) }), now);
  // Mint the first token now, so missing credentials fail here rather than on the first call.
  await tokens.get();
  const kc = new KubeConfig();
  // No token in the kubeconfig: it gives the CA (and TLS settings) only.
  kc.loadFromOptions({
    clusters: [{ name, server: endpoint, caData: cluster.certificateAuthority?.data, skipTLSVerify: endpoint.startsWith('http:') }],
    users: [{ name: 'dr-chatops' }],
    contexts: [{ name: 'eks', cluster: name, user: 'dr-chatops' }],
    currentContext: 'eks',
  });
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(endpoint, {}),
    authMethods: { default: kc },
    httpApi: tokenPerRequest(tokens),
  });
  return { apps: new AppsV1Api(configuration), core: new CoreV1Api(configuration), custom: new CustomObjectsApi(configuration) };
}
