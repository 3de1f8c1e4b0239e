import axios from 'axios';
import { z } from 'zod';
import { PermanentStepError, defineStep } from '../types.ts';
import { axiosOutboundOptions, DEFAULT_OUTBOUND, type OutboundPolicy, outboundAgents, refusalIn, stepUrl, urlRefusal } from './outbound.ts';

/**
 * `http.check`: GETs a URL until it answers as expected (status, optional body
 * text), or fails when `within` runs out, reporting the last answer or error.
 * Reads only; safe to re-enter.
 *
 * Where it may connect is `policy` (outbound.ts, `HTTP_ALLOWED_TARGETS`): a
 * refused target fails the plan (literal addresses) or the step at once,
 * without any connection. Redirects are not followed: a 3xx is an answer like
 * any other that is not the expected status (unless `expectStatus` is that
 * 3xx), so the check keeps polling until its deadline. The body is only
 * searched for `bodyContains`; it is never shown, in outputs or errors.
 */
export const httpCheckStep = (policy: OutboundPolicy = DEFAULT_OUTBOUND) => {
  const agents = outboundAgents(policy);
  return defineStep({
    id: 'http.check',
    targetless: true,
    summary: 'GET a URL until it answers with the expected status (and body)',
    params: z.object({
      url: stepUrl,
      expectStatus: z.number().int().min(100).max(599).default(200),
      bodyContains: z.string().min(1).max(500).optional(),
      /** How long to keep trying. */
      withinSeconds: z.number().min(1).max(86_400).default(60),
      intervalSeconds: z.number().min(0.05).max(600).default(2),
      requestTimeoutSeconds: z.number().min(0.1).max(120).default(5),
    }),
    outputs: ['status', 'attempts'],
    plan: (_ctx, p) => {
      const refusal = urlRefusal(policy, p.url);
      if (refusal) return Promise.reject(new PermanentStepError(`${p.url} is refused: ${refusal}`));
      return Promise.resolve([
        {
          action: 'check' as const,
          resource: p.url,
          detail: `GET until HTTP ${p.expectStatus}${p.bodyContains ? ` with "${p.bodyContains}" in the body` : ''}, for up to ${p.withinSeconds}s`,
        },
      ]);
    },
    async run(ctx, p) {
      const early = urlRefusal(policy, p.url);
      if (early) throw new PermanentStepError(`GET ${p.url} refused: ${early}`);
      const giveUpAt = Math.min(ctx.deadline, Date.now() + p.withinSeconds * 1000);
      let last: string;
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await axios.get<unknown>(p.url, {
            ...axiosOutboundOptions(agents),
            timeout: p.requestTimeoutSeconds * 1000,
            validateStatus: () => true,
            responseType: 'text',
            signal: ctx.signal,
          });
          const body = typeof res.data === 'string' ? res.data : JSON.stringify(res.data);
          const bodyOk = !p.bodyContains || body.includes(p.bodyContains);
          if (res.status === p.expectStatus && bodyOk) return { status: res.status, attempts: attempt };
          if (res.status >= 300 && res.status < 400 && res.status !== p.expectStatus) last = `answered HTTP ${res.status} (redirects are not followed)`;
          else last = `HTTP ${res.status}${res.status === p.expectStatus ? ` without "${p.bodyContains ?? ''}" in the body` : ''}`;
        } catch (err) {
          if (ctx.signal.aborted) throw err;
          const refused = refusalIn(err);
          if (refused) throw new PermanentStepError(`GET ${p.url} refused: ${refused.message}`);
          last = axios.isAxiosError(err) ? (err.code ?? err.message) : String(err);
        }
        ctx.progress(`attempt ${attempt}: ${last}`);
        if (Date.now() + p.intervalSeconds * 1000 > giveUpAt) {
          throw new PermanentStepError(
            `${p.url} did not answer HTTP ${p.expectStatus} within ${p.withinSeconds}s (${attempt} attempts; last: ${last})`,
          );
        }
        await ctx.sleep(p.intervalSeconds * 1000);
      }
    },
  });
};
