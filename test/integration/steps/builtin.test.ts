import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { httpCheckStep as httpCheckStepFor } from '../../../src/steps/builtin/http-check.ts';
import { httpRequestStep as httpRequestStepFor } from '../../../src/steps/builtin/http-request.ts';
import { TEST_OUTBOUND } from '../../support/engine.ts';
import { scenarioTargets } from '../../../src/incidents/scenarios.ts';
import { reportRtoStep } from '../../../src/steps/builtin/report-rto.ts';
import { waitStep } from '../../../src/steps/builtin/wait.ts';
import { FakeService } from '../../support/fake-service.ts';
import { failureOf, planContext, stepContext } from '../../support/step-context.ts';

// The fake service listens on 127.0.0.1, which the steps reach only when it is allowed
// (test/integration/steps/outbound.test.ts tests the policy itself).
const httpCheckStep = httpCheckStepFor(TEST_OUTBOUND);
const httpRequestStep = httpRequestStepFor(TEST_OUTBOUND);

describe('built-in steps', () => {
  let api: FakeService;

  beforeAll(async () => {
    api = await new FakeService().start();
  });
  afterAll(async () => {
    await api.stop();
  });
  beforeEach(() => {
    api.reset();
  });

  describe('http.check', () => {
    it('retries until the endpoint answers as expected', async () => {
      api.failNext('GET /health', { status: 503 }, 2);
      const out = await httpCheckStep.run(stepContext(), httpCheckStep.params.parse({ url: `${api.url}/health`, bodyContains: '"ok"', intervalSeconds: 0.05 }));
      expect(out).toEqual({ status: 200, attempts: 3 });
    });

    it('fails at its deadline with the last answer', async () => {
      api.failNext('GET /health', { status: 503 }, 100);
      const failure = await failureOf(httpCheckStep.run(stepContext(), httpCheckStep.params.parse({ url: `${api.url}/health`, withinSeconds: 1, intervalSeconds: 0.2 })));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toMatch(new RegExp(`^${api.url}/health did not answer HTTP 200 within 1s \\(\\d+ attempts; last: HTTP 503\\)$`));
    });

    it('says when the status is right but the body is not, and when nothing answers', async () => {
      const wrongBody = await failureOf(httpCheckStep.run(stepContext(), httpCheckStep.params.parse({ url: `${api.url}/health`, bodyContains: 'green', withinSeconds: 1, intervalSeconds: 0.5 })));
      expect(wrongBody.message).toContain('last: HTTP 200 without "green" in the body');
      const refused = await failureOf(httpCheckStep.run(stepContext(), httpCheckStep.params.parse({ url: 'http://127.0.0.1:9/health', withinSeconds: 1, intervalSeconds: 0.5 })));
      expect(refused.message).toContain('last: ECONNREFUSED');
    });

    it('refuses a URL that is not http(s) before anything runs', () => {
      expect(httpCheckStep.params.safeParse({ url: 'file:///etc/passwd' }).success).toBe(false);
    });
  });

  describe('http.request', () => {
    it('sends the same idempotency key on every attempt, so the change applies once', async () => {
      const p = httpRequestStep.params.parse({ method: 'POST', url: `${api.url}/resources`, body: { name: 'x' } });
      await httpRequestStep.run(stepContext({ runId: 'rhttp001', stepId: 'create' }), p);
      await httpRequestStep.run(stepContext({ runId: 'rhttp001', stepId: 'create', attempt: 2 }), p);
      expect(api.createRequests).toBe(2);
      expect(api.resources.size).toBe(1);
      expect(api.requests.map((r) => r.key)).toEqual(['rhttp001-create', 'rhttp001-create']);
    });

    it('treats 5xx and 429 as transient and other 4xx as permanent', async () => {
      api.failNext('POST /resources', { status: 429 });
      expect((await failureOf(httpRequestStep.run(stepContext(), httpRequestStep.params.parse({ method: 'POST', url: `${api.url}/resources` })))).permanent).toBe(false);
      api.failNext('POST /resources', { status: 403, body: 'forbidden' });
      expect(await failureOf(httpRequestStep.run(stepContext(), httpRequestStep.params.parse({ method: 'POST', url: `${api.url}/resources` })))).toEqual({
        message: `POST ${api.url}/resources answered HTTP 403: forbidden`,
        permanent: true,
      });
    });
  });

  it('wait is interrupted by cancellation; report.rto compares the run with the scenario target', async () => {
    const controller = new AbortController();
    const sleep = (ms: number) => new Promise<void>((resolve, reject) => {
      if (controller.signal.aborted) {
        reject(new Error('cancelled'));
        return;
      }
      const t = setTimeout(resolve, ms);
      controller.signal.addEventListener('abort', () => { clearTimeout(t); reject(new Error('cancelled')); });
    });
    // The wait pauses (ctx.pause); here it sleeps in the process, as the engine's short waits do.
    const ctx = { ...stepContext(), signal: controller.signal, sleep, pause: (_name: string, ms: number) => sleep(ms) };
    const waiting = waitStep.run(ctx, waitStep.params.parse({ seconds: 30 }));
    controller.abort();
    await expect(waiting).rejects.toThrow('cancelled');

    const report = reportRtoStep(scenarioTargets());
    const out = await report.run({ ...stepContext(), runStartedAt: Date.now() - 90 * 60_000 }, report.params.parse({ scenario: 'data-corruption' }));
    expect(out).toEqual({ elapsed: '1h 30m', rto: '2h', withinRto: true, summary: 'took 1h 30m against the Data corruption RTO of 2h (75.0%)' });
    expect((await report.plan(planContext(), report.params.parse({ scenario: 'single-az-failure' })))[0]?.detail).toBe(
      "compare the run's duration with the RTO of Single AZ failure (5m)",
    );
    // The team's own target wins over the DR plan's.
    const tighter = reportRtoStep(scenarioTargets({ 'data-corruption': { rtoMs: 60 * 60_000, rpoMs: 0 } }));
    expect(await tighter.run({ ...stepContext(), runStartedAt: Date.now() - 90 * 60_000 }, tighter.params.parse({ scenario: 'data-corruption' }))).toMatchObject({ rto: '1h', withinRto: false });
  });
});
