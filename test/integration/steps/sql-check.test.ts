import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { bindStepParams } from '../../../src/engine/bind.ts';
import { kubeScope } from '../../../src/steps/kube/scope.ts';
import { createWriterStep } from '../../../src/steps/rds/create-writer.ts';
import { restorePitrStep } from '../../../src/steps/rds/restore-pitr.ts';
import { sqlCheckStep } from '../../../src/steps/sql/check.ts';
import { FakeKube } from '../../support/fake-kube.ts';
import { FakeRds } from '../../support/fake-rds.ts';
import { PgPasswordFront } from '../../support/pg-password-front.ts';
import { createStepClients, failureOf, fakeAwsCredentials, planContext, stepContext, type TestStepContext, withClients } from '../../support/step-context.ts';

/** The machine's PostgreSQL (trust auth), as the fake RDS answers for the restored cluster. */
const LOCAL_PG = { address: '127.0.0.1', port: 5432 };
const RESTORE_POINT = '2026-01-15T10:00:00Z';
const SECRET_PASSWORD = 'S3cr3t-orders-pass';
const HOUR = 3_600_000;

describe('sql.check against the real PostgreSQL, the restored cluster described by a fake RDS', () => {
  let rds: FakeRds;
  let kube: FakeKube;
  let front: PgPasswordFront;
  let clients: ReturnType<typeof createStepClients>;
  let step: ReturnType<typeof sqlCheckStep>;
  let admin: Client;
  /** This run's own schema, dropped afterwards. */
  let schema: string;

  const tableRows = async (table: string): Promise<unknown[]> => (await admin.query<Record<string, unknown>>(`SELECT * FROM ${schema}.${table} ORDER BY id`)).rows;
  /** The step's connections the server still has: none once a run is over. */
  const stepConnections = async (): Promise<number> =>
    Number((await admin.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'dr-chatops sql.check'")).rows[0]?.n);

  beforeAll(async () => {
    fakeAwsCredentials();
    rds = await new FakeRds().start();
    kube = await new FakeKube().start();
    front = await new PgPasswordFront().start();
    clients = createStepClients({ aws: { region: 'us-east-1', rdsEndpointUrl: rds.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } });
    step = withClients(sqlCheckStep(), clients);
    admin = new Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
    await admin.connect();
    schema = `sql_check_${randomBytes(6).toString('hex')}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`CREATE TABLE ${schema}.orders (id int PRIMARY KEY, created_at timestamptz NOT NULL)`);
    await admin.query(`INSERT INTO ${schema}.orders VALUES (1, '2026-01-15T09:50:00Z'), (2, '2026-01-15T09:55:00Z'), (3, '2026-01-15T09:58:30Z')`);
    // A time without a zone, as many applications write them: read as UTC.
    await admin.query(`CREATE TABLE ${schema}.audit_log (id int PRIMARY KEY, at timestamp NOT NULL)`);
    await admin.query(`INSERT INTO ${schema}.audit_log VALUES (1, '2026-01-15 09:40:00'), (2, '2026-01-15 09:59:15')`);
  });
  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
    await front.stop();
    await kube.stop();
    await rds.stop();
  });
  beforeEach(() => {
    rds.clusters.clear();
    rds.instances.clear();
    rds.calls.length = 0;
    kube.secrets.clear();
    kube.calls.length = 0;
    front.logins.length = 0;
    front.refuse = undefined;
    const latest = new Date();
    rds.addCluster('orders-restored', { earliest: new Date(latest.getTime() - HOUR), latest, endpoint: LOCAL_PG, masterUsername: 'postgres' });
    kube.addSecret('production', 'orders-db', { password: SECRET_PASSWORD, host: 'orders.example' });
  });
  afterEach(async () => {
    // Whatever happened, the step closed its connection.
    await vi.waitFor(async () => expect(await stepConnections()).toBe(0), { timeout: 5_000, interval: 50 });
  });

  const checks = () => [
    { name: 'orders-exist', sql: `SELECT 1 FROM ${schema}.orders LIMIT 1`, expect: 'rows' },
    { name: 'order-count', sql: `SELECT count(*) FROM ${schema}.orders`, expect: { countAtLeast: 3 } },
    { name: 'orders-newest', sql: `SELECT max(created_at) FROM ${schema}.orders`, expect: 'newestRowTime' },
    { name: 'audit-newest', sql: `SELECT max(at) FROM ${schema}.audit_log`, expect: 'newestRowTime' },
  ];
  const params = (overrides: Record<string, unknown> = {}) =>
    step.params.parse({
      cluster: 'orders-restored',
      database: 'test',
      tls: 'disable',
      secret: { namespace: 'production', name: 'orders-db', key: 'password' },
      restorePoint: RESTORE_POINT,
      checks: checks(),
      ...overrides,
    });
  /** Nothing the step let out holds the credential. */
  const expectNowhere = (credential: string, ctx: TestStepContext, ...texts: unknown[]) => {
    for (const text of [...ctx.progressMessages, ...texts.map((t) => JSON.stringify(t))]) expect(text).not.toContain(credential);
  };

  it('measures the RPO: the restore point minus the newest row of the restored data', async () => {
    const ctx = stepContext();
    const out = await step.run(ctx, params());

    expect(out).toEqual({
      passed: 4,
      failed: 0,
      // The newest of the two tables: 09:59:15 (a time without a zone, read as UTC), 45 s before the restore point.
      measuredRpoSeconds: 45,
      newestRowAt: '2026-01-15T09:59:15.000Z',
      report: [
        'orders-exist: 1 row — pass',
        'order-count: count 3 (at least 3) — pass',
        'orders-newest: newest row at 2026-01-15T09:58:30.000Z, 1m 30s before the restore point 2026-01-15T10:00:00.000Z — pass',
        'audit-newest: newest row at 2026-01-15T09:59:15.000Z, 45s before the restore point 2026-01-15T10:00:00.000Z — pass',
      ].join('\n'),
    });
    expect(ctx.progressMessages.at(-1)).toBe('all 4 checks passed; measured RPO 45s');
    expect(rds.callsTo('DescribeDBClusters')).toHaveLength(1);
    expectNowhere(SECRET_PASSWORD, ctx, out);

    // Read-only and idempotent: entered again, it reads the same again.
    expect(await step.run(stepContext({ attempt: 2 }), params())).toEqual(out);
  });

  it('checks the cluster an earlier restore made, against the restore point that step reports', async () => {
    rds.addCluster('orders', { earliest: new Date('2026-01-14T00:00:00Z'), latest: new Date('2026-01-16T00:00:00Z') });
    const restored = await withClients(restorePitrStep(), clients).run(stepContext({ runId: 'rdrill01' }), { source: 'orders', to: RESTORE_POINT, restoreType: 'full-copy' });
    await withClients(createWriterStep(), clients).run(stepContext({ runId: 'rdrill01' }), { cluster: String(restored.clusterId), instanceClass: 'db.r6g.large' });
    // The restored cluster's endpoint answers with the local PostgreSQL, which holds the data as restored.
    const cluster = rds.clusters.get(String(restored.clusterId));
    if (!cluster) throw new Error('the restore made no cluster');
    cluster.endpoint = LOCAL_PG;

    const out = await step.run(stepContext({ runId: 'rdrill01' }), params({ cluster: restored.clusterId, restorePoint: restored.restorePoint, checks: checks().slice(0, 3) }));
    expect(out).toMatchObject({ passed: 3, failed: 0, measuredRpoSeconds: 90, newestRowAt: '2026-01-15T09:58:30.000Z' });
  });

  it('without a restore point, reports the newest row but measures no RPO', async () => {
    const out = await step.run(stepContext(), params({ restorePoint: undefined, checks: [checks()[2]] }));
    expect(out).toEqual({ passed: 1, failed: 0, newestRowAt: '2026-01-15T09:58:30.000Z', report: 'orders-newest: newest row at 2026-01-15T09:58:30.000Z (no restorePoint: RPO not measured) — pass' });
  });

  it('plans the endpoint, database, user, login and each check, showing no credential, and calls nothing that changes', async () => {
    const lines = await step.plan(planContext(), params());
    expect(lines[0]).toEqual({
      action: 'check',
      resource: 'postgres test on rds cluster orders-restored',
      detail:
        'connect to 127.0.0.1:5432, database test, as postgres with the password in key password of Kubernetes Secret production/orders-db (never shown) (allowed: K8S_ALLOWED_NAMESPACES=*, system namespaces excluded), without TLS (allowed for a loopback host only); ' +
        'reads only: one READ ONLY transaction, rolled back, on a session whose transactions default to read-only; statement timeout 30s, connect timeout 10s; nothing is written',
    });
    expect(lines.slice(1).map((l) => `${l.resource}: ${l.detail}`)).toEqual([
      `sql check orders-exist: expects rows: SELECT 1 FROM ${schema}.orders LIMIT 1`,
      `sql check order-count: expects a count of at least 3 (first column of the first row): SELECT count(*) FROM ${schema}.orders`,
      `sql check orders-newest: reads the newest row's time (first column of the first row); measured RPO = the restore point ${RESTORE_POINT} − that time: SELECT max(created_at) FROM ${schema}.orders`,
      `sql check audit-newest: reads the newest row's time (first column of the first row); measured RPO = the restore point ${RESTORE_POINT} − that time: SELECT max(at) FROM ${schema}.audit_log`,
    ]);
    expect(JSON.stringify(lines)).not.toContain(SECRET_PASSWORD);
    expect(rds.calls.map((c) => c.action)).toEqual(['DescribeDBClusters']);
    expect(kube.calls.filter((c) => c.method !== 'GET')).toEqual([]);
  });

  it('plans a check of the cluster an earlier step restores, before it exists', async () => {
    const raw = {
      cluster: '${{ steps.restore.outputs.clusterId }}',
      database: 'orders',
      restorePoint: '${{ steps.restore.outputs.restorePoint }}',
      checks: [checks()[2]],
    };
    const bound = bindStepParams(step, raw, { params: {}, outputs: {}, run: { id: 'rplan001', shortId: 'rplan001' } }, true);
    if (!bound.ok) throw new Error(bound.problem);
    const lines = await step.plan(planContext(), bound.params as never);
    expect(lines).toEqual([
      {
        action: 'check',
        resource: 'postgres orders on rds cluster from an earlier step',
        detail:
          "connect to the cluster's writer endpoint (read from RDS when it runs), database orders, as the cluster's master user with an IAM token if the cluster has IAM database authentication on (it is refused otherwise: give secret), " +
          "over TLS, the server's certificate and name verified against the system's CA store; reads only: one READ ONLY transaction, rolled back, on a session whose transactions default to read-only; statement timeout 30s, connect timeout 10s; nothing is written",
      },
      {
        action: 'check',
        resource: 'sql check orders-newest',
        detail: `reads the newest row's time (first column of the first row); measured RPO = the restore point from an earlier step − that time: SELECT max(created_at) FROM ${schema}.orders`,
      },
    ]);
    expect(rds.calls).toEqual([]);
  });

  it('fails when a count is below its minimum or a query returns no rows, each with its reason, and still runs the other checks', async () => {
    const ctx = stepContext();
    const failure = await failureOf(
      step.run(
        ctx,
        params({
          checks: [
            { name: 'order-count', sql: `SELECT count(*) FROM ${schema}.orders`, expect: { countAtLeast: 10 } },
            { name: 'orders-after-restore', sql: `SELECT id FROM ${schema}.orders WHERE created_at > '${RESTORE_POINT}'`, expect: 'rows' },
            { name: 'orders-newest', sql: `SELECT max(created_at) FROM ${schema}.orders`, expect: 'newestRowTime' },
          ],
        }),
      ),
    );
    expect(failure).toEqual({
      message: '2 of 3 checks failed: order-count: count 3, expected at least 10; orders-after-restore: returned no rows; measured RPO 1m 30s',
      permanent: true,
    });
    expect(ctx.progressMessages.slice(-3)).toEqual([
      'order-count: count 3, expected at least 10 — FAIL',
      'orders-after-restore: returned no rows — FAIL',
      'orders-newest: newest row at 2026-01-15T09:58:30.000Z, 1m 30s before the restore point 2026-01-15T10:00:00.000Z — pass',
    ]);
    expectNowhere(SECRET_PASSWORD, ctx, failure);
  });

  it('a statement that would write is refused by the read-only transaction, and the data is unchanged', async () => {
    const before = await tableRows('orders');
    const failure = await failureOf(
      step.run(
        stepContext(),
        params({
          checks: [
            { name: 'insert', sql: `INSERT INTO ${schema}.orders VALUES (99, now()) RETURNING id`, expect: 'rows' },
            { name: 'create', sql: `CREATE TABLE ${schema}.intruder (id int)`, expect: 'rows' },
            { name: 'update', sql: `UPDATE ${schema}.orders SET created_at = now() RETURNING id`, expect: 'rows' },
            // Undoing the session's default does not reach the transaction the checks run in.
            { name: 'undo-default', sql: "SELECT set_config('default_transaction_read_only', 'off', false)", expect: 'rows' },
            { name: 'delete-after-undo', sql: `DELETE FROM ${schema}.orders RETURNING id`, expect: 'rows' },
          ],
        }),
      ),
    );
    expect(failure.permanent).toBe(true);
    expect(failure.message).toBe(
      '4 of 5 checks failed: ' +
        'insert: refused by the read-only transaction: cannot execute INSERT in a read-only transaction (sql.check only reads; nothing was written); ' +
        'create: refused by the read-only transaction: cannot execute CREATE TABLE in a read-only transaction (sql.check only reads; nothing was written); ' +
        'update: refused by the read-only transaction: cannot execute UPDATE in a read-only transaction (sql.check only reads; nothing was written); ' +
        'delete-after-undo: refused by the read-only transaction: cannot execute DELETE in a read-only transaction (sql.check only reads; nothing was written)',
    );
    expect(await tableRows('orders')).toEqual(before);
    expect((await admin.query('SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2', [schema, 'intruder'])).rows).toEqual([]);
  });

  it('refuses, before connecting, checks that would leave the transaction (COMMIT, SET, several statements are one check each)', () => {
    const refused = (sql: string) => step.params.safeParse({ ...params(), checks: [{ name: 'x', sql, expect: 'rows' }] });
    for (const sql of ['COMMIT', ' /* then */ SET default_transaction_read_only = off', 'rollback', 'BEGIN READ WRITE']) {
      const result = refused(sql);
      expect(result.success, sql).toBe(false);
      expect(result.error?.issues[0]?.message).toMatch(/^must be a query: a check may not begin with BEGIN, START, COMMIT/);
    }
  });

  it('runs several statements in one check not at all: PostgreSQL takes one statement per check', async () => {
    const failure = await failureOf(step.run(stepContext(), params({ checks: [{ name: 'two', sql: `SELECT 1; DELETE FROM ${schema}.orders`, expect: 'rows' }] })));
    expect(failure.message).toBe('1 of 1 checks failed: two: PostgreSQL refused it: cannot insert multiple commands into a prepared statement (SQLSTATE 42601)');
    expect(await tableRows('orders')).toHaveLength(3);
  });

  it('a statement that takes longer than the statement timeout fails with that reason', async () => {
    const failure = await failureOf(
      step.run(stepContext(), params({ statementTimeoutSeconds: 1, checks: [{ name: 'slow', sql: 'SELECT pg_sleep(5)', expect: 'rows' }] })),
    );
    expect(failure).toEqual({
      message: '1 of 1 checks failed: slow: took longer than the statement timeout (1s) and was canceled by PostgreSQL: canceling statement due to statement timeout',
      permanent: true,
    });
  });

  describe('IAM authentication', () => {
    beforeEach(() => {
      rds.clusters.clear();
      rds.instances.clear();
      const latest = new Date();
      // The front asks for a password as Aurora does of an rds_iam user, then hands over to the local PostgreSQL.
      rds.addCluster('orders-restored', {
        earliest: new Date(latest.getTime() - HOUR),
        latest,
        endpoint: { address: '127.0.0.1', port: front.port },
        masterUsername: 'postgres',
        settings: { iamAuth: true },
      });
    });

    it('sends a token from rds-signer as the password, made for the endpoint, port, user and region with the target\'s credentials', async () => {
      const ctx = stepContext();
      const out = await step.run(ctx, params({ secret: undefined, checks: checks().slice(0, 2) }));

      expect(out).toMatchObject({ passed: 2, failed: 0 });
      expect(front.logins).toHaveLength(1);
      const [login] = front.logins;
      expect(login).toMatchObject({ user: 'postgres', database: 'test' });
      const token = login?.password ?? '';
      const url = new URL(`https://${token}`);
      expect(url.host).toBe(`127.0.0.1:${front.port}`);
      expect(Object.fromEntries(url.searchParams)).toMatchObject({
        Action: 'connect',
        DBUser: 'postgres',
        'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
        'X-Amz-Expires': '900',
        'X-Amz-SignedHeaders': 'host',
      });
      expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^AKIAFAKEFAKEFAKE0001\/\d{8}\/us-east-1\/rds-db\/aws4_request$/);
      expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
      expectNowhere(token, ctx, out);
      expect(ctx.progressMessages[0]).toBe(`connecting to rds cluster orders-restored (127.0.0.1:${front.port}), database test, as postgres (IAM token)`);
    });

    it('plans IAM because the cluster has it on, and refuses IAM on a cluster that has it off', async () => {
      const [line] = await step.plan(planContext(), params({ secret: undefined }));
      expect(line?.detail).toContain("as postgres with an IAM authentication token (@aws-sdk/rds-signer, with the target's credentials, valid 15 minutes, made when the server asks for it)");

      rds.clusters.clear();
      rds.addCluster('orders-restored', { earliest: new Date(Date.now() - HOUR), latest: new Date(), endpoint: LOCAL_PG, settings: { iamAuth: false } });
      expect(await failureOf(step.plan(planContext(), params({ secret: undefined, auth: 'iam' })))).toEqual({
        message:
          'rds cluster orders-restored (127.0.0.1:5432) has IAM database authentication off (IAMDatabaseAuthenticationEnabled false; a restore turns it on only when asked): use auth: secret with secret: { namespace, name, key }, or turn it on for the cluster',
        permanent: true,
      });
      expect(front.logins).toEqual([]);
    });

    it('hides the token from an error that quotes it', async () => {
      front.refuse = (login) => `PAM authentication failed for user "${login.user}" with token ${login.password}`;
      const ctx = stepContext();
      const failure = await failureOf(step.run(ctx, params({ secret: undefined })));
      const token = front.logins[0]?.password ?? '';
      expect(token).toContain('X-Amz-Signature=');
      expect(failure.permanent).toBe(true);
      expect(failure.message).toBe(
        `PostgreSQL at rds cluster orders-restored (127.0.0.1:${front.port}) refused the login of postgres: PAM authentication failed for user "postgres" with token [redacted]; with IAM the user needs GRANT rds_iam and the target's role rds-db:connect on it`,
      );
      expectNowhere(token, ctx, failure);
    });
  });

  describe('password from a Kubernetes Secret', () => {
    beforeEach(() => {
      rds.clusters.clear();
      rds.instances.clear();
      const latest = new Date();
      rds.addCluster('orders-restored', { earliest: new Date(latest.getTime() - HOUR), latest, endpoint: { address: '127.0.0.1', port: front.port }, masterUsername: 'postgres' });
    });

    it('sends the Secret\'s value as the password, and lets it out nowhere, not even when a check fails', async () => {
      const ctx = stepContext();
      const failure = await failureOf(step.run(ctx, params({ checks: [{ name: 'too-few', sql: `SELECT count(*) FROM ${schema}.orders`, expect: { countAtLeast: 4 } }] })));
      expect(front.logins).toEqual([{ user: 'postgres', database: 'test', password: SECRET_PASSWORD }]);
      expect(failure).toEqual({ message: '1 of 1 checks failed: too-few: count 3, expected at least 4', permanent: true });
      expectNowhere(SECRET_PASSWORD, ctx, failure);
    });

    it('hides the password from an error that quotes it', async () => {
      front.refuse = (login) => `password authentication failed for user "${login.user}" (password=${login.password})`;
      const ctx = stepContext();
      const failure = await failureOf(step.run(ctx, params()));
      expect(failure.message).toBe(
        `PostgreSQL at rds cluster orders-restored (127.0.0.1:${front.port}) refused the login of postgres: password authentication failed for user "postgres" (password=[redacted]); check the password in secret production/orders-db`,
      );
      expectNowhere(SECRET_PASSWORD, ctx, failure);
    });

    it('refuses a Secret the allow-list leaves out, and a key the Secret does not have, before connecting', async () => {
      const limited = withClients(sqlCheckStep(kubeScope({ allowedSecrets: ['app-config'] })), clients);
      expect(await failureOf(limited.plan(planContext(), params()))).toEqual({
        message: 'secret production/orders-db is not allowed by K8S_ALLOWED_SECRETS=app-config; to allow it, add orders-db or production/orders-db to K8S_ALLOWED_SECRETS (kubernetes.allowedSecrets)',
        permanent: true,
      });
      expect(await failureOf(step.run(stepContext(), params({ secret: { namespace: 'production', name: 'orders-db', key: 'pasword' } })))).toEqual({
        message: 'secret production/orders-db has no key pasword (its keys: password, host)',
        permanent: true,
      });
      expect(front.logins).toEqual([]);
    });
  });

  describe('TLS', () => {
    it('requires TLS by default: a server without it is refused and nothing runs', async () => {
      const failure = await failureOf(
        step.run(stepContext(), params({ cluster: undefined, host: '127.0.0.1', user: 'postgres', tls: undefined })),
      );
      expect(failure).toEqual({
        message: "127.0.0.1:5432 does not offer TLS, which tls: require needs (RDS always does: is this the cluster's endpoint?); nothing was run",
        permanent: true,
      });
    });

    it('refuses tls: disable for anything but a loopback host', async () => {
      rds.clusters.clear();
      rds.addCluster('orders-restored', { earliest: new Date(Date.now() - HOUR), latest: new Date() });
      const failure = await failureOf(step.plan(planContext(), params()));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toBe(
        "tls: disable is allowed only for a loopback host (a test's local PostgreSQL), and orders-restored.cluster-abc123.us-east-1.rds.amazonaws.com is not one: RDS requires TLS, so leave tls at require (with caBundle naming RDS's CA bundle, e.g. global-bundle.pem)",
      );
    });

    it('refuses a CA bundle it cannot read, saying which', async () => {
      const failure = await failureOf(step.plan(planContext(), params({ tls: 'require', caBundle: '/nonexistent/global-bundle.pem' })));
      expect(failure).toEqual({
        message: "cannot read the CA bundle /nonexistent/global-bundle.pem (ENOENT): give the path of a PEM file the bot can read (RDS's is global-bundle.pem)",
        permanent: true,
      });
    });
  });

  it('refuses parameters that cannot work, saying how to write them', () => {
    const problems = (raw: Record<string, unknown>) => step.params.safeParse({ ...params(), ...raw }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(problems({ host: '127.0.0.1' })).toEqual(['host: give either cluster (an RDS cluster of the target) or host, not both']);
    expect(problems({ cluster: undefined, host: 'db.internal' })).toEqual(['user: a host needs the user to connect as (there is no cluster to take the master user from)']);
    expect(problems({ auth: 'secret', secret: undefined })).toEqual(['secret: auth: secret needs secret: { namespace, name, key } (the Kubernetes Secret holding the password)']);
    expect(problems({ restorePoint: '2026-01-15 10:00' })).toEqual(['restorePoint: must be an ISO 8601 time with its offset, e.g. 2026-12-07T10:00:00Z']);
    expect(problems({ checks: [checks()[0], checks()[0]] })).toEqual(['checks: two checks are named orders-exist: each needs its own name']);
    expect(problems({ checks: [{ name: 'x', sql: 'SELECT 1', expect: 'many' }] })).toEqual(['checks.0.expect: must be rows, newestRowTime, or { countAtLeast: <n> }']);
  });
});
