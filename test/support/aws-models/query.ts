/**
 * Checks AWS query-protocol requests (RDS, STS) against the service model
 * (model.ts): unknown actions and parameters, missing required members, values
 * of the wrong type, enums, lengths and patterns, list and structure spelling,
 * plus the few documented constraints the model cannot express.
 */
import { constraintProblem, countProblem, serviceModel, type ServiceName, type ShapeNode } from './model.ts';

export interface ModelProblem {
  code: string;
  message: string;
}

type QueryService = Extract<ServiceName, 'rds' | 'sts' | 'ec2'>;

/** The error codes each service answers a refused request with. */
const CODES: Record<QueryService, { invalid: string; missing: string; constraint: string }> = {
  rds: { invalid: 'InvalidParameterValue', missing: 'MissingParameter', constraint: 'InvalidParameterValue' },
  sts: { invalid: 'InvalidParameterValue', missing: 'MissingParameter', constraint: 'ValidationError' },
  ec2: { invalid: 'InvalidParameterValue', missing: 'MissingParameter', constraint: 'InvalidParameterValue' },
};

/** Documented constraints the service model cannot express (from each service's API reference). */
const documentedChecks: Partial<Record<string, (p: Record<string, string>) => ModelProblem | undefined>> = {
  'rds:RestoreDBClusterToPointInTime': (p) => {
    if (p.RestoreToTime !== undefined && p.UseLatestRestorableTime === 'true') {
      return { code: 'InvalidParameterCombination', message: 'Cannot specify both RestoreToTime and UseLatestRestorableTime.' };
    }
    // "Valid Values: full-copy | copy-on-write" (a plain string in the model).
    if (p.RestoreType !== undefined && !['full-copy', 'copy-on-write'].includes(p.RestoreType)) {
      return { code: 'InvalidParameterValue', message: `Invalid value for RestoreType: ${p.RestoreType}. Valid values: full-copy, copy-on-write.` };
    }
    return undefined;
  },
};

/** "MaxRecords … Constraints: Minimum 20, maximum 100" on every RDS Describe call (an optional integer in the model). */
function rdsMaxRecords(action: string, p: Record<string, string>): ModelProblem | undefined {
  if (!action.startsWith('Describe') || p.MaxRecords === undefined) return undefined;
  const n = Number(p.MaxRecords);
  return n >= 20 && n <= 100 ? undefined : { code: 'InvalidParameterValue', message: `Invalid value ${p.MaxRecords} for MaxRecords. Must be between 20 and 100` };
}

/**
 * The first problem `service` would report for `action` with the flattened
 * query parameters `params` (without `Action`), or undefined when valid.
 */
export function checkQueryRequest(service: QueryService, action: string, params: Record<string, string>): ModelProblem | undefined {
  const model = serviceModel(service);
  const codes = CODES[service];
  if (!model.operation(action)) return { code: 'InvalidAction', message: `The action ${action} is not valid for this web service.` };
  const { Version: version, ...rest } = params;
  if (version !== undefined && version !== model.apiVersion) return { code: codes.invalid, message: `Invalid API version: ${version}` };
  const walker = new QueryWalker(codes, service === 'ec2');
  const input = model.input(action);
  for (const [key, value] of Object.entries(rest)) {
    const problem = walker.checkPath(input, key.split('.'), 0, key, value);
    if (problem) return problem;
  }
  return (
    walker.checkRequired(input, '', Object.keys(rest)) ??
    (service === 'rds' ? rdsMaxRecords(action, rest) : undefined) ??
    documentedChecks[`${service}:${action}`]?.(rest)
  );
}

class QueryWalker {
  private readonly codes: { invalid: string; missing: string; constraint: string };
  /**
   * EC2's own query dialect: a member goes by its locationName (else its
   * name) with a capital first letter, and every list is flattened
   * (`ZoneName.1`). Nested required members are then not checked.
   */
  private readonly ec2: boolean;

  constructor(codes: { invalid: string; missing: string; constraint: string }, ec2 = false) {
    this.codes = codes;
    this.ec2 = ec2;
  }

  private memberOf(node: ShapeNode, part: string): ShapeNode | undefined {
    if (!this.ec2) return node.member(part);
    const capital = (n: string) => n.charAt(0).toUpperCase() + n.slice(1);
    const name = node.memberNames().find((n) => capital(node.member(n)?.shape.locationName ?? n) === part);
    return name === undefined ? undefined : node.member(name);
  }

  private invalid(message: string): ModelProblem {
    return { code: this.codes.invalid, message };
  }

