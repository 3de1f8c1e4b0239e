/**
 * Velero's API group (velero.io/v1) in the fake Kubernetes API server:
 * Backups, Restores and BackupStorageLocations as Velero's controllers move
 * them, as strictly as the API server and Velero check them:
 * - writes are checked against the CRDs (velero-schema.ts): unknown fields are
 *   pruned with a warning, or refused 400 under `fieldValidation=Strict`;
 *   wrong types 422;
 * - a Restore is validated as Velero's restore controller does (its backup,
 *   the backup's storage location Available, existingResourcePolicy, the
 *   resource-modifier ConfigMap) and ends FailedValidation otherwise; then
 *   New → InProgress → its outcome over time; unless it failed, the backup's
 *   objects are filtered (included/excluded resources), modified (resource
 *   modifiers) and written into the cluster under their mapped namespaces;
 * - garbage collection: a backup whose `status.expiration` has passed is
 *   deleted with every Restore made from it (when its location is Available
 *   and not ReadOnly, as gc_controller.go does);
 * - lists honour `limit` / `continue` (and `maxPageSize`, as a server may
 *   return fewer items than asked).
 *
 * The cluster side is narrow (`VeleroCluster`), so this file and fake-kube.ts
 * change independently.
 */
import { KubeError } from './kube-error.ts';
import { applyModifiers, readModifiers, resourceMatches, type ResourceModifiers } from './velero-modifiers.ts';
import { BackupCrd, checkCrd, EXISTING_RESOURCE_POLICIES, RestoreCrd } from './velero-schema.ts';

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
  /** When GC deletes it; default completion + TTL. */
  expiration?: Date;
  storageLocation?: string;
  volumeSnapshots?: number;
  /** What the backup holds; without it a restore takes the source namespaces' objects as they are then. */
  contents?: Obj[];
}

export interface RestoreOutcome {
  phase: 'Completed' | 'PartiallyFailed' | 'Failed';
  warnings?: number;
  errors?: number;
  failureReason?: string;
}

type Kind = 'backups' | 'restores' | 'backupstoragelocations' | 'schedules';
const KINDS: Record<Kind, string> = { backups: 'Backup', restores: 'Restore', backupstoragelocations: 'BackupStorageLocation', schedules: 'Schedule' };

/** A Velero Schedule's spec as `velero schedule create` or a manifest writes it (velero.io_schedules.yaml). */
export interface ScheduleOptions {
  /** Cron (5 fields) or `@every 1h`. */
  schedule: string;
  includedNamespaces?: string[];
  /** Go duration, as Velero writes it (`168h0m0s`) or as a manifest gives it (`168h`). */
  ttl?: string;
  storageLocation?: string;
  paused?: boolean;
  /** Velero's validation of the cron: FailedValidation when it cannot parse it. */
  phase?: 'New' | 'Enabled' | 'FailedValidation';
}

/** A Restore's private state (never served). */
interface RestoreState {
  createdAt: number;
  modifiers?: ResourceModifiers;
}

export class FakeVelero {
  /** Velero objects by `<kind>/<namespace>/<name>` (kind: backups | restores | backupstoragelocations). */
  readonly objects = new Map<string, Obj>();
  /** How long a Velero restore stays InProgress, and how it ends. */
  restoreMs = 300;
  restoreOutcome: RestoreOutcome = { phase: 'Completed' };
  /** The most items one list page holds, whatever `limit` asks. */
  maxPageSize = Number.POSITIVE_INFINITY;
  /** What the API server warned about (pruned unknown fields), as `Warning` headers would. */
  readonly warnings: string[] = [];
  /** Velero's clock for garbage collection and phases. */
  now: () => number = Date.now;
  private readonly restores = new Map<string, RestoreState>();
  private readonly contents = new Map<string, Obj[]>();
  private readonly cluster: VeleroCluster;
  private readonly nextVersion: () => number;

  constructor(cluster: VeleroCluster, nextVersion: () => number) {
    this.cluster = cluster;
    this.nextVersion = nextVersion;
    this.clear();
  }

