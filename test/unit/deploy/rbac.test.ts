import { describe, expect, it } from 'vitest';
import { isMap, isSeq } from 'yaml';
import { z } from 'zod';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../../src/config/load.ts';
import { checkNamespace, DEFAULT_KUBE_SCOPE } from '../../../src/steps/kube/scope.ts';
import { stepLimitsFrom } from '../../../src/steps/limits.ts';
import { readText, sourceFiles, stepIds, type YamlDoc, yamlDocs } from './files.ts';

/**
 * The Kubernetes permissions the steps need, read from their calls through
 * @kubernetes/client-node (KubeApis: apps = AppsV1Api, core = CoreV1Api,
 * custom = CustomObjectsApi, policy = PolicyV1Api, networking = NetworkingV1Api), compared with deploy/kubernetes/rbac.yaml (the
 * bot's own cluster) and deploy/target-cluster/rbac.yaml (the clusters of its targets).
 */
const STEP_DIRS = ['src/steps', 'src/targets'];

/** Client method verb → RBAC verb. */
const VERBS: Record<string, string> = { read: 'get', get: 'get', list: 'list', create: 'create', patch: 'patch', replace: 'update', delete: 'delete' };
/** Kind in a typed client method name → API group and resource. */
const KINDS: Record<string, { api: 'apps' | 'core' | 'policy' | 'networking'; group: string; resource: string; clusterScoped?: boolean }> = {
  Deployment: { api: 'apps', group: 'apps', resource: 'deployments' },
  DeploymentScale: { api: 'apps', group: 'apps', resource: 'deployments/scale' },
  NetworkPolicy: { api: 'networking', group: 'networking.k8s.io', resource: 'networkpolicies' },
  ReplicaSet: { api: 'apps', group: 'apps', resource: 'replicasets' },
  StatefulSet: { api: 'apps', group: 'apps', resource: 'statefulsets' },
  DaemonSet: { api: 'apps', group: 'apps', resource: 'daemonsets' },
  ConfigMap: { api: 'core', group: '', resource: 'configmaps' },
  PersistentVolumeClaim: { api: 'core', group: '', resource: 'persistentvolumeclaims' },
  Pod: { api: 'core', group: '', resource: 'pods' },
  PodEviction: { api: 'core', group: '', resource: 'pods/eviction' },
  PodDisruptionBudget: { api: 'policy', group: 'policy', resource: 'poddisruptionbudgets' },
  Secret: { api: 'core', group: '', resource: 'secrets' },
  Namespace: { api: 'core', group: '', resource: 'namespaces', clusterScoped: true },
  Node: { api: 'core', group: '', resource: 'nodes', clusterScoped: true },
};
/** The group behind the `...VELERO` spread in src/steps/velero/objects.ts. */
const veleroGroup = /VELERO = \{ group: '([^']+)'/.exec(readText('src/steps/velero/objects.ts'))?.[1];

const key = (group: string, resource: string, verb: string) => `${group || 'core'}/${resource}:${verb}`;

function permissionsUsedByCode(): Map<string, string> {
  const used = new Map<string, string>();
  for (const file of STEP_DIRS.flatMap(sourceFiles)) {
    for (const m of file.text.matchAll(/\.(apps|core|custom|policy|networking)\.(\w+)\(/g)) {
      const [, api = '', method = ''] = m;
      const where = `${file.path}: ${api}.${method}`;
      if (api === 'custom') {
        const call = /^(get|list|create|patch|replace|delete)NamespacedCustomObject$/.exec(method);
        if (!call) throw new Error(`${where}: add this CustomObjectsApi method to rbac.test.ts`);
        const args = file.text.slice(m.index, m.index + 400);
        const plural = /plural: '([a-z]+)'/.exec(args)?.[1];
        const group = args.includes('...VELERO') ? veleroGroup : /group: '([^']+)'/.exec(args)?.[1];
        if (!plural || !group) throw new Error(`${where}: cannot tell the group and plural of this call`);
        used.set(key(group, plural, VERBS[call[1] ?? ''] ?? '?'), where);
        continue;
      }
      // `listPodForAllNamespaces`: the same resource, listed cluster-wide.
      const call = /^(read|list|create|patch|replace|delete)(?:Namespaced)?([A-Z]\w*?)(?:ForAllNamespaces)?$/.exec(method);
      const kind = KINDS[call?.[2] ?? ''];
      if (!call || !kind || kind.api !== api) throw new Error(`${where}: add this method's kind to KINDS in rbac.test.ts`);
      used.set(key(kind.group, kind.resource, VERBS[call[1] ?? ''] ?? '?'), where);
    }
  }
  return used;
}

