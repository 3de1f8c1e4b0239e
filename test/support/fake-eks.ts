/**
 * A loopback Amazon EKS (REST/JSON, as the real SDK calls it): clusters and
 * node groups. A scaling update moves the node group UPDATING → ACTIVE after a
 * delay and tells the test (so the fake Kubernetes can show the nodes); a test
 * can put a node group in a failed or DEGRADED state with health issues. Every
 * request is checked against EKS's service model first (aws-models/).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkRestJsonRequest } from './aws-models/rest-json.ts';
import { recordModelRefusal } from './aws-models/refusals.ts';
import { type FakeSts, sigV4Caller } from './fake-sts.ts';
import { LoopbackFake, readBody } from './loopback.ts';

export interface FakeNodegroup {
  cluster: string;
  name: string;
  minSize: number;
  maxSize: number;
  desiredSize: number;
  readyAt: number;
  updates: string[];
  /**
   * A state put on it (`setNodegroupState`), reported once an update under way
   * has finished, with its health issues: CREATE_FAILED, DELETING,
   * DELETE_FAILED, DEGRADED. ACTIVE when absent.
   */
  state?: { status: NodegroupState; issues: FakeIssue[] };
}

export type NodegroupState = 'ACTIVE' | 'CREATE_FAILED' | 'DELETING' | 'DELETE_FAILED' | 'DEGRADED';

/** A node group health issue as DescribeNodegroup reports it (`health.issues[]`). */
export interface FakeIssue {
  code: string;
  message: string;
  resourceIds?: string[];
}

/** States in which EKS refuses UpdateNodegroupConfig (it updates an ACTIVE or DEGRADED node group only). */
const NOT_UPDATABLE: ReadonlySet<string> = new Set(['CREATE_FAILED', 'DELETING', 'DELETE_FAILED']);

export class FakeEks extends LoopbackFake {
  readonly clusters = new Map<string, { name: string; endpoint: string; status: string; ca: string }>();
  readonly nodegroups = new Map<string, FakeNodegroup>();
  readonly calls: { method: string; path: string; body?: unknown }[] = [];
  /** Who signed each request (SigV4 access key id), by operation (`METHOD /path` when the model knows none). */
  readonly callers: { operation: string; accessKeyId: string | undefined }[] = [];
  /** Requests the service model refused (aws-models/). */
  readonly modelRefusals: { operation: string; code: string; message: string }[] = [];
  updatingMs = 300;
  /** Called when a scaling update is accepted, before it finishes (a test may put a state on the node group then). */
  onUpdate: (nodegroup: FakeNodegroup) => void = () => undefined;
  /** Called when a node group becomes ACTIVE at a new size. */
  onScaled: (nodegroup: string, desired: number) => void = () => undefined;
  private readonly tokens = new Map<string, string>();
  private sessionIssuer: FakeSts | undefined;

  /**
   * Session credentials (ASIA…) are accepted only while `sts` says they are
   * live: unknown ones and expired ones are refused. Static keys are accepted as before.
   */
  trustSessionsFrom(sts: FakeSts): this {
    this.sessionIssuer = sts;
    return this;
  }

  addCluster(name: string, endpoint: string, status = 'ACTIVE'): void {
    this.clusters.set(name, { name, endpoint, status, ca: Buffer.from('-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n').toString('base64') });
  }

  addNodegroup(cluster: string, name: string, sizes: { min: number; max: number; desired: number }): void {
    this.nodegroups.set(`${cluster}/${name}`, { cluster, name, minSize: sizes.min, maxSize: sizes.max, desiredSize: sizes.desired, readyAt: 0, updates: [] });
  }

  /** Puts a node group in `status` with these health issues (ACTIVE and no issues: as it was). */
  setNodegroupState(cluster: string, name: string, status: NodegroupState, issues: FakeIssue[] = []): void {
    const ng = this.nodegroups.get(`${cluster}/${name}`);
    if (!ng) throw new Error(`no node group ${cluster}/${name} in the fake EKS`);
    if (status === 'ACTIVE' && issues.length === 0) delete ng.state;
    else ng.state = { status, issues };
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const body: unknown = raw ? JSON.parse(raw) : undefined;
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    this.calls.push({ method, path, ...(body !== undefined ? { body } : {}) });
    // Every request must pass AWS's service model first, as it must to reach EKS.
    const { operation = `${method} ${path}`, problem } = checkRestJsonRequest('eks', method, path, url.searchParams, body);
    const caller = sigV4Caller(req.headers);
    this.callers.push({ operation, accessKeyId: caller?.accessKeyId });
    // AWS authenticates a request before it reads it.
    const standing = this.sessionIssuer?.standing(caller);
    if (standing === 'expired') {
      this.send(res, 403, { message: 'The security token included in the request is expired' }, 'ExpiredTokenException');
      return;
    }
    if (standing === 'invalid') {
      this.send(res, 403, { message: 'The security token included in the request is invalid.' }, 'UnrecognizedClientException');
      return;
    }
    if (problem) {
      this.modelRefusals.push({ operation, ...problem });
      recordModelRefusal({ service: 'eks', operation, ...problem });
      this.send(res, problem.code === 'UnknownOperationException' ? 404 : 400, { message: problem.message }, problem.code);
      return;
    }
    const [status, out, errorType] = this.route(method, path.split('/').filter(Boolean), body as Record<string, unknown> | undefined);
    this.send(res, status, out, errorType);
  }

