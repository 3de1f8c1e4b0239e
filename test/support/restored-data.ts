/**
 * The data a restored cluster holds, in the machine's real PostgreSQL: a
 * schema of the test's own (dropped at the end) with an `orders` table whose
 * newest row the test sets. Fake RDS answers a restored cluster's endpoint
 * with this server (FakeRds.restoredEndpoint = LOCAL_PG).
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export const LOCAL_PG = { address: '127.0.0.1', port: 5432 };
const HOUR = 3_600_000;

export class RestoredData {
  readonly schema = `restored_${randomBytes(6).toString('hex')}`;
  private readonly admin = new Client({ host: LOCAL_PG.address, port: LOCAL_PG.port, user: 'postgres', database: 'test' });

  async start(): Promise<this> {
    await this.admin.connect();
    await this.admin.query(`CREATE SCHEMA ${this.schema}`);
    await this.admin.query(`CREATE TABLE ${this.schema}.orders (id int PRIMARY KEY, created_at timestamptz NOT NULL)`);
    return this;
  }

  async stop(): Promise<void> {
    await this.admin.query(`DROP SCHEMA ${this.schema} CASCADE`);
    await this.admin.end();
  }

  /** Two orders, the newest at `newest`. */
  async fill(newest: Date): Promise<void> {
    await this.admin.query(`DELETE FROM ${this.schema}.orders`);
    await this.admin.query(`INSERT INTO ${this.schema}.orders VALUES (1, $1), (2, $2)`, [new Date(newest.getTime() - HOUR), newest]);
  }

  /** No orders at all: what a restore of a point before the data would hold. */
  async empty(): Promise<void> {
    await this.admin.query(`DELETE FROM ${this.schema}.orders`);
  }

  /** restore-test's parameters that read this data (TLS off: the local server is loopback). */
  get params(): Record<string, string> {
    return { database: 'test', tls: 'disable', countQuery: `SELECT count(*) FROM ${this.schema}.orders`, freshnessQuery: `SELECT max(created_at) FROM ${this.schema}.orders` };
  }
}
