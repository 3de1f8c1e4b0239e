import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { PermanentStepError } from '../types.ts';

export const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
export const STRATEGIC_MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
export const JSON_PATCH = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

/** Kubernetes object names (RFC 1123 subdomain, as deployments and secrets use). */
export const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
export const K8S_NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The API server's own message from a Status body, without the request details the client adds. */
function serverMessage(err: unknown): string {
  const body = (err as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      return body.slice(0, 200);
    }
  }
  if (typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string') {
    return (body as { message: string }).message;
  }
  return err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err);
}

/** 4xx other than 409/429 cannot be fixed by retrying (not found, forbidden, invalid). */
export function classifyKubeError(err: unknown, doing: string): Error {
  const code = statusCode(err);
  const message = `${doing} failed: ${code ? `HTTP ${code}: ` : ''}${serverMessage(err)}`;
  const permanent = code !== undefined && code >= 400 && code < 500 && code !== 409 && code !== 429;
  return permanent ? new PermanentStepError(message, { cause: err }) : new Error(message, { cause: err });
}

/** Who the API server records as the writer of our fields (managedFields), on every PATCH/POST/PUT. */
export const FIELD_MANAGER = 'dr-chatops';

/** kubectl's page size for lists (`--chunk-size`, default 500). */
export const LIST_PAGE_SIZE = 500;

/** One page of a list call, as the typed clients return it. */
interface ListPage<T> {
  items: T[];
  metadata?: { _continue?: string };
}

/**
 * Every item of a list, read page by page (`limit` and `continue`) as kubectl
 * does, so a namespace with thousands of objects neither times out nor comes back cut short.
 */
export async function listAll<T>(page: (chunk: { limit: number; _continue?: string }) => Promise<ListPage<T>>): Promise<T[]> {
  const items: T[] = [];
  let next: string | undefined;
  do {
    const list = await page({ limit: LIST_PAGE_SIZE, ...(next ? { _continue: next } : {}) });
    items.push(...list.items);
    next = list.metadata?._continue || undefined;
  } while (next);
  return items;
}

/** RFC 3339 in UTC without fractional seconds, as kubectl writes `restartedAt` (`2026-12-01T13:40:05Z`). */
export function rfc3339(at: Date = new Date()): string {
  return at.toISOString().replace(/\.\d+Z$/, 'Z');
}