  /** Walks `parts[i…]` of parameter `key` down `node`, checking the value at the leaf. */
  checkPath(node: ShapeNode, parts: string[], i: number, key: string, value: string): ModelProblem | undefined {
    const part = parts[i];
    if (node.type === 'structure') {
      const member = part === undefined ? undefined : this.memberOf(node, part);
      if (!member) return this.invalid(part === undefined ? `${key} must have members, not a value.` : `Unrecognized parameter: ${key}`);
      return this.checkPath(member, parts, i + 1, key, value);
    }
    if (node.type === 'list' || node.type === 'map') {
      // An empty list is sent as the bare name with an empty value.
      if (part === undefined) return value === '' ? undefined : this.invalid(`${key} must be a ${node.type}.`);
      let at = i;
      if (!node.shape.flattened && !this.ec2) {
        const wrapper = node.type === 'list' ? (node.shape.member?.locationName ?? 'member') : 'entry';
        if (parts[at] !== wrapper) return this.invalid(`Unrecognized parameter: ${key} (expected ${parts.slice(0, at).join('.')}.${wrapper}.N)`);
        at++;
      }
      if (!/^[1-9]\d*$/.test(parts[at] ?? '')) return this.invalid(`Invalid ${node.type} index in ${key}`);
      at++;
      if (node.type === 'list') return this.checkPath(node.child('member'), parts, at, key, value);
      const entry = parts[at];
      if (entry === (node.shape.key?.locationName ?? 'key')) return this.checkPath(node.child('key'), parts, at + 1, key, value);
      if (entry === (node.shape.value?.locationName ?? 'value')) return this.checkPath(node.child('value'), parts, at + 1, key, value);
      return this.invalid(`Unrecognized parameter: ${key}`);
    }
    if (part !== undefined) return this.invalid(`Unrecognized parameter: ${key}`);
    return this.checkScalar(node, key, value);
  }

  private checkScalar(node: ShapeNode, key: string, value: string): ModelProblem | undefined {
    const name = key.replace(/\.\d+(?=\.|$)/g, '.N');
    const constraint = (v: string | number) => {
      const message = constraintProblem(node, name, v);
      return message ? { code: this.codes.constraint, message } : undefined;
    };
    switch (node.type) {
      case 'integer':
      case 'long':
        if (!/^-?\d+$/.test(value)) return this.invalid(`Invalid value for ${name}: "${value}" is not an integer.`);
        if (node.type === 'integer' && Math.abs(Number(value)) > 2 ** 31) return this.invalid(`Invalid value for ${name}: ${value} is out of range.`);
        return constraint(Number(value));
      case 'double':
      case 'float':
        if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value)) return this.invalid(`Invalid value for ${name}: "${value}" is not a number.`);
        return constraint(Number(value));
      case 'boolean':
        return value === 'true' || value === 'false' ? undefined : this.invalid(`Invalid value for ${name}: "${value}" is not a boolean (true or false).`);
      case 'timestamp':
        if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(value) || Number.isNaN(Date.parse(value))) {
          return this.invalid(`Invalid value for ${name}: "${value}" is not an ISO 8601 timestamp.`);
        }
        return undefined;
      case 'string':
        return constraint(value);
      default:
        return this.invalid(`Unsupported parameter type ${node.type} for ${name}`);
    }
  }

  /** The first required member missing from a structure at `prefix` that is present (top level always). */
  checkRequired(node: ShapeNode, prefix: string, keys: string[]): ModelProblem | undefined {
    const under = (p: string) => keys.filter((k) => k === p || k.startsWith(`${p}.`));
    if (node.type === 'structure') {
      for (const name of node.required) {
        if (under(prefix + name).length === 0) return { code: this.codes.missing, message: `The request must contain the parameter ${prefix}${name}` };
      }
      for (const name of node.memberNames()) {
        if (under(prefix + name).length === 0) continue;
        const member = node.member(name);
        const problem = member && this.checkRequired(member, `${prefix}${name}.`, keys);
        if (problem) return problem;
      }
      return undefined;
    }
    if (node.type === 'list' && prefix) {
      const base = prefix.slice(0, -1);
      const wrapper = node.shape.flattened ? '' : `${node.shape.member?.locationName ?? 'member'}.`;
      const indexes = new Set(under(base).map((k) => k.slice(base.length + 1 + wrapper.length).split('.')[0]).filter((n): n is string => Boolean(n)));
      const count = countProblem(node, base, indexes.size);
      if (count) return { code: this.codes.constraint, message: count };
      for (const n of indexes) {
        const problem = this.checkRequired(node.child('member'), `${base}.${wrapper}${n}.`, keys);
        if (problem) return problem;
      }
    }
    return undefined;
  }
}