const Rule = z.object({
  apiGroups: z.array(z.string()).min(1),
  resources: z.array(z.string()).min(1),
  verbs: z.array(z.string()).min(1),
  resourceNames: z.array(z.string()).optional(),
});
const Role = z.object({
  kind: z.enum(['Role', 'ClusterRole']),
  metadata: z.object({ name: z.string(), namespace: z.string().optional() }),
  rules: z.array(Rule).min(1),
});
const Binding = z.object({
  kind: z.enum(['RoleBinding', 'ClusterRoleBinding']),
  metadata: z.object({ name: z.string(), namespace: z.string().optional() }),
  roleRef: z.object({ apiGroup: z.literal('rbac.authorization.k8s.io'), kind: z.enum(['Role', 'ClusterRole']), name: z.string() }),
  subjects: z.array(z.object({ kind: z.string(), name: z.string(), namespace: z.string().optional() })).min(1),
});

type RoleDoc = z.infer<typeof Role> & { doc: YamlDoc['doc'] };
type BindingDoc = z.infer<typeof Binding>;
const kindOf = (v: unknown) => (v as { kind?: unknown }).kind;

/** The Roles and bindings of an RBAC file, parsed. */
function rbacFile(relPath: string): { docs: YamlDoc[]; roles: RoleDoc[]; bindings: BindingDoc[] } {
  const docs = yamlDocs(relPath);
  return {
    docs,
    roles: docs.filter((d) => kindOf(d.value) === 'Role' || kindOf(d.value) === 'ClusterRole').map((d) => ({ ...Role.parse(d.value), doc: d.doc })),
    bindings: docs.filter((d) => kindOf(d.value) === 'RoleBinding' || kindOf(d.value) === 'ClusterRoleBinding').map((d) => Binding.parse(d.value)),
  };
}

const { docs, roles, bindings } = rbacFile('deploy/kubernetes/rbac.yaml');
const isClusterRole = (r: RoleDoc) => r.kind === 'ClusterRole';
const granted = (r: Pick<RoleDoc, 'rules'>) =>
  r.rules.flatMap((rule) => rule.apiGroups.flatMap((g) => rule.resources.flatMap((res) => rule.verbs.map((v) => key(g, res, v)))));

/** Each rule of each role has a comment above it naming a step that needs it. */
function expectEveryRuleNamesItsStep(of: readonly RoleDoc[]): void {
  const ids = stepIds();
  for (const r of of) {
    const rules = r.doc.get('rules', true);
    expect(isSeq(rules)).toBe(true);
    if (!isSeq(rules)) continue;
    for (const [i, item] of rules.items.entries()) {
      // The comment above the first item belongs to the sequence.
      const comment = (isMap(item) ? item.commentBefore : undefined) ?? (i === 0 ? rules.commentBefore : undefined) ?? '';
      const named = [...ids].filter((id) => comment.includes(id));
      expect(named.length, `${r.metadata.name}: rule without a comment naming its step: ${JSON.stringify(item)}`).toBeGreaterThan(0);
    }
  }
}