  /** Forgets every backup and restore; the `default` storage location is Available again. */
  clear(): void {
    this.objects.clear();
    this.restores.clear();
    this.contents.clear();
    this.warnings.length = 0;
    this.setStorageLocation('default', 'Available');
  }

  keys(): IterableIterator<string> {
    return this.objects.keys();
  }

  /** A BackupStorageLocation in Velero's namespace, as Velero's validation marks it. */
  setStorageLocation(name: string, phase: 'Available' | 'Unavailable', options: { accessMode?: 'ReadWrite' | 'ReadOnly'; message?: string } = {}): void {
    this.objects.set(`backupstoragelocations/velero/${name}`, {
      apiVersion: 'velero.io/v1',
      kind: 'BackupStorageLocation',
      metadata: { name, namespace: 'velero', resourceVersion: String(this.nextVersion()) },
      spec: { provider: 'aws', objectStorage: { bucket: 'velero-backups' }, accessMode: options.accessMode ?? 'ReadWrite', default: name === 'default' },
      status: { phase, lastValidationTime: new Date(this.now()).toISOString(), ...(options.message ? { message: options.message } : {}) },
    });
  }

  /** A Velero Schedule in Velero's namespace (Enabled unless said otherwise). */
  setSchedule(name: string, options: ScheduleOptions): void {
    this.objects.set(`schedules/velero/${name}`, {
      apiVersion: 'velero.io/v1',
      kind: 'Schedule',
      metadata: { name, namespace: 'velero', resourceVersion: String(this.nextVersion()) },
      spec: {
        schedule: options.schedule,
        ...(options.paused !== undefined ? { paused: options.paused } : {}),
        template: {
          ...(options.includedNamespaces ? { includedNamespaces: options.includedNamespaces } : {}),
          ...(options.ttl ? { ttl: options.ttl } : {}),
          ...(options.storageLocation ? { storageLocation: options.storageLocation } : {}),
        },
      },
      status: { phase: options.phase ?? 'Enabled' },
    });
  }

  /** A Velero backup, as a schedule names them (`<schedule>-<YYYYMMDDHHMMSS>`). */
  addBackup(name: string, options: BackupOptions): void {
    const backup = veleroBackup(name, options);
    backup.metadata = { ...(backup.metadata as Obj), resourceVersion: String(this.nextVersion()) };
    this.objects.set(`backups/velero/${name}`, backup);
    if (options.contents) this.contents.set(name, structuredClone(options.contents));
  }

  /**
   * One pass of Velero's backup sync controller (backup_sync_controller.go)
   * for `location`, when it is Available: every backup the store holds and the
   * cluster does not is created from its `velero-backup.json`, its storage
   * location (and label) set to this location; a backup still finalizing is
   * left until it ends, unless it has expired.
   */
  syncFrom(store: VeleroBackupStore, location = 'default'): string[] {
    const bsl = this.objects.get(`backupstoragelocations/velero/${location}`);
    if ((bsl?.status as Obj | undefined)?.phase !== 'Available') return [];
    const synced: string[] = [];
    for (const name of store.backupNames()) {
      if (this.objects.has(`backups/velero/${name}`)) continue;
      const stored = store.backupJson(name);
      if (!stored) continue;
      const status = { ...(stored.status as Obj) };
      if (/^(WaitingForPluginOperations|Finalizing)/.test(str(status.phase))) {
        const expiration = Date.parse(str(status.expiration));
        if (Number.isNaN(expiration) || expiration > this.now()) continue;
        status.phase = 'PartiallyFailed';
      }
      const metadata = stored.metadata as Obj;
      const labels = { ...(metadata.labels as Record<string, string> | undefined), 'velero.io/storage-location': location };
      this.objects.set(`backups/velero/${name}`, {
        ...stored,
        metadata: { ...metadata, namespace: 'velero', labels, resourceVersion: String(this.nextVersion()) },
        spec: { ...(stored.spec as Obj), storageLocation: location },
        status,
      });
      const contents = store.contents(name);
      if (contents) this.contents.set(name, contents);
      synced.push(name);
    }
    return synced;
  }

