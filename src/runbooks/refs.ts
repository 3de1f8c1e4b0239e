/**
 * References inside a runbook step's `with:` values:
 *   ${{ params.<name> }}                the run's parameter
 *   ${{ steps.<id>.outputs.<name> }}    an earlier step's output
 *   ${{ run.id }} / ${{ run.shortId }}  the run itself
 *   ${{ run.incidentId }}               the incident the run was requested in ('' when none)
 * A value that is exactly one reference keeps the referenced value's type;
 * references inside longer text are interpolated as text.
 */
export type Scalar = string | number | boolean;

export type Ref =
  | { kind: 'param'; name: string }
  | { kind: 'output'; step: string; output: string }
  | { kind: 'run'; field: RunField };

const RUN_FIELDS = ['id', 'shortId', 'incidentId'] as const;
type RunField = (typeof RUN_FIELDS)[number];
const isRunField = (name: string | undefined): name is RunField => (RUN_FIELDS as readonly (string | undefined)[]).includes(name);

const REF_PATTERN = /\$\{\{\s*([^}]*?)\s*\}\}/g;
const WHOLE_REF = /^\$\{\{\s*([^}]*?)\s*\}\}$/;

export function parseRef(path: string): Ref | undefined {
  const parts = path.split('.');
  if (parts[0] === 'params' && parts.length === 2 && parts[1]) return { kind: 'param', name: parts[1] };
  if (parts[0] === 'steps' && parts.length === 4 && parts[2] === 'outputs' && parts[1] && parts[3]) {
    return { kind: 'output', step: parts[1], output: parts[3] };
  }
  if (parts[0] === 'run' && parts.length === 2 && isRunField(parts[1])) {
    return { kind: 'run', field: parts[1] };
  }
  return undefined;
}

/** Every reference text (`params.cluster`, …) found anywhere in `value`. */
export function findRefs(value: unknown): string[] {
  if (typeof value === 'string') return [...value.matchAll(REF_PATTERN)].map((m) => m[1] ?? '');
  if (Array.isArray(value)) return value.flatMap(findRefs);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(findRefs);
  return [];
}

export interface Scope {
  params: Readonly<Record<string, Scalar>>;
  outputs: Readonly<Record<string, Readonly<Record<string, Scalar>>>>;
  /** `incidentId`: the incident the run was requested in; absent or '' when it has none. */
  run: { id: string; shortId: string; incidentId?: string };
}

/**
 * Resolves references in `value`. With `defer`, an output that does not exist
 * yet (planning before earlier steps ran) becomes a readable placeholder
 * instead of an error.
 */
export function resolveRefs(value: unknown, scope: Scope, defer = false): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE_REF.exec(value);
    if (whole) return lookup(whole[1] ?? '', scope, defer);
    return value.replace(REF_PATTERN, (_m, path: string) => String(lookup(path, scope, defer)));
  }
  if (Array.isArray(value)) return value.map((v) => resolveRefs(v, scope, defer));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveRefs(v, scope, defer)]));
  }
  return value;
}

/** The placeholder shown in plans for a value known only once an earlier step has run. */
export function placeholder(path: string): string {
  return `‹${path}›`;
}

function lookup(path: string, scope: Scope, defer: boolean): Scalar {
  const ref = parseRef(path);
  if (!ref) throw new Error(`unknown reference \${{ ${path} }}`);
  switch (ref.kind) {
    case 'param': {
      const value = scope.params[ref.name];
      if (value === undefined) throw new Error(`parameter ${ref.name} has no value`);
      return value;
    }
    case 'run':
      return scope.run[ref.field] ?? '';
    case 'output': {
      const value = scope.outputs[ref.step]?.[ref.output];
      if (value !== undefined) return value;
      if (defer) return placeholder(path);
      throw new Error(`step ${ref.step} has no output ${ref.output}`);
    }
  }
}

/** True when resolving `value` needs an output of an earlier step. */
export function needsOutputs(value: unknown): boolean {
  return findRefs(value).some((path) => parseRef(path)?.kind === 'output');
}