  private send(res: ServerResponse, status: number, out: unknown, errorType?: string): void {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (errorType) headers['x-amzn-errortype'] = errorType;
    res.writeHead(status, headers).end(JSON.stringify(out));
  }

  private route(method: string, p: string[], body: Record<string, unknown> | undefined): [number, unknown, string?] {
    if (p[0] !== 'clusters' || !p[1]) return [404, { message: 'not found' }, 'ResourceNotFoundException'];
    const cluster = this.clusters.get(p[1]);
    if (!cluster) return [404, { message: `No cluster found for name: ${p[1]}.` }, 'ResourceNotFoundException'];
    if (p.length === 2 && method === 'GET') {
      return [200, { cluster: { name: cluster.name, arn: `arn:aws:eks:us-west-2:123456789012:cluster/${cluster.name}`, status: cluster.status, endpoint: cluster.endpoint, certificateAuthority: { data: cluster.ca }, version: '1.31' } }];
    }
    if (p[2] !== 'node-groups' || !p[3]) return [404, { message: 'not found' }, 'ResourceNotFoundException'];
    const ng = this.nodegroups.get(`${p[1]}/${p[3]}`);
    if (!ng) return [404, { message: `No node group found for name: ${p[3]}.` }, 'ResourceNotFoundException'];
    if (p.length === 4 && method === 'GET') return [200, { nodegroup: this.nodegroupJson(ng) }];
    if (p[4] === 'update-config' && method === 'POST') {
      const token = typeof body?.clientRequestToken === 'string' ? body.clientRequestToken : undefined;
      const known = token ? this.tokens.get(token) : undefined;
      if (known) return [200, { update: { id: known, status: 'InProgress', type: 'ConfigUpdate' } }];
      if (Date.now() < ng.readyAt) return [409, { message: 'Nodegroup is currently UPDATING' }, 'ResourceInUseException'];
      // EKS's answer as reported in aws/containers-roadmap#2204 (a CREATE_FAILED node group).
      if (ng.state && NOT_UPDATABLE.has(ng.state.status)) return [409, { message: 'Nodegroup cannot be updated as it is currently not in Active State' }, 'ResourceInUseException'];
      const scaling = (body?.scalingConfig ?? {}) as { minSize?: number; maxSize?: number; desiredSize?: number };
      const next = { min: scaling.minSize ?? ng.minSize, max: scaling.maxSize ?? ng.maxSize, desired: scaling.desiredSize ?? ng.desiredSize };
      if (next.desired > next.max || next.desired < next.min) {
        return [400, { message: 'desired size must be between min and max size' }, 'InvalidParameterException'];
      }
      Object.assign(ng, { minSize: next.min, maxSize: next.max, desiredSize: next.desired, readyAt: Date.now() + this.updatingMs });
      const id = randomUUID();
      ng.updates.push(id);
      if (token) this.tokens.set(token, id);
      this.onUpdate(ng);
      setTimeout(() => { this.onScaled(ng.name, ng.desiredSize); }, this.updatingMs);
      return [200, { update: { id, status: 'InProgress', type: 'ConfigUpdate' } }];
    }
    return [404, { message: 'not found' }, 'ResourceNotFoundException'];
  }

  private nodegroupJson(ng: FakeNodegroup): unknown {
    return {
      nodegroupName: ng.name,
      clusterName: ng.cluster,
      status: Date.now() < ng.readyAt ? 'UPDATING' : (ng.state?.status ?? 'ACTIVE'),
      scalingConfig: { minSize: ng.minSize, maxSize: ng.maxSize, desiredSize: ng.desiredSize },
      health: { issues: ng.state?.issues ?? [] },
    };
  }
}