  /** Moves a backup's expiration (as `kubectl patch backup … status.expiration` would); GC acts on the next request. */
  setBackupExpiration(name: string, at: Date): void {
    const backup = this.objects.get(`backups/velero/${name}`);
    if (!backup) throw new Error(`no backup ${name}`);
    (backup.status as Obj).expiration = at.toISOString();
  }

  /** `/apis/velero.io/v1/namespaces/{ns}/{kind}[/{name}]`, split into path segments. */
  route(method: string, p: string[], url: URL, body: unknown): [number, unknown] {
    this.collectGarbage();
    const [, , , namespaces, ns = '', kindPath, name] = p;
    if (namespaces !== 'namespaces' || !kindPath || !(kindPath in KINDS)) {
      throw new KubeError(404, 'NotFound', `the server could not find the requested resource (${method} ${url.pathname})`);
    }
    const kind = kindPath as Kind;
    if (!name && method === 'GET') return [200, this.list(kind, ns, url)];
    if (!name && method === 'POST' && kind === 'restores') return [201, this.createRestore(ns, body, url)];
    const key = `${kind}/${ns}/${name ?? ''}`;
    const obj = name ? this.objects.get(key) : undefined;
    if (!obj || !name) throw new KubeError(404, 'NotFound', `${kind}.velero.io "${name ?? ''}" not found`);
    if (method === 'GET') return [200, this.view(key, obj)];
    if (method === 'DELETE') {
      this.objects.delete(key);
      return [200, { kind: 'Status', status: 'Success' }];
    }
    throw new KubeError(405, 'MethodNotAllowed', 'method not allowed');
  }

  private list(kind: Kind, ns: string, url: URL): Obj {
    const selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
    const all = [...this.objects.entries()]
      .filter(([key]) => key.startsWith(`${kind}/${ns}/`))
      .sort(([a], [b]) => a.localeCompare(b))
      .filter(([, obj]) => Object.entries(selector).every(([k, v]) => ((obj.metadata as Obj).labels as Record<string, string> | undefined)?.[k] === v));
    const after = url.searchParams.get('continue');
    const start = after ? all.findIndex(([key]) => key > Buffer.from(after, 'base64url').toString('utf8')) : 0;
    const rest = start < 0 ? [] : all.slice(start);
    const limit = Math.min(Number(url.searchParams.get('limit') ?? '0') || Number.POSITIVE_INFINITY, this.maxPageSize);
    const page = rest.slice(0, limit);
    const last = page.at(-1)?.[0];
    const more = rest.length > page.length && last !== undefined;
    return {
      apiVersion: 'velero.io/v1',
      kind: `${KINDS[kind]}List`,
      metadata: { resourceVersion: String(this.nextVersion()), ...(more ? { continue: Buffer.from(last).toString('base64url') } : {}) },
      items: page.map(([key, obj]) => this.view(key, obj)),
    };
  }

  private createRestore(ns: string, body: unknown, url: URL): Obj {
    const check = checkCrd(RestoreCrd, body);
    if (check.unknown.length && url.searchParams.get('fieldValidation') === 'Strict') {
      throw new KubeError(400, 'BadRequest', `Restore in version "v1" cannot be handled as a Restore: strict decoding error: ${check.unknown.map((f) => `unknown field "${f}"`).join(', ')}`);
    }
    if (check.invalid.length) throw new KubeError(422, 'Invalid', `Restore.velero.io is invalid: ${check.invalid.join(', ')}`);
    if (url.searchParams.get('fieldValidation') !== 'Ignore') this.warnings.push(...check.unknown.map((f) => `unknown field "${f}"`));
    const obj = check.pruned;
    const metadata = (obj.metadata ?? {}) as Obj;
    const restoreName = typeof metadata.name === 'string' ? metadata.name : '';
    const key = `restores/${ns}/${restoreName}`;
    if (this.objects.has(key)) throw new KubeError(409, 'AlreadyExists', `restores.velero.io "${restoreName}" already exists`);
    obj.metadata = { ...metadata, namespace: ns, resourceVersion: String(this.nextVersion()), creationTimestamp: new Date(this.now()).toISOString() };
    obj.status = { phase: 'New' };
    this.objects.set(key, obj);
    this.restores.set(key, { createdAt: this.now() });
    return this.view(key, obj);
  }

