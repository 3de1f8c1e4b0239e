import { type Client, DatabaseError, type QueryArrayConfig } from 'pg';
import { formatDuration } from '../../util/duration.ts';
import { PermanentStepError } from '../types.ts';
import { errorText, type Redactor } from './connect.ts';
import type { SqlCheck } from './params.ts';

/** What one check found. */
export interface CheckOutcome {
  name: string;
  passed: boolean;
  /** What it found, or why it failed; counts and times only, never the rows' other values. */
  found: string;
  /** A newestRowTime check's time (ms since the epoch). */
  newestAt?: number;
}

/** The checks' transaction, as the server sees it: when it began (now() is the transaction's start) and whether it is read-only. */
interface Mark {
  began: string;
  readOnly: string;
}

async function markOf(client: Client): Promise<Mark> {
  const { rows } = await client.query<{ began: string; read_only: string }>("SELECT now()::text AS began, current_setting('transaction_read_only') AS read_only");
  return { began: rows[0]?.began ?? '', readOnly: rows[0]?.read_only ?? '' };
}

/** One of the step's own statements around a check; failing, that check broke the transaction. */
async function own(client: Client, sql: string, check: string, redactor: Redactor): Promise<void> {
  try {
    await client.query(sql);
  } catch (err) {
    throw new PermanentStepError(`the read-only transaction the checks run in broke at check ${check} (${errorText(err, redactor)}); nothing more was run`);
  }
}

/**
 * Runs every check in one READ ONLY, REPEATABLE READ transaction (one
 * snapshot: a count and a newest time agree), each behind a savepoint so a
 * failing one leaves the others to run, and ends it with ROLLBACK. After each
 * check the transaction must still be the one opened here, read-only: a check
 * that got out of it stops the step. Each check goes alone through the
 * extended protocol, which takes one statement only.
 */
