/**
 * The patch formats the API server takes: JSON Patch (RFC 6902: add, replace,
 * remove, test), JSON merge patch (RFC 7386), and strategic merge patch
 * (played as a merge patch, which is what it is for the maps the steps patch).
 */
import type { Obj } from '../fake-velero.ts';
import { KubeError } from '../kube-error.ts';

export function applyPatch(target: Obj, contentType: string, patch: unknown): Obj {
  if (contentType.includes('json-patch')) return jsonPatch(target, patch);
  if (contentType.includes('merge-patch') || contentType.includes('strategic-merge-patch')) {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new KubeError(400, 'BadRequest', 'the patch must be a JSON object');
    return mergePatch(target, patch) as Obj;
  }
  throw new KubeError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got ${contentType})`);
}

function jsonPatch(target: Obj, patch: unknown): Obj {
  if (!Array.isArray(patch)) throw new KubeError(400, 'BadRequest', 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  const out = structuredClone(target);
  for (const op of patch as { op?: unknown; path?: unknown; value?: unknown }[]) {
    if (typeof op.path !== 'string') throw new KubeError(422, 'Invalid', 'the server rejected our request due to an error in our request: missing path');
    const keys = op.path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop() ?? '';
    let node: Obj = out;
    for (const k of keys) {
      const next = node[k];
      if (typeof next !== 'object' || next === null) throw new KubeError(422, 'Invalid', `the server rejected our request due to an error in our request: doc is missing path: "${op.path}"`);
      node = next as Obj;
    }
    if (op.op === 'replace' && !(last in node)) throw new KubeError(422, 'Invalid', `the server rejected our request due to an error in our request: replace operation does not apply: doc is missing key: ${op.path}`);
    if (op.op === 'add' || op.op === 'replace') node[last] = structuredClone(op.value);
    else if (op.op === 'remove') Reflect.deleteProperty(node, last);
    else if (op.op === 'test') {
      if (JSON.stringify(node[last]) !== JSON.stringify(op.value)) throw new KubeError(422, 'Invalid', `the server rejected our request due to an error in our request: testing value ${op.path} failed`);
    } else throw new KubeError(422, 'Invalid', `the server rejected our request due to an error in our request: unsupported op ${String(op.op)}`);
  }
  return out;
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const base: Obj = typeof target === 'object' && target !== null && !Array.isArray(target) ? (target as Obj) : {};
  const entries = Object.entries(patch as Obj);
  const removed = new Set(entries.filter(([, v]) => v === null).map(([k]) => k));
  const out: Obj = Object.fromEntries(Object.entries(base).filter(([k]) => !removed.has(k)));
  for (const [k, v] of entries) if (v !== null) out[k] = mergePatch(out[k], v);
  return out;
}
