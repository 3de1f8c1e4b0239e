/**
 * A deployment's scale subresource (`/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale`),
 * as the API server serves it: an `autoscaling/v1` Scale made from the
 * deployment (name, namespace, uid and resourceVersion of the deployment,
 * `spec.replicas`, `status.replicas` and `status.selector` as a label
 * selector string). GET reads it; PUT replaces it and PATCH patches it (JSON,
 * merge or strategic merge patch), and only `spec.replicas` goes back to the
 * deployment, with the Scale's resourceVersion as a precondition (409 when
 * stale). The Scale's labels or annotations change nothing. A Scale with
 * another name is 400; a negative count is 422, as ValidateScale says.
 */
import type { Obj } from '../fake-velero.ts';
import { KubeError } from '../kube-error.ts';
import type { DeploymentStore, FakeDeployment } from './deployments.ts';
import { applyPatch } from './patch.ts';
import { validateObject } from './validate.ts';

/** The Scale of a deployment as the API server returns it (GET, and the answer to a write). */
export function scaleOf(deployment: Obj): Obj {
  const metadata = (deployment.metadata ?? {}) as { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
  const spec = (deployment.spec ?? {}) as { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
  const status = (deployment.status ?? {}) as { replicas?: number };
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: metadata.name, namespace: metadata.namespace, uid: metadata.uid, resourceVersion: metadata.resourceVersion },
    spec: { replicas: spec.replicas ?? 0 },
    status: { replicas: status.replicas ?? 0, selector: Object.entries(spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') },
  };
}

export interface ScaleRequest {
  method: string;
  contentType: string;
  body: unknown;
  /** How long the pods a scale-down removes keep terminating, and how long new ones take to become ready. */
  terminationMs: number;
  rolloutMs: number;
}

export function scaleRoute(apps: DeploymentStore, d: FakeDeployment, request: ScaleRequest): [number, Obj] {
  const current = scaleOf(apps.json(d));
  if (request.method === 'GET') return [200, current];
  let wanted: Obj;
  if (request.method === 'PUT') {
    wanted = (request.body ?? {}) as Obj;
    if ((wanted.kind !== undefined && wanted.kind !== 'Scale') || (wanted.apiVersion !== undefined && wanted.apiVersion !== 'autoscaling/v1')) {
      throw new KubeError(400, 'BadRequest', `the API version in the data (${String(wanted.apiVersion)}) does not match the expected API version (autoscaling/v1)`);
    }
  } else if (request.method === 'PATCH') {
    wanted = applyPatch(current, request.contentType, request.body);
  } else {
    throw new KubeError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  }
  const metadata = (wanted.metadata ?? {}) as { name?: string; namespace?: string; resourceVersion?: string };
  if (metadata.name !== d.name) throw new KubeError(400, 'BadRequest', `the name of the object (${metadata.name ?? ''}) does not match the name on the URL (${d.name})`);
  if (metadata.namespace !== undefined && metadata.namespace !== d.namespace) throw new KubeError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
  validateObject({ ...wanted, apiVersion: 'autoscaling/v1', kind: 'Scale' });
  // autoscaling/v1 ScaleSpec.replicas is optional: left out, it is 0.
  const replicas = (wanted.spec as { replicas?: number } | undefined)?.replicas ?? 0;
  if (replicas < 0) {
    const message = `Invalid value: ${replicas}: must be greater than or equal to 0`;
    throw new KubeError(422, 'Invalid', `Scale.autoscaling "${d.name}" is invalid: spec.replicas: ${message}`, {
      name: d.name,
      group: 'autoscaling',
      kind: 'Scale',
      causes: [{ reason: 'FieldValueInvalid', message, field: 'spec.replicas' }],
    });
  }
  if (metadata.resourceVersion !== undefined && metadata.resourceVersion !== '' && metadata.resourceVersion !== String(d.resourceVersion)) {
    throw new KubeError(409, 'Conflict', `Operation cannot be fulfilled on deployments.apps "${d.name}": the object has been modified; please apply your changes to the latest version and try again`);
  }
  apps.scale(d, replicas, { terminationMs: request.terminationMs, rolloutMs: request.rolloutMs });
  return [200, scaleOf(apps.json(d))];
}
