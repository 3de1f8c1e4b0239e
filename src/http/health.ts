import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { SlackAuthState } from '../slack/auth-monitor.ts';

export interface HealthChecks {
  /** Rejects when Redis does not answer. */
  redis: () => Promise<void>;
  slack: () => SlackAuthState;
}

export interface Route {
  path: string;
  method: string[];
  handler: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * `/healthz`: the process is up. `/readyz`: it can do its job (Redis answers,
 * Slack accepted the token). `/metrics`: Prometheus text format.
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
        void readiness(checks).then((body) => {
          json(res, body.status === 'ready' ? 200 : 503, body);
        });
      },
    },
  ];
}

async function readiness(checks: HealthChecks) {
  const redis = await checks.redis().then(
    () => 'ok',
    (err: unknown) => (err instanceof Error ? err.message : 'unreachable'),
  );
  const auth = checks.slack();
  const slack = auth.status === 'ok' ? 'ok' : auth.status === 'failed' ? auth.error : 'not checked yet';
  return { status: redis === 'ok' && slack === 'ok' ? 'ready' : 'not ready', redis, slack };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** Serves the routes on their own port: for Socket Mode and worker-only processes, which have no Bolt HTTP server. */
export async function startRouteServer(port: number, routes: readonly Route[]): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = routes.find((r) => r.path === path && r.method.includes(req.method ?? 'GET'));
    if (route) route.handler(req, res);
    else json(res, 404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  return server;
}
