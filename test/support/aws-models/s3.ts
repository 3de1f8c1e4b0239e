/**
 * Checks S3 REST/XML requests against the S3 service model (model.ts): the
 * operation from the method, the path (path-style: `/{Bucket}/{Key+}`) and the
 * query that names it (`?list-type=2`, `?acl`…), then every other query
 * parameter against the operation's members: known, and within the model's
 * enums and ranges. S3 answers a problem as `InvalidArgument` (400).
 */
import { constraintProblem, serviceModel, type ShapeNode } from './model.ts';
import type { ModelProblem } from './query.ts';

interface Route {
  operation: string;
  method: string;
  withKey: boolean;
  /** The query that names the operation: `list-type=2` (a value), `acl` (present). */
  fixed: [string, string | undefined][];
}

let routes: Route[] | undefined;

function routesOf(): Route[] {
  routes ??= serviceModel('s3')
    .operations()
    .filter(([, op]) => op.http?.requestUri?.startsWith('/{Bucket}'))
    .map(([operation, op]) => {
      const [path = '', query = ''] = (op.http?.requestUri ?? '').split('?');
      const fixed = query
        .split('&')
        .filter(Boolean)
        .map((pair): [string, string | undefined] => {
          const [k = '', v] = pair.split('=');
          // `uploadId={UploadId}`: a member bound to the query, any value.
          return [k, v?.startsWith('{') ? undefined : v];
        });
      // The models leave out POST, their default method.
      return { operation, method: op.http?.method ?? 'POST', withKey: path.includes('{Key+}'), fixed };
    })
    // The most specific first: `?list-type=2` (ListObjectsV2) before a bare `/{Bucket}` (ListObjects).
    .sort((a, b) => b.fixed.length - a.fixed.length);
  return routes;
}

const invalid = (message: string): ModelProblem => ({ code: 'InvalidArgument', message });

/** The operation a request is, and the first problem S3 would report, if any. */
export function checkS3Request(method: string, key: string | undefined, query: URLSearchParams): { operation?: string; problem?: ModelProblem } {
  const route = routesOf().find((r) => r.method === method && r.withKey === Boolean(key) && r.fixed.every(([k, v]) => query.has(k) && (v === undefined || query.get(k) === v)));
  if (!route) return { problem: { code: 'NotImplemented', message: `No S3 operation matches ${method} ${key ? '/{Bucket}/{Key}' : '/{Bucket}'}?${query.toString()}` } };
  const { operation } = route;
  const input = serviceModel('s3').input(operation);
  const byWireName = new Map<string, [string, ShapeNode]>();
  for (const name of input.memberNames()) {
    const member = input.member(name);
    if (member?.shape.location === 'querystring') byWireName.set(member.shape.locationName ?? name, [name, member]);
  }
  const fixed = new Set(route.fixed.map(([k]) => k));
  for (const [wire, raw] of query) {
    if (fixed.has(wire)) continue;
    // The AWS SDKs name the operation in the query (`x-id=GetObject`); S3 reads nothing else from it.
    if (wire === 'x-id') {
      if (raw !== operation) return { operation, problem: invalid(`x-id=${raw} does not name ${operation}`) };
      continue;
    }
    const found = byWireName.get(wire);
    if (!found) return { operation, problem: invalid(`${operation} has no query parameter ${wire}`) };
    const [name, member] = found;
    if (member.type === 'integer' && !/^-?\d+$/.test(raw)) return { operation, problem: invalid(`Provided ${wire} not an integer or within integer range`) };
    if (member.type === 'boolean' && raw !== 'true' && raw !== 'false') return { operation, problem: invalid(`Invalid ${wire} value: ${raw}`) };
    const message = constraintProblem(member, name, member.type === 'integer' ? Number(raw) : raw);
    if (message) return { operation, problem: invalid(message) };
  }
  return { operation };
}
