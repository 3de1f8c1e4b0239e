import { formatDuration } from '../../util/duration.ts';
import { truncate } from '../../util/text.ts';
import { withoutUrlCredentials } from '../../util/url-credentials.ts';
import type { TargetAccess } from '../../targets/targets.ts';
import { allowedNote, checkSecret, DEFAULT_KUBE_SCOPE, enforcePlanned, isPending, type KubeScope, scopeOnTarget } from '../kube/scope.ts';
import { defineStep, isPermanent, PermanentStepError, type PlanLine, type StepOutputs } from '../types.ts';
import { measuredRpo, reportLine, runChecks } from './checks.ts';
import { type Auth, authOf, connect, describeAuth, passwordFor, type Place, placeOf, Redactor, secretPassword } from './connect.ts';
import { type SqlCheck, SqlCheckParams } from './params.ts';
import { checkBundle, describeTls, refuseCleartext } from './tls.ts';

function expectation(check: SqlCheck, restorePoint: string | undefined): string {
  const { expect } = check;
  if (expect === 'rows') return 'expects rows';
  if (expect !== 'newestRowTime') return `expects a count of at least ${expect.countAtLeast} (first column of the first row)`;
  const point = restorePoint === undefined ? undefined : isPending(restorePoint) ? 'the restore point from an earlier step' : `the restore point ${restorePoint}`;
  return `reads the newest row's time (first column of the first row)${point ? `; measured RPO = ${point} − that time` : '; no restorePoint given: the RPO is not measured'}`;
}

function checkLines(p: SqlCheckParams): PlanLine[] {
  // A list holding values of earlier steps is checked once they are known.
  if (!Array.isArray(p.checks)) return [{ action: 'check', resource: 'sql checks', detail: 'the checks take values from earlier steps: shown and validated when it runs' }];
  return p.checks.map((c) => ({
    action: 'check',
    resource: `sql check ${c.name}`,
    detail: `${expectation(c, p.restorePoint)}: ${truncate(withoutUrlCredentials(c.sql.replace(/\s+/g, ' ')), 200, '…')}`,
  }));
}

/** The plan's words for the login, checking what can be checked now (the Secret's scope, that it holds the key). */
async function planAuth(ctx: TargetAccess, p: SqlCheckParams, place: Place | undefined, limits: KubeScope): Promise<string> {
  let auth: Auth | undefined;
  if (place) auth = authOf(p, place);
  else if (p.auth === 'iam') auth = { kind: 'iam' };
  else if (p.secret) auth = { kind: 'secret', ...p.secret };
  if (!auth) return 'an IAM token if the cluster has IAM database authentication on (it is refused otherwise: give secret)';
  if (auth.kind === 'iam') return describeAuth(auth);
  const scope = scopeOnTarget(limits, ctx.target);
  const { namespace, name } = auth;
  const note = enforcePlanned(scope, [namespace, name], ['namespaces', 'secrets'], () => checkSecret(scope, namespace, name));
  if (![namespace, name, auth.key].some(isPending)) await secretPassword(ctx, auth, limits);
  return `${describeAuth(auth)}${allowedNote(note)}`;
}

/** An error as it may leave the step: credentials hidden, permanence kept, pg's error (and what it carries) left behind. */
function scrubbed(err: unknown, redactor: Redactor): Error {
  const message = redactor.scrub(err instanceof Error ? err.message : String(err));
  return isPermanent(err) ? new PermanentStepError(message) : new Error(message);
}

/**
 * `sql.check`: connects to a database (a restored cluster's writer, found
 * through RDS) with pg and runs declared checks: a query returns rows, a count
 * is at least a minimum, the newest row's time. The newest row's time against
 * `restorePoint` is the measured RPO.
 * Reads: DescribeDBClusters; the Kubernetes Secret with the password (auth:
 * secret); the database, in one READ ONLY transaction on a session whose
 * transactions default to read-only, rolled back. Changes nothing.
 * Credentials (the Secret's password, the IAM token) stay in the step: never
 * in the plan, outputs, progress or errors.
 * Idempotency: reads only; entered again, it reads again.
 */
