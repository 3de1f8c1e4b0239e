import { V1ConfigMap, V1Namespace, V1ObjectMeta, type V1PodSpec, V1Secret } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { KubeApis } from '../../targets/kube.ts';
import { classifyKubeError, FIELD_MANAGER, statusCode } from '../kube/api.ts';
import { PermanentStepError } from '../types.ts';

/**
 * Isolation of a drill from production, with Velero's own means:
 * - resource filters (`excludedResources`) leave out whatever would act on
 *   production from the drill namespace: traffic (Ingresses, which also join
 *   production's ALB through an AWS Load Balancer Controller IngressGroup;
 *   Gateway API routes, which attach to production's gateways; target group
 *   bindings), schedules (CronJobs, Jobs), autoscalers (HPA, KEDA), DNS and
 *   certificates (external-dns, cert-manager), and production's configuration
 *   (Secrets, ConfigMaps: database hosts and credentials);
 * - a resource modifier ConfigMap (Velero ≥ 1.12, `spec.resourceModifier`) that
 *   turns LoadBalancer and NodePort Services into ClusterIP ones and strips the
 *   annotations through which external-dns and EKS (IRSA) act for production;
 * - the drill's own configuration, copied from a namespace (`configFrom`).
 * Velero matches resource-modifier conditions against the backed-up (source)
 * namespace, not the mapped one.
 */
export const ISOLATION_EXCLUDED_RESOURCES: readonly string[] = [
  'ingresses.networking.k8s.io',
  'httproutes.gateway.networking.k8s.io',
  'grpcroutes.gateway.networking.k8s.io',
  'tlsroutes.gateway.networking.k8s.io',
  'targetgroupbindings.elbv2.k8s.aws',
  'cronjobs.batch',
  'jobs.batch',
  'horizontalpodautoscalers.autoscaling',
  'scaledobjects.keda.sh',
  'scaledjobs.keda.sh',
  'certificates.cert-manager.io',
  'certificaterequests.cert-manager.io',
  'issuers.cert-manager.io',
  'orders.acme.cert-manager.io',
  'challenges.acme.cert-manager.io',
  'dnsendpoints.externaldns.k8s.io',
  'secrets',
  'configmaps',
];

/** Left out of an isolated restore unless `includeVolumes`: Retain PVs without snapshots would be production's own disks. */
export const VOLUME_RESOURCES: readonly string[] = ['persistentvolumeclaims', 'persistentvolumes'];

/** What the plan says is left out, in words. */
export const LEFT_OUT_SUMMARY =
  'Ingresses, Gateway API routes, target group bindings, CronJobs, Jobs, HPAs, KEDA ScaledObjects/ScaledJobs, cert-manager Certificates/Issuers, external-dns DNSEndpoints, Secrets, ConfigMaps';
export const CHANGES_SUMMARY =
  'LoadBalancer and NodePort Services become ClusterIP (no load balancer, no node port); external-dns annotations and EKS IAM role annotations (eks.amazonaws.com/role-arn) are removed';

/** The fields a ClusterIP Service may not keep from a LoadBalancer or NodePort one (merge patch: null removes). */
const TO_CLUSTER_IP = {
  spec: {
    type: 'ClusterIP',
    externalTrafficPolicy: null,
    healthCheckNodePort: null,
    loadBalancerClass: null,
    loadBalancerIP: null,
    loadBalancerSourceRanges: null,
    allocateLoadBalancerNodePorts: null,
    externalIPs: null,
  },
};

const EXTERNAL_DNS_ANNOTATIONS = ['hostname', 'internal-hostname', 'target', 'ttl', 'alias', 'set-identifier', 'aws-weight', 'controller', 'access'].map(
  (a) => `external-dns.alpha.kubernetes.io/${a}`,
);

