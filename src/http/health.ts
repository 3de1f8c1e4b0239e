import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
export interface HealthChecks {
  /** Rejects when Redis does not answer. */
  redis: () => Promise<void>;
  /**
   * "ok" or why Slack is not usable (src/slack/auth-monitor.ts, describeSlackState).
   * Read from a cached answer, never a call to Slack.
   */
  slack: () => string;
  /**
   * Whether Slack counts for readiness: yes for the bot (it is Slack's front
   * end), no for workers, which run steps without Slack and post when it is back.
   */
  slackRequired: boolean;
}

export interface Route {
  path: string;
  method: string[];
  handler: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * `/healthz`: the process is up (served from the first moment, whatever Slack
 * and Redis do). `/readyz`: it can do its job: Redis answers, and for the bot,
 * Slack has confirmed the token (workers report Slack without counting it). `/metrics`: Prometheus text format. All three are
 * served on the internal METRICS_PORT; the public PORT gets `publicRoutes` only.
 */
export function healthRoutes(checks: HealthChecks, metrics?: Registry): Route[] {
  return [
    ...(metrics
      ? [
          {
            path: '/metrics',
            method: ['GET'],
            handler: (_req: IncomingMessage, res: ServerResponse) => {
              void metrics.metrics().then(
                (text) => {
                  res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(text);
                },
                (err: unknown) => {
                  json(res, 500, { error: err instanceof Error ? err.message : 'metrics failed' });
                },
              );
            },
          },
        ]
      : []),
    {
      path: '/healthz',
      method: ['GET'],
      handler: (_req, res) => {
        json(res, 200, { status: 'ok' });
      },
    },
    {
      path: '/readyz',
      method: ['GET'],
      handler: (_req, res) => {
        void readiness(checks).then(
          (body) => {
            json(res, body.status === 'ready' ? 200 : 503, body);
          },
          (err: unknown) => {
            json(res, 503, { status: 'not ready', error: err instanceof Error ? err.message : 'check failed' });
          },
        );
      },
    },
  ];
}

async function readiness(checks: HealthChecks) {
  const redis = await checks.redis().then(
    () => 'ok',
    (err: unknown) => (err instanceof Error ? err.message : 'unreachable'),
  );
  const slack = checks.slack();
  const ready = redis === 'ok' && (slack === 'ok' || !checks.slackRequired);
  return { status: ready ? 'ready' : 'not ready', redis, slack };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/**
 * The routes the public PORT serves beside /slack/events: `/healthz` only, for
 * load balancers. `/metrics` (what the bot did) and `/readyz` (what it depends
 * on) stay on METRICS_PORT, which nothing outside the cluster reaches.
 */
export function publicRoutes(routes: readonly Route[]): Route[] {
  return routes.filter((r) => r.path === '/healthz');
}

/**
 * Serves exactly these routes on a port (0: a free one); anything else is 404.
 * A handler that throws gets a 500, never a crash.
 */
export async function startRouteServer(port: number, routes: readonly Route[]): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = routes.find((r) => r.path === path && r.method.includes(req.method ?? 'GET'));
    if (!route) {
      json(res, 404, { error: 'not found' });
      return;
    }
    try {
      route.handler(req, res);
    } catch (err) {
      if (!res.headersSent) json(res, 500, { error: err instanceof Error ? err.message : 'failed' });
      else res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  return server;
}

/** The port a started server listens on (the real one when it was started on port 0). */
export function listeningPort(server: Server, fallback: number): number {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : fallback;
}

/** Closes a server; resolves once it is closed (keep-alive connections that are idle are dropped). */
export function closeServer(server: Server | null | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!server?.listening) {
      resolve();
      return;
    }
    server.close(() => {
      resolve();
    });
    server.closeIdleConnections();
  });
}
