import axios from 'axios';
import { z } from 'zod';
import { PermanentStepError, defineStep } from '../types.ts';
import { bodyExcerpt } from './excerpt.ts';
import { axiosOutboundOptions, DEFAULT_OUTBOUND, type OutboundPolicy, outboundAgents, refusalIn, stepUrl, urlRefusal } from './outbound.ts';

/** Answers worth retrying: the request may succeed later unchanged. */
const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * `http.request`: calls an HTTP API that changes something (POST/PUT/PATCH/DELETE).
 * Idempotency: every attempt and re-entry sends the same `Idempotency-Key`
 * (run + step), so a server that honours it applies the change once.
 * Retries 408/429/5xx and network errors; other 4xx fail the run at once.
 *
 * Where it may connect is `policy` (outbound.ts, `HTTP_ALLOWED_TARGETS`): a
 * refused target fails the plan (literal addresses) or the step at once,
 * without any connection. Redirects are not followed: a 3xx fails the step
 * (`answered HTTP 302 (redirects are not followed)`), permanently.
 *
 * Outputs: `status`, and `body`, which is NOT the response body but a short
 * excerpt of it for people to read (at most 200 characters, on one line,
 * control/bidi characters removed, anything that looks like a credential
 * replaced by `[redacted]`). It goes to Slack and the audit log like every
 * output, so it never carries more than that; do not feed it to other steps
 * as data. Error messages carry the same excerpt, never more.
 */
export const httpRequestStep = (policy: OutboundPolicy = DEFAULT_OUTBOUND) => {
  const agents = outboundAgents(policy);
  return defineStep({
    id: 'http.request',
    targetless: true,
    summary: 'Call an HTTP API that changes something, with an idempotency key',
    params: z.object({
      method: z.enum(['POST', 'PUT', 'PATCH', 'DELETE']),
      url: stepUrl,
      body: z.record(z.string(), z.unknown()).optional(),
      /** Shown in the plan; true when the call cannot be undone. */
      irreversible: z.boolean().default(false),
      timeoutSeconds: z.number().min(0.1).max(300).default(30),
    }),
    outputs: ['status', 'body'],
    plan: (_ctx, p) => {
      const refusal = urlRefusal(policy, p.url);
      if (refusal) return Promise.reject(new PermanentStepError(`${p.url} is refused: ${refusal}`));
      return Promise.resolve([
        {
          action: p.method === 'DELETE' ? ('delete' as const) : p.method === 'POST' ? ('create' as const) : ('change' as const),
          resource: p.url,
          detail: `${p.method} ${p.url}`,
          ...(p.irreversible ? { irreversible: true } : {}),
        },
      ]);
    },
    async run(ctx, p) {
      const early = urlRefusal(policy, p.url);
      if (early) throw new PermanentStepError(`${p.method} ${p.url} refused: ${early}`);
      ctx.progress(`${p.method} ${p.url}`);
      let res;
      try {
        res = await axios.request<unknown>({
          ...axiosOutboundOptions(agents),
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
        const refused = refusalIn(err);
        if (refused) throw new PermanentStepError(`${p.method} ${p.url} refused: ${refused.message}`);
        throw new Error(`${p.method} ${p.url} failed: ${axios.isAxiosError(err) ? (err.code ?? err.message) : String(err)}`, {
          cause: err,
        });
      }
      if (res.status >= 300 && res.status < 400) {
        throw new PermanentStepError(`${p.method} ${p.url} answered HTTP ${res.status} (redirects are not followed)`);
      }
      const data: unknown = res.data;
      const body = bodyExcerpt(typeof data === 'string' ? data : data === undefined ? '' : JSON.stringify(data));
      if (res.status >= 200 && res.status < 300) return { status: res.status, body };
      const message = `${p.method} ${p.url} answered HTTP ${res.status}${body ? `: ${body}` : ''}`;
      if (TRANSIENT_STATUS.has(res.status)) throw new Error(message);
      throw new PermanentStepError(message);
    },
  });
};
