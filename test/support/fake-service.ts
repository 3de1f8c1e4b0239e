/**
 * A loopback HTTP API with side effects that a step changes and a test counts:
 * `POST /resources` creates a resource (deduplicated by `Idempotency-Key`, as
 * idempotent APIs do), `GET /resources/<name>` reports it `creating` until it
 * is ready, `POST /notify` records a notification. It can delay or fail
 * requests on demand.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { injectedFailure, LoopbackFake, readBody } from './loopback.ts';

export interface Resource {
  name: string;
  key: string;
  createdAt: number;
  readyAt: number;
}

type Failure = { status: number; body?: string; headers?: Record<string, string> } | { delayMs: number };

export class FakeService extends LoopbackFake {
  /** Every resource created, one per distinct idempotency key. */
  readonly resources = new Map<string, Resource>();
  /** Every request received, in order. */
  readonly requests: { method: string; path: string; key?: string; at: number }[] = [];
  readonly notifications: { key: string; body: unknown }[] = [];
  /** Resources actually created, by name: more than 1 means a create was doubled (sent again with another key). */
  readonly creates = new Map<string, number>();
  /** How long a new resource stays `creating`. */
  readyAfterMs = 0;
  private readonly failures = new Map<string, Failure[]>();
  /** Fraction of requests answered 503 at random; half of the failed POSTs are applied first (the answer is lost). */
  failRate = 0;

  /** The next `times` requests to `METHOD /path-prefix` fail or wait this way (a `status` answer may carry headers, e.g. a redirect's `location`). */
  failNext(route: string, failure: Failure, times = 1): void {
    const list = this.failures.get(route) ?? [];
    for (let i = 0; i < times; i++) list.push(failure);
    this.failures.set(route, list);
  }

  /** Forgets everything: resources, requests, pending failures. */
  reset(): void {
    this.resources.clear();
    this.creates.clear();
    this.requests.length = 0;
    this.notifications.length = 0;
    this.failures.clear();
    this.readyAfterMs = 0;
  }

  /** Number of create requests received (including re-sent ones). */
  get createRequests(): number {
    return this.requests.filter((r) => r.method === 'POST' && r.path === '/resources').length;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const keyHeader = req.headers['idempotency-key'];
    const key = typeof keyHeader === 'string' ? keyHeader : undefined;
    this.requests.push({ method, path, ...(key ? { key } : {}), at: Date.now() });

    const route = [...this.failures.keys()].find((r) => `${method} ${path}`.startsWith(r));
    const failure = route ? this.failures.get(route)?.shift() : undefined;
    if (failure && 'delayMs' in failure) await new Promise((r) => setTimeout(r, failure.delayMs));
    else if (failure) {
      res.writeHead(failure.status, { 'content-type': 'text/plain', ...failure.headers }).end(failure.body ?? `failure ${failure.status}`);
      return;
    }

    const chaos = injectedFailure(this.failRate, method === 'POST');
    if (chaos === 'before') {
      send(res, 503, { error: 'injected failure' });
      return;
    }
    const [status, body] = this.answer(method, path, key, raw);
    send(res, chaos === 'after' ? 503 : status, chaos === 'after' ? { error: 'injected failure after the change was applied' } : body);
  }

  private answer(method: string, path: string, key: string | undefined, raw: string): [number, unknown] {
    if (method === 'POST' && path === '/resources') {
      if (!key) return [400, { error: 'Idempotency-Key required' }];
      const existing = [...this.resources.values()].find((r) => r.key === key);
      if (existing) return [200, existing];
      const body = JSON.parse(raw || '{}') as { name?: string };
      const name = body.name ?? `res-${this.resources.size + 1}`;
      const now = Date.now();
      const resource = { name, key, createdAt: now, readyAt: now + this.readyAfterMs };
      this.resources.set(name, resource);
      this.creates.set(name, (this.creates.get(name) ?? 0) + 1);
      return [201, resource];
    }
    if (method === 'GET' && path.startsWith('/resources/')) {
      const resource = this.resources.get(path.slice('/resources/'.length));
      if (!resource) return [404, { error: 'not found' }];
      return [200, { name: resource.name, status: Date.now() >= resource.readyAt ? 'ready' : 'creating' }];
    }
    if (method === 'POST' && path === '/notify') {
      if (key && !this.notifications.some((n) => n.key === key)) this.notifications.push({ key, body: JSON.parse(raw || '{}') });
      return [201, { ok: true }];
    }
    if (method === 'GET' && path === '/health') return [200, { status: 'ok' }];
    return [404, { error: 'no route' }];
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
