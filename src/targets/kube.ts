import { DescribeClusterCommand, type EKSClient } from '@aws-sdk/client-eks';
import {
  AppsV1Api,
  CoreV1Api,
  PolicyV1Api,
  createConfiguration,
  CustomObjectsApi,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  NetworkingV1Api,
  ServerConfiguration,
  wrapHttpLibrary,
  type HttpLibrary,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { eksToken } from './eks-token.ts';

/** The Kubernetes APIs steps use, for one cluster. */
export interface KubeApis {
  apps: AppsV1Api;
  core: CoreV1Api;
  /** Velero's velero.io/v1 objects. */
  custom: CustomObjectsApi;
  /** PodDisruptionBudgets (policy/v1), read by a drain. */
  policy: PolicyV1Api;
  /** NetworkPolicies (networking.k8s.io/v1), a security breach's isolation. */
  networking: NetworkingV1Api;
}

function apisFor(kc: KubeConfig): KubeApis {
  return { apps: kc.makeApiClient(AppsV1Api), core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi), policy: kc.makeApiClient(PolicyV1Api), networking: kc.makeApiClient(NetworkingV1Api) };
}

/**
 * An EKS cluster that cannot be reached yet: not found (not created yet, or
 * gone), or not ACTIVE. A plan may go on when an earlier step waits for it.
 */
export class ClusterNotReady extends Error {
  readonly cluster: string;
  /** `not found`, or the cluster's status (CREATING, UPDATING, DELETING, FAILED…). */
  readonly state: string;

  constructor(cluster: string, region: string | undefined, state: string) {
    super(`EKS cluster ${cluster}${region ? ` in ${region}` : ''} is ${state === 'not found' ? 'not found' : state}; its API endpoint is not available${state === 'CREATING' || state === 'not found' ? ' yet' : ''}`);
    this.name = 'ClusterNotReady';
    this.cluster = cluster;
    this.state = state;
  }
}

export function isClusterNotReady(err: unknown): err is ClusterNotReady {
  return err instanceof Error && err.name === 'ClusterNotReady';
}

/** The EKS cluster's status, or `not found`. */
export async function clusterState(eks: EKSClient, name: string): Promise<{ state: string; endpoint?: string | undefined; ca?: string | undefined }> {
  try {
    const { cluster } = await eks.send(new DescribeClusterCommand({ name }));
    return { state: cluster?.status ?? 'not found', endpoint: cluster?.endpoint, ca: cluster?.certificateAuthority?.data };
  } catch (err) {
    if (err instanceof Error && err.name === 'ResourceNotFoundException') return { state: 'not found' };
    throw err;
  }
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

/** How to reach a cluster through EKS: the cluster, its region, and whose credentials sign the token. */
export interface EksAccessInput {
  eks: EKSClient;
  cluster: string;
  region: string;
  credentials: AwsCredentialIdentityProvider;
  now: () => number;
}

/**
 * Kubernetes access to an EKS cluster from its name alone: DescribeCluster for
 * the endpoint and CA (once), and a token made from STS (see eks-token.ts) put
 * on every request by tokenPerRequest, renewed before it expires. A cluster
 * that is not ACTIVE yet throws ClusterNotReady.
 */
export async function eksAccess(input: EksAccessInput): Promise<KubeApis> {
  const { cluster: name, region } = input;
  const cluster = await clusterState(input.eks, name);
  const endpoint = cluster.endpoint;
  if (cluster.state !== 'ACTIVE' || !endpoint) throw new ClusterNotReady(name, region, cluster.state === 'ACTIVE' ? 'without an endpoint' : cluster.state);
  const tokens = new EksTokenCache((at) => eksToken({ cluster: name, region, credentials: input.credentials, now: at }), input.now);
  // Mint the first token now, so missing credentials fail here rather than on the first call.
  await tokens.get();
  const kc = new KubeConfig();
  // No token in the kubeconfig: it gives the CA (and TLS settings) only.
  kc.loadFromOptions({
    clusters: [{ name, server: endpoint, caData: cluster.ca, skipTLSVerify: endpoint.startsWith('http:') }],
    users: [{ name: 'dr-chatops' }],
    contexts: [{ name: 'eks', cluster: name, user: 'dr-chatops' }],
    currentContext: 'eks',
  });
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(endpoint, {}),
    authMethods: { default: kc },
    httpApi: tokenPerRequest(tokens),
  });
  return { apps: new AppsV1Api(configuration), core: new CoreV1Api(configuration), custom: new CustomObjectsApi(configuration), policy: new PolicyV1Api(configuration), networking: new NetworkingV1Api(configuration) };
}

/** How a cluster is reached without EKS: a kubeconfig file (a context in it, or its current one), the environment's, or the pod's service account. */
export interface KubeconfigSource {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  inCluster?: boolean;
}

/** Access from a kubeconfig (a context in it, or its current one), or from the pod's service account. */
export function kubeconfigAccess(how: KubeconfigSource): KubeApis {
  return apisFor(loadKubeconfig(how));
}

/** The API server `how` reaches, as its kubeconfig says now (read from disk each time). */
export function kubeconfigServer(how: KubeconfigSource): string | undefined {
  return loadKubeconfig(how).getCurrentCluster()?.server;
}

function loadKubeconfig(how: KubeconfigSource): KubeConfig {
  const kc = new KubeConfig();
  if (how.inCluster) kc.loadFromCluster();
  else if (how.kubeconfig) kc.loadFromFile(how.kubeconfig);
  // KUBECONFIG or ~/.kube/config, else the in-cluster service account.
  else kc.loadFromDefault();
  if (how.context) {
    if (!kc.getContextObject(how.context)) throw new Error(`kubeconfig has no context ${how.context}`);
    kc.setCurrentContext(how.context);
  }
  return kc;
}
