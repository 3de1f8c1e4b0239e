import { hasPlaceholderDelimiters } from '../engine/bind.ts';
import { UserError } from '../errors.ts';
import { FROM_SOURCE, firstInvalidSecurityGroup, SECURITY_GROUP_HINT, splitSecurityGroups } from '../targets/aws-ids.ts';
import { code } from '../util/mrkdwn.ts';
import { truncate } from '../util/text.ts';
import { formatDuration, parseDuration } from '../util/duration.ts';
import { hasUrlCredentials, URL_CREDENTIALS_REFUSAL, withoutUrlCredentials } from '../util/url-credentials.ts';
import type { Scalar } from './refs.ts';
import type { ParamSpec, Runbook } from './schema.ts';

/** Problems listed in one refusal; nobody fixes more at once, and Slack and terminals stay readable. */
const PROBLEMS_SHOWN = 20;

/**
 * Turns user-given parameter values (text from Slack or the CLI, or typed
 * values) into typed, validated values. Every problem is reported at once, in
 * words that say how to write the value.
 */
export function bindParams(
  runbook: Pick<Runbook, 'id' | 'params'>,
  given: Readonly<Record<string, Scalar>>,
  now: number = Date.now(),
  /** The configured targets, for `target` parameters. */
  targets: readonly string[] = [],
): Record<string, Scalar> {
  const problems: string[] = [];
  const withCredentials: string[] = [];
  const bound: Record<string, Scalar> = {};
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(runbook.params, key)) {
      const known = Object.keys(runbook.params);
      problems.push(`${code(shorten(withoutUrlCredentials(key)))} is not a parameter of ${runbook.id}${known.length ? ` (parameters: ${known.join(', ')})` : ' (it takes none)'}`);
    }
  }
  for (const [key, spec] of Object.entries(runbook.params)) {
    const value = given[key] ?? spec.default;
    if (value === undefined) {
      problems.push(`\`${key}\` is required: ${describeParam(spec)}${example(key, spec)} (or give it a \`default\` in the runbook's file)`);
      continue;
    }
    if (value === '' && spec.default === '' && !Object.hasOwn(given, key) && (spec.type === 'string' || spec.type === 'target')) {
      // Left out on purpose: the runbook says an empty value means "not given" (a cluster named only when needed).
      bound[key] = '';
      continue;
    }
    // Never echoed: the value holds a password or token.
    if (typeof value === 'string' && hasUrlCredentials(value)) {
      withCredentials.push(`\`${key}\`${Object.hasOwn(given, key) ? '' : ' (the runbook\'s default)'}`);
      continue;
    }
    // ‹ › mark the planner's stand-ins for values earlier steps produce; a value holding them would skip the steps' checks.
    if (hasPlaceholderDelimiters(value)) {
      problems.push(`\`${key}\`: ${code(shorten(String(value)))} contains ‹ or ›, which are not allowed in a parameter value (the planner marks values of earlier steps with them)${Object.hasOwn(given, key) ? '' : ' (this is the runbook\'s default)'}`);
      continue;
    }
    const parsed = parseParamValue(spec, value, now, targets);
    if (parsed.ok) bound[key] = parsed.value;
    else problems.push(`\`${key}\`: ${parsed.problem}`);
  }
  if (withCredentials.length > 0) problems.unshift(`${withCredentials.join(', ')}: ${URL_CREDENTIALS_REFUSAL}`);
  if (problems.length > 0) {
    const shown = problems.slice(0, PROBLEMS_SHOWN).map((p) => `• ${p}`);
    if (problems.length > PROBLEMS_SHOWN) shown.push(`• … and ${problems.length - PROBLEMS_SHOWN} more problems`);
    throw new UserError(`Parameters for ${runbook.id} are not valid:\n${shown.join('\n')}`);
  }
  return bound;
}

export type ParseResult = { ok: true; value: Scalar } | { ok: false; problem: string };

