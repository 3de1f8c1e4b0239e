import { Signer } from '@aws-sdk/rds-signer';
import type { DBCluster } from '@aws-sdk/client-rds';
import { Client, type ClientConfig, type CustomTypesConfig, types } from 'pg';
import type { TargetAccess } from '../../targets/targets.ts';
import { withoutUrlCredentials } from '../../util/url-credentials.ts';
import { checkSecret, enforce, type KubeScope, scopeOnTarget } from '../kube/scope.ts';
import { readSecret } from '../kube/update-secret.ts';
import { mustDescribeCluster, rdsId } from '../rds/aws.ts';
import { PermanentStepError } from '../types.ts';
import type { SqlCheckParams } from './params.ts';
import { tlsSettings } from './tls.ts';

/** Where the step connects: a cluster's writer endpoint, or the host it was given. */
export interface Place {
  host: string;
  port: number;
  /** For messages: `rds cluster x (host:port)` or `host:port`. */
  what: string;
  /** The cluster's master user: the user unless one is given. */
  masterUser?: string | undefined;
  /** Whether the cluster has IAM database authentication on (unknown for a host). */
  iam?: boolean | undefined;
  /** The cluster's instances: none means nothing answers at its endpoint. */
  instances?: number | undefined;
}

export function placeOfCluster(id: string, cluster: DBCluster, port: number | undefined): Place {
  const host = cluster.Endpoint ?? '';
  const at = port ?? cluster.Port ?? 5432;
  return {
    host,
    port: at,
    what: `rds cluster ${id} (${host || 'no endpoint yet'}:${at})`,
    masterUser: cluster.MasterUsername,
    iam: cluster.IAMDatabaseAuthenticationEnabled ?? false,
    instances: cluster.DBClusterMembers?.length ?? 0,
  };
}

/** The place in `p`: the cluster described now (RDS DescribeDBClusters), or the host. */
export async function placeOf(ctx: TargetAccess, p: SqlCheckParams): Promise<Place> {
  if (!p.cluster) {
    const port = p.port ?? 5432;
    return { host: p.host ?? '', port, what: `${p.host ?? ''}:${port}` };
  }
  const id = rdsId(p.cluster);
  return placeOfCluster(id, await mustDescribeCluster(ctx.aws.rds(), id), p.port);
}

export type Auth = { kind: 'iam' } | { kind: 'secret'; namespace: string; name: string; key: string };

/** How to log in: as asked, else IAM when the cluster has it on, else the Secret. */
export function authOf(p: Pick<SqlCheckParams, 'auth' | 'secret'>, place: Pick<Place, 'iam' | 'what'>): Auth {
  const kind = p.auth ?? (p.secret ? 'secret' : place.iam ? 'iam' : undefined);
  if (kind === 'iam') {
    if (place.iam === false) {
      throw new PermanentStepError(
        `${place.what} has IAM database authentication off (IAMDatabaseAuthenticationEnabled false; a restore turns it on only when asked): use auth: secret with secret: { namespace, name, key }, or turn it on for the cluster`,
      );
    }
    return { kind: 'iam' };
  }
  if (kind === 'secret' && p.secret) return { kind: 'secret', ...p.secret };
  const why = place.iam === false ? `${place.what} has IAM database authentication off, so ` : '';
  throw new PermanentStepError(`${why}say how to log in: secret: { namespace, name, key } (a Kubernetes Secret holding the password), or auth: iam`);
}

export function describeAuth(auth: Auth): string {
  return auth.kind === 'iam'
    ? 'an IAM authentication token (@aws-sdk/rds-signer, with the target\'s credentials, valid 15 minutes, made when the server asks for it)'
    : `the password in key ${auth.key} of Kubernetes Secret ${auth.namespace}/${auth.name} (never shown)`;
}

/**
 * Every credential the step has held, and the shapes one takes in text, hidden
 * from whatever leaves the step: errors, progress, outputs.
 */
export class Redactor {
  private readonly values = new Set<string>();

  add(value: string): void {
    if (value.length === 0) return;
    this.values.add(value);
    this.values.add(encodeURIComponent(value));
  }