describe('deploy/kubernetes/rbac.yaml', () => {
  const used = permissionsUsedByCode();

  it('finds the calls in the steps (the scan itself works)', () => {
    expect(veleroGroup).toBe('velero.io');
    expect(used.size).toBeGreaterThan(5);
    expect(used.get('apps/deployments:patch')).toMatch(/kube\/(rollout|scale)\.ts/);
    expect(used.get('networking.k8s.io/networkpolicies:create')).toMatch(/kube\/isolate\.ts/);
    expect(used.get('apps/deployments/scale:update')).toMatch(/kube\/scale\.ts/);
  });

  it('grants exactly what the steps call, no more, no less', () => {
    const all = new Set(roles.flatMap(granted));
    expect([...all].sort()).toEqual([...used.keys()].sort());
  });

  it('uses no wildcards and no duplicate grants', () => {
    for (const r of roles) {
      for (const rule of r.rules) {
        for (const v of [...rule.apiGroups, ...rule.resources, ...rule.verbs, ...(rule.resourceNames ?? [])]) expect(v, r.metadata.name).not.toContain('*');
      }
      const list = granted(r);
      expect(new Set(list).size, `${r.metadata.name} grants something twice`).toBe(list.length);
    }
    expect(docs.every((d) => !['Role', 'ClusterRole'].includes(String(kindOf(d.value))) || !/aggregationRule/.test(JSON.stringify(d.value)))).toBe(true);
  });

  it('grants cluster-scoped resources in a ClusterRole bound cluster-wide', () => {
    for (const kind of Object.values(KINDS).filter((k) => k.clusterScoped)) {
      for (const r of roles.filter((x) => x.rules.some((rule) => rule.resources.includes(kind.resource)))) {
        expect(isClusterRole(r), `${kind.resource} in ${r.metadata.name}`).toBe(true);
        expect(bindings.some((b) => b.kind === 'ClusterRoleBinding' && b.roleRef.name === r.metadata.name)).toBe(true);
      }
    }
  });

  it('grants Velero objects only in Velero’s namespace', () => {
    const config = yamlDocs('deploy/kubernetes/config.yaml')[0]?.value as { data?: Record<string, string> };
    const veleroNamespace = config.data?.VELERO_NAMESPACE ?? 'velero';
    const withVelero = roles.filter((r) => r.rules.some((rule) => rule.apiGroups.includes('velero.io')));
    expect(withVelero.length).toBeGreaterThan(0);
    for (const r of withVelero) {
      expect(r.kind, r.metadata.name).toBe('Role');
      expect(r.metadata.namespace).toBe(veleroNamespace);
    }
  });

  it('binds every role to the bot’s ServiceAccount and the dr-chatops group, and binds nothing else', () => {
    for (const r of roles) {
      const bound = bindings.filter((b) => b.roleRef.name === r.metadata.name && b.roleRef.kind === r.kind);
      expect(bound.length, `${r.kind} ${r.metadata.name} is not bound`).toBeGreaterThan(0);
      for (const b of bound) {
        if (r.kind === 'Role') expect(b.metadata.namespace).toBe(r.metadata.namespace);
        expect(b.subjects).toContainEqual({ kind: 'ServiceAccount', name: 'dr-chatops', namespace: 'dr-chatops' });
        expect(b.subjects.map((s) => `${s.kind}/${s.name}`).sort()).toEqual(['Group/dr-chatops', 'ServiceAccount/dr-chatops']);
      }
    }
    for (const b of bindings) expect(roles.some((r) => r.metadata.name === b.roleRef.name && r.kind === b.roleRef.kind), b.metadata.name).toBe(true);
  });

  /**
   * The only grants bound cluster-wide: what is cluster-scoped (nodes, namespaces)
   * and the read-only pod listing drills need (their namespace is created by the
   * restore, so no RoleBinding can exist there beforehand).
   */
  /**
   * What may be granted cluster-wide: reading nodes, namespaces, pods and workloads (verify a restore anywhere),
   * and what a drill needs in the namespace it creates (create the namespace and copies of its configuration, delete it).
   */
  const CLUSTER_WIDE = new Set([
    'core/nodes:list',
    'core/nodes:patch',
    'policy/poddisruptionbudgets:list',
    'core/namespaces:get',
    'core/namespaces:create',
    'core/namespaces:delete',
    'core/pods:list',
    'apps/deployments:list',
    'apps/statefulsets:list',
    'apps/daemonsets:list',
    'core/secrets:create',
    'core/configmaps:create',
  ]);

  it('binds the workload rules per namespace by default: no ClusterRoleBinding grants changes to namespaced objects', () => {
    for (const b of bindings.filter((x) => x.kind === 'ClusterRoleBinding')) {
      const role = roles.find((r) => r.kind === b.roleRef.kind && r.metadata.name === b.roleRef.name);
      for (const grant of role ? granted(role) : []) expect(CLUSTER_WIDE, `${b.metadata.name} binds ${grant} cluster-wide`).toContain(grant);
    }
    // Reading a Secret or changing a workload is granted per namespace only.
    const workloads = roles.filter((r) => granted(r).some((g) => /^(apps\/deployments:patch|core\/secrets:(get|patch|list))$/.test(g)));
    expect(workloads.map((r) => `${r.kind} ${r.metadata.name}`)).toEqual(['ClusterRole dr-chatops-workloads', 'Role dr-chatops-drill-config']);
    const perNamespace = bindings.filter((b) => b.roleRef.name === 'dr-chatops-workloads');
    expect(perNamespace.length).toBeGreaterThan(0);
    for (const b of perNamespace) {
      expect(b.kind, b.metadata.name).toBe('RoleBinding');
      expect(b.metadata.namespace, b.metadata.name).toBeDefined();
    }
  });

  it('binds the workload rules only in namespaces the steps allow (default scope and config.yaml), never a system namespace', () => {
    const config = yamlDocs('deploy/kubernetes/config.yaml')[0]?.value as { data?: Record<string, string> };
    const shipped = stepLimitsFrom(loadConfig({ env: config.data ?? {}, needsSlack: false })).kubernetes;
    for (const b of bindings.filter((x) => x.kind === 'RoleBinding' && x.roleRef.kind === 'ClusterRole')) {
      const ns = b.metadata.namespace ?? '';
      expect(checkNamespace(DEFAULT_KUBE_SCOPE, ns).ok, `RoleBinding ${b.metadata.name} in ${ns}`).toBe(true);
      expect(checkNamespace(shipped, ns).ok, `RoleBinding ${b.metadata.name} in ${ns}: not in config.yaml's K8S_ALLOWED_NAMESPACES`).toBe(true);
      expect(DEFAULT_KUBE_SCOPE.systemNamespaces).not.toContain(ns);
    }
  });

  it('documents the cluster-wide variant in docs/deploy.md ("RBAC"), without applying it', () => {
    const docsText = readText('docs/deploy.md');
    const section = docsText.slice(docsText.indexOf('## RBAC'), docsText.indexOf('\n## ', docsText.indexOf('## RBAC') + 1));
    const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].flatMap((m) => Array.from(parseAllDocuments(m[1] ?? '')).map((d) => d.toJS() as unknown));
    const variant = blocks.map((v) => Binding.safeParse(v)).find((r) => r.success && r.data.kind === 'ClusterRoleBinding' && r.data.roleRef.name === 'dr-chatops-workloads');
    expect(variant?.data?.subjects.map((x) => `${x.kind}/${x.name}`).sort()).toEqual(['Group/dr-chatops', 'ServiceAccount/dr-chatops']);
    expect(bindings.some((b) => b.kind === 'ClusterRoleBinding' && b.roleRef.name === 'dr-chatops-workloads')).toBe(false);
  });

  it('says above each rule which step needs it', () => {
    expectEveryRuleNamesItsStep(roles);
  });
});

