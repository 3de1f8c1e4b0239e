/**
 * Checks RDS query-protocol requests against AWS's published service model
 * (aws-sdk v2's `apis/rds-2014-10-31.min.json`), so the fake RDS refuses what
 * RDS would: unknown actions and parameters, missing required members, values
 * of the wrong type, and (where the model has them) enums and length limits.
 *
 * The minified model ships no `enum`, `min`/`max` or `flattened`; they are
 * honoured when present, and the few documented constraints the model cannot
 * express are listed in `documentedChecks`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

interface Shape {
  shape?: string;
  type?: string;
  required?: string[];
  members?: Record<string, Shape>;
  member?: Shape;
  key?: Shape;
  value?: Shape;
  locationName?: string;
  flattened?: boolean;
  enum?: string[];
  min?: number;
  max?: number;
}

interface Model {
  operations: Record<string, { input?: Shape }>;
  shapes: Record<string, Shape>;
}

export interface ModelProblem {
  code: 'MissingParameter' | 'InvalidParameterValue' | 'InvalidParameterCombination' | 'InvalidAction';
  message: string;
}

let loaded: Model | undefined;

function model(): Model {
  if (!loaded) {
    const path = createRequire(import.meta.url).resolve('aws-sdk/apis/rds-2014-10-31.min.json');
    loaded = JSON.parse(readFileSync(path, 'utf8')) as Model;
  }
  return loaded;
}

/** A member's shape with its reference followed (member-level traits win). */
function resolve(s: Shape): Shape {
  if (!s.shape) return s;
  const { shape, ...own } = s;
  return { ...resolve(model().shapes[shape] ?? {}), ...own };
}

const invalid = (message: string): ModelProblem => ({ code: 'InvalidParameterValue', message });

/** Documented RDS constraints the service model cannot express (RDS API reference). */
const documentedChecks: Record<string, (p: Record<string, string>) => ModelProblem | undefined> = {
  RestoreDBClusterToPointInTime: (p) => {
    if (p.RestoreToTime !== undefined && p.UseLatestRestorableTime === 'true') {
      return { code: 'InvalidParameterCombination', message: 'Cannot specify both RestoreToTime and UseLatestRestorableTime.' };
    }
    // "Valid Values: full-copy | copy-on-write" (a plain string in the model).
    if (p.RestoreType !== undefined && !['full-copy', 'copy-on-write'].includes(p.RestoreType)) {
      return invalid(`Invalid value for RestoreType: ${p.RestoreType}. Valid values: full-copy, copy-on-write.`);
    }
    return undefined;
  },
};

/**
 * The first problem RDS would report for `action` with the flattened query
 * parameters `params` (without `Action`), or undefined when the request is valid.
 */
export function checkRequest(action: string, params: Record<string, string>): ModelProblem | undefined {
  const op = model().operations[action];
  if (!op) return { code: 'InvalidAction', message: `The action ${action} is not valid for this web service.` };
  const { Version: version, ...rest } = params;
  if (version !== undefined && version !== '2014-10-31') return invalid(`Invalid API version: ${version}`);
  const input = resolve(op.input ?? { type: 'structure', members: {} });
  for (const [key, value] of Object.entries(rest)) {
    const problem = checkPath(input, key.split('.'), 0, key, value);
    if (problem) return problem;
  }
  return checkRequired(input, '', Object.keys(rest)) ?? documentedChecks[action]?.(rest);
}

