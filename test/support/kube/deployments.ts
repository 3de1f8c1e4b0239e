/**
 * Deployments and their ReplicaSets as the deployment controller keeps them:
 * a template change makes (or revives) a ReplicaSet with the next revision and
 * rolls over `rolloutMs`; the status follows the rollout, and every status
 * change is a write (a new resourceVersion), as the controller's are.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Obj } from '../fake-velero.ts';

export interface FakeDeployment {
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  replicas: number;
  paused: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  template: Obj;
  /** The nodes its running pods are scheduled on, in turn (spec.nodeName); none: not scheduled on a known node. */
  nodes?: string[];
  /** When the current rollout started, and how long it takes. */
  rolloutStartedAt: number;
  rolloutMs: number;
  /** Set to make the rollout fail the way a stuck one does. */
  progressDeadlineExceeded: boolean;
  /** Changes on every write of this object, the controller's status writes included; a patch that names an older one is refused (409). */
  resourceVersion: number;
  /** The status last written (to tell when the controller writes a new one). */
  lastStatus?: string;
  /** Pods a scale-down removed: listed as terminating (deletionTimestamp set) until `until`, then gone. */
  leaving?: { pods: Obj[]; until: number };
}

export interface FakeReplicaSet {
  namespace: string;
  name: string;
  owner: string;
  ownerUid: string;
  revision: number;
  template: Obj;
  annotations: Record<string, string>;
}

export const REVISION = 'deployment.kubernetes.io/revision';

export class DeploymentStore {
  readonly deployments = new Map<string, FakeDeployment>();
  readonly replicaSets: FakeReplicaSet[] = [];
  private readonly nextVersion: () => number;

  constructor(nextVersion: () => number) {
    this.nextVersion = nextVersion;
  }

  /** A deployment with one revision per template (the last is current); `rolloutMs` > 0 makes it start rolling out now. */
  add(namespace: string, name: string, templates: Obj[], options: { replicas?: number; labels?: Record<string, string>; changeCauses?: string[]; rolloutMs?: number; nodes?: string[] } = {}): FakeDeployment {
    const labels = options.labels ?? { app: name };
    const deployment: FakeDeployment = {
      namespace,
      name,
      uid: randomUUID(),
      generation: 1,
      ...(options.nodes?.length ? { nodes: options.nodes } : {}),
      replicas: options.replicas ?? 3,
      paused: false,
      labels,
      annotations: {},
      template: {},
      rolloutStartedAt: options.rolloutMs ? Date.now() : 0,
      rolloutMs: options.rolloutMs ?? 0,
      progressDeadlineExceeded: false,
      resourceVersion: this.nextVersion(),
    };
    this.deployments.set(`${namespace}/${name}`, deployment);
    templates.forEach((template, i) => {
      const rs = this.replicaSetFor(deployment, template);
      const cause = options.changeCauses?.[i];
      if (cause) rs.annotations['kubernetes.io/change-cause'] = cause;
      deployment.template = structuredClone(template);
      deployment.annotations[REVISION] = String(rs.revision);
    });
    return deployment;
  }

  inNamespace(namespace: string): FakeDeployment[] {
    return [...this.deployments.values()].filter((d) => d.namespace === namespace);
  }

  deleteNamespace(namespace: string): void {
    for (const [key, d] of this.deployments) if (d.namespace === namespace) this.deployments.delete(key);
    for (let i = this.replicaSets.length - 1; i >= 0; i--) if (this.replicaSets[i]?.namespace === namespace) this.replicaSets.splice(i, 1);
  }

  /** Stores a patched deployment (already validated); a new template starts a rollout of `rolloutMs`. */
  update(d: FakeDeployment, patched: Obj, rolloutMs: number): void {
    const metadata = (patched.metadata ?? {}) as Obj;
    const spec = (patched.spec ?? {}) as Obj;
    d.annotations = { ...((metadata.annotations ?? {}) as Record<string, string>) };
    d.paused = spec.paused === true;
    if (typeof spec.replicas === 'number') d.replicas = spec.replicas;
    const template = (spec.template ?? {}) as Obj;
    if (JSON.stringify(template) !== JSON.stringify(d.template)) {
      d.template = structuredClone(template);
      d.generation += 1;
      const rs = this.replicaSetFor(d, template);
      d.annotations[REVISION] = String(rs.revision);
      d.rolloutStartedAt = Date.now();
      d.rolloutMs = rolloutMs;
    }
    d.resourceVersion = this.nextVersion();
  }

