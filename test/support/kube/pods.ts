/**
 * Pods that stay listed in real namespaces besides running ones: Jobs' and
 * CronJobs' finished pods (`Succeeded`; a CronJob keeps 3 successful and 1
 * failed Job by default) and evicted pods (`Failed`, reason `Evicted`).
 */
import { randomUUID } from 'node:crypto';
import type { Obj } from '../fake-velero.ts';
import { KubeError } from '../kube-error.ts';
import type { ObjectStore } from './objects.ts';

export interface PodOptions {
  /** Default Running. */
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  /** `Evicted` for an evicted pod (phase Failed). */
  reason?: string;
  /** Whether a Running pod is Ready (default true). */
  ready?: boolean;
  /** The controller owning it (Job, ReplicaSet…), by kind and name. */
  ownerKind?: string;
  ownerName?: string;
  labels?: Record<string, string>;
  /** The node it runs on (spec.nodeName). */
  nodeName?: string;
  /** E.g. `kubernetes.io/config.mirror` for a static pod's mirror. */
  annotations?: Record<string, string>;
  /** The image its container runs, and the digest the kubelet pulled (status.containerStatuses[].imageID). */
  image?: { ref: string; digest: string };
}

const OWNER_API: Record<string, string> = { Job: 'batch/v1', CronJob: 'batch/v1', ReplicaSet: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1' };

export function addPod(store: ObjectStore, namespace: string, name: string, options: PodOptions = {}): Obj {
  const phase = options.phase ?? 'Running';
  const ready = phase === 'Running' && options.ready !== false;
  const ownerReferences = options.ownerKind
    ? [{ apiVersion: OWNER_API[options.ownerKind] ?? 'v1', kind: options.ownerKind, name: options.ownerName ?? name, uid: randomUUID(), controller: true, blockOwnerDeletion: true }]
    : undefined;
  return store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: options.labels ?? { app: name }, ...(options.annotations ? { annotations: options.annotations } : {}), ...(ownerReferences ? { ownerReferences } : {}) },
    spec: { containers: [{ name: 'main', image: options.image?.ref ?? `${name}:1` }], restartPolicy: options.ownerKind === 'Job' ? 'Never' : 'Always', ...(options.nodeName ? { nodeName: options.nodeName } : {}) },
    status: {
      phase,
      ...(options.image && phase === 'Running'
        ? { containerStatuses: [{ name: 'main', image: options.image.ref, imageID: `${options.image.ref.replace(/[:@].*$/, '')}@${options.image.digest}`, ready, restartCount: 0, started: true, state: { running: { startedAt: new Date().toISOString() } } }] }
        : {}),
      ...(options.reason ? { reason: options.reason, message: options.reason === 'Evicted' ? 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki.' : options.reason } : {}),
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', ...(phase === 'Succeeded' ? { reason: 'PodCompleted' } : {}) }],
    },
  });
}

/** A CronJob, its finished Jobs and their pods: `succeeded` (default 3) Succeeded and `failed` (default 0) Failed. */
export function addCronJobPods(store: ObjectStore, namespace: string, cronJob: string, options: { succeeded?: number; failed?: number } = {}): void {
  const jobTemplate = { spec: { template: { spec: { containers: [{ name: cronJob, image: `${cronJob}:1` }], restartPolicy: 'OnFailure' } } } };
  store.create({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: cronJob, namespace }, spec: { schedule: '*/5 * * * *', successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1, jobTemplate } });
  const runs = [...Array.from({ length: options.succeeded ?? 3 }, () => 'Succeeded' as const), ...Array.from({ length: options.failed ?? 0 }, () => 'Failed' as const)];
  runs.forEach((phase, i) => {
    const job = `${cronJob}-2926${String(1000 + i)}`;
    store.create({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: job, namespace, labels: { 'batch.kubernetes.io/job-name': job } }, spec: jobTemplate.spec, status: phase === 'Succeeded' ? { succeeded: 1 } : { failed: 1 } });
    addPod(store, namespace, `${job}-x${i}q`, { phase, ownerKind: 'Job', ownerName: job, labels: { 'batch.kubernetes.io/job-name': job } });
  });
}

/** The pod fields a list's `fieldSelector` may name (the API server's pod field set, as far as the steps use it). */
const POD_FIELDS: Record<string, (pod: Obj) => string> = {
  'spec.nodeName': (pod) => ((pod.spec as { nodeName?: string } | undefined)?.nodeName ?? ''),
  'metadata.name': (pod) => ((pod.metadata as { name?: string } | undefined)?.name ?? ''),
  'metadata.namespace': (pod) => ((pod.metadata as { namespace?: string } | undefined)?.namespace ?? ''),
  'status.phase': (pod) => ((pod.status as { phase?: string } | undefined)?.phase ?? ''),
};

/** Pods matching a `fieldSelector` (`a=b`, `a==b`, `a!=b`, comma-separated); an unknown field is refused (400) as the API server refuses it. */
export function selectPodsByFields(pods: Obj[], fieldSelector: string | null): Obj[] {
  if (!fieldSelector) return pods;
  const terms = fieldSelector.split(',').map((term) => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term.trim());
    const read = m ? POD_FIELDS[m[1] ?? ''] : undefined;
    if (!m || !read) {
      throw new KubeError(400, 'BadRequest', `Unable to find "/v1, Resource=pods" that match label selector "", field selector "${fieldSelector}": field label not supported: ${m?.[1] ?? term}`);
    }
    return { read, negate: m[2] === '!=', value: m[3] ?? '' };
  });
  return pods.filter((pod) => terms.every((t) => (t.read(pod) === t.value) !== t.negate));
}
