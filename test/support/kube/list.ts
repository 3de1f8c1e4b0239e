/**
 * Lists as the API server pages them: items in key order (namespace/name),
 * `limit` items per page, `metadata.continue` (an opaque token) while more
 * remain, with `remainingItemCount`.
 */
import type { Obj } from '../fake-velero.ts';
import { KubeError } from '../kube-error.ts';

function keyOf(obj: Obj): string {
  const m = (obj.metadata ?? {}) as { namespace?: string; name?: string };
  return `${m.namespace ?? ''}/${m.name ?? ''}`;
}

export function listResponse(kind: string, apiVersion: string, items: readonly Obj[], url: URL, resourceVersion: number): Obj {
  const sorted = [...items].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  const limitText = url.searchParams.get('limit');
  const limit = limitText ? Number(limitText) : 0;
  if (!Number.isInteger(limit) || limit < 0) throw new KubeError(400, 'BadRequest', `invalid limit: ${limitText ?? ''}`);
  const token = url.searchParams.get('continue');
  let start = 0;
  if (token) {
    // The token names the last key returned, so a page is stable while objects come and go.
    const after = decodeContinue(token);
    start = sorted.findIndex((o) => keyOf(o) > after);
    if (start < 0) start = sorted.length;
  }
  const page = limit > 0 ? sorted.slice(start, start + limit) : sorted.slice(start);
  const remaining = sorted.length - start - page.length;
  const last = page.at(-1);
  const metadata: Obj = { resourceVersion: String(resourceVersion) };
  if (remaining > 0 && last) {
    metadata.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', start: keyOf(last) })).toString('base64url');
    metadata.remainingItemCount = remaining;
  }
  return { kind, apiVersion, metadata, items: page };
}

function decodeContinue(token: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: unknown; start?: unknown };
    if (parsed.v === 'meta.k8s.io/v1' && typeof parsed.start === 'string') return parsed.start;
  } catch {
    // falls through to the refusal
  }
  throw new KubeError(400, 'BadRequest', 'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}