  /** Velero's GC: expired backups go, with the restores made from them. */
  private collectGarbage(): void {
    for (const [key, backup] of this.objects) {
      if (!key.startsWith('backups/')) continue;
      const expiration = Date.parse(str((backup.status as Obj).expiration));
      if (Number.isNaN(expiration) || expiration > this.now()) continue;
      const location = this.objects.get(`backupstoragelocations/velero/${str((backup.spec as Obj).storageLocation) || 'default'}`);
      if ((location?.status as Obj | undefined)?.phase !== 'Available' || (location?.spec as Obj | undefined)?.accessMode === 'ReadOnly') continue;
      const name = str((backup.metadata as Obj).name);
      this.objects.delete(key);
      this.contents.delete(name);
      for (const [rk, r] of this.objects) if (rk.startsWith('restores/') && (r.spec as Obj | undefined)?.backupName === name) this.objects.delete(rk);
    }
  }

  /** The object as served; a restore first moves on as Velero would have by now. */
  private view(key: string, obj: Obj): Obj {
    const state = this.restores.get(key);
    if (state) this.advanceRestore(obj, state);
    return structuredClone(obj);
  }

  private advanceRestore(obj: Obj, state: RestoreState): void {
    const status = obj.status as Obj;
    const spec = (obj.spec ?? {}) as Obj;
    const elapsed = this.now() - state.createdAt;
    if (status.phase === 'New' && elapsed >= 50) {
      const problems = this.validate(spec, state);
      if (problems.length) {
        Object.assign(status, { phase: 'FailedValidation', validationErrors: problems });
        return;
      }
      status.phase = 'InProgress';
    }
    if (status.phase === 'InProgress' && elapsed >= this.restoreMs) {
      const outcome = this.restoreOutcome;
      const partial = outcome.phase === 'PartiallyFailed';
      Object.assign(status, {
        phase: outcome.phase,
        warnings: outcome.warnings ?? (partial ? 1 : 0),
        errors: outcome.errors ?? (partial ? 1 : 0),
        ...(outcome.failureReason ? { failureReason: outcome.failureReason } : {}),
        completionTimestamp: new Date(this.now()).toISOString(),
        progress: { totalItems: 42, itemsRestored: outcome.phase === 'Completed' ? 42 : 30 },
      });
      if (outcome.phase !== 'Failed') this.materialize(spec, state);
    }
  }

  /** What Velero's restore controller checks before it starts (validateAndComplete). */
  private validate(spec: Obj, state: RestoreState): string[] {
    const problems: string[] = [];
    if (Boolean(spec.backupName) === Boolean(spec.scheduleName)) problems.push('Either a backup or schedule must be specified as a source for the restore, but not both');
    const policy = spec.existingResourcePolicy;
    if (typeof policy === 'string' && policy !== '' && !(EXISTING_RESOURCE_POLICIES as readonly string[]).includes(policy)) problems.push(`Invalid ExistingResourcePolicy: ${policy}`);
    const backup = this.objects.get(`backups/velero/${str(spec.backupName)}`);
    if (spec.backupName && !backup) return [...problems, `Error retrieving backup: can't find backup velero/${str(spec.backupName)}`];
    const locationName = str((backup?.spec as Obj | undefined)?.storageLocation) || 'default';
    const location = this.objects.get(`backupstoragelocations/velero/${locationName}`);
    if (backup && (location?.status as Obj | undefined)?.phase !== 'Available') return [...problems, `The BSL ${locationName} is unavailable, cannot retrieve the backup`];
    const ref = spec.resourceModifier as { kind?: string; name?: string } | undefined;
    if (ref && ref.kind?.toLowerCase() === 'configmap') {
      const configMap = this.cluster.objectsIn('velero').find((o) => o.kind === 'ConfigMap' && (o.metadata as Obj | undefined)?.name === ref.name);
      if (!configMap) return [...problems, `failed to get resource modifiers configmap velero/${ref.name ?? ''}`];
      const modifiers = readModifiers(configMap);
      if (typeof modifiers === 'string') return [...problems, `Error in parsing resource modifiers provided in configmap velero/${ref.name ?? ''}: ${modifiers}`];
      state.modifiers = modifiers;
    }
    return problems;
  }