/** Walks `parts[i…]` of parameter `key` down `shape`, checking the value at the leaf. */
function checkPath(shape: Shape, parts: string[], i: number, key: string, value: string): ModelProblem | undefined {
  const s = resolve(shape);
  const type = s.type ?? 'string';
  const part = parts[i];
  if (type === 'structure') {
    const member = part === undefined ? undefined : s.members?.[part];
    if (!member) return invalid(part === undefined ? `${key} must have members, not a value.` : `Unrecognized parameter: ${key}`);
    return checkPath(member, parts, i + 1, key, value);
  }
  if (type === 'list' || type === 'map') {
    // An empty list is sent as the bare name with an empty value.
    if (part === undefined) return value === '' ? undefined : invalid(`${key} must be a ${type}.`);
    let at = i;
    if (!s.flattened) {
      const wrapper = type === 'list' ? (s.member?.locationName ?? 'member') : 'entry';
      if (parts[at] !== wrapper) return invalid(`Unrecognized parameter: ${key} (expected ${parts.slice(0, at).join('.')}.${wrapper}.N)`);
      at++;
    }
    if (!/^[1-9]\d*$/.test(parts[at] ?? '')) return invalid(`Invalid ${type} index in ${key}`);
    at++;
    if (type === 'list') return checkPath(s.member ?? {}, parts, at, key, value);
    const entry = parts[at];
    const keyName = s.key?.locationName ?? 'key';
    const valueName = s.value?.locationName ?? 'value';
    if (entry === keyName) return checkPath(s.key ?? {}, parts, at + 1, key, value);
    if (entry === valueName) return checkPath(s.value ?? {}, parts, at + 1, key, value);
    return invalid(`Unrecognized parameter: ${key}`);
  }
  if (part !== undefined) return invalid(`Unrecognized parameter: ${key}`);
  return checkScalar(s, type, key, value);
}

function checkScalar(s: Shape, type: string, key: string, value: string): ModelProblem | undefined {
  const name = key.replace(/\.\d+(?=\.|$)/g, '.N');
  switch (type) {
    case 'integer':
    case 'long':
      if (!/^-?\d+$/.test(value)) return invalid(`Invalid value for ${name}: "${value}" is not an integer.`);
      if (type === 'integer' && Math.abs(Number(value)) > 2 ** 31) return invalid(`Invalid value for ${name}: ${value} is out of range.`);
      break;
    case 'double':
    case 'float':
      if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value)) return invalid(`Invalid value for ${name}: "${value}" is not a number.`);
      break;
    case 'boolean':
      if (value !== 'true' && value !== 'false') return invalid(`Invalid value for ${name}: "${value}" is not a boolean (true or false).`);
      break;
    case 'timestamp':
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(value) || Number.isNaN(Date.parse(value))) {
        return invalid(`Invalid value for ${name}: "${value}" is not an ISO 8601 timestamp.`);
      }
      break;
    case 'string':
      if (s.enum && !s.enum.includes(value)) return invalid(`Invalid value for ${name}: ${value}. Valid values: ${s.enum.join(', ')}.`);
      if (s.min !== undefined && value.length < s.min) return invalid(`${name} must be at least ${s.min} characters long.`);
      if (s.max !== undefined && value.length > s.max) return invalid(`${name} must be at most ${s.max} characters long.`);
      break;
    default:
      return invalid(`Unsupported parameter type ${type} for ${name}`);
  }
  return undefined;
}

/** The first required member missing from a structure at `prefix` that is present (top level always). */
function checkRequired(shape: Shape, prefix: string, keys: string[]): ModelProblem | undefined {
  const s = resolve(shape);
  const type = s.type ?? 'string';
  const under = (p: string) => keys.filter((k) => k === p || k.startsWith(`${p}.`));
  if (type === 'structure') {
    for (const name of s.required ?? []) {
      if (under(prefix + name).length === 0) return { code: 'MissingParameter', message: `The request must contain the parameter ${prefix}${name}` };
    }
    for (const [name, member] of Object.entries(s.members ?? {})) {
      if (under(prefix + name).length === 0) continue;
      const problem = checkRequired(member, `${prefix}${name}.`, keys);
      if (problem) return problem;
    }
    return undefined;
  }
  if (type === 'list' && prefix) {
    const base = prefix.slice(0, -1);
    const wrapper = s.flattened ? '' : `${s.member?.locationName ?? 'member'}.`;
    const indexes = new Set(under(base).map((k) => k.slice(base.length + 1 + wrapper.length).split('.')[0]).filter((n): n is string => Boolean(n)));
    for (const n of indexes) {
      const problem = checkRequired(s.member ?? {}, `${base}.${wrapper}${n}.`, keys);
      if (problem) return problem;
    }
  }
  return undefined;
}