export function parseParamValue(spec: ParamSpec, input: Scalar, now: number = Date.now(), targets: readonly string[] = []): ParseResult {
  const text = String(input).trim();
  const fail = (problem: string): ParseResult => ({ ok: false, problem });
  switch (spec.type) {
    case 'string': {
      if (text === '') return fail('must not be empty');
      if (spec.maxLength !== undefined && text.length > spec.maxLength) return fail(`is longer than ${spec.maxLength} characters`);
      if (spec.pattern && !new RegExp(`^(?:${spec.pattern})$`).test(text)) return fail(`${code(shorten(text))} does not match ${spec.pattern}`);
      return { ok: true, value: text };
    }
    case 'integer':
    case 'number': {
      const n = typeof input === 'number' ? input : /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
      if (text === '' || !Number.isFinite(n)) return fail(`${code(shorten(text))} is not a number (digits, e.g. 3 or 2.5)`);
      if (spec.type === 'integer' && !Number.isInteger(n)) return fail(`${code(shorten(text))} is not a whole number`);
      if (!Number.isSafeInteger(Math.trunc(n))) return fail(`${code(shorten(text))} is too large`);
      if (spec.min !== undefined && n < spec.min) return fail(`${n} is below the minimum ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) return fail(`${n} is above the maximum ${spec.max}`);
      return { ok: true, value: n };
    }
    case 'boolean': {
      if (typeof input === 'boolean') return { ok: true, value: input };
      const lower = text.toLowerCase();
      if (['true', 'yes', 'on', '1'].includes(lower)) return { ok: true, value: true };
      if (['false', 'no', 'off', '0'].includes(lower)) return { ok: true, value: false };
      return fail(`${code(shorten(text))} is not true or false`);
    }
    case 'enum': {
      const values = spec.values ?? [];
      return values.includes(text) ? { ok: true, value: text } : fail(`${code(shorten(text))} is not one of ${values.join(', ')}`);
    }
    case 'duration': {
      const ms = parseDuration(text);
      if (ms === undefined) return fail(`${code(shorten(text))} is not a duration like 30s, 15m or 2h`);
      if (spec.min !== undefined && ms < spec.min * 1000) return fail(`${text} is shorter than ${formatDuration(spec.min * 1000)}`);
      if (spec.max !== undefined && ms > spec.max * 1000) return fail(`${text} is longer than ${formatDuration(spec.max * 1000)}`);
      return { ok: true, value: ms };
    }
    case 'time':
      return parseTime(text, now, spec.allowLatest === true);
    case 'target':
      return targets.includes(text) ? { ok: true, value: text } : fail(`there is no target ${code(shorten(text))} (targets: ${targets.join(', ') || 'none configured'})`);
    case 'security-groups':
      return parseSecurityGroups(text);
  }
}

/** Security group ids separated by commas or spaces (given back separated by `, `), or `source`. */
function parseSecurityGroups(text: string): ParseResult {
  if (text === FROM_SOURCE) return { ok: true, value: text };
  const ids = splitSecurityGroups(text);
  const how = `write ${SECURITY_GROUP_HINT}, several separated by commas, or ${FROM_SOURCE} for the source's own`;
  if (ids.length === 0) return { ok: false, problem: `names no security group: ${how}` };
  const bad = firstInvalidSecurityGroup(ids);
  if (bad !== undefined) return { ok: false, problem: `${code(shorten(bad))} is not a VPC security group id: ${how}` };
  return { ok: true, value: ids.join(', ') };
}

/**
 * ISO-8601 with a zone (`2026-11-15T10:00:00Z`, `…+01:00`), `now`, relative
 * forms (`15m ago`, `2h ago`), and `latest` where the parameter allows it.
 * A time without a zone is refused: guessing the zone during an outage is how
 * a restore lands an hour off.
 */
export function parseTime(text: string, now: number, allowLatest: boolean): ParseResult {
  const lower = text.toLowerCase();
  if (allowLatest && lower === 'latest') return { ok: true, value: 'latest' };
  if (lower === 'now') return { ok: true, value: new Date(now).toISOString() };
  const relative = /^(\d+(?:\.\d+)?\s*(?:ms|s|m|h|d))\s+ago$/.exec(lower);
  if (relative) {
    const ms = parseDuration(relative[1] ?? '');
    // Dates before 1970 are no restore point anyone means (and far enough back is not a date at all).
    if (ms !== undefined && now - ms >= 0) return { ok: true, value: new Date(now - ms).toISOString() };
    if (ms !== undefined) return { ok: false, problem: `${code(shorten(text))} is too far back` };
  }
  const iso = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(text);
  const hint = `use ISO-8601 with a zone, e.g. ${new Date(now).toISOString().slice(0, 19)}Z, or a relative time like 15m ago${allowLatest ? ', or latest' : ''}`;
  if (!iso) return { ok: false, problem: `${code(shorten(text))} is not a time: ${hint}` };
  if (!iso[8]) return { ok: false, problem: `${code(text)} has no time zone: add Z for UTC (${text}Z) or an offset like +01:00` };
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(iso[i] ?? 0)) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const realDate = month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59;
  const ms = Date.parse(text.replace(' ', 'T'));
  if (!realDate || Number.isNaN(ms)) return { ok: false, problem: `${code(text)} is not a real date and time: ${hint}` };
  return { ok: true, value: new Date(ms).toISOString() };
}

export function describeParam(spec: ParamSpec): string {
  const what = spec.description ?? spec.type;
  switch (spec.type) {
    case 'enum':
      return `${what} (one of ${(spec.values ?? []).join(', ')})`;
    case 'time':
      return `${what} (ISO-8601 time with zone${spec.allowLatest ? ', or latest' : ''})`;
    case 'target':
      return `${what} (a configured target)`;
    case 'security-groups':
      return `${what} (VPC security group ids separated by commas, or ${FROM_SOURCE})`;
    default:
      return what;
  }
}

function example(key: string, spec: ParamSpec): string {
  const sample: Record<ParamSpec['type'], string> = {
    string: spec.pattern?.startsWith('https?') ? 'https://app.internal/health' : 'prod-aurora',
    integer: String(spec.min ?? 1),
    number: String(spec.min ?? 1),
    boolean: 'true',
    time: '2026-11-15T10:00:00Z',
    duration: '15m',
    enum: spec.values?.[0] ?? '',
    target: 'dr',
    'security-groups': 'sg-0123456789abcdef0',
  };
  return `, e.g. \`${key}=${sample[spec.type]}\``;
}

/** A value echoed in a message: at most 60 characters and `…`, cut by grapheme cluster. */
function shorten(text: string): string {
  return truncate(text, 61, '…');
}
