/**
 * Velero's v1 Restore and Backup as the API server checks them: field names,
 * types, required fields, written by hand from Velero's CRDs
 * (vmware-tanzu/velero config/crd/v1/bases/velero.io_restores.yaml and
 * velero.io_backups.yaml, main as of 2026-05). Descriptions are left out; hook
 * bodies are checked only to the first level.
 *
 * What the API server does with a structural CRD schema (no
 * x-kubernetes-preserve-unknown-fields here, except inside hooks' init
 * containers): a field the schema does not know is *pruned*, not refused. With
 * `fieldValidation=Warn` (the default since Kubernetes 1.23) the response
 * carries a warning per dropped field; with `Strict` the request fails 400
 * BadRequest (`strict decoding error: unknown field "spec.x"`); with `Ignore`
 * it is dropped silently. A wrong type or a missing required field fails 422
 * Invalid. Enums the CRD does not declare (Restore existingResourcePolicy is a
 * plain string) are Velero's to check: the restore ends FailedValidation.
 */
import { z } from 'zod';

const strings = z.array(z.string()).nullable();
const selector = z
  .strictObject({
    matchLabels: z.record(z.string(), z.string()).optional(),
    matchExpressions: z.array(z.strictObject({ key: z.string(), operator: z.string(), values: z.array(z.string()).optional() })).optional(),
  })
  .nullable();
const typedRef = z.strictObject({ apiGroup: z.string().optional(), kind: z.string(), name: z.string() }).nullable();
const hookResource = z.strictObject({
  name: z.string(),
  includedNamespaces: strings.optional(),
  excludedNamespaces: strings.optional(),
  includedResources: strings.optional(),
  excludedResources: strings.optional(),
  labelSelector: selector.optional(),
  // The hook bodies (exec / init) are not modelled further.
  pre: z.array(z.unknown()).optional(),
  post: z.array(z.unknown()).optional(),
  postHooks: z.array(z.unknown()).optional(),
});
const metadata = z.looseObject({ name: z.string().optional(), namespace: z.string().optional(), labels: z.record(z.string(), z.string()).optional() });

export const RestoreCrd = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: metadata.optional(),
  spec: z
    .strictObject({
      backupName: z.string().optional(),
      scheduleName: z.string().optional(),
      includedNamespaces: strings.optional(),
      excludedNamespaces: strings.optional(),
      includedResources: strings.optional(),
      excludedResources: strings.optional(),
      namespaceMapping: z.record(z.string(), z.string()).optional(),
      labelSelector: selector.optional(),
      orLabelSelectors: z.array(selector.unwrap()).nullable().optional(),
      restorePVs: z.boolean().nullable().optional(),
      restoreStatus: z.strictObject({ includedResources: strings.optional(), excludedResources: strings.optional() }).nullable().optional(),
      preserveNodePorts: z.boolean().nullable().optional(),
      includeClusterResources: z.boolean().nullable().optional(),
      hooks: z.strictObject({ resources: z.array(hookResource.omit({ pre: true, post: true })).optional() }).optional(),
      existingResourcePolicy: z.string().nullable().optional(),
      itemOperationTimeout: z.string().optional(),
      resourceModifier: typedRef.optional(),
      uploaderConfig: z.strictObject({ writeSparseFiles: z.boolean().nullable().optional(), parallelFilesDownload: z.number().int().optional() }).nullable().optional(),
    })
    .optional(),
  // Written by Velero, not by clients; its fields are not checked here.
  status: z.record(z.string(), z.unknown()).optional(),
});

export const BackupCrd = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: metadata.optional(),
  spec: z
    .strictObject({
      csiSnapshotTimeout: z.string().optional(),
      datamover: z.string().optional(),
      defaultVolumesToFsBackup: z.boolean().nullable().optional(),
      defaultVolumesToRestic: z.boolean().nullable().optional(),
      includedNamespaces: strings.optional(),
      excludedNamespaces: strings.optional(),
      includedResources: strings.optional(),
      excludedResources: strings.optional(),
      includedClusterScopedResources: strings.optional(),
      excludedClusterScopedResources: strings.optional(),
      includedNamespaceScopedResources: strings.optional(),
      excludedNamespaceScopedResources: strings.optional(),
      includeClusterResources: z.boolean().nullable().optional(),
      hooks: z.strictObject({ resources: z.array(hookResource.omit({ postHooks: true })).optional() }).optional(),
      itemOperationTimeout: z.string().optional(),
      labelSelector: selector.optional(),
      orLabelSelectors: z.array(selector.unwrap()).nullable().optional(),
      metadata: z.strictObject({ labels: z.record(z.string(), z.string()).optional() }).optional(),
      orderedResources: z.record(z.string(), z.string()).nullable().optional(),
      resourcePolicy: typedRef.optional(),
      snapshotMoveData: z.boolean().nullable().optional(),
      snapshotVolumes: z.boolean().nullable().optional(),
      storageLocation: z.string().optional(),
      ttl: z.string().optional(),
      uploaderConfig: z.strictObject({ parallelFilesUpload: z.number().int().optional() }).nullable().optional(),
      volumeGroupSnapshotLabelKey: z.string().optional(),
      volumeSnapshotLocations: z.array(z.string()).optional(),
    })
    .optional(),
  status: z.record(z.string(), z.unknown()).optional(),
});

/** Restore spec values Velero itself accepts for existingResourcePolicy (pkg/util/restore IsResourcePolicyValid). */
export const EXISTING_RESOURCE_POLICIES = ['none', 'update'] as const;

export interface CrdCheck {
  /** Unknown fields, as `spec.foo` (the API server drops them, or refuses them under Strict). */
  unknown: string[];
  /** Wrong types and missing required fields (422 Invalid). */
  invalid: string[];
  /** The object as stored: unknown fields removed. */
  pruned: Record<string, unknown>;
}

export function checkCrd(schema: z.ZodType, body: unknown): CrdCheck {
  const pruned = structuredClone((body ?? {}) as Record<string, unknown>);
  const result = schema.safeParse(body);
  const unknown: string[] = [];
  const invalid: string[] = [];
  for (const issue of result.error?.issues ?? []) {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      let node: unknown = pruned;
      for (const key of path) node = (node as Record<string, unknown>)[key];
      for (const key of issue.keys) {
        unknown.push([...path, key].join('.'));
        Reflect.deleteProperty(node as Record<string, unknown>, key);
      }
    } else {
      invalid.push(`${path.join('.') || '<root>'}: ${issue.message}`);
    }
  }
  return { unknown, invalid, pruned };
}