  /** What a restore brings back: the backed-up namespaces' objects, filtered, modified, under their mapped names. */
  private materialize(spec: Obj, state: RestoreState): void {
    const mapping = (spec.namespaceMapping ?? {}) as Record<string, string>;
    const included = (spec.includedNamespaces ?? ['production']) as string[];
    const includedResources = (spec.includedResources ?? []) as string[];
    const excludedResources = (spec.excludedResources ?? []) as string[];
    const held = this.contents.get(str(spec.backupName));
    for (const source of included.includes('*') ? ['production'] : included) {
      const target = mapping[source] ?? source;
      this.cluster.namespaces.add(target);
      // Restored in place from the cluster's own objects, nothing changes (Velero skips what exists); a backup's
      // recorded contents come back wherever they are restored, as into a new cluster.
      if (target === source && !held) continue;
      const objects = held ? held.filter((o) => (o.metadata as Obj | undefined)?.namespace === source) : this.cluster.objectsIn(source);
      for (const o of objects) {
        if (includedResources.length && !resourceMatches(includedResources, o)) continue;
        if (resourceMatches(excludedResources, o)) continue;
        const modified = state.modifiers ? applyModifiers(state.modifiers, o) : structuredClone(o);
        modified.metadata = { ...(modified.metadata as Obj), namespace: target };
        this.cluster.restoreObject(modified);
      }
    }
  }
}

/** What Velero's backup sync reads from a backup storage location (fake-s3.ts holds one). */
export interface VeleroBackupStore {
  /** The backups under `<prefix>/backups/`. */
  backupNames(): string[];
  /** A backup's `velero-backup.json`, parsed. */
  backupJson(name: string): Obj | undefined;
  /** The objects the backup holds, when the test recorded them. */
  contents(name: string): Obj[] | undefined;
}

/** A Backup object as Velero writes it (checked against Velero's CRD): in the cluster, and as `velero-backup.json`. */
export function veleroBackup(name: string, options: BackupOptions): Obj {
  const ttlHours = options.ttlHours ?? 168;
  const backup: Obj = {
    apiVersion: 'velero.io/v1',
    kind: 'Backup',
    metadata: { name, namespace: 'velero', labels: options.schedule ? { 'velero.io/schedule-name': options.schedule } : {} },
    spec: { includedNamespaces: options.includedNamespaces ?? ['*'], ttl: `${ttlHours}h0m0s`, storageLocation: options.storageLocation ?? 'default' },
    status: {
      phase: options.phase ?? 'Completed',
      startTimestamp: new Date(options.completedAt.getTime() - 60_000).toISOString(),
      completionTimestamp: options.completedAt.toISOString(),
      expiration: (options.expiration ?? new Date(options.completedAt.getTime() + ttlHours * 3_600_000)).toISOString(),
      ...(options.volumeSnapshots ? { volumeSnapshotsAttempted: options.volumeSnapshots, volumeSnapshotsCompleted: options.volumeSnapshots } : {}),
    },
  };
  const check = checkCrd(BackupCrd, backup);
  if (check.unknown.length || check.invalid.length) throw new Error(`fake backup ${name} does not match Velero's CRD: ${[...check.unknown, ...check.invalid].join('; ')}`);
  return backup;
}

export function parseSelector(text: string): Record<string, string> {
  return Object.fromEntries(text.split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
}

const str = (value: unknown): string => (typeof value === 'string' ? value : '');
