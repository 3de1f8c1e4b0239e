/**
 * A local Redis Cluster of three primaries (no replicas), started from the
 * machine's redis-server and redis-cli on free loopback ports, each node with
 * its append-only file in a directory of its own; stopped and removed after.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';

const run = promisify(execFile);

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  return typeof address === 'object' && address ? address.port : 0;
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${String(timeoutMs)} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

class ClusterNode {
  private proc: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'redis-cluster-node-'));
  readonly port: number;
  constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${String(this.port)}`;
  }

  /** Started, or restarted after a kill: nodes.conf and the append-only file in its directory bring it back as it was. */
  async start(): Promise<void> {
    this.proc = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, 'nodes.conf'),
        '--cluster-node-timeout', '5000', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir],
      { stdio: 'ignore' },
    );
    await until(`redis-server on port ${String(this.port)} did not answer`, () => this.command('PING'));
  }

  /** One command on this node alone (no redirection). */
  async command(...args: string[]): Promise<string> {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), ...args]);
    return stdout;
  }

  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }
}

export class LocalRedisCluster {
  readonly nodes: ClusterNode[];

  private constructor(ports: number[]) {
    this.nodes = ports.map((p) => new ClusterNode(p));
  }

  /** Three primaries holding all 16384 slots; resolves once every node says cluster_state:ok. */
  static async start(): Promise<LocalRedisCluster> {
    const cluster = new LocalRedisCluster([await freePort(), await freePort(), await freePort()]);
    try {
      await Promise.all(cluster.nodes.map((n) => n.start()));
      await run('redis-cli', ['--cluster', 'create', ...cluster.nodes.map((n) => `127.0.0.1:${String(n.port)}`), '--cluster-replicas', '0', '--cluster-yes']);
      await cluster.waitUntilOk();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** A seed URL, as REDIS_URL takes it (one node; the cluster names the others). */
  get url(): string {
    return this.nodes[0]?.url ?? '';
  }

  /** Every seed node, comma separated (REDIS_URL with REDIS_CLUSTER=true). */
  get urls(): string {
    return this.nodes.map((n) => n.url).join(',');
  }

  async waitUntilOk(timeoutMs = 30_000): Promise<void> {
    for (const node of this.nodes) {
      await until('the cluster did not reach cluster_state:ok', async () => ((await node.command('CLUSTER', 'INFO')).includes('cluster_state:ok') ? true : undefined), timeoutMs);
    }
  }

  /** A client of the whole cluster, for the test's own reads. */
  client(): Cluster {
    const client = new Cluster(this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { redisOptions: { maxRetriesPerRequest: null } });
    client.on('error', () => undefined);
    return client;
  }

  /** The slot Redis Cluster hashes each key to (CLUSTER KEYSLOT), in order. */
  async keySlots(keys: readonly string[]): Promise<number[]> {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1 });
    try {
      return await Promise.all(keys.map(async (k) => Number(await client.call('CLUSTER', 'KEYSLOT', k))));
    } finally {
      client.disconnect();
    }
  }

  /** The node that serves `slot`. */
  async nodeOfSlot(slot: number): Promise<ClusterNode> {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1 });
    try {
      const slots = (await client.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
      const range = slots.find(([from, to]) => slot >= from && slot <= to);
      const node = this.nodes.find((n) => n.port === range?.[2][1]);
      if (!node) throw new Error(`no node serves slot ${String(slot)}`);
      return node;
    } finally {
      client.disconnect();
    }
  }

  /** Every key of every primary matching `pattern`, by the node's port (SCAN on each node alone). */
  async keysByNode(pattern: string): Promise<Map<number, string[]>> {
    const found = new Map<number, string[]>();
    for (const node of this.nodes) {
      const client = new Redis(node.url, { maxRetriesPerRequest: 1 });
      try {
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
          cursor = next;
          keys.push(...batch);
        } while (cursor !== '0');
        found.set(node.port, keys);
      } finally {
        client.disconnect();
      }
    }
    return found;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()));
    for (const node of this.nodes) rmSync(node.dir, { recursive: true, force: true });
  }
}
