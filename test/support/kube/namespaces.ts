/**
 * Namespaces as the namespace controller runs them: DELETE answers 200 with
 * the namespace `Terminating` (deletionTimestamp set); a second DELETE answers
 * 409 while its content is removed; after `terminationMs` it is gone (404)
 * with everything in it, unless something in it has a finalizer
 * (`hold`), which keeps it Terminating with the controller's conditions.
 */
import type { Obj } from '../fake-velero.ts';
import { KubeError } from '../kube-error.ts';

interface Termination {
  since: number;
  deletionTimestamp: string;
}

interface Hold {
  finalizer: string;
  resource: string;
}

export class NamespaceLifecycle {
  /** How long removing a namespace's content takes. */
  terminationMs = 200;
  private readonly terminating = new Map<string, Termination>();
  private readonly holds = new Map<string, Hold>();
  private readonly uids = new Map<string, string>();
  private readonly labels = new Map<string, Record<string, string>>();
  private readonly names: Set<string>;
  private readonly exists: (ns: string) => boolean;
  private readonly gone: (ns: string) => void;

  /** `names`: the namespaces that exist by themselves; `exists`: also those holding objects; `gone`: removes a namespace's objects. */
  constructor(names: Set<string>, exists: (ns: string) => boolean, gone: (ns: string) => void) {
    this.names = names;
    this.exists = exists;
    this.gone = gone;
  }

  /** An object in `ns` with `finalizer` that nothing removes: deleting the namespace never finishes. */
  hold(ns: string, finalizer: string, resource = 'persistentvolumeclaims'): void {
    this.holds.set(ns, { finalizer, resource });
  }

  /** The finalizer is removed: a terminating namespace can finish. */
  release(ns: string): void {
    this.holds.delete(ns);
  }

  isTerminating(ns: string): boolean {
    return this.terminating.has(ns);
  }

  /** Finishes the terminations that are due (called before every request is answered). */
  reap(now = Date.now()): void {
    for (const [ns, t] of this.terminating) {
      if (this.holds.has(ns) || now < t.since + this.terminationMs) continue;
      this.terminating.delete(ns);
      this.names.delete(ns);
      this.uids.delete(ns);
      this.labels.delete(ns);
      this.gone(ns);
    }
  }

  get(ns: string): Obj {
    if (!this.exists(ns)) throw new KubeError(404, 'NotFound', `namespaces "${ns}" not found`);
    return this.json(ns);
  }

  /** POST /api/v1/namespaces (already validated): 409 AlreadyExists for one that exists, terminating or not. */
  create(obj: Obj): Obj {
    const metadata = (obj.metadata ?? {}) as { name?: unknown; labels?: Record<string, string> };
    const ns = typeof metadata.name === 'string' ? metadata.name : '';
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns)) {
      throw new KubeError(422, 'Invalid', `Namespace "${ns}" is invalid: metadata.name: Invalid value: "${ns}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'`);
    }
    if (this.exists(ns)) throw new KubeError(409, 'AlreadyExists', `${this.terminating.has(ns) ? 'object is being deleted: ' : ''}namespaces "${ns}" already exists`);
    this.names.add(ns);
    if (metadata.labels) this.labels.set(ns, { ...metadata.labels });
    return this.json(ns);
  }

  delete(ns: string): Obj {
    if (!this.exists(ns)) throw new KubeError(404, 'NotFound', `namespaces "${ns}" not found`);
    if (this.terminating.has(ns)) {
      throw new KubeError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on namespaces "${ns}": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.`,
      );
    }
    this.terminating.set(ns, { since: Date.now(), deletionTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
    return this.json(ns);
  }

  private json(ns: string): Obj {
    const uid = this.uids.get(ns) ?? crypto.randomUUID();
    this.uids.set(ns, uid);
    const t = this.terminating.get(ns);
    const metadata: Obj = { name: ns, uid, labels: { ...this.labels.get(ns), 'kubernetes.io/metadata.name': ns }, ...(t ? { deletionTimestamp: t.deletionTimestamp } : {}) };
    if (!t) return { kind: 'Namespace', apiVersion: 'v1', metadata, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } };
    const hold = this.holds.get(ns);
    const conditions = hold
      ? [
          { type: 'NamespaceContentRemaining', status: 'True', reason: 'SomeResourcesRemain', message: `Some resources are remaining: ${hold.resource} has 1 resource instances`, lastTransitionTime: t.deletionTimestamp },
          { type: 'NamespaceFinalizersRemaining', status: 'True', reason: 'SomeFinalizersRemain', message: `Some content in the namespace has finalizers remaining: ${hold.finalizer} in 1 resource instances`, lastTransitionTime: t.deletionTimestamp },
        ]
      : [];
    return { kind: 'Namespace', apiVersion: 'v1', metadata, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Terminating', conditions } };
  }
}