  scrub(text: string): string {
    let out = text;
    // Longest first: a value's URL-encoded form may contain the value itself.
    for (const value of [...this.values].sort((a, b) => b.length - a.length)) out = out.split(value).join('[redacted]');
    return withoutUrlCredentials(out)
      // An IAM token is a presigned URL: its signature and credentials, even cut short.
      .replace(/(X-Amz-(?:Signature|Credential|Security-Token))=[^&\s"']*/gi, '$1=[redacted]')
      // A libpq connection string's password (`password=…`).
      .replace(/\b(password|passwd|pwd)\s*=\s*(?!\[redacted\])('[^']*'|[^\s&;,)]+)/gi, '$1=[redacted]');
  }
}

/** The password pg asks for when the server wants one: an IAM token made then, or the Secret's value. */
export async function passwordFor(ctx: TargetAccess, auth: Auth, place: Place, user: string, limits: KubeScope, redactor: Redactor): Promise<() => Promise<string>> {
  if (auth.kind === 'iam') {
    const rds = ctx.aws.rds();
    // The token is signed as the target's own RDS calls are: its credentials (its role, when it has one), its region.
    const signer = new Signer({ hostname: place.host, port: place.port, username: user, region: await rds.config.region(), credentials: rds.config.credentials });
    return async () => {
      const token = await signer.getAuthToken();
      redactor.add(token);
      return token;
    };
  }
  const password = await secretPassword(ctx, auth, limits);
  redactor.add(password);
  return () => Promise.resolve(password);
}

/** Reads the password from the Secret (allowed by K8S_ALLOWED_NAMESPACES and K8S_ALLOWED_SECRETS); plan() reads it too, to fail early. */
export async function secretPassword(ctx: TargetAccess, auth: Extract<Auth, { kind: 'secret' }>, limits: KubeScope): Promise<string> {
  enforce(checkSecret(scopeOnTarget(limits, ctx.target), auth.namespace, auth.name));
  const secret = await readSecret(await ctx.kube(), auth.namespace, auth.name);
  const encoded = secret.data?.[auth.key];
  if (encoded === undefined) {
    const keys = Object.keys(secret.data ?? {});
    throw new PermanentStepError(`secret ${auth.namespace}/${auth.name} has no key ${auth.key} (its keys: ${keys.length ? keys.join(', ') : 'none'})`);
  }
  const password = Buffer.from(encoded, 'base64').toString('utf8');
  if (password.length === 0) throw new PermanentStepError(`key ${auth.key} of secret ${auth.namespace}/${auth.name} is empty`);
  return password;
}

/** Times arrive as PostgreSQL writes them (the session is in UTC): pg would read a time without a zone in the bot's own zone. */
const TIMES = new Set([types.builtins.TIMESTAMP, types.builtins.TIMESTAMPTZ, types.builtins.DATE]);
const asWritten = (value: string): string => value;
const rawTimes: CustomTypesConfig = {
  getTypeParser: ((oid, format): ((value: string) => unknown) => (TIMES.has(oid) ? asWritten : (types.getTypeParser(oid, format) as (value: string) => unknown))) as CustomTypesConfig['getTypeParser'],
};

export interface Connection {
  client: Client;
  /** Ends the connection (idempotent). */
  close(): Promise<void>;
}

/**
 * Connects read-only: every transaction of the session defaults to READ
 * ONLY (`default_transaction_read_only=on`, sent at startup, before any SQL),
 * statements end after `statementTimeoutSeconds`, the session is in UTC. No
 * connection string: pg would let one override these fields (API-FACTS 8.10);
 * and every field that matters is given, so no PG* environment variable fills one in.
 */
export async function connect(p: SqlCheckParams, place: Place, user: string, password: () => Promise<string>, signal: AbortSignal, redactor: Redactor): Promise<Connection> {
  const statementMs = p.statementTimeoutSeconds * 1_000;
  const config: ClientConfig = {
    host: place.host,
    port: place.port,
    database: p.database,
    user,
    password,
    ssl: await tlsSettings(p, place.host),
    // Set here so PGSSLNEGOTIATION cannot change how TLS starts.
    sslnegotiation: 'postgres',
    connectionTimeoutMillis: p.connectTimeoutSeconds * 1_000,
    statement_timeout: statementMs,
    // A server that stops answering mid-query is given up on a little after the server's own limit.
    query_timeout: statementMs + 5_000,
    // Should the bot stop between statements, the server ends the transaction itself.
    idle_in_transaction_session_timeout: statementMs + 5_000,
    options: '-c default_transaction_read_only=on -c TimeZone=UTC',
    application_name: 'dr-chatops sql.check',
    types: rawTimes,
  };
  const client = new Client(config);
  // An error on an idle connection is emitted, not thrown: without a listener it would end the process.
  client.on('error', () => undefined);
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => (closed ??= client.end().catch(() => undefined));
  const onAbort = () => void close();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
  } catch (err) {
    signal.removeEventListener('abort', onAbort);
    await close();
    throw connectionError(err, place, user, p, redactor);
  }
  return {
    client,
    close: () => {
      signal.removeEventListener('abort', onAbort);
      return close();
    },
  };
}

/** The text of an error, credentials hidden. */
export function errorText(err: unknown, redactor: Redactor): string {
  return redactor.scrub(err instanceof Error ? err.message : String(err));
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Certificate problems Node reports (tls.connect's error codes). */
const CERTIFICATE_CODES = /^(ERR_TLS_CERT_ALTNAME_INVALID|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_[A-Z_]+)$/;

/**
 * A connection that failed: a refusal that trying again will not change
 * (login, database, TLS) fails the run at once; an unreachable or starting
 * server is retried. Only scrubbed text, never pg's error as a cause (it may
 * carry the connection's settings).
 */
function connectionError(err: unknown, place: Place, user: string, p: SqlCheckParams, redactor: Redactor): Error {
  const text = errorText(err, redactor);
  const code = codeOf(err);
  const at = place.what;
  if (code === '28P01' || code === '28000') {
    const hint = p.auth === 'iam' || !p.secret
      ? `; with IAM the user needs GRANT rds_iam and the target's role rds-db:connect on it`
      : `; check the password in secret ${p.secret.namespace}/${p.secret.name}`;
    return new PermanentStepError(`PostgreSQL at ${at} refused the login of ${user}: ${text}${hint}`);
  }
  if (code === '3D000') return new PermanentStepError(`PostgreSQL at ${at}: ${text}`);
  if (/does not support SSL/.test(text)) {
    return new PermanentStepError(`${at} does not offer TLS, which tls: require needs (RDS always does: is this the cluster's endpoint?); nothing was run`);
  }
  if (code !== undefined && CERTIFICATE_CODES.test(code)) {
    return new PermanentStepError(
      `the certificate of ${at} is not trusted (${code}: ${text}); give caBundle the path of RDS's CA bundle (global-bundle.pem) and connect to the cluster's endpoint name; nothing was run`,
    );
  }
  return new Error(`cannot connect to ${at} as ${user}: ${code && !text.includes(code) ? `${code}: ` : ''}${text}`);
}
