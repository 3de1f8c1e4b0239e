import { describe, expect, it } from 'vitest';
import { bindStepParams } from '../../../src/engine/bind.ts';
import { isUserError } from '../../../src/errors.ts';
import { makeScrubber } from '../../../src/log/logger.ts';
import { parseRunbook } from '../../../src/runbooks/load.ts';
import { bindParams } from '../../../src/runbooks/params.ts';
import { buildRegistry } from '../../../src/steps/registry.ts';
import { httpCheckStep } from '../../../src/steps/builtin/http-check.ts';
import { hasUrlCredentials, withoutUrlCredentials } from '../../../src/util/url-credentials.ts';

const PASSWORD = 'n0t-4-public-Passw0rd';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isUserError(err)) return err.message;
    throw err;
  }
  throw new Error('not refused');
}

describe('URLs with credentials', () => {
  it('are recognised with a password, with a lone user name (a token), in any scheme, anywhere in a value', () => {
    for (const text of [`http://deploy:${PASSWORD}@host/x`, 'https://ghp_abcdef0123@github.com/o/r', `see redis://:${PASSWORD}@redis:6379`, 'HTTP://u@h']) {
      expect(hasUrlCredentials(text), text).toBe(true);
    }
    for (const text of ['https://host/path?mail=a@b.c', 'https://host/a@b', 'alice@example.com', 'http://host\\@evil/', 'https://host:8443/x']) {
      expect(hasUrlCredentials(text), text).toBe(false);
    }
  });

  it('are shown without the password (a user name before a password is kept)', () => {
    expect(withoutUrlCredentials(`GET http://deploy:${PASSWORD}@host/x failed`)).toBe('GET http://deploy:[redacted]@host/x failed');
    expect(withoutUrlCredentials('https://ghp_abcdef0123@github.com/o/r')).toBe('https://[redacted]@github.com/o/r');
    expect(withoutUrlCredentials(`http://a:b@c:${PASSWORD}@host/`)).toBe('http://a:[redacted]@host/');
  });

  it('are scrubbed from every log line', () => {
    const line = JSON.stringify({ msg: 'x', url: `https://deploy:${PASSWORD}@hooks.internal/deploy` });
    expect(makeScrubber([])(line)).not.toContain(PASSWORD);
  });
});

describe('binding a parameter that holds a URL with credentials', () => {
  const runbook = {
    id: 'notify',
    params: {
      webhook: { type: 'string' as const, pattern: 'https?://\\S+' },
      fallback: { type: 'string' as const, default: `https://ops:${PASSWORD}@hooks.internal/fallback` },
    },
  };

  it('refuses it, saying why and what to do, without the password, for a typed value and a default alike', () => {
    const message = refusal(() => bindParams(runbook, { webhook: `http://deploy:${PASSWORD}@host/hook` }));
    expect(message).toContain("`webhook`, `fallback` (the runbook's default): a URL may not carry a user name or password");
    expect(message).toContain("shown in the channel's plan, the audit and the bot's logs");
    expect(message).toContain('The http steps send no credentials of their own');
    expect(message).not.toContain(PASSWORD);
  });

  it('does not echo it as an unknown key either', () => {
    const message = refusal(() => bindParams(runbook, { [`http://deploy:${PASSWORD}@host/?a`]: 'b', webhook: 'https://host/h', fallback: 'https://host/f' }));
    expect(message).toContain('is not a parameter of notify');
    expect(message).not.toContain(PASSWORD);
  });

  it('lists at most 20 problems, then how many more', () => {
    const given = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`extra${i}`, 'x']));
    const lines = refusal(() => bindParams(runbook, { ...given, webhook: 'https://host/h', fallback: 'https://host/f' })).split('\n');
    expect(lines).toHaveLength(1 + 20 + 1);
    expect(lines.at(-1)).toBe('• … and 980 more problems');
  });
});

describe('a step URL with credentials, from an earlier step or the runbook', () => {
  it('is refused by the http steps without the password being echoed', () => {
    const scope = { params: {}, outputs: { restore: { endpoint: `svc:${PASSWORD}@db.internal` } }, run: { id: 'rabc', shortId: 'rabc' } };
    const bound = bindStepParams(httpCheckStep(), { url: 'https://${{ steps.restore.outputs.endpoint }}/health' }, scope, false);
    expect(bound.ok).toBe(false);
    const problem = bound.ok ? '' : bound.problem;
    expect(problem).toContain('url: a URL may not carry a user name or password');
    expect(problem).toContain('(got "https://svc:[redacted]@db.internal/health")');
    expect(problem).not.toContain(PASSWORD);
  });
});

describe('a runbook that writes a URL with credentials into an http step', () => {
  it('is refused when it is loaded, naming the step, without the password', () => {
    const text = `id: notify\ntitle: Notify\napproval:\n  required: 0\nsteps:\n  - id: hook\n    use: http.request\n    with:\n      method: POST\n      url: 'https://deploy:${PASSWORD}@hooks.internal/deploy'\n`;
    const { problems } = parseRunbook(text, 'commands/notify.yaml', buildRegistry());
    expect(problems.join('\n')).toContain('a URL may not carry a user name or password');
    expect(problems.join('\n')).not.toContain(PASSWORD);
  });
});
