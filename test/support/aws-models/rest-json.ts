/**
 * Checks AWS REST requests (EKS's REST/JSON, Route 53's REST/XML GETs)
 * against the service model (model.ts): the operation from method and path,
 * URI labels and query strings, and the JSON body: no unknown members,
 * required members present, JSON types, enums, lengths, patterns and numeric
 * ranges. `checkJsonValue` is the JSON walk the JSON-protocol services share (json.ts).
 */
import { constraintProblem, countProblem, serviceModel, type ServiceName, type ShapeNode } from './model.ts';
import type { ModelProblem } from './query.ts';

export interface RestJsonMatch {
  operation?: string;
  problem?: ModelProblem;
}

const routes = new Map<ServiceName, { operation: string; method: string; path: RegExp; labels: string[] }[]>();

function routesOf(service: ServiceName) {
  let found = routes.get(service);
  if (!found) {
    found = serviceModel(service)
      .operations()
      .filter(([, op]) => op.http?.requestUri)
      .map(([operation, op]) => {
        const [template = '/'] = (op.http?.requestUri ?? '/').split('?');
        const labels: string[] = [];
        const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{([^}+]+)(\+?)\}/g, (_m, label: string, greedy: string) => {
          labels.push(label);
          return greedy ? '(.+)' : '([^/]+)';
        });
        return { operation, method: op.http?.method ?? 'POST', path: new RegExp(`^${source}/?$`), labels };
      });
    routes.set(service, found);
  }
  return found;
}

/**
 * The operation a request is, and the first problem the service would report,
 * if any, as `code` (EKS: InvalidParameterException, Route 53: InvalidInput).
 */
export function checkRestJsonRequest(service: ServiceName, method: string, pathname: string, query: URLSearchParams, body: unknown, code = 'InvalidParameterException'): RestJsonMatch {
  const invalid = (message: string): ModelProblem => ({ code, message });
  const checkJson = (node: ShapeNode | undefined, name: string, value: unknown) => checkJsonValue(node, name, value, code);
  let operation: string | undefined;
  let labelValues: Record<string, string> = {};
  for (const route of routesOf(service)) {
    const m = route.method === method ? route.path.exec(pathname) : null;
    if (!m) continue;
    operation = route.operation;
    labelValues = Object.fromEntries(route.labels.map((l, i) => [l, decodeURIComponent(m[i + 1] ?? '')]));
    break;
  }
  if (!operation) return { problem: { code: 'UnknownOperationException', message: `No operation matches ${method} ${pathname}` } };
  const input = serviceModel(service).input(operation);
  const present = new Set<string>();
  const bodyMembers: Record<string, unknown> = {};
  if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) return { operation, problem: invalid('The request body must be a JSON object.') };
  const bodyObject = (body ?? {}) as Record<string, unknown>;
  for (const name of input.memberNames()) {
    const member = input.member(name);
    const where = member?.shape.location;
    const wire = member?.shape.locationName ?? name;
    if (where === 'uri' && wire in labelValues) {
      const problem = checkJson(member, name, labelValues[wire]);
      if (problem) return { operation, problem };
      present.add(name);
    } else if (where === 'querystring' && query.has(wire)) {
      const raw = query.get(wire) ?? '';
      const value = member?.type === 'integer' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
      const problem = checkJson(member, name, value);
      if (problem) return { operation, problem };
      present.add(name);
    } else if (where === undefined && name in bodyObject) {
      bodyMembers[name] = bodyObject[name];
    }
  }
  for (const key of Object.keys(bodyObject)) {
    const member = input.member(key);
    if (!member || member.shape.location !== undefined) return { operation, problem: invalid(`Unrecognized field "${key}" in the request body of ${operation}.`) };
    const problem = checkJson(member, key, bodyObject[key]);
    if (problem) return { operation, problem };
    present.add(key);
  }
  for (const name of input.required) {
    if (!present.has(name)) return { operation, problem: invalid(`Value null at '${name}' failed to satisfy constraint: Member must not be null`) };
  }
  return { operation };
}

/** The first problem of `value` against `node` (a member named `name`), reported as `code`. */
export function checkJsonValue(node: ShapeNode | undefined, name: string, value: unknown, code: string): ModelProblem | undefined {
  const invalid = (message: string): ModelProblem => ({ code, message });
  const checkJson = (n: ShapeNode | undefined, path: string, v: unknown) => checkJsonValue(n, path, v, code);
  if (!node) return invalid(`Unrecognized field "${name}".`);
  if (value === null) return undefined;
  const wrongType = () => invalid(`Value at '${name}' must be of type ${node.type}.`);
  const constraint = (v: string | number) => {
    const message = constraintProblem(node, name, v);
    return message ? invalid(message) : undefined;
  };
  switch (node.type) {
    case 'structure': {
      if (typeof value !== 'object' || Array.isArray(value)) return wrongType();
      const obj = value as Record<string, unknown>;
      for (const [key, v] of Object.entries(obj)) {
        const problem = checkJson(node.member(key), `${name}.${key}`, v);
        if (problem) return problem;
      }
      const missing = node.required.find((r) => obj[r] === undefined);
      return missing ? invalid(`Value null at '${name}.${missing}' failed to satisfy constraint: Member must not be null`) : undefined;
    }
    case 'list': {
      if (!Array.isArray(value)) return wrongType();
      const count = countProblem(node, name, value.length);
      if (count) return invalid(count);
      for (const [i, v] of value.entries()) {
        const problem = checkJson(node.child('member'), `${name}.member.${i + 1}`, v);
        if (problem) return problem;
      }
      return undefined;
    }
    case 'map': {
      if (typeof value !== 'object' || Array.isArray(value)) return wrongType();
      const entries = Object.entries(value as Record<string, unknown>);
      const count = countProblem(node, name, entries.length);
      if (count) return invalid(count);
      for (const [k, v] of entries) {
        const problem = checkJson(node.child('key'), `${name}.key`, k) ?? checkJson(node.child('value'), `${name}.${k}`, v);
        if (problem) return problem;
      }
      return undefined;
    }
    case 'string':
      return typeof value === 'string' ? constraint(value) : wrongType();
    case 'integer':
    case 'long':
      return typeof value === 'number' && Number.isInteger(value) ? constraint(value) : wrongType();
    case 'double':
    case 'float':
      return typeof value === 'number' ? constraint(value) : wrongType();
    case 'boolean':
      return typeof value === 'boolean' ? undefined : wrongType();
    case 'timestamp':
      return typeof value === 'number' || typeof value === 'string' ? undefined : wrongType();
    case 'blob':
      return typeof value === 'string' ? undefined : wrongType();
    default:
      return invalid(`Unsupported member type ${node.type} at '${name}'.`);
  }
}