/** Velero's resource-modifier document (`version: v1`, `resourceModifierRules`), for the source namespaces. */
export function isolationModifiers(sourceNamespaces: readonly string[]): Record<string, unknown> {
  const namespaces = [...sourceNamespaces];
  const nullAll = (keys: readonly string[]) => Object.fromEntries(keys.map((k) => [k, null]));
  const merge = (patch: unknown) => [{ patchData: JSON.stringify(patch) }];
  return {
    version: 'v1',
    resourceModifierRules: [
      ...['LoadBalancer', 'NodePort'].map((type) => ({
        conditions: { groupResource: 'services', namespaces, matches: [{ path: '/spec/type', value: type }] },
        mergePatches: merge(TO_CLUSTER_IP),
      })),
      { conditions: { groupResource: 'services', namespaces }, mergePatches: merge({ metadata: { annotations: nullAll(EXTERNAL_DNS_ANNOTATIONS) } }) },
      { conditions: { groupResource: 'serviceaccounts', namespaces }, mergePatches: merge({ metadata: { annotations: nullAll(['eks.amazonaws.com/role-arn']) } }) },
    ],
  };
}

/** The ConfigMap Velero reads the modifiers from: in Velero's namespace, with exactly one data key (Velero refuses more); plain YAML, no anchors. */
export function modifierConfigMap(name: string, veleroNamespace: string, runId: string, sourceNamespaces: readonly string[]): V1ConfigMap {
  return configMap(meta({ name, namespace: veleroNamespace, labels: { 'dr-chatops/run': runId } }), { 'resource-modifiers.yaml': stringify(isolationModifiers(sourceNamespaces), { aliasDuplicateObjects: false }) });
}

/** The client's model classes, built as such (the body types of the typed calls). */
function meta(fields: Pick<V1ObjectMeta, 'name' | 'namespace' | 'labels'>): V1ObjectMeta {
  return Object.assign(new V1ObjectMeta(), fields);
}

function configMap(metadata: V1ObjectMeta, data: Record<string, string> | undefined, binaryData?: Record<string, string>): V1ConfigMap {
  return Object.assign(new V1ConfigMap(), { apiVersion: 'v1', kind: 'ConfigMap', metadata, ...(data ? { data } : {}), ...(binaryData ? { binaryData } : {}) });
}

/** Creates what the restore will reference; one left by an earlier attempt of this step is kept. */
export async function createModifierConfigMap(api: KubeApis, body: V1ConfigMap): Promise<void> {
  const namespace = body.metadata?.namespace ?? '';
  try {
    await api.core.createNamespacedConfigMap({ namespace, body, fieldValidation: 'Strict', fieldManager: FIELD_MANAGER });
  } catch (err) {
    if (statusCode(err) !== 409) throw classifyKubeError(err, `creating the resource modifier ConfigMap ${namespace}/${body.metadata?.name ?? ''}`);
  }
}

/** Velero reads the modifiers when it validates the restore; afterwards the ConfigMap is litter. */
export async function deleteModifierConfigMap(api: KubeApis, namespace: string, name: string): Promise<void> {
  try {
    await api.core.deleteNamespacedConfigMap({ namespace, name });
  } catch (err) {
    if (statusCode(err) !== 404) throw classifyKubeError(err, `deleting the resource modifier ConfigMap ${namespace}/${name}`);
  }
}

/** What the source namespace's workloads need, as it holds them now (the backup's own copy is in object storage). */
export interface SourceNeeds {
  /** Secret name → the workloads that reference it. */
  secrets: Map<string, string[]>;
  configMaps: Map<string, string[]>;
  /** PVC name → the workloads that mount it (empty: mounted by none). */
  claims: Map<string, string[]>;
}

/** ConfigMaps Kubernetes itself publishes in every namespace. */
const PUBLISHED_CONFIGMAPS = new Set(['kube-root-ca.crt']);

