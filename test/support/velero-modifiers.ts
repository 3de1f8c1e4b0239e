/**
 * What Velero does to a backed-up object before it restores it, for the fake:
 * resource filters (included/excluded resources, by plural or plural.group)
 * and resource modifiers (a ConfigMap with one data key holding
 * `version: v1` and `resourceModifierRules`; conditions on the group-resource,
 * the *source* namespace, a name regex and `matches` (JSON-pointer value
 * tests); then JSON patches, JSON merge patches or strategic merge patches,
 * one kind per rule). As in vmware-tanzu/velero internal/resourcemodifiers.
 */
import { parse } from 'yaml';
import { z } from 'zod';

export type Obj = Record<string, unknown>;

/** `services`, `deployments.apps`, `ingresses.networking.k8s.io`: how Velero names a resource in filters and conditions. */
export function groupResourceOf(obj: Obj): { plural: string; groupResource: string } {
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : 'v1';
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] ?? '' : '';
  const kind = (typeof obj.kind === 'string' ? obj.kind : '').toLowerCase();
  const plural = kind === 'endpoints' ? kind : kind.endsWith('s') ? `${kind}es` : kind.endsWith('y') ? `${kind.slice(0, -1)}ies` : `${kind}s`;
  return { plural, groupResource: group ? `${plural}.${group}` : plural };
}

/** A filter entry names a resource by plural (resolved by discovery), plural.group, or `*`. */
export function resourceMatches(entries: readonly string[], obj: Obj): boolean {
  const { plural, groupResource } = groupResourceOf(obj);
  return entries.some((e) => e === '*' || e === plural || e === groupResource);
}

const JsonPatchOp = z.strictObject({ operation: z.string().min(1), from: z.string().optional(), path: z.string().min(1), value: z.string().optional() });
const Rule = z.strictObject({
  conditions: z.strictObject({
    groupResource: z.string().min(1),
    namespaces: z.array(z.string()).optional(),
    resourceNameRegex: z.string().optional(),
    labelSelector: z.strictObject({ matchLabels: z.record(z.string(), z.string()).optional() }).optional(),
    matches: z.array(z.strictObject({ path: z.string().min(1), value: z.string().optional() })).optional(),
  }),
  patches: z.array(JsonPatchOp).optional(),
  mergePatches: z.array(z.strictObject({ patchData: z.string() })).optional(),
  strategicPatches: z.array(z.strictObject({ patchData: z.string() })).optional(),
});
const Modifiers = z.strictObject({ version: z.string(), resourceModifierRules: z.array(Rule) });
export type ResourceModifiers = z.infer<typeof Modifiers>;

/** Reads the modifiers as Velero validates them; a string is the reason Velero refuses them. */
export function readModifiers(configMap: Obj): ResourceModifiers | string {
  const data = (configMap.data ?? {}) as Record<string, string>;
  const values = Object.values(data);
  if (values.length !== 1) return 'illegal resource modifiers configmap: it must have exactly one data key';
  let doc: unknown;
  try {
    doc = parse(values[0] ?? '');
  } catch (err) {
    return `failed to decode yaml data into resource modifiers, err: ${String(err)}`;
  }
  const parsed = Modifiers.safeParse(doc);
  if (!parsed.success) return `failed to decode yaml data into resource modifiers, err: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
  if (parsed.data.version.toLowerCase() !== 'v1') return `unsupported resource modifier version ${parsed.data.version}`;
  if (parsed.data.resourceModifierRules.length === 0) return 'resource modifier rules cannot be empty';
  for (const rule of parsed.data.resourceModifierRules) {
    if ([rule.patches, rule.mergePatches, rule.strategicPatches].filter((p) => p?.length).length > 1) return 'only one of patches, mergePatches, strategicPatches can be specified';
  }
  return parsed.data;
}

/** Applies every matching rule; conditions are matched against the object as backed up (its source namespace). */
export function applyModifiers(modifiers: ResourceModifiers, obj: Obj): Obj {
  const origin = structuredClone(obj);
  let out = structuredClone(obj);
  const metadata = (origin.metadata ?? {}) as Obj;
  for (const rule of modifiers.resourceModifierRules) {
    const c = rule.conditions;
    const glob = new RegExp(`^${c.groupResource.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*')}$`);
    if (!glob.test(groupResourceOf(origin).groupResource)) continue;
    if (c.namespaces?.length && typeof metadata.namespace === 'string' && !c.namespaces.includes(metadata.namespace)) continue;
    if (c.resourceNameRegex && !new RegExp(c.resourceNameRegex).test(String(metadata.name))) continue;
    const labels = (metadata.labels ?? {}) as Record<string, string>;
    if (c.labelSelector?.matchLabels && !Object.entries(c.labelSelector.matchLabels).every(([k, v]) => labels[k] === v)) continue;
    if (!(c.matches ?? []).every((m) => JSON.stringify(pointer(origin, m.path)) === JSON.stringify(patchValue(m.value)))) continue;
    for (const p of rule.mergePatches ?? []) out = mergePatch(out, parse(p.patchData) as unknown) as Obj;
    for (const p of rule.strategicPatches ?? []) out = mergePatch(out, parse(p.patchData) as unknown) as Obj;
    for (const p of rule.patches ?? []) out = jsonPatch(out, p);
  }
  return out;
}

/** Velero's string value of a JSON patch: JSON when it looks like JSON (number, bool, null, object, array), else a string. */
function patchValue(value: string | undefined): unknown {
  if (value === undefined) return '';
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function pointer(obj: unknown, path: string): unknown {
  let node: unknown = obj;
  for (const key of path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'))) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Obj)[key];
  }
  return node;
}

function jsonPatch(obj: Obj, op: z.infer<typeof JsonPatchOp>): Obj {
  const out = structuredClone(obj);
  const keys = op.path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = keys.pop() ?? '';
  let node: Obj = out;
  for (const k of keys) node = (node[k] ??= {}) as Obj;
  const operation = op.operation.toLowerCase();
  if (operation === 'test') return JSON.stringify(node[last]) === JSON.stringify(patchValue(op.value)) ? out : obj;
  if (operation === 'remove') Reflect.deleteProperty(node, last);
  else node[last] = patchValue(op.value);
  return out;
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const base: Obj = typeof target === 'object' && target !== null && !Array.isArray(target) ? (target as Obj) : {};
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(patch as Obj)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
