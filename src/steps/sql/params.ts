import { isIP } from 'node:net';
import { z } from 'zod';
import { K8S_NAME, K8S_NAMESPACE } from '../kube/api.ts';
import { CLUSTER_ID } from '../rds/aws.ts';

/**
 * A PostgreSQL role or database name as it goes into the startup message (not
 * into SQL): at most 63 bytes (NAMEDATALEN), starting with a letter or `_`.
 */
const PG_NAME = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$/, 'must be a PostgreSQL name: a letter or _, then letters, digits, _ $ . - (at most 63)');

/** A DNS name or an IP address. */
const HOST = z
  .string()
  .max(253)
  .refine((h) => isIP(h) !== 0 || /^[A-Za-z0-9]([-A-Za-z0-9.]{0,251}[A-Za-z0-9])?$/.test(h), 'must be a host name or an IP address');

/** An ISO 8601 time with its offset (`2026-12-07T10:00:00Z`): a time without one would be read in the bot's own zone. */
const ISO_TIME = z
  .string()
  .refine((t) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(t) && Number.isFinite(Date.parse(t)), 'must be an ISO 8601 time with its offset, e.g. 2026-12-07T10:00:00Z');

/**
 * Statements a check may not begin with: those that end, nest or reconfigure
 * the transaction the checks run in (COMMIT, SET, SAVEPOINT…). PostgreSQL
 * refuses writes inside it; these would get out of it first. The step also
 * verifies after each check that its transaction is still the same read-only
 * one (checks.ts), so this list gives a clear message, not the guarantee.
 */
const TRANSACTION_CONTROL = ['BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'ABORT', 'SAVEPOINT', 'RELEASE', 'PREPARE', 'SET', 'RESET', 'DISCARD'];

/** The first keyword of `sql`, past comments, blanks and opening parentheses. */
export function leadingKeyword(sql: string): string {
  const rest = sql.replace(/^(\s+|--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/|\()*/, '');
  return (/^[A-Za-z_]+/.exec(rest)?.[0] ?? '').toUpperCase();
}

const CheckSchema = z
  .object({
    /** Names the check in the plan, the report and failures. */
    name: z.string().regex(/^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$/, 'must be a short name: letters, digits, - _ . (at most 63)'),
    /** One statement; its first row's first column is what `countAtLeast` and `newestRowTime` read. */
    sql: z
      .string()
      .trim()
      .min(1, 'must be a SQL query')
      .max(10_000)
      .refine((sql) => !TRANSACTION_CONTROL.includes(leadingKeyword(sql)), {
        message: `must be a query: a check may not begin with ${TRANSACTION_CONTROL.join(', ')} (the checks run in one read-only transaction the step opens and closes)`,
      }),
    expect: z.union([
      z.literal('rows'),
      z.literal('newestRowTime'),
      z.object({ countAtLeast: z.number().int().min(0) }).strict(),
    ], { error: 'must be rows, newestRowTime, or { countAtLeast: <n> }' }),
  })
  .strict();

export type SqlCheck = z.infer<typeof CheckSchema>;

export const SqlCheckParams = z
  .object({
    /** An RDS cluster on the step's target: its writer endpoint, port and master user are read from RDS. */
    cluster: CLUSTER_ID.optional(),
    /** Or a host to connect to (with `user`). */
    host: HOST.optional(),
    /** The cluster's port unless given; 5432 with `host`. */
    port: z.number().int().min(1).max(65_535).optional(),
    database: PG_NAME,
    /** The cluster's master user unless given. */
    user: PG_NAME.optional(),
    /** `iam`: a token from @aws-sdk/rds-signer; `secret`: the password in a Kubernetes Secret. Left out: iam when the cluster has IAM database authentication, else secret. */
    auth: z.enum(['iam', 'secret']).optional(),
    secret: z
      .object({
        namespace: z.string().regex(K8S_NAMESPACE, 'must be a Kubernetes namespace name'),
        name: z.string().regex(K8S_NAME, 'must be a Kubernetes object name'),
        key: z.string().regex(/^[-._a-zA-Z0-9]+$/, 'must be a valid Secret key'),
      })
      .strict()
      .optional(),
    /** `require`: TLS with the server's certificate verified; `disable` only for a loopback host (tests). */
    tls: z.enum(['require', 'disable']).default('require'),
    /** A PEM file of the CAs to verify the server with (RDS: its global-bundle.pem); the system's CA store unless given. */
    caBundle: z.string().min(1).max(4_096).optional(),
    connectTimeoutSeconds: z.number().int().min(1).max(120).default(10),
    statementTimeoutSeconds: z.number().int().min(1).max(3_600).default(30),
    /** The time the data was restored to: a newestRowTime check measures the RPO against it. */
    restorePoint: ISO_TIME.optional(),
    checks: z.array(CheckSchema).min(1, 'give at least one check').max(50),
  })
  .strict()
  .superRefine((p, ctx) => {
    const problem = (message: string, path: string) => ctx.addIssue({ code: 'custom', message, path: [path] });
    if (Boolean(p.cluster) === Boolean(p.host)) problem('give either cluster (an RDS cluster of the target) or host, not both', p.cluster ? 'host' : 'cluster');
    if (p.host && !p.cluster && !p.user) problem('a host needs the user to connect as (there is no cluster to take the master user from)', 'user');
    if (p.auth === 'secret' && !p.secret) problem('auth: secret needs secret: { namespace, name, key } (the Kubernetes Secret holding the password)', 'secret');
    if (p.auth === 'iam' && p.secret) problem('auth: iam uses a token, not a password: leave secret out, or use auth: secret', 'secret');
    if (p.tls === 'disable' && p.caBundle) problem('caBundle verifies TLS: leave it out with tls: disable', 'caBundle');
    // A list of checks made of placeholders is validated when it runs.
    if (!Array.isArray(p.checks)) return;
    const seen = new Set<string>();
    for (const check of p.checks) {
      if (seen.has(check.name)) problem(`two checks are named ${check.name}: each needs its own name`, 'checks');
      seen.add(check.name);
    }
  });

export type SqlCheckParams = z.infer<typeof SqlCheckParams>;