export async function sourceNeeds(api: KubeApis, namespace: string): Promise<SourceNeeds> {
  const needs: SourceNeeds = { secrets: new Map(), configMaps: new Map(), claims: new Map() };
  const add = (map: Map<string, string[]>, name: string | undefined, who: string) => {
    if (name && !(map === needs.configMaps && PUBLISHED_CONFIGMAPS.has(name))) map.set(name, [...new Set([...(map.get(name) ?? []), who])]);
  };
  const workloads: { who: string; spec: V1PodSpec | undefined }[] = [];
  /** PVC name prefixes of StatefulSet claim templates: replica n gets `<template>-<set>-<n>`. */
  const claimPrefixes: { prefix: string; who: string }[] = [];
  const deployments = await listOrNone(() => api.apps.listNamespacedDeployment({ namespace }), `listing deployments in ${namespace}`);
  for (const d of deployments?.items ?? []) workloads.push({ who: `deployment ${d.metadata?.name ?? '?'}`, spec: d.spec?.template.spec });
  const statefulSets = await listOrNone(() => api.apps.listNamespacedStatefulSet({ namespace }), `listing statefulsets in ${namespace}`);
  for (const s of statefulSets?.items ?? []) {
    const who = `statefulset ${s.metadata?.name ?? '?'}`;
    workloads.push({ who, spec: s.spec?.template.spec });
    for (const t of s.spec?.volumeClaimTemplates ?? []) claimPrefixes.push({ prefix: `${t.metadata?.name ?? ''}-${s.metadata?.name ?? ''}-`, who });
  }
  const mounts = new Map<string, string[]>();
  for (const { who, spec } of workloads) {
    for (const v of spec?.volumes ?? []) {
      add(needs.secrets, v.secret?.secretName, who);
      add(needs.configMaps, v.configMap?.name, who);
      add(mounts, v.persistentVolumeClaim?.claimName, who);
      for (const s of v.projected?.sources ?? []) {
        add(needs.secrets, s.secret?.name, who);
        add(needs.configMaps, s.configMap?.name, who);
      }
    }
    for (const ref of spec?.imagePullSecrets ?? []) add(needs.secrets, ref.name, who);
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
      for (const e of c.env ?? []) {
        add(needs.secrets, e.valueFrom?.secretKeyRef?.name, who);
        add(needs.configMaps, e.valueFrom?.configMapKeyRef?.name, who);
      }
      for (const e of c.envFrom ?? []) {
        add(needs.secrets, e.secretRef?.name, who);
        add(needs.configMaps, e.configMapRef?.name, who);
      }
    }
  }
  const pvcs = await listOrNone(() => api.core.listNamespacedPersistentVolumeClaim({ namespace }), `listing persistentvolumeclaims in ${namespace}`);
  for (const name of namesOf(pvcs?.items ?? [])) {
    const templated = claimPrefixes.filter((c) => name.startsWith(c.prefix)).map((c) => c.who);
    needs.claims.set(name, [...new Set([...(mounts.get(name) ?? []), ...templated])]);
  }
  return needs;
}

/** The drill configuration namespace's Secrets and ConfigMaps (by name; values are never shown). */
export interface DrillConfig {
  secrets: V1Secret[];
  configMaps: V1ConfigMap[];
}

/** Secrets Kubernetes makes per namespace (service account tokens) are not configuration. */
const copyable = (s: V1Secret) => s.type !== 'kubernetes.io/service-account-token';

export async function readDrillConfig(api: KubeApis, namespace: string): Promise<DrillConfig> {
  const secrets = await listOrNone(() => api.core.listNamespacedSecret({ namespace }), `listing Secrets in ${namespace}`);
  const configMaps = await listOrNone(() => api.core.listNamespacedConfigMap({ namespace }), `listing ConfigMaps in ${namespace}`);
  return {
    secrets: (secrets?.items ?? []).filter(copyable),
    configMaps: (configMaps?.items ?? []).filter((c) => !PUBLISHED_CONFIGMAPS.has(c.metadata?.name ?? '')),
  };
}

