import axios from 'axios';
import { z } from 'zod';
import { pollUntil } from '../poll.ts';
import { PermanentStepError, defineStep } from '../types.ts';
import { axiosOutboundOptions, DEFAULT_OUTBOUND, type OutboundPolicy, outboundAgents, refusalIn, stepUrl, urlRefusal } from './outbound.ts';

/**
 * `http.check`: GETs a URL until it answers as expected (status, optional body
 * text), or fails when `within` runs out, reporting the last answer or error.
 * Reads only; safe to re-enter. Each GET is a look of a wait (pollUntil):
 * an interval of 2 s or more parks the run between GETs, and `within`
 * counts from the first GET, across parks.
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
    // Reads only: entering it again after a park repeats a look.
    resumable: true,
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
      let status = 0;
      let attempts = 0;
      // Each GET is a look: between looks the step pauses, and a long interval parks the run (pollUntil).
      await pollUntil(ctx, {
        what: `GET ${p.url}`,
        name: 'get',
        withinMs: p.withinSeconds * 1000,
        gaveUp: ({ state, looks }) => `${p.url} did not answer HTTP ${p.expectStatus} within ${p.withinSeconds}s (${looks} attempts; last: ${state})`,
        check: async ({ look }) => {
          attempts = look;
          const last = await getOnce();
          if (last === undefined) return { done: true };
          return { done: false, state: last, nextLookInMs: p.intervalSeconds * 1000 };
        },
      });
      return { status, attempts };

      /** One GET: undefined when it answered as expected, else what it answered. */
      async function getOnce(): Promise<string | undefined> {
        let last: string;
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
          if (res.status === p.expectStatus && bodyOk) {
            status = res.status;
            return undefined;
          }
          if (res.status >= 300 && res.status < 400 && res.status !== p.expectStatus) last = `answered HTTP ${res.status} (redirects are not followed)`;
          else last = `HTTP ${res.status}${res.status === p.expectStatus ? ` without "${p.bodyContains ?? ''}" in the body` : ''}`;
        } catch (err) {
          if (ctx.signal.aborted) throw err;
          const refused = refusalIn(err);
          if (refused) throw new PermanentStepError(`GET ${p.url} refused: ${refused.message}`);
          last = axios.isAxiosError(err) ? (err.code ?? err.message) : String(err);
        }
        return last;
      }
    },
  });
};
