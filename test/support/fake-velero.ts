/**
 * Velero's API group (velero.io/v1) in the fake Kubernetes API server:
 * Backups and Restores as Velero's controllers move them. A Restore goes
 * New → InProgress → its outcome over time; unless it failed, the objects the
 * backup holds are written into the cluster under their mapped namespaces.
 *
 * The cluster side is narrow (`VeleroCluster`), so this file and fake-kube.ts
 * change independently.
 */
import { KubeError } from './kube-error.ts';

export type Obj = Record<string, unknown>;

/** What Velero needs of the cluster it runs in. */
export interface VeleroCluster {
  /** Namespaces that exist; a restore creates its target namespaces. */
  readonly namespaces: Set<string>;
  /** The objects of a namespace now, as a backup taken now would hold them. */
  objectsIn(namespace: string): Obj[];
  /** Writes one restored object (already in its target namespace). */
  restoreObject(obj: Obj): void;
}

export interface BackupOptions {
  schedule?: string;
  phase?: string;
  completedAt: Date;
  includedNamespaces?: string[];
  ttlHours?: number;
}

export interface RestoreOutcome {
  phase: 'Completed' | 'PartiallyFailed' | 'Failed';
  warnings?: number;
  errors?: number;
  failureReason?: string;
}

export class FakeVelero {
  /** Velero objects by `<kind>/<namespace>/<name>` (kind: backups | restores). */
  readonly objects = new Map<string, Obj>();
  /** How long a Velero restore stays InProgress, and how it ends. */
  restoreMs = 300;
  restoreOutcome: RestoreOutcome = { phase: 'Completed' };
  private readonly cluster: VeleroCluster;
  private readonly nextVersion: () => number;

  constructor(cluster: VeleroCluster, nextVersion: () => number) {
    this.cluster = cluster;
    this.nextVersion = nextVersion;
  }

  /** Forgets every backup and restore. */
  clear(): void {
    this.objects.clear();
  }

  keys(): IterableIterator<string> {
    return this.objects.keys();
  }

  /** A Velero backup, as a schedule names them (`<schedule>-<YYYYMMDDHHMMSS>`). */
  addBackup(name: string, options: BackupOptions): void {
    this.objects.set(`backups/velero/${name}`, {
      apiVersion: 'velero.io/v1',
      kind: 'Backup',
      metadata: { name, namespace: 'velero', labels: options.schedule ? { 'velero.io/schedule-name': options.schedule } : {}, resourceVersion: String(this.nextVersion()) },
      spec: { includedNamespaces: options.includedNamespaces ?? ['*'], ttl: `${options.ttlHours ?? 168}h0m0s` },
      status: {
        phase: options.phase ?? 'Completed',
        startTimestamp: new Date(options.completedAt.getTime() - 60_000).toISOString(),
        completionTimestamp: options.completedAt.toISOString(),
        expiration: new Date(options.completedAt.getTime() + (options.ttlHours ?? 168) * 3_600_000).toISOString(),
      },
    });
  }

  /** `/apis/velero.io/v1/namespaces/{ns}/{backups|restores}[/{name}]`, split into path segments. */
  route(method: string, p: string[], url: URL, body: unknown): [number, unknown] {
    const [, , , namespaces, ns = '', kind, name] = p;
    if (namespaces !== 'namespaces' || (kind !== 'backups' && kind !== 'restores')) {
      throw new KubeError(404, 'NotFound', `the server could not find the requested resource (${method} ${url.pathname})`);
    }
    if (!name && method === 'GET') {
      const selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
      const items = [...this.objects.entries()]
        .filter(([key]) => key.startsWith(`${kind}/${ns}/`))
        .map(([, obj]) => this.advanceRestore(obj))
        .filter((obj) => Object.entries(selector).every(([k, v]) => ((obj.metadata as Obj).labels as Record<string, string> | undefined)?.[k] === v));
      return [200, { apiVersion: 'velero.io/v1', kind: kind === 'backups' ? 'BackupList' : 'RestoreList', items }];
    }
    if (!name && method === 'POST' && kind === 'restores') {
      const obj = structuredClone(body) as Obj;
      const metadata = (obj.metadata ?? {}) as Obj;
      const restoreName = typeof metadata.name === 'string' ? metadata.name : '';
      if (this.objects.has(`restores/${ns}/${restoreName}`)) throw new KubeError(409, 'AlreadyExists', `restores.velero.io "${restoreName}" already exists`);
      const spec = (obj.spec ?? {}) as Obj;
      if (Boolean(spec.backupName) === Boolean(spec.scheduleName)) {
        throw new KubeError(422, 'Invalid', 'Either a backup or schedule must be specified as a source for the restore, but not both');
      }
      obj.metadata = { ...metadata, namespace: ns, resourceVersion: String(this.nextVersion()), creationTimestamp: new Date().toISOString() };
      obj.status = { phase: 'New' };
      (obj as { _createdAt?: number })._createdAt = Date.now();
      this.objects.set(`restores/${ns}/${restoreName}`, obj);
      return [201, this.advanceRestore(obj)];
    }
    const obj = name ? this.objects.get(`${kind}/${ns}/${name}`) : undefined;
    if (!obj || !name) throw new KubeError(404, 'NotFound', `${kind}.velero.io "${name ?? ''}" not found`);
    if (method === 'GET') return [200, this.advanceRestore(obj)];
    if (method === 'DELETE') {
      this.objects.delete(`${kind}/${ns}/${name}`);
      return [200, { kind: 'Status', status: 'Success' }];
    }
    throw new KubeError(405, 'MethodNotAllowed', 'method not allowed');
  }

  /** Moves a restore New → InProgress → its outcome over time; unless it failed, the backed-up objects appear. */
  private advanceRestore(obj: Obj): Obj {
    const createdAt = (obj as { _createdAt?: number })._createdAt;
    if (obj.kind !== 'Restore' || createdAt === undefined) return stripPrivate(obj);
    const status = obj.status as Obj;
    const elapsed = Date.now() - createdAt;
    if (status.phase === 'New' && elapsed >= 50) status.phase = 'InProgress';
    if (status.phase === 'InProgress' && elapsed >= this.restoreMs) {
      const outcome = this.restoreOutcome;
      Object.assign(status, {
        phase: outcome.phase,
        warnings: outcome.warnings ?? 0,
        errors: outcome.errors ?? 0,
        ...(outcome.failureReason ? { failureReason: outcome.failureReason } : {}),
        completionTimestamp: new Date().toISOString(),
        progress: { totalItems: 42, itemsRestored: outcome.phase === 'Completed' ? 42 : 30 },
      });
      if (outcome.phase !== 'Failed') this.materialize(obj.spec as Obj);
    }
    return stripPrivate(obj);
  }

  /** What a restore brings back: the backed-up namespaces' objects, under their mapped names. */
  private materialize(spec: Obj): void {
    const mapping = (spec.namespaceMapping ?? {}) as Record<string, string>;
    const included = (spec.includedNamespaces ?? ['production']) as string[];
    for (const source of included.includes('*') ? ['production'] : included) {
      const target = mapping[source] ?? source;
      this.cluster.namespaces.add(target);
      if (target === source) continue;
      for (const o of this.cluster.objectsIn(source)) {
        const copy = structuredClone(o);
        copy.metadata = { ...(copy.metadata as Obj), namespace: target };
        this.cluster.restoreObject(copy);
      }
    }
  }
}

export function parseSelector(text: string): Record<string, string> {
  return Object.fromEntries(text.split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
}

function stripPrivate(obj: Obj): Obj {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !k.startsWith('_')));
}
