import { PermanentStepError } from '../types.ts';

/**
 * Which namespaces, Secrets and deployments Kubernetes steps may touch,
 * whatever a runbook, its parameters or an earlier step's outputs say
 * (settings K8S_ALLOWED_NAMESPACES, K8S_ALLOWED_SECRETS, K8S_ALLOWED_DEPLOYMENTS).
 * The steps check it in plan() (the requester sees a refusal before anything
 * is stored) and again in run() (values from earlier steps are known only then).
 */
export interface KubeScope {
  /** Namespace names or globs (`team-*`); `*` means every namespace but the system ones. */
  readonly namespaces: readonly string[];
  /** Secret names or globs, or `namespace/name` ones; `*` means any in an allowed namespace. */
  readonly secrets: readonly string[];
  /** Deployment names or globs, or `namespace/name` ones; `*` means any in an allowed namespace. */
  readonly deployments: readonly string[];
  /** Refused by `*` and by every glob; allowed only when `namespaces` names one exactly. */
  readonly systemNamespaces: readonly string[];
}

/**
 * The namespaces no runbook may change unless the setting names them exactly:
 * - `kube-system`, `kube-public`, `kube-node-lease`: Kubernetes' own (DNS, CNI,
 *   kube-proxy, the cluster-info ConfigMap, node heartbeats). Restarting or
 *   re-pointing anything there can take the whole cluster down.
 * - `velero` (VELERO_NAMESPACE): Velero itself. Restoring into it or restarting
 *   it in the middle of a restore breaks the tool the recovery depends on; the
 *   Restore objects the bot creates there are not workload changes and are not
 *   limited by this list.
 * - `dr-chatops`: the bot's own namespace (as deploy/kubernetes ships it): a
 *   runbook must not restart the workers running it or rewrite the bot's Slack
 *   token Secret.
 * Add-on namespaces (cert-manager, amazon-cloudwatch, karpenter…) are not listed:
 * teams operate them with runbooks of their own, and no short list would be
 * complete. Limit them with an explicit K8S_ALLOWED_NAMESPACES instead.
 */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease', 'velero', 'dr-chatops'];

export const DEFAULT_KUBE_SCOPE: KubeScope = { namespaces: ['*'], secrets: ['*'], deployments: ['*'], systemNamespaces: SYSTEM_NAMESPACES };

/** The settings, by the names people set them with (for messages). */
export const SCOPE_SETTINGS = {
  namespaces: { env: 'K8S_ALLOWED_NAMESPACES', key: 'kubernetes.allowedNamespaces' },
  secrets: { env: 'K8S_ALLOWED_SECRETS', key: 'kubernetes.allowedSecrets' },
  deployments: { env: 'K8S_ALLOWED_DEPLOYMENTS', key: 'kubernetes.allowedDeployments' },
} as const;

/** One allow-list entry: a name, a glob with `*`, and for Secrets and deployments optionally `namespace/…`. */
export const NAMESPACE_PATTERN = /^[a-z0-9*][-a-z0-9*]{0,62}$/;
export const OBJECT_PATTERN = /^([a-z0-9*][-a-z0-9*]{0,62}\/)?[a-z0-9*][-a-z0-9.*]{0,252}$/;

/** The scope the settings describe; the configured Velero namespace takes the place of `velero`. */
export function kubeScope(settings: { allowedNamespaces?: readonly string[]; allowedSecrets?: readonly string[]; allowedDeployments?: readonly string[]; veleroNamespace?: string }): KubeScope {
  const velero = settings.veleroNamespace ?? 'velero';
  return {
    namespaces: settings.allowedNamespaces ?? DEFAULT_KUBE_SCOPE.namespaces,
    secrets: settings.allowedSecrets ?? DEFAULT_KUBE_SCOPE.secrets,
    deployments: settings.allowedDeployments ?? DEFAULT_KUBE_SCOPE.deployments,
    systemNamespaces: [...new Set(SYSTEM_NAMESPACES.map((ns) => (ns === 'velero' ? velero : ns)))],
  };
}

/**
 * The scope on a target: its own Velero namespace counts as a system
 * namespace too, whether or not it is the one VELERO_NAMESPACE names.
 */
export function scopeOnTarget(scope: KubeScope, target: { veleroNamespace: string }): KubeScope {
  if (scope.systemNamespaces.includes(target.veleroNamespace)) return scope;
  return { ...scope, systemNamespaces: [...scope.systemNamespaces, target.veleroNamespace] };
}

/** Parses a setting's comma-separated list (or YAML list); undefined when it is malformed. */
export function parseAllowList(value: string | readonly string[], entry: RegExp): string[] | undefined {
  const items = (typeof value === 'string' ? value.split(',') : value).map((s) => s.trim()).filter(Boolean);
  return items.length > 0 && items.every((s) => entry.test(s)) ? items : undefined;
}

