import { z } from 'zod';
import { resolveRefs, type Scope } from '../runbooks/refs.ts';
import type { Step } from '../steps/types.ts';
import { truncate } from '../util/text.ts';
import { withoutUrlCredentials } from '../util/url-credentials.ts';

/**
 * The delimiters of planning placeholders. Only the planner makes
 * placeholders: user-given parameter values containing either are refused
 * (`bindParams`, and `planRun` again), so no value can pass for one and skip
 * a step's validation.
 */
export const PLACEHOLDER_DELIMITERS = /[‹›]/;

/** The one shape the planner makes (`placeholder()` in runbooks/refs.ts): `‹steps.<id>.outputs.<name>›`. */
const PLACEHOLDER_SHAPE = '‹steps\\.[^.‹›\\s]+\\.outputs\\.[^.‹›\\s]+›';
const WHOLE_PLACEHOLDER = new RegExp(`^${PLACEHOLDER_SHAPE}$`);
const SOME_PLACEHOLDER = new RegExp(PLACEHOLDER_SHAPE);

/** True for the stand-in of a value an earlier step has not produced yet (planning). */
export function isPlaceholder(value: unknown): boolean {
  return typeof value === 'string' && WHOLE_PLACEHOLDER.test(value);
}

/** True when `value` has a placeholder delimiter anywhere (a string, or inside arrays and objects). */
export function hasPlaceholderDelimiters(value: unknown): boolean {
  if (typeof value === 'string') return PLACEHOLDER_DELIMITERS.test(value);
  if (Array.isArray(value)) return value.some(hasPlaceholderDelimiters);
  if (typeof value === 'object' && value !== null) return Object.values(value).some(hasPlaceholderDelimiters);
  return false;
}

export type BindResult = { ok: true; params: Record<string, unknown> } | { ok: false; problem: string };

/**
 * Resolves a step's `with:` in `scope`, applies the values its plan pinned,
 * and validates the result against the step's schema. With `defer`
 * (planning), values that need outputs of earlier steps become placeholders
 * and are not validated yet.
 */
export function bindStepParams(step: Step, raw: Record<string, unknown>, scope: Scope, defer: boolean, pinned: Record<string, unknown> = {}): BindResult {
  let resolved: Record<string, unknown>;
  try {
    // Pinned values were resolved by the plan: they replace what the runbook says, unresolved.
    resolved = { ...(resolveRefs(raw, scope, defer) as Record<string, unknown>), ...pinned };
  } catch (err) {
    return { ok: false, problem: err instanceof Error ? err.message : String(err) };
  }
  const pending = Object.keys(resolved).filter((k) => containsPlaceholder(resolved[k]));
  // Extending makes a new schema, compiled again on its first parse: only when some value is still a placeholder.
  const schema = pending.length === 0 ? step.params : step.params.safeExtend(Object.fromEntries(pending.map((k) => [k, z.unknown()])));
  const parsed = schema.safeParse(resolved);
  if (parsed.success) return { ok: true, params: parsed.data };
  const problem = parsed.error.issues
    .map((i) => `${i.path.join('.') || 'parameters'}: ${i.message}${valueNote(resolved, i.path)}`)
    .join('; ');
  return { ok: false, problem };
}

function containsPlaceholder(value: unknown): boolean {
  if (isPlaceholder(value)) return true;
  if (typeof value === 'string') return SOME_PLACEHOLDER.test(value);
  if (Array.isArray(value)) return value.some(containsPlaceholder);
  if (typeof value === 'object' && value !== null) return Object.values(value).some(containsPlaceholder);
  return false;
}

function valueNote(values: Record<string, unknown>, path: readonly PropertyKey[]): string {
  const key = path[0];
  if (typeof key !== 'string') return '';
  const v = values[key];
  // A URL's password is never echoed (the step's own schema says why it is refused).
  return typeof v === 'string' || typeof v === 'number' ? ` (got ${truncate(JSON.stringify(typeof v === 'string' ? withoutUrlCredentials(v) : v), 80, '…')})` : '';
}
