/**
 * http.check and http.request with the real axios against loopback fakes: what
 * the outbound policy refuses is never connected to, redirects are answers, and
 * nothing of a body beyond a sanitised excerpt comes out. The loopback guard
 * (test/setup.ts) fails any test that opens a connection outside 127.0.0.1, so
 * a refused metadata address that was dialled anyway would fail the test too.
 */
import type { LookupAddress } from 'node:dns';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { httpCheckStep } from '../../../src/steps/builtin/http-check.ts';
import { httpRequestStep } from '../../../src/steps/builtin/http-request.ts';
import type { OutboundPolicy } from '../../../src/steps/builtin/outbound.ts';
import { FAKE_IMDS_CREDENTIALS, FAKE_IMDS_SECRETS, FakeMetadata } from '../../support/fake-metadata.ts';
import { FakeService } from '../../support/fake-service.ts';
import { failureOf, planContext, stepContext } from '../../support/step-context.ts';

const LOOPBACK: OutboundPolicy = { allow: ['127.0.0.1'], ownPorts: [] };
const NOTHING: OutboundPolicy = { allow: [], ownPorts: [] };

const expectNoSecrets = (text: string) => {
  for (const secret of FAKE_IMDS_SECRETS) expect(text).not.toContain(secret);
};

describe('outbound HTTP from steps', () => {
  let api: FakeService;
  let metadata: FakeMetadata;
  let apiPort: number;

  beforeAll(async () => {
    api = await new FakeService().start();
    metadata = await new FakeMetadata().start();
    apiPort = Number(new URL(api.url).port);
  });
  afterAll(async () => {
    await api.stop();
    await metadata.stop();
  });
  beforeEach(() => {
    api.reset();
    metadata.requests.length = 0;
  });

  const redirectToMetadata = (route: string, times = 1) => {
    api.failNext(route, { status: 302, body: 'Found', headers: { location: `${metadata.url}/latest/meta-data/iam/security-credentials/dr-role` } }, times);
  };

  describe('redirects are answers, never followed', () => {
    it('http.request fails permanently on a 302 to the metadata stand-in, which receives nothing', async () => {
      redirectToMetadata('POST /resources');
      const step = httpRequestStep(LOOPBACK);
      const failure = await failureOf(step.run(stepContext(), step.params.parse({ method: 'POST', url: `${api.url}/resources`, body: { name: 'x' } })));
      expect(failure).toEqual({ message: `POST ${api.url}/resources answered HTTP 302 (redirects are not followed)`, permanent: true });
      expect(metadata.requests).toEqual([]);
      expectNoSecrets(failure.message);
    });

    it('http.check keeps polling a 302 as not healthy until its deadline, and never follows it', async () => {
      redirectToMetadata('GET /health', 100);
      const step = httpCheckStep(LOOPBACK);
      const ctx = stepContext();
      const failure = await failureOf(step.run(ctx, step.params.parse({ url: `${api.url}/health`, withinSeconds: 1, intervalSeconds: 0.2 })));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toMatch(/did not answer HTTP 200 within 1s \(\d+ attempts; last: answered HTTP 302 \(redirects are not followed\)\)$/);
      expect(api.requests.length).toBeGreaterThan(1);
      expect(metadata.requests).toEqual([]);
      expectNoSecrets([failure.message, ...ctx.progressMessages].join('\n'));
    });

    it('http.check accepts a redirect only when that is what it was told to expect', async () => {
      redirectToMetadata('GET /health');
      const step = httpCheckStep(LOOPBACK);
      expect(await step.run(stepContext(), step.params.parse({ url: `${api.url}/health`, expectStatus: 302 }))).toEqual({ status: 302, attempts: 1 });
      expect(metadata.requests).toEqual([]);
    });

    it('a proxy in the environment is not used (the proxy would be the address checked)', async () => {
      const names = ['HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'] as const;
      const saved = new Map(names.map((n) => [n, process.env[n]]));
      const env = process.env as Record<string, string | undefined>;
      env.HTTP_PROXY = env.http_proxy = metadata.url;
      Reflect.deleteProperty(env, 'NO_PROXY');
      Reflect.deleteProperty(env, 'no_proxy');
      try {
        const step = httpCheckStep(LOOPBACK);
        expect(await step.run(stepContext(), step.params.parse({ url: `${api.url}/health` }))).toEqual({ status: 200, attempts: 1 });
      } finally {
        for (const [k, v] of saved) {
          if (v === undefined) Reflect.deleteProperty(env, k);
          else env[k] = v;
        }
      }
      expect(metadata.requests).toEqual([]);
      expect(api.requests.map((r) => r.path)).toEqual(['/health']);
    });
  });

  describe('refused targets are never connected to', () => {
    const metadataUrls = [
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://2852039166/latest/meta-data/',
      'http://0xa9.0xfe.0xa9.0xfe/',
      'http://[::ffff:169.254.169.254]/latest/meta-data/',
      'http://[fd00:ec2::254]/latest/meta-data/',
    ];

    it.each(metadataUrls)('%s is refused at plan and at run, even with link-local allowed', async (url) => {
      const broad: OutboundPolicy = { allow: ['169.254.0.0/16', 'fc00::/7', '127.0.0.1'], ownPorts: [] };
      const check = httpCheckStep(broad);
      const planned = await failureOf(check.plan(planContext(), check.params.parse({ url })));
      expect(planned.permanent).toBe(true);
      expect(planned.message).toMatch(/is refused: .*metadata service.*only an entry of exactly (169\.254\.169\.254|fd00:ec2::254) allows it$/);
      const started = Date.now();
      const ran = await failureOf(check.run(stepContext(), check.params.parse({ url, withinSeconds: 30 })));
      expect(ran.permanent).toBe(true);
      expect(ran.message).toContain(`GET ${url} refused:`);
      expect(Date.now() - started).toBeLessThan(1_000); // at once: no polling, no connection
      const request = httpRequestStep(broad);
      const p = request.params.parse({ method: 'POST', url });
      expect((await failureOf(request.plan(planContext(), p))).message).toContain('metadata service');
      expect((await failureOf(request.run(stepContext(), p))).message).toContain(`POST ${url} refused:`);
    });

    it('a private literal address is refused at plan with the range and the setting to allow it', async () => {
      const step = httpRequestStep(NOTHING);
      const failure = await failureOf(step.plan(planContext(), step.params.parse({ method: 'POST', url: 'http://10.20.30.40:8080/failover' })));
      expect(failure).toEqual({
        message:
          'http://10.20.30.40:8080/failover is refused: 10.20.30.40 is in 10.0.0.0/8 (private): steps may reach it only if HTTP_ALLOWED_TARGETS (file key http.allow) lists it, e.g. HTTP_ALLOWED_TARGETS=10.20.30.40 or a range such as 10.0.0.0/8',
        permanent: true,
      });
      expect((await failureOf(step.plan(planContext(), step.params.parse({ method: 'POST', url: `${api.url}/resources` })))).message).toContain('127.0.0.0/8 (loopback)');
    });

    it('a host name that resolves to a refused address is refused after resolution', async () => {
      const url = `http://localhost:${String(apiPort)}/health`;
      const step = httpCheckStep(NOTHING);
      // The plan cannot know where a name points: it passes, the run refuses.
      expect(await step.plan(planContext(), step.params.parse({ url }))).toHaveLength(1);
      const failure = await failureOf(step.run(stepContext(), step.params.parse({ url, withinSeconds: 30 })));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toMatch(/^GET http:\/\/localhost:\d+\/health refused: localhost resolves to (127\.0\.0\.1|::1), which is in (127\.0\.0\.0\/8|::1\/128) \(loopback\)/);
      expect(api.requests).toEqual([]);
    });

    it('a resolver that points a name at the metadata service is refused before any connection', async () => {
      const resolved: string[] = [];
      const policy: OutboundPolicy = {
        allow: ['127.0.0.1', 'localhost'],
        ownPorts: [],
        resolve: (hostname) => {
          resolved.push(hostname);
          return Promise.resolve([{ address: '169.254.169.254', family: 4 }]);
        },
      };
      const step = httpRequestStep(policy);
      const failure = await failureOf(step.run(stepContext(), step.params.parse({ method: 'POST', url: `http://localhost:${String(apiPort)}/resources` })));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toContain('localhost resolves to 169.254.169.254, which is the cloud instance metadata service');
      expect(resolved).toEqual(['localhost']);
      expect(api.requests).toEqual([]);
    });

    it('one refused address among several refuses the name', async () => {
      const policy: OutboundPolicy = {
        allow: ['127.0.0.1'],
        ownPorts: [],
        resolve: () => Promise.resolve([{ address: '127.0.0.1', family: 4 }, { address: '10.0.0.1', family: 4 }]),
      };
      const step = httpCheckStep(policy);
      const failure = await failureOf(step.run(stepContext(), step.params.parse({ url: `http://localhost:${String(apiPort)}/health` })));
      expect(failure.message).toContain('localhost resolves to 10.0.0.1, which is in 10.0.0.0/8 (private)');
      expect(api.requests).toEqual([]);
    });

    it('the connection uses the address that was checked: one lookup per request, no second one to rebind', async () => {
      let lookups = 0;
      // A rebinding DNS server: the first answer passes the check, every later one points at the metadata service.
      const policy: OutboundPolicy = {
        allow: ['127.0.0.1'],
        ownPorts: [],
        resolve: (): Promise<LookupAddress[]> => Promise.resolve([{ address: lookups++ === 0 ? '127.0.0.1' : '169.254.169.254', family: 4 }]),
      };
      const step = httpRequestStep(policy);
      const out = await step.run(stepContext(), step.params.parse({ method: 'POST', url: `http://localhost:${String(apiPort)}/resources`, body: { name: 'rebound' } }));
      expect(out.status).toBe(201);
      expect(lookups).toBe(1);
      expect(api.resources.has('rebound')).toBe(true);
      expect(metadata.requests).toEqual([]);
      // The next request asks again, and is refused on the new answer.
      const failure = await failureOf(step.run(stepContext(), step.params.parse({ method: 'POST', url: `http://localhost:${String(apiPort)}/resources` })));
      expect(failure.message).toContain('metadata service');
      expect(lookups).toBe(2);
    });
  });

  describe('allowed loopback', () => {
    it('works when allowed, by address or by name', async () => {
      const step = httpCheckStep(LOOPBACK);
      expect(await step.run(stepContext(), step.params.parse({ url: `${api.url}/health` }))).toEqual({ status: 200, attempts: 1 });
      const byName = httpCheckStep({ allow: ['localhost'], ownPorts: [], resolve: () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]) });
      expect(await byName.run(stepContext(), byName.params.parse({ url: `http://localhost:${String(apiPort)}/health` }))).toEqual({ status: 200, attempts: 1 });
    });

    it("still refuses the bot's own port, at plan and at run, by address and by name", async () => {
      const own: OutboundPolicy = { allow: ['127.0.0.0/8', '::1', 'localhost'], ownPorts: [apiPort] };
      const step = httpRequestStep(own);
      const planned = await failureOf(step.plan(planContext(), step.params.parse({ method: 'POST', url: `${api.url}/resources` })));
      expect(planned.message).toBe(
        `${api.url}/resources is refused: 127.0.0.1 is this host, and port ${String(apiPort)} is the bot's own (PORT, METRICS_PORT): steps never call the bot itself, whatever HTTP_ALLOWED_TARGETS (file key http.allow) says`,
      );
      expect((await failureOf(step.run(stepContext(), step.params.parse({ method: 'POST', url: `${api.url}/resources` })))).message).toContain("is the bot's own");
      const byName = await failureOf(step.run(stepContext(), step.params.parse({ method: 'POST', url: `http://localhost:${String(apiPort)}/resources` })));
      expect(byName).toMatchObject({ permanent: true });
      expect(byName.message).toMatch(/localhost resolves to (127\.0\.0\.1|::1), which is this host, and port \d+ is the bot's own/);
      expect(api.requests).toEqual([]);
    });
  });

  describe('bodies stay out of outputs and errors', () => {
    it('a long error body is not echoed: a short sanitised excerpt at most', async () => {
      const body = `denied \u202E${'because '.repeat(2_000)} ${JSON.stringify(FAKE_IMDS_CREDENTIALS)} THE-END`;
      api.failNext('POST /resources', { status: 403, body });
      const step = httpRequestStep(LOOPBACK);
      const failure = await failureOf(step.run(stepContext(), step.params.parse({ method: 'POST', url: `${api.url}/resources` })));
      expect(failure.permanent).toBe(true);
      const prefix = `POST ${api.url}/resources answered HTTP 403: `;
      expect(failure.message.startsWith(`${prefix}denied because because`)).toBe(true);
      expect(Array.from(failure.message.slice(prefix.length)).length).toBeLessThanOrEqual(200);
      expect(failure.message).not.toContain('THE-END');
      expect(failure.message).not.toContain('\u202E');

      api.failNext('POST /resources', { status: 503, body: JSON.stringify(FAKE_IMDS_CREDENTIALS) });
      const transient = await failureOf(step.run(stepContext(), step.params.parse({ method: 'POST', url: `${api.url}/resources` })));
      expect(transient.permanent).toBe(false);
      expect(transient.message).toContain('"SecretAccessKey":"[redacted]"');
      expectNoSecrets(transient.message);
    });

    it("http.request's body output is an excerpt with credentials redacted", async () => {
      api.failNext('POST /resources', { status: 200, body: `${JSON.stringify(FAKE_IMDS_CREDENTIALS)}${'.'.repeat(5_000)}` });
      const step = httpRequestStep(LOOPBACK);
      const out = await step.run(stepContext(), step.params.parse({ method: 'POST', url: `${api.url}/resources` }));
      expect(out.status).toBe(200);
      expect(typeof out.body).toBe('string');
      expect(Array.from(String(out.body)).length).toBeLessThanOrEqual(200);
      expect(out.body).toContain('"AccessKeyId":"[redacted]"');
      expectNoSecrets(JSON.stringify(out));
    });

    it("http.check never shows the body, not even when it holds what was looked for's neighbours", async () => {
      api.failNext('GET /health', { status: 500, body: JSON.stringify(FAKE_IMDS_CREDENTIALS) }, 100);
      const step = httpCheckStep(LOOPBACK);
      const ctx = stepContext();
      const failure = await failureOf(step.run(ctx, step.params.parse({ url: `${api.url}/health`, withinSeconds: 1, intervalSeconds: 0.3 })));
      expect(failure.message).toMatch(/last: HTTP 500\)$/);
      expectNoSecrets([failure.message, ...ctx.progressMessages].join('\n'));
    });
  });
});
