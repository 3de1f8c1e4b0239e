import axios from 'axios';
import { z } from 'zod';
import { PermanentStepError, defineStep } from '../types.ts';

/** Answers worth retrying: the request may succeed later unchanged. */
const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * `http.request`: calls an HTTP API that changes something (POST/PUT/PATCH/DELETE).
 * Idempotency: every attempt and re-entry sends the same `Idempotency-Key`
 * (run + step), so a server that honours it applies the change once.
 * Retries 408/429/5xx and network errors; other 4xx fail the run at once.
 */
export const httpRequestStep = defineStep({
  id: 'http.request',
  summary: 'Call an HTTP API that changes something, with an idempotency key',
  params: z.object({
    method: z.enum(['POST', 'PUT', 'PATCH', 'DELETE']),
    url: z.url({ protocol: /^https?$/ }),
    body: z.record(z.string(), z.unknown()).optional(),
    /** Shown in the plan; true when the call cannot be undone. */
    irreversible: z.boolean().default(false),
    timeoutSeconds: z.number().min(0.1).max(300).default(30),
  }),
  outputs: ['status', 'body'],
  plan: (_ctx, p) =>
    Promise.resolve([
      {
        action: p.method === 'DELETE' ? 'delete' : p.method === 'POST' ? 'create' : 'change',
        resource: p.url,
        detail: `${p.method} ${p.url}`,
        ...(p.irreversible ? { irreversible: true } : {}),
      },
    ]),
  async run(ctx, p) {
    ctx.progress(`${p.method} ${p.url}`);
    let res;
    try {
      res = await axios.request<unknown>({
        method: p.method,
        url: p.url,
        data: p.body,
        headers: { 'Idempotency-Key': ctx.idempotencyKey },
        timeout: p.timeoutSeconds * 1000,
        validateStatus: () => true,
        responseType: 'text',
        signal: ctx.signal,
      });
    } catch (err) {
      throw new Error(`${p.method} ${p.url} failed: ${axios.isAxiosError(err) ? (err.code ?? err.message) : String(err)}`, {
        cause: err,
      });
    }
    const body = (typeof res.data === 'string' ? res.data : JSON.stringify(res.data)).slice(0, 500);
    if (res.status >= 200 && res.status < 300) return { status: res.status, body };
    const message = `${p.method} ${p.url} answered HTTP ${res.status}: ${body.slice(0, 200)}`;
    if (TRANSIENT_STATUS.has(res.status)) throw new Error(message);
    throw new PermanentStepError(message);
  },
});
