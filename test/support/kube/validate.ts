/**
 * Checks objects against the Kubernetes OpenAPI schemas (the npm package
 * kubernetes-models), as the API server does before it stores a write: a
 * refusal is 422 `Invalid` with the server's wording and changes nothing.
 */
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Scale } from 'kubernetes-models/autoscaling/v1/Scale';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Node } from 'kubernetes-models/v1/Node';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Eviction } from 'kubernetes-models/policy/v1/Eviction';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import type { Obj } from '../fake-velero.ts';
import { type KubeErrorCause, KubeError } from '../kube-error.ts';

interface Validating {
  validate(): void;
}
type Model = new (data: never) => Validating;

/** By `apiVersion/kind`. */
const MODELS: Record<string, Model> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/ReplicaSet': ReplicaSet,
  'apps/v1/StatefulSet': StatefulSet,
  'apps/v1/DaemonSet': DaemonSet,
  'autoscaling/v1/Scale': Scale,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1/CronJob': CronJob,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Node': Node,
  'policy/v1/Eviction': Eviction,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'v1/Service': Service,
};

interface SchemaError {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: { missingProperty?: string };
}

/** `/spec/ports/0/port` → `spec.ports[0].port`, as the API server names fields. */
function fieldPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

function valueAt(obj: unknown, pointer: string): unknown {
  let node = obj;
  for (const part of pointer.split('/').slice(1)) node = (node as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return node;
}

/** Throws 422 Invalid when `obj` does not match its kind's schema; kinds without a schema here pass. */
export function validateObject(obj: Obj): void {
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  const ModelClass = MODELS[`${apiVersion}/${kind}`];
  if (!ModelClass) return;
  // What goes over the wire: a JSON copy (no undefined members).
  const data = JSON.parse(JSON.stringify(obj)) as Obj;
  try {
    new ModelClass(data as never).validate();
  } catch (err) {
    const errors = ((err as { errors?: SchemaError[] }).errors ?? [{ instancePath: '', message: String(err) }]).filter((e) => e.message);
    const metadata = (data.metadata ?? {}) as { name?: string };
    const group = apiVersion.includes('/') ? apiVersion.split('/')[0] ?? '' : '';
    const causes: KubeErrorCause[] = errors.map((e) => {
      const pointer = e.instancePath ?? '';
      // A missing field is named itself, as the API server's `Required value` does.
      if (e.keyword === 'required' && e.params?.missingProperty) {
        const missing = fieldPath(`${pointer}/${e.params.missingProperty}`);
        return { reason: 'FieldValueRequired', field: missing, message: 'Required value' };
      }
      const field = fieldPath(pointer);
      return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${JSON.stringify(valueAt(data, pointer) ?? null)}: ${field} in body ${e.message ?? 'is invalid'}` };
    });
    const what = `${kind}${group ? `.${group}` : ''} "${metadata.name ?? ''}"`;
    throw new KubeError(422, 'Invalid', `${what} is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, {
      ...(metadata.name ? { name: metadata.name } : {}),
      group,
      kind,
      causes,
    });
  }
}
