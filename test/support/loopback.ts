/**
 * The HTTP server every fake runs on: 127.0.0.1, a free port, and a stop that
 * does not wait for keep-alive connections.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Loopback {
  server: Server;
  port: number;
  url: string;
  stop(): Promise<void>;
}

export async function startLoopback(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<Loopback> {
  const server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A fake API on its own loopback server: start, its base URL, stop. */
export abstract class LoopbackFake {
  protected loopback: Loopback | undefined;
  /** How long every answer takes at least, as a real service's would (benchmarks); 0 answers at once. */
  latencyMs = 0;
  /** Requests answered, and the time spent answering them (latency included): what a caller waits in all, one after another. */
  readonly answered = { count: 0, ms: 0 };

  async start(): Promise<this> {
    this.loopback = await startLoopback(async (req, res) => {
      const started = performance.now();
      res.once('finish', () => {
        this.answered.count += 1;
        this.answered.ms += performance.now() - started;
      });
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
      await this.handle(req, res);
    });
    return this;
  }

  get url(): string {
    return this.loopback?.url ?? '';
  }

  async stop(): Promise<void> {
    await this.loopback?.stop();
  }

  protected abstract handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/**
 * Chaos for one request at `rate`: fail it `before` anything is applied, or,
 * for half of the failing changes, `after` (the change is applied and the
 * answer lost, the case idempotency must survive).
 */
export function injectedFailure(rate: number, changes: boolean): 'before' | 'after' | undefined {
  if (Math.random() >= rate) return undefined;
  return changes && Math.random() < 0.5 ? 'after' : 'before';
}
