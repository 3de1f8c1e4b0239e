import { accountOf } from './config.ts';
import { type KubeconfigSource, kubeconfigServer } from './kube.ts';
import type { ResolvedTarget, TargetView } from './resolved.ts';

/**
 * Everything that decides where a target's calls go, one fact a line, as
 * plain text without credentials: the account, region and role, the
 * endpoints, the cluster and the Kubernetes API server its kubeconfig names,
 * Velero's namespace. A plan keeps it for each step; the step runs only where
 * the same target still resolves to the same facts.
 */
export type PlaceIdentity = Record<string, string>;

/** The order facts are told in. */
const FACTS = ['account', 'region', 'role', 'cluster', 'Kubernetes API', 'kubeconfig', 'endpoint', 'RDS endpoint', 'EKS endpoint', 'STS endpoint'];

export function placeIdentity(spec: ResolvedTarget, view: TargetView): PlaceIdentity {
  const facts: Record<string, string | undefined> = {
    account: accountOf(spec),
    region: spec.region,
    role: spec.roleArn,
    cluster: view.cluster,
    ...kubernetesFacts(spec.kubernetes, view),
    // Every service's endpoint, whichever services a target may name.
    ...Object.fromEntries(Object.entries(spec.endpoints).map(([service, url]) => [service === 'default' ? 'endpoint' : `${service.toUpperCase()} endpoint`, url])),
    ...Object.fromEntries(Object.entries(spec.rdsEndpoints).map(([region, url]) => [`RDS endpoint in ${region}`, url])),
    ...Object.fromEntries((spec.arcClusterEndpoints ?? []).map(({ region, url }) => [`ARC cluster endpoint in ${region}`, url])),
    'Velero namespace': view.cluster ? spec.veleroNamespace : undefined,
    // Where a restore's backup is read from at plan time: another bucket is another backup.
    'Velero backup storage': backupStorageOf(spec),
  };
  const identity: PlaceIdentity = {};
  for (const [fact, value] of Object.entries(facts)) if (value !== undefined) identity[fact] = fact.includes('endpoint') ? withoutCredentials(value) : value;
  return identity;
}

function backupStorageOf({ veleroBackupStorage: storage, region }: ResolvedTarget): string | undefined {
  if (!storage) return undefined;
  return `s3://${storage.bucket}/${storage.prefix ?? ''} in ${storage.region ?? region ?? "the SDK's region"}`;
}

/** How `kubernetes` is reached without EKS, or undefined for EKS and for a target with no cluster. */
export function kubeconfigSourceOf(k: ResolvedTarget['kubernetes']): KubeconfigSource | undefined {
  if (!k || 'eksCluster' in k) return undefined;
  if ('inCluster' in k) return { inCluster: true };
  if ('fromEnvironment' in k) return {};
  return { kubeconfig: k.kubeconfig, ...('context' in k ? { context: k.context } : {}) };
}

/**
 * A cluster reached through a kubeconfig is where its server points now: the
 * same path and context may name another cluster after the file was edited.
 * An EKS cluster is its name in the target's account and region (EKS gives
 * its endpoint).
 */
function kubernetesFacts(k: ResolvedTarget['kubernetes'], view: TargetView): Record<string, string | undefined> {
  const source = view.eksCluster ? undefined : kubeconfigSourceOf(k);
  if (!source) return {};
  let server: string | undefined;
  try {
    server = kubeconfigServer(source);
  } catch {
    // Unreadable now: the step that reaches the cluster says why; nothing is compared here.
  }
  return { 'Kubernetes API': server && withoutCredentials(server), kubeconfig: source.kubeconfig };
}

/** A URL as it may be shown: no user or password, no query (a proxy's may carry a token). */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

/**
 * The facts that differ between `approved` and `now`, each side told as
 * `region us-west-2, cluster EKS eks-drill`; undefined when none differ.
 * `only`: compare these facts alone (a plan made before it kept them all).
 */
export function identityChange(approved: PlaceIdentity, now: PlaceIdentity, only?: readonly string[]): { approved: string; now: string } | undefined {
  const facts = [...new Set([...Object.keys(approved), ...Object.keys(now)])].filter((f) => !only || only.includes(f)).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const differing = facts.filter((f) => approved[f] !== now[f]);
  if (differing.length === 0) return undefined;
  const tell = (identity: PlaceIdentity) => differing.map((f) => `${f} ${identity[f] ?? '(not set)'}`).join(', ');
  return { approved: tell(approved), now: tell(now) };
}

/** Facts not listed (another service's endpoint, Velero's namespace) come after; equals in the order of their names. */
function rank(fact: string): number {
  const i = FACTS.indexOf(fact.startsWith('RDS endpoint in ') ? 'RDS endpoint' : fact);
  return i === -1 ? FACTS.length : i;
}