  /**
   * A write of `spec.replicas` through the scale subresource: a change is a
   * new generation; the pods a scale-down removes terminate for
   * `terminationMs` (their grace period) before they are gone, and the pods a
   * scale-up adds become ready after `rolloutMs`. The same count is no write.
   */
  scale(d: FakeDeployment, replicas: number, options: { terminationMs: number; rolloutMs: number }): void {
    if (replicas === d.replicas) return;
    const now = Date.now();
    const stillLeaving = d.leaving && now < d.leaving.until ? d.leaving.pods : [];
    if (replicas < d.replicas) {
      const until = now + options.terminationMs;
      const deletionTimestamp = new Date(until).toISOString().replace(/\.\d+Z$/, 'Z');
      const leaving = this.runningPods(d)
        .slice(replicas)
        .map((pod) => ({
          ...pod,
          metadata: { ...(pod.metadata as Obj), deletionTimestamp, deletionGracePeriodSeconds: Math.ceil(options.terminationMs / 1000) },
          status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] },
        }));
      d.leaving = { pods: [...stillLeaving, ...leaving], until };
    } else {
      d.rolloutStartedAt = now;
      d.rolloutMs = options.rolloutMs;
    }
    d.replicas = replicas;
    d.generation += 1;
    d.resourceVersion = this.nextVersion();
  }

  /** The ReplicaSet for a template: an existing one is revived with the next revision, as the controller does. */
  private replicaSetFor(d: FakeDeployment, template: Obj): FakeReplicaSet {
    const next = Math.max(0, ...this.replicaSets.filter((r) => r.ownerUid === d.uid).map((r) => r.revision)) + 1;
    const hash = templateHash(template);
    const existing = this.replicaSets.find((r) => r.ownerUid === d.uid && r.name === `${d.name}-${hash}`);
    if (existing) {
      existing.revision = next;
      return existing;
    }
    const withHash = structuredClone(template) as { metadata?: { labels?: Record<string, string> } };
    withHash.metadata = { ...withHash.metadata, labels: { ...withHash.metadata?.labels, 'pod-template-hash': hash } };
    const rs: FakeReplicaSet = { namespace: d.namespace, name: `${d.name}-${hash}`, owner: d.name, ownerUid: d.uid, revision: next, template: withHash, annotations: {} };
    this.replicaSets.push(rs);
    return rs;
  }

  rolloutDone(d: FakeDeployment): boolean {
    return Date.now() >= d.rolloutStartedAt + d.rolloutMs;
  }

  /** The deployment as the API server returns it; a status that moved on since the last look is a new write. */
  json(d: FakeDeployment): Obj {
    const status = this.status(d);
    const text = JSON.stringify(status);
    if (d.lastStatus !== undefined && d.lastStatus !== text) d.resourceVersion = this.nextVersion();
    d.lastStatus = text;
    return {
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      metadata: { name: d.name, namespace: d.namespace, uid: d.uid, generation: d.generation, resourceVersion: String(d.resourceVersion), labels: d.labels, annotations: { ...d.annotations } },
      spec: { replicas: d.replicas, ...(d.paused ? { paused: true } : {}), selector: { matchLabels: d.labels }, template: structuredClone(d.template) },
      status,
    };
  }

  private status(d: FakeDeployment): Obj {
    const elapsed = Date.now() - d.rolloutStartedAt;
    const observed = elapsed >= 50 ? d.generation : d.generation - 1;
    const done = this.rolloutDone(d);
    const updated = done ? d.replicas : Math.floor((elapsed / Math.max(1, d.rolloutMs)) * d.replicas);
    const conditions = [
      d.progressDeadlineExceeded
        ? { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${d.name}-x" has timed out progressing.` }
        : { type: 'Progressing', status: 'True', reason: done ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated', message: 'progressing' },
    ];
    return {
      observedGeneration: observed,
      replicas: done ? d.replicas : d.replicas + 1,
      updatedReplicas: d.progressDeadlineExceeded ? 0 : updated,
      availableReplicas: d.progressDeadlineExceeded ? 0 : updated,
      readyReplicas: updated,
      conditions,
    };
  }

  replicaSetJson(rs: FakeReplicaSet): Obj {
    const d = [...this.deployments.values()].find((x) => x.uid === rs.ownerUid);
    return {
      kind: 'ReplicaSet',
      apiVersion: 'apps/v1',
      metadata: {
        name: rs.name,
        namespace: rs.namespace,
        annotations: { ...rs.annotations, [REVISION]: String(rs.revision) },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: rs.owner, uid: rs.ownerUid, controller: true }],
        labels: labelsOf(rs.template),
      },
      spec: { replicas: d && JSON.stringify(stripHash(rs.template)) === JSON.stringify(d.template) ? d.replicas : 0, selector: { matchLabels: labelsOf(rs.template) }, template: structuredClone(rs.template) },
    };
  }

  /** The pods a deployment's current ReplicaSet runs (ready once the rollout is done), and those a scale-down left terminating. */
  podsOf(d: FakeDeployment): Obj[] {
    const running = this.runningPods(d);
    if (d.leaving && Date.now() >= d.leaving.until) delete d.leaving;
    const names = new Set(running.map((p) => (p.metadata as Obj).name));
    return [...running, ...(d.leaving?.pods ?? []).filter((p) => !names.has((p.metadata as Obj).name)).map((p) => structuredClone(p))];
  }

  private runningPods(d: FakeDeployment): Obj[] {
    const hash = templateHash(d.template);
    const ready = this.rolloutDone(d) && !d.progressDeadlineExceeded;
    return Array.from({ length: d.replicas }, (_, i) => ({
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: {
        name: `${d.name}-${hash}-${i}`,
        namespace: d.namespace,
        labels: { ...d.labels, 'pod-template-hash': hash },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${d.name}-${hash}`, uid: d.uid, controller: true }],
      },
      ...(d.nodes?.length ? { spec: { nodeName: d.nodes[i % d.nodes.length], containers: structuredClone(((d.template.spec ?? {}) as Obj).containers ?? []) } } : {}),
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    }));
  }
}

export function labelsOf(template: Obj): Record<string, string> {
  return ((template.metadata as Obj | undefined)?.labels ?? {}) as Record<string, string>;
}

function templateHash(template: Obj): string {
  return createHash('sha256').update(JSON.stringify(stripHash(template))).digest('hex').slice(0, 10);
}

function stripHash(template: Obj): Obj {
  const copy = structuredClone(template) as { metadata?: { labels?: Record<string, string> } };
  delete copy.metadata?.labels?.['pod-template-hash'];
  return copy;
}