export function sqlCheckStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'sql.check',
    summary: "Check a database with read-only queries: rows, counts, the newest row's time (the measured RPO)",
    params: SqlCheckParams,
    outputs: ['passed', 'failed', 'report', 'measuredRpoSeconds', 'newestRowAt'],
    async plan(ctx, p) {
      const pending = isPending(p.cluster) || isPending(p.host);
      const place = pending ? undefined : await placeOf(ctx, p);
      if (place) refuseCleartext(p, place.host);
      if (!isPending(p.caBundle)) await checkBundle(p);
      const user = p.user ?? place?.masterUser;
      if (place && !user) throw new PermanentStepError(`${place.what} reports no master user: give user`);
      const login = await planAuth(ctx, p, place, limits);
      const where = p.cluster ? `rds cluster ${isPending(p.cluster) ? 'from an earlier step' : p.cluster}` : `${p.host ?? ''}:${p.port ?? 5432}`;
      const endpoint = place ? `${place.host}:${place.port}` : "the cluster's writer endpoint (read from RDS when it runs)";
      return [
        {
          action: 'check',
          resource: `postgres ${p.database} on ${where}`,
          detail:
            `connect to ${endpoint}, database ${p.database}, as ${user ?? "the cluster's master user"} with ${login}, ${describeTls(p)}; ` +
            `reads only: one READ ONLY transaction, rolled back, on a session whose transactions default to read-only; ` +
            `statement timeout ${formatDuration(p.statementTimeoutSeconds * 1_000)}, connect timeout ${formatDuration(p.connectTimeoutSeconds * 1_000)}; nothing is written`,
        },
        ...checkLines(p),
      ];
    },
    async run(ctx, p) {
      const redactor = new Redactor();
      try {
        const place = await placeOf(ctx, p);
        if (!place.host) throw new Error(`${place.what} has no endpoint yet`);
        if (place.instances === 0) throw new PermanentStepError(`${place.what} has no DB instance to answer at its endpoint: create its writer first (rds.create-writer)`);
        const auth = authOf(p, place);
        const user = p.user ?? place.masterUser;
        if (!user) throw new PermanentStepError(`${place.what} reports no master user: give user`);
        const password = await passwordFor(ctx, auth, place, user, limits, redactor);
        ctx.progress(`connecting to ${place.what}, database ${p.database}, as ${user} (${auth.kind === 'iam' ? 'IAM token' : `password from secret ${auth.namespace}/${auth.name}`})`);
        const connection = await connect(p, place, user, password, ctx.signal, redactor);
        const restorePoint = p.restorePoint === undefined ? undefined : Date.parse(p.restorePoint);
        const outcomes = await runChecks(connection.client, p.checks, {
          restorePoint,
          statementTimeoutSeconds: p.statementTimeoutSeconds,
          redactor,
          progress: (message) => ctx.progress(redactor.scrub(message)),
        }).finally(() => connection.close());
        const { newestAt, rpoSeconds } = measuredRpo(outcomes, restorePoint);
        const rpo = rpoSeconds === undefined ? '' : `; measured RPO ${formatDuration(rpoSeconds * 1_000)}`;
        const failed = outcomes.filter((o) => !o.passed);
        if (failed.length > 0) {
          throw new PermanentStepError(`${failed.length} of ${outcomes.length} checks failed: ${failed.map((o) => `${o.name}: ${o.found}`).join('; ')}${rpo}`);
        }
        const outputs: StepOutputs = {
          passed: outcomes.length,
          failed: 0,
          report: redactor.scrub(outcomes.map(reportLine).join('\n')),
        };
        if (newestAt !== undefined) outputs.newestRowAt = new Date(newestAt).toISOString();
        if (rpoSeconds !== undefined) outputs.measuredRpoSeconds = rpoSeconds;
        ctx.progress(`all ${outcomes.length} checks passed${rpo}`);
        return outputs;
      } catch (err) {
        throw scrubbed(err, redactor);
      }
    },
  });
}
