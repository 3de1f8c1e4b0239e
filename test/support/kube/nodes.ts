/**
 * Nodes as the API server keeps them (core/v1, cluster-scoped): labels as
 * EKS sets them (`topology.kubernetes.io/zone` holds the AZ name, API-FACTS
 * 8.9; `eks.amazonaws.com/nodegroup`), `spec.unschedulable` (a cordon), read
 * with a label selector, and changed by PATCH in the formats the server takes
 * (a JSON Patch body must be a JSON Patch array: kube/patch.ts), validated
 * against the Node schema, with a resourceVersion precondition honoured (409).
 */
import type { Obj } from '../fake-velero.ts';
import { parseSelector } from '../fake-velero.ts';
import { KubeError } from '../kube-error.ts';
import { listResponse } from './list.ts';
import { applyPatch } from './patch.ts';
import { validateObject } from './validate.ts';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export interface NodeOptions {
  /** The AZ name (`us-east-1a`): the zone label, and the region label from it; left out, a node without them (self-managed, unlabelled). */
  zone?: string;
  nodegroup?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  unschedulable?: boolean;
}

export class NodeStore {
  private readonly nodes = new Map<string, Obj>();
  private readonly nextVersion: () => number;

  constructor(nextVersion: () => number) {
    this.nextVersion = nextVersion;
  }

  add(name: string, options: NodeOptions): Obj {
    const labels: Record<string, string> = {
      'kubernetes.io/hostname': name,
      'kubernetes.io/os': 'linux',
      ...(options.zone ? { [ZONE_LABEL]: options.zone, 'topology.kubernetes.io/region': options.zone.replace(/[a-z]$/, '') } : {}),
      ...(options.nodegroup ? { 'eks.amazonaws.com/nodegroup': options.nodegroup } : {}),
      ...options.labels,
    };
    const node: Obj = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, uid: crypto.randomUUID(), labels, ...(options.annotations ? { annotations: options.annotations } : {}), resourceVersion: String(this.nextVersion()), creationTimestamp: new Date().toISOString() },
      spec: { providerID: `aws:///${options.zone ?? 'unknown'}/i-0${name.length.toString(16).padStart(16, '0')}`, ...(options.unschedulable ? { unschedulable: true } : {}) },
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] },
    };
    validateObject(node);
    this.nodes.set(name, node);
    return structuredClone(node);
  }

  /** The node as stored, or undefined. */
  peek(name: string): Obj | undefined {
    const node = this.nodes.get(name);
    return node ? structuredClone(node) : undefined;
  }

  /** Names of the nodes pods can be scheduled on now (not cordoned). */
  schedulable(): string[] {
    return [...this.nodes.values()].filter((n) => !(n.spec as { unschedulable?: boolean } | undefined)?.unschedulable).map((n) => (n.metadata as { name: string }).name);
  }

  clear(): void {
    this.nodes.clear();
  }

  /** GET /api/v1/nodes (with `labelSelector`), the stored nodes and `extra` ones (fake-kube's node-group counts). */
  list(url: URL, extra: Obj[], resourceVersion: number): Obj {
    if (url.searchParams.get('fieldSelector')) throw new KubeError(400, 'BadRequest', 'this server answers node lists by label selector only');
    const selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
    const items = [...[...this.nodes.values()].map((n) => structuredClone(n)), ...extra].filter((n) => {
      const labels = ((n.metadata as Obj | undefined)?.labels ?? {}) as Record<string, string>;
      return Object.entries(selector).every(([k, v]) => labels[k] === v);
    });
    return listResponse('NodeList', 'v1', items, url, resourceVersion);
  }

  route(method: string, name: string, contentType: string, body: unknown): [number, unknown] {
    const current = this.nodes.get(name);
    if (!current) throw new KubeError(404, 'NotFound', `nodes "${name}" not found`);
    if (method === 'GET') return [200, structuredClone(current)];
    if (method !== 'PATCH') throw new KubeError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    const metadata = current.metadata as Obj;
    const precondition = ((body as Obj | undefined)?.metadata as Obj | undefined)?.resourceVersion;
    if (!Array.isArray(body) && precondition !== undefined && precondition !== metadata.resourceVersion) {
      throw new KubeError(409, 'Conflict', `Operation cannot be fulfilled on nodes "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    const patched = applyPatch(current, contentType, body);
    // What the server owns stays the server's.
    patched.metadata = { ...(patched.metadata as Obj), name, uid: metadata.uid, creationTimestamp: metadata.creationTimestamp, resourceVersion: String(this.nextVersion()) };
    validateObject(patched);
    this.nodes.set(name, patched);
    return [200, structuredClone(patched)];
  }
}
