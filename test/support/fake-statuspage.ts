/**
 * A loopback Atlassian Statuspage API v1: checks `Authorization: OAuth <key>`
 * and the `{"incident": {...}}` bodies, keeps incidents (with their updates)
 * and component statuses, and fails on demand (5xx, 429) while "down".
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { injectedFailure, LoopbackFake, readBody } from './loopback.ts';

export interface PageIncident {
  id: string;
  name: string;
  status: string;
  metadata: Record<string, unknown>;
  incident_updates: { status: string; body: string }[];
  /** The components the incident affects (its `component_ids` so far); answered with their current statuses, as Statuspage does. */
  component_ids: string[];
}

const STATUSES = new Set(['investigating', 'identified', 'monitoring', 'resolved']);
const COMPONENT_STATUSES = new Set(['operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance']);

export class FakeStatuspage extends LoopbackFake {
  readonly incidents: PageIncident[] = [];
  readonly components = new Map<string, string>();
  /** Every accepted write, in order: `create <status>` / `update <status>`. */
  readonly writes: string[] = [];
  readonly requests: { method: string; path: string; status: number }[] = [];
  /** While set, every request fails this way. */
  down: { status: 500 | 503 | 429 } | undefined;
  /** Fraction of calls answered 503 at random; half of the failed writes are applied first (the answer is lost). */
  failRate = 0;
  private readonly apiKey: string;
  private readonly pageId: string;

  constructor(apiKey: string, pageId: string, components: string[]) {
    super();
    this.apiKey = apiKey;
    this.pageId = pageId;
    for (const c of components) this.components.set(c, 'operational');
  }

  override get url(): string {
    return `${this.loopback?.url ?? ''}/v1`;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const chaos = injectedFailure(this.failRate, method !== 'GET');
    let [status, body] = chaos === 'before' ? [503, { error: 'injected failure' }] : this.answer(method, path, req.headers.authorization, raw);
    if (chaos === 'after') [status, body] = [503, { error: 'injected failure after the change was applied' }];
    this.requests.push({ method, path, status });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (status === 429) headers['retry-after'] = '1';
    res.writeHead(status, headers).end(JSON.stringify(body));
  }

  private answer(method: string, path: string, auth: string | undefined, raw: string): [number, unknown] {
    if (this.down) return [this.down.status, { error: 'service unavailable' }];
    if (auth !== `OAuth ${this.apiKey}`) return [401, { error: 'Could not authenticate' }];
    const base = `/v1/pages/${this.pageId}/incidents`;
    if (!path.startsWith(base)) return [404, { error: 'page not found' }];
    if (method === 'GET' && path === base) return [200, [...this.incidents].reverse().map((i) => this.shown(i))];
    const body = raw ? (JSON.parse(raw) as { incident?: Record<string, unknown> }) : {};
    const incident = body.incident;
    if (!incident) return [400, { error: 'body must be {"incident": {...}}' }];
    const status = typeof incident.status === 'string' ? incident.status : '';
    const text = typeof incident.body === 'string' ? incident.body : '';
    if (!STATUSES.has(status)) return [422, { error: `invalid status ${status}` }];
    const components = (incident.components ?? {}) as Record<string, string>;
    for (const [id, s] of Object.entries(components)) {
      if (!this.components.has(id)) return [422, { error: `unknown component ${id}` }];
      if (!COMPONENT_STATUSES.has(s)) return [422, { error: `invalid component status ${s}` }];
    }
    if (method === 'POST' && path === base) {
      if (typeof incident.name !== 'string' || !incident.name) return [422, { error: 'name is required' }];
      const created: PageIncident = {
        id: `sp${String(this.incidents.length + 1).padStart(4, '0')}`,
        name: incident.name,
        status,
        metadata: (incident.metadata ?? {}) as Record<string, unknown>,
        incident_updates: [{ status, body: text }],
        component_ids: Object.keys(components),
      };
      this.incidents.push(created);
      for (const [id, s] of Object.entries(components)) this.components.set(id, s);
      this.writes.push(`create ${status}`);
      return [201, this.shown(created)];
    }
    const id = path.slice(base.length + 1);
    const found = this.incidents.find((i) => i.id === id);
    if (method === 'PATCH' && found) {
      found.status = status;
      found.incident_updates.unshift({ status, body: text });
      for (const [cid, s] of Object.entries(components)) this.components.set(cid, s);
      for (const cid of Object.keys(components)) if (!found.component_ids.includes(cid)) found.component_ids.push(cid);
      this.writes.push(`update ${status}`);
      return [200, this.shown(found)];
    }
    return [404, { error: 'incident not found' }];
  }

  /** An incident as the API answers it: `components` are Component objects with their current status. */
  private shown(incident: PageIncident): Record<string, unknown> {
    const { component_ids: ids, ...rest } = incident;
    return { ...rest, components: ids.map((id) => ({ id, status: this.components.get(id) ?? 'operational' })) };
  }
}
