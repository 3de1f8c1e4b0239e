import axios, { type AxiosInstance } from 'axios';
import { z } from 'zod';
import { PUBLIC_NAME_LIMIT, truncate } from '../util/text.ts';

/** Statuspage incident statuses (realtime incidents) and component statuses. */
export type PageStatus = 'investigating' | 'identified' | 'monitoring' | 'resolved';
export type RequestOutcome = 'ok' | 'rate_limited' | 'server_error' | 'refused' | 'network';
export type ComponentStatus = 'operational' | 'degraded_performance' | 'partial_outage' | 'major_outage';

export class StatuspageError extends Error {
  readonly retryable: boolean;
  /** From a rate-limit answer's Retry-After: when to try again. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryable: boolean, retryAfterMs?: number) {
    super(message);
    this.name = 'StatuspageError';
    this.retryable = retryable;
    this.retryAfterMs = retryAfterMs;
  }
}

const IncidentSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  status: z.string().optional(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  /** The affected components, with their current status on the page. */
  components: z.array(z.object({ id: z.string(), status: z.string().optional() }).loose()).nullish(),
  incident_updates: z.array(z.object({ status: z.string().optional(), body: z.string().nullish() })).nullish(),
});

/**
 * Atlassian Statuspage REST API v1 (`Authorization: OAuth <key>`, bodies
 * wrapped as `{"incident": {...}}`). A new incident update is a PATCH of the
 * incident with a new status and body. Errors are parsed defensively: the
 * documented `{message}` or `{error}`.
 */
export class StatuspageClient {
  private readonly http: AxiosInstance;

  private readonly observe: (outcome: RequestOutcome) => void;

  constructor({ apiUrl, pageId, apiKey, observe }: { apiUrl: string; pageId: string; apiKey: string; observe?: (outcome: RequestOutcome) => void }) {
    this.observe = observe ?? (() => undefined);
    this.http = axios.create({
      baseURL: `${apiUrl.replace(/\/$/, '')}/pages/${encodeURIComponent(pageId)}`,
      headers: { Authorization: `OAuth ${apiKey}`, 'Content-Type': 'application/json' },
      timeout: 10_000,
      validateStatus: () => true,
    });
  }

  async createIncident(input: { name: string; status: PageStatus; body: string; components: Record<string, ComponentStatus>; key: string }): Promise<string> {
    const res = await this.call('post', '/incidents', {
      incident: {
        // Cut by grapheme cluster (the outbox already cleaned it; this keeps the API limit whatever the caller).
        name: truncate(input.name, PUBLIC_NAME_LIMIT, '…'),
        status: input.status,
        body: input.body,
        components: input.components,
        component_ids: Object.keys(input.components),
        deliver_notifications: true,
        metadata: { dr_chatops: { incident_id: input.key } },
      },
    });
    return IncidentSchema.parse(res).id;
  }

  async updateIncident(id: string, input: { status: PageStatus; body: string; components: Record<string, ComponentStatus> }): Promise<void> {
    await this.call('patch', `/incidents/${encodeURIComponent(id)}`, {
      incident: { status: input.status, body: input.body, components: input.components, component_ids: Object.keys(input.components) },
    });
  }

  /** The page incident made for our incident `key`, if an earlier (interrupted) delivery created it. */
  async findByKey(key: string): Promise<{ id: string; lastStatus?: string; lastBody?: string; components: Record<string, string> } | undefined> {
    const list = z.array(IncidentSchema).parse(await this.call('get', '/incidents'));
    const found = list.find((i) => (i.metadata?.dr_chatops as { incident_id?: unknown } | undefined)?.incident_id === key);
    if (!found) return undefined;
    const last = found.incident_updates?.[0];
    const components = Object.fromEntries((found.components ?? []).flatMap((c) => (c.status ? [[c.id, c.status] as const] : [])));
    return { id: found.id, ...(last?.status ? { lastStatus: last.status } : {}), ...(last?.body ? { lastBody: last.body } : {}), components };
  }

  private async call(method: 'get' | 'post' | 'patch', path: string, data?: unknown): Promise<unknown> {
    let res;
    try {
      res = await this.http.request<unknown>({ method, url: path, data });
    } catch (err) {
      this.observe('network');
      throw new StatuspageError(`Statuspage ${method.toUpperCase()} ${path} failed: ${axios.isAxiosError(err) ? (err.code ?? err.message) : String(err)}`, true);
    }
    this.observe(res.status < 300 ? 'ok' : res.status === 420 || res.status === 429 ? 'rate_limited' : res.status >= 500 ? 'server_error' : 'refused');
    if (res.status >= 200 && res.status < 300) return res.data;
    const body = res.data as { message?: unknown; error?: unknown } | undefined;
    const reason = typeof body?.message === 'string' ? body.message : typeof body?.error === 'string' ? body.error : `HTTP ${res.status}`;
    // 420/429: rate limited (1 request/s per key); 5xx: Statuspage trouble. Both pass.
    const limited = res.status === 420 || res.status === 429;
    const retryAfter = Number(res.headers['retry-after']);
    throw new StatuspageError(
      `Statuspage ${method.toUpperCase()} ${path} answered HTTP ${res.status}: ${reason}`,
      limited || res.status >= 500,
      limited && Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 300) * 1_000 : undefined,
    );
  }
}