export async function runChecks(client: Client, checks: readonly SqlCheck[], options: { restorePoint?: number | undefined; statementTimeoutSeconds: number; redactor: Redactor; progress: (message: string) => void }): Promise<CheckOutcome[]> {
  const { redactor } = options;
  await client.query('BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  // Taking the snapshot here also stops a later SET TRANSACTION READ WRITE ("must be called before any query").
  const began = await markOf(client);
  if (began.readOnly !== 'on') throw new PermanentStepError(`the server did not make the transaction read-only (transaction_read_only is ${began.readOnly}); nothing was run`);
  const outcomes: CheckOutcome[] = [];
  try {
    for (const check of checks) {
      await own(client, 'SAVEPOINT sql_check', check.name, redactor);
      // `queryMode: 'extended'` (pg ≥ 8.12, not in @types/pg): one statement, never a `;`-separated list.
      const query = { text: check.sql, rowMode: 'array', queryMode: 'extended' } as QueryArrayConfig;
      let outcome: CheckOutcome;
      try {
        const { rows } = await client.query(query);
        outcome = judge(check, rows, options.restorePoint);
      } catch (err) {
        // Only PostgreSQL's answers are a check's result; a lost connection or a client timeout fails the step.
        // (The step's run() keeps only the scrubbed message of what leaves it.)
        if (!(err instanceof DatabaseError)) throw new Error(`check ${check.name}: ${errorText(err, redactor)}`, { cause: err });
        outcome = { name: check.name, passed: false, found: refusal(err, options.statementTimeoutSeconds, redactor) };
      }
      await own(client, outcome.passed ? 'RELEASE SAVEPOINT sql_check' : 'ROLLBACK TO SAVEPOINT sql_check', check.name, redactor);
      const now = await markOf(client);
      if (now.began !== began.began || now.readOnly !== 'on') {
        throw new PermanentStepError(`check ${check.name} left the read-only transaction the checks run in; nothing more was run`);
      }
      outcomes.push(outcome);
      options.progress(reportLine(outcome));
    }
  } finally {
    // Nothing to keep: even a write that got through would be undone.
    await client.query('ROLLBACK').catch(() => undefined);
  }
  return outcomes;
}

/** Why PostgreSQL refused a check, in its words, with what it means here. */
function refusal(err: DatabaseError, statementTimeoutSeconds: number, redactor: Redactor): string {
  const text = errorText(err, redactor);
  // SQLSTATE 25006 read_only_sql_transaction, 57014 query_canceled (statement_timeout).
  if (err.code === '25006') return `refused by the read-only transaction: ${text} (sql.check only reads; nothing was written)`;
  if (err.code === '57014') return `took longer than the statement timeout (${statementTimeoutSeconds}s) and was canceled by PostgreSQL: ${text}`;
  return `PostgreSQL refused it: ${text}${err.code ? ` (SQLSTATE ${err.code})` : ''}`;
}

export function reportLine(o: CheckOutcome): string {
  return `${o.name}: ${o.found} — ${o.passed ? 'pass' : 'FAIL'}`;
}

function judge(check: SqlCheck, rows: unknown[][], restorePoint: number | undefined): CheckOutcome {
  const { name, expect } = check;
  const fail = (found: string): CheckOutcome => ({ name, passed: false, found });
  if (rows.length === 0) return fail('returned no rows');
  if (expect === 'rows') return { name, passed: true, found: `${rows.length} row${rows.length === 1 ? '' : 's'}` };
  const first = rows[0]?.[0];
  if (expect === 'newestRowTime') {
    if (first === null || first === undefined) return fail('the newest row time is NULL (no row to take it from)');
    const at = timeOf(first);
    if (at === undefined) return fail(`the first column is ${typeName(first)}, not a time (timestamp, timestamptz or date)`);
    const newest = new Date(at).toISOString();
    if (restorePoint === undefined) return { name, passed: true, found: `newest row at ${newest} (no restorePoint: RPO not measured)`, newestAt: at };
    const gap = restorePoint - at;
    const relation = gap >= 0
      ? `${formatDuration(gap)} before the restore point ${new Date(restorePoint).toISOString()}`
      : `${formatDuration(-gap)} after the restore point ${new Date(restorePoint).toISOString()} (a clock ahead of AWS's, or another restore point): counted as 0`;
    return { name, passed: true, found: `newest row at ${newest}, ${relation}`, newestAt: at };
  }
  const count = countOf(first);
  if (count === undefined) return fail(`the first column is ${typeName(first)}, not a count`);
  const enough = typeof count === 'bigint' ? count >= BigInt(expect.countAtLeast) : count >= expect.countAtLeast;
  return enough ? { name, passed: true, found: `count ${count} (at least ${expect.countAtLeast})` } : fail(`count ${count}, expected at least ${expect.countAtLeast}`);
}

/** A count as pg returns it: a number (int4, float), or text (bigint, numeric), exact as a BigInt when whole. */
function countOf(value: unknown): number | bigint | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  if (/^-?\d+$/.test(value)) return BigInt(value);
  return /^-?\d+\.\d+$/.test(value) ? Number(value) : undefined;
}

/** A value's kind, never the value itself: rows may hold personal data, and the report goes to the channel. */
function typeName(value: unknown): string {
  if (value === null) return 'NULL';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'text' : `a ${typeof value}`;
}

/**
 * PostgreSQL's text for timestamptz (`2026-12-07 09:58:30.5+00`), timestamp
 * (`2026-12-07 09:58:30`: the session is in UTC, so read as UTC) and date,
 * or an ISO 8601 text; ms since the epoch. `infinity` and BC times are not times here.
 */
const PG_TIME = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?:(Z)|([+-]\d{2})(?::?(\d{2}))?(?::\d{2})?)?)?$/;

function timeOf(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.getTime() : undefined;
  if (typeof value !== 'string') return undefined;
  const m = PG_TIME.exec(value.trim());
  if (!m) return undefined;
  const [, date, time = '00:00:00', zulu, hours, minutes = '00'] = m;
  const zone = zulu || !hours ? 'Z' : `${hours}:${minutes}`;
  const at = Date.parse(`${date ?? ''}T${time}${zone}`);
  return Number.isFinite(at) ? at : undefined;
}

/** The measured RPO: the restore point minus the newest row's time, never below 0; the newest of several checks' times. */
export function measuredRpo(outcomes: readonly CheckOutcome[], restorePoint: number | undefined): { newestAt?: number; rpoSeconds?: number } {
  const times = outcomes.flatMap((o) => (o.newestAt === undefined ? [] : [o.newestAt]));
  if (times.length === 0) return {};
  const newestAt = Math.max(...times);
  return restorePoint === undefined ? { newestAt } : { newestAt, rpoSeconds: Math.max(0, restorePoint - newestAt) / 1_000 };
}