/** `*` matches any run of characters except `/`; everything else is literal. */
export function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const source = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*');
  return new RegExp(`^${source}$`).test(value);
}

export type ScopeCheck = { readonly ok: true; readonly note: string } | { readonly ok: false; readonly problem: string };

/** The list as the plan shows it: short, and saying how it came to be. */
function shown(list: readonly string[]): string {
  const head = list.slice(0, 3).join(',');
  return list.length > 3 ? `${head},… (${list.length} entries)` : head;
}

export function isSystemNamespace(scope: KubeScope, ns: string): boolean {
  return scope.systemNamespaces.includes(ns);
}

export function checkNamespace(scope: KubeScope, ns: string): ScopeCheck {
  const { env, key } = SCOPE_SETTINGS.namespaces;
  const setting = `${env}=${shown(scope.namespaces)}`;
  const system = isSystemNamespace(scope, ns);
  if (scope.namespaces.includes(ns)) return { ok: true, note: system ? `system namespace ${ns} named in ${env}` : setting };
  if (system) {
    return {
      ok: false,
      problem: `namespace ${ns} is a system namespace, refused by ${setting} (system namespaces: ${scope.systemNamespaces.join(', ')}, allowed only when named exactly); to allow it, add ${ns} to ${env} (${key})`,
    };
  }
  if (scope.namespaces.some((p) => globMatch(p, ns))) return { ok: true, note: scope.namespaces.includes('*') ? `${setting}, system namespaces excluded` : setting };
  return { ok: false, problem: `namespace ${ns} is not allowed by ${setting}; to allow it, add it to ${env} (${key})` };
}

function checkObject(kind: 'secrets' | 'deployments', scope: KubeScope, ns: string, name: string): ScopeCheck {
  const namespace = checkNamespace(scope, ns);
  if (!namespace.ok) return namespace;
  const { env, key } = SCOPE_SETTINGS[kind];
  const list = scope[kind];
  const setting = `${env}=${shown(list)}`;
  const matches = list.some((p) => (p.includes('/') ? globMatch(p, `${ns}/${name}`) : globMatch(p, name)));
  // `*` limits nothing beyond the namespace: the plan does not repeat it.
  if (matches) return { ok: true, note: list.length === 1 && list[0] === '*' ? namespace.note : `${namespace.note}; ${setting}` };
  const what = kind === 'secrets' ? 'secret' : 'deployment';
  return { ok: false, problem: `${what} ${ns}/${name} is not allowed by ${setting}; to allow it, add ${name} or ${ns}/${name} to ${env} (${key})` };
}

export function checkSecret(scope: KubeScope, ns: string, name: string): ScopeCheck {
  return checkObject('secrets', scope, ns, name);
}

export function checkDeployment(scope: KubeScope, ns: string, name: string): ScopeCheck {
  return checkObject('deployments', scope, ns, name);
}

/** Several checks as one: every refusal together, or the first note (they share the setting's wording). */
export function checkAll(checks: readonly ScopeCheck[]): ScopeCheck {
  const problems = [...new Set(checks.flatMap((c) => (c.ok ? [] : [c.problem])))];
  if (problems.length) return { ok: false, problem: problems.join('; ') };
  const notes = [...new Set(checks.flatMap((c) => (c.ok ? [c.note] : [])))];
  return { ok: true, note: notes.join('; ') };
}

/** The note of an allowed check; a refusal throws as a PermanentStepError (the plan is refused, the run fails at once). */
export function enforce(check: ScopeCheck): string {
  if (!check.ok) throw new PermanentStepError(check.problem);
  return check.note;
}

/** A value an earlier step has not produced yet (a placeholder while planning). */
export function isPending(value: unknown): boolean {
  return typeof value === 'string' && value.includes('‹');
}

/** What a plan says of a limit it cannot check yet: run() checks it once the value is known. */
export function pendingNote(scope: KubeScope, kinds: readonly (keyof typeof SCOPE_SETTINGS)[]): string {
  return `${kinds.map((k) => `${SCOPE_SETTINGS[k].env}=${shown(scope[k])}`).join('; ')}, checked when it runs`;
}

/**
 * For plan(): the check's note, or, when one of `values` comes from an earlier
 * step, a note that run() will check it. A refusal throws.
 */
export function enforcePlanned(scope: KubeScope, values: readonly unknown[], kinds: readonly (keyof typeof SCOPE_SETTINGS)[], check: () => ScopeCheck): string {
  return values.some(isPending) ? pendingNote(scope, kinds) : enforce(check());
}

/** ` (allowed: …)`, appended to a plan line's detail. */
export function allowedNote(note: string): string {
  return note ? ` (allowed: ${note})` : '';
}