export function namesOf(objects: readonly { metadata?: { name?: string } }[]): string[] {
  return objects.map((o) => o.metadata?.name ?? '').filter(Boolean).sort();
}

/** Referenced configuration the drill config lacks, as `Secret x (deployment api)`. */
export function missingConfig(needs: SourceNeeds, config: DrillConfig | undefined): string[] {
  const have = { secrets: new Set(namesOf(config?.secrets ?? [])), configMaps: new Set(namesOf(config?.configMaps ?? [])) };
  const missing = (kind: string, refs: Map<string, string[]>, names: Set<string>) =>
    [...refs].filter(([name]) => !names.has(name)).sort(([a], [b]) => a.localeCompare(b)).map(([name, who]) => `${kind} ${name} (${who.join(', ')})`);
  return [...missing('Secret', needs.secrets, have.secrets), ...missing('ConfigMap', needs.configMaps, have.configMaps)];
}

/**
 * The drill namespace exists before the restore, so the copied configuration
 * is there when its pods start. It must be new: a namespace this run did not
 * make may hold production's Secrets, which the copy would keep (it never
 * overwrites), so the drill would not be isolated.
 */
export async function ensureNamespace(api: KubeApis, name: string, runId: string): Promise<void> {
  try {
    const body = Object.assign(new V1Namespace(), { apiVersion: 'v1', kind: 'Namespace', metadata: meta({ name, labels: { [RUN_LABEL]: runId, 'dr-chatops/drill': 'true' } }) });
    await api.core.createNamespace({ body, fieldManager: FIELD_MANAGER });
  } catch (err) {
    if (statusCode(err) !== 409) throw classifyKubeError(err, `creating the drill namespace ${name}`);
    const existing = await api.core.readNamespace({ name }).catch((e: unknown) => {
      throw classifyKubeError(e, `reading the drill namespace ${name}`);
    });
    if (existing.metadata?.labels?.[RUN_LABEL] !== runId) {
      throw new PermanentStepError(`namespace ${name} already exists and was not made by this run: an isolated restore goes into a new namespace (delete ${name} or restore into another)`);
    }
  }
}

const RUN_LABEL = 'dr-chatops/run';

/** Copies the drill configuration into the drill namespace; a copy already there (an earlier attempt) is kept. */
export async function copyDrillConfig(api: KubeApis, config: DrillConfig, into: string, runId: string): Promise<number> {
  const metadataFor = (o: { metadata?: V1ObjectMeta }) => meta({ name: o.metadata?.name ?? '', namespace: into, labels: { 'dr-chatops/run': runId, 'dr-chatops/copied-from': o.metadata?.namespace ?? '' } });
  let copied = 0;
  for (const s of config.secrets) {
    const body = Object.assign(new V1Secret(), { apiVersion: 'v1', kind: 'Secret', metadata: metadataFor(s), ...(s.type ? { type: s.type } : {}), ...(s.data ? { data: s.data } : {}) });
    copied += await createKept(() => api.core.createNamespacedSecret({ namespace: into, body, fieldManager: FIELD_MANAGER }), `copying Secret ${s.metadata?.name ?? ''} into ${into}`);
  }
  for (const c of config.configMaps) {
    const body = configMap(metadataFor(c), c.data, c.binaryData);
    copied += await createKept(() => api.core.createNamespacedConfigMap({ namespace: into, body, fieldManager: FIELD_MANAGER }), `copying ConfigMap ${c.metadata?.name ?? ''} into ${into}`);
  }
  return copied;
}

async function createKept(create: () => Promise<unknown>, doing: string): Promise<number> {
  try {
    await create();
    return 1;
  } catch (err) {
    if (statusCode(err) === 409) return 0;
    throw classifyKubeError(err, doing);
  }
}

/** A list of a kind the cluster does not serve (404) is empty; anything else is an error. */
async function listOrNone<T>(list: () => Promise<T>, doing: string): Promise<T | undefined> {
  try {
    return await list();
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw classifyKubeError(err, doing);
  }
}