describe('deploy/target-cluster/rbac.yaml (every target cluster the bot does not run in)', () => {
  const used = permissionsUsedByCode();
  const target = rbacFile('deploy/target-cluster/rbac.yaml');
  const ruleSet = (r: Pick<RoleDoc, 'rules'>) => [...new Set(granted(r))].sort();
  const roleShape = (r: RoleDoc) => ({ kind: r.kind, name: r.metadata.name, namespace: r.metadata.namespace, grants: ruleSet(r) });
  const bindingShape = (b: BindingDoc) => ({ kind: b.kind, name: b.metadata.name, namespace: b.metadata.namespace, roleRef: b.roleRef });

  it('grants exactly what the steps call, no more, no less', () => {
    expect([...new Set(target.roles.flatMap(granted))].sort()).toEqual([...used.keys()].sort());
  });

  it('has the roles of deploy/kubernetes/rbac.yaml, rule for rule, in the same namespaces', () => {
    // Same names and scopes: the per-namespace and Velero-only limits hold on a target cluster too.
    const byName = (a: { kind: string; name: string }, b: { kind: string; name: string }) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`);
    expect(target.roles.map(roleShape).sort(byName)).toEqual(roles.map(roleShape).sort(byName));
    expect(target.bindings.map(bindingShape).sort(byName)).toEqual(bindings.map(bindingShape).sort(byName));
    for (const r of target.roles) {
      for (const rule of r.rules) {
        for (const v of [...rule.apiGroups, ...rule.resources, ...rule.verbs, ...(rule.resourceNames ?? [])]) expect(v, r.metadata.name).not.toContain('*');
      }
    }
  });

  it('binds every role to the group dr-chatops only: the bot’s IAM role, mapped by an access entry, not a ServiceAccount', () => {
    for (const b of target.bindings) expect(b.subjects.map((x) => `${x.kind}/${x.name}`), b.metadata.name).toEqual(['Group/dr-chatops']);
    for (const r of target.roles) expect(target.bindings.some((b) => b.roleRef.name === r.metadata.name && b.roleRef.kind === r.kind), `${r.kind} ${r.metadata.name} is not bound`).toBe(true);
  });

  it('creates the drill configuration namespace its Role lives in', () => {
    const namespaces = target.docs.filter((d) => kindOf(d.value) === 'Namespace').map((d) => (d.value as { metadata: { name: string } }).metadata.name);
    expect(namespaces).toEqual(['dr-drill-config']);
    expect(target.roles.some((r) => r.metadata.namespace === 'dr-drill-config')).toBe(true);
  });

  it('says above each rule which step needs it', () => {
    expectEveryRuleNamesItsStep(target.roles);
  });

  it('is applied on target clusters, not with the bot’s kustomization', () => {
    const kustomization = yamlDocs('deploy/kubernetes/kustomization.yaml')[0]?.value as { resources?: string[] };
    expect((kustomization.resources ?? []).some((r) => r.includes('target-cluster'))).toBe(false);
  });

  it('documents mapping the IAM role into the group with an EKS access entry (docs/targets.md)', () => {
    const text = readText('docs/targets.md');
    const commands = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').join('\n');
    const entry = /aws eks create-access-entry(?:\\\n|[^\n])*/.exec(commands)?.[0] ?? '';
    expect(entry).toContain('--kubernetes-groups dr-chatops');
    expect(commands).toContain('apply -f deploy/target-cluster/rbac.yaml');
  });
});
